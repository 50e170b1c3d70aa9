"""Object-by-object scoring against the truth: one-to-one matches by IoU at several thresholds.

The evaluation of the 2018 Data Science Bowl and of StarDist: every true object is paired with at most
one predicted object and vice versa (an optimal assignment, the Hungarian method), a pair counts as a
match at threshold ``t`` when its IoU is at least ``t``, and the counts of matched, missed and false
objects give precision, recall, F1 and the DSB "average precision" TP / (TP + FP + FN) per threshold.

The IoU of every touching pair comes from a sparse contingency table of the two label images (one count
per pair of ids that share a pixel), never from one mask per object.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .._checks import check_number, check_same_shape
from .._errors import ParameterError
from ..regions import as_labels
from ._agreement import _ratio
from ._table import compact_ids

__all__ = ["ObjectScores", "score_objects"]

#: The DSB 2018 thresholds 0.5, 0.55, ..., 0.95 as decimal literals (np.arange gives 0.6000000000000001).
_DSB_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)

#: The columns of :meth:`ObjectScores.to_records` and :meth:`ObjectScores.to_csv`, in order.
_COLUMNS = ("threshold", "tp", "fp", "fn", "precision", "recall", "f1", "ap", "mean_matched_iou",
            "n_true", "n_pred", "merges", "splits")

# A dense contingency table (np.bincount over pair keys) is used while it has at most this many cells or
# four times the overlapping pixels; beyond, the pairs are sorted (np.unique), so memory stays O(pixels).
_DENSE_CELLS = 1 << 16


def _ids(values) -> tuple[int, ...]:
    return tuple(int(v) for v in values)


@dataclass(frozen=True)
class ObjectScores:
    """The result of :func:`score_objects`: object-level scores per IoU threshold, and per-object errors.

    The per-threshold tuples are aligned with ``thresholds``. Ratios with a zero denominator follow the
    library's convention (see :func:`score_objects`): 1.0 when neither image has an object, else 0.0.

    Attributes
    ----------
    thresholds : tuple of float
        The IoU thresholds, in the order given; a pair with IoU >= threshold can match.
    tp, fp, fn : tuple of int
        Per threshold: matched pairs; predicted objects left unmatched (false positives); true objects
        left unmatched (missed, false negatives). ``tp + fp == n_pred`` and ``tp + fn == n_true``.
    mean_matched_iou : tuple of float
        Per threshold: the mean IoU of the matched pairs (StarDist's ``mean_matched_score``); NaN when
        nothing matched (StarDist reports 0.0 there).
    n_true, n_pred : int
        The number of true and of predicted objects.
    status_threshold : float
        The IoU threshold at which ``matched``, ``missed_ids`` and ``false_ids`` were found.
    matched : tuple of (int, int)
        ``(true id, predicted id)`` of every matched pair at ``status_threshold``, by true id.
    missed_ids : tuple of int
        Ids of the true objects unmatched at ``status_threshold``, increasing.
    false_ids : tuple of int
        Ids of the predicted objects unmatched at ``status_threshold``, increasing.
    merged_ids : tuple of int
        Ids of the predicted objects that cover two or more true objects (merges; see
        :func:`score_objects` for "cover"), increasing.
    split_ids : tuple of int
        Ids of the true objects that cover two or more predicted objects (splits), increasing.
    precision, recall, f1, ap : tuple of float
        Per threshold (properties): TP / (TP + FP), TP / (TP + FN), 2TP / (2TP + FP + FN) and the DSB 2018
        "average precision" of an image at one threshold, TP / (TP + FP + FN).
    mean_f1, mean_ap : float
        The F1 and the AP averaged over the thresholds (properties); over the default thresholds
        0.5–0.95, ``mean_ap`` is an image's DSB 2018 score.
    merges, splits : int
        ``len(merged_ids)`` and ``len(split_ids)`` (properties).

    Raises
    ------
    ParameterError
        The per-threshold tuples differ in length or are empty, or the counts do not add up to
        ``n_true`` and ``n_pred``.

    Examples
    --------
    >>> s = ObjectScores((0.5, 0.9), tp=(2, 1), fp=(1, 2), fn=(0, 1), mean_matched_iou=(0.85, 0.95),
    ...                  n_true=2, n_pred=3)
    >>> s.precision, s.ap, s.mean_ap
    ((0.6666666666666666, 0.3333333333333333), (0.6666666666666666, 0.25), 0.4583333333333333)
    >>> s.to_records()[1]["f1"]
    0.4
    """

    thresholds: tuple[float, ...]
    tp: tuple[int, ...]
    fp: tuple[int, ...]
    fn: tuple[int, ...]
    mean_matched_iou: tuple[float, ...]
    n_true: int
    n_pred: int
    status_threshold: float = 0.5
    matched: tuple[tuple[int, int], ...] = ()
    missed_ids: tuple[int, ...] = ()
    false_ids: tuple[int, ...] = ()
    merged_ids: tuple[int, ...] = ()
    split_ids: tuple[int, ...] = ()

    def __post_init__(self):
        per_threshold = {"thresholds": tuple(float(t) for t in self.thresholds), "tp": _ids(self.tp),
                         "fp": _ids(self.fp), "fn": _ids(self.fn),
                         "mean_matched_iou": tuple(float(v) for v in self.mean_matched_iou)}
        lengths = {name: len(values) for name, values in per_threshold.items()}
        if len(set(lengths.values())) != 1 or not lengths["thresholds"]:
            raise ParameterError(f"thresholds, tp, fp, fn and mean_matched_iou must have the same length, at "
                                 f"least 1; got {lengths}")
        n_true, n_pred = int(self.n_true), int(self.n_pred)
        if any(tp + fn != n_true or tp + fp != n_pred for tp, fp, fn in
               zip(per_threshold["tp"], per_threshold["fp"], per_threshold["fn"])):
            raise ParameterError(f"tp + fn must equal n_true ({n_true}) and tp + fp must equal n_pred ({n_pred}) "
                                 f"at every threshold")
        for name, value in per_threshold.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "n_true", n_true)
        object.__setattr__(self, "n_pred", n_pred)
        object.__setattr__(self, "status_threshold", float(self.status_threshold))
        object.__setattr__(self, "matched", tuple((int(t), int(p)) for t, p in self.matched))
        for name in ("missed_ids", "false_ids", "merged_ids", "split_ids"):
            object.__setattr__(self, name, _ids(getattr(self, name)))

    def _scores(self, numerator: int, extra_fp: int, extra_fn: int) -> tuple[float, ...]:
        both_empty = self.n_true == 0 and self.n_pred == 0
        return tuple(_ratio(numerator * tp, numerator * tp + extra_fp * fp + extra_fn * fn, both_empty)
                     for tp, fp, fn in zip(self.tp, self.fp, self.fn))

    @property
    def precision(self) -> tuple[float, ...]:
        """TP / (TP + FP) per threshold: the share of predicted objects that match a true one."""
        return self._scores(1, 1, 0)

    @property
    def recall(self) -> tuple[float, ...]:
        """TP / (TP + FN) per threshold: the share of true objects that were found."""
        return self._scores(1, 0, 1)

    @property
    def f1(self) -> tuple[float, ...]:
        """2TP / (2TP + FP + FN) per threshold."""
        return self._scores(2, 1, 1)

    @property
    def ap(self) -> tuple[float, ...]:
        """TP / (TP + FP + FN) per threshold: the DSB 2018 "average precision" at one threshold."""
        return self._scores(1, 1, 1)

    @property
    def mean_f1(self) -> float:
        """F1 averaged over the thresholds."""
        return math.fsum(self.f1) / len(self.thresholds)

    @property
    def mean_ap(self) -> float:
        """AP averaged over the thresholds (the DSB 2018 score of an image over 0.5–0.95)."""
        return math.fsum(self.ap) / len(self.thresholds)

    @property
    def merges(self) -> int:
        """The number of predicted objects that cover two or more true objects."""
        return len(self.merged_ids)

    @property
    def splits(self) -> int:
        """The number of true objects that cover two or more predicted objects."""
        return len(self.split_ids)

    def to_records(self) -> list[dict]:
        """One dict per threshold with plain Python values, keys in the order of :meth:`to_csv`'s columns."""
        columns = (self.thresholds, self.tp, self.fp, self.fn, self.precision, self.recall, self.f1, self.ap,
                   self.mean_matched_iou)
        return [dict(zip(_COLUMNS, (*row, self.n_true, self.n_pred, self.merges, self.splits)))
                for row in zip(*columns)]

    def to_csv(self) -> str:
        """The table as CSV text: a header line, then one line per threshold.

        Columns: ``threshold``, ``tp``, ``fp``, ``fn``, ``precision``, ``recall``, ``f1``, ``ap``,
        ``mean_matched_iou``, then ``n_true``, ``n_pred``, ``merges`` and ``splits`` (the same on every line).
        Integers are written as integers, floats with up to 10 significant digits, and NaN (the mean IoU
        when nothing matched) as an empty field, as :meth:`MeasurementTable.to_csv` does.
        """
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(_COLUMNS)
        for record in self.to_records():
            writer.writerow([str(v) if isinstance(v, int) else "" if math.isnan(v) else f"{v:.10g}"
                             for v in record.values()])
        return buffer.getvalue()


def _labels_of(image, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Checked labels (a bool mask's 8-connected objects), renumbered when the ids run past the pixel count.

    Tables indexed by id (areas by ``np.bincount``) grow with the highest id, so one object numbered 2**40
    would need terabytes; :func:`compact_ids` renumbers such images 1..N (order kept) and returns the ids
    as given, which the result reports.
    """
    labels, ids = compact_ids(as_labels(image, name))
    if labels.dtype == np.uint64:
        labels = labels.astype(np.int64)  # values below the pixel count here; bincount refuses uint64
    return labels, ids


def _original(indices: np.ndarray, ids: np.ndarray | None) -> tuple[int, ...]:
    return _ids((indices if ids is None else ids[indices]).tolist())


def _contingency(true: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sparse contingency table: (true id, predicted id, shared pixels) of every pair sharing a pixel."""
    both = (true > 0) & (pred > 0)
    t, p = true[both].astype(np.int64), pred[both].astype(np.int64)  # the keys can exceed int32
    if not t.size:
        empty = np.zeros(0, np.int64)
        return empty, empty, empty
    width = int(p.max()) + 1
    keys = t * width + p
    if (int(t.max()) + 1) * width <= max(_DENSE_CELLS, 4 * keys.size):
        table = np.bincount(keys)
        keys = np.flatnonzero(table)
        counts = table[keys]
    else:  # many objects, few shared pixels: a dense table would be mostly zeros, sort the keys instead
        # Row-major pixels come in runs of one pair (an object's row): sort one key per run, not per pixel.
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        lengths = np.diff(np.append(starts, keys.size))
        keys, which = np.unique(keys[starts], return_inverse=True)
        counts = np.bincount(which, weights=lengths)  # float64 sums of whole numbers below 2**53: exact
    return keys // width, keys % width, counts.astype(np.int64)


def _assign(true: np.ndarray, pred: np.ndarray, iou: np.ndarray) -> np.ndarray:
    """Positions (into the given pairs) of a largest one-to-one set of them with the largest total IoU.

    The pairs split into connected components of the bipartite graph (objects joined by a pair); the
    matching of one component is independent of the others, so each is solved on its own dense matrix
    rather than one n_true × n_pred matrix (10 000 objects would need 800 MB). A component holds a few
    objects, more only at low thresholds in crowded images, where overlaps chain objects together.
    """
    rows, true_local = np.unique(true, return_inverse=True)
    _, pred_local = np.unique(pred, return_inverse=True)
    n_rows = len(rows)
    n_nodes = n_rows + int(pred_local.max()) + 1
    graph = coo_matrix((np.ones(len(true)), (true_local, n_rows + pred_local)), shape=(n_nodes, n_nodes))
    component = connected_components(graph, directed=False)[1][true_local]
    order = np.argsort(component, kind="stable")
    chosen = []
    for group in np.split(order, np.flatnonzero(np.diff(component[order])) + 1):
        r_ids, r = np.unique(true_local[group], return_inverse=True)
        c_ids, c = np.unique(pred_local[group], return_inverse=True)
        # Weight 1 + IoU / (2k) per pair (k = the most pairs a matching can hold), 0 elsewhere: k IoU
        # bonuses add up to at most 0.5, so a larger matching always outweighs a smaller one and, among
        # the largest, the total IoU decides (StarDist's cost with the IoU as tie-breaker).
        k = min(len(r_ids), len(c_ids))
        weight = np.zeros((len(r_ids), len(c_ids)))
        weight[r, c] = 1.0 + iou[group] / (2 * k)
        position = np.full(weight.shape, -1)
        position[r, c] = group
        picked = position[linear_sum_assignment(weight, maximize=True)]
        chosen.append(picked[picked >= 0])  # a cell without a pair is no match
    return np.concatenate(chosen)


def _match(true: np.ndarray, pred: np.ndarray, iou: np.ndarray, threshold: float) -> np.ndarray:
    """Sorted positions of the matched pairs at ``threshold``: as many pairs with IoU >= it as possible."""
    # IoU is inter / union in float64, rounded once. For a threshold a/b written with few digits, an IoU
    # that differs from it differs by at least 1/(b·union), far more than the rounding: so `>=` below
    # decides as exact fractions would (an IoU of exactly 1/2 matches at 0.5).
    candidates = np.flatnonzero(iou >= threshold)
    if not candidates.size:
        return candidates
    t, p = true[candidates], pred[candidates]
    # A pair whose two objects have no other candidate is in every largest matching: take it directly.
    # For thresholds above 0.5 that is every pair (two objects cannot each share more than half the union
    # with the same object); only 0.5 itself (an object split exactly in halves) and lower thresholds
    # leave components for the assignment.
    alone = (np.bincount(t)[t] == 1) & (np.bincount(p)[p] == 1)
    if alone.all():
        return candidates
    rest = np.flatnonzero(~alone)
    solved = rest[_assign(t[rest], p[rest], iou[candidates[rest]])]
    return np.sort(np.concatenate((candidates[alone], candidates[solved])))


def _thresholds(thresholds) -> tuple[float, ...]:
    if isinstance(thresholds, np.ndarray) and thresholds.ndim == 0:
        thresholds = thresholds[()]  # a 0-d array is one number
    if isinstance(thresholds, np.ndarray) and thresholds.ndim > 1:
        raise ParameterError(f"thresholds must be a number or a 1-D sequence of numbers in (0, 1]; got an array "
                             f"of shape {thresholds.shape}")
    if isinstance(thresholds, (list, tuple, range, np.ndarray)):
        values = tuple(check_number(f"thresholds[{i}]", t, low=0, high=1, low_open=True)
                       for i, t in enumerate(thresholds))
        if not values:
            raise ParameterError("thresholds must hold at least one IoU threshold in (0, 1]; got none")
        return values
    return (check_number("thresholds", thresholds, low=0, high=1, low_open=True),)


def score_objects(truth: np.ndarray, labels: np.ndarray, thresholds=_DSB_THRESHOLDS, *,
                  status_threshold: float = 0.5) -> ObjectScores:
    """Score predicted objects against the true ones, object by object, at several IoU thresholds.

    Each true object is paired with at most one predicted object and each predicted object with at most
    one true object. At a threshold ``t`` a pair can match when its IoU (shared pixels / pixels of
    either) is **at least** ``t`` (``>=``, as StarDist's ``matching``; :func:`object_f1` counts IoU
    strictly above its threshold, so the two differ only for a pair with an IoU of exactly 0.5). Among
    all one-to-one sets of such pairs the largest is taken, and among the largest the one with the
    highest total IoU: an optimal assignment (Hungarian method, ``scipy.optimize.linear_sum_assignment``),
    as in the StarDist and DSB 2018 evaluations. From 0.5 upwards the matching is unique except for
    exact halves; below 0.5 the assignment matters.

    Parameters
    ----------
    truth : (H, W) ndarray of int or bool
        The true objects: an integer label image (0 = background, objects any positive ids, gaps
        allowed, any integer dtype) or a bool mask, whose 8-connected components are the objects (as
        :func:`label_objects` numbers them).
    labels : (H, W) ndarray of int or bool
        The predicted objects, in the same form and of the same shape as ``truth``.
    thresholds : float or sequence of float
        IoU thresholds in (0, 1], each scored on its own, kept in the order given. The default is the
        DSB 2018 set 0.5, 0.55, ..., 0.95.
    status_threshold : float
        In (0, 1]: the IoU threshold for the per-object results (``matched``, ``missed_ids``,
        ``false_ids``), for example to draw the errors over an image.

    Returns
    -------
    ObjectScores
        Per threshold ``tp`` (matched pairs), ``fp`` (predicted objects unmatched), ``fn`` (true objects
        unmatched), ``precision``, ``recall``, ``f1``, ``ap`` = TP / (TP + FP + FN) and
        ``mean_matched_iou``; ``n_true``, ``n_pred``; the per-object results at ``status_threshold``;
        ``merged_ids`` and ``split_ids``; ``to_records()`` and ``to_csv()`` give it as a table.

        *Cover, merge, split* (independent of the thresholds): an object A covers an object B of the
        other image when more than half of B's pixels lie in A (2 |A ∩ B| > |B|), so each object is covered
        by at most one. A **merge** is a predicted object that covers two or more true objects; a
        **split** is a true object that covers two or more predicted objects (each more than half inside
        it). All ids are those of the inputs (of :func:`label_objects` for a bool mask).

        Degenerate inputs: a ratio whose denominator is zero is 1.0 when neither image has an object
        (nothing to find, nothing found: the convention of :func:`object_f1` and :func:`mask_agreement`)
        and 0.0 otherwise, so an empty prediction of a non-empty truth scores 0.0, as does any image where
        nothing matches. StarDist's ``matching`` reports 0 when neither image has an object (its ratios
        are 0 whenever TP is 0). ``mean_matched_iou`` is NaN where nothing matched (StarDist: 0.0).

    Raises
    ------
    ParameterError
        ``truth`` or ``labels`` is not a 2-D integer or bool array or holds negative values; their shapes
        differ; a threshold or ``status_threshold`` is not a number in (0, 1] (0 would match objects that
        do not touch); ``thresholds`` is empty or not a number or a 1-D sequence of numbers.

    References
    ----------
    .. [1] J. C. Caicedo, A. Goodman, K. W. Karhohs et al., "Nucleus segmentation across imaging
       experiments: the 2018 Data Science Bowl", *Nature Methods* 16:1247–1253, 2019.
       doi:10.1038/s41592-019-0612-7 (one-to-one matches at IoU 0.5–0.95, TP / (TP + FP + FN))
    .. [2] U. Schmidt, M. Weigert, C. Broaddus and G. Myers, "Cell detection with star-convex
       polygons", *MICCAI 2018*, LNCS 11071, pp. 265–273, 2018. doi:10.1007/978-3-030-00934-2_30
       (``stardist.matching``: IoU >= threshold, optimal assignment, mean matched score)
    .. [3] H. W. Kuhn, "The Hungarian method for the assignment problem", *Naval Research Logistics
       Quarterly* 2(1–2):83–97, 1955. doi:10.1002/nav.3800020109

    Examples
    --------
    Three true nuclei; the prediction finds the first (12 of its 16 pixels: IoU 0.75) and merges the
    other two into one object:

    >>> truth = np.zeros((6, 13), np.int32)
    >>> truth[1:5, 1:5] = 1; truth[1:5, 7:9] = 2; truth[1:5, 10:12] = 3
    >>> labels = np.zeros_like(truth)
    >>> labels[1:5, 1:4] = 5; labels[1:5, 7:12] = 9
    >>> s = score_objects(truth, labels, thresholds=(0.5, 0.75, 0.9))
    >>> s.tp, s.fp, s.fn, s.mean_matched_iou
    ((1, 1, 0), (1, 1, 2), (2, 2, 3), (0.75, 0.75, nan))
    >>> s.f1, s.ap
    ((0.4, 0.4, 0.0), (0.25, 0.25, 0.0))
    >>> s.matched, s.missed_ids, s.false_ids, s.merged_ids, s.split_ids
    (((1, 5),), (2, 3), (9,), (9,), ())
    >>> print(s.to_csv().splitlines()[0]); print(s.to_csv().splitlines()[3])
    threshold,tp,fp,fn,precision,recall,f1,ap,mean_matched_iou,n_true,n_pred,merges,splits
    0.9,0,2,3,0,0,0,0,,3,2,1,0
    """
    true, true_ids = _labels_of(truth, "truth")
    pred, pred_ids = _labels_of(labels, "labels")
    check_same_shape("labels", pred, "truth", true.shape)
    thresholds = _thresholds(thresholds)
    status_threshold = check_number("status_threshold", status_threshold, low=0, high=1, low_open=True)

    true_area = np.bincount(true.ravel(), minlength=1)  # minlength: an image of 0 pixels has no objects
    pred_area = np.bincount(pred.ravel(), minlength=1)
    true_present = np.flatnonzero(true_area[1:]) + 1  # ids present (the numbering may have gaps)
    pred_present = np.flatnonzero(pred_area[1:]) + 1
    n_true, n_pred = len(true_present), len(pred_present)

    t, p, inter = _contingency(true, pred)
    iou = inter / (true_area[t] + pred_area[p] - inter)

    tp, mean_iou = [], []
    for threshold in thresholds:
        matched = _match(t, p, iou, threshold)
        tp.append(len(matched))
        # no matched pair, no mean: NaN rather than StarDist's 0.0, which reads as a (bad) score
        mean_iou.append(float(np.mean(iou[matched])) if len(matched) else math.nan)

    status = _match(t, p, iou, status_threshold)
    by_true = status[np.argsort(t[status], kind="stable")]
    covers_true = 2 * inter > true_area[t]  # the predicted object holds more than half of the true one
    covers_pred = 2 * inter > pred_area[p]  # the true object holds more than half of the predicted one
    merged = np.flatnonzero(np.bincount(p[covers_true], minlength=1) >= 2)
    split = np.flatnonzero(np.bincount(t[covers_pred], minlength=1) >= 2)
    return ObjectScores(
        thresholds=thresholds,
        tp=tuple(tp),
        fp=tuple(n_pred - m for m in tp),
        fn=tuple(n_true - m for m in tp),
        mean_matched_iou=tuple(mean_iou),
        n_true=n_true,
        n_pred=n_pred,
        status_threshold=status_threshold,
        matched=tuple(zip(_original(t[by_true], true_ids), _original(p[by_true], pred_ids))),
        missed_ids=_original(np.setdiff1d(true_present, t[status]), true_ids),
        false_ids=_original(np.setdiff1d(pred_present, p[status]), pred_ids),
        merged_ids=_original(merged, pred_ids),
        split_ids=_original(split, true_ids),
    )
