"""Agreement between segmentations: pixel-wise (IoU, Dice, precision, recall) and per object (F1).

Convention for empty inputs, used throughout: a ratio whose denominator is zero means "nothing
to find and nothing found" when both inputs are empty, which is perfect agreement (1.0);
otherwise one side has something the other lacks, which is no agreement (0.0). So two empty
masks compare as identical, and an empty prediction against a non-empty truth scores 0.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from .._checks import check_number
from .._errors import ParameterError
from ..regions import as_labels
from ._table import compact_ids

__all__ = ["mask_agreement", "object_f1", "pairwise_iou"]

# Above this many cells the dense label contingency table is replaced by np.unique on the overlap.
_DENSE_TABLE_LIMIT = 1 << 24


def _ratio(numerator: int, denominator: int, both_empty: bool) -> float:
    if denominator == 0:
        return 1.0 if both_empty else 0.0  # see the module docstring
    return numerator / denominator


def _check_mask(mask: np.ndarray, name: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != bool or mask.ndim != 2:
        raise ParameterError(f"{name} must be a bool H×W mask, got {mask.dtype} of shape {mask.shape}")
    return mask


def mask_agreement(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Pixel-wise agreement of a predicted mask with a reference mask.

    Parameters
    ----------
    pred, truth : (H, W) ndarray of bool
        The predicted and the reference mask (True = object pixel), of the same shape.

    Returns
    -------
    dict of str to float
        ``iou`` (Jaccard, TP / (TP + FP + FN)), ``dice`` (2TP / (2TP + FP + FN)), ``precision``
        (TP / (TP + FP)) and ``recall`` (TP / (TP + FN)), all in [0, 1], from pixel counts.
        Degenerate inputs: a ratio with a zero denominator is 1.0 when both masks are empty (nothing
        to find, nothing found: perfect agreement) and 0.0 otherwise, so two empty masks score 1.0
        everywhere and an empty prediction of a non-empty truth scores 0.0.

    Raises
    ------
    ParameterError
        ``pred`` or ``truth`` is not a 2-D bool array, or their shapes differ.

    References
    ----------
    .. [1] L. R. Dice, "Measures of the amount of ecologic association between species", *Ecology*
       26(3):297–302, 1945. doi:10.2307/1932409
    .. [2] P. Jaccard, "The distribution of the flora in the alpine zone", *New Phytologist*
       11(2):37–50, 1912. doi:10.1111/j.1469-8137.1912.tb05611.x

    Examples
    --------
    >>> a = np.zeros((4, 4), bool); a[:2] = True
    >>> b = np.zeros((4, 4), bool); b[1:3] = True
    >>> mask_agreement(a, b)
    {'iou': 0.3333333333333333, 'dice': 0.5, 'precision': 0.5, 'recall': 0.5}
    """
    pred = _check_mask(pred, "pred")
    truth = _check_mask(truth, "truth")
    if pred.shape != truth.shape:
        raise ParameterError(f"pred shape {pred.shape} differs from truth shape {truth.shape}")
    tp = int(np.count_nonzero(pred & truth))
    n_pred = int(np.count_nonzero(pred))
    n_truth = int(np.count_nonzero(truth))
    fp, fn = n_pred - tp, n_truth - tp
    both_empty = n_pred == 0 and n_truth == 0
    return {
        "iou": _ratio(tp, tp + fp + fn, both_empty),
        "dice": _ratio(2 * tp, 2 * tp + fp + fn, both_empty),
        "precision": _ratio(tp, tp + fp, both_empty),
        "recall": _ratio(tp, tp + fn, both_empty),
    }


def pairwise_iou(masks: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """IoU between every pair of named masks (for comparing methods side by side).

    Parameters
    ----------
    masks : dict of str to (H, W) ndarray of bool
        Name -> mask, all the same shape.

    Returns
    -------
    names : list of str
        The names in the dict's order.
    matrix : (n, n) ndarray of float64
        Symmetric, 1.0 on the diagonal; ``matrix[i, j]`` is the IoU of ``names[i]`` and ``names[j]``.
        Degenerate inputs: two empty masks score 1.0 (as in :func:`mask_agreement`); an empty dict
        gives no names and a 0×0 matrix.

    Raises
    ------
    ParameterError
        ``masks`` is not a dict, a mask is not a 2-D bool array (the message names its key), or the
        shapes differ.

    Examples
    --------
    >>> a = np.zeros((4, 4), bool); a[:2] = True
    >>> names, m = pairwise_iou({"a": a, "b": ~a, "c": a})
    >>> names, m.tolist()
    (['a', 'b', 'c'], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    """
    if not isinstance(masks, dict):
        raise ParameterError(f"masks must be a dict of name -> bool mask, got {type(masks).__name__}")
    names = list(masks)
    checked = [_check_mask(masks[name], f"masks[{name!r}]") for name in names]
    if len({m.shape for m in checked}) > 1:
        shapes = {name: m.shape for name, m in zip(names, checked)}
        raise ParameterError(f"masks: all masks must have the same shape, got {shapes}")
    # Bit-packed masks: each intersection is an AND and a popcount over 1/8 of the bytes.
    packed = [np.packbits(m) for m in checked]
    counts = [int(np.bitwise_count(p).sum()) for p in packed]
    matrix = np.eye(len(names), dtype=np.float64)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            inter = int(np.bitwise_count(packed[i] & packed[j]).sum())
            union = counts[i] + counts[j] - inter
            matrix[i, j] = matrix[j, i] = _ratio(inter, union, union == 0)
    return names, matrix


def _as_labels(labels: np.ndarray, name: str) -> np.ndarray:
    labels = compact_ids(as_labels(labels, name))[0]  # scores do not depend on the ids, tables do on the highest
    return labels.astype(np.int64) if labels.dtype == np.uint64 else labels  # bincount needs intp


def _overlaps(pred: np.ndarray, true: np.ndarray):
    """Sparse contingency table: (pred id, true id, shared pixel count) for every touching pair."""
    both = (pred > 0) & (true > 0)
    p, t = pred[both].astype(np.int64), true[both].astype(np.int64)  # keys can exceed int32
    width = int(true.max()) + 1
    cells = (int(pred.max()) + 1) * width
    keys = p * width + t
    if cells <= _DENSE_TABLE_LIMIT:
        table = np.bincount(keys, minlength=cells)
        keys = np.flatnonzero(table)
        counts = table[keys]
    else:  # huge label ids: a dense table would not fit in memory, sort the overlap instead
        keys, counts = np.unique(keys, return_counts=True)
    return keys // width, keys % width, counts


def object_f1(pred_labels: np.ndarray, true_labels: np.ndarray, *, iou_threshold: float = 0.5) -> dict:
    """Object-level detection score: how many objects were found, one to one.

    A predicted object matches a true object when their IoU is above ``iou_threshold``. For
    thresholds >= 0.5 a match is automatically one to one (two objects cannot both cover more
    than half of the same object's union), so matches are simply counted; below 0.5 the largest
    one-to-one set of matches is found with a maximum bipartite matching.

    Parameters
    ----------
    pred_labels, true_labels : (H, W) ndarray of int or bool
        The predicted and the reference objects: integer label images (0 = background, any
        positive ids, gaps allowed) or bool masks (labelled with 8-connectivity), of the same shape.
    iou_threshold : float
        In [0, 1): the IoU a pair must exceed to match. 0 counts any overlap.

    Returns
    -------
    dict
        ``f1``, ``precision``, ``recall`` (floats in [0, 1]) and the int counts ``tp``, ``fp``
        (unmatched predicted objects), ``fn`` (unmatched true objects). Degenerate inputs: when
        neither image has objects the scores are 1.0 (nothing to find, nothing found); when only one
        has, they are 0.0.

    Raises
    ------
    ParameterError
        A label image is not 2-D, not integer or bool, or holds negative values; the shapes differ;
        or ``iou_threshold`` is not a number in [0, 1).

    References
    ----------
    .. [1] J. C. Caicedo, A. Goodman, K. W. Karhohs et al., "Nucleus segmentation across imaging
       experiments: the 2018 Data Science Bowl", *Nature Methods* 16:1247–1253, 2019.
       doi:10.1038/s41592-019-0612-7 (objects matched at an IoU threshold, F1 per threshold)
    .. [2] U. Schmidt, M. Weigert, C. Broaddus and G. Myers, "Cell detection with star-convex
       polygons", *MICCAI 2018*, LNCS 11071, pp. 265–273, 2018. doi:10.1007/978-3-030-00934-2_30

    Examples
    --------
    >>> truth = np.zeros((8, 8), np.int32); truth[:3, :3] = 1; truth[5:, 5:] = 2
    >>> pred = np.zeros((8, 8), np.int32); pred[:3, :3] = 7; pred[0, 6] = 3
    >>> object_f1(pred, truth)
    {'f1': 0.5, 'precision': 0.5, 'recall': 0.5, 'tp': 1, 'fp': 1, 'fn': 1}
    """
    pred = _as_labels(pred_labels, "pred_labels")
    true = _as_labels(true_labels, "true_labels")
    if pred.shape != true.shape:
        raise ParameterError(f"pred_labels shape {pred.shape} differs from true_labels shape {true.shape}")
    iou_threshold = check_number("iou_threshold", iou_threshold)  # a finite number
    if not 0.0 <= iou_threshold < 1.0:  # no IoU exceeds 1, so at 1 nothing could ever match
        raise ParameterError(f"iou_threshold must be in [0, 1), got {iou_threshold!r}")

    pred_area = np.bincount(pred.ravel()) if pred.size else np.zeros(1, np.int64)
    true_area = np.bincount(true.ravel()) if true.size else np.zeros(1, np.int64)
    n_pred = int(np.count_nonzero(pred_area[1:]))  # ids present (numbering may have gaps)
    n_true = int(np.count_nonzero(true_area[1:]))

    tp = 0
    if n_pred and n_true:
        p_ids, t_ids, inter = _overlaps(pred, true)
        iou = inter / (pred_area[p_ids] + true_area[t_ids] - inter)
        hit = iou > iou_threshold
        if iou_threshold >= 0.5:
            tp = int(np.count_nonzero(hit))
        else:
            graph = csr_matrix((np.ones(int(hit.sum())), (p_ids[hit], t_ids[hit])),
                               shape=(len(pred_area), len(true_area)))
            tp = int(np.count_nonzero(maximum_bipartite_matching(graph, perm_type="column") >= 0))
    fp, fn = n_pred - tp, n_true - tp
    both_empty = n_pred == 0 and n_true == 0
    return {
        "f1": _ratio(2 * tp, 2 * tp + fp + fn, both_empty),
        "precision": _ratio(tp, tp + fp, both_empty),
        "recall": _ratio(tp, tp + fn, both_empty),
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }
