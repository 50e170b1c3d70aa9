"""Tests for segmentation.score_objects: object-by-object scores at IoU thresholds (DSB 2018 / StarDist).

The answers come from hand-built label images and from an independent reference written differently:
IoU of every pair from boolean masks with explicit loops, held as exact fractions and compared with the
thresholds as exact decimals, then an exhaustive search over one-to-one sets of matches (largest set,
then largest total IoU) instead of an assignment solver.
"""

import dataclasses
import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import segmentation as seg
from segmentation import ObjectScores, ParameterError, label_objects, object_f1, score_objects

DSB = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


# ----------------------------------------------------------------------------- the independent reference
def reference_pairs(truth, pred):
    """{(true id, predicted id): IoU as a Fraction} for every pair sharing a pixel, with explicit loops."""
    ious = {}
    for t in np.unique(truth):
        if t == 0:
            continue
        t_mask = truth == t
        for p in np.unique(pred[t_mask]):
            if p == 0:
                continue
            p_mask = pred == p
            ious[(int(t), int(p))] = Fraction(int(np.count_nonzero(t_mask & p_mask)),
                                              int(np.count_nonzero(t_mask | p_mask)))
    return ious


def reference_best(ious, threshold):
    """Exhaustive search: the one-to-one set of pairs with IoU >= threshold, largest first, then the
    largest total IoU. Returns (count, total IoU, pairs)."""
    limit = Fraction(str(threshold))  # the decimal as written: an IoU of exactly 11/20 matches at 0.55
    candidates = {}
    for (t, p), value in ious.items():
        if value >= limit:
            candidates.setdefault(t, []).append((p, value))
    trues = sorted(candidates)
    best = [0, Fraction(0), ()]

    def search(i, used, count, total, pairs):
        if count + (len(trues) - i) < best[0]:
            return  # cannot become larger
        if i == len(trues):
            if (count, total) > (best[0], best[1]):
                best[:] = [count, total, pairs]
            return
        t = trues[i]
        for p, value in candidates[t]:
            if p not in used:
                search(i + 1, used | {p}, count + 1, total + value, pairs + ((t, p),))
        search(i + 1, used, count, total, pairs)

    search(0, frozenset(), 0, Fraction(0), ())
    return tuple(best)


def reference_merges_splits(truth, pred):
    """Predicted ids holding more than half of two or more true objects; true ids holding more than half
    of two or more predicted objects."""
    merges, splits = [], []
    true_ids = [int(t) for t in np.unique(truth) if t]
    pred_ids = [int(p) for p in np.unique(pred) if p]
    shared = {(t, p): np.count_nonzero((truth == t) & (pred == p)) for t in true_ids for p in pred_ids}
    for p in pred_ids:
        covered = [t for t in true_ids if 2 * shared[t, p] > np.count_nonzero(truth == t)]
        if len(covered) >= 2:
            merges.append(p)
    for t in true_ids:
        covered = [p for p in pred_ids if 2 * shared[t, p] > np.count_nonzero(pred == p)]
        if len(covered) >= 2:
            splits.append(t)
    return tuple(merges), tuple(splits)


def check_against_reference(truth, pred, thresholds, status_threshold=0.5):
    result = score_objects(truth, pred, thresholds, status_threshold=status_threshold)
    ious = reference_pairs(truth, pred)
    true_ids = [int(t) for t in np.unique(truth) if t]
    pred_ids = [int(p) for p in np.unique(pred) if p]
    assert (result.n_true, result.n_pred) == (len(true_ids), len(pred_ids))
    for i, threshold in enumerate(thresholds):
        count, total, _ = reference_best(ious, threshold)
        assert result.tp[i] == count, threshold
        assert result.fp[i] == len(pred_ids) - count and result.fn[i] == len(true_ids) - count
        if count:
            assert result.mean_matched_iou[i] == pytest.approx(float(total / count), abs=1e-12)
        else:
            assert math.isnan(result.mean_matched_iou[i])
    # the per-object status: a valid best matching at status_threshold, and everything else unmatched
    count, total, _ = reference_best(ious, status_threshold)
    matched = result.matched
    assert len(matched) == count
    assert len({t for t, _ in matched}) == len({p for _, p in matched}) == count
    assert all(ious[pair] >= Fraction(str(status_threshold)) for pair in matched)
    assert sum(ious[pair] for pair in matched) == total  # exactly the best total (fractions)
    assert result.missed_ids == tuple(sorted(set(true_ids) - {t for t, _ in matched}))
    assert result.false_ids == tuple(sorted(set(pred_ids) - {p for _, p in matched}))
    assert (result.merged_ids, result.split_ids) == reference_merges_splits(truth, pred)
    return result


def test_the_reference_finds_the_optimum_where_greedy_does_not():
    # T1 = [0, 10), T2 = [10, 20); P2 = [0, 3) (IoU 0.3 with T1), P1 = [3, 13) (7/13 with T1, 3/17 with T2)
    truth = np.zeros((1, 20), np.int32)
    truth[0, :10], truth[0, 10:] = 1, 2
    pred = np.zeros_like(truth)
    pred[0, :3], pred[0, 3:13] = 2, 1
    ious = reference_pairs(truth, pred)
    assert ious == {(1, 1): Fraction(7, 13), (1, 2): Fraction(3, 10), (2, 1): Fraction(3, 17)}
    assert reference_best(ious, 0.15)[0] == 2  # greedy by highest IoU would take (1, 1) and stop at 1


# ----------------------------------------------------------------------------- hand-built cases
def squares(shape, boxes, dtype=np.int32):
    labels = np.zeros(shape, dtype)
    for label, (r0, r1, c0, c1) in boxes.items():
        labels[r0:r1, c0:c1] = label
    return labels


def test_perfect_match():
    truth = squares((20, 20), {1: (1, 5, 1, 5), 2: (8, 12, 8, 15), 3: (15, 19, 2, 6)})
    result = score_objects(truth, truth)
    assert result.thresholds == DSB
    assert result.tp == (3,) * 10 and result.fp == result.fn == (0,) * 10
    assert result.precision == result.recall == result.f1 == result.ap == (1.0,) * 10
    assert result.mean_matched_iou == (1.0,) * 10
    assert result.mean_f1 == result.mean_ap == 1.0
    assert result.matched == ((1, 1), (2, 2), (3, 3))
    assert result.missed_ids == result.false_ids == result.merged_ids == result.split_ids == ()
    assert (result.n_true, result.n_pred, result.merges, result.splits) == (3, 3, 0, 0)


def test_one_missed_and_one_false():
    truth = squares((20, 20), {1: (1, 5, 1, 5), 2: (8, 12, 8, 12)})
    missed = squares((20, 20), {7: (1, 5, 1, 5)})
    result = score_objects(truth, missed, thresholds=0.5)
    assert (result.tp, result.fp, result.fn) == ((1,), (0,), (1,))
    assert result.precision == (1.0,) and result.recall == (0.5,)
    assert result.f1 == (2 / 3,) and result.ap == (0.5,)
    assert result.missed_ids == (2,) and result.false_ids == () and result.matched == ((1, 7),)

    false = squares((20, 20), {1: (1, 5, 1, 5), 2: (8, 12, 8, 12), 3: (15, 18, 15, 18)})
    result = score_objects(truth, false, thresholds=0.5)
    assert (result.tp, result.fp, result.fn) == ((2,), (1,), (0,))
    assert result.precision == (2 / 3,) and result.recall == (1.0,) and result.ap == (2 / 3,)
    assert result.false_ids == (3,) and result.missed_ids == ()


def test_merge_of_two_true_objects():
    truth = squares((10, 20), {1: (2, 8, 2, 8), 2: (2, 8, 10, 16)})
    merged = squares((10, 20), {5: (2, 8, 2, 16)})  # 84 px holding both (36 px each): IoU 3/7 with each
    result = score_objects(truth, merged, thresholds=(0.4, 0.5))
    assert result.merged_ids == (5,) and result.split_ids == () and result.merges == 1
    assert result.tp == (1, 0) and result.fn == (1, 2) and result.fp == (0, 1)
    assert result.mean_matched_iou[0] == pytest.approx(36 / 84)


def test_split_of_one_true_object():
    truth = squares((10, 20), {4: (2, 8, 2, 14)})  # 72 px
    split = squares((10, 20), {1: (2, 8, 2, 9), 2: (2, 8, 9, 14)})  # 42 px (IoU 7/12) and 30 px
    result = score_objects(truth, split, thresholds=(0.5, 0.6))
    assert result.split_ids == (4,) and result.merged_ids == () and result.splits == 1
    assert result.tp == (1, 0) and result.matched == ((4, 1),) and result.false_ids == (2,)
    assert result.mean_matched_iou[0] == pytest.approx(7 / 12)


def test_iou_exactly_at_the_threshold_matches():
    truth = squares((6, 6), {1: (1, 5, 1, 5)})  # 16 px
    half = squares((6, 6), {1: (1, 5, 1, 3)})  # 8 px inside: IoU exactly 1/2
    result = score_objects(truth, half, thresholds=(0.45, 0.5, 0.55))
    assert result.tp == (1, 1, 0)  # >= as StarDist
    assert object_f1(half, truth)["tp"] == 0  # object_f1 counts IoU strictly above (documented difference)

    truth = np.zeros((1, 20), np.int32)
    truth[0, :] = 1  # 20 px
    pred = np.zeros_like(truth)
    pred[0, :11] = 3  # 11 px inside: IoU 11/20 = 0.55 exactly
    assert score_objects(truth, pred, thresholds=(0.55, 0.6)).tp == (1, 0)
    pred[0, 10] = 0  # 10/20
    assert score_objects(truth, pred, thresholds=(0.5, 0.55)).tp == (1, 0)


def test_exact_halves_are_matched_one_to_one():
    truth = squares((6, 6), {1: (1, 5, 1, 5)})
    halves = squares((6, 6), {1: (1, 5, 1, 3), 2: (1, 5, 3, 5)})  # each IoU exactly 0.5 with the truth
    result = check_against_reference(truth, halves, (0.5, 0.6))
    assert result.tp == (1, 0) and result.fp == (1, 2) and result.split_ids == (1,)
    assert len(result.false_ids) == 1


def test_low_threshold_uses_the_optimal_assignment():
    truth = np.zeros((1, 20), np.int32)
    truth[0, :10], truth[0, 10:] = 1, 2
    pred = np.zeros_like(truth)
    pred[0, :3], pred[0, 3:13] = 2, 1
    result = check_against_reference(truth, pred, (0.15, 0.3, 0.5))
    assert result.tp == (2, 1, 1)
    assert result.mean_matched_iou[0] == pytest.approx((0.3 + 3 / 17) / 2)
    assert result.mean_matched_iou[1] == pytest.approx(7 / 13)  # the larger of the two single matches
    assert object_f1(pred, truth, iou_threshold=0.15)["tp"] == 2


def test_empty_truth_and_empty_prediction():
    empty = np.zeros((8, 8), np.int32)
    some = squares((8, 8), {1: (1, 4, 1, 4), 2: (5, 7, 5, 7)})
    both = score_objects(empty, empty)
    # nothing to find and nothing found: 1.0, the library's convention (StarDist's matching reports 0)
    assert both.precision == both.recall == both.f1 == both.ap == (1.0,) * 10
    assert both.tp == both.fp == both.fn == (0,) * 10 and (both.n_true, both.n_pred) == (0, 0)
    assert all(math.isnan(v) for v in both.mean_matched_iou)

    no_prediction = score_objects(some, empty)
    assert no_prediction.f1 == no_prediction.precision == no_prediction.recall == (0.0,) * 10
    assert no_prediction.fn == (2,) * 10 and no_prediction.missed_ids == (1, 2)
    no_truth = score_objects(empty, some)
    assert no_truth.ap == (0.0,) * 10 and no_truth.fp == (2,) * 10 and no_truth.false_ids == (1, 2)

    zero_pixels = np.zeros((0, 5), np.int32)
    assert score_objects(zero_pixels, zero_pixels).f1 == (1.0,) * 10


def test_agrees_with_object_f1_at_one_half_including_the_empty_conventions():
    empty = np.zeros((5, 5), np.int32)
    some = squares((5, 5), {1: (1, 3, 1, 3)})
    for truth, pred in [(empty, empty), (empty, some), (some, empty), (some, some)]:
        ours = score_objects(truth, pred, 0.5)
        theirs = object_f1(pred, truth)
        assert (ours.tp[0], ours.fp[0], ours.fn[0]) == (theirs["tp"], theirs["fp"], theirs["fn"])
        assert (ours.f1[0], ours.precision[0], ours.recall[0]) == (theirs["f1"], theirs["precision"],
                                                                   theirs["recall"])


def test_huge_and_non_consecutive_ids_are_reported_as_given():
    truth = squares((20, 20), {1: (1, 5, 1, 5), 2: (8, 12, 8, 12), 3: (15, 18, 15, 18)}, np.int64)
    pred = squares((20, 20), {1: (1, 5, 1, 5), 2: (8, 12, 8, 11), 3: (0, 2, 15, 18)}, np.int64)
    base = score_objects(truth, pred)
    big_true = np.where(truth > 0, truth + 2**40, 0)
    big_pred = np.where(pred > 0, pred * 1000 + 7, 0)
    huge = score_objects(big_true, big_pred)
    assert (huge.tp, huge.fp, huge.fn, huge.mean_matched_iou) == (base.tp, base.fp, base.fn, base.mean_matched_iou)
    assert huge.matched == ((2**40 + 1, 1007), (2**40 + 2, 2007))
    assert huge.missed_ids == (2**40 + 3,) and huge.false_ids == (3007,)

    top = np.iinfo(np.uint64).max
    very = score_objects(np.where(truth > 0, np.uint64(top) - truth.astype(np.uint64), np.uint64(0)),
                         np.where(pred > 0, np.uint64(top) - pred.astype(np.uint64), np.uint64(0)))
    assert very.tp == base.tp and very.matched == ((top - 2, top - 2), (top - 1, top - 1))


def test_ids_below_the_pixel_count_but_far_apart_use_the_sorted_table():
    # 10 000 pixels, ids up to 9 999 on both sides: the dense table would have 10^8 cells
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 5, (100, 100))  # noise objects 1..4, and one real match (id 5)
    pred = rng.integers(0, 5, (100, 100))
    truth[:30, :30], pred[:30, :28] = 5, 5
    spread_t = np.where(truth > 0, truth * 1999, 0)
    spread_p = np.where(pred > 0, pred * 1999 + 3, 0)
    near, far = score_objects(truth, pred), score_objects(spread_t, spread_p)
    assert (far.tp, far.mean_matched_iou, far.merges, far.splits) == (near.tp, near.mean_matched_iou,
                                                                      near.merges, near.splits)
    assert near.tp[0] >= 1


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64,
                                   np.uint64])
def test_every_integer_dtype_gives_the_same_scores(dtype):
    truth = squares((12, 12), {1: (1, 5, 1, 5), 2: (6, 11, 6, 11)})
    pred = squares((12, 12), {3: (1, 5, 1, 4), 9: (6, 11, 6, 9), 4: (0, 1, 0, 12)})
    expected = score_objects(truth, pred)
    assert score_objects(truth.astype(dtype), pred.astype(dtype)) == expected


def test_bool_masks_are_scored_as_their_connected_objects():
    truth = squares((12, 12), {1: (1, 5, 1, 5), 2: (6, 11, 6, 11)}) > 0
    pred = squares((12, 12), {3: (1, 5, 1, 4), 9: (7, 11, 7, 11)}) > 0
    result = score_objects(truth, pred)
    assert result == score_objects(label_objects(truth), label_objects(pred))
    assert result.n_true == result.n_pred == 2 and result.tp[0] == 2
    diagonal = np.eye(4, dtype=bool)  # one object under 8-connectivity
    assert score_objects(diagonal, diagonal.astype(np.int32)).n_true == 1


def test_status_threshold_chooses_the_per_object_view():
    truth = squares((6, 12), {1: (1, 5, 1, 5), 2: (1, 5, 7, 11)})
    pred = squares((6, 12), {1: (1, 5, 1, 4), 2: (1, 5, 7, 11)})  # IoU 0.75 and 1
    assert score_objects(truth, pred).missed_ids == ()
    strict = score_objects(truth, pred, status_threshold=0.8)
    assert strict.status_threshold == 0.8 and strict.missed_ids == (1,) and strict.false_ids == (1,)
    assert strict.matched == ((2, 2),) and strict.tp == score_objects(truth, pred).tp


def test_table_forms():
    truth = squares((6, 12), {1: (1, 5, 1, 5), 2: (1, 5, 7, 11)})
    pred = squares((6, 12), {1: (1, 5, 1, 4)})
    result = score_objects(truth, pred, thresholds=(0.5, 0.8))
    records = result.to_records()
    assert [r["threshold"] for r in records] == [0.5, 0.8]
    assert list(records[0]) == ["threshold", "tp", "fp", "fn", "precision", "recall", "f1", "ap",
                                "mean_matched_iou", "n_true", "n_pred", "merges", "splits"]
    assert records[0]["tp"] == 1 and records[0]["recall"] == 0.5 and records[0]["mean_matched_iou"] == 0.75
    assert math.isnan(records[1]["mean_matched_iou"])
    assert result.to_csv().splitlines() == [
        "threshold,tp,fp,fn,precision,recall,f1,ap,mean_matched_iou,n_true,n_pred,merges,splits",
        "0.5,1,0,1,1,0.5,0.6666666667,0.5,0.75,2,1,0,0",
        "0.8,0,1,2,0,0,0,0,,2,1,0,0",
    ]


def test_result_is_frozen_and_checks_itself():
    result = score_objects(np.ones((3, 3), np.int32), np.ones((3, 3), np.int32), thresholds=(0.5,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.tp = (0,)
    with pytest.raises(ParameterError, match="same length"):
        ObjectScores((0.5, 0.7), tp=(1,), fp=(0,), fn=(0,), mean_matched_iou=(1.0,), n_true=1, n_pred=1)
    with pytest.raises(ParameterError, match="n_true"):
        ObjectScores((0.5,), tp=(1,), fp=(0,), fn=(1,), mean_matched_iou=(1.0,), n_true=1, n_pred=1)
    assert hash(result) == hash(dataclasses.replace(result))


# ----------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("truth, labels, words", [
    (np.zeros((4, 4), np.float32), np.zeros((4, 4), np.int32), "truth must be integer labels"),
    (np.zeros((4, 4), np.int32), np.zeros((4, 4, 3), np.int32), "labels must be a 2-D"),
    (np.full((4, 4), -1, np.int32), np.zeros((4, 4), np.int32), "truth must not contain negative"),
    (np.zeros((4, 4), np.int32), np.zeros((4, 5), np.int32), "labels has shape"),
])
def test_bad_images_are_refused_in_plain_words(truth, labels, words):
    with pytest.raises(ParameterError, match=words):
        score_objects(truth, labels)


@pytest.mark.parametrize("thresholds, words", [
    (0, "thresholds must be above 0"), (1.5, "thresholds must be .*at most 1"),
    ([0.5, float("nan")], r"thresholds\[1\] must be a finite number"),
    ("0.5", "thresholds must be a number"), ([], "at least one"), (np.array([[0.5]]), "1-D"),
    (True, "thresholds must be a number"), ([0.5, -0.1], r"thresholds\[1\] must be above 0"),
])
def test_bad_thresholds_are_refused_in_plain_words(thresholds, words):
    ones = np.ones((3, 3), np.int32)
    with pytest.raises(ParameterError, match=words):
        score_objects(ones, ones, thresholds)


def test_bad_status_threshold_is_refused():
    ones = np.ones((3, 3), np.int32)
    with pytest.raises(ParameterError, match="status_threshold"):
        score_objects(ones, ones, status_threshold=0)


def test_thresholds_may_be_one_number_a_list_or_an_array():
    ones = np.ones((3, 3), np.int32)
    assert score_objects(ones, ones, 0.7).thresholds == (0.7,)
    assert score_objects(ones, ones, [1, 0.5]).thresholds == (1.0, 0.5)  # IoU 1 matches identical objects
    assert score_objects(ones, ones, np.array([0.5, 0.9])).tp == (1, 1)


def test_exported_everywhere():
    assert seg.score_objects is seg.measurement.score_objects is score_objects
    assert seg.ObjectScores is seg.measurement.ObjectScores


# ----------------------------------------------------------------------------- against the reference
small_label_pairs = st.tuples(st.integers(1, 7), st.integers(1, 7)).flatmap(
    lambda shape: st.tuples(arrays(np.int32, shape, elements=st.integers(0, 4)),
                            arrays(np.int32, shape, elements=st.integers(0, 4))))


@settings(max_examples=250, deadline=None)
@given(pair=small_label_pairs, status=st.sampled_from([0.1, 0.5, 0.7]))
def test_tiny_random_images_match_the_exhaustive_reference(pair, status):
    truth, pred = pair
    # low thresholds make crowded components where the assignment matters; 1/3 and 1/2 hit exact ties
    check_against_reference(truth, pred, (0.05, 0.2, 1 / 3, 0.4, 0.5, 0.6, 0.75, 1.0), status)


def blobs(rng, shape=(64, 64), count=25):
    """Random overlapping rectangles and discs painted in turn (later ones on top): a crowded label image."""
    labels = np.zeros(shape, np.int32)
    rows, cols = np.indices(shape)
    for label in range(1, count + 1):
        r, c = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        if rng.random() < 0.5:
            labels[(rows - r) ** 2 + (cols - c) ** 2 <= rng.integers(4, 40)] = label
        else:
            labels[r:r + rng.integers(2, 10), c:c + rng.integers(2, 10)] = label
    return labels


def perturbed(rng, truth):
    """A plausible prediction: shifted, one pair merged, one object cut in two, one dropped, one added."""
    pred = np.roll(truth, (rng.integers(-2, 3), rng.integers(-2, 3)), axis=(0, 1)).astype(np.int64)
    ids = [i for i in np.unique(pred) if i]
    if len(ids) >= 4:
        a, b, cut, drop = rng.choice(ids, 4, replace=False)
        pred[pred == b] = a
        rows, cols = np.nonzero(pred == cut)
        if rows.size:
            middle = np.median(cols)
            pred[rows[cols > middle], cols[cols > middle]] = 1000
        pred[pred == drop] = 0
    r, c = rng.integers(0, 60, 2)
    pred[r:r + 3, c:c + 3] = 2000
    return pred


@pytest.mark.parametrize("seed", range(12))
def test_crowded_random_images_match_the_reference_and_object_f1(seed):
    rng = np.random.default_rng(seed)
    truth = blobs(rng)
    pred = perturbed(rng, truth)
    result = check_against_reference(truth, pred, DSB + (0.3,))
    ious = reference_pairs(truth, pred)
    theirs = object_f1(pred, truth)
    strictly_above = reference_best({k: v for k, v in ious.items() if v != Fraction(1, 2)}, 0.5)[0]
    assert theirs["tp"] == strictly_above  # object_f1 counts IoU > 0.5; an exact half is ours only
    if Fraction(1, 2) not in ious.values():
        assert (result.tp[0], result.fp[0], result.fn[0]) == (theirs["tp"], theirs["fp"], theirs["fn"])
        assert result.f1[0] == theirs["f1"]


def test_many_objects_stay_sparse_and_quick():
    # 2 500 objects on each side of a 1000×1000 image: the n_true × n_pred matrix is never built
    truth = np.zeros((1000, 1000), np.int32)
    for k, (r, c) in enumerate(itertools.product(range(0, 1000, 20), repeat=2), start=1):
        truth[r + 2:r + 16, c + 2:c + 16] = k
    pred = np.roll(truth, 3, axis=1)
    result = score_objects(truth, pred, thresholds=(0.1, 0.5, 0.7, 0.9))
    assert result.n_true == result.n_pred == 2500
    assert result.tp == (2500, 2500, 0, 0)  # a 14×14 square moved by 3: IoU 154/238 = 0.647
    assert result.mean_matched_iou[1] == pytest.approx(154 / 238)
