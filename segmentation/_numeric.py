"""Leaf numeric helpers every part of the library uses.

Normalising an image array, constant images, exact power-of-two scaling of float images, and the linear
map to 8 bits.

This module imports nothing else from the library, so any module may import it.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = ["as_image", "is_constant", "float_exponent", "in_float_range", "to_uint8"]


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
