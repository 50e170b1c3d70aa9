"""Microscopy TIFFs as they come: OME-TIFF, ImageJ hyperstacks, multi-page and multi-channel TIFFs.

tifffile reads the file's structure from its header and metadata without decoding pixels: the first image
series (or the one asked for), its full-resolution level when the file is pyramidal, and its axes
(``T`` time, ``Z`` planes, ``C`` channels, ``Y``, ``X``, ``S`` samples of an RGB pixel; pages without
metadata, ``I`` or ``Q``, count as planes unless the caller says they are channels or time points). Samples per
pixel that are not a colour pixel (gray pixels, PhotometricInterpretation 0 or 1, with more than one sample and
none of the extra samples marked as alpha: what tifffile writes for a Y×X×2 array) are channels: the ``S`` axis
is read as a ``C`` axis without names. A series whose metadata declares more planes than the file holds (an OME-XML
written before an acquisition that stopped early) is refused in words, before any pixel is decoded. One
plane is chosen from them (a channel, a z-plane or a projection over the z-planes, a time point), and only the pages
of that plane are decoded, one at a time (a projection keeps one running plane, never the whole stack).

The metadata also gives the channel names (OME ``Channel@Name``, ImageJ slice labels) and the pixel size
with its unit: OME ``PhysicalSizeX/Y`` (unit ``PhysicalSizeXUnit``, µm by default, OME-XML schema 2016-06),
ImageJ's ``unit`` with the TIFF ``XResolution``/``YResolution`` tags (pixels per unit), or plain TIFF
resolution tags in pixels per centimetre (``ResolutionUnit`` 3). Resolution in dots per inch is what
photos and scans carry for printing, so it is not taken as a pixel size.

References
----------
OME-TIFF and OME-XML: https://ome-model.readthedocs.io/en/stable/ome-tiff/ (Goldberg et al., Genome Biology
6:R47, 2005, doi:10.1186/gb-2005-6-5-r47). ImageJ hyperstacks: the TIFF ImageDescription written by ImageJ
(images, channels, slices, frames, unit). tifffile: C. Gohlke, https://github.com/cgohlke/tifffile.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import tifffile

from .._errors import ImageLoadError

__all__ = ["TiffLayout", "tiff_layout", "choose", "read_selection", "Selection", "NUCLEAR_STAINS", "normal_unit",
           "default_channel", "COLOUR_WORDS", "PROJECTIONS", "PAGE_MEANINGS", "check_channel",
           "has_words", "samples_are_channels", "check_pages"]

#: Channel names taken for a nuclear stain (segmentation.NUCLEAR_STAINS; io does not import recipes, a test keeps
#: the two equal), case-blind, anywhere in the name, in order of preference.
NUCLEAR_STAINS = ("dapi", "hoechst", "h33342", "h33258", "draq5", "draq7", "nucblue", "nucspot", "sytox",
                  "to-pro", "topro", "redot", "propidium", "nuclei", "nuclear", "nucleus", "dna")

#: Length units as files write them (case-blind) -> the recipes' units (segmentation.UNITS and UNIT_SPELLINGS; io does
#: not import recipes, a test keeps them equal). ImageJ writes the micro sign escaped, or "u".
_UNITS = {**{key: "µm" for key in ("µm", "um", "micron", "microns", "micrometer", "micrometers", "micrometre",
                                     "micrometres", "\\u00b5m", "u")},
          **{f"{word}{end}": unit for unit, word in (("nm", "nanomet"), ("mm", "millimet"), ("cm", "centimet"),
                                                      ("m", "met")) for end in ("er", "ers", "re", "res")},
          "nm": "nm", "mm": "mm", "cm": "cm", "m": "m", "å": "Å", "angstrom": "Å", "angstroms": "Å",
          "ångström": "Å", "ångströms": "Å"}
_NO_UNIT = ("", "pixel", "pixels", "px", "inch", "inches", "in")
_PAGE_AXES = "IQ"  # pages without metadata saying what they are: planes, unless told channels or time points
#: What the pages of a plain multi-page TIFF are taken as (segmentation.PAGES; a test keeps them equal).
PAGE_MEANINGS = ("planes", "channels", "timepoints")


def normal_unit(unit: Any, notes: list[str] | None = None) -> str | None:
    """A length unit as written in files (``"micron"``, ``"um"``, ImageJ's escaped micro) -> ``"µm"``; None if none.

    Anything but a known length unit (µm, nm, mm, cm, m, Å in their common spellings) is None; when ``notes`` is
    given, a unit that is neither known nor "no unit" (pixel, inch) adds a note saying the pixel size is not used.
    """
    if not isinstance(unit, str):
        return None
    text = unit.strip()
    key = text.casefold()
    if key in _NO_UNIT:
        return None
    known = next((value for spelling, value in _UNITS.items() if spelling.casefold() == key), None)
    if known is None and notes is not None:
        shown = text if len(text) <= 20 and text.isprintable() else text[:17] + "..."
        notes.append(f"the file's pixel size is in {shown!r}, which is not a length unit this program knows "
                     "(µm, nm, mm, cm, m, Å): measurements stay in pixels unless you set a pixel size")
    return known


@dataclass(frozen=True)
class TiffLayout:
    """What a TIFF holds, from its header and metadata only (no pixel decoded).

    Attributes
    ----------
    axes : str
        The series' axes, e.g. ``"TCZYX"``, ``"ZCYX"``, ``"QYX"`` (tifffile's letters).
    shape : tuple of int
        The series' shape, one size per axis.
    n_series : int
        Image series in the file (OME multi-series files, or a file with a thumbnail series).
    series : int
        The series read.
    n_levels : int
        Resolution levels of that series (pyramidal files); the full resolution (level 0) is read.
    kind : str
        tifffile's name of the metadata kind: ``"ome"``, ``"imagej"``, ``"shaped"``, ``"generic"``, ...
    channel_names : tuple of str
        One name per channel of the ``C`` axis (empty strings where the file has none).
    pixel_size : float or None
        Size of one pixel (X = Y) in ``unit``, or None.
    unit : str or None
        Its unit (``"µm"``, ``"nm"``, ...).
    pixel_size_source : str
        Where the pixel size came from, in words ("" when there is none).
    notes : tuple of str
        Plain-words notes on the metadata (pixels that are not square, ...).
    plain_pages : bool
        Whether the series has several pages without metadata saying what they are (tifffile's ``I`` or ``Q``
        axis): a plain multi-page TIFF, whose pages ``pages`` says are planes, channels or time points.
    pages : str
        What those pages were taken as (``"planes"``, ``"channels"``, ``"timepoints"``); ``"planes"`` when the
        file has no such pages.
    sole_channel : str
        The name the metadata gives the image's only channel when the series has no ``C`` axis ("" if none).
    sample_channels : bool
        Whether the ``C`` axis is the samples of each pixel (tifffile's ``S``; see :func:`samples_are_channels`).
    """

    axes: str
    shape: tuple[int, ...]
    n_series: int = 1
    series: int = 0
    n_levels: int = 1
    kind: str = ""
    channel_names: tuple[str, ...] = ()
    pixel_size: float | None = None
    unit: str | None = None
    pixel_size_source: str = ""
    notes: tuple[str, ...] = field(default=())
    plain_pages: bool = False
    pages: str = "planes"
    sole_channel: str = ""
    sample_channels: bool = False

    def size(self, axis: str) -> int:
        """The size of one axis (1 when the series has no such axis)."""
        return self.shape[self.axes.index(axis)] if axis in self.axes else 1

    @property
    def plane_axis(self) -> str | None:
        """The axis taken as the planes: ``Z``, else a page axis without metadata (``I``, ``Q``), else None."""
        if "Z" in self.axes:
            return "Z"
        return next((a for a in self.axes if a in _PAGE_AXES), None)

    @property
    def is_stack(self) -> bool:
        """Whether the series has more than one plane to choose from (channels, planes, time points, ...)."""
        return any(size > 1 for axis, size in zip(self.axes, self.shape) if axis not in "YXS")


def tiff_layout(tif: tifffile.TiffFile, series: int = 0, pages: str = "planes") -> TiffLayout:
    """The layout and metadata of one series of an open TIFF (header and metadata only).

    ``pages``: what pages without metadata (tifffile's ``I``/``Q`` axis) are, one of :data:`PAGE_MEANINGS`; such an
    axis becomes ``C`` (channels) or ``T`` (time points) when the file has no axis of that name already.
    """
    if pages not in PAGE_MEANINGS:
        raise ImageLoadError(f"pages must be one of {', '.join(PAGE_MEANINGS)}; got {pages!r}")
    all_series = tif.series
    if not all_series:
        raise ImageLoadError("this TIFF holds no image")
    if not 0 <= series < len(all_series):
        raise ImageLoadError(_no_series(series, len(all_series)))
    s = all_series[series]
    axes, shape = s.axes, tuple(int(n) for n in s.shape)
    sample_channels = "S" in axes and "C" not in axes and samples_are_channels(s.keyframe)
    if sample_channels:
        axes = axes.replace("S", "C")
    page_axis = next((a for a, n in zip(axes, shape) if a in _PAGE_AXES and n > 1), None)
    meaning = "planes"
    if page_axis is not None and pages != "planes" and (target := pages[0].upper()) not in axes:
        axes, meaning = axes.replace(page_axis, target, 1), pages
    notes: list[str] = []
    names: tuple[str, ...] = ()
    size = unit = None
    source = ""
    if tif.is_ome:
        names, size, unit, source = _ome_metadata(tif, series, notes)
    elif tif.is_imagej:
        names, size, unit, source = _imagej_metadata(tif, shape[axes.index("C")] if "C" in axes else 1, notes)
    else:  # OME and ImageJ files say their pixel size in their own metadata, or have none
        size, unit, source = _resolution_tags(s.keyframe, notes)
    n_channels = shape[axes.index("C")] if "C" in axes else 1
    sole = names[0] if "C" not in axes and len(names) == 1 else ""
    names = tuple(names[:n_channels]) + ("",) * max(0, n_channels - len(names)) if "C" in axes else ()
    return TiffLayout(axes=axes, shape=shape, n_series=len(all_series), series=series, n_levels=len(s.levels),
                      kind=str(s.kind), channel_names=names, pixel_size=size, unit=unit,
                      pixel_size_source=source, notes=tuple(notes), plain_pages=page_axis is not None,
                      pages=meaning, sole_channel=sole, sample_channels=sample_channels)


def samples_are_channels(page) -> bool:
    """Whether a page's samples per pixel are channels rather than one colour pixel.

    They are when the page is gray (PhotometricInterpretation 0 white-is-zero or 1 black-is-zero) with more than one
    sample and none of its extra samples marked as alpha (ExtraSamples 1 or 2, TIFF 6.0): e.g. two fluorescence
    channels stored as one 2-sample page. RGB, palette and CMYK pixels, and a gray pixel with its alpha, are colour.
    """
    photometric = page.photometric
    if photometric is None or int(photometric) not in (0, 1) or int(page.samplesperpixel) < 2:
        return False
    return not any(int(kind) in (1, 2) for kind in page.extrasamples)


def check_pages(series, layout: TiffLayout) -> None:
    """Refuse a series whose metadata declares more planes than the file holds (before decoding anything).

    tifffile maps each plane the metadata declares (the product of the axes' sizes over one page) to a page of the
    file, and leaves the planes it does not find empty. Reading them would fail, or read planes that are not there.
    """
    pages = list(series.pages)
    page_size = math.prod(series.keyframe.shape)
    declared = math.prod(layout.shape) // page_size if page_size else len(pages)
    what = "page"
    if getattr(series, "is_truncated", False):  # one page, the other planes contiguous after it (ImageJ > 4 GB)
        offset, plane = series.dataoffset, series.keyframe.nbytes
        size = series.keyframe.parent.filehandle.size
        held = declared if offset is None or not plane else min(declared, (size - offset) // plane)
        what = "plane"
    else:
        held = sum(page is not None for page in pages)
    if held >= declared:
        return
    page_axes = series.keyframe.axes
    leading = layout.axes[:-len(page_axes)] if layout.axes.endswith(page_axes) else ""
    words = {"T": "time points", "Z": "z-planes", "C": "channels", "I": "pages", "Q": "pages"}
    sizes = [f"{n} {words.get(a, 'planes')}" for a, n in zip(leading, layout.shape) if n > 1] or [f"{declared} planes"]
    total = f" ({declared} planes)" if len(sizes) > 1 else ""
    raise ImageLoadError(f"the file's metadata declares {' × '.join(sizes)}{total} but it holds {held} "
                         f"{what}{'s' if held != 1 else ''}: the file is incomplete (an acquisition that stopped "
                         "early?) or its metadata is wrong")


def _no_series(series: int, n: int) -> str:
    have = "one image series (0)" if n == 1 else f"{n} image series (0–{n - 1})"
    return f"series {series} does not exist: this file has {have}"


def _square(x: float | None, y: float | None, unit: str | None, where: str, notes: list[str]) -> float | None:
    """The pixel size when X and Y agree (to 1 part in 10^6); None (and a note) when they do not."""
    if x is None or not (math.isfinite(x) and x > 0):
        return None
    if y is not None and math.isfinite(y) and y > 0 and not math.isclose(x, y, rel_tol=1e-6):
        notes.append(f"the pixels are not square ({where}: X {x:g}, Y {y:g} {unit or ''}); measurements stay in "
                     "pixels unless you set a pixel size")
        return None
    return float(x)


def _ome_metadata(tif: tifffile.TiffFile, series: int, notes: list[str]):
    try:
        ome = tifffile.xml2dict(tif.ome_metadata or "")["OME"]
        images = ome.get("Image", [])
        images = images if isinstance(images, list) else [images]
        pixels = images[min(series, len(images) - 1)]["Pixels"]
    except Exception:  # damaged or unusual OME-XML: the pixels are still readable
        notes.append("the OME metadata could not be read; channel names and pixel size are not known")
        return (), None, None, ""
    channels = pixels.get("Channel", [])
    channels = channels if isinstance(channels, list) else [channels]
    names = tuple(str(c.get("Name", "")) if isinstance(c, dict) else "" for c in channels)
    x, y = _float(pixels.get("PhysicalSizeX")), _float(pixels.get("PhysicalSizeY"))
    unit = normal_unit(pixels.get("PhysicalSizeXUnit", "µm"), notes if x is not None else None)
    if x is None or unit is None:
        return names, None, None, ""
    size = _square(x, y, unit, "OME PhysicalSizeX/Y", notes)
    return names, size, unit if size else None, "OME PhysicalSizeX/Y" if size else ""


def _imagej_metadata(tif: tifffile.TiffFile, n_channels: int, notes: list[str]):
    meta = tif.imagej_metadata or {}
    labels = meta.get("Labels") or []
    names = tuple(str(label) for label in labels[:n_channels]) if len(labels) >= n_channels > 1 else ()
    page = tif.pages.first
    x, y = _per_unit(page.tags.valueof(282)), _per_unit(page.tags.valueof(283))
    unit = normal_unit(meta.get("unit"), notes if x is not None else None)
    if unit is None or x is None:
        return names, None, None, ""
    size = _square(x, y, unit, "ImageJ resolution", notes)
    return names, size, unit if size else None, "ImageJ unit and resolution tags" if size else ""


def _resolution_tags(page, notes: list[str]):
    """Plain TIFF resolution tags in pixels per centimetre (ResolutionUnit 3) -> µm; dpi is not a pixel size."""
    if int(page.tags.valueof(296, 2) or 2) != 3:
        return None, None, ""
    x, y = _per_unit(page.tags.valueof(282), 10_000), _per_unit(page.tags.valueof(283), 10_000)  # cm -> µm
    if x is None:
        return None, None, ""
    size = _square(x, y, "µm", "TIFF resolution tags", notes)
    return (size, "µm", "TIFF resolution tags (pixels per centimetre)") if size else (None, None, "")


def _per_unit(value: Any, scale: int = 1) -> float | None:
    """TIFF resolution (a rational, pixels per unit) -> the size of one pixel in that unit times ``scale``.

    Computed exactly on the rational and rounded once: 0.65 µm written in pixels per centimetre is (200000, 13),
    and 13 / 200000 × 10^4 in floats read 0.6499999999999999 in the page's pixel-size box.
    """
    try:
        numerator, denominator = (Fraction(int(part)) for part in value)
        return float(denominator * scale / numerator) if numerator > 0 and denominator > 0 else None
    except (TypeError, ValueError, ZeroDivisionError):
        return None


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


# -- choosing and decoding one plane -----------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """Which plane of a stack was read: indices along the series' axes, or a projection over the planes."""

    channel: int | None
    plane: int | None
    timepoint: int | None
    projection: str
    notes: tuple[str, ...]


def default_channel(names: tuple[str, ...]) -> tuple[int, str]:
    """The nuclear stain among ``names`` (first in :data:`NUCLEAR_STAINS` order), else channel 0; and why."""
    lowered = [name.lower() for name in names]
    for stain in NUCLEAR_STAINS:
        for index, name in enumerate(lowered):
            if re.search(rf"(?<![a-z]){re.escape(stain)}", name):
                return index, f"the nuclear stain ({names[index]})"
    return 0, "the first channel (no channel is named like a nuclear stain such as DAPI or Hoechst)"


def _channel_words(layout: TiffLayout) -> str:
    return ", ".join(f"{i} {name}".rstrip() for i, name in enumerate(layout.channel_names))


#: The recipe's colour words (segmentation.CHANNELS; io does not import recipes, a test keeps them equal).
COLOUR_WORDS = ("luminance", "red", "green", "blue", "hue", "saturation", "value")
PROJECTIONS = ("auto", "none", "max", "mean", "sum")


def check_channel(channel: Any, has: str, colour: bool = False) -> None:
    """Refuse a channel index (other than 0) or a channel name asked of an image without a channel axis.

    ``has`` says in words what the image has instead ("its 3 pages are read as z-planes"); ``colour``: its pixels
    are RGB, where 0, 1, 2 are red, green, blue. Colour words (and None) are always accepted.
    """
    if channel is None or (isinstance(channel, str) and channel.strip().casefold() in COLOUR_WORDS):
        return
    index = isinstance(channel, (int, np.integer)) and not isinstance(channel, bool)
    if index and (int(channel) == 0 or (colour and 0 <= int(channel) <= 2)):
        return
    if colour:
        asked = f"channel {int(channel)} does not exist" if index else f"there is no channel named {channel!r}"
        raise ImageLoadError(f"{asked}; this image has no channels but RGB pixels ({has}): choose a colour word "
                             "(luminance, red, ..., value) or 0 (red), 1 (green), 2 (blue)")
    asked = f"channel {int(channel)} does not exist" if index else f"there is no channel named {channel!r}"
    raise ImageLoadError(f"{asked}; this file has no channels: {has}")


def has_words(layout: TiffLayout) -> str:
    """What a stack without a channel axis has, in words, for a refused channel."""
    parts = []
    if layout.plain_pages and layout.pages != "channels":
        axis = "T" if layout.pages == "timepoints" else layout.plane_axis
        read = "time points" if layout.pages == "timepoints" else "z-planes"
        return (f"its {layout.size(axis or 'Z')} pages are read as {read}; if they are channels, set pages to "
                "channels (--pages channels)")
    if layout.size("Z") > 1:
        parts.append(f"{layout.size('Z')} z-planes")
    if layout.size("T") > 1:
        parts.append(f"{layout.size('T')} time points")
    return f"it has {' and '.join(parts)}" if parts else "it is one plane"


def choose(layout: TiffLayout, channel: Any = None, plane: int | None = None, timepoint: int | None = None,
           projection: str | None = "auto") -> Selection:
    """A recipe's channel / plane / time point / projection as indices of ``layout``'s axes.

    A channel index or name picks among the ``C`` axis (a name case-blind); a colour word or None picks the
    nuclear stain, else channel 0. A channel index other than 0, or a name, asked of a file without a ``C``
    axis is an ``ImageLoadError`` saying what the file has (RGB pixels take 0, 1, 2: red, green, blue). The
    projection ``"auto"`` is the maximum over a ``Z`` axis of more than one plane, and one plane of pages
    without metadata; None is ``"auto"``. Plane and time point settings of axes the file does not have are ignored;
    an index beyond an axis the file has is an ``ImageLoadError``. When the channels are a pixel's samples
    (``layout.sample_channels``) the note says which sample was read.
    """
    projection = "auto" if projection is None else projection
    if projection not in PROJECTIONS:
        raise ImageLoadError(f"projection must be one of {', '.join(PROJECTIONS)}; got {projection!r}")
    notes: list[str] = []
    c = z = t = None
    if "C" not in layout.axes:
        if not (isinstance(channel, str) and layout.sole_channel
                and layout.sole_channel.casefold() == channel.strip().casefold()):
            check_channel(channel, has_words(layout), colour=layout.size("S") >= 3)
    elif layout.size("C") == 1:
        name = layout.channel_names[0] if layout.channel_names else ""
        if not (isinstance(channel, str) and name and name.casefold() == channel.strip().casefold()):
            check_channel(channel, f"its one channel is 0{f' {name}' if name else ''}")
    else:
        n = layout.size("C")
        matches = [i for i, name in enumerate(layout.channel_names)
                   if isinstance(channel, str) and name.casefold() == channel.casefold()]
        if isinstance(channel, (int, np.integer)) and not isinstance(channel, bool):
            c = _index(channel, n, "channel", "channels")
            why = ""
        elif isinstance(channel, str) and (matches or channel not in COLOUR_WORDS):
            if not matches:
                named = _channel_words(layout)
                raise ImageLoadError(f"this file has no channel named {channel!r}; its {n} channels are "
                                     f"{named or ', '.join(map(str, range(n)))} (use an index or one of the names)")
            c, why = matches[0], ""
        else:
            c, why = default_channel(layout.channel_names)
        name = layout.channel_names[c] if c < len(layout.channel_names) and layout.channel_names[c] else ""
        sample = f" (sample {c} of the {n} samples of each pixel)" if layout.sample_channels else ""
        notes.append(f"channel {c}{f' ({name})' if name else ''} of {n}{sample}" + (f": {why}" if why else ""))
    axis = layout.plane_axis
    auto = projection == "auto"
    if auto:  # a z-stack (its metadata says Z) opens on its maximum; pages without metadata on one page
        projection = "max" if axis == "Z" and layout.size("Z") > 1 else "none"
    if axis is not None and layout.size(axis) > 1:
        n = layout.size(axis)
        what = "z-planes" if axis == "Z" else "pages"
        if projection == "none":
            z = _index(plane, n, "plane", what)
            notes.append(f"plane {z} of {n} {what}")
        else:
            notes.append(f"{projection} projection of the {n} {what}" + (" (automatic for a z-stack)" if auto else ""))
    if "T" in layout.axes and layout.size("T") > 1:
        t = _index(timepoint, layout.size("T"), "time point", "time points")
        notes.append(f"time point {t} of {layout.size('T')}")
    return Selection(c, z, t, projection if axis is not None and layout.size(axis) > 1 else "none", tuple(notes))


def read_selection(tif: tifffile.TiffFile, layout: TiffLayout, selection: Selection) -> np.ndarray:
    """Decode only the pages of the chosen plane (a projection: one page at a time) -> Y×X or Y×X×S."""
    s = tif.series[layout.series]
    key = s.keyframe
    page_axes = key.axes
    axes = layout.axes.replace("C", "S") if layout.sample_channels else layout.axes  # the file's own letters
    leading = axes[:-len(page_axes)] if axes.endswith(page_axes) else None
    lead_shape = layout.shape[:len(leading)] if leading is not None else ()
    if leading is None or math.prod(lead_shape) != len(s.pages) or not set(page_axes) <= set("YXS"):
        return _from_whole_series(s, layout, selection)
    fixed = {"C": selection.channel, "T": selection.timepoint}
    samples = page_axes.index("S") if "S" in page_axes else None
    axis = layout.plane_axis
    planes = [selection.plane] if selection.projection == "none" else list(range(layout.size(axis or "Z")))
    picked = None
    for k, z in enumerate(planes):
        index = tuple(z if a == axis and z is not None else (fixed.get(a) or 0) for a in leading)
        page = s.pages[int(np.ravel_multi_index(index, lead_shape))] if leading else s.pages[0]
        array = page.asarray()
        if samples is not None:  # samples last (a planar page decodes S×Y×X); samples that are channels: one
            array = np.moveaxis(array, samples, -1)
            array = np.ascontiguousarray(array[..., selection.channel or 0]) if layout.sample_channels else array
        picked = _accumulate(picked, array, selection.projection, k, len(planes))
    return picked


def _accumulate(total, plane: np.ndarray, projection: str, k: int, n: int):
    """The running projection after plane ``k`` of ``n`` (planes in order; the same sums as the script).

    NaN is "no data" in a float plane, for every projection: the maximum ignores it (``np.fmax``), and the sum
    and the mean are those of a pixel's non-NaN values (``np.nansum`` / ``np.nanmean``), NaN where every
    plane is NaN (no data stays no data, where ``nansum`` would invent a 0). A plain sum let one NaN plane
    make the whole projection NaN (#13 review: a stack with one empty plane could not be projected).
    Until the last plane a sum or mean is ``(float64 sums, counts of non-NaN values or None)``.
    """
    if projection == "none":
        return plane
    if projection == "max":  # fmax: a NaN pixel of one plane does not hide the others
        return plane.copy() if total is None else np.fmax(total, plane, out=total)
    # sum and mean in float64, in plane order, then float32 (exact for sums below 2**24)
    values = plane.astype(np.float64)
    missing = np.isnan(values) if plane.dtype.kind == "f" else None
    if missing is not None:
        values[missing] = 0.0
    if total is None:
        total = (values, None if missing is None else (~missing).astype(np.int32))
    else:
        np.add(total[0], values, out=total[0])
        if missing is not None:
            total[1][~missing] += 1
    if k < n - 1:
        return total
    sums, seen = total
    if seen is None:  # integer planes: no NaN
        return (sums / n if projection == "mean" else sums).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = sums / seen if projection == "mean" else sums
    result[seen == 0] = np.nan
    return result.astype(np.float32)


def _from_whole_series(s, layout: TiffLayout, selection: Selection) -> np.ndarray:
    """Layouts whose planes are not whole pages (tiled volumes): the series decoded, then indexed."""
    data = s.asarray()
    axis = layout.plane_axis
    index = []
    for a in layout.axes:
        if a in "YXS":
            index.append(slice(None))
        elif a == axis:
            index.append(slice(None) if selection.projection != "none" else (selection.plane or 0))
        else:
            index.append({"C": selection.channel, "T": selection.timepoint}.get(a) or 0)
    picked = data[tuple(index)]
    kept = [a for a, i in zip(layout.axes, index) if isinstance(i, slice)]
    if "S" in kept:  # samples last, as a page reads
        picked = np.moveaxis(picked, kept.index("S"), -1)
    if selection.projection == "none" or axis is None:
        return picked
    result = None
    for k in range(picked.shape[0]):
        result = _accumulate(result, picked[k], selection.projection, k, picked.shape[0])
    return result


def _index(value: int | None, size: int, what: str, plural: str) -> int:
    value = 0 if value is None else int(value)
    if not 0 <= value < size:
        raise ImageLoadError(f"{what} {value} does not exist: this file has {size} {plural} (0–{size - 1})")
    return value
