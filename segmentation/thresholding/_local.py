"""Local (adaptive) thresholds: a threshold per pixel from its neighbourhood.

Adaptive mean and adaptive Gaussian are OpenCV's ``adaptiveThreshold``; Sauvola and Niblack are
scikit-image's. Each takes the single-channel image :func:`segmentation.thresholding.prepare` made.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from skimage import filters

from .._checks import check_channel_image, check_flag, check_number, check_polarity
from .._numeric import fill_nonfinite, float_exponent, in_float_range, to_uint8
from ..recipes import ThresholdRecipe

__all__ = ["adaptive_threshold_mask", "sauvola_surface", "niblack_surface", "local_mask"]

#: The recipe's parameters, the one source of the ranges the building blocks share with them.
_SPECS = {spec.name: spec for spec in ThresholdRecipe.specs()}


def adaptive_threshold_mask(image: np.ndarray, *, block_size: int = 51, offset: float = 20.0,
                            gaussian: bool = False, polarity: str = "bright") -> np.ndarray:
    """OpenCV's adaptive threshold: object pixels differ from their local mean by more than ``offset``.

    The local mean is the plain (``gaussian=False``) or Gaussian-weighted mean over a ``block_size``
    square. Bright objects: ``value > mean + offset``; dark objects: ``value <= mean - offset``
    (OpenCV's ``C`` is ``-offset`` and ``+offset`` respectively). OpenCV needs 8-bit input, so 16-bit and
    float images are first mapped linearly from their min..max to 0..255, and ``offset`` is in those
    8-bit levels. Image borders are replicated (scikit-image's ``threshold_local`` reflects them, so the
    two libraries differ by a few percent of pixels near edges). On a constant image every pixel equals its
    local mean: bright objects give an empty mask for any ``offset`` of at least 0, dark objects a full mask
    at ``offset`` 0 (``value <= mean``) and an empty one above it.

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        A single-channel image (:func:`segmentation.extract_channel` of a colour one). NaN and ±inf pixels
        of a float image count as their nearest finite pixel in the local statistics.
    block_size : int
        Side of the square neighbourhood, in pixels: odd, from 3 to 1001 (the recipe's range).
    offset : float
        How far an object pixel must stand out from its local mean, in 8-bit levels (any finite number,
        negative too; beyond ±255 every pixel or none qualifies).
    gaussian : bool
        Gaussian-weighted mean (OpenCV's ``ADAPTIVE_THRESH_GAUSSIAN_C``, sigma from ``block_size``)
        instead of the plain mean (``ADAPTIVE_THRESH_MEAN_C``).
    polarity : {"bright", "dark"}
        Whether objects are brighter or darker than their surroundings.

    Returns
    -------
    (H, W) ndarray of bool

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes or is a float image without a finite
        pixel, ``block_size`` is not an odd whole
        number from 3 to 1001, ``offset`` is not a finite number, ``gaussian`` is not a bool, or
        ``polarity`` is not exactly ``"bright"`` or ``"dark"`` (``"Bright"`` is refused).

    Examples
    --------
    >>> from skimage import data
    >>> mask = adaptive_threshold_mask(data.page(), block_size=51, offset=20, polarity="dark")
    >>> mask.dtype, mask.shape
    (dtype('bool'), (191, 384))

    References
    ----------
    OpenCV, "Miscellaneous image transformations: adaptiveThreshold", OpenCV 4.x documentation, 2024.
    https://docs.opencv.org/4.x/d7/d1b/group__imgproc__misc.html

    R. C. Gonzalez and R. E. Woods, *Digital Image Processing*, 4th ed., Pearson, 2018, section 10.3
    ("Variable thresholding").

    D. Bradley and G. Roth, "Adaptive thresholding using the integral image", Journal of Graphics Tools
    12(2):13–21, 2007. :DOI:`10.1080/2151237X.2007.10129236`
    """
    check_channel_image(image)
    block_size = check_number("block_size", block_size, low=3, high=_SPECS["block_size"].max, integer=True, odd=True)
    offset = check_number("offset", offset)
    gaussian = check_flag("gaussian", gaussian)
    polarity = check_polarity(polarity)
    filled, nonfinite = fill_nonfinite(image)  # the local means see "no data" as its nearest finite pixel
    image8, _, _ = to_uint8(filled)
    # OpenCV rounds C into a C int, which overflows for |C| >= 2**31 (an offset of 3e9 selected every
    # pixel). An 8-bit pixel differs from its local mean by at most 255, so clamping the offset to ±256
    # changes no pixel's "value - mean > offset" (or "<= -offset").
    offset = min(max(offset, -256.0), 256.0)
    method = cv2.ADAPTIVE_THRESH_GAUSSIAN_C if gaussian else cv2.ADAPTIVE_THRESH_MEAN_C
    kind, c = (cv2.THRESH_BINARY, -offset) if polarity == "bright" else (cv2.THRESH_BINARY_INV, offset)
    # maxValue 1 writes 0/1 bytes, which numpy can view as bool without a copy.
    mask = cv2.adaptiveThreshold(image8, 1, method, kind, block_size, c).view(bool)
    if nonfinite is not None:  # IEEE rules: NaN never, +inf bright, -inf dark
        mask[nonfinite] = image[nonfinite] == (np.inf if polarity == "bright" else -np.inf)
    return mask


def sauvola_surface(image: np.ndarray, *, window: int = 51, k: float = 0.2, r: float = 0.0) -> np.ndarray:
    """Sauvola's per-pixel threshold ``m * (1 + k * (s / R - 1))`` (scikit-image ``threshold_sauvola``).

    ``m`` and ``s`` are the mean and standard deviation over a ``window`` square around each pixel.
    ``r = 0`` chooses R automatically: half the 8-bit range (scikit-image's default) for 8-bit images,
    and half the image's own value range for 16-bit and float ones, because 12-bit camera data stored in
    16 bits would otherwise see R = 32767 and a threshold stuck at ``m * (1 - k)``. On a constant image
    ``s = 0``, so the surface is ``m * (1 - k)`` as in scikit-image (below every pixel for ``k > 0``;
    :func:`segmentation.threshold` reports a constant image instead of using it), and an automatic R of
    a constant 16-bit or float image falls back to scikit-image's default.

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        A single-channel image (:func:`segmentation.extract_channel` of a colour one). NaN and ±inf pixels
        of a float image count as their nearest finite pixel in the local statistics.
    window : int
        Side of the square window, in pixels: odd, from 3 to 1001 (the recipe's range).
    k : float
        Weight of the local standard deviation (typically 0.2 to 0.5).
    r : float
        The dynamic range of the standard deviation, in the image's units, at least 0; 0 = automatic.

    Returns
    -------
    (H, W) ndarray of float64
        The threshold of every pixel, in the image's units: ``image > surface`` are the bright objects.

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes or is a float image without a finite
        pixel, ``window`` is not an odd whole number
        from 3 to 1001, ``k`` is not a finite number, or ``r`` is negative or not finite.

    Examples
    --------
    >>> from skimage import data
    >>> surface = sauvola_surface(data.page(), window=25, k=0.2)
    >>> surface.shape, surface.dtype, int((data.page() <= surface).sum())
    ((191, 384), dtype('float64'), 9364)

    References
    ----------
    J. Sauvola and M. Pietikäinen, "Adaptive document image binarization", Pattern Recognition
    33(2):225–236, 2000. :DOI:`10.1016/S0031-3203(99)00055-2`
    """
    check_channel_image(image)
    window = check_number("window", window, low=3, high=_SPECS["window"].max, integer=True, odd=True)
    k = check_number("k", k)
    r = check_number("r", r, low=0)
    image = fill_nonfinite(image)[0]  # "no data" seen as its nearest finite pixel in the local statistics
    # Huge or tiny float values would overflow float32 squares: work on a copy scaled by a power of two.
    exponent = float_exponent(image)
    scaled = in_float_range(image, exponent)
    if r == 0 and image.dtype != np.uint8:
        r_scaled = 0.5 * float(scaled.max() - scaled.min())
    else:
        r_scaled = math.ldexp(r, -exponent)
    surface = filters.threshold_sauvola(scaled, window_size=window, k=k, r=(r_scaled or None))
    return np.ldexp(surface, exponent) if exponent else surface


def niblack_surface(image: np.ndarray, *, window: int = 51, k: float = 0.2) -> np.ndarray:
    """Niblack's per-pixel threshold ``m - k * s`` (scikit-image's sign; Fiji's is ``m + k * s - C``).

    ``m`` and ``s`` are the mean and standard deviation over a ``window`` square around each pixel
    (scikit-image's ``threshold_niblack``). A constant image's surface is the constant.

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        A single-channel image (:func:`segmentation.extract_channel` of a colour one). NaN and ±inf pixels
        of a float image count as their nearest finite pixel in the local statistics.
    window : int
        Side of the square window, in pixels: odd, from 3 to 1001 (the recipe's range).
    k : float
        Weight of the local standard deviation (scikit-image's sign: positive ``k`` lowers the threshold).

    Returns
    -------
    (H, W) ndarray of float64
        The threshold of every pixel, in the image's units.

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes or is a float image without a finite
        pixel, ``window`` is not an odd whole number
        from 3 to 1001, or ``k`` is not a finite number.

    Examples
    --------
    >>> from skimage import data
    >>> surface = niblack_surface(data.page(), window=25, k=0.2)
    >>> surface.shape, surface.dtype
    ((191, 384), dtype('float64'))

    References
    ----------
    W. Niblack, *An Introduction to Digital Image Processing*, Prentice-Hall, 1986, pp. 115–116.
    """
    check_channel_image(image)
    window = check_number("window", window, low=3, high=_SPECS["window"].max, integer=True, odd=True)
    k = check_number("k", k)
    image = fill_nonfinite(image)[0]  # as in sauvola_surface
    exponent = float_exponent(image)  # as in sauvola_surface: huge or tiny values are scaled first
    surface = filters.threshold_niblack(in_float_range(image, exponent), window_size=window, k=k)
    return np.ldexp(surface, exponent) if exponent else surface


def local_mask(image: np.ndarray, recipe: ThresholdRecipe,
               polarity: str) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """The raw mask of a local method, its threshold surface (Sauvola/Niblack) and notes for the user."""
    notes = []
    if recipe.method in ("adaptive_mean", "adaptive_gaussian"):
        if image.dtype != np.uint8:
            notes.append("OpenCV's adaptive threshold ran on an 8-bit copy mapped linearly from the image's "
                         "min..max; the offset is in those 8-bit levels")
        mask = adaptive_threshold_mask(image, block_size=recipe.block_size, offset=recipe.offset,
                                       gaussian=recipe.method == "adaptive_gaussian", polarity=polarity)
        return mask, None, notes
    if recipe.method == "sauvola":
        surface = sauvola_surface(image, window=recipe.window, k=recipe.k, r=recipe.r)
    elif recipe.method == "niblack":
        surface = niblack_surface(image, window=recipe.window, k=recipe.k)
    else:
        raise ValueError(f"{recipe.method!r} is not a local method")
    # Compare against scikit-image's float64 surface (a float32 copy would round 199.99999999999986 to
    # 200 and flip pixels); the float32 copy is only for display.
    mask = np.greater(image, surface) if polarity == "bright" else np.less_equal(image, surface)
    return mask, surface.astype(np.float32), notes
