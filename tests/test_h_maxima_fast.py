"""The fast h-maxima reconstruction gives the old iteration's values bit for bit, and scikit-image's.

``reconstruct_by_dilation`` (private, so reached with importlib as tests/test_docstrings.py reaches every
module) is compared with the iteration it replaced (copied below as the reference) and with scikit-image's
``reconstruction(method="dilation")``, as float32 bits, on random maps, plateaus, ties, huge flat areas, long
winding paths, tiny and empty maps. ``h_maxima_seeds`` is compared with seeds from the old iteration (the
same labels) and with ``skimage.morphology.h_maxima`` on the same float32 map (scikit-image does the same
float32 arithmetic then). The default watershed of the bundled samples and of generated discs is compared
with the same pipeline run on the old seeds (markers and labels).
"""

from __future__ import annotations

import importlib

import cv2
import numpy as np
import pytest
from skimage import data, morphology
from skimage import segmentation as sk_segmentation

import segmentation as seg

_WATERSHED = importlib.import_module("segmentation.regions._watershed")
reconstruct_by_dilation = _WATERSHED.reconstruct_by_dilation


# ----------------------------------------------------------------------------------- the reference
def old_reconstruct_by_dilation(seed, mask):
    """The iteration the library used before (copied): 3×3 dilation clipped by the mask until stable."""
    kernel = np.ones((3, 3), np.uint8)
    current = cv2.min(seed, mask)
    while True:
        previous = current
        for _ in range(8):  # compare only every few steps: the comparison costs as much as a step
            current = cv2.min(cv2.dilate(current, kernel), mask)
        if np.array_equal(current, previous):
            return current


def old_h_maxima_seeds(distance, h):
    """``h_maxima_seeds`` as it was (copied arithmetic) on the old iteration."""
    distance = np.asarray(distance, dtype=np.float32)
    if h > float(distance.max(initial=0) - distance.min(initial=0)):
        return np.zeros(distance.shape, np.int32)
    resolution = 2 * np.finfo(np.float32).resolution * np.abs(distance)
    shifted = distance - h - resolution
    residue = distance - old_reconstruct_by_dilation(shifted, distance)
    return seg.label_objects(residue >= h)


def shifted(distance, h):
    """The seed of the h-maxima reconstruction: distance - h - scikit-image's float tolerance."""
    return distance - h - 2 * np.finfo(np.float32).resolution * np.abs(distance)


def assert_same_bits(ours, reference):
    assert ours.dtype == reference.dtype == np.float32
    assert ours.shape == reference.shape
    assert np.array_equal(ours.view(np.uint32), reference.view(np.uint32))


def assert_reconstruction_exact(seed, mask):
    seed, mask = seed.astype(np.float32), mask.astype(np.float32)
    ours = reconstruct_by_dilation(seed, mask)
    assert_same_bits(ours, old_reconstruct_by_dilation(seed, mask))
    reference = morphology.reconstruction(np.minimum(seed, mask), mask, method="dilation")
    assert_same_bits(ours, reference.astype(np.float32, copy=False))


# ------------------------------------------------------------------------------------------ maps
def disc_mask(shape, count, radii, rng):
    fg = np.zeros(shape, np.uint8)
    for _ in range(count):
        centre = (int(rng.integers(0, shape[1])), int(rng.integers(0, shape[0])))
        cv2.circle(fg, centre, int(rng.integers(*radii)), 1, -1)
    return fg.astype(bool)


def serpentine(size):
    """A one-pixel corridor (value 10) winding between walls (0) row after row: one path of about size²/2 px."""
    corridor = np.zeros((size, size), np.float32)
    corridor[::2] = 10
    corridor[1::4, -1] = 10
    corridor[3::4, 0] = 10
    return corridor


def make_map(kind, rng):
    if kind == "uniform":
        return (rng.random((60, 80)) * 10).astype(np.float32)
    if kind == "few_levels":  # plateaus everywhere, ties between seed and mask
        return rng.integers(0, 4, (70, 90)).astype(np.float32)
    if kind == "flat_above_minimum":  # a huge flat area that is not the global minimum
        flat = np.full((200, 300), 5, np.float32)
        flat[rng.random(flat.shape) < 0.002] = 7
        flat[rng.random(flat.shape) < 0.002] = 2
        return flat
    if kind == "flat_at_minimum":  # a huge background at the global minimum, a few domes
        return seg.distance_map(disc_mask((200, 300), 3, (5, 30), rng))
    if kind == "smooth":
        return cv2.GaussianBlur(rng.random((120, 160)).astype(np.float32), (0, 0), 4) * 100
    if kind == "discs":
        return seg.distance_map(disc_mask((150, 200), 12, (4, 50), rng), sigma=1.0)
    if kind == "blurred_discs":
        return seg.distance_map(disc_mask((150, 200), 6, (20, 70), rng), sigma=3.0)
    if kind == "serpentine":
        return serpentine(41)
    if kind == "slow_ridge":  # a long ridge rising 1/100 per pixel: values travel far along it
        ridge = np.zeros((9, 400), np.float32)
        ridge[4] = np.linspace(0, 4, 400, dtype=np.float32)
        ridge[3] = ridge[5] = ridge[4] / 2
        return ridge
    if kind == "plateau_one_bump":  # a value must cross a whole plateau above the minimum
        plateau = np.full((120, 160), 5, np.float32)
        plateau[0, 0], plateau[-1, -1] = 7, 2
        return plateau
    if kind == "checkerboard":  # diagonal-only connections
        return (np.indices((40, 50)).sum(axis=0) % 2 * 5).astype(np.float32)
    raise AssertionError(kind)


KINDS = ["uniform", "few_levels", "flat_above_minimum", "flat_at_minimum", "smooth", "discs", "blurred_discs",
         "serpentine", "slow_ridge", "plateau_one_bump", "checkerboard"]


# ------------------------------------------------------------------------------- reconstruction
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("h", [0.25, 1.0, 3.0])
def test_reconstruction_equals_the_old_iteration_and_scikit_image(kind, h):
    mask = make_map(kind, np.random.default_rng(KINDS.index(kind)))
    assert_reconstruction_exact(shifted(mask, h), mask)


@pytest.mark.parametrize("kind", KINDS)
def test_reconstruction_of_any_seed_even_above_the_mask(kind):
    rng = np.random.default_rng(100 + KINDS.index(kind))
    mask = make_map(kind, rng)
    seed = (rng.random(mask.shape) * float(mask.max() + 1) - 1).astype(np.float32)
    seed[rng.random(mask.shape) < 0.5] = -5  # sparse seeds, some above the mask (clipped first)
    assert_reconstruction_exact(seed, mask)


def test_reconstruction_of_a_seed_at_one_end_of_a_serpentine():
    mask = serpentine(61)
    seed = np.zeros_like(mask)
    seed[0, 0] = 10  # the value must walk the whole corridor (about 1,900 pixels)
    ours = reconstruct_by_dilation(seed, mask)
    assert_same_bits(ours, old_reconstruct_by_dilation(seed, mask))
    assert np.array_equal(ours, mask)


@pytest.mark.parametrize("seed_value", [-1.0, 0.0, 0.5, 2.0])
def test_reconstruction_of_flat_and_constant_maps(seed_value):
    for mask in (np.zeros((30, 40), np.float32), np.full((30, 40), 3, np.float32)):
        seed = np.full(mask.shape, seed_value, np.float32)
        seed[5, 7] = seed_value - 1
        assert_reconstruction_exact(seed, mask)


@pytest.mark.parametrize("shape", [(1, 1), (1, 2), (2, 1), (1, 9), (9, 1), (3, 1), (4, 1), (2, 2), (3, 3)])
def test_reconstruction_of_tiny_maps(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(20):
        mask = rng.integers(0, 4, shape).astype(np.float32)
        assert_reconstruction_exact(shifted(mask, 1.0), mask)
        assert_reconstruction_exact(rng.integers(-1, 5, shape).astype(np.float32), mask)


@pytest.mark.parametrize("shape", [(0, 0), (0, 5), (5, 0)])
def test_reconstruction_of_empty_maps_is_empty(shape):
    # The old iteration could not run on them (OpenCV returns None), nor scikit-image.
    empty = np.zeros(shape, np.float32)
    result = reconstruct_by_dilation(empty, empty)
    assert result.shape == shape and result.dtype == np.float32
    assert seg.h_maxima_seeds(empty, 1.0).shape == shape


def test_reconstruction_of_random_maps_of_random_sizes():
    rng = np.random.default_rng(7)
    for _ in range(60):
        shape = (int(rng.integers(1, 90)), int(rng.integers(1, 90)))
        mask = (rng.random(shape) * 10).astype(np.float32) if rng.random() < 0.5 else \
            rng.integers(0, 3, shape).astype(np.float32)
        assert_reconstruction_exact(shifted(mask, float(rng.choice([0.5, 1.0, 2.0]))), mask)


def test_reconstruction_takes_views_and_leaves_its_inputs_alone():
    mask = make_map("discs", np.random.default_rng(3))
    seed = shifted(mask, 1.0)
    expected = old_reconstruct_by_dilation(seed, mask)
    wide_seed, wide_mask = np.zeros((150, 400), np.float32), np.zeros((150, 400), np.float32)
    wide_seed[:, ::2], wide_mask[:, ::2] = seed, mask
    kept_seed, kept_mask = wide_seed.copy(), wide_mask.copy()
    assert_same_bits(reconstruct_by_dilation(wide_seed[:, ::2], wide_mask[:, ::2]), expected)
    assert np.array_equal(wide_seed, kept_seed) and np.array_equal(wide_mask, kept_mask)


def test_every_stage_is_exercised(monkeypatch):
    # The maps above must reach the steepest ascent, the waves' limits and the exact finish (several boxes, and
    # the whole image), or the comparisons would only test the dilation passes.
    seen = {"raised": 0, "front left": 0, "boxes": [], "whole": 0}
    ascent, waves, finish = _WATERSHED._steepest_ascent, _WATERSHED._waves, _WATERSHED._finish_reconstruction

    def spy_ascent(*args):
        raised = ascent(*args)
        seen["raised"] += raised.size
        return raised

    def spy_waves(*args):
        front = waves(*args)
        seen["front left"] += front.size > 0
        return front

    def spy_finish(current, mask, boxes):
        seen["boxes"].append(len(boxes))
        seen["whole"] += boxes == [(0, mask.shape[0], 0, mask.shape[1])]
        finish(current, mask, boxes)

    monkeypatch.setattr(_WATERSHED, "_steepest_ascent", spy_ascent)
    monkeypatch.setattr(_WATERSHED, "_waves", spy_waves)
    monkeypatch.setattr(_WATERSHED, "_finish_reconstruction", spy_finish)
    for kind, h in (("blurred_discs", 3.0), ("flat_above_minimum", 1.0), ("plateau_one_bump", 1.0)):
        mask = make_map(kind, np.random.default_rng(KINDS.index(kind)))
        assert_reconstruction_exact(shifted(mask, h), mask)
    assert seen["raised"] > 0 and seen["front left"] > 0
    assert max(seen["boxes"]) > 1 and seen["whole"] > 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("passes", [1, 2, 5])
def test_the_exact_finish_completes_any_partial_reconstruction(kind, passes):
    # The last stage alone, from a few passes of the old iteration: the components still below the mask that
    # the last pass touched, each with its rim, packed and reconstructed, give the exact result everywhere.
    mask = make_map(kind, np.random.default_rng(KINDS.index(kind)))
    current = np.minimum(shifted(mask, 1.0), mask)
    kernel = np.ones((3, 3), np.uint8)
    for _ in range(passes):
        previous, current = current, cv2.min(cv2.dilate(current, kernel), mask)
    changed = cv2.compare(current, previous, cv2.CMP_NE)
    boxes = _WATERSHED._unsettled_boxes(current, changed, mask)
    if boxes:
        _WATERSHED._finish_reconstruction(current, mask, boxes)
    assert_same_bits(current, old_reconstruct_by_dilation(shifted(mask, 1.0), mask))


def test_overlapping_boxes_are_merged_by_maximum():
    # A corridor (value 10) shaped like a V, and a diagonal corridor whose box holds the V's tip and lower arm
    # without touching them: in that box they are cut off from their seed, so only a merge by maximum keeps
    # their values.
    mask = np.zeros((40, 40), np.float32)
    for r in range(13):
        mask[12 - r, 16 + r] = mask[12 + r, 16 + r] = 10  # the V: arms up-right and down-right from (12, 16)
    for r in range(13, 26):
        mask[r, r] = 10  # the diagonal, 4 pixels left of the lower arm
    seed = np.where(mask > 0, np.float32(-1), mask)
    seed[0, 28] = seed[25, 25] = 10
    current, kernel = seed.copy(), np.ones((3, 3), np.uint8)
    for _ in range(2):
        previous, current = current, cv2.min(cv2.dilate(current, kernel), mask)
    boxes = _WATERSHED._unsettled_boxes(current, cv2.compare(current, previous, cv2.CMP_NE), mask)
    assert len(boxes) == 2  # the V first (raster order), then the diagonal, whose box holds the V's tip
    top, bottom, left, right = boxes[1]
    assert top <= 12 < bottom and left <= 16 < right
    _WATERSHED._finish_reconstruction(current, mask, boxes)
    assert_same_bits(current, old_reconstruct_by_dilation(seed, mask))
    assert current[12, 16] == 10


def test_the_finish_reconstructs_the_whole_image_when_packing_would_not_pay():
    # Two overlapping halves would pack into a canvas larger than the image: the whole image is done instead
    # (each half alone would miss the paths across the seam).
    mask = make_map("smooth", np.random.default_rng(9))[:100, :100].copy()
    current = np.minimum(shifted(mask, 3.0), mask)
    expected = morphology.reconstruction(current, mask, method="dilation")
    _WATERSHED._finish_reconstruction(current, mask, [(0, 100, 0, 51), (0, 100, 50, 100)])
    assert_same_bits(current, expected.astype(np.float32))


# ---------------------------------------------------------------------------------------- seeds
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("h", [0.25, 1.0, 2.5])
def test_seeds_equal_the_old_seeds_and_scikit_image(kind, h):
    distance = make_map(kind, np.random.default_rng(KINDS.index(kind)))
    ours = seg.h_maxima_seeds(distance, h)
    assert ours.dtype == np.int32
    assert np.array_equal(ours, old_h_maxima_seeds(distance, h))
    if distance.min() <= 0:  # h_maxima_seeds measures the map's range from 0 (see the report)
        assert np.array_equal(ours > 0, morphology.h_maxima(distance, h) > 0)


@pytest.mark.parametrize("sigma", [0.0, 1.0, 2.5])
def test_seeds_of_large_discs_equal_the_old_seeds(sigma):
    foreground = disc_mask((300, 400), 14, (20, 140), np.random.default_rng(11))
    distance = seg.distance_map(foreground, sigma=sigma)
    for h in (0.5, 1.0, 4.0):
        ours = seg.h_maxima_seeds(distance, h)
        assert np.array_equal(ours, old_h_maxima_seeds(distance, h))
        assert np.array_equal(ours > 0, morphology.h_maxima(distance, h) > 0)


def test_nan_pixels_are_never_seeds_and_the_call_returns():
    # The old iteration never ended on a NaN (NaN != NaN), and scikit-image's reconstruction corrupts memory on
    # one; a NaN now counts as -inf: no seed there, no dome across it.
    rng = np.random.default_rng(5)
    distance = make_map("discs", rng)
    holes = rng.random(distance.shape) < 0.01
    with_nan = np.where(holes, np.float32(np.nan), distance)
    ours = seg.h_maxima_seeds(with_nan, 1.0)
    assert not ours[holes].any()
    with np.errstate(invalid="ignore"):  # -inf - -inf in the residue
        assert np.array_equal(ours, old_h_maxima_seeds(np.where(holes, np.float32(-np.inf), distance), 1.0))
    all_nan = np.full((20, 30), np.nan, np.float32)
    assert not seg.h_maxima_seeds(all_nan, 1.0).any()


# ------------------------------------------------------------------------------------ watershed
def old_watershed_labels(result):
    """The default watershed's markers and labels, rebuilt from its own stages with the old seeds."""
    recipe = result.recipe
    objects = seg.label_objects(result.foreground, recipe.connectivity)
    markers = seg.seed_every_object(old_h_maxima_seeds(result.distance, recipe.h), objects, result.distance)
    labels = seg.flood_distance(result.distance, markers, result.foreground, compactness=recipe.compactness,
                                connectivity=recipe.connectivity, watershed_line=recipe.watershed_line)
    return markers.astype(np.int32), sk_segmentation.relabel_sequential(labels)[0].astype(np.int32)


@pytest.mark.parametrize("name", ["coins", "nuclei"])
def test_default_watershed_of_the_samples_is_unchanged(name):
    result = seg.watershed(seg.load_sample(name))
    assert result.recipe.seeds == "h_maxima"
    markers, labels = old_watershed_labels(result)
    assert np.array_equal(result.markers, markers)
    assert np.array_equal(result.labels, labels)


@pytest.mark.parametrize("params", [{}, {"h": 0.5}, {"h": 3.0, "distance_sigma": 0.0}, {"distance_sigma": 2.0}])
def test_watershed_of_generated_discs_is_unchanged(params):
    foreground = disc_mask((400, 500), 16, (15, 120), np.random.default_rng(21))
    image = np.where(foreground, 200, 30).astype(np.uint8)
    result = seg.watershed(image, background_radius=0, **params)
    markers, labels = old_watershed_labels(result)
    assert np.array_equal(result.markers, markers)
    assert np.array_equal(result.labels, labels)
    assert result.count > 1


def test_coins_seeds_equal_scikit_image_h_maxima_on_the_same_float32_map():
    distance = seg.watershed(data.coins()).distance
    for h in (0.5, 1.0, 3.0):
        assert np.array_equal(seg.h_maxima_seeds(distance, h) > 0, morphology.h_maxima(distance, h) > 0)
