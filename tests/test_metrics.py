"""Tests for the agreement scores (segmentation.measurement): pixel agreement, pairwise IoU and object F1."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.optimize import linear_sum_assignment

from segmentation import mask_agreement, object_f1, pairwise_iou

small_masks = st.tuples(st.integers(1, 12), st.integers(1, 12)).flatmap(
    lambda shape: st.tuples(arrays(bool, shape), arrays(bool, shape))
)
small_label_pairs = st.tuples(st.integers(1, 14), st.integers(1, 14)).flatmap(
    lambda shape: st.tuples(
        arrays(np.int32, shape, elements=st.integers(0, 5)),
        arrays(np.int32, shape, elements=st.integers(0, 5)),
    )
)


# ----------------------------------------------------------------------------- references
def brute_force_agreement(pred, truth):
    """Pixel sets and the textbook formulas; empty denominators follow the module's convention."""
    p = {tuple(i) for i in np.argwhere(pred)}
    t = {tuple(i) for i in np.argwhere(truth)}
    tp, fp, fn = len(p & t), len(p - t), len(t - p)
    if not p and not t:
        return {"iou": 1.0, "dice": 1.0, "precision": 1.0, "recall": 1.0}
    div = lambda a, b: a / b if b else 0.0  # noqa: E731
    return {"iou": div(tp, tp + fp + fn), "dice": div(2 * tp, 2 * tp + fp + fn),
            "precision": div(tp, tp + fp), "recall": div(tp, tp + fn)}


def brute_force_object_f1(pred, true, threshold):
    """Slow explicit reference: IoU of every object pair from boolean masks, then the largest
    one-to-one set of matches with IoU > threshold (Hungarian assignment on the hit matrix)."""
    pred_ids = [i for i in np.unique(pred) if i]
    true_ids = [j for j in np.unique(true) if j]
    hits = np.zeros((len(pred_ids), len(true_ids)))
    for a, i in enumerate(pred_ids):
        for b, j in enumerate(true_ids):
            p, t = pred == i, true == j
            iou = np.count_nonzero(p & t) / np.count_nonzero(p | t)
            hits[a, b] = iou > threshold
    tp = 0
    if hits.size:
        rows, cols = linear_sum_assignment(hits, maximize=True)
        tp = int(hits[rows, cols].sum())
    return tp, len(pred_ids) - tp, len(true_ids) - tp


# ----------------------------------------------------------------------------- mask_agreement
def test_mask_agreement_hand_checked():
    pred = np.zeros((4, 4), bool)
    pred[0:2, 0:2] = True  # 4 pixels
    truth = np.zeros((4, 4), bool)
    truth[0:2, 0:3] = True  # 6 pixels, 4 shared
    result = mask_agreement(pred, truth)
    assert result == pytest.approx({"iou": 4 / 6, "dice": 8 / 10, "precision": 1.0, "recall": 4 / 6})


def test_mask_agreement_identical_and_disjoint():
    a = np.zeros((5, 5), bool)
    a[1:3] = True
    assert mask_agreement(a, a) == {"iou": 1.0, "dice": 1.0, "precision": 1.0, "recall": 1.0}
    assert mask_agreement(a, ~a) == {"iou": 0.0, "dice": 0.0, "precision": 0.0, "recall": 0.0}


def test_mask_agreement_empty_conventions():
    empty = np.zeros((3, 3), bool)
    full = np.ones((3, 3), bool)
    assert mask_agreement(empty, empty) == {"iou": 1.0, "dice": 1.0, "precision": 1.0, "recall": 1.0}
    assert mask_agreement(empty, full) == {"iou": 0.0, "dice": 0.0, "precision": 0.0, "recall": 0.0}
    assert mask_agreement(full, empty) == {"iou": 0.0, "dice": 0.0, "precision": 0.0, "recall": 0.0}


def test_mask_agreement_rejects_bad_input():
    with pytest.raises(ValueError):
        mask_agreement(np.zeros((3, 3), np.uint8), np.zeros((3, 3), bool))
    with pytest.raises(ValueError, match="shape"):
        mask_agreement(np.zeros((3, 3), bool), np.zeros((3, 4), bool))


@settings(max_examples=60, deadline=None)
@given(pair=small_masks)
def test_mask_agreement_matches_brute_force(pair):
    pred, truth = pair
    assert mask_agreement(pred, truth) == pytest.approx(brute_force_agreement(pred, truth))


# ----------------------------------------------------------------------------- pairwise_iou
def test_pairwise_iou_matches_mask_agreement():
    rng = np.random.default_rng(0)
    masks = {name: rng.random((37, 23)) > p for name, p in (("otsu", 0.3), ("li", 0.5), ("none", 1.0))}
    names, matrix = pairwise_iou(masks)
    assert names == ["otsu", "li", "none"]
    assert matrix.shape == (3, 3) and np.allclose(matrix, matrix.T)
    assert np.all(np.diag(matrix) == 1.0)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            assert matrix[i, j] == pytest.approx(mask_agreement(masks[a], masks[b])["iou"])


def test_pairwise_iou_edge_cases():
    names, matrix = pairwise_iou({})
    assert names == [] and matrix.shape == (0, 0)
    empty = np.zeros((4, 4), bool)
    assert pairwise_iou({"a": empty, "b": empty})[1].tolist() == [[1.0, 1.0], [1.0, 1.0]]
    with pytest.raises(ValueError, match="same shape"):
        pairwise_iou({"a": empty, "b": np.zeros((4, 5), bool)})
    with pytest.raises(ValueError):
        pairwise_iou([empty])


# ----------------------------------------------------------------------------- object_f1
def test_object_f1_hand_checked():
    truth = np.zeros((10, 10), np.int32)
    truth[0:4, 0:4] = 1  # found exactly
    truth[6:10, 6:10] = 2  # found with IoU 12/16 = 0.75
    truth[0:2, 7:9] = 3  # missed
    pred = np.zeros((10, 10), np.int32)
    pred[0:4, 0:4] = 5
    pred[6:10, 7:10] = 9
    pred[7, 0] = 2  # a spurious detection
    result = object_f1(pred, truth)
    assert result == {"f1": pytest.approx(4 / 6), "precision": pytest.approx(2 / 3),
                      "recall": pytest.approx(2 / 3), "tp": 2, "fp": 1, "fn": 1}


def test_object_f1_threshold_is_strict():
    truth = np.zeros((4, 4), np.int32)
    truth[:, :2] = 1
    pred = np.zeros((4, 4), np.int32)
    pred[:, :1] = 1  # IoU exactly 0.5: not a match at 0.5, a match below
    assert object_f1(pred, truth)["tp"] == 0
    assert object_f1(pred, truth, iou_threshold=0.49)["tp"] == 1


def test_object_f1_low_threshold_is_one_to_one():
    truth = np.zeros((4, 8), np.int32)
    truth[:, :8] = 1  # one big true object
    pred = np.zeros((4, 8), np.int32)
    pred[:, :4], pred[:, 4:] = 1, 2  # two halves, each IoU 0.5 with it
    result = object_f1(pred, truth, iou_threshold=0.1)
    assert (result["tp"], result["fp"], result["fn"]) == (1, 1, 0)


def test_object_f1_empty_conventions():
    empty = np.zeros((5, 5), np.int32)
    some = empty.copy()
    some[1:3, 1:3] = 1
    assert object_f1(empty, empty) == {"f1": 1.0, "precision": 1.0, "recall": 1.0, "tp": 0, "fp": 0, "fn": 0}
    assert object_f1(empty, some) == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "tp": 0, "fp": 0, "fn": 1}
    assert object_f1(some, empty) == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "tp": 0, "fp": 1, "fn": 0}


def test_object_f1_accepts_masks_and_label_gaps():
    truth = np.zeros((8, 8), bool)
    truth[0:3, 0:3] = True
    truth[5:8, 5:8] = True
    pred = np.zeros((8, 8), np.int64)
    pred[0:3, 0:3] = 40
    pred[5:8, 5:8] = 1000
    assert object_f1(pred, truth)["tp"] == 2


def test_object_f1_sparse_table_path_agrees():
    rng = np.random.default_rng(1)
    pred = rng.integers(0, 6, (30, 30)).astype(np.int32)
    true = rng.integers(0, 6, (30, 30)).astype(np.int32)
    pred[:15, :15], true[:15, :14] = 3, 4  # a real match among the noise
    dense = object_f1(pred, true)
    # Ids of 5000 and more make the dense table (ids² cells) too large: the sorted sparse path takes over.
    far = object_f1(pred.astype(np.int64) * 5000, true.astype(np.int64) * 5000)
    assert far == dense and dense["tp"] >= 1


@pytest.mark.parametrize("threshold", [-0.1, 1.0, 2])
def test_object_f1_rejects_bad_threshold(threshold):
    with pytest.raises(ValueError):
        object_f1(np.zeros((3, 3), np.int32), np.zeros((3, 3), np.int32), iou_threshold=threshold)


def test_object_f1_rejects_bad_labels():
    with pytest.raises(ValueError):
        object_f1(np.full((3, 3), -1, np.int32), np.zeros((3, 3), np.int32))
    with pytest.raises(ValueError):
        object_f1(np.zeros((3, 3), np.float32), np.zeros((3, 3), np.int32))
    with pytest.raises(ValueError, match="shape"):
        object_f1(np.zeros((3, 3), np.int32), np.zeros((3, 4), np.int32))


@settings(max_examples=60, deadline=None)
@given(pair=small_label_pairs, threshold=st.sampled_from([0.0, 0.2, 0.5, 0.7]))
def test_object_f1_matches_brute_force(pair, threshold):
    pred, true = pair
    result = object_f1(pred, true, iou_threshold=threshold)
    assert (result["tp"], result["fp"], result["fn"]) == brute_force_object_f1(pred, true, threshold)
    tp, fp, fn = result["tp"], result["fp"], result["fn"]
    if tp + fp + fn:
        assert result["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_object_f1_with_sparse_huge_ids_equals_the_compact_numbering():
    pred = np.zeros((30, 30), np.int64)
    pred[2:10, 2:10], pred[15:25, 15:25] = 2**31 - 1, 3
    truth = np.zeros((30, 30), np.int64)
    truth[2:10, 2:11], truth[15:24, 15:25] = 1, 10**12
    compact_pred, compact_truth = (pred > 0) * (1 + (pred == 3)), (truth > 0) * (1 + (truth == 1))
    assert object_f1(pred, truth) == object_f1(compact_pred, compact_truth)
    assert object_f1(pred, truth)["tp"] == 2
