"""Reading images from anything a person hands us.

``load_image`` is the one door through which pixels enter the library. The format comes from
the content (never the file name), the pixel count from the header before decoding, and every
failure becomes an ``ImageLoadError`` in plain words (the library's exception is its ``__cause__``).
Output: ``H×W`` gray or ``H×W×3`` RGB (never BGR), C-contiguous, uint8 (8-bit files), uint16
(16-bit files) or float32 (float TIFFs); other integer TIFFs (int16, int32 ...) follow
:func:`segmentation.as_image`'s rule: uint8 when every value is in 0..255, uint16 in 0..65535, else
float32 (exact up to 2**24).

Who decodes what: Pillow reads headers, EXIF, palettes and CMYK and decodes 8-bit images. OpenCV
decodes 16-bit PNGs (Pillow reduces 16-bit RGB to 8 bits). tifffile decodes TIFFs deeper than
8 bits or with signed/float samples (Pillow reduces 16-bit RGB to 8 bits, cannot open float RGB),
and 8-bit RGB TIFFs with associated alpha (Pillow un-premultiplies them in 8 bits, which rounds),
with OpenCV as fallback for compressions (LZW, JPEG) tifffile needs ``imagecodecs`` for.

TIFF extra samples (the ExtraSamples tag, TIFF 6.0) follow one rule whichever decoder reads them:
a sample the file marks as alpha is composited on white (associated alpha: colour + (1 - alpha) ×
white, the colour being already multiplied by alpha; unassociated alpha: (colour - white) × alpha +
white), and any other extra sample ("unspecified", or not described at all) is left out, never
taken as alpha; a note names every channel left out. The exception is a gray pixel with several samples and no
alpha among them (what tifffile writes for a Y×X×2 array): its samples are channels, chosen by ``channel`` like
those of a C axis.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import logging
import os
import stat
import struct
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Sequence, Union

import cv2
import numpy as np
import tifffile
from PIL import Image, UnidentifiedImageError

from .._checks import integer_pixels
from .._errors import ImageLoadError, ParameterError
from ._stack import (
    PAGE_MEANINGS,
    PROJECTIONS,
    Selection,
    TiffLayout,
    check_channel,
    check_pages,
    choose,
    has_words,
    read_selection,
    tiff_layout,
)

__all__ = ["ImageInfo", "load_image"]

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]

# Pillow formats we accept. Restricting the list keeps Pillow from "identifying" random bytes as
# a format without magic bytes (TGA and friends). Camera JPEGs with a second picture come back
# as format "MPO" from the JPEG opener; "MPO" itself must not be listed (Pillow has no opener
# registered under that name and raises KeyError).
_PILLOW_FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "WEBP", "GIF")
_WARNINGS_LOCK = threading.Lock()
_SUPPORTED_TEXT = "PNG, JPEG, TIFF, BMP, WebP or GIF"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF
_DAMAGED_MAGIC = ((b"\x89PNG", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF8", "GIF"),
                  *((m, "TIFF") for m in _TIFF_MAGIC), (b"BM", "BMP"))
_UNSUPPORTED_MAGIC = (
    (b"%PDF", "PDF documents are not supported; export the page as PNG"),
    (b"%!PS", "PostScript/EPS drawings are not supported; export it as PNG"),
    (b"8BPS", "Photoshop (PSD) files are not supported; export a flattened PNG or TIFF"),
    *((m, "JPEG 2000 images are not supported; save it as PNG or TIFF")
      for m in (b"\x00\x00\x00\x0cjP  ", b"\xffO\xffQ")),
    (b"PK\x03\x04", "this file is not an image (it looks like a ZIP archive or an Office document)"),
    (b"\x1f\x8b", "this file is not an image (it is gzip-compressed; an .svgz drawing? export it as PNG)"),
)
# TIFF 6.0 ExtraSamples values (tifffile.EXTRASAMPLE): 0 unspecified data, 1 associated alpha (the
# colour samples are already multiplied by alpha), 2 unassociated alpha.
_ASSOCIATED, _UNASSOCIATED = int(tifffile.EXTRASAMPLE.ASSOCALPHA), int(tifffile.EXTRASAMPLE.UNASSALPHA)
_EXTRA_WORDS = {int(tifffile.EXTRASAMPLE.UNSPECIFIED): "unspecified data, not alpha",
                None: "not described by the file's ExtraSamples tag, so not taken as alpha"}
# Colour samples per pixel by photometric interpretation (the others have one) and their name in notes.
_P = tifffile.PHOTOMETRIC
_COLOUR_SAMPLES = {int(_P.RGB): 3, int(_P.YCBCR): 3, int(_P.CIELAB): 3, int(_P.ICCLAB): 3, int(_P.ITULAB): 3,
                   int(_P.LOGLUV): 3, int(_P.SEPARATED): 4}
_COLOUR_NAMES = {int(_P.RGB): "RGB", int(_P.PALETTE): "palette", int(_P.SEPARATED): "CMYK", int(_P.YCBCR): "YCbCr"}
# EXIF orientation -> (how to show the stored pixels upright, words for the note).
# Checked against Pillow's ImageOps.exif_transpose in the tests.
_ORIENTATIONS = {
    2: (lambda a: a[:, ::-1], "mirrored left-right"),
    3: (lambda a: a[::-1, ::-1], "rotated 180°"),
    4: (lambda a: a[::-1], "flipped upside down"),
    5: (lambda a: a.swapaxes(0, 1), "mirrored and rotated 90°"),
    6: (lambda a: np.rot90(a, -1), "rotated 90° clockwise"),
    7: (lambda a: a[::-1, ::-1].swapaxes(0, 1), "mirrored and rotated 90°"),
    8: (lambda a: np.rot90(a, 1), "rotated 90° counter-clockwise"),
}


@dataclass(frozen=True)
class ImageInfo:
    """What ``load_image`` found in the file and what it did to it.

    Attributes
    ----------
    format : str
        Detected from the content: "PNG", "JPEG", "TIFF", "BMP", "WEBP" or "GIF".
    width, height : int
        Of the returned array (after any EXIF rotation).
    mode : str
        Pillow's mode of the stored image ("L", "RGBA", "P", "CMYK", ...) or a description:
        "RGB;16" for a 16-bit PNG, "RGB uint16" for a TIFF read with tifffile.
    dtype : str
        dtype name of the returned array.
    n_frames : int
        Frames or pages in the file; one plane is returned (the first, or the one chosen in a TIFF stack).
    notes : tuple of str
        Plain-English notes on every conversion, for showing to the user.
    axes : str
        A TIFF's axes as tifffile reads them from its metadata (``"TCZYX"``, ``"ZCYX"``, ``"QYX"``: T time,
        Z planes, C channels, Y, X, S samples of an RGB pixel, I/Q pages); ``"YX"`` or ``"YXS"`` for other
        images.
    shape : tuple of int
        The size of each of ``axes``.
    channel_names : tuple of str
        One name per channel of a multi-channel TIFF (OME ``Channel@Name``, ImageJ labels; "" where none).
    channel, plane, timepoint : int or None
        The channel, plane (z or page) and time point read, where the file has more than one.
    projection : str
        ``"none"``, or how the planes were combined (``"max"``, ``"mean"``, ``"sum"``; ``"auto"`` is
        resolved: ``"max"`` for a z-stack, else ``"none"``).
    n_channels, n_planes, n_timepoints : int
        Sizes of the file's C, Z (or page) and T axes (1 where it has none).
    pixel_size : float or None
        Size of one pixel (square pixels) in ``unit`` from the file's metadata, or None.
    unit : str or None
        Its unit (``"µm"``, ``"nm"``, ...).
    pixel_size_source : str
        Where it came from ("OME PhysicalSizeX/Y", "ImageJ unit and resolution tags", "TIFF resolution
        tags (pixels per centimetre)"), "" when the file gives none.
    series, n_series : int
        The image series read (OME multi-series files) and how many the file has.
    plain_pages : bool
        Whether the file has several pages without metadata saying what they are (a plain multi-page TIFF):
        then ``pages`` says whether they are read as planes, channels or time points.
    pages : str
        What such pages were read as: ``"planes"``, ``"channels"`` or ``"timepoints"`` (``"planes"`` when the
        file has none).
    """

    format: str
    width: int
    height: int
    mode: str
    dtype: str
    n_frames: int = 1
    notes: tuple[str, ...] = ()
    axes: str = ""
    shape: tuple[int, ...] = ()
    channel_names: tuple[str, ...] = ()
    channel: int | None = None
    plane: int | None = None
    timepoint: int | None = None
    projection: str = "none"
    n_channels: int = 1
    n_planes: int = 1
    n_timepoints: int = 1
    pixel_size: float | None = None
    unit: str | None = None
    pixel_size_source: str = ""
    series: int = 0
    n_series: int = 1
    plain_pages: bool = False
    pages: str = "planes"


@dataclass(frozen=True)
class _Extras:
    """How a TIFF page's samples divide: colour first, then the alpha to composite and samples left out."""

    n_samples: int
    n_colour: int
    colour_name: str
    alpha: int | None = None  # index of the sample composited as alpha
    associated: bool = False  # that alpha is associated (premultiplied)
    left_out: tuple[tuple[int, str], ...] = ()  # (index, what it is) of every extra sample left out


def _tiff_extras(photometric: int | None, n_samples: int, kinds: Sequence[int]) -> _Extras:
    """The TIFF 6.0 reading of a page's ExtraSamples values (``kinds``, one per extra sample).

    Only a sample marked as alpha is alpha; the first one is composited. Every other extra sample
    (unspecified data, a second alpha, a value TIFF 6.0 does not define, or one the tag does not
    describe at all) is left out.
    """
    photometric = 1 if photometric is None else int(photometric)
    n_samples = max(int(n_samples), 1)
    n_colour = min(n_samples, _COLOUR_SAMPLES.get(photometric, 1))
    name = _COLOUR_NAMES.get(photometric, "gray" if n_colour == 1 else "colour")
    kinds = [int(kind) for kind in kinds]
    alpha, associated, left_out = None, False, []
    for index in range(n_colour, n_samples):
        kind = kinds[index - n_colour] if index - n_colour < len(kinds) else None
        if kind in (_ASSOCIATED, _UNASSOCIATED) and alpha is None:
            alpha, associated = index, kind == _ASSOCIATED
        elif kind in (_ASSOCIATED, _UNASSOCIATED):
            left_out.append((index, "a second alpha channel"))
        else:
            left_out.append((index, _EXTRA_WORDS.get(kind, f"ExtraSamples value {kind}, which TIFF 6.0 does not "
                                                           "define, so not taken as alpha")))
    return _Extras(n_samples, n_colour, name, alpha, associated, tuple(left_out))


def _pillow_tiff_extras(im: Image.Image) -> _Extras:
    kinds = im.tag_v2.get(338, ())
    return _tiff_extras(im.tag_v2.get(262, 1), im.tag_v2.get(277, 1), np.atleast_1d(kinds).tolist())


def _pillow_reads(im: Image.Image, extras: _Extras) -> bool:
    """Whether Pillow's decoding of this 8-bit TIFF holds the samples the extra-sample rule needs, as stored.

    Pillow drops unspecified samples itself, returns gray + associated alpha as stored ("La"), but
    un-premultiplies RGB + associated alpha into 8-bit RGBA, which rounds: tifffile reads that one.
    """
    if extras.alpha is None:
        return True
    if extras.alpha != extras.n_colour:
        return False
    return im.mode == "La" if extras.associated else im.mode in ("LA", "PA", "RGBA")


def load_image(source: Source, *, max_pixels: int = 64_000_000, with_info: bool = False,
               channel: str | int | None = None, plane: int | None = None, timepoint: int | None = None,
               projection: str | None = "auto", series: int = 0, pages: str = "planes"):
    """Load an image as a numpy array, refusing anything that is not a sane image.

    Parameters
    ----------
    source : str, os.PathLike, bytes, bytearray, memoryview or binary file object
        The image. File objects are read from the start when seekable (as Pillow does).
        The file name's extension is ignored; the format is detected from the content.
    max_pixels : int, optional
        Largest accepted width × height in pixels, >= 1, checked from the header before decoding.
    with_info : bool, optional
        Also return an :class:`ImageInfo`.
    channel : str or int, optional
        Of a multi-channel TIFF (OME-TIFF, ImageJ hyperstack, a file with a C axis): the channel's index
        (0, 1, ...) or its name in the metadata (case-blind). None or a colour word (a recipe's
        ``"luminance"``, ...) picks the nuclear stain by name (DAPI, Hoechst, DRAQ5, ...; see
        ``NUCLEAR_STAINS``), else channel 0. The samples of a gray pixel with several samples and no alpha
        (a Y×X×2 TIFF) are channels too, without names. An image without channels takes a colour word or 0
        (an RGB image stays RGB, and also takes 0, 1, 2: the recipe's channel picks its colour); another index
        or a name is an ``ImageLoadError`` saying what the file has.
    plane : int, optional
        The z-plane (or page of a multi-page TIFF) from 0; default 0. Read when ``projection`` is ``"none"``, or
        ``"auto"`` on a file without a z-stack (pages without metadata).
    timepoint : int, optional
        The time point from 0; default 0.
    projection : {"auto", "none", "max", "mean", "sum"} or None, optional
        Combine every z-plane (or page) pixel by pixel: the maximum (NaN-ignoring ``np.fmax``, the
        file's dtype), or the mean or sum (float64 in plane order, returned as float32) of a pixel's
        non-NaN values (NaN only where every plane is NaN: NaN is "no data"). The planes are
        decoded one at a time. ``"auto"`` (the default, also None; what the recipes, the app, the command line
        and the generated scripts use): the maximum of a file whose metadata has a Z axis of more than one
        plane, one ``plane`` of pages without metadata. ``"none"``: one ``plane``. Any letter case.
    series : int, optional
        The image series of a multi-series file (OME-TIFF with several images), from 0. A pyramidal
        series is read at its full resolution. A series beyond the file's is an ``ImageLoadError``.
    pages : {"planes", "channels", "timepoints"}, optional
        What the pages of a multi-page TIFF without metadata naming its axes (tifffile's ``I``/``Q`` axis)
        are; default planes. Ignored by files whose metadata names their axes (``ImageInfo.plain_pages``
        says whether a file has such pages).

    Returns
    -------
    numpy.ndarray or (numpy.ndarray, ImageInfo)
        (H, W) gray or (H, W, 3) RGB, C-contiguous; uint8, uint16 or float32. Alpha is composited on white (what a
        viewer shows; a TIFF's extra channels count as alpha only where its ExtraSamples tag says so, associated or
        unassociated, and any other extra channel is left out), EXIF orientation applied, palettes and CMYK
        become RGB, multi-frame files give their first frame (a TIFF stack: the plane chosen by ``channel``,
        ``plane``, ``timepoint``, ``projection``, decoding only its pages); ``ImageInfo.notes`` lists every
        such change, and ``ImageInfo`` the file's axes, channel names and pixel size.

    Notes
    -----
    Sizes are checked from the header before decoding: a stack's plane (width × height) against
    ``max_pixels``. A channel, plane or time point beyond the file's is an ``ImageLoadError`` naming what
    the file has; settings for axes the file does not have are ignored. A file whose metadata declares more
    planes than it holds pages is an ``ImageLoadError`` saying both counts.

    References
    ----------
    tifffile (C. Gohlke) reads the TIFF structure and its OME-XML / ImageJ metadata; OME-TIFF:
    Goldberg et al., Genome Biology 6:R47 (2005), doi:10.1186/gb-2005-6-5-r47.

    Raises
    ------
    ImageLoadError
        Empty, unreadable, damaged, unsupported or too large input.
    ParameterError
        ``max_pixels`` is not a whole number >= 1, or ``source`` is none of the types above.

    Examples
    --------
    >>> from segmentation import encode_png
    >>> rgb = load_image(encode_png(np.zeros((2, 3, 3), np.uint8)))
    >>> rgb.shape, rgb.dtype.name
    ((2, 3, 3), 'uint8')
    """
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ParameterError(f"max_pixels must be a whole number of at least 1; got {max_pixels!r}")
    if isinstance(series, bool) or not isinstance(series, int) or series < 0:
        raise ParameterError(f"series must be a whole number of at least 0; got {series!r}")
    for name, value in (("plane", plane), ("timepoint", timepoint)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0):
            raise ParameterError(f"{name} must be a whole number of at least 0; got {value!r}")
    if isinstance(projection, str) and projection.strip().lower() in PROJECTIONS:
        projection = projection.strip().lower()
    if projection not in (None, *PROJECTIONS):
        raise ParameterError(f"projection must be one of {', '.join(PROJECTIONS)}; got {projection!r}")
    if isinstance(pages, str) and pages.strip().lower() in PAGE_MEANINGS:
        pages = pages.strip().lower()
    if pages not in PAGE_MEANINGS:
        raise ParameterError(f"pages must be one of {', '.join(PAGE_MEANINGS)}; got {pages!r}")
    if channel is not None and not isinstance(channel, (str, int, np.integer)) or isinstance(channel, bool):
        raise ParameterError(f"channel must be a channel index, a channel name or a colour word; got {channel!r}")
    if isinstance(channel, (int, np.integer)) and channel < 0:
        raise ParameterError(f"channel must be a channel index of at least 0, a channel name or a colour word; "
                             f"got {channel!r}")
    ask = _Ask(channel, plane, timepoint, projection, series, pages)
    if isinstance(source, (str, os.PathLike)):
        # A TIFF stack on disk is read in place: only its header and the chosen plane's pages, never the whole
        # file. Measured on a 2×40×1024×1024 16-bit OME-TIFF (168 MB, page cache warm): one plane in 0.008 s and
        # 2 MB peak memory, against 0.35 s and 170 MB when the file's bytes are read first; a max projection of
        # its 40 planes 0.08 s (tifffile.imread of the whole stack: 0.52 s), a mean projection 23 MB peak.
        try:
            stack = _tiff_stack_at(Path(source), max_pixels, ask)
        except ImageLoadError:
            raise
        except MemoryError as exc:
            raise ImageLoadError("there is not enough memory to decode this image") from exc
        except Exception as exc:
            raise ImageLoadError("this TIFF file is truncated or damaged") from exc
        if stack is not None:
            return stack if with_info else stack[0]
    data = _read_source(source)
    if not data:
        raise ImageLoadError("this file is empty")
    try:
        array, info = _decode(data, max_pixels, ask)
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:  # a later frame or tile grew past Pillow's limit
        raise ImageLoadError("the image is too large to decode safely") from exc
    except MemoryError as exc:
        raise ImageLoadError("there is not enough memory to decode this image") from exc
    except Exception as exc:  # any decoder failure (Pillow, OpenCV, tifffile, zlib, struct, ...)
        raise ImageLoadError(f"this {_format_name(data) or 'image'} file is truncated or damaged") from exc
    return (array, info) if with_info else array


def _nonfinite_words(array: np.ndarray) -> str:
    """How many pixels are not finite, of which kind (the segmentation keeps them: see as_image)."""
    kinds = [(int(np.count_nonzero(np.isnan(array))), "NaN"), (int(np.count_nonzero(array == np.inf)), "+inf"),
             (int(np.count_nonzero(array == -np.inf)), "-inf")]
    total = sum(n for n, _ in kinds)
    detail = ", ".join(f"{n:,} {word}" for n, word in kinds if n)
    return f"{total:,} pixel{'s' if total != 1 else ''} not finite ({detail}): treated as no data (NaN) or as ±∞"


def _read_source(source: Source) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            mode = path.stat().st_mode
            if stat.S_ISDIR(mode):
                raise ImageLoadError(f"{path} is a folder, not an image file")
            if not stat.S_ISREG(mode):  # a device or a pipe could be endless
                raise ImageLoadError(f"{path} is not a regular file")
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise ImageLoadError(f"there is no file {path}") from exc
        except PermissionError as exc:
            raise ImageLoadError(f"no permission to read {path}") from exc
        except OSError as exc:
            raise ImageLoadError(f"could not read {path}: {exc.strerror or exc}") from exc
    if hasattr(source, "read"):
        try:
            if getattr(source, "seekable", lambda: False)():
                source.seek(0)  # an upload read once before (e.g. on a Streamlit rerun) still works
            data = source.read()
        except OSError as exc:
            raise ImageLoadError(f"could not read the file: {exc}") from exc
        if isinstance(data, str):
            raise ImageLoadError("the file was opened as text; open it in binary mode ('rb')")
        return bytes(data)
    raise ParameterError(f"source must be a path, bytes or a binary file object; got {type(source).__name__}")


@dataclass(frozen=True)
class _Ask:
    """What load_image was asked to read of a stack."""

    channel: str | int | None = None
    plane: int | None = None
    timepoint: int | None = None
    projection: str | None = "auto"
    series: int = 0
    pages: str = "planes"


def _decode(data: bytes, max_pixels: int, ask: _Ask = _Ask()) -> tuple[np.ndarray, ImageInfo]:
    notes: list[str] = []
    layout = None
    if data.startswith(_TIFF_MAGIC):
        layout, stack = _tiff_stack(data, max_pixels, ask, notes)
        if stack is not None:
            return stack
    # PNG and WebP sizes are read by hand: Pillow's WebP opener allocates the canvas while opening,
    # and Pillow's bomb error for a 30000×30000 PNG would not tell us the size.
    if (size := _header_size(data)) is not None:
        _check_size(*size, max_pixels)
    upright = False  # True when the decoder applied the orientation itself
    with _warnings_as_notes(notes):  # the header phase only: it is quick, and holds a lock
        try:
            im = Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS)
        except Image.DecompressionBombError:  # over ~179 MP: reopen without Pillow's check, apply ours
            im = _open_unchecked(data)
        except UnidentifiedImageError as exc:
            if not data.startswith(_TIFF_MAGIC):
                raise ImageLoadError(_describe_unreadable(data)) from exc
            im = None  # a TIFF Pillow cannot open (float RGB, float64, ...): tifffile alone
        if im is not None:
            _check_size(*im.size, max_pixels)
            n_frames, orientation = getattr(im, "n_frames", 1), _orientation(im, notes, data)
    if im is None:
        fmt = "TIFF"
        array, mode, n_frames, orientation, upright = _read_tiff(data, max_pixels, notes)
    else:
        with im:
            fmt = "JPEG" if im.format == "MPO" else im.format
            if fmt == "PNG" and data[24] == 16:  # IHDR bit depth
                array, mode = _read_png16(data, notes)
            elif fmt == "TIFF" and (_is_deep_tiff(im) or _pillow_would_object(*im.size)
                                    or not _pillow_reads(im, extras := _pillow_tiff_extras(im))):
                array, mode, _, _, upright = _read_tiff(data, max_pixels, notes)
            else:
                try:
                    array, mode = _from_pillow(im, notes, extras if fmt == "TIFF" else None), im.mode
                    # Pillow turns TIFFs upright while decoding, and then removes the tag.
                    upright = orientation != 1 and _orientation(im, [], data) == 1
                except Exception:
                    if fmt != "TIFF":
                        raise
                    # A layout Pillow opens but cannot decode (8-bit planar RGB + alpha + another extra
                    # sample: "unknown raw mode"): tifffile reads every TIFF layout.
                    array, mode, _, _, upright = _read_tiff(data, max_pixels, notes)
    if ask.series and (layout is None or not 0 <= ask.series < layout.n_series):
        raise ImageLoadError(f"series {ask.series} does not exist: this file has one image series (0)")
    if layout is not None and layout.n_series > 1:  # each series one plane: not pages of one image
        notes.insert(0, f"series {layout.series} of {layout.n_series}")
    elif n_frames > 1:
        first = {"TIFF": f"first page of a {n_frames}-page TIFF",
                 "JPEG": f"first picture of a multi-picture JPEG ({n_frames} pictures)"}
        notes.insert(0, first.get(fmt, f"first frame of an animated {fmt.replace('WEBP', 'WebP')} ({n_frames} frames)"))
    damaged = any(note.startswith("the file is damaged") for note in notes)
    if damaged and layout is not None and ask.channel not in (None, 0):
        notes.append(f"channel {ask.channel!r} not looked up: the file's metadata is damaged, so its first plane "
                     "is read")
    elif layout is not None and not (isinstance(ask.channel, str) and layout.sole_channel
                                     and layout.sole_channel.casefold() == ask.channel.strip().casefold()):
        check_channel(ask.channel, has_words(layout) if array.ndim == 2 else "one RGB plane", colour=array.ndim == 3)
    elif layout is None:
        check_channel(ask.channel, "it is a gray image" if array.ndim == 2 else "one RGB plane",
                      colour=array.ndim == 3)
    if orientation in _ORIENTATIONS:
        turn, words = _ORIENTATIONS[orientation]
        array = array if upright else turn(array)
        notes.append(f"EXIF orientation applied ({words})")
    if array.dtype == np.float32 and not np.isfinite(array).all():
        notes.append(_nonfinite_words(array))
    array = np.ascontiguousarray(array)  # the flips and rotations above are views
    if layout is not None:
        notes.extend(layout.notes)  # on the metadata: pixels that are not square, unreadable OME-XML
    info = ImageInfo(format=fmt, width=array.shape[1], height=array.shape[0], mode=mode,
                     dtype=array.dtype.name, n_frames=n_frames, notes=tuple(notes),
                     **_layout_fields(layout, array))
    return array, info


def _layout_fields(layout: TiffLayout | None, array: np.ndarray, selection: Selection | None = None) -> dict:
    """ImageInfo's fields on the file's axes, channels and pixel size."""
    plain = "YX" if array.ndim == 2 else "YXS"
    if layout is None:
        return {"axes": plain, "shape": tuple(array.shape)}
    fields = dict(axes=layout.axes, shape=layout.shape, channel_names=layout.channel_names,
                  n_channels=layout.size("C"), n_planes=layout.size(layout.plane_axis or "Z"),
                  n_timepoints=layout.size("T"), pixel_size=layout.pixel_size, unit=layout.unit,
                  pixel_size_source=layout.pixel_size_source, series=layout.series, n_series=layout.n_series,
                  plain_pages=layout.plain_pages, pages=layout.pages)
    if selection is not None:
        fields.update(channel=selection.channel, plane=selection.plane, timepoint=selection.timepoint,
                      projection=selection.projection)
    return fields


def _tiff_stack_at(path: Path, max_pixels: int, ask: _Ask) -> tuple[np.ndarray, ImageInfo] | None:
    """A TIFF stack read from its file in place; None for anything else (read whole by the usual path)."""
    try:
        if not path.is_file():  # folders, pipes, missing files: the usual path says what is wrong
            return None
        with open(path, "rb") as handle:
            if handle.read(4) not in _TIFF_MAGIC:
                return None
    except OSError:
        return None
    return _tiff_stack(str(path), max_pixels, ask, [])[1]


def _tiff_stack(data: bytes | str, max_pixels: int, ask: _Ask, notes: list[str]):
    """A TIFF's layout, and, when it is a stack (or another series is asked for), the chosen plane read.

    Returns (layout or None, (array, ImageInfo) or None). A TIFF whose structure tifffile cannot read
    gives (None, None): the single-page readers below try it and say what is wrong.
    """
    with _tifffile_log_as_notes(notes):  # tifffile logs what it skips in a damaged file: tell the user instead
        try:
            tif = tifffile.TiffFile(io.BytesIO(data) if isinstance(data, bytes) else data)
        except Exception:
            return None, None
        try:
            layout = tiff_layout(tif, ask.series, ask.pages)
        except ImageLoadError:
            tif.close()
            if ask.series:
                raise
            return None, None
        except Exception:
            tif.close()
            return None, None
    with tif:
        if not (layout.is_stack or ask.series or layout.n_levels > 1):
            return layout, None
        key = tif.series[layout.series].keyframe
        _check_size(key.imagewidth, key.imagelength, max_pixels)
        check_pages(tif.series[layout.series], layout)
        if key.photometric == tifffile.PHOTOMETRIC.SEPARATED:
            raise ImageLoadError("this CMYK TIFF cannot be read; save it as RGB")
        selection = choose(layout, ask.channel, ask.plane, ask.timepoint, ask.projection)
        kind = _KIND_WORDS.get(layout.kind, "multi-page")
        kind = "one-page" if kind == "multi-page" and len(tif.series[layout.series].pages) == 1 else kind
        stack_notes = [f"{kind} TIFF, axes {layout.axes} "
                       f"{'×'.join(map(str, layout.shape))}"]
        if layout.n_series > 1:
            stack_notes.append(f"series {layout.series} of {layout.n_series}")
        if layout.plain_pages and layout.pages != "planes":
            stack_notes.append(f"its pages read as {layout.pages.replace('timepoints', 'time points')} (pages "
                               f"set to {layout.pages})")
        if layout.n_levels > 1:
            stack_notes.append(f"full resolution (level 0 of {layout.n_levels} pyramid levels)")
        if layout.plane_axis in ("I", "Q") and selection.plane == 0 and selection.projection == "none":
            n = layout.size(layout.plane_axis)
            sel_notes = [f"first page of a {n}-page TIFF" if note == f"plane 0 of {n} pages" else note
                         for note in selection.notes]
        else:
            sel_notes = list(selection.notes)
        try:
            array = read_selection(tif, layout, selection)
        except ImageLoadError:
            raise
        except Exception as exc:
            compression = getattr(key.compression, "name", str(key.compression))
            if layout.sample_channels and not selection.channel and len(tif.series[layout.series].pages) == 1:
                return layout, None  # the gray sample of a plain page: read as before (OpenCV decodes LZW)
            if compression not in ("NONE", "ADOBE_DEFLATE", "DEFLATE"):
                raise ImageLoadError(f"this TIFF's pages use {compression} compression, which cannot be decoded "
                                     "here (it needs the imagecodecs package); save it uncompressed or with ZIP "
                                     "(Deflate) compression") from exc
            raise ImageLoadError(f"this TIFF's pages could not be decoded ({type(exc).__name__}); the file is "
                                 "damaged") from exc
        notes.extend(stack_notes + sel_notes + list(layout.notes))
        if layout.sample_channels:  # one sample: a gray plane, no extra samples left
            extras = _tiff_extras(key.photometric, 1, ())
        else:
            extras = _tiff_extras(key.photometric, key.samplesperpixel, key.extrasamples)
        colour = array if array.ndim == 2 else array[..., :extras.n_colour]
        alpha = None if extras.alpha is None or array.ndim == 2 else array[..., extras.alpha]
        if colour.ndim == 3 and colour.shape[2] == 1:
            colour = colour[..., 0]
        if key.photometric == tifffile.PHOTOMETRIC.PALETTE and key.colormap is not None:
            notes.append("palette image converted to RGB")
            colour = np.moveaxis(key.colormap[:, colour], 0, -1)
        elif (key.photometric == tifffile.PHOTOMETRIC.MINISWHITE and colour.dtype.kind == "u"
              and not (layout.sample_channels and selection.channel)):  # the gray sample, not the extra ones
            notes.append("white-is-zero TIFF inverted so that bright is high")
            colour = np.iinfo(colour.dtype).max - colour
        array = _normalise(_resolve_extras(_supported_dtype(colour, notes), alpha, extras, notes), notes, alpha=False)
        if array.dtype == np.float32 and not np.isfinite(array).all():
            notes.append(_nonfinite_words(array))
        array = np.ascontiguousarray(array)
        info = ImageInfo(format="TIFF", width=array.shape[1], height=array.shape[0],
                         mode=f"{key.photometric.name} {key.dtype}", dtype=array.dtype.name, n_frames=len(tif.pages),
                         notes=tuple(notes), **_layout_fields(layout, array, selection))
        return layout, (array, info)


_KIND_WORDS = {"ome": "OME", "imagej": "ImageJ hyperstack", "shaped": "multi-page", "generic": "multi-page"}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _tifffile_log_as_notes(notes: list[str]):
    """The complaints tifffile logs (a damaged file's skipped pages or tags) as one note, not console output.

    The logger is shared by every thread (Streamlit serves sessions from threads), hence the lock; it is held
    only while the header and metadata are parsed.
    """
    logger = logging.getLogger("tifffile")
    collect = _Collect()
    with _WARNINGS_LOCK:
        propagate, logger.propagate = logger.propagate, False
        logger.addHandler(collect)
        try:
            yield
        finally:
            logger.removeHandler(collect)
            logger.propagate = propagate
    if collect.messages:
        said = "; ".join(dict.fromkeys(collect.messages))
        notes.append(f"the file is damaged; tifffile skipped what it could not read ({said[:200]})")


@contextlib.contextmanager
def _warnings_as_notes(notes: list[str]):
    """Turn Pillow's warnings into notes instead of console output.

    For example "Corrupt EXIF data", or its bomb warning above ~89 MP, where our own limit decides. What Pillow
    logs while opening (its TIFF opener's "More samples per pixel than can be decoded", for a TIFF tifffile then
    reads) is kept off the console. ``catch_warnings`` and the logger's handlers are global state, hence the lock
    (Streamlit serves sessions from threads).
    """
    pillow = logging.getLogger("PIL")  # Pillow logs what its TIFF opener refuses (more samples per pixel than it
    quiet = _Collect()                # decodes): tifffile reads those files, so the line is not for the console
    with _WARNINGS_LOCK, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        propagate, pillow.propagate = pillow.propagate, False
        pillow.addHandler(quiet)
        try:
            yield
        finally:
            pillow.removeHandler(quiet)
            pillow.propagate = propagate
    said = dict.fromkeys(str(w.message).strip() for w in caught if issubclass(w.category, UserWarning)
                         and not issubclass(w.category, Image.DecompressionBombWarning))
    notes.extend(f"the file is slightly damaged; the decoder said: {message}" for message in said)


def _header_size(data: bytes) -> tuple[int, int] | None:
    if data.startswith(_PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8 ":  # lossy: 14-bit sizes after the key-frame start code
            width, height = struct.unpack("<HH", data[26:30])
            return width & 0x3FFF, height & 0x3FFF
        if chunk == b"VP8L":  # lossless: (width-1, height-1) packed in 14 bits each
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":  # extended: 24-bit canvas size minus one
            return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _megapixels(n: int) -> str:
    return f"{n / 1e6:.2f}".rstrip("0").rstrip(".")


def _check_size(width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ImageLoadError(f"the image has no pixels (its size is {width}×{height})")
    if width * height > max_pixels:
        size, limit = _megapixels(width * height), _megapixels(max_pixels)
        exact = f" ({width * height:,} pixels, limit {max_pixels:,})" if size == limit else ""
        raise ImageLoadError(f"the image is {width}×{height} = {size} MP, over the {limit} MP limit{exact}")


def _pillow_would_object(width: int, height: int) -> bool:
    """Pillow checks TIFF sizes again while decoding (a warning, or an error above twice the limit)."""
    return Image.MAX_IMAGE_PIXELS is not None and width * height > Image.MAX_IMAGE_PIXELS


def _open_unchecked(data: bytes) -> Image.Image:
    """Open lazily as ``Image.open`` does, minus Pillow's decompression-bomb check."""
    Image.init()
    for fmt in _PILLOW_FORMATS:
        factory, accept = Image.OPEN[fmt]
        accepted = accept(data[:16]) if accept else True
        if accepted and not isinstance(accepted, str):  # a str is Pillow's "almost" warning
            try:
                return factory(io.BytesIO(data), "")
            except (SyntaxError, IndexError, TypeError, struct.error):
                continue
    raise UnidentifiedImageError("no Pillow plugin accepted the data")


def _orientation(im: Image.Image, notes: list[str], data: bytes = b"") -> int:
    if im.format == "PNG" and "exif" not in im.info and b"eXIf" not in data:
        return 1  # else Pillow decodes the whole PNG, looking for an eXIf chunk after the pixels
    try:
        value = int(im.getexif().get(0x0112, 1))
    except Exception:  # damaged EXIF should not cost the user the whole image
        notes.append("EXIF data is damaged; orientation not applied")
        return 1
    return value if value in _ORIENTATIONS else 1


def _from_pillow(im: Image.Image, notes: list[str], extras: _Extras | None = None) -> np.ndarray:
    """Decode with Pillow; ``extras``: a TIFF's extra samples (see ``_pillow_reads``)."""
    mode, transparent = im.mode, "transparency" in im.info
    if im.format == "TIFF" and im.tag_v2.get(262) == 0:  # Pillow inverts white-is-zero silently
        notes.append("white-is-zero TIFF inverted so that bright is high")
    if mode in ("P", "PA"):
        notes.append("palette image converted to RGB")
        im = im.convert("RGBA" if mode == "PA" or transparent else "RGB")
    elif mode == "1":
        notes.append("black-and-white image converted to 8-bit (0 and 255)")
        im = im.convert("L")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        notes.append(f"{mode} converted to RGB")
        im = im.convert("RGB")
    elif mode in ("La", "RGBa") and extras is None:  # premultiplied alpha -> straight alpha before compositing
        im = im.convert(mode[:-1] + "A")
    elif mode in ("L", "RGB") and transparent:  # a tRNS key colour is a 1-bit alpha channel
        im = im.convert(mode[0] + "A")
    array = np.array(im)  # decodes; a copy, so it outlives the file
    if array.dtype.byteorder == ">":  # Pillow's "I;16B"
        array = array.astype(array.dtype.newbyteorder("="))
    if extras is None:
        return _normalise(array, notes)
    # A TIFF: Pillow gave the colour, plus its alpha for these modes ("La" as stored, premultiplied).
    with_alpha = im.mode in ("LA", "La", "RGBA")
    colour = _supported_dtype(array[..., :-1] if with_alpha else array, notes)
    alpha = array[..., -1] if with_alpha and extras.alpha is not None else None
    return _normalise(_resolve_extras(colour, alpha, extras, notes), notes, alpha=False)


def _supported_dtype(array: np.ndarray, notes: list[str]) -> np.ndarray:
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype.kind in "iu" and array.dtype not in (np.uint8, np.uint16):
        # The rule of segmentation.as_image: the same pixels as an array or in a file give the same result.
        kept = integer_pixels(array)
        notes.append(f"{array.dtype} pixel values read as {kept.dtype}"
                     + ("" if kept.dtype == np.float32 else " (they all fit)"))
        return kept
    if array.dtype not in (np.uint8, np.uint16, np.float32):
        notes.append(f"{array.dtype} pixel values converted to float32")
        return array.astype(np.float32)
    return array


def _normalise(array: np.ndarray, notes: list[str], alpha: bool = True) -> np.ndarray:
    """Bring a decoded H×W[×C] array, channels already in RGB order, to the convention.

    ``alpha``: a 2nd or 4th channel is alpha (False for TIFFs, whose extra samples are resolved before).
    """
    array = _supported_dtype(array, notes)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    channels = 1 if array.ndim == 2 else array.shape[2]
    if alpha and channels in (2, 4):
        return _composite_on_white(array, notes)
    if channels not in (1, 3):
        raise ImageLoadError(f"images with {channels} channels per pixel are not supported; "
                             "save it as gray, RGB or RGBA")
    return array


def _composite_on_white(array: np.ndarray, notes: list[str]) -> np.ndarray:
    """Gray+alpha or RGB+alpha (alpha last) -> gray or RGB as shown on a white page."""
    *planes, alpha = cv2.split(array)  # contiguous planes: float maths on strided views is slow
    return _composite(planes, alpha, notes)


def _composite(planes: list[np.ndarray], alpha: np.ndarray, notes: list[str], *, associated: bool = False,
               premultiplied: bool | None = None, what: str = "alpha channel") -> np.ndarray:
    """Colour planes and their alpha (same dtype; 0..1 for float) -> the colour as shown on a white page.

    ``associated``: the file says the colour is already multiplied by alpha (TIFF 6.0 associated
    alpha), so the page shows colour + (1 - alpha) × white: alpha is not applied a second time.
    ``premultiplied`` (default ``associated``): the stored colour is multiplied by alpha, which
    libtiff also does to unassociated alpha in 8 bits (OpenCV's reading). Float data has no
    "white": the alpha is dropped (an associated colour is divided by alpha first).
    """
    premultiplied = associated if premultiplied is None else premultiplied
    dtype = planes[0].dtype
    if dtype not in (np.uint8, np.uint16):
        if premultiplied:  # back to the colour itself; exact where alpha is 1 (opaque)
            weight = alpha.astype(np.float32)
            planes = [np.divide(p, weight, out=p.astype(np.float32), where=weight > 0) for p in planes]
            notes.append(f"{what}: float colour divided by alpha where alpha > 0 (un-premultiplied), then the "
                         "alpha dropped (float data has no white to composite on)")
        else:
            notes.append(f"{what} dropped (float data has no white to composite on; values kept)")
    elif alpha.min() == np.iinfo(dtype).max:
        notes.append(f"{what} dropped (the image is fully opaque)")
    elif premultiplied:
        # colour + (1 - alpha) × white = colour + (white - alpha) in the file's own units: exact integers
        # (the same as un-premultiplying and then compositing, without the rounding in between).
        top = np.iinfo(dtype).max
        room = (top - alpha).astype(np.int32)
        planes = [np.minimum(p.astype(np.int32) + room, top).astype(dtype) for p in planes]
        if associated:
            notes.append(f"{what} composited on white directly as colour + (1 - alpha) × white: the stored colour "
                         "is already multiplied by alpha, so it is not multiplied again (no un-premultiplying; "
                         "transparent areas became white)")
        else:  # libtiff premultiplied it: the same pixels as (colour - white) × alpha + white
            notes.append(f"{what} composited on white (transparent areas became white)")
    else:
        # (colour - white) * alpha + white in float32 (24-bit mantissa: fine for 16-bit), written
        # exactly as the generated scripts do it (segmentation.to_python) so both give equal pixels.
        top = np.iinfo(dtype).max
        weight = alpha.astype(np.float32) / top
        planes = [np.rint((p.astype(np.float32) - top) * weight + top).astype(dtype) for p in planes]
        notes.append(f"{what} composited on white (transparent areas became white)")
    return planes[0] if len(planes) == 1 else np.ascontiguousarray(np.stack(planes, axis=-1))


def _resolve_extras(colour: np.ndarray, alpha: np.ndarray | None, extras: _Extras, notes: list[str], *,
                    premultiplied: bool | None = None) -> np.ndarray:
    """A TIFF's colour samples (H×W or H×W×C, supported dtype) with its extra samples applied (see ``_Extras``).

    ``alpha``: the sample ``extras.alpha`` in the file's units (None when there is none).
    """
    if extras.left_out:
        channels = {}
        for index, words in extras.left_out:
            channels.setdefault(words, []).append(str(index + 1))
        left = " and ".join(f"{', '.join(numbers)} ({words})" for words, numbers in channels.items())
        kept = "channel 1" if extras.n_colour == 1 else f"channels 1–{extras.n_colour}"
        notes.append(f"extra TIFF channel{'s' if len(extras.left_out) > 1 else ''} {left} of {extras.n_samples} "
                     f"left out; the image is {kept} ({extras.colour_name})")
    if extras.alpha is None:
        return colour
    if alpha is None:  # the decoder lost it: never show the colour as if it were opaque
        raise ImageLoadError("the alpha channel of this TIFF could not be read; save it uncompressed or with "
                             "ZIP (Deflate) compression")
    planes = [colour] if colour.ndim == 2 else [np.ascontiguousarray(colour[..., i]) for i in range(colour.shape[2])]
    what = (f"{'associated (premultiplied)' if extras.associated else 'unassociated'} alpha "
            f"(TIFF channel {extras.alpha + 1} of {extras.n_samples})")
    return _composite(planes, _alpha_like(alpha, colour.dtype), notes, associated=extras.associated,
                      premultiplied=premultiplied, what=what)


def _alpha_like(alpha: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Alpha samples on the colour's scale: its integer range (uint8/uint16), else 0..1."""
    if alpha.dtype == np.bool_:
        alpha = alpha.astype(np.uint8) * 255
    top = np.iinfo(alpha.dtype).max if alpha.dtype.kind in "iu" else None
    if dtype in (np.uint8, np.uint16):
        if alpha.dtype == dtype:
            return np.ascontiguousarray(alpha)
        if alpha.dtype == np.uint8 and dtype == np.uint16:  # an 8-bit alpha beside 16-bit palette colours
            return alpha.astype(np.uint16) * 257  # exact: a / 255 == 257a / 65535
        unit = np.clip(alpha / top, 0, 1) if top else np.clip(alpha, 0, 1)
        return np.rint(unit * np.iinfo(dtype).max).astype(dtype)
    return (alpha / np.float32(top)).astype(np.float32) if top else alpha.astype(np.float32)


def _cv_decode(data: bytes) -> np.ndarray:
    """OpenCV's decoder, silenced (it logs to stderr on damaged data), returning RGB(A)."""
    level = cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    finally:
        cv2.utils.logging.setLogLevel(level)
    if array is None:
        raise ValueError("OpenCV could not decode the image")
    if array.ndim == 3:  # OpenCV's BGR(A) -> RGB(A)
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return array


def _read_png16(data: bytes, notes: list[str]) -> tuple[np.ndarray, str]:
    color_type = data[25]
    array = _cv_decode(data)
    if array.ndim == 3 and color_type in (0, 4):  # OpenCV expands gray+alpha to BGRA
        array = array[..., [0, 3]] if array.shape[2] == 4 else array[..., 0]
    mode = {0: "I;16", 2: "RGB;16", 4: "LA;16", 6: "RGBA;16"}.get(color_type, "16-bit")
    return _normalise(array, notes), mode


def _is_deep_tiff(im: Image.Image) -> bool:
    bits = np.atleast_1d(im.tag_v2.get(258, 8))
    sample_format = np.atleast_1d(im.tag_v2.get(339, 1))  # 1 unsigned, 2 signed, 3 float
    return bool(bits.max() > 8 or (sample_format != 1).any())


def _read_tiff(data: bytes, max_pixels: int, notes: list[str]) -> tuple[np.ndarray, str, int, int, bool]:
    """First page as (array, mode, pages, orientation tag, whether already upright)."""
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        page, n_pages = tif.pages[0], len(tif.pages)
        _check_size(page.imagewidth, page.imagelength, max_pixels)
        photometric, axes = page.photometric, page.axes
        mode, orientation = f"{photometric.name} {page.dtype}", int(page.tags.valueof(274, 1))
        if photometric == tifffile.PHOTOMETRIC.SEPARATED:
            raise ImageLoadError("this CMYK TIFF cannot be read; save it as RGB")
        extras = _tiff_extras(photometric, page.samplesperpixel, page.extrasamples)
        try:
            array = page.asarray()
        except Exception as exc:  # usually a compression (LZW, JPEG) tifffile needs imagecodecs for
            # OpenCV's TIFF reader applies the Orientation tag itself, whatever the flags.
            return (_read_tiff_with_opencv(data, page, extras, exc, notes), mode, n_pages, orientation, True)
        # A single page can still have extra axes (planar "SYX", volumetric "ZYX"): keep Y, X, S.
        array = array[tuple(slice(None) if axis in "YXS" else 0 for axis in axes)]
        axes = "".join(axis for axis in axes if axis in "YXS")
        array = array.transpose([axes.index(axis) for axis in "YXS" if axis in axes])
        colour = array if array.ndim == 2 else array[..., :extras.n_colour]
        alpha = None if extras.alpha is None or array.ndim == 2 else array[..., extras.alpha]
        if colour.ndim == 3 and colour.shape[2] == 1:
            colour = colour[..., 0]
        if photometric == tifffile.PHOTOMETRIC.PALETTE and page.colormap is not None:
            notes.append("palette image converted to RGB")
            colour = np.moveaxis(page.colormap[:, colour], 0, -1)
        elif photometric == tifffile.PHOTOMETRIC.MINISWHITE and colour.dtype.kind == "u":
            notes.append("white-is-zero TIFF inverted so that bright is high")
            colour = np.iinfo(colour.dtype).max - colour
        array = _resolve_extras(_supported_dtype(colour, notes), alpha, extras, notes)
        return _normalise(array, notes, alpha=False), mode, n_pages, orientation, False


def _read_tiff_with_opencv(data: bytes, page: tifffile.TiffPage, extras: _Extras, error: Exception,
                           notes: list[str]) -> np.ndarray:
    """A TIFF tifffile could not decode, read by OpenCV, with the same extra-sample rule.

    OpenCV gives deeper samples as stored (up to 4 per pixel). 8-bit samples go through libtiff's
    RGBA interface: the colour, plus the first extra sample of RGB + 1, premultiplied by libtiff
    when it is unassociated alpha. Anything else it returns for extra samples cannot be trusted.
    """
    if extras.n_samples == extras.n_colour:  # no extra samples: as it always was
        return _normalise(_cv_decode(data), notes, alpha=False)
    n_extra = extras.n_samples - extras.n_colour
    refusal = ImageLoadError(f"this {extras.colour_name} TIFF with {n_extra} extra channel{'s' if n_extra > 1 else ''} "
                             f"uses {page.compression.name} compression, which cannot be decoded here with extra "
                             "channels; save it uncompressed or with ZIP (Deflate) compression")
    try:
        array = _cv_decode(data)
    except Exception:
        if "imagecodecs" in str(error):
            raise refusal from error
        raise
    got = 1 if array.ndim == 2 else array.shape[2]
    if page.dtype != np.uint8:
        if got != extras.n_samples or array.dtype != page.dtype:
            raise refusal from error
        premultiplied = None  # all samples as stored (OpenCV's BGR order already undone)
    elif got == extras.n_colour and extras.alpha is None:
        premultiplied = None  # the colour alone: the extra samples, all left out, were dropped by libtiff
    elif got == 4 and extras.n_colour == 3 and extras.alpha in (None, 3):
        premultiplied = True  # libtiff's RGBA interface: associated alpha as stored, unassociated premultiplied
    else:
        raise refusal from error
    colour = array if array.ndim == 2 else array[..., :extras.n_colour]
    alpha = None if extras.alpha is None or got <= extras.alpha else array[..., extras.alpha]
    array = _resolve_extras(_supported_dtype(colour, notes), alpha, extras, notes, premultiplied=premultiplied)
    return _normalise(array, notes, alpha=False)


def _format_name(data: bytes) -> str | None:
    """The supported format whose magic bytes start ``data``, if any."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _DAMAGED_MAGIC if data.startswith(magic)), None)


def _describe_unreadable(data: bytes) -> str:
    if name := _format_name(data):  # the right magic bytes, but not even the header reads
        return f"this {name} file is truncated or damaged"
    for magic, message in _UNSUPPORTED_MAGIC:
        if data.startswith(magic):
            return message
    if data[4:8] == b"ftyp":  # ISO media: HEIC/AVIF photos, or video
        if data[8:12] in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
            return "HEIC/HEIF photos are not supported; export it as JPEG or PNG"
        if data[8:12] in (b"avif", b"avis"):
            return "AVIF images are not supported; export it as PNG or JPEG"
        return "this file is not an image (it looks like a video)"
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if b"<svg" in head:
        return "SVG drawings are not supported; export it as PNG"
    if head.startswith((b"<!doctype html", b"<html")):
        return "this file is not an image (it looks like a web page, HTML)"
    # Text: valid UTF-8 (a character cut at 4096 bytes is fine) without control characters.
    text = codecs.getincrementaldecoder("utf-8")("replace").decode(data[:4096], final=False)
    if "\ufffd" not in text and not any(ord(c) < 32 and c not in "\t\n\r\f" for c in text):
        return "this file is not an image (it looks like text)"
    return f"this file is not an image in a format this program reads ({_SUPPORTED_TEXT})"
