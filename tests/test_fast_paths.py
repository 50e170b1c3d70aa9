"""The full-resolution fast paths of issue 15 give exactly the reference library's results.

* multi-Otsu: the exact search (``_multiotsu_indices``) against scikit-image's exhaustive
  ``threshold_multiotsu`` on the same histograms (``hist=``), many random ones (ties, empty bins, flat and
  mirrored histograms, few levels) and sample images; the thresholds must be equal, not close;
* ``measure``'s shape columns (``_shape_columns``) against ``skimage.measure.regionprops_table``, bit for bit:
  random labels (touching objects, speckle, one-pixel objects, objects on the image edge, non-convex
  polygons), masks and large ids through :func:`segmentation.measure`;
* hole filling (``fill_holes``) against ``scipy.ndimage.binary_fill_holes``;
* the watershed's renumbering shortcut against ``skimage.segmentation.relabel_sequential``;
* the flooding with watershed lines: the loop without scikit-image's repeated line-pixel pops against
  ``skimage.segmentation.watershed(..., watershed_line=True)`` (seed heights distinct), and its bound: a
  flooding that does not end in its CPU budget is stopped and replaced by that loop, with the same labels.
"""

from __future__ import annotations

import importlib

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import data, filters
from skimage.measure import regionprops_table
from skimage.segmentation import relabel_sequential
from skimage.segmentation import watershed as sk_watershed

import segmentation as seg

# The private fast paths themselves, by module (as tests/test_h_maxima_fast.py reaches its private stages).
_NUMERIC = importlib.import_module("segmentation._numeric")
_TABLE = importlib.import_module("segmentation.measurement._table")
_WATERSHED = importlib.import_module("segmentation.regions._watershed")
_GLOBAL = importlib.import_module("segmentation.thresholding._global")
fill_holes, _shape_columns = _NUMERIC.fill_holes, _TABLE._shape_columns
_sequential, _flood_lines_exactly = _WATERSHED._sequential, _WATERSHED._flood_lines_exactly
_multiotsu_indices, _threshold_multiotsu = _GLOBAL._multiotsu_indices, _GLOBAL._threshold_multiotsu

# -- multi-Otsu -----------------------------------------------------------------------------------------


def _histogram(rng, n: int, kind: str) -> np.ndarray:
    if kind == "uniform":
        counts = rng.integers(0, 1000, n)
    elif kind == "sparse":  # many empty bins: equal placements that scikit-image's order decides
        counts = rng.integers(0, 1000, n) * (rng.random(n) < 0.3)
    elif kind == "few":  # a few levels, often of equal counts
        counts = np.zeros(n, np.int64)
        where = rng.choice(n, min(n, int(rng.integers(2, 8))), replace=False)
        counts[where] = rng.integers(1, 50) if rng.random() < 0.5 else rng.integers(1, 50, where.size)
    elif kind == "flat":  # every bin equal: ties everywhere
        counts = np.full(n, int(rng.integers(1, 5)))
    elif kind == "mirrored":
        half = rng.integers(0, 100, n // 2 + 1)
        counts = np.concatenate([half, half[::-1]])[:n]
    elif kind == "peaks":
        x = np.arange(n)
        counts = sum(rng.integers(100, 10000) * np.exp(-(x - rng.uniform(0, n)) ** 2 / (2 * rng.uniform(1, n / 4) ** 2))
                     for _ in range(3)).astype(np.int64)
    else:  # "binary": bins of 0 or 1 pixel
        counts = (rng.random(n) < 0.5).astype(np.int64)
    counts = np.asarray(counts, np.int64)
    counts[0], counts[-1] = max(counts[0], 1), max(counts[-1], 1)  # an image's range: both ends occupied
    return (counts / counts.sum()).astype(np.float32)


def _reference(prob: np.ndarray, classes: int) -> np.ndarray:
    """scikit-image's thresholds (bin indices) for a normalised histogram, through its public API."""
    return filters.threshold_multiotsu(hist=(prob, np.arange(prob.size)), classes=classes)


KINDS = ("uniform", "sparse", "few", "flat", "mirrored", "peaks", "binary")


@pytest.mark.parametrize("kind", KINDS)
def test_multiotsu_search_equals_scikit_image_on_small_histograms(kind):
    rng = np.random.default_rng(sum(map(ord, kind)))
    checked = 0
    for _ in range(250):
        n, classes = int(rng.integers(4, 40)), int(rng.integers(2, 6))
        prob = _histogram(rng, n, kind)
        if np.count_nonzero(prob) <= classes:
            continue  # scikit-image's own branches (too few values, or as many as classes) are used as they are
        assert np.array_equal(_multiotsu_indices(prob, classes - 1), _reference(prob, classes)), (n, classes, prob)
        checked += 1
    assert checked > 50


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("classes", [2, 3, 4])
def test_multiotsu_search_equals_scikit_image_on_256_bins(kind, classes):
    rng = np.random.default_rng(classes * 100 + sum(map(ord, kind)))
    for _ in range(2 if classes == 4 else 6):
        prob = _histogram(rng, 256, kind)
        if np.count_nonzero(prob) > classes:
            assert np.array_equal(_multiotsu_indices(prob, classes - 1), _reference(prob, classes))


def test_multiotsu_search_equals_scikit_image_with_five_classes_on_256_bins():
    # scikit-image's search takes seconds here (C(255, 4) sums): one random and one sparse histogram.
    rng = np.random.default_rng(7)
    for kind in ("uniform", "sparse"):
        prob = _histogram(rng, 256, kind)
        assert np.array_equal(_multiotsu_indices(prob, 4), _reference(prob, 5))


@pytest.mark.parametrize("name", ["camera", "coins", "moon", "text"])
@pytest.mark.parametrize("classes", [2, 3, 4])
def test_multiotsu_equals_scikit_image_on_sample_images(name, classes):
    image = getattr(data, name)()
    for values in (image, image.astype(np.float32) / np.float32(7.3)):
        assert np.array_equal(_threshold_multiotsu(values, classes), filters.threshold_multiotsu(values, classes))
    expected = tuple(float(t) for t in filters.threshold_multiotsu(image, classes))
    assert seg.multiotsu_thresholds(image, classes) == expected


def test_multiotsu_of_a_16_bit_image_is_scikit_image_on_its_256_bins():
    rng = np.random.default_rng(3)
    image = data.coins().astype(np.uint16) * 256 + rng.integers(0, 257, data.coins().shape).astype(np.uint16)
    expected = tuple(float(t) for t in filters.threshold_multiotsu(image.astype(np.float32), 4))
    assert seg.multiotsu_thresholds(image, 4) == expected


def test_multiotsu_keeps_scikit_image_refusals():
    with pytest.raises(ValueError):
        _threshold_multiotsu(np.array([[0, 0, 5, 5]], np.uint8), 3)
    two = np.array([[0, 0, 5, 9]], np.uint8)  # as many values as classes: scikit-image's own rule
    assert np.array_equal(_threshold_multiotsu(two, 3), filters.threshold_multiotsu(two, 3))


# -- measure ------------------------------------------------------------------------------------------

PROPS = ["label", "area", "perimeter", "centroid", "bbox", "equivalent_diameter_area", "solidity"]


def _random_labels(rng, kind: int) -> np.ndarray:
    h, w = (int(v) for v in rng.integers(1, 60, 2))
    if kind == 0:  # speckle of touching labels
        labels = rng.integers(0, 4, (h, w))
    elif kind == 1:
        labels = (rng.random((h, w)) < 0.6) * rng.integers(1, 3, (h, w))
    elif kind == 2:  # discs, some cut by the edge, some of one pixel
        labels = np.zeros((h, w), np.int32)
        for k in range(1, 6):
            cv2.circle(labels, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(0, 12)), k, -1)
    else:  # overlapping, non-convex polygons
        labels = np.zeros((h, w), np.int32)
        for k in range(1, 6):
            cv2.fillPoly(labels, [rng.integers(0, max(h, w), (5, 2)).astype(np.int32)], k)
    return np.asarray(labels, np.int32)


def _assert_like_regionprops(labels: np.ndarray) -> None:
    expected = regionprops_table(labels, properties=PROPS)
    ours = _shape_columns(labels)
    assert set(ours) == set(expected)
    for name, values in expected.items():
        assert np.array_equal(np.asarray(ours[name]), np.asarray(values)), name


@pytest.mark.parametrize("kind", [0, 1, 2, 3])
def test_shape_columns_equal_regionprops_bit_for_bit(kind):
    rng = np.random.default_rng(kind)
    checked = 0
    for _ in range(80):
        labels = _random_labels(rng, kind)
        if labels.any():
            _assert_like_regionprops(labels)
            checked += 1
    assert checked > 40


def test_shape_columns_equal_regionprops_on_many_objects():
    rng = np.random.default_rng(11)
    labels = np.zeros((600, 800), np.int32)
    for k in range(1, 301):
        cv2.circle(labels, (int(rng.integers(0, 800)), int(rng.integers(0, 600))), int(rng.integers(1, 30)), k, -1)
    _assert_like_regionprops(labels)
    _assert_like_regionprops(seg.label_objects(data.coins() > 110))  # real shapes, holes included
    full = np.ones((7, 9), np.int32)  # no background at all
    _assert_like_regionprops(full)


def test_measure_columns_are_regionprops_values():
    labels = seg.watershed(data.coins()).labels
    table = seg.measure(labels, data.coins(), pixel_size=0.5, unit="µm")
    props = regionprops_table(labels, intensity_image=data.coins(),
                              properties=PROPS + ["intensity_mean", "intensity_min", "intensity_max"])
    assert np.array_equal(table["label"], props["label"])
    assert np.array_equal(table["area_um2"], props["area"] * 0.25)
    assert np.array_equal(table["perimeter_um"], props["perimeter"] * 0.5)
    assert np.array_equal(table["centroid_row_um"], props["centroid-0"] * 0.5)
    assert np.array_equal(table["solidity"], props["solidity"])
    assert np.array_equal(table["equivalent_diameter_um"], props["equivalent_diameter_area"] * 0.5)
    assert np.array_equal(table["mean_intensity"], props["intensity_mean"])
    # Large ids (renumbered internally) keep their own numbers and the same values.
    big = np.where(labels > 0, labels.astype(np.int64) * 10**9, 0)
    again = seg.measure(big)
    assert np.array_equal(again["label"], props["label"] * 10**9)
    assert np.array_equal(again["perimeter_px"], props["perimeter"])


# -- hole filling and renumbering ------------------------------------------------------------------------


def test_fill_holes_equals_scipy():
    rng = np.random.default_rng(5)
    for trial in range(200):
        shape = tuple(int(v) for v in rng.integers(1, 40, 2))
        mask = rng.random(shape) < rng.uniform(0.2, 0.9)
        assert np.array_equal(fill_holes(mask), ndi.binary_fill_holes(mask)), trial
    coins = data.coins() > 100
    assert np.array_equal(fill_holes(coins), ndi.binary_fill_holes(coins))
    assert np.array_equal(fill_holes(~coins), ndi.binary_fill_holes(~coins))


def test_sequential_labels_shortcut_equals_relabel_sequential():
    found = seg.watershed(data.coins())
    labels, seeds = found.labels, found.markers
    assert _sequential(labels, seeds) is labels
    gaps = np.where(labels % 3 == 0, 0, labels).astype(np.int32)
    assert np.array_equal(_sequential(gaps, seeds), relabel_sequential(gaps)[0])
    fewer = np.where(seeds == 5, 0, seeds)  # label 5 present but no seed pixel shows it: the full check
    assert np.array_equal(_sequential(labels, fewer), labels)
    zeros = np.zeros((3, 4), np.int32)
    assert np.array_equal(_sequential(zeros, zeros), zeros)
    negative = np.array([[-1, 1]], np.int32)  # never a flooding's result: refused as scikit-image refuses it
    with pytest.raises(ValueError):
        _sequential(negative, negative)


# -- watershed lines: scikit-image's loop without its repeated line-pixel pops, and the bound ---------------


def _line_case(rng, kind: int):
    h, w = (int(v) for v in rng.integers(3, 40, 2))
    if kind == 0:  # plateaus: ties everywhere but at the seeds
        foreground = rng.random((h, w)) < 0.8
        distance = rng.integers(0, 4, (h, w)).astype(np.float32)
    elif kind == 1:
        foreground = np.zeros((h, w), bool)
        for _ in range(3):
            cv2.circle(foreground.view(np.uint8), (int(rng.integers(0, w)), int(rng.integers(0, h))),
                       int(rng.integers(2, 12)), 1, -1)
        distance = seg.distance_map(foreground, sigma=float(rng.choice([0, 1])))
    else:
        foreground = rng.random((h, w)) < 0.95
        distance = rng.random((h, w)).astype(np.float32)
    seeds = np.zeros((h, w), np.int32)
    k = int(rng.integers(1, 6))
    seeds.ravel()[rng.choice(h * w, k, replace=False)] = rng.permutation(k) + 1
    seeds[~foreground] = 0
    return distance, seeds, foreground


@pytest.mark.parametrize("connectivity", [1, 2])
def test_line_flood_loop_equals_scikit_image_when_seed_heights_differ(connectivity):
    rng = np.random.default_rng(connectivity)
    checked = 0
    for trial in range(240):
        distance, seeds, foreground = _line_case(rng, trial % 3)
        heights = distance[seeds != 0]
        if np.unique(heights).size < heights.size:
            continue  # equal seed heights: the caller refuses the fallback (heap order among ties)
        expected = sk_watershed(-distance, seeds, mask=foreground, connectivity=connectivity, watershed_line=True)
        assert np.array_equal(_flood_lines_exactly(distance, seeds, foreground, connectivity), expected), trial
        checked += 1
    assert checked > 100


class _EndlessFlood:
    """Stands in for skimage.segmentation in the child process: a flooding that never ends."""

    @staticmethod
    def watershed(*args, **kwargs):
        while True:
            pass


def test_line_flood_is_bounded_and_falls_back_to_the_same_labels(monkeypatch):
    module = _WATERSHED
    image = data.coins()[:160, :224]
    found = seg.watershed(image, seeds="points", points=((51, 150), (51, 160), (124, 44)), connectivity=8)
    expected = sk_watershed(-found.distance, found.markers, mask=found.foreground, connectivity=1,
                            watershed_line=True)
    monkeypatch.setattr(module, "_LINE_FLOOD_CPU", (1, 0))
    monkeypatch.setattr(module, "sk_segmentation", _EndlessFlood)  # the child burns its 1 s of CPU and is killed
    labels = seg.flood_distance(found.distance, found.markers, found.foreground, connectivity=4,
                                watershed_line=True)
    assert np.array_equal(labels, expected)


def test_line_flood_refuses_plainly_when_the_fallback_cannot_be_exact(monkeypatch):
    module = _WATERSHED
    foreground = np.ones((20, 30), bool)
    distance = np.zeros((20, 30), np.float32)
    seeds = np.zeros((20, 30), np.int32)
    seeds[5, 5], seeds[5, 20] = 1, 2  # equal heights: their order in the queue is the heap's layout
    monkeypatch.setattr(module, "_LINE_FLOOD_CPU", (1, 0))
    monkeypatch.setattr(module, "sk_segmentation", _EndlessFlood)
    with pytest.raises(seg.SegmentationError, match="watershed lines did not end within 1 s of CPU"):
        seg.flood_distance(distance, seeds, foreground, watershed_line=True)
