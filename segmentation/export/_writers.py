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

__all__ = ["encode_png", "encode_png_bytes", "encode_jpeg_bytes", "encode_labels", "write_bytes_atomic"]


def encode_png(array: np.ndarray) -> bytes:
    """Encode a mask or an image as PNG bytes.

    Parameters
    ----------
    array : numpy.ndarray
        ``bool`` H×W mask (written as 8-bit 0/255), or uint8/uint16 H×W gray or H×W×3 RGB.

    Returns
    -------
    bytes

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
        raise ValueError(f"encode_png needs a bool mask or a uint8/uint16 image, not {a.dtype}")
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or a.size == 0:
        raise ValueError(f"encode_png needs a non-empty H×W or H×W×3 array, not shape {a.shape}")
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
        raise ValueError(f"{name} must be a non-empty H×W grayscale or H×W×3 RGB array, got shape {image.shape}")
    if image.dtype not in dtypes:
        names = " or ".join(np.dtype(d).name for d in dtypes)
        raise ValueError(f"{name} must be {names}, got {image.dtype}; "
                         "convert with segmentation.display_image first")
    return cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image


def encode_png_bytes(image: np.ndarray, *, compression: int = 1) -> bytes:
    r"""Encode an RGB or gray image as PNG bytes, fast (zlib level 1, one fixed row filter).

    Used to send pre-encoded images to the browser. ``uint16`` is kept as 16-bit PNG. The "up"
    filter instead of libpng's adaptive choice halves the time at about the same size.

    Examples
    --------
    >>> encode_png_bytes(np.zeros((8, 8, 3), np.uint8))[:4]
    b'\\x89PNG'
    """
    if int(compression) != compression or not 0 <= compression <= 9:
        raise ValueError(f"compression must be an integer in 0..9, got {compression!r}")
    bgr = _to_bgr_for_opencv(image, "image", (np.uint8, np.uint16))
    params = [cv2.IMWRITE_PNG_COMPRESSION, int(compression), cv2.IMWRITE_PNG_FILTER, cv2.IMWRITE_PNG_FILTER_UP]
    ok, buffer = cv2.imencode(".png", bgr, params)
    if not ok:  # pragma: no cover - OpenCV only fails here when out of memory
        raise ValueError("OpenCV could not encode the image as PNG")
    return buffer.tobytes()


def encode_jpeg_bytes(rgb: np.ndarray, *, quality: int = 90) -> bytes:
    r"""Encode an RGB or gray uint8 image as JPEG bytes at ``quality`` (1..100).

    Examples
    --------
    >>> encode_jpeg_bytes(np.zeros((8, 8, 3), np.uint8))[:2]
    b'\\xff\\xd8'
    """
    if int(quality) != quality or not 1 <= quality <= 100:
        raise ValueError(f"quality must be an integer in 1..100, got {quality!r}")
    bgr = _to_bgr_for_opencv(rgb, "rgb", (np.uint8,))
    ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover
        raise ValueError("OpenCV could not encode the image as JPEG")
    return buffer.tobytes()


def encode_labels(labels: np.ndarray, format: str = "png") -> bytes:
    """Encode an integer label image losslessly.

    Parameters
    ----------
    labels : numpy.ndarray
        H×W non-negative integers (0 = background).
    format : {"png", "tiff"}
        "png" writes 16-bit gray and needs every label <= 65535; "tiff" writes int32
        (zlib-compressed), which ``load_image`` reads back as float32, exact up to 2**24.

    Returns
    -------
    bytes

    Examples
    --------
    >>> labels = np.array([[0, 1], [2, 70000]], dtype=np.int32)
    >>> len(encode_labels(labels, format="tiff")) > 0
    True
    """
    a = np.asarray(labels)
    if a.ndim != 2 or a.size == 0 or not np.issubdtype(a.dtype, np.integer):
        raise ValueError(f"labels must be a non-empty H×W integer array, not {a.dtype} of shape {a.shape}")
    low, top = int(a.min()), int(a.max())
    if low < 0:
        raise ValueError(f"labels must not be negative (found {low})")
    kind = str(format).lower()
    if kind == "png":
        if top > 65535:
            raise ValueError(f"the labels go up to {top}, more than a 16-bit PNG holds (65535); "
                             "use format='tiff'")
        return encode_png(a.astype(np.uint16))
    if kind in ("tiff", "tif"):
        if top > np.iinfo(np.int32).max:
            raise ValueError(f"the labels go up to {top}, more than 32-bit TIFF labels hold")
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, a.astype(np.int32), photometric="minisblack", compression="zlib")
        return buffer.getvalue()
    raise ValueError(f"unknown label format {format!r}; use 'png' or 'tiff'")


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part.

    The bytes go to a temporary file in the same folder (same file system, so the final
    ``os.replace`` is atomic); on any error the temporary file is removed and the error re-raised.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "mask.png"
    >>> write_bytes_atomic(target, b"new")
    >>> target.read_bytes()
    b'new'
    """
    target = Path(path)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    # os.open with 0o666 lets the umask decide the permissions, as for any new file
    # (tempfile.mkstemp would leave the result readable by its owner only).
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(memoryview(data))
            handle.flush()
            os.fsync(handle.fileno())  # the data is on disk before the name points at it
        with contextlib.suppress(FileNotFoundError):  # replacing a file keeps its permissions
            os.chmod(temp, stat.S_IMODE(os.stat(target).st_mode))
        os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
