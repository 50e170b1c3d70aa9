"""Segmentation Studio's library: thresholding and marker-based watershed over OpenCV and scikit-image.

Pure numpy in, numpy and small result objects out; it never imports Streamlit. Images are ``H×W``
grayscale or ``H×W×3`` RGB (never BGR) arrays of ``uint8``, ``uint16`` or ``float32``; masks are
``bool``; labels are ``int32`` with 0 = background and objects numbered 1..N.

>>> import segmentation as seg
>>> from skimage import data
>>> seg.threshold(data.camera(), "otsu").thresholds
(102.0,)
>>> seg.watershed(data.coins()).count
24
"""

from .errors import ImageLoadError, SegmentationError
from .io import ImageInfo, encode_labels, encode_png, load_image
from .measure import MeasurementTable, measure
from .metrics import mask_agreement, object_f1, pairwise_iou
from .recipes import (GLOBAL_METHODS, LOCAL_METHODS, METHODS, ThresholdRecipe, WatershedRecipe,
                      recipe_from_json)
from .thresholding import ThresholdResult, threshold
from .render import boundary_overlay, colorize_labels, display_image, downscale, mask_image
from .watershed import WatershedResult, watershed

__version__ = "0.1.0"

__all__ = [
    "ImageLoadError", "SegmentationError",
    "METHODS", "GLOBAL_METHODS", "LOCAL_METHODS", "ThresholdRecipe", "WatershedRecipe", "recipe_from_json",
    "threshold", "ThresholdResult", "watershed", "WatershedResult",
    "load_image", "ImageInfo", "encode_png", "encode_labels",
    "measure", "MeasurementTable", "mask_agreement", "pairwise_iou", "object_f1",
    "display_image", "mask_image", "colorize_labels", "boundary_overlay", "downscale",
]
