"""Clean-up of a binary mask: opening, closing, hole filling, small-object and border-object removal."""

from __future__ import annotations

import cv2
import numpy as np
from skimage.segmentation import clear_border as _clear_border

from .._checks import check_flag, check_mask, check_number
from .._numeric import fill_holes as _fill_holes
from ..recipes import ThresholdRecipe

__all__ = ["clean_mask", "disc", "remove_small_objects"]

#: The recipe's parameters, the one source of the ranges the building blocks share with them.
_SPECS = {spec.name: spec for spec in ThresholdRecipe.specs()}


def disc(diameter: int) -> np.ndarray:
    """An OpenCV elliptical structuring element of the given diameter in pixels."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (int(diameter), int(diameter)))


def remove_small_objects(mask: np.ndarray, min_size: int) -> np.ndarray:
    """Remove 8-connected objects with fewer than ``min_size`` pixels (OpenCV connected components).

    Note the rule is "strictly smaller than ``min_size``", like CellProfiler's size filter and the old
    ``min_size`` of scikit-image (whose newer ``max_size`` removes objects of that size *or smaller*).

    Parameters
    ----------
    mask : (H, W) ndarray of bool
        The objects.
    min_size : int
        Smallest object to keep, in pixels, from 0 to 10**9 (the recipe's range; 0 and 1 keep every object).

    Returns
    -------
    (H, W) ndarray of bool
        ``mask`` itself when nothing can be removed, else a new mask.

    Raises
    ------
    ParameterError
        When ``mask`` is not a 2-D bool array, or ``min_size`` is not a whole number from 0 to 10**9.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((5, 5), bool); mask[0, 0] = True; mask[2:5, 2:5] = True
    >>> int(remove_small_objects(mask, 2).sum())
    9
    """
    mask = check_mask(mask)
    min_size = check_number("min_size", min_size, low=0, high=_SPECS["min_size"].max, integer=True)
    if min_size <= 1 or not mask.any():
        return mask
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.view(np.uint8), connectivity=8,
                                                                ltype=cv2.CV_32S)
    keep = stats[:, cv2.CC_STAT_AREA] >= min_size
    keep[0] = False  # label 0 is the background
    return keep[labels]


def clean_mask(mask: np.ndarray, *, opening: int = 0, closing: int = 0, iterations: int = 1,
               fill_holes: bool = False, min_size: int = 0, clear_border: bool = False) -> np.ndarray:
    """Apply, in this order: opening, closing, hole filling, small-object removal, border clearing.

    Parameters
    ----------
    mask : (H, W) ndarray of bool
        The raw foreground.
    opening, closing : int
        Diameter in pixels of the disc for the morphological opening (removes specks and thin bridges)
        and closing (bridges small gaps), from 0 to 201 (the recipe's range); 0 and 1 skip the step. Both
        run ``iterations`` times (OpenCV).
    iterations : int
        How many times the opening and the closing are applied, from 1 to 20 (the recipe's range).
    fill_holes : bool
        Fill background regions not connected to the image border (SciPy's ``binary_fill_holes``).
    min_size : int
        Remove objects with fewer pixels than this (8-connected), from 0 to 10**9.
    clear_border : bool
        Remove objects touching the image border (scikit-image's ``clear_border``).

    Returns
    -------
    (H, W) ndarray of bool
        A C-contiguous mask (``mask`` itself when no step applies and it already is one).

    Raises
    ------
    ParameterError
        When ``mask`` is not a 2-D bool array, a size or ``iterations`` is not a whole number in its
        range above, or ``fill_holes`` or ``clear_border`` is not a bool.

    Examples
    --------
    >>> import numpy as np
    >>> mask = np.zeros((9, 9), bool); mask[2:7, 2:7] = True; mask[4, 4] = False; mask[0, 8] = True
    >>> int(clean_mask(mask, fill_holes=True, min_size=2).sum())
    25
    """
    mask = check_mask(mask)
    # The checked values are the ones used: OpenCV refuses iterations=2.0 and a float padding.
    opening = check_number("opening", opening, low=0, high=_SPECS["opening"].max, integer=True)
    closing = check_number("closing", closing, low=0, high=_SPECS["closing"].max, integer=True)
    iterations = check_number("iterations", iterations, low=1, high=_SPECS["iterations"].max, integer=True)
    fill_holes = check_flag("fill_holes", fill_holes)
    min_size = check_number("min_size", min_size, low=0, high=_SPECS["min_size"].max, integer=True)
    clear_border = check_flag("clear_border", clear_border)
    mask = np.ascontiguousarray(mask, dtype=bool)
    if opening > 1:
        mask = cv2.morphologyEx(mask.view(np.uint8), cv2.MORPH_OPEN, disc(opening), iterations=iterations).view(bool)
    if closing > 1:
        # Pad so the closing does not glue objects to the image border (OpenCV pads with the maximum).
        pad = closing * iterations
        padded = cv2.copyMakeBorder(mask.view(np.uint8), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        closed = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, disc(closing), iterations=iterations)
        mask = np.ascontiguousarray(closed[pad:-pad, pad:-pad]).view(bool)
    if fill_holes:
        mask = _fill_holes(mask)  # scipy's binary_fill_holes, the same mask (see segmentation._numeric)
    if min_size > 1:
        mask = remove_small_objects(mask, min_size)
    if clear_border:
        mask = _clear_border(mask)
    return mask
