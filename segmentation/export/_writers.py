"""Writing results: masks, images, labels and display encodings, files atomically.

Masks and images as PNG (and fast PNG/JPEG for display), labels as 16-bit PNG or
32-bit TIFF, files atomically.
"""

from __future__ import annotations

import contextlib
import io
import os
import secrets
import stat
from pathlib import Path

import cv2
import numpy as np
import tifffile

from .._checks import check_number
from .._errors import ParameterError

__all__ = ["encode_png", "encode_png_bytes", "encode_jpeg_bytes", "encode_labels", "write_bytes_atomic"]


def encode_png(array: np.ndarray) -> bytes:
    """Encode a mask or an image as PNG bytes.

    Parameters
    ----------
    array : (H, W) or (H, W, 3) ndarray of bool, uint8 or uint16
        A bool H×W mask (written as 8-bit 0/255), or a gray or RGB image (8- or 16-bit PNG).

    Returns
    -------
    bytes
        The PNG file (zlib level 3).

    Raises
    ------
    ParameterError
        ``array`` is empty, not H×W or H×W×3, or not bool, uint8 or uint16.
    ValueError
        OpenCV could not encode it (out of memory).

    Examples
    --------
    >>> from segmentation.io import load_image
    >>> png = encode_png(np.eye(3, dtype=bool))
    >>> load_image(png).max()
    np.uint8(255)
    """
    a = np.asarray(array)
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255  # 0/255 so the mask is visible in any viewer
    if a.dtype not in (np.uint8, np.uint16):
        raise ParameterError(f"array must be a bool mask or a uint8/uint16 image for encode_png, not {a.dtype}")
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or a.size == 0:
        raise ParameterError(f"array must be a non-empty H×W or H×W×3 array for encode_png, not shape {a.shape}")
    a = np.ascontiguousarray(a)
    if a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)  # OpenCV writes BGR
    ok, buffer = cv2.imencode(".png", a, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError("OpenCV could not encode the PNG")
    return buffer.tobytes()


def _to_bgr_for_opencv(image: np.ndarray, name: str, dtypes) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3) or 0 in image.shape[:2]:
        raise ParameterError(f"{name} must be a non-empty H×W grayscale or H×W×3 RGB array, got shape "
                             f"{image.shape}")
    if image.dtype not in dtypes:
        names = " or ".join(np.dtype(d).name for d in dtypes)
        raise ParameterError(f"{name} must be {names}, got {image.dtype}; "
                         "convert with segmentation.display_image first")
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image


def encode_png_bytes(image: np.ndarray, *, compression: int = 1) -> bytes:
    r"""Encode an RGB or gray image as PNG bytes, fast (zlib level 1, one fixed row filter).

    Used to send pre-encoded images to the browser. ``uint16`` is kept as 16-bit PNG. The "up"
    filter instead of libpng's adaptive choice halves the time at about the same size.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of uint8 or uint16
        Gray or RGB.
    compression : int
        zlib level, 0 (none, fastest) .. 9 (smallest).

    Returns
    -------
    bytes
        The PNG file.

    Raises
    ------
    ParameterError
        ``image`` is empty, not H×W or H×W×3, or not uint8/uint16; ``compression`` not a whole
        number in 0..9.

    Examples
    --------
    >>> encode_png_bytes(np.zeros((8, 8, 3), np.uint8))[:4]
    b'\x89PNG'
    """
    compression = check_number("compression", compression, low=0, high=9, integer=True)
    bgr = _to_bgr_for_opencv(image, "image", (np.uint8, np.uint16))
    params = [cv2.IMWRITE_PNG_COMPRESSION, int(compression), cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
    ok, buffer = cv2.imencode(".png", bgr, params)
    if not ok:  # pragma: no cover - OpenCV only fails here when out of memory
        raise ValueError("OpenCV could not encode the image as PNG")
    return buffer.tobytes()


def encode_jpeg_bytes(rgb: np.ndarray, *, quality: int = 90) -> bytes:
    r"""Encode an RGB or gray uint8 image as JPEG bytes at ``quality`` (1..100).

    Parameters
    ----------
    rgb : (H, W) or (H, W, 3) ndarray of uint8
        Gray or RGB (for example from :func:`segmentation.display_image`).
    quality : int
        JPEG quality, 1 (smallest) .. 100 (best).

    Returns
    -------
    bytes
        The JPEG file.

    Raises
    ------
    ParameterError
        ``rgb`` is empty, not H×W or H×W×3, or not uint8; ``quality`` not a whole number in 1..100.

    Examples
    --------
    >>> encode_jpeg_bytes(np.zeros((8, 8, 3), np.uint8))[:2]
    b'\xff\xd8'
    """
    quality = check_number("quality", quality, low=1, high=100, integer=True)
    bgr = _to_bgr_for_opencv(rgb, "rgb", (np.uint8,))
    ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover
        raise ValueError("OpenCV could not encode the image as JPEG")
    return buffer.tobytes()


def encode_labels(labels: np.ndarray, format: str = "png") -> bytes:
    """Encode an integer label image losslessly.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        Non-negative integers (0 = background), not empty.
    format : {"png", "tiff"}
        "png" writes 16-bit gray and needs every label <= 65535; "tiff" (or "tif") writes int32
        (zlib-compressed), which ``load_image`` reads back as float32, exact up to 2**24. Case is
        ignored.

    Returns
    -------
    bytes
        The PNG or TIFF file.

    Raises
    ------
    ParameterError
        ``labels`` is empty, not 2-D, not integer, negative, or too large for the format (above 65535
        for PNG, 2**31 - 1 for TIFF); ``format`` is not "png" or "tiff".

    Examples
    --------
    >>> labels = np.array([[0, 1], [2, 70000]], dtype=np.int32)
    >>> len(encode_labels(labels, format="tiff")) > 0
    True
    """
    a = np.asarray(labels)
    if a.ndim != 2 or a.size == 0 or not np.issubdtype(a.dtype, np.integer):
        raise ParameterError(f"labels must be a non-empty H×W integer array, not {a.dtype} of shape {a.shape}")
    if not isinstance(format, str):
        raise ParameterError(f"format must be 'png' or 'tiff', not {format!r}")
    low, top = int(a.min()), int(a.max())
    if low < 0:
        raise ParameterError(f"labels must not be negative (found {low})")
    kind = format.lower()
    if kind == "png":
        if top > 65535:
            raise ParameterError(f"the labels go up to {top}, more than a 16-bit PNG holds (65535); "
                                 "use format='tiff'")
        return encode_png(a.astype(np.uint16))
    if kind in ("tiff", "tif"):
        if top > np.iinfo(np.int32).max:
            raise ParameterError(f"the labels go up to {top}, more than 32-bit TIFF labels hold")
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, a.astype(np.int32), photometric="minisblack", compression="zlib")
        return buffer.getvalue()
    raise ParameterError(f"format must be 'png' or 'tiff'; unknown label format {format!r}")


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part.

    The bytes go to a temporary file in the same folder (same file system, so the final
    ``os.replace`` is atomic); on any error the temporary file is removed and the error re-raised.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist.
    data : bytes-like
        ``bytes``, ``bytearray``, ``memoryview`` or any object with the buffer protocol.

    Returns
    -------
    None

    Raises
    ------
    ParameterError
        ``path`` is not a str or path naming a file, or ``data`` is not bytes-like.
    OSError
        The file cannot be written (``FileNotFoundError`` for a missing folder, a full disk, no
        permission); the target is then unchanged.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "mask.png"
    >>> write_bytes_atomic(target, b"new")
    >>> target.read_bytes()
    b'new'
    """
    if not isinstance(path, (str, os.PathLike)) or not Path(path).name:
        raise ParameterError(f"path must be a str or os.PathLike naming a file, not {path!r}")
    try:
        data = memoryview(data)
    except TypeError:
        raise ParameterError(f"data must be bytes-like (bytes, bytearray, memoryview), not "
                             f"{type(data).__name__}") from None
    target = Path(path)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    # os.open with 0o666 lets the umask decide the permissions, as for any new file
    # (tempfile.mkstemp would leave the result readable by its owner only).
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())  # the data is on disk before the name points at it
        with contextlib.suppress(FileNotFoundError):  # replacing a file keeps its permissions
            os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
