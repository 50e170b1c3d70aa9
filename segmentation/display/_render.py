"""Images for the views: display conversion, mask images, coloured labels, overlays, encoding.

Every function returns an RGB ``uint8`` array (or encoded bytes) ready for the screen. They run on
every slider move at display resolution and on 12-megapixel exports, so the pixel work is done
by OpenCV (LUTs, morphology, ``addWeighted``, masked copies); no Python loops over pixels.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.segmentation import relabel_sequential

from .._checks import check_choice, check_number
from .._errors import ParameterError
from .._numeric import float_exponent, in_float_range

__all__ = ["boundary_overlay", "colorize_labels", "display_image", "downscale", "label_palette", "mask_image"]

_STRETCH_MODES = ("auto", "always", "never")
_DOWNSCALE_KINDS = ("image", "mask", "labels")
_FILL_COLORS = ("labels", "color")
# An 8-bit image whose 0.5..99.5 percentile span is below a quarter of the 8-bit range is shown
# stretched in "auto" mode (a 12-bit-like dark image, a 0/1 mask saved as uint8, an underexposure).
_LOW_CONTRAST_SPAN = 64
# Percentiles of larger images come from a sample of rows (display only).
_PERCENTILE_SAMPLE = 1 << 20
#: The widest boundary line :func:`boundary_overlay` draws, in pixels: its erosion by a disc of that radius
#: already takes seconds on a 12-megapixel image (a million would exhaust OpenCV's memory).
_MAX_THICKNESS = 100
_GOLDEN = 0.618033988749895
_SATURATIONS = (0.95, 0.65, 0.8)
_VALUES = (1.0, 0.85, 0.72, 0.92)


def _check_image(image: np.ndarray, name: str = "image", *, any_float: bool = True) -> np.ndarray:
    """An H×W or H×W×3 image of uint8, uint16 or float: any float dtype, or float32/float64 only.

    :func:`display_image` converts every float dtype to float32 itself, so it takes them all (float16,
    float64, longdouble); OpenCV's resize in :func:`downscale` takes float32 and float64 only.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ParameterError(f"{name} must be H×W grayscale or H×W×3 RGB, got shape {image.shape}")
    floats = image.dtype.kind == "f" if any_float else image.dtype in (np.float32, np.float64)
    if image.dtype not in (np.uint8, np.uint16) and not floats:
        allowed = "uint8, uint16 or a float dtype" if any_float else "uint8, uint16, float32 or float64"
        raise ParameterError(f"{name} must be {allowed}, got dtype {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ParameterError(f"{name} is empty (shape {image.shape})")
    return image


def _check_mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.ndim != 2:
        raise ParameterError(f"{name} must be a bool H×W array, got {mask.dtype} of shape {mask.shape}")
    return mask


def _check_labels(labels: np.ndarray, name: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype.kind not in "iu":
        raise ParameterError(f"{name} must be an integer H×W array, got {labels.dtype} of shape {labels.shape}")
    if labels.size and not 0 <= labels.min() <= labels.max() <= np.iinfo(np.int32).max:
        raise ParameterError(f"{name} values must be in 0..2**31-1 (0 is background, objects 1..N)")
    return labels


def _check_color(color, name: str) -> tuple[int, int, int]:
    array = np.asarray(color)
    if (array.dtype.kind not in "iuf" or array.size != 3 or not np.all(np.isfinite(array))
            or not np.all((array >= 0) & (array <= 255)) or not np.all(array == np.trunc(array))):
        raise ParameterError(f"{name} must be three integers in 0..255 (R, G, B), got {color!r}")
    return tuple(int(c) for c in array.ravel())


def _check_percentiles(percentiles) -> tuple[float, float]:
    try:
        p_lo, p_hi = percentiles
        p_lo, p_hi = (check_number("percentiles", p, low=0, high=100) for p in (p_lo, p_hi))
    except (TypeError, ValueError):
        p_lo = p_hi = None  # not a pair of numbers
    if p_lo is None or not p_lo < p_hi:
        raise ParameterError(f"percentiles must be two increasing values in 0..100, got {percentiles!r}")
    return p_lo, p_hi


def _solid(shape: tuple[int, int], color: tuple[int, int, int]) -> np.ndarray:
    """An H×W×3 uint8 image of one colour (zeros + a saturating scalar add is the fastest fill)."""
    out = np.zeros((*shape, 3), np.uint8)
    cv2.add(out, (*color, 0), dst=out)
    return out


def _stretch_limits(flat: np.ndarray, percentiles) -> tuple[float, float]:
    """The values mapped to 0 and 255.

    Percentiles of the finite values, or the exact min and max when the percentiles coincide (a few bright
    pixels on a zero background).
    """
    # Display only: a large image's percentiles come from every step-th row (about 1M values).
    step = max(1, flat.shape[0] // max(1, _PERCENTILE_SAMPLE // flat.shape[1]))
    sample = flat[::step]
    if flat.dtype.kind == "f":
        sample = sample[np.isfinite(sample)]
        lo, hi = np.percentile(sample, percentiles) if sample.size else (0.0, 0.0)
    else:
        bins = 256 if flat.dtype == np.uint8 else 65536
        cumulative = np.cumsum(cv2.calcHist([sample], [0], None, [bins], [0, bins]).ravel())
        # the lowest value whose cumulative count reaches the target (at least one pixel)
        targets = np.clip(np.asarray(percentiles) / 100.0 * cumulative[-1], 1, cumulative[-1])
        lo, hi = np.searchsorted(cumulative, targets, side="left")
    if hi > lo:
        return float(lo), float(hi)
    if flat.dtype.kind == "f":
        finite = flat[np.isfinite(flat)]
        return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)  # all NaN/inf
    low, high, _, _ = cv2.minMaxLoc(flat)
    return float(low), float(high)


def _map_to_uint8(flat: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Linearly map [lo, hi] to [0, 255] with saturation; NaN -> 0, +inf -> 255, -inf -> 0."""
    # A 1×N row and a 4-tuple scalar: OpenCV would read a python number as a 1×1 or 4×1 array
    # and mistake tiny images for "array op array". Scalars elsewhere are plain double arguments.
    row = flat.reshape(1, -1)
    if flat.dtype.kind == "f":
        # NaN first: OpenCV's vector and scalar loops order NaN differently, so a NaN pixel given to
        # THRESH_TRUNC came out as 0 or 255 depending on the array's memory alignment. Subtracting first
        # (a new array, never the caller's) and clipping at hi - lo in float32 gives the same numbers as
        # min(x, hi) - lo, because float32 rounding of x - lo is monotonic.
        row = cv2.subtract(row, (lo,) * 4)
        cv2.patchNaNs(row, 0)  # NaN -> 0 -> black
        top = float(np.float32(hi) - np.float32(lo))  # OpenCV compares float32 pixels with float32(thresh)
        row = cv2.threshold(row, top, 0, cv2.THRESH_TRUNC)[1]  # min(x, hi - lo); +inf -> hi - lo
        row = cv2.threshold(row, 0, 0, cv2.THRESH_TOZERO)[1]  # max(x, 0); -inf -> 0
    else:  # integer subtraction saturates at 0
        row = cv2.subtract(row, (lo,) * 4)
    # values are now in 0..hi-lo, so the absolute value taken by convertScaleAbs changes nothing
    return cv2.convertScaleAbs(row, alpha=255.0 / (hi - lo)).reshape(flat.shape)


def display_image(image: np.ndarray, *, stretch: str = "auto", percentiles=(0.5, 99.5)) -> tuple[np.ndarray, bool]:
    """Convert any supported image to RGB uint8 for the screen.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of uint8, uint16 or any float dtype
        Grayscale or RGB, in its own units. Float images are shown as float32: ``float16``, ``float64``
        and ``longdouble`` are converted first (values beyond float32's range become ±inf). NaN shows as
        black, +inf as white, -inf as black.
    stretch : {"auto", "always", "never"}
        ``"auto"`` stretches 16-bit and float images, and 8-bit images whose percentile span is
        below 64 grey levels (low contrast), so they are never a black square; an ordinary 8-bit
        image is passed through unchanged. ``"always"`` stretches every image. ``"never"`` maps
        the dtype range to 0..255 (16-bit divided by 257, float 0..1 clipped).
    percentiles : (float, float)
        The lower and upper percentiles (in percent, 0 <= low < high <= 100) mapped to 0 and 255.
        RGB channels share one stretch so colours keep their balance.

    Returns
    -------
    rgb : (H, W, 3) ndarray of uint8
        A new array, never a view of ``image``. Degenerate inputs: a constant 16-bit or float image
        has no contrast to stretch and is shown mid-grey (128); a constant 8-bit image as it is.
    stretched : bool
        True when a percentile contrast stretch was applied (the app says so under the view).

    Raises
    ------
    ParameterError
        ``image`` is not a non-empty H×W or H×W×3 array of uint8, uint16 or a float dtype; ``stretch``
        is not one of the three words; ``percentiles`` is not two increasing numbers in 0..100.

    Examples
    --------
    >>> img = np.linspace(100, 4000, 64 * 64).reshape(64, 64).astype(np.uint16)
    >>> rgb, stretched = display_image(img)
    >>> rgb.shape, rgb.dtype, stretched, int(rgb.min()), int(rgb.max())
    ((64, 64, 3), dtype('uint8'), True, 0, 255)
    """
    image = _check_image(image)
    stretch = check_choice("stretch", stretch, _STRETCH_MODES)
    p_lo, p_hi = _check_percentiles(percentiles)

    if image.dtype.kind == "f" and image.dtype != np.float32:
        image = image.astype(np.float32)
    if stretch != "never":  # huge or tiny float values: a power-of-two copy keeps OpenCV's float32 scale finite
        image = in_float_range(image, float_exponent(image))
    # Work on one channel of width W*C: the same stretch for every channel, scalars apply to all.
    flat = np.ascontiguousarray(image).reshape(image.shape[0], -1)

    eight_bit = image.dtype == np.uint8
    if stretch == "never":
        lo, hi = (0.0, 255.0) if eight_bit else (0.0, 65535.0) if image.dtype == np.uint16 else (0.0, 1.0)
    else:
        lo, hi = _stretch_limits(flat, (p_lo, p_hi))
    stretched = stretch != "never" and hi > lo
    if eight_bit and (stretch == "auto" and hi - lo >= _LOW_CONTRAST_SPAN or not stretched):
        # ordinary 8-bit (or "never", or constant): as is; gray is copied by cvtColor below
        out8, stretched = (flat if image.ndim == 2 else flat.copy()), False
    elif hi <= lo:
        # A constant image has no contrast to stretch, and the span would divide 0 by 0.
        # Non-8-bit values have no natural screen value, so they are shown mid-grey.
        out8 = np.full(flat.shape, 128, np.uint8)
    else:
        out8 = _map_to_uint8(flat, lo, hi)

    out8 = out8.reshape(image.shape)
    return (cv2.cvtColor(out8, cv2.COLOR_GRAY2RGB) if out8.ndim == 2 else out8), stretched


def mask_image(mask: np.ndarray, *, color=(255, 255, 255), background=(0, 0, 0)) -> np.ndarray:
    """Draw a bool mask as an RGB image: ``color`` where True, ``background`` elsewhere.

    Parameters
    ----------
    mask : (H, W) ndarray of bool
        True = object pixel. An empty (0-pixel) mask gives an empty picture.
    color, background : (int, int, int)
        RGB colours (0..255) of the True and the False pixels.

    Returns
    -------
    (H, W, 3) ndarray of uint8
        The picture.

    Raises
    ------
    ParameterError
        ``mask`` is not a 2-D bool array, or a colour is not three whole numbers in 0..255.

    Examples
    --------
    >>> m = np.zeros((4, 4), bool); m[1:3, 1:3] = True
    >>> mask_image(m, color=(255, 0, 0))[1, 1].tolist(), mask_image(m)[0, 0].tolist()
    ([255, 0, 0], [0, 0, 0])
    """
    mask = _check_mask(mask)
    color = _check_color(color, "color")
    background = _check_color(background, "background")
    if mask.size == 0:  # OpenCV rejects empty arrays; an empty mask is an empty picture
        return np.zeros((*mask.shape, 3), np.uint8)
    return _lut_rgb(mask.view(np.uint8), np.array([background, color], np.uint8))


def _lut_rgb(index: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """Colour a uint8 index image with up to 256 colours.

    One cv2.LUT per channel, then merge: measured faster than a 3-channel LUT applied to a 3-channel copy.
    """
    lut = np.zeros((256, 3), np.uint8)
    lut[: len(colors)] = colors
    return cv2.merge([cv2.LUT(index, np.ascontiguousarray(lut[:, c])) for c in range(3)])


_PALETTE_LIMIT = 2**26


def label_palette(n: int) -> np.ndarray:
    """The colours of labels ``0..n-1`` as an ``(n, 3)`` uint8 array (label 0 is black).

    The colour of label ``i`` depends only on ``i``: the hue steps by the golden ratio (consecutive
    ids ~138° apart), saturation and value cycle with coprime periods 3 and 4 so ids whose hues
    come close again differ in brightness.

    Parameters
    ----------
    n : int
        The number of colours, >= 0 (the highest label + 1).

    Returns
    -------
    (n, 3) ndarray of uint8
        RGB colour of each label; row 0 (the background) is black. ``n == 0`` gives a (0, 3) array.

    Raises
    ------
    ParameterError
        ``n`` is not a whole number in 0..2**26 (67 million colours, 200 MB: more than a label image within
        the 64-megapixel upload limit can use; :func:`colorize_labels` colours only the ids present beyond it).

    Examples
    --------
    >>> label_palette(3).shape
    (3, 3)
    """
    # A table of a billion colours takes minutes and gigabytes; no label image within the limits needs it.
    n = check_number("n", n, low=0, high=_PALETTE_LIMIT, integer=True)
    if n == 0:
        return np.zeros((0, 3), np.uint8)
    return _colors_of(np.arange(n))


def _colors_of(ids: np.ndarray) -> np.ndarray:
    """The :func:`label_palette` colours of the label ids ``ids`` (a 1-D int64 array), id 0 black."""
    hsv = np.empty((1, len(ids), 3), np.float32)
    hsv[0, :, 0] = np.mod(ids * _GOLDEN, 1.0) * 360.0
    hsv[0, :, 1] = np.take(_SATURATIONS, ids % len(_SATURATIONS))
    hsv[0, :, 2] = np.take(_VALUES, ids % len(_VALUES))
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0]
    palette = np.rint(rgb * 255.0).astype(np.uint8)
    palette[ids == 0] = 0
    return palette


def colorize_labels(labels: np.ndarray, *, background=(0, 0, 0)) -> np.ndarray:
    """Give every label a distinct, stable colour (label ``i`` always gets the same colour).

    So an object keeps its colour while others appear, vanish or merge as sliders move. Gaps in
    the numbering are fine. Colours come from :func:`label_palette`.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        0 = background, objects 0 < id <= 2**31 - 1 (gaps allowed). An empty array gives an empty picture.
    background : (int, int, int)
        RGB colour (0..255) of label 0.

    Returns
    -------
    (H, W, 3) ndarray of uint8
        Label ``i`` in ``label_palette(i + 1)[i]``.

    Raises
    ------
    ParameterError
        ``labels`` is not a 2-D integer array or holds values outside 0..2**31-1; ``background`` is not
        three whole numbers in 0..255.

    Examples
    --------
    >>> lab = np.array([[0, 1], [2, 5]], np.int32)
    >>> rgb = colorize_labels(lab)
    >>> rgb.shape, rgb[0, 0].tolist()
    ((2, 2, 3), [0, 0, 0])
    """
    labels = _check_labels(labels)
    background = _check_color(background, "background")
    if labels.size == 0:  # nothing to colour; keep the shape contract
        return np.zeros((*labels.shape, 3), np.uint8)
    top = int(labels.max())
    if top >= labels.size or top >= _PALETTE_LIMIT:
        # Ids far above the pixel count (up to 2**31 - 1): a table of every id up to the highest would
        # take gigabytes, so colour only the ids present (each gets the colour label_palette gives it).
        ids, index = np.unique(labels, return_inverse=True)
        colors = _colors_of(ids.astype(np.int64))
        colors[ids == 0] = background
        return colors[index.reshape(labels.shape)]
    colors = label_palette(top + 1)
    colors[0] = background
    if top < 256:  # the common case: OpenCV LUTs beat the numpy gather below
        return _lut_rgb(labels.astype(np.uint8), colors)
    packed = np.zeros((top + 1, 4), np.uint8)
    packed[:, :3] = colors
    # Index a table of packed 4-byte colours (one gather per pixel instead of three), then drop
    # the padding byte with OpenCV. The byte order survives the view round trip on any platform.
    table = packed.view(np.uint32).ravel()
    rgba = np.take(table, labels).view(np.uint8).reshape(*labels.shape, 4)
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB)


def _morphology_ready(segmentation: np.ndarray) -> np.ndarray:
    """A copy OpenCV morphology accepts (8U, 16U, 32F) with the same label order."""
    if segmentation.dtype == bool:
        return segmentation.view(np.uint8)
    top = int(segmentation.max()) if segmentation.size else 0
    if top <= np.iinfo(np.uint16).max:
        return segmentation.astype(np.uint16)
    if top >= 1 << 24:  # float32 is exact below 2**24: renumber, keeping the order (same boundaries)
        segmentation = relabel_sequential(segmentation)[0]
    return segmentation.astype(np.float32)


def boundary_overlay(image: np.ndarray, segmentation: np.ndarray, *, color=(255, 0, 0), thickness: int = 1,
                     fill_opacity: float = 0.0, fill_colors: str = "labels") -> np.ndarray:
    """Draw the object outlines of a mask or label image over an image.

    A pixel is on a boundary when it belongs to an object and a neighbour within ``thickness``
    pixels has a smaller label (background is 0). That marks the inner edge of every object and
    a single line between touching objects (on the higher label's side), so touching objects
    are visibly separated (one OpenCV erosion and one comparison).

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of uint8, uint16 or any float dtype
        Gray or RGB; converted with :func:`display_image` (``stretch="auto"``).
    segmentation : (H, W) ndarray of bool or int
        A mask or labels (0 = background, ids up to 2**31 - 1), the same height and width as ``image``.
    color : (int, int, int)
        Boundary colour, RGB 0..255.
    thickness : int
        Line width in pixels, from 1 to 100 (the erosion behind it grows with the square of the
        width).
    fill_opacity : float
        0..1; above 0 objects are tinted. 0 draws outlines only.
    fill_colors : {"labels", "color"}
        Tint with each label's :func:`colorize_labels` colour, or with ``color``. A bool mask has
        no label ids, so it is always tinted with ``color``.

    Returns
    -------
    (H, W, 3) ndarray of uint8
        Pixels away from objects and boundaries equal ``display_image(image)``. A segmentation with
        no objects gives ``display_image(image)`` itself.

    Raises
    ------
    ParameterError
        ``image`` or ``segmentation`` breaks the shapes and dtypes above or their H×W differ;
        ``color`` is not three whole numbers in 0..255; ``thickness`` not a whole number from 1 to 100;
        ``fill_opacity`` not in 0..1; ``fill_colors`` not "labels" or "color".

    Examples
    --------
    >>> img = np.full((5, 5), 50, np.uint8); m = np.zeros((5, 5), bool); m[1:4, 1:4] = True
    >>> out = boundary_overlay(img, m, color=(255, 0, 0))
    >>> out[1, 1].tolist(), out[2, 2].tolist()
    ([255, 0, 0], [50, 50, 50])
    """
    image = _check_image(image)
    segmentation = np.asarray(segmentation)
    if segmentation.dtype == bool:
        segmentation = _check_mask(segmentation, "segmentation")
    else:
        segmentation = _check_labels(segmentation, "segmentation")
    if segmentation.shape != image.shape[:2]:
        raise ParameterError(f"segmentation shape {segmentation.shape} does not match the image's "
                             f"{image.shape[:2]}")
    color = _check_color(color, "color")
    thickness = check_number("thickness", thickness, low=1, high=_MAX_THICKNESS, integer=True)
    fill_opacity = check_number("fill_opacity", fill_opacity, low=0, high=1)
    fill_colors = check_choice("fill_colors", fill_colors, _FILL_COLORS)

    out, _ = display_image(image)  # a fresh array we may draw on
    shape = segmentation.shape
    values = _morphology_ready(segmentation)

    if fill_opacity > 0:
        by_color = segmentation.dtype == bool or fill_colors == "color"
        tint = _solid(shape, color) if by_color else colorize_labels(segmentation)
        blended = cv2.addWeighted(out, 1.0 - float(fill_opacity), tint, float(fill_opacity), 0.0)
        objects = np.greater(values, 0).view(np.uint8)
        cv2.copyTo(blended, objects, out)

    size = 2 * thickness + 1  # radius `thickness`; the 3×3 ellipse is a cross (1-px lines)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    # erode's default border is +max, so the image edge itself is not drawn as a boundary
    boundary = cv2.compare(cv2.erode(values, kernel), values, cv2.CMP_LT)
    cv2.copyTo(_solid(shape, color), boundary, out)
    return out


def downscale(image: np.ndarray, max_side: int, *, kind: str = "image") -> tuple[np.ndarray, float]:
    """Shrink so the long side is at most ``max_side`` pixels; never enlarges.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray
        An image of uint8, uint16, float32 or float64 (``kind="image"``; OpenCV cannot resize float16),
        an (H, W) bool mask (``"mask"``) or (H, W) integer labels in 0..2**31-1 (``"labels"``).
    max_side : int
        The largest allowed height or width in pixels, >= 1.
    kind : {"image", "mask", "labels"}
        Images are averaged (``INTER_AREA``, no aliasing). Masks and labels take the nearest
        pixel (``INTER_NEAREST_EXACT``, OpenCV's pixel-centre-correct nearest), so masks stay
        bool and every output label is an input label. Small objects can vanish, leaving gaps
        in the numbering; labels are not renumbered so colours stay stable.

    Returns
    -------
    array : ndarray
        The resized array (the input itself when no resize was needed).
    scale : float
        The factor applied to lengths, new/old (1.0 when not resized).

    Raises
    ------
    ParameterError
        ``kind`` is not one of the three words, ``max_side`` not a whole number >= 1, or ``image`` is
        empty or not what ``kind`` says.

    Examples
    --------
    >>> small, scale = downscale(np.zeros((3000, 4000), np.uint8), 1000)
    >>> small.shape, scale
    ((750, 1000), 0.25)
    """
    kind = check_choice("kind", kind, _DOWNSCALE_KINDS)
    max_side = check_number("max_side", max_side, low=1, integer=True)  # any size: it never enlarges
    if kind == "image":
        image = _check_image(image, any_float=False)
    elif kind == "mask":
        image = _check_mask(image, "image")
    else:
        image = _check_labels(image, "image")
        if image.dtype != np.int32:  # OpenCV resizes int32 but not int64 / uint32
            image = image.astype(np.int32)

    if image.size == 0:
        raise ParameterError(f"image is empty (shape {image.shape}); there is nothing to downscale")
    height, width = image.shape[:2]
    long_side = max(height, width)
    if long_side <= max_side:
        return image, 1.0
    scale = max_side / long_side
    size = (max(1, round(width * scale)), max(1, round(height * scale)))  # OpenCV wants (w, h)
    if kind == "image":
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale
    source = image.view(np.uint8) if kind == "mask" else image  # OpenCV has no bool type
    small = cv2.resize(source, size, interpolation=cv2.INTER_NEAREST_EXACT)
    return (small.view(bool) if kind == "mask" else small), scale
