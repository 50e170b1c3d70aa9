"""Watershed: coins and synthetic touching discs with known centres, every seed kind, both landscapes.

References: scikit-image's coins (24 coins; found independently here by scikit-image's gallery
"region-based segmentation": Sobel elevation + markers at < 30 and > 150), discs drawn with known
centres, scikit-image's ``watershed``/``h_maxima`` called directly on the returned intermediate stages,
and the synthetic nuclei sample's true labels.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from scipy import ndimage as ndi
from skimage import data, draw, filters, morphology
from skimage import segmentation as sk_segmentation

import segmentation as seg
from segmentation import h_maxima_seeds

ROOT = Path(__file__).resolve().parent.parent
COINS = data.coins()


# --------------------------------------------------------------------------------------- helpers
def chain(radii, overlap=0.3, angle=0.0):
    """Disc centres along a line; neighbours overlap by ``overlap`` × the smaller radius."""
    centres, y, x = [], 0.0, 0.0
    for i, r in enumerate(radii):
        if i:
            d = radii[i - 1] + r - overlap * min(radii[i - 1], r)
            y, x = y + d * math.sin(angle), x + d * math.cos(angle)
        centres.append((y, x, r))
    return centres


def ring(n, r, overlap=0.3):
    """``n`` equal discs on a circle, neighbours overlapping by ``overlap`` × r (a hole in the middle)."""
    d = 2 * r - overlap * r
    big = d / (2 * math.sin(math.pi / n))
    return [(big * math.sin(2 * math.pi * i / n), big * math.cos(2 * math.pi * i / n), r) for i in range(n)]


def render(discs, margin=15, value=200, background=20, rim=None, rim_width=2):
    """An 8-bit image of the discs (optionally with a darker rim, like a cell membrane) and their centres."""
    top = min(y - r for y, x, r in discs) - margin
    left = min(x - r for y, x, r in discs) - margin
    height = int(math.ceil(max(y + r for y, x, r in discs) - top + margin))
    width = int(math.ceil(max(x + r for y, x, r in discs) - left + margin))
    centres = [(y - top, x - left, r) for y, x, r in discs]
    image = np.full((height, width), background, np.uint8)
    for y, x, r in centres:
        rr, cc = draw.disk((y, x), r, shape=image.shape)
        image[rr, cc] = value
    if rim is not None:
        yy, xx = np.mgrid[:height, :width]
        for y, x, r in centres:
            d = np.hypot(yy - y, xx - x)
            image[(d < r) & (d >= r - rim_width)] = rim
    return image, centres


def assert_valid_labels(labels, shape):
    assert labels.dtype == np.int32
    assert labels.shape == shape
    n = int(labels.max(initial=0))
    assert labels.min(initial=0) >= 0
    assert set(np.unique(labels)) - {0} == set(range(1, n + 1))  # consecutive 1..N


def assert_one_label_per_disc(labels, centres, tolerance=3.0):
    assert_valid_labels(labels, labels.shape)
    assert labels.max() == len(centres)
    at_centres = [int(labels[int(round(y)), int(round(x))]) for y, x, _ in centres]
    assert 0 not in at_centres
    assert len(set(at_centres)) == len(centres), at_centres
    for label, (y, x, r) in zip(at_centres, centres):
        cy, cx = np.argwhere(labels == label).mean(axis=0)
        assert math.hypot(cy - y, cx - x) <= tolerance, (label, (cy, cx), (y, x, r))


DISCS = {
    "2 equal r10": chain([10, 10]),
    "2 equal r30": chain([30, 30]),
    "2 unequal r30 r12": chain([30, 12]),
    "3 in a row r15-25": chain([15, 20, 25]),
    "3 diagonal r12": chain([12, 12, 12], angle=0.6),
    "5 in a row r10-26": chain([10, 14, 18, 22, 26]),
    "5 in a ring r16": ring(5, 16),
    "5 in a ring r12": ring(5, 12),
}
# the discs' own parameters; fill_holes off so that the rings keep their hole
SYNTHETIC = dict(polarity="bright", background_radius=0, fill_holes=False)


# ------------------------------------------------------------------------------------------ coins
def gallery_coins():
    """scikit-image gallery's region-based coins segmentation (independent of this library)."""
    elevation = filters.sobel(COINS)
    markers = np.zeros_like(COINS)
    markers[COINS < 30] = 1
    markers[COINS > 150] = 2
    regions = sk_segmentation.watershed(elevation, markers)
    filled = ndi.binary_fill_holes(regions - 1)
    labels, _ = ndi.label(filled)
    sizes = np.bincount(labels.ravel())
    keep = sizes > 200  # drop specks of a few pixels
    keep[0] = False
    labels, count = ndi.label(keep[labels])
    return labels, count


def test_default_watershed_finds_the_24_coins():
    result = seg.watershed(COINS)
    assert result.count == 24
    labels = result.labels
    assert_valid_labels(labels, COINS.shape)
    areas = np.bincount(labels.ravel())[1:]
    # coin radii in this photo are about 17 to 32 px
    assert areas.min() > 700 and areas.max() < 3500, sorted(areas)

    reference, count = gallery_coins()
    assert count == 24
    centroids = ndi.center_of_mass(labels > 0, labels, range(1, 25))
    hits = [int(reference[int(round(r)), int(round(c))]) for r, c in centroids]
    assert 0 not in hits and sorted(hits) == list(range(1, 25))  # one coin per label, every coin once
    for label, coin in zip(range(1, 25), hits):
        a, b = labels == label, reference == coin
        assert (a & b).sum() / (a | b).sum() > 0.5

    # the coins lie on a 4 × 6 grid: sorted by row, the centroids fall into 4 rows of 6
    rows = sorted(centroids)
    for i in range(4):
        row = [r for r, _ in rows[6 * i:6 * i + 6]]
        assert max(row) - min(row) < 40
        if i:
            assert min(row) - max(r for r, _ in rows[6 * i - 6:6 * i]) > 20


def test_16bit_coins_give_the_same_count():
    assert seg.watershed(COINS.astype(np.uint16) * 257).count == 24


def test_intermediate_stages_are_returned():
    result = seg.watershed(COINS)
    assert result.foreground.dtype == bool and result.foreground.shape == COINS.shape
    assert result.distance.dtype == np.float32 and result.distance.shape == COINS.shape
    assert result.markers.dtype == np.int32 and result.markers.shape == COINS.shape
    assert result.threshold.mask is result.foreground or np.array_equal(result.threshold.mask, result.foreground)
    # the distance map is the exact Euclidean distance to the background (SciPy as the reference), blurred
    unblurred = seg.watershed(COINS, distance_sigma=0)
    np.testing.assert_allclose(unblurred.distance, ndi.distance_transform_edt(unblurred.foreground),
                               rtol=1e-5, atol=1e-4)
    sigma = result.recipe.distance_sigma
    np.testing.assert_allclose(result.distance, cv2.GaussianBlur(unblurred.distance, (0, 0), sigma), atol=1e-4)
    # labels live inside the foreground, every label holds a marker
    assert not result.labels[~result.foreground].any()
    for label in range(1, result.count + 1):
        assert result.markers[result.labels == label].any()


def test_distance_landscape_equals_scikit_image_on_the_returned_stages():
    for params in ({}, {"connectivity": 4}, {"compactness": 0.5}, {"watershed_line": True},
                   {"seeds": "distance_peaks", "min_distance": 10}):
        result = seg.watershed(COINS, **params)
        expected = sk_segmentation.watershed(
            -result.distance, result.markers, mask=result.foreground,
            connectivity=2 if result.recipe.connectivity == 8 else 1,
            compactness=params.get("compactness", 0.0), watershed_line=params.get("watershed_line", False))
        expected = sk_segmentation.relabel_sequential(expected)[0]
        assert np.array_equal(result.labels, expected), params


def test_h_maxima_seeds_equal_scikit_image():
    distance = seg.watershed(COINS).distance
    for h in (0.5, 1.0, 3.0):
        ours = h_maxima_seeds(distance, h) > 0
        reference = morphology.h_maxima(distance.astype(np.float64), h) > 0
        assert np.array_equal(ours, reference), h


def test_h_maxima_seeds_on_a_flat_map_are_empty():
    flat = np.zeros((30, 40), np.float32)
    assert not morphology.h_maxima(flat, 1.0).any()
    assert not h_maxima_seeds(flat, 1.0).any()


# ------------------------------------------------------------------------------- synthetic discs
@pytest.mark.parametrize("name", list(DISCS))
@pytest.mark.parametrize("seeds", ["h_maxima", "distance_peaks"])
def test_one_label_per_overlapping_disc_distance_landscape(name, seeds):
    image, centres = render(DISCS[name])
    result = seg.watershed(image, seeds=seeds, landscape="distance", **SYNTHETIC)
    assert_one_label_per_disc(result.labels, centres)


@pytest.mark.parametrize("name", list(DISCS))
@pytest.mark.parametrize("seeds", ["h_maxima", "distance_peaks"])
def test_one_label_per_overlapping_disc_gradient_landscape(name, seeds):
    # the gradient landscape needs an edge between the objects: discs with a darker rim
    image, centres = render(DISCS[name], rim=110)
    result = seg.watershed(image, seeds=seeds, landscape="gradient", **SYNTHETIC)
    assert (result.labels >= 0).all()
    assert_one_label_per_disc(result.labels, centres)


def test_default_parameters_split_discs_too():
    image, centres = render(chain([20, 20, 20]), margin=60)
    assert_one_label_per_disc(seg.watershed(image).labels, centres)


def _touching(labels, a, b):
    """Whether labels a and b share a 4-neighbour edge."""
    pairs = [(labels[:, :-1], labels[:, 1:]), (labels[:-1], labels[1:])]
    return any(((p == a) & (q == b)).any() or ((p == b) & (q == a)).any() for p, q in pairs)


@pytest.mark.parametrize("landscape", ["distance", "gradient"])
def test_watershed_line_separates_touching_discs(landscape):
    image, centres = render(chain([18, 18]))
    with_line = seg.watershed(image, landscape=landscape, watershed_line=True, **SYNTHETIC).labels
    without = seg.watershed(image, landscape=landscape, watershed_line=False, **SYNTHETIC).labels
    assert with_line.max() == without.max() == 2
    assert not _touching(with_line, 1, 2)
    assert _touching(without, 1, 2)
    # the line is background inside the foreground, between the two discs
    row = int(round(centres[0][0]))
    between = with_line[row, int(centres[0][1]):int(centres[1][1]) + 1]
    assert 0 in between and set(between) == {0, 1, 2}


def test_compactness_and_connectivity_run():
    image, centres = render(chain([15, 20, 25]))
    for params in ({"compactness": 0.01}, {"compactness": 100.0}, {"connectivity": 8},
                   {"connectivity": 8, "watershed_line": True}):
        result = seg.watershed(image, **params, **SYNTHETIC)
        assert result.count == 3, params
        assert_valid_labels(result.labels, image.shape)
        assert result.recipe.values()[next(iter(params))] == next(iter(params.values()))


# ---------------------------------------------------------------------------- intensity bands
def _domed_discs():
    """Three separate discs (body 150, rim 100) each with a bright core (230), and one touching pair."""
    image = np.full((90, 200), 20, np.uint8)
    discs = [(45, 30, 20), (45, 80, 20), (45, 130, 18), (45, 162, 18)]  # the last two overlap
    for y, x, r in discs:
        rr, cc = draw.disk((y, x), r, shape=image.shape)
        image[rr, cc] = 150
    yy, xx = np.mgrid[:90, :200]
    for y, x, r in discs:
        d = np.hypot(yy - y, xx - x)
        image[(d < r) & (d >= r - 2)] = 100  # an edge between the touching pair, for the gradient
    for y, x, r in discs:
        rr, cc = draw.disk((y, x), 5, shape=image.shape)
        image[rr, cc] = 230
    return image, discs


@pytest.mark.parametrize("landscape", ["distance", "gradient"])
def test_intensity_bands_explicit(landscape):
    image, discs = _domed_discs()
    result = seg.watershed(image, seeds="intensity_bands", band_low=60, band_high=200, landscape=landscape,
                           smoothing="none", **SYNTHETIC)
    # seeds: 8-connected pixels above the high band, one label each
    expected_seeds, n = ndi.label(image > 200, structure=np.ones((3, 3)))
    assert n == 4
    assert np.array_equal(result.markers > 0, expected_seeds > 0)
    assert len(np.unique(result.markers[result.markers > 0])) == 4
    assert_one_label_per_disc(result.labels, discs, tolerance=4.0)
    assert not any("multi-Otsu" in note for note in result.notes)


def test_intensity_bands_auto_use_multiotsu():
    image, discs = _domed_discs()
    result = seg.watershed(image, seeds="intensity_bands", smoothing="none", **SYNTHETIC)
    low, high = filters.threshold_multiotsu(image, classes=3)
    assert any("multi-Otsu" in note and f"{high:g}" in note for note in result.notes)
    assert np.array_equal(result.markers > 0, image > high)
    assert_one_label_per_disc(result.labels, discs, tolerance=4.0)
    # a given band wins over the automatic one
    partly = seg.watershed(image, seeds="intensity_bands", band_high=200, smoothing="none", **SYNTHETIC)
    assert np.array_equal(partly.markers > 0, image > 200)
    # the bands apply to the image the foreground was thresholded on (here smoothed)
    smoothed = seg.watershed(image, seeds="intensity_bands", band_low=60, band_high=200, **SYNTHETIC)
    assert smoothed.recipe.foreground.smoothing == "gaussian"
    assert np.array_equal(smoothed.markers > 0, smoothed.threshold.processed > 200)


# ------------------------------------------------------------------------------- points, markers
def _three_discs():
    image = np.full((60, 160), 20, np.uint8)
    centres = [(30, 25), (30, 80), (30, 135)]
    for c in centres:
        rr, cc = draw.disk(c, 15, shape=image.shape)
        image[rr, cc] = 200
    return image, centres


@pytest.mark.parametrize("landscape", ["distance", "gradient"])
def test_point_seeds(landscape):
    image, centres = _three_discs()
    result = seg.watershed(image, seeds="points", points=centres, landscape=landscape, **SYNTHETIC)
    assert result.count == 3
    for index, (r, c) in enumerate(centres, start=1):
        assert result.markers[r, c] == index
        assert result.labels[r, c] == index
        disc = np.zeros(image.shape, bool)
        rr, cc = draw.disk((r, c), 12, shape=image.shape)
        disc[rr, cc] = True
        assert (result.labels[disc] == index).all()


def test_two_points_on_one_disc_split_it_and_an_unseeded_disc_stays_out():
    image, centres = _three_discs()
    points = [(30, 15), (30, 35), (30, 80)]
    result = seg.watershed(image, seeds="points", points=points, **SYNTHETIC)
    assert result.count == 3
    assert result.labels[30, 15] != result.labels[30, 35]
    assert not result.labels[30, 135]  # points are the only seeds


def test_point_outside_the_image_is_a_value_error_naming_it():
    image, _ = _three_discs()
    with pytest.raises(ValueError, match=r"\(500, 10\)"):
        seg.watershed(image, seeds="points", points=[(30, 25), (500, 10)], **SYNTHETIC)
    with pytest.raises(ValueError, match=r"\(10, 160\)"):
        seg.watershed(image, seeds="points", points=[(10, 160)], **SYNTHETIC)


def test_marker_image():
    image, centres = _three_discs()
    markers = np.zeros(image.shape, np.int32)
    for index, (r, c) in enumerate(centres, start=1):
        markers[r - 1:r + 2, c - 1:c + 2] = index * 10  # any positive values
    result = seg.watershed(image, markers=markers, **SYNTHETIC)
    assert result.recipe.seeds == "marker_image"
    assert result.count == 3
    assert_valid_labels(result.labels, image.shape)
    assert len({result.labels[r, c] for r, c in centres}) == 3
    as_bool = seg.watershed(image, markers=markers > 0, **SYNTHETIC)
    assert as_bool.count == 3
    gradient = seg.watershed(image, markers=markers, landscape="gradient", **SYNTHETIC)
    assert gradient.count == 3


def test_marker_image_problems_are_value_errors():
    image, _ = _three_discs()
    with pytest.raises(ValueError, match="marker image"):
        seg.watershed(image, markers=np.zeros((10, 10), np.int32))
    with pytest.raises(ValueError, match="whole numbers"):
        seg.watershed(image, markers=np.zeros(image.shape, np.float32))
    with pytest.raises(ValueError, match="markers="):
        seg.watershed(image, seeds="marker_image")


# ------------------------------------------------------------------------------ gradient details
def test_gradient_landscape_has_no_minus_one_and_no_border_artefact():
    image = np.full((70, 120), 20, np.uint8)
    rr, cc = draw.disk((0, 40), 22, shape=image.shape)  # cut by the top edge
    image[rr, cc] = 200
    rr, cc = draw.disk((40, 119), 18, shape=image.shape)  # cut by the right edge
    image[rr, cc] = 200
    result = seg.watershed(image, landscape="gradient", **SYNTHETIC)
    labels = result.labels
    assert result.count == 2 and labels.min() == 0
    top = np.flatnonzero(labels[1] > 0)
    assert top.size > 20
    assert np.array_equal(labels[0, top], labels[1, top])  # border row labelled like its neighbours
    right = np.flatnonzero(labels[:, -2] > 0)
    assert right.size > 20
    assert np.array_equal(labels[right, -1], labels[right, -2])
    # OpenCV alone marks the whole border -1: that is what the padding has to avoid
    markers = np.zeros(image.shape, np.int32)
    markers[5, 40], markers[40, 110], markers[60, 5] = 1, 2, 3
    raw = cv2.watershed(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), markers)
    assert (raw[0] == -1).all()


@pytest.mark.parametrize("landscape", [
    "distance",
    "gradient",
])
def test_empty_foreground_gives_zero_labels(landscape):
    for image in (np.zeros((30, 40), np.uint8), np.full((30, 40), 7, np.uint16)):
        result = seg.watershed(image, landscape=landscape)
        assert result.count == 0
        assert not result.labels.any() and result.labels.dtype == np.int32
        assert not result.foreground.any()


@pytest.mark.parametrize("seeds", ["distance_peaks", "points"])
@pytest.mark.parametrize("landscape", ["distance", "gradient"])
def test_empty_foreground_with_other_seeds(seeds, landscape):
    result = seg.watershed(np.zeros((30, 40), np.uint8), seeds=seeds, landscape=landscape)
    assert result.count == 0 and result.labels.dtype == np.int32


@pytest.mark.parametrize("connectivity", [
    4,
    8,
])
@pytest.mark.parametrize("seeds", ["h_maxima", "distance_peaks"])
def test_every_foreground_pixel_is_labelled(connectivity, seeds):
    image = np.zeros((12, 12), np.uint8)
    image[1:5, 1:5] = 200
    image[5:9, 5:9] = 200  # touches the first square at one corner only
    result = seg.watershed(image, seeds=seeds, connectivity=connectivity, polarity="bright", smoothing="none",
                           background_radius=0, closing=0, fill_holes=False, min_size=0)
    assert result.foreground.sum() == 32
    assert np.array_equal(result.labels > 0, result.foreground)


# -------------------------------------------------------------------------- keyword splitting
def test_foreground_keywords_reach_the_threshold_step():
    result = seg.watershed(COINS, method="li", min_size=30, seeds="distance_peaks", min_distance=9)
    assert result.recipe.foreground.method == "li"
    assert result.recipe.foreground.min_size == 30
    assert result.recipe.seeds == "distance_peaks" and result.recipe.min_distance == 9
    assert result.threshold.thresholds[0] != seg.watershed(COINS).threshold.thresholds[0]
    with pytest.raises(ValueError, match="minsize"):
        seg.watershed(COINS, minsize=30)
    # keywords on top of a recipe
    recipe = seg.WatershedRecipe(seeds="distance_peaks")
    on_top = seg.watershed(COINS, recipe, min_distance=12, method="yen")
    assert on_top.recipe.seeds == "distance_peaks" and on_top.recipe.min_distance == 12
    assert on_top.recipe.foreground.method == "yen"


# ------------------------------------------------------------------------------------ nuclei
def _object_f1(pred, true, threshold=0.5):
    """Object F1 at IoU > threshold (matches above 0.5 are necessarily one-to-one)."""
    p, t = pred.ravel().astype(np.int64), true.ravel().astype(np.int64)
    n_pred, n_true = int(p.max()), int(t.max())
    overlap = np.bincount(p * (n_true + 1) + t, minlength=(n_pred + 1) * (n_true + 1)).reshape(n_pred + 1, -1)
    area_p, area_t = np.bincount(p, minlength=n_pred + 1), np.bincount(t, minlength=n_true + 1)
    inter = overlap[1:, 1:]
    iou = inter / np.maximum(area_p[1:, None] + area_t[None, 1:] - inter, 1)
    tp = int((iou > threshold).sum())
    return 2 * tp / (n_pred + n_true)


def test_synthetic_nuclei_count_and_f1():
    image = tifffile.imread(ROOT / "samples" / "nuclei.tif")
    truth = tifffile.imread(ROOT / "samples" / "nuclei_labels.tif")
    n_true = len(np.unique(truth)) - 1
    result = seg.watershed(image)
    assert abs(result.count - n_true) <= 0.15 * n_true, (result.count, n_true)
    assert _object_f1(result.labels, truth) > 0.8
