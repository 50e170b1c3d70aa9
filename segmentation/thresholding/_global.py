"""Global thresholds, one function per method, and :func:`binarize`, which applies one.

Every ``*_threshold`` function takes a single-channel ``uint8``, ``uint16`` or ``float32`` image and
returns the threshold in the image's own units; foreground is ``value > t`` for bright objects and
``value <= t`` for dark ones, as in OpenCV and scikit-image (ImageJ's ``lower <= value <= upper`` rule
differs by the pixels equal to ``t``).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from skimage import filters

from .._errors import SegmentationError
from .._numeric import float_exponent, in_float_range, to_uint8

__all__ = ["binarize", "manual_threshold", "otsu_threshold",
           "triangle_threshold", "li_threshold", "yen_threshold", "isodata_threshold", "mean_threshold",
           "minimum_threshold", "multiotsu_thresholds", "multiotsu_mask"]


def _computed_in_float_range(method, image: np.ndarray, **params) -> tuple[float, ...]:
    """The threshold(s) of a scikit-image ``method`` in the image's units, for float images of any magnitude.

    A float image with huge or tiny values is scaled by an exact power of two first (see
    :func:`segmentation.float_exponent`) and the thresholds scaled back, so the mask they give is
    the one exact arithmetic would give instead of the result of a float32 overflow.
    """
    exponent = float_exponent(image)
    values = np.atleast_1d(method(in_float_range(image, exponent), **params))
    return tuple(math.ldexp(float(v), exponent) for v in values)


def manual_threshold(image: np.ndarray, value: float = 128.0) -> float:
    """A value the user chose, in the image's units (returned as given)."""
    return float(value)


def otsu_threshold(image: np.ndarray) -> float:
    """Otsu's threshold: maximises the between-class variance of the histogram.

    Computed by OpenCV (``cv2.threshold`` with ``THRESH_OTSU``) for 8- and 16-bit images, and by
    scikit-image (``threshold_otsu``) for float images, which OpenCV's Otsu does not accept.

    Examples
    --------
    >>> from skimage import data
    >>> otsu_threshold(data.camera())
    102.0

    References
    ----------
    N. Otsu, "A threshold selection method from gray-level histograms", IEEE Trans. Systems, Man and
    Cybernetics 9(1):62–66, 1979. :DOI:`10.1109/TSMC.1979.4310076`
    """
    if image.dtype == np.float32:
        return _computed_in_float_range(filters.threshold_otsu, image)[0]
    t, _ = cv2.threshold(image, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return float(t)


def triangle_threshold(image: np.ndarray) -> float:
    """Zack's triangle threshold, computed by OpenCV (``THRESH_TRIANGLE``).

    OpenCV's triangle method takes 8-bit images only: 16-bit and float images are mapped linearly from
    their min..max to 0..255 (:func:`segmentation.to_uint8`) and the threshold is mapped back
    to the image's units. OpenCV and scikit-image differ by ±1 level on this method.

    References
    ----------
    G. W. Zack, W. E. Rogers and S. A. Latt, "Automatic measurement of sister chromatid exchange
    frequency", J. Histochem. Cytochem. 25(7):741–753, 1977. :DOI:`10.1177/25.7.70454`
    """
    image8, low, high = to_uint8(image)
    t8, _ = cv2.threshold(image8, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_TRIANGLE)
    return float(t8) if image.dtype == np.uint8 else low + float(t8) * (high - low) / 255.0


def li_threshold(image: np.ndarray) -> float:
    """Li's iterative minimum cross-entropy threshold (scikit-image ``threshold_li``).

    References
    ----------
    C. H. Li and P. K. S. Tam, "An iterative algorithm for minimum cross entropy thresholding",
    Pattern Recognition Letters 19(8):771–776, 1998. :DOI:`10.1016/S0167-8655(98)00057-9`
    """
    return _computed_in_float_range(filters.threshold_li, image)[0]


def _histogram_input(image: np.ndarray) -> np.ndarray:
    """The image as the histogram-based scikit-image methods should see it: 256 bins over min..max.

    scikit-image gives integer images one histogram bin per value: a 16-bit image gets up to 65,536 bins,
    which makes Minimum run for minutes and multi-Otsu's table grow with the square of the bin count.
    As float32 (exact for 16-bit values) the same methods use 256 bins over the image's range, like 8-bit.
    """
    return image.astype(np.float32) if image.dtype == np.uint16 else image


def yen_threshold(image: np.ndarray) -> float:
    """Yen's maximum-correlation threshold (scikit-image ``threshold_yen``, 256-bin histogram).

    References
    ----------
    J.-C. Yen, F.-J. Chang and S. Chang, "A new criterion for automatic multilevel thresholding",
    IEEE Trans. Image Processing 4(3):370–378, 1995. :DOI:`10.1109/83.366472`
    """
    return _computed_in_float_range(filters.threshold_yen, _histogram_input(image))[0]


def isodata_threshold(image: np.ndarray) -> float:
    """Ridler–Calvard IsoData threshold (scikit-image ``threshold_isodata``, 256-bin histogram).

    References
    ----------
    T. W. Ridler and S. Calvard, "Picture thresholding using an iterative selection method",
    IEEE Trans. Systems, Man and Cybernetics 8(8):630–632, 1978. :DOI:`10.1109/TSMC.1978.4310039`
    """
    return _computed_in_float_range(filters.threshold_isodata, _histogram_input(image))[0]


def mean_threshold(image: np.ndarray) -> float:
    """The mean intensity (scikit-image ``threshold_mean``).

    References
    ----------
    C. A. Glasbey, "An analysis of histogram-based thresholding algorithms", CVGIP: Graphical Models
    and Image Processing 55(6):532–537, 1993. :DOI:`10.1006/cgip.1993.1040`
    """
    return _computed_in_float_range(filters.threshold_mean, image)[0]


def minimum_threshold(image: np.ndarray) -> float:
    """The valley between the two peaks of the smoothed histogram (scikit-image ``threshold_minimum``).

    Raises :class:`SegmentationError` when the histogram never shows two peaks, which is common:
    the method only suits clearly bimodal images.

    References
    ----------
    C. A. Glasbey (1993), see :func:`mean_threshold`; J. M. S. Prewitt and M. L. Mendelsohn,
    "The analysis of cell images", Ann. N. Y. Acad. Sci. 128:1035–1053, 1966.
    """
    try:
        return _computed_in_float_range(filters.threshold_minimum, _histogram_input(image))[0]
    except RuntimeError:
        raise SegmentationError("the Minimum method found no valley between two histogram peaks in this "
                                "image (its histogram is not bimodal); try Otsu or Li instead") from None


def multiotsu_thresholds(image: np.ndarray, classes: int = 3) -> tuple[float, ...]:
    """``classes - 1`` thresholds splitting the histogram into ``classes`` classes (scikit-image).

    With 2 classes this is Otsu's threshold. The search grows steeply with the number of classes: 5 classes
    take seconds even on an 8-bit image.

    References
    ----------
    P.-S. Liao, T.-S. Chen and P.-C. Chung, "A fast algorithm for multilevel thresholding",
    J. Inf. Sci. Eng. 17(5):713–727, 2001.
    """
    try:
        return _computed_in_float_range(filters.threshold_multiotsu, _histogram_input(image), classes=classes)
    except ValueError:
        raise SegmentationError(f"this image has too few distinct grey levels for {classes} multi-Otsu "
                                f"classes; use fewer classes") from None


def multiotsu_mask(image: np.ndarray, thresholds: tuple[float, ...], foreground_classes: tuple[int, ...]) -> np.ndarray:
    """Pixels whose class (0 = darkest, i.e. the number of thresholds strictly below the value) is selected."""
    selected = np.zeros(len(thresholds) + 1, bool)
    selected[list(foreground_classes)] = True
    if image.dtype == np.uint8:  # a 256-entry lookup table is the fastest way to classify 8-bit pixels
        classes = np.searchsorted(np.asarray(thresholds), np.arange(256), side="left")
        lut = selected[classes].astype(np.uint8)
        return cv2.LUT(image, lut).view(bool)
    return selected[np.searchsorted(np.asarray(thresholds), image, side="left")]


def binarize(image: np.ndarray, t: float, polarity: str = "bright") -> np.ndarray:
    """``image > t`` (bright objects) or ``image <= t`` (dark objects) as a bool mask."""
    if image.dtype == np.uint8:
        # OpenCV writes 0/1 bytes, which are valid numpy bools: no extra pass to convert.
        kind = cv2.THRESH_BINARY if polarity == "bright" else cv2.THRESH_BINARY_INV
        return cv2.threshold(image, t, 1, kind)[1].view(bool)
    return np.greater(image, t) if polarity == "bright" else np.less_equal(image, t)
