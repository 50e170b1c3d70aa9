"""Data as it really comes: the reported inputs give the right values in the library and the command line.

The inputs are made by ``real_data_inputs`` (from code, nothing binary). The right values come from the
published rules (IEEE comparisons: NaN is never foreground, +inf is above every finite threshold and -inf
below) and from scikit-image on the finite pixels or on the exact integer array.
"""

from __future__ import annotations

import csv
import itertools
from fractions import Fraction

import numpy as np
import pytest
import tifffile
from cli_helpers import run_cli as _run
from real_data_inputs import (
    DARK_OBJECTS,
    NAN_HALF_OBJECTS,
    disc_markers,
    few_levels_uint16,
    nan_half,
    nan_stripe_dark,
    nonfinite_regions,
    png_bytes,
    touching_discs,
)
from skimage import filters
from skimage import segmentation as sk_segmentation

import segmentation as seg

THRESHOLD_METHODS = [name for name in seg.METHODS if name != "manual"]


def _objects(corners, size, shape):
    mask = np.zeros(shape, bool)
    for top, left in corners:
        mask[top:top + size, left:left + size] = True
    return mask


# ------------------------------------------------------------------------- 1. NaN "no data" areas
def test_nan_half_otsu_is_the_otsu_of_the_finite_pixels():
    image = nan_half()
    result = seg.threshold(image, "otsu")
    finite = image[np.isfinite(image)]
    assert result.thresholds == (pytest.approx(float(filters.threshold_otsu(finite))),)
    assert result.polarity == "bright"
    assert np.array_equal(result.mask, _objects(NAN_HALF_OBJECTS, 20, image.shape))  # the six objects
    assert result.foreground_fraction == pytest.approx(0.06)
    assert any("20,000 pixels not finite" in note for note in result.notes)


# ------------------------------------------------------------------------- 2. NaN with dark objects
@pytest.mark.parametrize("method", THRESHOLD_METHODS)
def test_nan_is_never_foreground_with_dark_objects(method):
    image = nan_stripe_dark()
    result = seg.threshold(image, method, polarity="dark")
    assert not result.mask[np.isnan(image)].any()
    assert not result.raw_mask[np.isnan(image)].any()
    truth = _objects(DARK_OBJECTS, 20, image.shape)
    if method in ("yen", "niblack"):
        # Yen's threshold of these pixels lies inside the background's spread and Niblack marks every
        # pixel a little below its local mean: both select more than the objects, never a NaN pixel.
        assert result.mask[truth].all()
    else:
        assert np.array_equal(result.mask, truth)


def test_nan_stripe_watershed_finds_the_three_objects():
    image = nan_stripe_dark()
    result = seg.watershed(image)
    assert result.count == 3
    assert not result.labels[np.isnan(image)].any()
    # the default clean-up may round the squares' corners: each object holds its square's core, nothing outside
    objects = _objects(DARK_OBJECTS, 20, image.shape)
    assert not (result.labels[~objects]).any()
    assert (result.labels[_objects([(r + 3, c + 3) for r, c in DARK_OBJECTS], 14, image.shape)] > 0).all()


# ---------------------------------------------------------------- every method, NaN, +inf and -inf
@pytest.mark.parametrize("kind", ["nan", "inf", "-inf", "mixed"])
@pytest.mark.parametrize("method", THRESHOLD_METHODS)
@pytest.mark.parametrize("polarity", ["bright", "dark"])
def test_every_method_follows_ieee_rules_on_non_finite_regions(kind, method, polarity):
    image = nonfinite_regions(kind)
    result = seg.threshold(image, method, polarity=polarity, classes=3)
    raw = result.raw_mask
    assert not raw[np.isnan(image)].any()  # NaN is never foreground
    if method in seg.GLOBAL_METHODS:
        # +inf is above every finite threshold, -inf below
        assert raw[image == np.inf].all() == (polarity == "bright") or not (image == np.inf).any()
        assert raw[image == -np.inf].all() == (polarity == "dark") or not (image == -np.inf).any()
        finite = image[np.isfinite(image)][np.newaxis]
        if method == "multiotsu":
            expected = seg.multiotsu_thresholds(finite, 3)
        else:
            expected = (getattr(seg, f"{method}_threshold")(finite),)
        assert result.thresholds == expected


@pytest.mark.parametrize("kind", ["nan", "inf", "-inf", "mixed"])
@pytest.mark.parametrize("options", [{}, {"smoothing": "gaussian", "sigma": 2.0},
                                     {"smoothing": "median", "median_size": 5}, {"background_radius": 20}])
def test_pre_processing_keeps_no_data_and_the_objects(kind, options):
    image = nonfinite_regions(kind)
    result = seg.threshold(image, "otsu", polarity="bright", **options)
    objects = _objects([(10, 10), (10, 60), (60, 10), (60, 60)], 16, image.shape)
    assert not result.mask[np.isnan(image)].any()
    # The objects far from the non-finite block are found whatever the pre-processing (smoothing may round
    # their corners, so the core of each object is checked).
    core = _objects([(12, 12), (12, 62), (62, 12), (62, 62)], 12, image.shape)
    assert result.mask[core].all()
    finite_far = np.isfinite(image)
    finite_far[90:, 90:] = False
    assert not result.mask[finite_far & ~objects].any()


@pytest.mark.parametrize("kind", ["nan", "inf", "-inf", "mixed"])
@pytest.mark.parametrize("seeds", ["h_maxima", "distance_peaks", "intensity_bands"])
@pytest.mark.parametrize("landscape", ["distance", "gradient"])
def test_watershed_never_makes_objects_of_nan(kind, seeds, landscape):
    image = nonfinite_regions(kind)
    result = seg.watershed(image, seeds=seeds, landscape=landscape, polarity="bright")
    assert not result.labels[np.isnan(image)].any()
    if seeds != "intensity_bands":
        inf = image == np.inf
        ordinary = np.unique(result.labels[~inf & (result.labels > 0)])
        assert len(ordinary) == 4  # the four objects, each its own
        assert result.foreground[inf].all()  # +inf is above the threshold: foreground, in objects of its own
        if landscape == "distance":
            assert result.labels[inf].all()
        elif inf.any():  # the gradient flood gives an object's edge pixels to the side of the steepest step
            assert np.count_nonzero(result.labels[inf]) > 0.5 * np.count_nonzero(inf)
        assert not np.isin(result.labels[inf], ordinary).any()


def test_measurements_leave_nan_out_and_keep_infinities():
    image = nonfinite_regions("mixed")
    labels = np.zeros(image.shape, np.int32)
    labels[10:26, 10:26] = 1  # an ordinary object
    labels[95:115, 95:105] = 2  # NaN and +inf pixels
    labels[95:115, 95:100] = 3  # NaN only
    table = seg.measure(labels, image)
    rows = {int(label): i for i, label in enumerate(table["label"])}
    object1 = image[10:26, 10:26]
    assert table["mean_intensity"][rows[1]] == pytest.approx(float(object1.astype(np.float64).mean()))
    assert table["mean_intensity"][rows[2]] == np.inf and table["max_intensity"][rows[2]] == np.inf
    assert np.isnan(table["mean_intensity"][rows[3]])


def test_an_image_without_a_finite_pixel_is_refused_in_plain_words():
    with pytest.raises(seg.ParameterError, match="no finite values"):
        seg.threshold(np.full((8, 8), np.nan, np.float32))


# --------------------------------------------------------------- 3. 16-bit data with few levels
def test_multiotsu_on_three_16bit_levels_equals_scikit_image():
    image = seg.load_image(png_bytes(few_levels_uint16()))
    assert image.dtype == np.uint16
    expected = tuple(float(t) for t in filters.threshold_multiotsu(few_levels_uint16(), 3))
    assert expected == (0.0, 100.0)
    assert seg.multiotsu_thresholds(image, 3) == expected
    result = seg.threshold(image, "multiotsu", classes=3, polarity="bright")
    assert result.thresholds == expected and np.array_equal(result.mask, image > 100)


@pytest.mark.parametrize("seed", range(6))
def test_16bit_histogram_methods_never_merge_few_levels(seed):
    rng = np.random.default_rng(seed)
    levels = np.sort(rng.choice(4000 if seed % 2 else 65536, int(rng.integers(4, 30)), replace=False))
    image = levels.astype(np.uint16)[rng.integers(0, len(levels), (48, 48))]
    for method, reference in (("yen", filters.threshold_yen), ("isodata", filters.threshold_isodata)):
        t = getattr(seg, f"{method}_threshold")(image)
        assert np.array_equal(image > t, image > reference(image)), method  # scikit-image on the exact integers
    if seed % 2:  # a range multi-Otsu's table can afford one bin per value
        assert seg.multiotsu_thresholds(image, 3) == tuple(float(t) for t in filters.threshold_multiotsu(image, 3))


@pytest.mark.parametrize("seed", range(6))
def test_minimum_and_triangle_never_merge_few_16bit_levels(seed):
    # 256 bins over a wide range put close levels in one bin; a 16-bit image of at most 256 values whose values
    # they would merge is thresholded on its exact integers (one bin per value), as scikit-image does.
    rng = np.random.default_rng(seed)
    levels = np.sort(rng.choice(65536, int(rng.integers(3, 12)), replace=False))
    levels[1] = levels[0] + 1 + seed  # two close levels, always in one of the 256 bins
    image = levels.astype(np.uint16)[rng.integers(0, len(levels), (48, 48))]
    assert seg.triangle_threshold(image) == float(filters.threshold_triangle(image))
    span = int(image.max()) - int(image.min()) + 1
    passes = min(10_000, max(20, 3_000_000 // span))  # the documented bound: about a second of smoothing
    try:
        expected = float(filters.threshold_minimum(image, max_num_iter=passes))
    except RuntimeError:
        with pytest.raises(seg.SegmentationError, match=r"grey levels: in 256 histogram bins its levels"):
            seg.minimum_threshold(image)
    else:
        assert seg.minimum_threshold(image) == expected


def test_minimum_of_three_16bit_levels_is_scikit_images():
    image = few_levels_uint16()  # 0, 100 and 65535: 256 bins over the range put 0 and 100 in one bin
    assert seg.minimum_threshold(image) == float(filters.threshold_minimum(image)) == 2.0
    assert np.array_equal(seg.threshold(image, "minimum", polarity="bright").mask, image > 2)
    four = np.array([0, 100, 200, 65535], np.uint16)[np.arange(400).reshape(20, 20) % 4]
    with pytest.raises(seg.SegmentationError, match=r"levels 0 and 100 would become one.*use Otsu"):
        seg.minimum_threshold(four)  # scikit-image needs 27 s of passes for a valley at 150


def test_minimum_on_a_narrow_16bit_range_is_scikit_images_on_the_integers():
    rng = np.random.default_rng(1)
    image = (rng.normal(1000, 20, (60, 60)).clip(900, 1100) + 100 * (rng.random((60, 60)) > 0.5)).astype(np.uint16)
    assert int(image.max()) - int(image.min()) < 256
    assert seg.minimum_threshold(image) == float(filters.threshold_minimum(image))


# ------------------------------------------------------------------------------ the command line
def test_command_line_gives_the_right_values(tmp_path):
    tifffile.imwrite(tmp_path / "nan_half.tif", nan_half())
    tifffile.imwrite(tmp_path / "nan_stripe.tif", nan_stripe_dark())
    (tmp_path / "few_levels.png").write_bytes(png_bytes(few_levels_uint16()))
    done = _run("threshold", "nan_half.tif", "--method", "otsu", "--out", "otsu", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    mask = seg.load_image(tmp_path / "otsu" / "nan_half_mask.png") > 0
    assert np.array_equal(mask, _objects(NAN_HALF_OBJECTS, 20, (200, 200)))
    with open(tmp_path / "otsu" / "summary.csv", newline="", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    assert float(row["foreground_fraction"]) == pytest.approx(0.06)
    assert "20,000 pixels not finite" in row["message"]

    done = _run("watershed", "nan_stripe.tif", "--out", "ws", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    labels = seg.load_image(tmp_path / "ws" / "nan_stripe_labels.png")
    assert len(np.unique(labels)) == 4  # background + the three objects
    assert not labels[np.isnan(nan_stripe_dark())].any()

    done = _run("threshold", "few_levels.png", "--method", "multiotsu", "--classes", "3", "--polarity", "bright",
                "--out", "mo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with open(tmp_path / "mo" / "summary.csv", newline="", encoding="utf-8") as handle:
        row = next(csv.DictReader(handle))
    assert [float(t) for t in row["thresholds"].split()] == [0.0, 100.0]


def test_marker_ids_of_any_size_give_the_objects_scikit_image_gives():
    image, _ = touching_discs()
    foreground = image > 100
    for ids, dtype in (((3_000_000_000, 4_000_000_000), np.uint32), ((2**40, 2**41 + 5), np.int64)):
        markers = disc_markers(ids, dtype)
        ours = seg.watershed(image, markers=markers, polarity="bright")
        distance = seg.distance_map(foreground)
        theirs = sk_segmentation.watershed(-distance, markers, mask=foreground)
        assert ours.count == len(np.unique(theirs)) - 1 == 2


@pytest.mark.parametrize("kind", ["nan", "inf", "-inf", "mixed"])
@pytest.mark.parametrize("options", [{}, {"background_radius": 50}, {"background_radius": 50, "polarity": "dark"}])
def test_the_note_counts_the_input_s_non_finite_pixels_whatever_the_pre_processing(kind, options):
    image = nonfinite_regions(kind)
    count = np.count_nonzero(~np.isfinite(image))
    notes = seg.threshold(image, "otsu", **options).notes
    assert any(note.startswith(f"{count:,} pixels not finite") for note in notes), notes
    assert any(note.startswith(f"{count:,} pixels not finite") for note in seg.watershed(image).notes)


@pytest.mark.parametrize("options", [{"fill_holes": True}, {"closing": 5}, {}])
def test_clean_up_never_makes_a_nan_hole_foreground(options):
    image = nan_half()
    image[25:30, 25:30] = np.nan  # a "no data" hole inside the first object
    result = seg.threshold(image, "otsu", **options)
    assert not result.mask[np.isnan(image)].any()
    assert not seg.watershed(image).labels[np.isnan(image)].any()  # fill_holes is on by default there


def _otsu_objective(levels, counts, thresholds):
    """Otsu's multi-level criterion, exactly: the sum over classes of (sum count·level)² / (sum count)."""
    classes = np.searchsorted(np.asarray(thresholds, np.float64), levels, side="left")
    total = Fraction(0)
    for c in np.unique(classes):
        mass = sum(int(n) for n in counts[classes == c])
        moment = sum(int(n) * int(v) for n, v in zip(counts[classes == c], levels[classes == c]))
        total += Fraction(moment * moment, mass)
    return total


@pytest.mark.parametrize("seed", range(12))
def test_multiotsu_on_few_16bit_levels_over_a_wide_range_is_otsu_s_exact_optimum(seed):
    rng = np.random.default_rng(seed)
    classes = int(rng.integers(2, 5))
    levels = np.sort(rng.choice(65536, int(rng.integers(classes + 1, 11)), replace=False))
    levels[-1] = max(levels[-1], levels[0] + 5000)  # a range no 4,096-level table covers
    image = levels.astype(np.uint16)[rng.integers(0, len(levels), (30, 40))]
    present, counts = np.unique(image, return_counts=True)
    if len(present) <= classes:
        return
    got = seg.multiotsu_thresholds(image, classes)
    assert set(got) <= {float(v) for v in present}  # each threshold the top level of its class
    # the definition, by brute force over every placement of the thresholds among the levels
    best = max(_otsu_objective(present, counts, present[list(split)])
               for split in itertools.combinations(range(len(present) - 1), classes - 1))
    assert _otsu_objective(present, counts, got) == best


def test_multiotsu_never_merges_close_16bit_levels_far_from_the_top():
    image = np.repeat(np.array([0, 100, 200, 65535], np.uint16), 1600).reshape(40, 160)
    # {0} | {100, 200} | {65535} and {0, 100} | {200} | {65535} tie exactly (72e6 each); the first is kept.
    assert seg.multiotsu_thresholds(image, 3) == (0.0, 200.0)
    assert seg.threshold(image, "multiotsu", classes=3, polarity="bright").mask.sum() == 1600


def _rgb_with_one_nonfinite_channel() -> np.ndarray:
    image = np.full((40, 40, 3), 0.5, np.float32)
    image[30:, 30:] = (0.9, 0.1, 0.1)  # a saturated red object
    image[:10, :10, 0] = np.nan  # "no data" in red only
    image[10:20, 10:20, 1] = np.inf
    image[20:30, 20:30, 2] = -np.inf
    return image


@pytest.mark.parametrize("channel", ["hue", "saturation"])
def test_hue_and_saturation_of_a_pixel_with_a_nonfinite_channel_are_no_data(channel):
    # OpenCV's HSV conversion made a NaN red pixel saturation 0: foreground for every dark-polarity method.
    image = _rgb_with_one_nonfinite_channel()
    plane = seg.extract_channel(image, channel)
    assert np.array_equal(np.isnan(plane), ~np.isfinite(image).all(axis=2))
    for polarity in ("bright", "dark"):
        for method in ("otsu", "li", "sauvola"):
            result = seg.threshold(image, method, channel=channel, polarity=polarity)
            assert not result.mask[~np.isfinite(image).all(axis=2)].any(), (method, polarity)
    assert "300 pixels not finite" in " ".join(seg.threshold(image, "otsu", channel=channel).notes)
