"""Measuring objects (one row per object, in pixels or physical units) and scoring masks and labels.

Everything here is also exported by :mod:`segmentation`.
"""

from ._agreement import mask_agreement, object_f1, pairwise_iou
from ._scoring import ObjectScores, score_objects
from ._table import MeasurementTable, measure, unit_suffix

__all__ = ["MeasurementTable", "measure", "unit_suffix", "mask_agreement", "object_f1", "pairwise_iou",
           "score_objects", "ObjectScores"]
