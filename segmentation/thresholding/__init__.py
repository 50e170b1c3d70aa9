"""Thresholding: pre-processing, one function per global and local method, clean-up, and the recipe pipeline.

:func:`threshold` runs a whole :class:`~segmentation.ThresholdRecipe`; the per-method functions take a
single-channel ``uint8``, ``uint16`` or ``float32`` image and can be used on their own. Everything here is
also exported by :mod:`segmentation`.
"""

from ._cleanup import clean_mask, remove_small_objects
from ._global import (
    binarize,
    isodata_threshold,
    li_threshold,
    manual_threshold,
    mean_threshold,
    minimum_threshold,
    multiotsu_mask,
    multiotsu_thresholds,
    otsu_threshold,
    triangle_threshold,
    yen_threshold,
)
from ._local import adaptive_threshold_mask, niblack_surface, sauvola_surface
from ._pipeline import ThresholdResult, threshold
from ._preprocess import (
    Prepared,
    background_shrink_factor,
    extract_channel,
    prepare,
    resolve_polarity,
    smooth,
    subtract_background,
)

__all__ = ["threshold", "ThresholdResult",
           "binarize", "manual_threshold", "otsu_threshold", "triangle_threshold", "li_threshold", "yen_threshold",
           "isodata_threshold", "mean_threshold", "minimum_threshold", "multiotsu_thresholds", "multiotsu_mask",
           "adaptive_threshold_mask", "sauvola_surface", "niblack_surface",
           "extract_channel", "smooth", "resolve_polarity", "subtract_background", "background_shrink_factor",
           "prepare", "Prepared",
           "clean_mask", "remove_small_objects"]
