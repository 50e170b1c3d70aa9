"""Turning any image into the single channel a threshold is computed on.

Steps, in order: normalise the array (:func:`as_image`), pick a channel (:func:`extract_channel`),
smooth (:func:`smooth`), decide the polarity (:func:`resolve_polarity`) and optionally subtract an
uneven background (:func:`subtract_background`). :func:`prepare` runs them from a recipe.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage as ndi

from .._checks import all_finite, check_channel_image, check_choice, check_image, check_number, check_polarity
from .._errors import ParameterError
from .._numeric import fill_nonfinite, float_exponent, in_float_range, is_constant
from ..recipes import ThresholdRecipe, colour_channel
from ._global import binarize, otsu_threshold

__all__ = ["extract_channel", "smooth", "resolve_polarity", "subtract_background", "background_shrink_factor",
           "prepare", "Prepared"]

#: The recipe's parameters, the one source of the ranges the building blocks share with them.
_SPECS = {spec.name: spec for spec in ThresholdRecipe.specs()}


def extract_channel(image: np.ndarray, channel: str = "luminance") -> np.ndarray:
    """One channel of a colour image, in the image's own units (gray images are returned as they are).

    ``luminance`` is OpenCV's ``cvtColor`` (ITU-R BT.601 weights). ``hue``, ``saturation`` and ``value``
    come from OpenCV's HSV conversion: for 8-bit images the full-range variant (hue 0–255); for 16-bit
    images hue and saturation are scaled to 0–65535 and value is the exact maximum of R, G, B; for float
    images hue is in [0, 1), saturation in [0, 1] and value in the image's units.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of uint8, uint16 or float32
        A grayscale or RGB image (:func:`segmentation.as_image` makes one from any array).
    channel : str or int
        One of :data:`segmentation.CHANNELS`: ``"luminance"``, ``"red"``, ``"green"``, ``"blue"``,
        ``"hue"``, ``"saturation"`` or ``"value"``, or an index 0, 1, 2 (red, green, blue). A recipe's file
        channel (another index, or a name such as ``"DAPI"``) is chosen by :func:`segmentation.load_image`;
        a gray image is returned as it is for any valid channel.

    Returns
    -------
    (H, W) ndarray of the image's dtype
        ``image`` itself when it is gray, else a new C-contiguous array.

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty H×W or H×W×3 array of those dtypes, or ``channel`` is not one of
        those words.

    Examples
    --------
    >>> from skimage import data
    >>> extract_channel(data.astronaut(), "red").shape
    (512, 512)
    """
    check_image(image)
    channel = _SPECS["channel"].check(channel)  # a colour word, or a file's channel index or name
    if image.ndim == 2:  # a file's own channel was chosen when it was read (segmentation.load_image)
        return image
    channel = colour_channel(channel)  # an index 0, 1, 2 is red, green, blue; a name is refused here
    if channel == "luminance":
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    index = {"red": 0, "green": 1, "blue": 2}.get(channel)
    if index is not None:
        return np.ascontiguousarray(image[:, :, index])
    if channel == "value":  # V = max(R, G, B) exactly, whatever the dtype
        return np.ascontiguousarray(image.max(axis=2))
    which = 0 if channel == "hue" else 1
    if image.dtype == np.uint8:
        return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL)[:, :, which])
    hsv = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2HSV)  # H in degrees, S in [0, 1]
    plane = hsv[:, :, which] / (360.0 if which == 0 else 1.0)
    if image.dtype == np.uint16:
        return np.round(plane * 65535.0).astype(np.uint16)
    if not all_finite(image):
        # OpenCV's HSV conversion gives NaN and ±inf pixels finite hues and saturations (a NaN red became
        # saturation 0, foreground for dark objects): a pixel with a non-finite channel has no hue or
        # saturation, so it stays "no data" (NaN), never foreground.
        plane = np.where(np.isfinite(image).all(axis=2), plane, np.float32(np.nan))
    return np.ascontiguousarray(plane, dtype=np.float32)


def smooth(image: np.ndarray, method: str = "none", *, sigma: float = 1.0, size: int = 3) -> np.ndarray:
    """Gaussian (OpenCV, any supported dtype) or median smoothing.

    OpenCV's median filter takes 16-bit and float images only up to a 5×5 window; larger windows on
    those images use SciPy's median filter (same result away from the image border).

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        A single-channel image. In a float one, NaN and ±inf pixels are kept as they are and the filter
        sees them as the nearest finite pixel's value (otherwise they would spread over every window
        they fall in), like the replicated border of an image.
    method : {"none", "gaussian", "median"}
        The filter; ``"none"`` returns ``image`` itself.
    sigma : float
        Standard deviation of the Gaussian, in pixels: above 0 and at most 50, the recipe's ``sigma``
        range (checked whatever the method).
    size : int
        Side of the square median window, in pixels: odd, from 3 to 99, the recipe's ``median_size``
        range (checked whatever the method).

    Returns
    -------
    (H, W) ndarray of the image's dtype

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes (or, unless ``method`` is ``"none"``, is
        a float image without a finite pixel), ``method`` is not one of those words, ``sigma`` is not a
        number above 0 and at most 50, or ``size`` is not an odd whole number from 3 to 99.

    Examples
    --------
    >>> import numpy as np
    >>> smooth(np.array([[0, 0, 0], [0, 90, 0], [0, 0, 0]], np.uint8), "median", size=3).max()
    np.uint8(0)
    """
    check_channel_image(image)
    method = check_choice("method", method, ("none", "gaussian", "median"))
    sigma = check_number("sigma", sigma, low=0, low_open=True, high=_SPECS["sigma"].max)
    size = check_number("size", size, low=3, high=_SPECS["median_size"].max, integer=True, odd=True)
    if method == "none":
        return image
    filled, nonfinite = fill_nonfinite(image)
    if method == "gaussian":
        smoothed = cv2.GaussianBlur(filled, (0, 0), sigmaX=sigma, sigmaY=sigma)
    elif image.dtype == np.uint8 or size <= 5:  # method == "median"
        smoothed = cv2.medianBlur(filled, size)
    else:
        smoothed = ndi.median_filter(filled, size=size, mode="reflect")
    if nonfinite is not None:
        smoothed[nonfinite] = image[nonfinite]  # "no data" stays as it was: IEEE rules decide it later
    return smoothed


def resolve_polarity(image: np.ndarray, polarity: str = "auto") -> str:
    """``"bright"`` or ``"dark"``; ``auto`` puts the objects on the side of the Otsu threshold with fewer pixels.

    Most images people segment show a minority of objects on a background (nuclei, coins, ink on paper),
    so the smaller side of a global split is the better guess. A tie or a constant image counts as bright.

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        The single channel the threshold will be computed on. In a float one, Otsu's threshold comes from
        the finite pixels and the sides are counted by IEEE rules (+inf above, -inf below, NaN on neither).
    polarity : {"auto", "bright", "dark"}
        ``"bright"`` and ``"dark"`` are returned as they are (the pixels are not read).

    Returns
    -------
    str
        ``"bright"`` or ``"dark"``.

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes (or, for ``"auto"``, is a float image
        without a finite pixel), or ``polarity`` is not one of those words.

    Examples
    --------
    >>> from skimage import data
    >>> resolve_polarity(data.coins()), resolve_polarity(data.page())
    ('bright', 'dark')
    """
    check_channel_image(image)
    check_choice("polarity", polarity, ("auto", "bright", "dark"))
    if polarity in ("bright", "dark"):
        return polarity
    return _auto_polarity(image)[0]


def _auto_polarity(image: np.ndarray) -> tuple[str, float | None]:
    """The automatic polarity and the Otsu threshold it was decided with (reused when the method is Otsu)."""
    if is_constant(image):  # judged on the finite pixels
        return "bright", None
    t = otsu_threshold(image)
    above = np.count_nonzero(binarize(image, t))
    # A NaN pixel is on neither side: count the side at or below t instead of taking "all but above".
    below = image.size - above if image.dtype.kind != "f" else np.count_nonzero(binarize(image, t, "dark"))
    return ("bright" if above <= below else "dark"), t


def background_shrink_factor(radius: int) -> int:
    """How much :func:`subtract_background` shrinks the image first (Fiji's rolling-ball rule).

    Parameters
    ----------
    radius : int
        The background radius in pixels, from 0 to 1000 (the recipe's ``background_radius`` range).

    Returns
    -------
    int
        1 up to a radius of 10, 2 up to 30, 4 up to 100, 8 beyond.

    Raises
    ------
    ParameterError
        When ``radius`` is not a whole number from 0 to 1000.

    Examples
    --------
    >>> [background_shrink_factor(r) for r in (5, 20, 50, 200)]
    [1, 2, 4, 8]
    """
    radius = check_number("radius", radius, low=0, high=_SPECS["background_radius"].max, integer=True)
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

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        A single-channel image. In a float one, the background is estimated with NaN and ±inf pixels seen
        as the nearest finite pixel's value; afterwards NaN stays NaN, an infinity on the objects' side
        (+inf for bright objects, -inf for dark ones) becomes +inf and one on the other side 0.
    radius : int
        Radius of the disc in pixels, from 0 to 1000, the recipe's ``background_radius`` range (0
        returns ``image`` itself).
    polarity : {"bright", "dark"}
        Whether the objects are brighter (opening) or darker (closing) than the background.

    Returns
    -------
    (H, W) ndarray of the image's dtype
        Objects bright on a background near 0, in the image's units (never negative).

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes (or, with a ``radius`` above 0, is a
        float image without a finite pixel), ``radius`` is not a whole number from 0 to 1000, or
        ``polarity`` is not exactly ``"bright"`` or ``"dark"``.

    Examples
    --------
    >>> import numpy as np
    >>> ramp = np.tile(np.arange(50, dtype=np.uint8), (50, 1))  # a background sloping by 1 per pixel
    >>> ramp[20:25, 20:25] += 40  # a 5×5 bright square, smaller than the disc of radius 5
    >>> flat = subtract_background(ramp, 5)
    >>> int(flat[22, 22]), int(flat[5, 30])  # the square about 40 above a background of 0
    (39, 0)

    References
    ----------
    S. R. Sternberg, "Biomedical image processing", Computer 16(1):22–34, 1983.
    :DOI:`10.1109/MC.1983.1654163`
    """
    check_channel_image(image)
    radius = check_number("radius", radius, low=0, high=_SPECS["background_radius"].max, integer=True)
    polarity = check_polarity(polarity)
    if radius == 0:
        return image
    original = image
    image, nonfinite = fill_nonfinite(image)
    flat = _top_hat(image, radius, polarity == "bright")
    if nonfinite is not None:
        # The objects' side is bright afterwards: +inf stays above every threshold, -inf of bright objects
        # and +inf of dark ones become the background level 0, NaN stays "no data".
        values = original[nonfinite] if polarity == "bright" else -original[nonfinite]
        flat[nonfinite] = np.where(values == -np.inf, np.float32(0), values)
    return flat


def _top_hat(image: np.ndarray, radius: int, bright: bool) -> np.ndarray:
    """The white (``bright``) or black top-hat of :func:`subtract_background`, on finite pixels."""
    shrink = background_shrink_factor(radius)
    small = image
    if shrink > 1:
        block = cv2.getStructuringElement(cv2.MORPH_RECT, (shrink, shrink))
        pooled = cv2.erode(image, block, anchor=(0, 0)) if bright else cv2.dilate(image, block, anchor=(0, 0))
        small = np.ascontiguousarray(pooled[::shrink, ::shrink])
    small_radius = max(1, round(radius / shrink))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * small_radius + 1, 2 * small_radius + 1))
    background = cv2.morphologyEx(small, cv2.MORPH_OPEN if bright else cv2.MORPH_CLOSE, disc)
    if shrink > 1:
        # Enlarged to the whole grid (shrink × the small image) and cut to the image: a pixel's background then
        # depends only on its place in the grid from the corner, also when a side is not a multiple of the
        # shrink. Resized straight to the image's size, a 2998-px side stretched the grid by 2/2998, so no tile
        # of a slide could give the whole image's values (issue 14's review: every such slide was refused).
        height, width = image.shape
        grid = (small.shape[1] * shrink, small.shape[0] * shrink)
        background = cv2.resize(background, grid, interpolation=cv2.INTER_LINEAR)
        if background.shape != image.shape:
            background = np.ascontiguousarray(background[:height, :width])
    # Saturating subtraction: where interpolation puts the background above a pixel, the result is 0.
    if image.dtype == np.float32:
        return np.maximum(image - background, 0) if bright else np.maximum(background - image, 0)
    return cv2.subtract(image, background) if bright else cv2.subtract(background, image)


@dataclass(frozen=True)
class Prepared:
    """The single channel a method thresholds, and the polarity the mask is taken with (:func:`prepare`).

    Attributes
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        The channel after smoothing and background subtraction, scaled by ``2**-exponent``.
    polarity : {"bright", "dark"}
        How the mask is taken (``"bright"`` after background subtraction, whatever the recipe said).
    otsu : float or None
        Otsu's threshold of ``image`` when the automatic polarity computed it (reused by the Otsu method),
        else None.
    exponent : int
        ``image`` is the channel × ``2**-exponent`` (see :func:`segmentation.float_exponent`); 0 for most
        images.
    """

    image: np.ndarray
    polarity: str
    otsu: float | None = None  # Otsu's threshold of ``image`` when the automatic polarity computed it
    exponent: int = 0  # ``image`` is the channel × 2**-exponent (see float_exponent); 0 for most images


def prepare(image: np.ndarray, recipe: ThresholdRecipe) -> Prepared:
    """Channel, smoothing, polarity and background subtraction of ``recipe``, in that order.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of uint8, uint16 or float32
        A grayscale or RGB image (:func:`segmentation.as_image` makes one from any array).
    recipe : ThresholdRecipe
        Its ``channel``, ``smoothing``, ``sigma``, ``median_size``, ``polarity`` and ``background_radius``
        are used.

    Returns
    -------
    Prepared

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty H×W or H×W×3 array of those dtypes, or ``recipe`` is not a
        :class:`~segmentation.ThresholdRecipe`.

    Examples
    --------
    >>> from skimage import data
    >>> from segmentation import ThresholdRecipe
    >>> prepared = prepare(data.coins(), ThresholdRecipe(smoothing="gaussian", sigma=2))
    >>> prepared.polarity, prepared.image.shape, prepared.exponent
    ('bright', (303, 384), 0)
    """
    check_image(image)
    if not isinstance(recipe, ThresholdRecipe):
        raise ParameterError(f"recipe must be a ThresholdRecipe; got {type(recipe).__name__}")
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
