"""The exported building blocks check their own contract, and handle degenerate inputs as documented.

Regions, measurement, display, export writers and samples: a wrong dtype, ndim, word or out-of-range
number raises :class:`segmentation.ParameterError` (a ``ValueError``) whose message names the parameter.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import segmentation as seg

Z = np.zeros((6, 8), np.float32)  # a distance map
L = np.zeros((6, 8), np.int32)  # labels / seeds
M = np.zeros((6, 8), bool)  # a mask
U8 = np.zeros((6, 8), np.uint8)  # an image


def _other_shape(array):
    return np.zeros((array.shape[0] + 1, array.shape[1]), array.dtype)


# (function, args, kwargs, the parameter the message must name)
CASES = [
    # regions: label images
    (seg.label_objects, (U8,), {}, "mask"),
    (seg.label_objects, (np.zeros((2, 3, 4), bool),), {}, "mask"),
    (seg.label_objects, (M, 6), {}, "connectivity"),
    (seg.label_objects, (M, True), {}, "connectivity"),
    (seg.label_objects, (M, "8"), {}, "connectivity"),
    (seg.as_labels, (np.zeros((3, 3, 3), np.int32),), {}, "labels"),
    (seg.as_labels, (Z,), {}, "labels"),
    (seg.as_labels, (np.full((2, 2), -1, np.int32),), {}, "labels"),
    (seg.as_labels, (Z, "truth"), {}, "truth"),
    # regions: distance map and seeds
    (seg.distance_map, (U8,), {}, "foreground"),
    (seg.distance_map, (M,), {"sigma": -1.0}, "sigma"),
    (seg.distance_map, (M,), {"sigma": float("nan")}, "sigma"),
    (seg.h_maxima_seeds, (L,), {}, "distance"),
    (seg.h_maxima_seeds, (np.zeros((2, 3, 4), np.float32),), {}, "distance"),
    (seg.h_maxima_seeds, (Z, 0), {}, "h"),
    (seg.h_maxima_seeds, (Z, "1"), {}, "h"),
    (seg.distance_peak_seeds, (U8, L), {}, "distance"),
    (seg.distance_peak_seeds, (Z, Z), {}, "foreground_labels"),
    (seg.distance_peak_seeds, (Z, M), {}, "foreground_labels"),
    (seg.distance_peak_seeds, (Z, _other_shape(L)), {}, "foreground_labels"),
    (seg.distance_peak_seeds, (Z, L), {"min_distance": 0}, "min_distance"),
    (seg.distance_peak_seeds, (Z, L), {"min_distance": 2.5}, "min_distance"),
    (seg.distance_peak_seeds, (Z, L), {"peak_fraction": 1.5}, "peak_fraction"),
    (seg.intensity_band_markers, (L, 1, 2), {}, "image"),
    (seg.intensity_band_markers, (np.zeros((6, 8, 3), np.uint8), 1, 2), {}, "image"),
    (seg.intensity_band_markers, (U8, float("nan"), 2), {}, "low"),
    (seg.intensity_band_markers, (U8, 1, "2"), {}, "high"),
    (seg.intensity_band_markers, (U8, 1, 2, "Bright"), {}, "polarity"),
    (seg.intensity_band_markers, (U8, 1, 2, "auto"), {}, "polarity"),
    (seg.point_seeds, ((6,), []), {}, "shape"),
    (seg.point_seeds, ((6, -1), []), {}, "shape"),
    (seg.point_seeds, ((6, 8), "1,2"), {}, "points"),
    (seg.point_seeds, ((6, 8), [(1,)]), {}, "points"),
    (seg.point_seeds, ((6, 8), [(1.5, 2)]), {}, "points"),
    (seg.point_seeds, ((6, 8), [(1, 2), (6, 0)]), {}, "points"),
    (seg.seed_every_object, (Z, L, Z), {}, "seeds"),
    (seg.seed_every_object, (L, M, Z), {}, "foreground_labels"),
    (seg.seed_every_object, (L, L, L), {}, "distance"),
    (seg.seed_every_object, (L, L, _other_shape(Z)), {}, "distance"),
    # regions: flooding
    (seg.flood_distance, (Z, L, M), {"connectivity": 6}, "connectivity"),
    (seg.flood_distance, (Z, L, M), {"connectivity": 1}, "connectivity"),
    (seg.flood_distance, (Z, L, M), {"compactness": -0.5}, "compactness"),
    (seg.flood_distance, (Z, L, M), {"watershed_line": 1}, "watershed_line"),
    (seg.flood_distance, (L, L, M), {}, "distance"),
    (seg.flood_distance, (Z, Z, M), {}, "seeds"),
    (seg.flood_distance, (Z, L, U8), {}, "foreground"),
    (seg.flood_distance, (Z, L, _other_shape(M)), {}, "foreground"),
    (seg.flood_gradient, (L, L, M), {}, "image"),
    (seg.flood_gradient, (np.zeros((6, 8, 4), np.uint8), L, M), {}, "image"),
    (seg.flood_gradient, (np.zeros((0, 8), np.uint8), np.zeros((0, 8), np.int32), np.zeros((0, 8), bool)), {},
     "image"),
    (seg.flood_gradient, (U8, M, M), {}, "seeds"),
    (seg.flood_gradient, (U8, L, U8), {}, "background"),
    (seg.flood_gradient, (U8, _other_shape(L), M), {}, "seeds"),
    (seg.flood_gradient, (U8, L, M), {"watershed_line": "yes"}, "watershed_line"),
    (seg.watershed, (U8, "h_maxima"), {}, "recipe"),
    (seg.watershed, (U8,), {"connectivity": 6}, "connectivity"),
    (seg.watershed, (U8,), {"markers": np.zeros((3, 3), np.int32)}, "markers"),
    (seg.watershed, (U8,), {"markers": Z}, "markers"),
    (seg.watershed, (U8,), {"seeds": "marker_image"}, "markers"),
    # measurement
    (seg.measure, (np.zeros((4, 4, 2), np.int32),), {}, "labels"),
    (seg.measure, (Z,), {}, "labels"),
    (seg.measure, (L, np.zeros((6, 8), np.int32)), {}, "image"),
    (seg.measure, (L, np.zeros((5, 8), np.uint8)), {}, "image"),
    (seg.measure, (L,), {"pixel_size": 0}, "pixel_size"),
    (seg.measure, (L,), {"pixel_size": "1"}, "pixel_size"),
    (seg.measure, (L,), {"pixel_size": float("inf")}, "pixel_size"),
    (seg.measure, (L,), {"unit": None}, "unit"),
    (seg.measure, (L,), {"pixel_size": 1.0, "unit": "°"}, "unit"),
    (seg.unit_suffix, (None,), {}, "unit"),
    (seg.unit_suffix, ("  ",), {}, "unit"),
    (seg.mask_agreement, (U8, M), {}, "pred"),
    (seg.mask_agreement, (M, np.zeros((2, 3, 4), bool)), {}, "truth"),
    (seg.mask_agreement, (M, _other_shape(M)), {}, "truth"),
    (seg.pairwise_iou, ([M],), {}, "masks"),
    (seg.pairwise_iou, ({"a": U8},), {}, "masks['a']"),
    (seg.pairwise_iou, ({"a": M, "b": _other_shape(M)},), {}, "masks"),
    (seg.object_f1, (Z, L), {}, "pred_labels"),
    (seg.object_f1, (L, np.full((6, 8), -2, np.int32)), {}, "true_labels"),
    (seg.object_f1, (L, _other_shape(L)), {}, "true_labels"),
    (seg.object_f1, (L, L), {"iou_threshold": 1.0}, "iou_threshold"),
    (seg.object_f1, (L, L), {"iou_threshold": -0.1}, "iou_threshold"),
    (seg.object_f1, (L, L), {"iou_threshold": "0.5"}, "iou_threshold"),
    # display
    (seg.display_image, (L,), {}, "image"),
    (seg.display_image, (np.zeros((6, 8, 4), np.uint8),), {}, "image"),
    (seg.display_image, (np.zeros((0, 8), np.uint8),), {}, "image"),
    (seg.display_image, (U8,), {"stretch": "Auto"}, "stretch"),
    (seg.display_image, (U8,), {"percentiles": (99, 1)}, "percentiles"),
    (seg.display_image, (U8,), {"percentiles": (1, 101)}, "percentiles"),
    (seg.display_image, (U8,), {"percentiles": "ab"}, "percentiles"),
    (seg.display_image, (U8,), {"percentiles": 5}, "percentiles"),
    (seg.mask_image, (U8,), {}, "mask"),
    (seg.mask_image, (M,), {"color": (300, 0, 0)}, "color"),
    (seg.mask_image, (M,), {"color": (0.5, 0.5, 0.5)}, "color"),
    (seg.mask_image, (M,), {"background": "red"}, "background"),
    (seg.colorize_labels, (Z,), {}, "labels"),
    (seg.colorize_labels, (np.full((2, 2), -1, np.int32),), {}, "labels"),
    (seg.colorize_labels, (L,), {"background": (1, 2)}, "background"),
    (seg.label_palette, (-1,), {}, "n"),
    (seg.label_palette, (2.5,), {}, "n"),
    (seg.label_palette, ("3",), {}, "n"),
    (seg.label_palette, (2**31 + 1,), {}, "n"),
    (seg.boundary_overlay, (L, M), {}, "image"),
    (seg.boundary_overlay, (U8, Z), {}, "segmentation"),
    (seg.boundary_overlay, (U8, _other_shape(M)), {}, "segmentation"),
    (seg.boundary_overlay, (U8, M), {"color": (1, 2)}, "color"),
    (seg.boundary_overlay, (U8, M), {"thickness": 0}, "thickness"),
    (seg.boundary_overlay, (U8, M), {"thickness": 1.5}, "thickness"),
    (seg.boundary_overlay, (U8, M), {"fill_opacity": 1.5}, "fill_opacity"),
    (seg.boundary_overlay, (U8, M), {"fill_colors": "rainbow"}, "fill_colors"),
    (seg.downscale, (U8, 4), {"kind": "thumbnail"}, "kind"),
    (seg.downscale, (U8, 0), {}, "max_side"),
    (seg.downscale, (U8, "4"), {}, "max_side"),
    (seg.downscale, (U8, 4), {"kind": "mask"}, "image"),
    (seg.downscale, (Z, 4), {"kind": "labels"}, "image"),
    (seg.downscale, (np.zeros((0, 8), bool), 4), {"kind": "mask"}, "image"),
    # export
    (seg.encode_png, (Z,), {}, "array"),
    (seg.encode_png, (np.zeros((6, 8, 4), np.uint8),), {}, "array"),
    (seg.encode_labels, (Z,), {}, "labels"),
    (seg.encode_labels, (np.full((2, 2), -1, np.int32),), {}, "labels"),
    (seg.encode_labels, (L,), {"format": "jpeg"}, "format"),
    (seg.encode_labels, (L,), {"format": 3}, "format"),
    (seg.encode_labels, (np.full((2, 2), 70_000, np.int32),), {"format": "png"}, "labels"),
    (seg.encode_png_bytes, (Z,), {}, "image"),
    (seg.encode_png_bytes, (U8,), {"compression": 10}, "compression"),
    (seg.encode_jpeg_bytes, (np.zeros((6, 8), np.uint16),), {}, "rgb"),
    (seg.encode_jpeg_bytes, (U8,), {"quality": 0}, "quality"),
    (seg.encode_jpeg_bytes, (U8,), {"quality": 90.5}, "quality"),
    (seg.write_bytes_atomic, ("out.bin", "text"), {}, "data"),
    (seg.write_bytes_atomic, (5, b"x"), {}, "path"),
    (seg.write_bytes_atomic, ("", b"x"), {}, "path"),
    # samples
    (seg.load_sample, ("Coins",), {}, "name"),
    (seg.sample_path, (None,), {}, "name"),
    (seg.sample_ground_truth, ("../nuclei_labels",), {}, "name"),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{index}-{c[0].__name__}-{c[3]}" for index, c in enumerate(CASES)])
def test_contract_breaches_raise_a_parameter_error_naming_the_parameter(case, tmp_path, monkeypatch):
    function, args, kwargs, name = case
    monkeypatch.chdir(tmp_path)  # write_bytes_atomic must not leave anything behind
    with pytest.raises(seg.ParameterError) as caught:
        function(*args, **kwargs)
    assert isinstance(caught.value, ValueError)
    assert re.search(rf"(?<![\w']){re.escape(name)}(?![\w'])", str(caught.value)), str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_every_function_of_the_brief_has_a_case():
    covered = {case[0].__name__ for case in CASES}
    expected = {
        "label_objects", "as_labels", "watershed", "distance_map", "h_maxima_seeds", "distance_peak_seeds",
        "intensity_band_markers", "point_seeds", "seed_every_object", "flood_distance", "flood_gradient",
        "measure", "unit_suffix", "mask_agreement", "pairwise_iou", "object_f1", "display_image", "mask_image",
        "colorize_labels", "label_palette", "boundary_overlay", "downscale", "encode_png", "encode_labels",
        "encode_png_bytes", "encode_jpeg_bytes", "write_bytes_atomic", "load_sample", "sample_path",
        "sample_ground_truth",
    }
    assert expected <= covered, sorted(expected - covered)


def test_valid_numpy_scalars_and_flags_are_accepted():
    mask = np.zeros((5, 5), bool)
    mask[1:4, 1:4] = True
    assert seg.label_objects(mask, np.int64(4)).max() == 1
    distance = seg.distance_map(mask, sigma=np.float32(0.5))
    seeds = seg.point_seeds((np.int64(5), 5), [(np.int32(2), 2.0)])
    labels = seg.flood_distance(distance, seeds, mask, connectivity=np.int32(8), watershed_line=np.bool_(False))
    assert np.array_equal(labels > 0, mask)
    assert seg.label_palette(np.int64(3)).shape == (3, 3)
    assert seg.mask_image(mask, color=np.array([255, 0, 0], np.uint8))[2, 2].tolist() == [255, 0, 0]


# ------------------------------------------------------------------------------- degenerate inputs
def test_empty_masks_labels_and_maps_give_empty_results():
    empty_mask = np.zeros((0, 7), bool)
    empty_labels = np.zeros((0, 7), np.int32)
    assert seg.label_objects(empty_mask).shape == (0, 7)
    distance = seg.distance_map(empty_mask, sigma=1.0)
    assert distance.shape == (0, 7) and distance.dtype == np.float32
    assert seg.h_maxima_seeds(distance).shape == (0, 7)
    assert seg.distance_peak_seeds(distance, empty_labels).shape == (0, 7)
    assert seg.seed_every_object(empty_labels, empty_labels, distance).shape == (0, 7)
    assert seg.flood_distance(distance, empty_labels, empty_mask).shape == (0, 7)
    assert seg.point_seeds((0, 7), []).shape == (0, 7)
    assert len(seg.measure(empty_labels)) == 0
    assert seg.colorize_labels(empty_labels).shape == (0, 7, 3)
    assert seg.mask_image(empty_mask).shape == (0, 7, 3)


def test_a_mask_without_background_gives_a_flat_distance_map_and_one_object():
    full = np.ones((6, 9), bool)
    distance = seg.distance_map(full)
    assert distance.dtype == np.float32 and np.all(distance == distance[0, 0]) and distance[0, 0] > 1e18
    objects = seg.label_objects(full)
    seeds = seg.seed_every_object(seg.h_maxima_seeds(distance), objects, distance)
    assert int(seeds.max()) == 1
    assert np.all(seg.flood_distance(distance, seeds, full) == 1)


def test_no_seeds_and_no_objects():
    mask = np.zeros((6, 8), bool)
    distance = seg.distance_map(mask)
    assert not seg.h_maxima_seeds(distance).any()
    assert not seg.distance_peak_seeds(distance, seg.label_objects(mask)).any()
    seeds = np.zeros((6, 8), np.int32)
    assert seg.seed_every_object(seeds, seg.label_objects(mask), distance) is seeds  # nothing to add
    assert not seg.flood_distance(distance, seeds, ~mask).any()  # no seed: nothing is flooded
    image = np.arange(48, dtype=np.uint8).reshape(6, 8)
    assert not seg.flood_gradient(image, seeds, mask).any()


def test_point_seeds_duplicate_points_keep_the_later():
    seeds = seg.point_seeds((3, 3), [(1, 1), (0, 0), (1, 1)])
    assert seeds[1, 1] == 3 and seeds[0, 0] == 2 and int((seeds > 0).sum()) == 2


def test_intensity_bands_that_overlap_give_both_seed_and_background():
    image = np.array([[10, 50, 90]], np.uint8)
    seeds, background = seg.intensity_band_markers(image, 60, 40)  # low above high
    assert seeds.tolist() == [[0, 1, 1]] and background.tolist() == [[True, True, False]]
    seeds, background = seg.intensity_band_markers(image, 40, 60, "dark")
    assert seeds.tolist() == [[1, 0, 0]] and background.tolist() == [[False, False, True]]


def test_agreement_of_empty_inputs():
    empty = np.zeros((4, 4), bool)
    full = np.ones((4, 4), bool)
    assert seg.mask_agreement(empty, empty) == {"iou": 1.0, "dice": 1.0, "precision": 1.0, "recall": 1.0}
    assert seg.mask_agreement(empty, full)["iou"] == 0.0
    assert seg.object_f1(empty, empty)["f1"] == 1.0
    assert seg.object_f1(empty, full) == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "tp": 0, "fp": 0, "fn": 1}
    names, matrix = seg.pairwise_iou({})
    assert names == [] and matrix.shape == (0, 0)


def test_measure_without_objects_has_the_columns_and_no_rows():
    table = seg.measure(np.zeros((5, 5), np.int32), np.zeros((5, 5), np.uint8), pixel_size=0.5, unit="µm")
    assert len(table) == 0 and "area_um2" in table.column_names and "mean_intensity" in table.column_names


def test_constant_images_are_shown_mid_grey_or_as_they_are():
    assert np.all(seg.display_image(np.full((3, 4), 7.5, np.float32))[0] == 128)
    assert np.all(seg.display_image(np.full((3, 4), 9, np.uint8))[0] == 9)
    assert seg.label_palette(0).shape == (0, 3)


@pytest.mark.parametrize("offset", range(0, 40, 3))
def test_nan_is_black_wherever_it_lies_in_memory(offset):
    # OpenCV's vector and scalar loops disagree on NaN, so where the NaN falls decided its colour.
    image = np.linspace(0, 10, 400, dtype=np.float32).reshape(20, 20)
    image.flat[offset] = np.nan
    image.flat[offset + 1] = np.inf
    image.flat[offset + 2] = -np.inf
    shown = seg.display_image(image)[0][..., 0].ravel()
    assert shown[offset] == 0 and shown[offset + 1] == 255 and shown[offset + 2] == 0


def test_downscale_never_enlarges_and_returns_the_input():
    image = np.zeros((10, 20), np.uint8)
    small, scale = seg.downscale(image, 50)
    assert small is image and scale == 1.0


# ------------------------------------------------------------ size parameters: the recipe's own ranges
W_SPECS = {spec.name: spec for spec in seg.WatershedRecipe.specs()}
FG = np.zeros((12, 14), bool)
FG[2:10, 3:11] = True

#: (parameter in the message, the recipe parameter it implements, function, call with a value)
REGION_BOUNDS = [
    ("sigma", "distance_sigma", seg.distance_map, lambda v: seg.distance_map(FG, sigma=v)),
    ("h", "h", seg.h_maxima_seeds, lambda v: seg.h_maxima_seeds(seg.distance_map(FG), v)),
    ("min_distance", "min_distance", seg.distance_peak_seeds,
     lambda v: seg.distance_peak_seeds(seg.distance_map(FG), seg.label_objects(FG), min_distance=v)),
]


@pytest.mark.parametrize(("name", "recipe_name", "function", "call"), REGION_BOUNDS,
                         ids=[case[2].__name__ for case in REGION_BOUNDS])
def test_region_sizes_have_the_recipes_upper_bound(name, recipe_name, function, call):
    spec = W_SPECS[recipe_name]
    call(spec.max)  # the recipe's largest value works
    for too_large in (spec.max + (1 if spec.kind == "int" else 1e-6 * spec.max), 10**9, 10**30, 1e30):
        with pytest.raises(seg.ParameterError, match=rf"^{name} must .*at most {int(spec.max)}"):
            call(too_large)
    assert f"{int(spec.max)}" in function.__doc__, "the docstring gives the range"


def test_the_issue_examples_of_huge_region_and_display_sizes_are_refused_at_once():
    for name, call in [
        ("sigma", lambda: seg.distance_map(FG, sigma=1e6)),
        ("min_distance", lambda: seg.distance_peak_seeds(Z, L, min_distance=10**9)),
        ("thickness", lambda: seg.boundary_overlay(U8, M, thickness=10**6)),
    ]:
        with pytest.raises(seg.ParameterError, match=f"^{name} "):
            call()


def test_boundary_thickness_is_at_most_100():
    image = np.zeros(FG.shape, np.uint8)
    assert seg.boundary_overlay(image, FG, thickness=100)[FG].any()
    for thickness in (101, 10**6):
        with pytest.raises(seg.ParameterError, match="^thickness .*at most 100"):
            seg.boundary_overlay(image, FG, thickness=thickness)
    assert "100" in seg.boundary_overlay.__doc__


def test_label_ids_up_to_int32_are_coloured_without_a_table_of_every_id():
    labels = np.zeros((6, 8), np.int32)
    labels[1, 1], labels[2, 2], labels[3, 3] = 2**31 - 1, 300, 5
    rgb = seg.colorize_labels(labels, background=(1, 2, 3))
    palette = seg.label_palette(301)
    assert rgb[2, 2].tolist() == palette[300].tolist() and rgb[3, 3].tolist() == palette[5].tolist()
    assert rgb[0, 0].tolist() == [1, 2, 3] and rgb[1, 1].any()
    assert seg.boundary_overlay(np.zeros((6, 8), np.uint8), labels, fill_opacity=0.5).shape == (6, 8, 3)
    # the same colours as the table of every id, where that table is small
    small = np.array([[0, 300, 5], [7, 300, 0]], np.int32)
    expected = palette[small]
    expected[small == 0] = 0
    assert np.array_equal(seg.colorize_labels(small), expected)


# ----------------------------------------------------------------------- the checked value is the one used
def test_whole_floats_and_numpy_scalars_work_like_ints_in_regions_and_display():
    distance = seg.distance_map(FG)
    objects = seg.label_objects(FG)
    assert np.array_equal(seg.distance_peak_seeds(distance, objects, min_distance=2.0),
                          seg.distance_peak_seeds(distance, objects, min_distance=2))
    assert np.array_equal(seg.h_maxima_seeds(distance, np.float32(1.0)), seg.h_maxima_seeds(distance, 1.0))
    image = np.zeros(FG.shape, np.uint8)
    assert np.array_equal(seg.boundary_overlay(image, FG, thickness=2.0), seg.boundary_overlay(image, FG, thickness=2))
    assert np.array_equal(seg.boundary_overlay(image, FG, thickness=np.int64(2), fill_opacity=np.float32(0.5)),
                          seg.boundary_overlay(image, FG, thickness=2, fill_opacity=0.5))
    big = np.zeros((30, 40), np.uint8)
    assert seg.downscale(big, 10.0)[0].shape == seg.downscale(big, 10)[0].shape == (8, 10)
    assert seg.downscale(big, 10**400)[0] is big  # an int of any size is exact: never enlarges
    assert seg.downscale(big, 2**53 + 1)[0] is big
    assert np.array_equal(seg.label_palette(3.0), seg.label_palette(3))


# ------------------------------------------------------------------- thresholds far outside, NaN pixels
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize(("low", "high"), [(-1e10, 1e10), (3e9, 2**31), (-1, 255), (254.5, 0), (-3e9, -1)])
def test_intensity_bands_are_numpys_comparisons_whatever_the_limits(dtype, low, high):
    image = np.arange(256, dtype=np.uint8).reshape(16, 16).astype(dtype)
    for polarity in ("bright", "dark"):
        seeds, background = seg.intensity_band_markers(image, low, high, polarity)
        objects, expected = (image > high, image <= low) if polarity == "bright" else (image <= low, image > high)
        assert np.array_equal(seeds > 0, objects) and np.array_equal(background, expected)


def test_nan_pixels_are_neither_seed_nor_background():
    image = np.linspace(0, 10, 48, dtype=np.float32).reshape(6, 8)
    image[0, 0] = image[5, 7] = np.nan
    for polarity in ("bright", "dark"):
        seeds, background = seg.intensity_band_markers(image, 3.0, 6.0, polarity)
        assert seeds[0, 0] == seeds[5, 7] == 0 and not background[0, 0] and not background[5, 7]


def test_flood_gradient_puts_non_finite_pixels_on_the_8bit_scale_by_ieee_rules():
    image = np.linspace(0, 1, 48, dtype=np.float32).reshape(6, 8)
    image[2, 3], image[4, 5] = np.inf, np.nan
    expected = image.copy()
    expected[2, 3], expected[4, 5] = 1.0, 0.0  # +inf on top of the scale (255), NaN at its bottom (0)
    assert np.array_equal(seg.flood_gradient(image, L, M), seg.flood_gradient(expected, L, M))


# --------------------------------------------------------------- float dtypes: what the text says is what runs
@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.longdouble])
def test_display_takes_every_float_dtype_as_float32(dtype):
    rng = np.random.default_rng(3)
    for shape in ((20, 30), (20, 30, 3)):
        image = (rng.random(shape) * 200 - 50).astype(dtype)
        image.flat[5] = np.nan
        expected = seg.display_image(image.astype(np.float32))
        shown = seg.display_image(image)
        assert np.array_equal(shown[0], expected[0]) and shown[1] == expected[1]
        mask = np.zeros((20, 30), bool)
        mask[4:15, 6:20] = True
        assert np.array_equal(seg.boundary_overlay(image, mask, fill_opacity=0.3),
                              seg.boundary_overlay(image.astype(np.float32), mask, fill_opacity=0.3))
    assert "float16" in seg.display_image.__doc__ and "float64" in seg.display_image.__doc__


def test_downscale_takes_the_dtypes_opencv_resizes_and_says_so():
    for dtype in (np.uint8, np.uint16, np.float32, np.float64):
        assert seg.downscale(np.ones((40, 60), dtype), 30)[0].dtype == dtype
    for dtype in (np.float16, np.longdouble):
        with pytest.raises(seg.ParameterError, match="^image must be uint8, uint16, float32 or float64"):
            seg.downscale(np.ones((40, 60), dtype), 30)


def test_measure_takes_float32_and_float64_and_refuses_float16():
    labels = np.zeros((6, 8), np.int32)
    labels[1:4, 1:5] = 1
    labels[4:6, 5:8] = 2
    image = np.linspace(0, 1, 48).reshape(6, 8)
    gray64 = seg.measure(labels, image)["mean_intensity"]
    assert np.allclose(gray64, [image[labels == k].mean() for k in (1, 2)], rtol=0, atol=1e-15)
    rgb = np.dstack([image] * 3)
    assert np.array_equal(seg.measure(labels, rgb)["mean_intensity"],
                          seg.measure(labels, rgb.astype(np.float32))["mean_intensity"])
    for dtype in (np.float16, np.longdouble):
        for array in (image.astype(dtype), rgb.astype(dtype)):
            with pytest.raises(seg.ParameterError, match=r"^image must be uint8, uint16, float32 or float64.*as_image"):
                seg.measure(labels, array)
    assert "float32 or float64" in seg.measure.__doc__


def test_label_palette_is_bounded_and_colorize_still_colours_huge_ids():
    with pytest.raises(seg.ParameterError, match="^n "):
        seg.label_palette(10**9)
    labels = np.zeros((4, 4), np.int32)
    labels[0, 0], labels[3, 3] = 2**31 - 1, 5
    shown = seg.colorize_labels(labels)
    assert (shown[3, 3] == seg.label_palette(6)[5]).all() and shown[0, 0].any() and not shown[1, 1].any()
