"""Label images: objects of a mask as labels, and checking label images given to us."""

from __future__ import annotations

import cv2
import numpy as np

from .._checks import check_connectivity, check_mask
from .._errors import ParameterError

__all__ = ["label_objects", "as_labels"]


def label_objects(mask: np.ndarray, connectivity: int = 8) -> np.ndarray:
    """The 4- or 8-connected objects of a bool mask as int32 labels 1..N (OpenCV).

    Parameters
    ----------
    mask : (H, W) ndarray of bool
        True = object pixel. An empty (0-pixel) mask is allowed.
    connectivity : {4, 8}
        Which neighbours join two pixels into one object: the 4 sharing an edge, or the 8 sharing an
        edge or a corner.

    Returns
    -------
    (H, W) ndarray of int32
        0 = background, objects numbered 1..N (in OpenCV's scan order). An empty mask gives an empty
        label image.

    Raises
    ------
    ParameterError
        ``mask`` is not a 2-D bool array, or ``connectivity`` is not 4 or 8 (for example 6, a 3-D
        neighbourhood).

    Examples
    --------
    >>> mask = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0]], bool)
    >>> int(label_objects(mask).max()), int(label_objects(mask, 4).max())
    (1, 2)
    """
    mask = np.ascontiguousarray(check_mask(mask))
    connectivity = check_connectivity(connectivity)
    if mask.size == 0:
        return np.zeros(mask.shape, np.int32)  # OpenCV refuses empty arrays; no pixels, no objects
    return cv2.connectedComponents(mask.view(np.uint8), connectivity=connectivity, ltype=cv2.CV_32S)[1]


def as_labels(labels: np.ndarray, name: str = "labels") -> np.ndarray:
    """A label image as given, or a bool mask's 8-connected objects; refuses anything else plainly.

    Parameters
    ----------
    labels : (H, W) ndarray of int or bool
        Integer labels (0 = background, objects any positive ids, gaps allowed) or a bool mask.
    name : str
        The caller's parameter name, used in error messages.

    Returns
    -------
    (H, W) ndarray of int
        ``labels`` itself when it is an integer label image (no copy), or :func:`label_objects` of a
        bool mask (int32, 8-connected).

    Raises
    ------
    ParameterError
        ``labels`` is not 2-D, not of an integer or bool dtype, or holds negative values; the message
        names ``name``.

    Examples
    --------
    >>> as_labels(np.array([[True, False, True]])).tolist()
    [[1, 0, 2]]
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ParameterError(f"{name} must be a 2-D label image or bool mask, got shape {labels.shape}")
    if labels.dtype == bool:
        return label_objects(labels)  # a mask: its objects are the 8-connected components
    if labels.dtype.kind not in "iu":
        raise ParameterError(f"{name} must be integer labels or a bool mask, got dtype {labels.dtype}")
    if labels.dtype.kind == "i" and labels.size and labels.min() < 0:
        raise ParameterError(f"{name} must not contain negative values (0 is background, objects 1..N)")
    return labels
