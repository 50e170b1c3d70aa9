"""Turning any image into the single channel a threshold is computed on.

Steps, in order: normalise the array (:func:`as_image`), pick a channel (:func:`extract_channel`),
smooth (:func:`smooth`), decide the polarity (:func:`resolve_polarity`) and optionally subtract an
uneven background (:func:`subtract_background`). :func:`prepare` runs them from a recipe.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi

from .recipes import ThresholdRecipe

__all__ = ["as_image", "extract_channel", "smooth", "resolve_polarity", "subtract_background",
           "to_uint8", "prepare", "Prepared", "is_constant", "float_exponent", "in_float_range"]


def as_image(image) -> np.ndarray:
    """Validate an image and bring it to a supported dtype and layout.

    Accepts ``H×W``, ``H×W×1``, ``H×W×2`` (gray + alpha), ``H×W×3`` (RGB) and ``H×W×4`` (RGBA) arrays of
    any numeric or bool dtype. Returns ``H×W`` or ``H×W×3`` as ``uint8``, ``uint16`` or ``float32``:
    bool becomes 0/255, other integers keep their values when they fit in 8 or 16 bits and become
    ``float32`` otherwise, and alpha is dropped (:func:`segmentation.load_image` composites it first).
    Non-finite float values (NaN, ±inf) are replaced by the smallest finite value so that every method
    sees real numbers; a float image with no finite value at all is refused.
    """
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] in (1, 2):
        array = array[:, :, 0]  # gray, or gray + alpha
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]  # RGBA: the alpha is not part of the picture
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise ValueError(f"expected a 2-D grayscale or an H×W×3 colour image; got an array of shape {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"the image is empty ({array.shape[1]}×{array.shape[0]} pixels)")
    if array.dtype == bool:
        return np.ascontiguousarray(array.astype(np.uint8) * np.uint8(255))
    if array.dtype in (np.uint8, np.uint16):
        return np.ascontiguousarray(array)
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low >= 0 and high <= 255:
            return np.ascontiguousarray(array.astype(np.uint8))
        if low >= 0 and high <= 65535:
            return np.ascontiguousarray(array.astype(np.uint16))
        return np.ascontiguousarray(array.astype(np.float32))
    if np.issubdtype(array.dtype, np.floating):
        array = np.ascontiguousarray(array.astype(np.float32))
        finite = np.isfinite(array)
        if not finite.all():
            if not finite.any():
                raise ValueError("the image holds no finite values (all NaN or infinite)")
            array = np.where(finite, array, array[finite].min())
        return array
    raise ValueError(f"unsupported pixel type {array.dtype}; use 8-bit, 16-bit or float images")


def extract_channel(image: np.ndarray, channel: str = "luminance") -> np.ndarray:
    """One channel of a colour image, in the image's own units (gray images are returned as they are).

    ``luminance`` is OpenCV's ``cvtColor`` (ITU-R BT.601 weights). ``hue``, ``saturation`` and ``value``
    come from OpenCV's HSV conversion: for 8-bit images the full-range variant (hue 0–255); for 16-bit
    images hue and saturation are scaled to 0–65535 and value is the exact maximum of R, G, B; for float
    images hue is in [0, 1), saturation in [0, 1] and value in the image's units.
    """
    if image.ndim == 2:
        return image
    if channel == "luminance":
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    index = {"red": 0, "green": 1, "blue": 2}.get(channel)
    if index is not None:
        return np.ascontiguousarray(image[:, :, index])
    if channel not in ("hue", "saturation", "value"):
        raise ValueError(f"channel must be luminance, red, green, blue, hue, saturation or value; got {channel!r}")
    if channel == "value":  # V = max(R, G, B) exactly, whatever the dtype
        return np.ascontiguousarray(image.max(axis=2))
    which = 0 if channel == "hue" else 1
    if image.dtype == np.uint8:
        return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL)[:, :, which])
    hsv = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2HSV)  # H in degrees, S in [0, 1]
    plane = hsv[:, :, which] / (360.0 if which == 0 else 1.0)
    if image.dtype == np.uint16:
        return np.round(plane * 65535.0).astype(np.uint16)
    return np.ascontiguousarray(plane, dtype=np.float32)


def smooth(image: np.ndarray, method: str = "none", *, sigma: float = 1.0, size: int = 3) -> np.ndarray:
    """Gaussian (OpenCV, any supported dtype) or median smoothing.

    OpenCV's median filter takes 16-bit and float images only up to a 5×5 window; larger windows on
    those images use SciPy's median filter (same result away from the image border).
    """
    if method == "none":
        return image
    if method == "gaussian":
        return cv2.GaussianBlur(image, (0, 0), sigmaX=float(sigma), sigmaY=float(sigma))
    if method == "median":
        if image.dtype == np.uint8 or size <= 5:
            return cv2.medianBlur(image, int(size))
        return ndi.median_filter(image, size=int(size), mode="reflect")
    raise ValueError(f"smoothing must be none, gaussian or median; got {method!r}")


def is_constant(image: np.ndarray) -> bool:
    """True when every pixel has the same value (no threshold can separate anything)."""
    low, high, _, _ = cv2.minMaxLoc(image.reshape(image.shape[0], -1))
    return low == high


# scikit-image's histogram and local-statistics methods compute in the float32 image's own precision:
# measured on a 9-megapixel image, Otsu goes wrong from values of about 1e12 (its between-class variance
# overflows), Sauvola and Niblack from about 1e19 (squares overflow), and all of them when the values are
# about 1e-30 (differences underflow to 0). Values up to 2**24 were checked to give the same masks as 0..1.
_FLOAT_EXPONENT_LIMIT = 20


def float_exponent(image: np.ndarray) -> int:
    """The power of two that scales a float image's largest magnitude into 0.5..1, or 0 when it needs none.

    Float images whose largest magnitude already lies in ``2**-20 .. 2**20`` are left as they are (0..1
    and 0..65535 data, the usual cases); others are scaled by :func:`in_float_range`.

    Examples
    --------
    >>> float_exponent(np.array([0.0, 1e30], np.float32)), float_exponent(np.array([0.0, 1.0], np.float32))
    (100, 0)
    """
    if image.dtype != np.float32:
        return 0
    low, high, _, _ = cv2.minMaxLoc(image.reshape(image.shape[0], -1))
    peak = max(abs(low), abs(high))
    if peak == 0 or 2.0 ** -_FLOAT_EXPONENT_LIMIT <= peak <= 2.0 ** _FLOAT_EXPONENT_LIMIT:
        return 0
    return math.frexp(peak)[1]


def in_float_range(image: np.ndarray, exponent: int) -> np.ndarray:
    """``image * 2**-exponent``: exact in floating point, so ``image > t`` iff ``scaled > t * 2**-exponent``."""
    return np.ldexp(image, -exponent).astype(np.float32, copy=False) if exponent else image


def resolve_polarity(image: np.ndarray, polarity: str = "auto") -> str:
    """``"bright"`` or ``"dark"``; ``auto`` puts the objects on the side of the Otsu threshold with fewer pixels.

    Most images people segment show a minority of objects on a background (nuclei, coins, ink on paper),
    so the smaller side of a global split is the better guess. A tie or a constant image counts as bright.
    """
    if polarity in ("bright", "dark"):
        return polarity
    if polarity != "auto":
        raise ValueError(f"polarity must be auto, bright or dark; got {polarity!r}")
    return _auto_polarity(image)[0]


def _auto_polarity(image: np.ndarray) -> tuple[str, float | None]:
    """The automatic polarity and the Otsu threshold it was decided with (reused when the method is Otsu)."""
    if is_constant(image):
        return "bright", None
    from .thresholding import binarize, otsu_threshold  # late import: thresholding imports this module

    t = otsu_threshold(image)
    above = np.count_nonzero(binarize(image, t))
    return ("bright" if above <= image.size - above else "dark"), t


def background_shrink_factor(radius: int) -> int:
    """How much :func:`subtract_background` shrinks the image first (Fiji's rolling-ball rule)."""
    return 1 if radius <= 10 else 2 if radius <= 30 else 4 if radius <= 100 else 8


def subtract_background(image: np.ndarray, radius: int, *, polarity: str = "bright") -> np.ndarray:
    """Remove an uneven background with a morphological top-hat (OpenCV); objects are bright afterwards.

    The background is the morphological opening (bright objects) or closing (dark objects) of the image
    by a disc of ``radius`` pixels, which must exceed the largest object's radius; the result is
    ``image - background`` (or ``background - image``), so the objects show bright on a background near
    0, in the image's units. Like Fiji's "Subtract Background", large radii are computed on a copy shrunk
    by 2, 4 or 8 (by block minimum, or maximum for dark objects, so objects never lift the background)
    and enlarged back with linear interpolation: a disc of radius 50 costs OpenCV ~2,000 times more per
    pixel than one of radius 1, and 24 s on a 12-megapixel image without the shrink (0.2 s with it).
    """
    if radius <= 0:
        return image
    shrink = background_shrink_factor(radius)
    bright = polarity == "bright"
    small = image
    if shrink > 1:
        block = cv2.getStructuringElement(cv2.MORPH_RECT, (shrink, shrink))
        pooled = cv2.erode(image, block, anchor=(0, 0)) if bright else cv2.dilate(image, block, anchor=(0, 0))
        small = np.ascontiguousarray(pooled[::shrink, ::shrink])
    small_radius = max(1, round(radius / shrink))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * small_radius + 1, 2 * small_radius + 1))
    background = cv2.morphologyEx(small, cv2.MORPH_OPEN if bright else cv2.MORPH_CLOSE, disc)
    if shrink > 1:
        background = cv2.resize(background, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    # Saturating subtraction: where interpolation puts the background above a pixel, the result is 0.
    if image.dtype == np.float32:
        return np.maximum(image - background, 0) if bright else np.maximum(background - image, 0)
    return cv2.subtract(image, background) if bright else cv2.subtract(background, image)


def to_uint8(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Map an image linearly from its min..max to 0..255 for the methods that need 8-bit input.

    Returns ``(image8, low, high)``; an 8-bit level ``t`` corresponds to ``low + t * (high - low) / 255``
    in the input's units. 8-bit images are returned unchanged with ``(0, 255)``.
    """
    if image.dtype == np.uint8:
        return image, 0.0, 255.0
    exponent = float_exponent(image)  # OpenCV's scale factor is a float32: tiny value ranges overflow it
    scaled = in_float_range(image, exponent)
    low, high, _, _ = cv2.minMaxLoc(scaled.reshape(scaled.shape[0], -1))
    if high <= low:
        return np.zeros(image.shape, np.uint8), math.ldexp(low, exponent), math.ldexp(low, exponent)
    scale = 255.0 / (high - low)
    image8 = cv2.convertScaleAbs(scaled, alpha=scale, beta=-low * scale)
    return image8, math.ldexp(low, exponent), math.ldexp(high, exponent)


@dataclass(frozen=True)
class Prepared:
    """The single channel a method thresholds, and the polarity the mask is taken with."""

    image: np.ndarray
    polarity: str
    otsu: float | None = None  # Otsu's threshold of ``image`` when the automatic polarity computed it
    exponent: int = 0  # ``image`` is the channel × 2**-exponent (see float_exponent); 0 for most images


def prepare(image: np.ndarray, recipe: ThresholdRecipe) -> Prepared:
    """Channel, smoothing, polarity and background subtraction of ``recipe``, in that order."""
    channel = extract_channel(image, recipe.channel)
    # A float channel with huge or tiny values is scaled by a power of two (exact) before the steps, whose
    # float32 arithmetic would overflow (a top-hat of ±3e38 is inf) or underflow; the steps are linear.
    exponent = float_exponent(channel)
    channel = smooth(in_float_range(channel, exponent), recipe.smoothing, sigma=recipe.sigma, size=recipe.median_size)
    polarity, otsu = _auto_polarity(channel) if recipe.polarity == "auto" else (recipe.polarity, None)
    if recipe.background_radius > 0:
        # After the top-hat the objects are bright on a dark background, whatever they were before.
        background_free = subtract_background(channel, recipe.background_radius, polarity=polarity)
        return Prepared(background_free, "bright", exponent=exponent)
    return Prepared(channel, polarity, otsu, exponent)
