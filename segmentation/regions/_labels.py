"""Label images: objects of a mask as labels, and checking label images given to us."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["label_objects", "as_labels"]


def label_objects(mask: np.ndarray, connectivity: int = 8) -> np.ndarray:
    """The 4- or 8-connected objects of a bool mask as int32 labels 1..N (OpenCV).

    Examples
    --------
    >>> mask = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], bool)
    >>> int(label_objects(mask).max()), int(label_objects(mask, 4).max())
    (1, 2)
    """
    mask = np.ascontiguousarray(mask, dtype=bool)
    if mask.size == 0:
        return np.zeros(mask.shape, np.int32)
    return cv2.connectedComponents(mask.view(np.uint8), connectivity=connectivity, ltype=cv2.CV_32S)[1]


def as_labels(labels: np.ndarray, name: str = "labels") -> np.ndarray:
    """A label image as given, or a bool mask's 8-connected objects; refuses anything else plainly."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"{name} must be a 2-D label image or bool mask, got shape {labels.shape}")
    if labels.dtype == bool:
        return label_objects(labels)  # a mask: its objects are the 8-connected components
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integer labels or a bool mask, got dtype {labels.dtype}")
    if labels.size and labels.min() < 0:
        raise ValueError(f"{name} must not contain negative values (0 is background, objects 1..N)")
    return labels
