"""Global thresholds, one function per method, and :func:`binarize`, which applies one.

Every ``*_threshold`` function takes a single-channel ``uint8``, ``uint16`` or ``float32`` image and
returns the threshold in the image's own units; foreground is ``value > t`` for bright objects and
``value <= t`` for dark ones, as in OpenCV and scikit-image (ImageJ's ``lower <= value <= upper`` rule
differs by the pixels equal to ``t``).

Every function checks its inputs first (dtype, shape and words, all O(1)) and raises
:class:`~segmentation.ParameterError` naming the parameter. The functions that compute a threshold from
the pixels' histogram or statistics use the finite pixels of a float image holding NaN or ±inf "no data"
pixels (one fast pass decides, float32 images only; a copy of the finite pixels is made only when there are
others). :func:`binarize` and :func:`multiotsu_mask` compare by IEEE rules: a NaN pixel is never
foreground, +inf is above every finite threshold and -inf below.

A constant image has one threshold, its value (as scikit-image's ``threshold_otsu`` returns), so that
``value > t`` selects nothing; Minimum and multi-Otsu, which need two or more histogram peaks or levels,
refuse it with :class:`~segmentation.SegmentationError`. The constant case is noticed from what each
method computes anyway, never by an extra pass on the common path.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from skimage import exposure, filters

from .._checks import all_finite, check_channel_image, check_number, check_polarity
from .._errors import ParameterError, SegmentationError
from .._numeric import finite_pixels, float_extent, in_float_range, is_constant, to_uint8
from ..recipes import ThresholdRecipe

__all__ = ["binarize", "manual_threshold", "otsu_threshold",
           "triangle_threshold", "li_threshold", "yen_threshold", "isodata_threshold", "mean_threshold",
           "minimum_threshold", "multiotsu_thresholds", "multiotsu_mask"]

#: The recipe's parameters, the one source of the ranges the building blocks share with them.
_SPECS = {spec.name: spec for spec in ThresholdRecipe.specs()}


def _extent(image: np.ndarray) -> tuple[int, float | None]:
    """``(exponent, constant)`` of an image about to be thresholded by scikit-image.

    For a float32 image, one ``minMaxLoc`` pass gives both the power of two that brings its values into
    float32's comfortable range (see :func:`segmentation.float_exponent`, which made the same pass before)
    and, when the minimum equals the maximum, the constant value. Integer images cost nothing here: they
    need no scaling, and ``(0, None)`` leaves their constant case to the method.
    """
    if image.dtype != np.float32:
        return 0, None
    exponent, low, high = float_extent(image)
    return exponent, (float(low) if low == high else None)


def _computed_in_float_range(method, image: np.ndarray, exponent: int, **params) -> tuple[float, ...]:
    """The threshold(s) of a scikit-image ``method`` in the image's units, for float images of any magnitude.

    A float image with huge or tiny values is scaled by the exact power of two ``2**-exponent`` first (see
    :func:`segmentation.float_exponent`) and the thresholds scaled back, so the mask they give is
    the one exact arithmetic would give instead of the result of a float32 overflow.
    """
    values = np.atleast_1d(method(in_float_range(image, exponent), **params))
    return tuple(math.ldexp(float(v), exponent) for v in values)


#: The widest 16-bit value range multi-Otsu takes one bin per value on: scikit-image's search table has
#: (range)² entries (4,096² float32 = 64 MB, 0.1 s); at 65,536 it would need 17 GB.
_EXACT_MULTIOTSU_RANGE = 4096


def _histogram_input(image: np.ndarray, *, exact_range: int = 65536, few: int = 0) -> np.ndarray:
    """The image as the histogram-based scikit-image methods should see it: 256 bins over min..max.

    scikit-image gives integer images one histogram bin per value: a 16-bit image gets up to 65,536 bins,
    which makes Minimum run for minutes and multi-Otsu's table grow with the square of the bin count.
    As float32 (exact for 16-bit values) the same methods use 256 bins over the image's range, like 8-bit.

    Those 256 bins must not merge distinct values of an image that has few of them: a 16-bit image holding
    0, 100 and 65535 would show multi-Otsu two levels instead of three. A 16-bit image of at most 256
    distinct values is returned as it is, so scikit-image bins it one bin per value (exactly as it treats
    the integer array), when its range is below ``exact_range`` or it has at most ``few`` distinct values
    (the cases the method can afford). Images with more levels keep the 256 bins (results unchanged).
    One ``bincount`` pass, 16-bit images only (15 ms at 12 megapixels).
    """
    if image.dtype != np.uint16:
        return image
    present = np.flatnonzero(np.bincount(image.ravel(), minlength=1))
    low, high = int(present[0]), int(present[-1])
    if len(present) <= 256 and (high - low < exact_range or len(present) <= few):
        return image
    return image.astype(np.float32)


def _levels_sharing_a_bin(image: np.ndarray) -> tuple[int, int, int] | None:
    """``(a, b, n)`` when 256 bins over min..max would merge two of a few-level 16-bit image's values.

    For a 16-bit image of at most 256 distinct values, ``a < b`` are the first two of its ``n`` values that
    fall in one of the 256 equal bins over its range (numpy's and scikit-image's float binning); ``None``
    for other images and for those whose values all get their own bin (every range below 256 does).
    One ``bincount`` pass, 16-bit images only.
    """
    if image.dtype != np.uint16:
        return None
    levels = np.flatnonzero(np.bincount(image.ravel(), minlength=1))
    if len(levels) > 256 or len(levels) < 2:
        return None
    low, high = int(levels[0]), int(levels[-1])
    bins = np.minimum(((levels - low) * 256) // (high - low), 255)  # exact integer form of the float binning
    shared = np.flatnonzero(np.diff(bins) == 0)
    if not len(shared):
        return None
    return int(levels[shared[0]]), int(levels[shared[0] + 1]), len(levels)


#: Minimum's smoothing loop on a histogram of one bin per value costs about 0.2 µs per bin and pass (a
#: Python loop in scikit-image: 15 ms a pass over 65,536 bins, measured); the passes are bounded so that
#: the loop stays under about a second, and an image that needs more is refused in plain words.
_MINIMUM_EXACT_BUDGET = 3_000_000


def manual_threshold(image: np.ndarray, value: float = 128.0) -> float:
    """A value the user chose, in the image's units (returned as given).

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        The image the value applies to (checked, not read).
    value : float
        The threshold, in the image's units (finite).

    Returns
    -------
    float
        ``value``.

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes, or ``value`` is not a finite number.

    Examples
    --------
    >>> import numpy as np
    >>> manual_threshold(np.zeros((2, 2), np.uint8), 40)
    40.0
    """
    check_channel_image(image)
    return check_number("value", value)


def otsu_threshold(image: np.ndarray) -> float:
    """Otsu's threshold: maximises the between-class variance of the histogram.

    Computed by OpenCV (``cv2.threshold`` with ``THRESH_OTSU``, one bin per level) for 8- and 16-bit
    images, and by scikit-image (``threshold_otsu``, 256 bins over min..max) for float images, which
    OpenCV's Otsu does not accept. A constant image's threshold is its value, as in scikit-image.

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        A single-channel image (:func:`segmentation.extract_channel` of a colour one).

    Returns
    -------
    float
        The threshold in the image's units: ``image > t`` are the bright objects.

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes (an ``int32`` or an RGB array, say), or
        is a float image without a finite pixel (NaN and ±inf pixels are left out of the computation).

    Examples
    --------
    >>> import numpy as np
    >>> from skimage import data
    >>> otsu_threshold(data.camera())
    102.0
    >>> otsu_threshold(np.full((4, 4), 7, np.uint8))
    7.0

    References
    ----------
    N. Otsu, "A threshold selection method from gray-level histograms", IEEE Trans. Systems, Man and
    Cybernetics 9(1):62–66, 1979. :DOI:`10.1109/TSMC.1979.4310076`
    """
    check_channel_image(image)
    if image.dtype == np.float32:
        image = finite_pixels(image)  # NaN and ±inf are "no data": thresholds come from the rest
        exponent, constant = _extent(image)
        if constant is not None:
            return constant  # what scikit-image's threshold_otsu returns (it would make a second pass to see it)
        return _computed_in_float_range(filters.threshold_otsu, image, exponent)[0]
    t, _ = cv2.threshold(image, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    # OpenCV's Otsu finds no split in a one-level histogram and returns 0, which makes "value > 0" select
    # every pixel of a constant non-zero image. scikit-image returns the constant itself, which selects
    # none: do the same. Only a result of 0 with a non-zero first pixel needs the (one-pass) check, so
    # ordinary images pay nothing.
    if t == 0 and image[0, 0] != 0 and is_constant(image):
        return float(image[0, 0])
    return float(t)


def triangle_threshold(image: np.ndarray) -> float:
    """Zack's triangle threshold, computed by OpenCV (``THRESH_TRIANGLE``).

    OpenCV's triangle method takes 8-bit images only: 16-bit and float images are mapped linearly from
    their min..max to 0..255 (:func:`segmentation.to_uint8`) and the threshold is mapped back
    to the image's units. OpenCV and scikit-image differ by ±1 level on this method. A constant image's
    threshold is its value, as in scikit-image (OpenCV's would be one level below it). A 16-bit image of
    at most 256 values whose values those 256 levels would merge is given to scikit-image's
    ``threshold_triangle`` as it is (one bin per value).

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        A single-channel image (:func:`segmentation.extract_channel` of a colour one).

    Returns
    -------
    float
        The threshold in the image's units.

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes, or is a float image
        without a finite pixel.

    Examples
    --------
    >>> from skimage import data
    >>> triangle_threshold(data.camera())
    43.0

    References
    ----------
    G. W. Zack, W. E. Rogers and S. A. Latt, "Automatic measurement of sister chromatid exchange
    frequency", J. Histochem. Cytochem. 25(7):741–753, 1977. :DOI:`10.1177/25.7.70454`
    """
    check_channel_image(image)
    if _levels_sharing_a_bin(image) is not None:
        # A 16-bit image of few values that 256 bins would merge: scikit-image's triangle on the exact
        # integers (one bin per value, vectorised), so no two of its values become one level.
        return float(filters.threshold_triangle(image))
    image8, low, high = to_uint8(finite_pixels(image))  # the finite pixels' histogram
    t8, _ = cv2.threshold(image8, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_TRIANGLE)
    if image.dtype != np.uint8:
        # A constant 16-bit or float image maps to zeros with low == high, so this is its value.
        return low + float(t8) * (high - low) / 255.0
    # On a one-level 8-bit histogram OpenCV returns that level minus 1 (1 for level 0, -1 for level 1),
    # so "value > t" would select every pixel; scikit-image's threshold_triangle returns the level.
    # Only a result within 2 of the first pixel can come from a constant image: others skip the check.
    first = int(image[0, 0])
    if abs(t8 - first) <= 2 and is_constant(image):
        return float(first)
    return float(t8)


def li_threshold(image: np.ndarray) -> float:
    """Li's iterative minimum cross-entropy threshold (scikit-image ``threshold_li``).

    A constant image's threshold is its value (scikit-image's rule, for every dtype).

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        A single-channel image (:func:`segmentation.extract_channel` of a colour one).

    Returns
    -------
    float
        The threshold in the image's units.

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes, or is a float image
        without a finite pixel.

    Examples
    --------
    >>> from skimage import data
    >>> round(li_threshold(data.camera()), 2)
    78.91

    References
    ----------
    C. H. Li and P. K. S. Tam, "An iterative algorithm for minimum cross entropy thresholding",
    Pattern Recognition Letters 19(8):771–776, 1998. :DOI:`10.1016/S0167-8655(98)00057-9`
    """
    check_channel_image(image)
    image = finite_pixels(image)  # NaN and ±inf are "no data": thresholds come from the rest
    exponent, constant = _extent(image)
    if constant is not None:
        return constant  # scikit-image returns the constant too (integer images: threshold_li sees to it)
    return _computed_in_float_range(filters.threshold_li, image, exponent)[0]


def yen_threshold(image: np.ndarray) -> float:
    """Yen's maximum-correlation threshold (scikit-image ``threshold_yen``, 256-bin histogram).

    A constant image's threshold is its value. A 16-bit image of at most 256 distinct values gets one bin per value
    (scikit-image's own binning of the integer array), so no two of its values share a bin.

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        A single-channel image (:func:`segmentation.extract_channel` of a colour one).

    Returns
    -------
    float
        The threshold in the image's units.

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes, or is a float image
        without a finite pixel.

    Examples
    --------
    >>> from skimage import data
    >>> yen_threshold(data.camera())
    146.0

    References
    ----------
    J.-C. Yen, F.-J. Chang and S. Chang, "A new criterion for automatic multilevel thresholding",
    IEEE Trans. Image Processing 4(3):370–378, 1995. :DOI:`10.1109/83.366472`
    """
    check_channel_image(image)
    image = finite_pixels(image)  # NaN and ±inf are "no data": thresholds come from the rest
    histogram_image = _histogram_input(image)
    exponent, constant = _extent(histogram_image)
    if constant is not None:
        # scikit-image 0.26 returns the constant for an integer image, but for a float one (which 16-bit
        # images become here) divides by zero and returns a value outside the image's range: return the
        # constant for every dtype, as for 8-bit.
        return constant
    return _computed_in_float_range(filters.threshold_yen, histogram_image, exponent)[0]


def isodata_threshold(image: np.ndarray) -> float:
    """Ridler–Calvard IsoData threshold (scikit-image ``threshold_isodata``, 256-bin histogram).

    A constant image's threshold is its value. A 16-bit image of at most 256 distinct values gets one bin per value
    (scikit-image's own binning of the integer array), so no two of its values share a bin.

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        A single-channel image (:func:`segmentation.extract_channel` of a colour one).

    Returns
    -------
    float
        The threshold in the image's units.

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes, or is a float image
        without a finite pixel.

    Examples
    --------
    >>> from skimage import data
    >>> isodata_threshold(data.camera())
    102.0

    References
    ----------
    T. W. Ridler and S. Calvard, "Picture thresholding using an iterative selection method",
    IEEE Trans. Systems, Man and Cybernetics 8(8):630–632, 1978. :DOI:`10.1109/TSMC.1978.4310039`
    """
    check_channel_image(image)
    image = finite_pixels(image)  # NaN and ±inf are "no data": thresholds come from the rest
    histogram_image = _histogram_input(image)
    exponent, constant = _extent(histogram_image)
    if constant is not None:
        # scikit-image 0.26 returns the constant for an integer image but raises an IndexError for a
        # float one (which 16-bit images become here): return the constant for every dtype.
        return constant
    return _computed_in_float_range(filters.threshold_isodata, histogram_image, exponent)[0]


def mean_threshold(image: np.ndarray) -> float:
    """The mean intensity (scikit-image ``threshold_mean``).

    A constant image's threshold is its value, exactly.

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        A single-channel image (:func:`segmentation.extract_channel` of a colour one).

    Returns
    -------
    float
        The mean, in the image's units.

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes, or is a float image
        without a finite pixel.

    Examples
    --------
    >>> from skimage import data
    >>> round(mean_threshold(data.camera()), 2)
    129.06

    References
    ----------
    C. A. Glasbey, "An analysis of histogram-based thresholding algorithms", CVGIP: Graphical Models
    and Image Processing 55(6):532–537, 1993. :DOI:`10.1006/cgip.1993.1040`
    """
    check_channel_image(image)
    image = finite_pixels(image)  # NaN and ±inf are "no data": thresholds come from the rest
    exponent, constant = _extent(image)
    if constant is not None:
        # scikit-image sums a float32 image in float32, so the "mean" of a constant 1e30 image is 9.9999994e29,
        # below every pixel, and "value > t" would select them all. The constant itself is the exact mean.
        # (Integer images are averaged in float64 by numpy: exact, no special case needed.)
        return constant
    return _computed_in_float_range(filters.threshold_mean, image, exponent)[0]


def _not_bimodal(image: np.ndarray) -> SegmentationError:
    if is_constant(image):
        return SegmentationError(f"the Minimum method needs a histogram with two peaks, but this image is "
                                 f"constant (every pixel is {float(image.flat[0]):g}): it is not bimodal")
    return SegmentationError("the Minimum method found no valley between two histogram peaks in this "
                             "image (its histogram is not bimodal); try Otsu or Li instead")


def minimum_threshold(image: np.ndarray) -> float:
    """The valley between the two peaks of the smoothed histogram (scikit-image ``threshold_minimum``).

    The histogram (256 bins, also for 16-bit images: the smoothing loop takes seconds on a few thousand
    one-value bins) is smoothed until it shows exactly two peaks; the threshold is the lowest
    bin between them. A 16-bit image of at most 256 values whose values 256 bins would merge is
    histogrammed one bin per value instead, as scikit-image bins the integer array, with the smoothing
    passes bounded to about a second (a SegmentationError says so when they do not settle). When the
    histogram never shows two peaks, which is common, the method fails: it only suits clearly bimodal images.
    A constant image (one peak) fails too, as in scikit-image.

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        A single-channel image (:func:`segmentation.extract_channel` of a colour one).

    Returns
    -------
    float
        The threshold in the image's units.

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes, or is a float image
        without a finite pixel.
    SegmentationError
        When the histogram never shows two peaks (a unimodal or constant image).

    Examples
    --------
    >>> from skimage import data
    >>> minimum_threshold(data.camera())
    85.0

    References
    ----------
    C. A. Glasbey, "An analysis of histogram-based thresholding algorithms", CVGIP: Graphical Models
    and Image Processing 55(6):532–537, 1993. :DOI:`10.1006/cgip.1993.1040`

    J. M. S. Prewitt and M. L. Mendelsohn, "The analysis of cell images", Ann. N. Y. Acad. Sci.
    128(3):1035–1053, 1966. :DOI:`10.1111/j.1749-6632.1965.tb11715.x`
    """
    check_channel_image(image)
    merged = _levels_sharing_a_bin(image)
    if merged is not None:
        return _minimum_of_few_levels(image, *merged)
    image = finite_pixels(image)  # NaN and ±inf are "no data": thresholds come from the rest
    # 256 bins over min..max, or one per value for a 16-bit image of at most 256 values spanning under 256
    # (as scikit-image bins the integer array; the smoothing loop would take seconds on thousands of bins).
    histogram_image = _histogram_input(image, exact_range=256)
    exponent, constant = _extent(histogram_image)
    if constant is not None:
        # One histogram peak: scikit-image raises RuntimeError ("Unable to find two maxima") for every dtype.
        raise _not_bimodal(image)
    try:
        return _computed_in_float_range(filters.threshold_minimum, histogram_image, exponent)[0]
    except RuntimeError:
        raise _not_bimodal(image) from None  # a failure path: the one-pass constant check only words the message


def _minimum_of_few_levels(image: np.ndarray, low: int, high: int, levels: int) -> float:
    """Minimum of a 16-bit image whose few values 256 bins would merge: scikit-image on the exact integers.

    scikit-image bins the integer array one bin per value, so no two values share a bin; its smoothing
    passes cost in proportion to the range, so they are bounded (:data:`_MINIMUM_EXACT_BUDGET`) and an
    image whose exact histogram shows no valley within them is refused, in words that say why.
    """
    span = int(image.max()) - int(image.min()) + 1
    passes = int(min(10_000, max(20, _MINIMUM_EXACT_BUDGET // span)))
    try:
        return float(filters.threshold_minimum(image, max_num_iter=passes))
    except RuntimeError:
        raise SegmentationError(
            f"the Minimum method cannot threshold this 16-bit image of {levels} grey levels: in 256 histogram "
            f"bins its levels {low} and {high} would become one, and its exact histogram (one bin per value, "
            f"{span:,} bins) shows no valley between two peaks within {passes:,} smoothing passes; "
            f"use Otsu, Yen or multi-Otsu, which take such images level by level") from None


def multiotsu_thresholds(image: np.ndarray, classes: int = 3) -> tuple[float, ...]:
    """``classes - 1`` thresholds splitting the histogram into ``classes`` classes (scikit-image).

    The thresholds maximise the between-class variance of the 256-bin histogram (scikit-image's
    ``threshold_multiotsu``, Liao et al.'s fast search). With 2 classes this is Otsu's threshold. The
    search grows steeply with the number of classes: 5 classes take seconds even on an 8-bit image.
    A 16-bit image of at most 256 distinct values never has two of them merged: it gets one bin per value,
    exactly as scikit-image bins the integer array, when it has no more values than classes or spans fewer
    than 4,096 levels (scikit-image's search table grows with the square of the range); beyond, Otsu's
    criterion is maximised exactly over its levels (dynamic programming in float64). Other images: 256 bins.

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        A single-channel image (:func:`segmentation.extract_channel` of a colour one).
    classes : int
        Number of classes, a whole number from 2 to 5 (the recipe's ``classes`` range: the search tries
        every placement of ``classes - 1`` thresholds among 256 bins, about 50 times more for 6 classes
        than for 5).

    Returns
    -------
    tuple of float
        ``classes - 1`` increasing thresholds in the image's units.

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes or is a float image
        without a finite pixel, or ``classes`` is not a whole number
        from 2 to 5.
    SegmentationError
        When the image has fewer distinct grey levels (after binning) than ``classes``; the message says
        when the image is constant (one level), whatever its dtype.

    Examples
    --------
    >>> from skimage import data
    >>> multiotsu_thresholds(data.camera(), classes=3)
    (87.0, 176.0)

    References
    ----------
    P.-S. Liao, T.-S. Chen and P.-C. Chung, "A fast algorithm for multilevel thresholding",
    J. Inf. Sci. Eng. 17(5):713–727, 2001 (no DOI).

    N. Otsu, "A threshold selection method from gray-level histograms", IEEE Trans. Systems, Man and
    Cybernetics 9(1):62–66, 1979. :DOI:`10.1109/TSMC.1979.4310076`
    """
    check_channel_image(image)
    # The checked int is the one passed on: scikit-image refuses classes=3.0.
    classes = check_number("classes", classes, low=2, high=_SPECS["classes"].max, integer=True)
    image = finite_pixels(image)  # NaN and ±inf are "no data": thresholds come from the rest
    if image.dtype == np.uint16:
        counts = np.bincount(image.ravel())
        levels = np.flatnonzero(counts)
        if classes < len(levels) <= 256 and levels[-1] - levels[0] >= _EXACT_MULTIOTSU_RANGE:
            # Few levels over a wide range: scikit-image's table would be range² (17 GB at 65,536) and 256 bins
            # would merge close levels, so Otsu's criterion is maximised over the levels themselves.
            return _multiotsu_of_levels(levels, counts[levels], classes)
    histogram_image = _histogram_input(image, exact_range=_EXACT_MULTIOTSU_RANGE, few=classes)
    exponent, constant = _extent(histogram_image)
    if constant is not None:
        # One grey level: scikit-image raises ValueError for every dtype; say it in the image's terms.
        raise _multiotsu_constant(constant, classes)
    try:
        return _computed_in_float_range(_threshold_multiotsu, histogram_image, exponent, classes=classes)
    except ValueError:
        # An 8-bit image is not scanned for the constant case beforehand (_extent looks at float images
        # only): on this failure path one pass words the message as for the other dtypes.
        if is_constant(image):
            raise _multiotsu_constant(float(image[0, 0]), classes) from None
        raise SegmentationError(f"this image has too few distinct grey levels for {classes} multi-Otsu "
                                f"classes; use fewer classes") from None


def _threshold_multiotsu(image: np.ndarray, classes: int) -> np.ndarray:
    """scikit-image's ``threshold_multiotsu(image, classes)`` (256 bins): the same thresholds, found faster.

    The histogram (:func:`skimage.exposure.histogram`, as scikit-image takes it), the ``ValueError`` for too
    few values and the case of as many values as classes are scikit-image's own; the search is
    :func:`_multiotsu_indices`. Measured on a 12-megapixel 16-bit image, 5 classes: 4.4 s for scikit-image's
    exhaustive search over 256 bins, 0.1 s here (mostly the histogram).
    """
    counts, centers = exposure.histogram(image.reshape(-1), 256, source_range="image", normalize=True)
    prob = counts.astype(np.float32, copy=False)
    values = np.count_nonzero(prob)
    if values < classes:
        raise ValueError(f"only {values} different values after binning; cannot split into {classes} classes")
    if values == classes:
        return centers[np.flatnonzero(prob)[:-1]]
    return centers[_multiotsu_indices(prob, classes - 1)]


def _multiotsu_lut(prob: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """scikit-image's between-class variance table ``H[i, j]`` (bins i..j as one class) at ``rows`` × ``cols``.

    float32, bit for bit as ``_set_var_btwcls_lut`` of ``skimage/filters/_multiotsu.pyx`` builds it: cumulative
    zeroth and first moments summed one bin after the other in float32, with its two quirks kept (the first
    moment counts bin 0 with weight 1, and ``H[0, 0]`` stays 0); each entry is ``S * S / P`` in float32 where
    ``P > 0`` and ``i <= j``, else 0. numpy's float32 ``add.accumulate``, ``multiply`` and ``divide`` round as
    the compiled loop does (no fused multiply-add or ``powf`` in scikit-image's wheel: checked with ``objdump``).
    Only the entries the search reads are built (not n² for a 16-bit image of one bin per value).
    """
    n = prob.size
    zeroth = np.add.accumulate(prob, dtype=np.float32)
    weighted = np.arange(n, dtype=np.float32) * prob
    weighted[0] = prob[0]
    first = np.add.accumulate(weighted, dtype=np.float32)
    # Row 0 uses the moments themselves; row i >= 1 their differences from bin i - 1.
    below = np.maximum(rows - 1, 0)
    below_zeroth = np.where(rows > 0, zeroth[below], np.float32(0))
    below_first = np.where(rows > 0, first[below], np.float32(0))
    mass = zeroth[cols][None, :] - below_zeroth[:, None]
    moment = first[cols][None, :] - below_first[:, None]
    table = np.zeros(mass.shape, np.float32)
    valid = (mass > 0) & (rows[:, None] <= cols[None, :]) & ~((rows[:, None] == 0) & (cols[None, :] == 0))
    table[valid] = moment[valid] * moment[valid] / mass[valid]
    return table


def _multiotsu_indices(prob: np.ndarray, count: int) -> np.ndarray:
    """The bin indices of ``count`` thresholds exactly as scikit-image's exhaustive search finds them.

    scikit-image (``_get_multiotsu_thresh_indices_lut``) tries every increasing ``t_0 < ... < t_{count-1}``
    (``t_m`` at most ``n - count + m - 1``) in lexicographic order and keeps the first whose float32 sum
    ``H[0, t_0] + H[t_last + 1, n - 1] + H[t_0 + 1, t_1] + ...`` (added in that order) is strictly the largest
    (C(255, 4) = 172 million sums for 5 classes). The same answer, without trying them all:

    1. a threshold on an empty bin that could move one bin down (not onto the previous threshold, and not
       onto bin 0, whose ``H[0, 0]`` is 0) has bit-identical terms to that earlier placement (the moments do
       not change across an empty bin), so it is never the first maximum: only the bins from a non-empty
       one to ``count`` bins above it (and bins 0 and 1) are candidate positions, and a threshold on an
       empty bin must sit right above the previous one;
    2. a dynamic programme in float64 over the table (the best completion after each position) gives the
       largest exact sum M;
    3. a float32 sum of ``count + 1`` non-negative terms is within ``count·2**-24`` of its exact value
       relative to it, so only placements whose exact sum is within ``δ = 4·(count + 1)·2**-24·M`` of M can
       tie or beat the float32 maximum; they are listed in lexicographic order by a branch-and-bound descent
       that drops every prefix whose best completion falls short of ``M - δ``;
    4. their float32 sums, added in scikit-image's order, pick the first largest (``np.argmax``).
    """
    n = prob.size
    nonempty = prob > 0
    near = np.zeros(n + count + 1, bool)
    for shift in range(count + 1):
        near[shift:shift + n] |= nonempty
    near[:count + 1] = True  # bins 0 and 1, and the run of thresholds right above them
    spots = np.flatnonzero(near[:n - 1])  # a threshold is at most n - 2
    # table[0, b] = H[0, spots[b]]; table[1 + a, b] = H[spots[a] + 1, spots[b]]; the last column is bin n - 1.
    table = _multiotsu_lut(prob, np.concatenate([[0], spots + 1]), np.concatenate([spots, [n - 1]]))
    gain = table.astype(np.float64)
    first = gain[0, :-1]
    after = gain[1:, :-1].copy()  # after[a, b]: the class between thresholds at spots a < b
    after[~np.triu(np.ones((spots.size, spots.size), bool), 1)] = -np.inf
    final = gain[1:, -1]
    limits = [np.searchsorted(spots, n - count + m - 1, side="right") for m in range(count)]
    best = [None] * count  # best[m][a]: the best exact sum of the terms after threshold m, at spot a
    best[-1] = np.where(np.arange(spots.size) < limits[-1], final, -np.inf)
    for m in range(count - 2, -1, -1):
        row = (after + best[m + 1][None, :]).max(axis=1)
        row[limits[m]:] = -np.inf
        best[m] = row
    total = first + best[0]
    top = float(total.max())
    floor = top - (4 * (count + 1) * 2.0 ** -24 * abs(top) + 1e-300)
    usable = nonempty[spots]
    prefixes = np.flatnonzero((usable | (spots <= 1)) & (total >= floor))[:, None]
    sums = first[prefixes[:, 0]]
    for m in range(1, count):
        grown, grown_sums = [], []
        for chunk in range(0, len(prefixes), 4096):  # bounded memory when many placements tie
            part, part_sums = prefixes[chunk:chunk + 4096], sums[chunk:chunk + 4096]
            previous = part[:, -1]
            reach = part_sums[:, None] + after[previous] + best[m][None, :]
            keep = (reach >= floor) & (usable[None, :] | (spots[None, :] == spots[previous][:, None] + 1))
            rows, cols = np.nonzero(keep)  # row-major: the prefixes' order, then increasing positions
            grown.append(np.concatenate([part[rows], cols[:, None]], axis=1))
            grown_sums.append(part_sums[rows] + after[previous[rows], cols])
        prefixes, sums = np.concatenate(grown), np.concatenate(grown_sums)
    # scikit-image's float32 sums, in its order of addition.
    sigma = table[0, prefixes[:, 0]] + table[1 + prefixes[:, -1], -1]
    for m in range(count - 1):
        sigma = sigma + table[1 + prefixes[:, m], prefixes[:, m + 1]]
    winner = int(np.argmax(sigma))  # the first of the largest, in lexicographic order
    if not sigma[winner] > 0:
        raise ValueError("no split with a positive between-class variance")
    return spots[prefixes[winner]].astype(np.intp)


def _multiotsu_of_levels(levels: np.ndarray, counts: np.ndarray, classes: int) -> tuple[float, ...]:
    """Otsu's multi-level criterion maximised exactly over a few grey levels (each its own class member).

    The between-class variance of a split into contiguous classes is, up to constants, the sum over classes
    of (sum of count·level)² / (sum of count); its maximum over every placement of ``classes - 1`` thresholds
    is found by dynamic programming over the K levels (O(classes·K²), 6 ms for 256 levels and 5 classes) in
    float64. Each threshold is the highest level of the class below it, as scikit-image reports for an
    integer image (``value > t`` then selects the classes above).
    """
    values, weights = levels.astype(np.float64), counts.astype(np.float64)
    k = len(values)
    mass = np.concatenate([[0.0], np.cumsum(weights)])
    moment = np.concatenate([[0.0], np.cumsum(weights * values)])
    start, end = np.arange(k + 1)[:, None], np.arange(k + 1)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):  # the empty classes (end <= start) are excluded
        score = np.where(end > start, (moment[None, :] - moment[:, None]) ** 2 / (mass[None, :] - mass[:, None]),
                         -np.inf)
    best = score[0].copy()  # best[j]: the best split of levels [0, j) into the classes so far
    choices = []
    for _ in range(classes - 1):
        total = best[:, None] + score  # [a, j]: levels [0, a) split as before, then one class [a, j)
        choice = np.argmax(total, axis=0)
        best = total[choice, np.arange(k + 1)]
        choices.append(choice)
    ends, j = [], k
    for choice in reversed(choices):
        j = int(choice[j])
        ends.append(j)
    return tuple(float(values[e - 1]) for e in reversed(ends))


def _multiotsu_constant(value: float, classes: int) -> SegmentationError:
    return SegmentationError(f"this image is constant (every pixel is {value:g}): multi-Otsu needs at "
                             f"least as many distinct grey levels as classes ({classes})")


def multiotsu_mask(image: np.ndarray, thresholds: tuple[float, ...], foreground_classes: tuple[int, ...]) -> np.ndarray:
    """Pixels whose class (0 = darkest, i.e. the number of thresholds strictly below the value) is selected.

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        A single-channel image, in the units of ``thresholds``.
    thresholds : sequence of float
        Non-decreasing thresholds (:func:`multiotsu_thresholds`); ``len(thresholds) + 1`` classes.
    foreground_classes : sequence of int
        The classes (0 .. ``len(thresholds)``) that make the foreground; may be empty.

    Returns
    -------
    (H, W) ndarray of bool
        A NaN pixel of a float image is in no class, so never selected (as in :func:`binarize`).

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes, ``thresholds`` is empty, not finite
        or decreasing, or a foreground class is outside 0 .. ``len(thresholds)``.

    Examples
    --------
    >>> import numpy as np
    >>> multiotsu_mask(np.array([[10, 100, 200]], np.uint8), (87.0, 176.0), (1, 2))
    array([[False,  True,  True]])
    """
    check_channel_image(image)
    if not isinstance(thresholds, (tuple, list, np.ndarray)) or len(thresholds) == 0:
        raise ParameterError(f"thresholds must be a non-empty sequence of numbers; got {thresholds!r:.60}")
    # The checked values are the ones used, as float64: a list of huge Python ints would otherwise make an
    # object array, and numpy float32 thresholds compare exactly in float64 too.
    limits = np.array([check_number("thresholds", t) for t in thresholds], np.float64)
    if np.any(limits[1:] < limits[:-1]):
        raise ParameterError(f"thresholds must be in increasing order; got {tuple(thresholds)!r:.60}")
    if not isinstance(foreground_classes, (tuple, list, np.ndarray)):
        raise ParameterError(f"foreground_classes must be a sequence of class numbers; "
                             f"got {foreground_classes!r:.60}")
    chosen = [check_number("foreground_classes", c, low=0, high=len(limits), integer=True)
              for c in foreground_classes]
    selected = np.zeros(len(limits) + 1, bool)
    selected[chosen] = True
    if image.dtype == np.uint8:  # a 256-entry lookup table is the fastest way to classify 8-bit pixels
        classes = np.searchsorted(limits, np.arange(256), side="left")
        lut = selected[classes].astype(np.uint8)
        return cv2.LUT(image, lut).view(bool)
    mask = selected[np.searchsorted(limits, image, side="left")]
    if not all_finite(image):  # float32 only; searchsorted puts NaN above every threshold, in the top class
        mask &= ~np.isnan(image)
    return mask


def binarize(image: np.ndarray, t: float, polarity: str = "bright") -> np.ndarray:
    """``image > t`` (bright objects) or ``image <= t`` (dark objects) as a bool mask.

    8-bit images go through OpenCV's ``cv2.threshold`` (same result, one pass, no conversion). Float
    images may hold NaN or ±inf pixels: IEEE comparisons make a NaN pixel neither ``> t`` nor ``<= t``, so
    it is never foreground, whatever the polarity; +inf is bright and -inf dark.

    Parameters
    ----------
    image : (H, W) ndarray of uint8, uint16 or float32
        A single-channel image.
    t : float
        The threshold, in the image's units (any finite number, far outside the image's range too).
    polarity : {"bright", "dark"}
        Whether the objects are the pixels above ``t`` or those at or below it.

    Returns
    -------
    (H, W) ndarray of bool

    Raises
    ------
    ParameterError
        When ``image`` is not a non-empty 2-D array of those dtypes, ``t`` is not a finite number, or
        ``polarity`` is not exactly ``"bright"`` or ``"dark"`` (``"brigth"`` and ``"Bright"`` are refused).

    Examples
    --------
    >>> import numpy as np
    >>> binarize(np.array([[10, 50, 90]], np.uint8), 50, "bright")
    array([[False, False,  True]])
    >>> binarize(np.array([[10, 50, 90]], np.uint8), 50, "dark")
    array([[ True,  True, False]])
    """
    check_channel_image(image)
    check_number("t", t)  # only checked: t is used as given (a numpy float64 compares float32 pixels exactly)
    check_polarity(polarity)
    if image.dtype == np.uint8:
        # OpenCV floors the threshold into a C int for 8-bit images, which overflows for |t| >= 2**31 (3e9
        # became "every pixel is > t"). Clamped to [-1, 255] first: for 8-bit values, "value > t" and
        # "value <= t" are the same for t and its clamp (below 0 selects all, 255 and above none).
        level = float(min(max(t, -1), 255))
        # OpenCV writes 0/1 bytes, which are valid numpy bools: no extra pass to convert.
        kind = cv2.THRESH_BINARY if polarity == "bright" else cv2.THRESH_BINARY_INV
        return cv2.threshold(image, level, 1, kind)[1].view(bool)
    return np.greater(image, t) if polarity == "bright" else np.less_equal(image, t)
