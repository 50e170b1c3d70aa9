"""Tests for segmentation.measure: per-object measurements and the table's exports."""

import csv
import io
import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from skimage import data, draw, filters
from skimage import measure as skmeasure

from segmentation import MeasurementTable, measure, unit_suffix

PIXEL_COLUMNS = [
    "label", "area_px", "perimeter_px", "centroid_row_px", "centroid_col_px",
    "bbox_min_row", "bbox_min_col", "bbox_max_row", "bbox_max_col",
    "equivalent_diameter_px", "circularity", "solidity",
]
INTENSITY_COLUMNS = ["mean_intensity", "min_intensity", "max_intensity"]


@pytest.fixture(scope="module")
def coins():
    image = data.coins()
    labels = skmeasure.label(image > filters.threshold_otsu(image))
    return image, labels.astype(np.int32)


def test_coins_match_skimage_regionprops(coins):
    image, labels = coins
    table = measure(labels, image)
    regions = skmeasure.regionprops(labels, intensity_image=image)
    assert len(table) == len(regions) == labels.max()
    assert table.column_names == PIXEL_COLUMNS + INTENSITY_COLUMNS
    for i, region in enumerate(regions):
        assert table["label"][i] == region.label
        assert table["area_px"][i] == region.area == np.count_nonzero(labels == region.label)
        assert table["perimeter_px"][i] == pytest.approx(region.perimeter)
        assert (table["centroid_row_px"][i], table["centroid_col_px"][i]) == pytest.approx(region.centroid)
        assert tuple(table[c][i] for c in PIXEL_COLUMNS[5:9]) == region.bbox
        assert table["equivalent_diameter_px"][i] == pytest.approx(region.equivalent_diameter_area)
        assert table["solidity"][i] == pytest.approx(region.solidity)
        pixels = image[labels == region.label]
        assert table["mean_intensity"][i] == pytest.approx(pixels.mean())
        assert table["min_intensity"][i] == pixels.min() and table["max_intensity"][i] == pixels.max()


def test_rectangle_has_known_geometry():
    labels = np.zeros((50, 60), np.int32)
    labels[10:20, 5:25] = 1  # 10 rows × 20 columns
    row = measure(labels).to_records()[0]
    assert row["area_px"] == 200
    assert (row["centroid_row_px"], row["centroid_col_px"]) == (14.5, 14.5)
    assert (row["bbox_min_row"], row["bbox_min_col"], row["bbox_max_row"], row["bbox_max_col"]) == (10, 5, 20, 25)
    assert row["equivalent_diameter_px"] == pytest.approx(2 * math.sqrt(200 / math.pi))
    assert row["solidity"] == pytest.approx(1.0)
    assert row["perimeter_px"] == pytest.approx(2 * (9 + 19), abs=2)  # pixel-centre outline


def test_disc_is_round():
    labels = np.zeros((101, 101), np.int32)
    rr, cc = draw.disk((50, 50), 30)
    labels[rr, cc] = 1
    row = measure(labels).to_records()[0]
    assert row["area_px"] == pytest.approx(math.pi * 30**2, rel=0.02)
    assert row["perimeter_px"] == pytest.approx(2 * math.pi * 30, rel=0.05)
    assert row["circularity"] > 0.9
    assert (row["centroid_row_px"], row["centroid_col_px"]) == pytest.approx((50, 50))


def test_physical_units_scale_areas_and_lengths(coins):
    image, labels = coins
    px = measure(labels, image)
    um = measure(labels, image, pixel_size=0.25, unit="µm")
    assert um.unit == "µm" and um.pixel_size == 0.25 and px.unit == "px" and px.pixel_size is None
    assert um.column_names == [
        "label", "area_um2", "perimeter_um", "centroid_row_um", "centroid_col_um",
        "bbox_min_row", "bbox_min_col", "bbox_max_row", "bbox_max_col",
        "equivalent_diameter_um", "circularity", "solidity", *INTENSITY_COLUMNS,
    ]
    np.testing.assert_allclose(um["area_um2"], px["area_px"] * 0.0625)
    for quantity in ("perimeter", "centroid_row", "centroid_col", "equivalent_diameter"):
        np.testing.assert_allclose(um[f"{quantity}_um"], px[f"{quantity}_px"] * 0.25)
    for unchanged in ("bbox_min_row", "bbox_max_col", "circularity", "solidity", "mean_intensity"):
        np.testing.assert_array_equal(um[unchanged], px[unchanged])


def test_unit_suffix_is_ascii():
    assert unit_suffix("µm") == unit_suffix("\u03bcm") == "um"
    assert unit_suffix(" nm ") == "nm"
    assert measure(np.ones((2, 2), np.int32), pixel_size=2, unit="mm").column_names[1] == "area_mm2"
    for bad in ("", "  ", "°"):
        with pytest.raises(ValueError):
            unit_suffix(bad)


def test_16bit_intensities_stay_16bit_values():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 65536, (30, 30), dtype=np.uint16)
    labels = np.zeros((30, 30), np.int32)
    labels[2:12, 3:9] = 1
    labels[15:28, 15:29] = 2
    table = measure(labels, image)
    for i, label in enumerate((1, 2)):
        pixels = image[labels == label]
        assert table["min_intensity"][i] == pixels.min() and table["max_intensity"][i] == pixels.max()
        assert table["mean_intensity"][i] == pytest.approx(pixels.mean())
    assert table["min_intensity"].dtype.kind == "i"


def test_rgb_uses_luminance():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    labels = np.zeros((20, 20), np.int32)
    labels[5:15, 5:15] = 1
    luminance = rgb.astype(float) @ [0.299, 0.587, 0.114]  # ITU-R 601, computed independently
    table = measure(labels, rgb)
    assert table["mean_intensity"][0] == pytest.approx(luminance[5:15, 5:15].mean(), abs=0.6)
    assert abs(table["max_intensity"][0] - luminance[5:15, 5:15].max()) <= 1


def test_bool_mask_is_labelled_8_connected():
    mask = np.zeros((10, 10), bool)
    mask[1, 1] = mask[2, 2] = True  # diagonal neighbours: one object
    mask[6:9, 6:9] = True
    table = measure(mask)
    assert len(table) == 2
    assert sorted(table["area_px"].tolist()) == [2, 9]
    _, reference = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    assert len(table) == reference.max()


def test_label_gaps_are_kept_in_label_order():
    labels = np.zeros((10, 10), np.int32)
    labels[0:2, 0:2] = 7
    labels[5:9, 5:9] = 2
    table = measure(labels)
    assert table["label"].tolist() == [2, 7] and table["area_px"].tolist() == [16, 4]


def test_tiny_objects_have_defined_circularity():
    labels = np.zeros((10, 10), np.int32)
    labels[1, 1] = 1
    labels[4, 4:6] = 2
    labels[8, 0:9] = 3  # a line: perimeter estimate small relative to area is clipped
    table = measure(labels)
    assert table["perimeter_px"][0] == 0 and table["circularity"][0] == 1.0
    assert np.all((table["circularity"] >= 0) & (table["circularity"] <= 1))
    assert np.isfinite(table["circularity"]).all()


@pytest.mark.parametrize("with_image", [False, True])
def test_empty_labels_give_zero_rows_with_columns(with_image):
    labels = np.zeros((8, 8), np.int32)
    table = measure(labels, np.zeros((8, 8), np.uint8) if with_image else None, pixel_size=0.5)
    assert len(table) == 0
    assert table.column_names[1] == "area_um2"
    assert len(table.column_names) == len(PIXEL_COLUMNS) + (3 if with_image else 0)
    assert table.to_records() == []
    assert table.to_csv() == ",".join(table.column_names) + "\n"


def test_csv_round_trip(coins):
    image, labels = coins
    table = measure(labels, image, pixel_size=0.123)
    rows = list(csv.reader(io.StringIO(table.to_csv())))
    assert rows[0] == table.column_names and len(rows) == len(table) + 1
    for name_index, name in enumerate(table.column_names):
        parsed = np.array([float(r[name_index]) for r in rows[1:]])
        np.testing.assert_allclose(parsed, table[name], rtol=1e-9)
    assert rows[1][0] == "1" and "e" not in rows[1][5]  # integers written as integers


def test_csv_writes_nan_as_empty_field():
    table = MeasurementTable({"label": np.array([1, 2]), "mean_intensity": np.array([1.5, np.nan])})
    assert table.to_csv() == "label,mean_intensity\n1,1.5\n2,\n"


def test_records_are_plain_python():
    labels = np.zeros((5, 5), np.int32)
    labels[1:3, 1:3] = 1
    record = measure(labels).to_records()[0]
    assert type(record["label"]) is int and type(record["area_px"]) is int
    assert type(record["circularity"]) is float


def test_table_is_read_only_and_checks_lengths():
    table = measure(np.ones((3, 3), np.int32))
    with pytest.raises(ValueError):
        table["area_px"][0] = 5
    with pytest.raises(ValueError):
        MeasurementTable({"a": np.zeros(2), "b": np.zeros(3)})


@pytest.mark.parametrize(
    "labels, image, kwargs",
    [
        (np.array([[-1, 0]], np.int32), None, {}),
        (np.zeros((4, 4), np.float32), None, {}),
        (np.zeros((4, 4, 2), np.int32), None, {}),
        (np.zeros((4, 4), np.int32), np.zeros((5, 4), np.uint8), {}),
        (np.zeros((4, 4), np.int32), np.zeros((4, 4), np.int32), {}),
        (np.zeros((4, 4), np.int32), None, {"pixel_size": 0}),
        (np.zeros((4, 4), np.int32), None, {"pixel_size": -1.0}),
        (np.zeros((4, 4), np.int32), None, {"pixel_size": float("nan")}),
        (np.zeros((4, 4), np.int32), None, {"pixel_size": "1"}),
    ],
)
def test_measure_rejects_bad_input(labels, image, kwargs):
    with pytest.raises(ValueError):
        measure(labels, image, **kwargs)


@settings(max_examples=30, deadline=None)
@given(
    labels=arrays(np.int32, st.tuples(st.integers(1, 20), st.integers(1, 20)), elements=st.integers(0, 9)),
    pixel_size=st.one_of(st.none(), st.floats(0.01, 100)),
)
def test_one_row_per_label(labels, pixel_size):
    table = measure(labels, labels.astype(np.uint16), pixel_size=pixel_size)
    present = np.unique(labels[labels > 0])
    assert len(table) == len(present)
    assert table.columns["label"].tolist() == present.tolist()
    assert np.all((table["circularity"] >= 0) & (table["circularity"] <= 1))
    np.testing.assert_array_equal(table["min_intensity"], present)  # each object is one value
    assert len(list(csv.reader(io.StringIO(table.to_csv())))) == len(present) + 1


@settings(max_examples=40, deadline=None)
@given(arrays(bool, st.tuples(st.integers(0, 30), st.integers(0, 30))), st.sampled_from([4, 8]))
def test_label_objects_matches_skimage_label(mask, connectivity):
    from segmentation import label_objects

    ours = label_objects(mask, connectivity)
    theirs = skmeasure.label(mask, connectivity=1 if connectivity == 4 else 2)
    assert ours.dtype == np.int32 and ours.shape == mask.shape
    # Same partition of the pixels into objects (the numbering order may differ).
    assert ours.max(initial=0) == theirs.max(initial=0)
    assert ((ours > 0) == mask).all()
    pairs = {(a, b) for a, b in zip(ours[mask].tolist(), theirs[mask].tolist())}
    assert len(pairs) == ours.max(initial=0)


@pytest.mark.parametrize("bad, words", [
    (np.zeros((3, 3, 3), np.int32), "2-D"),
    (np.zeros((3, 3), np.float32), "integer labels or a bool mask"),
    (np.full((3, 3), -1, np.int32), "negative"),
])
def test_as_labels_refuses_plainly(bad, words):
    from segmentation import as_labels

    with pytest.raises(ValueError, match=words):
        as_labels(bad)


def test_intensities_of_huge_float_values_do_not_overflow(coins):
    coins, labels = coins
    image = (coins / 255.0).astype(np.float32)
    huge = np.ldexp(image, 127).astype(np.float32)  # sums of these overflow float32
    reference, result = measure(labels, image), measure(labels, huge)
    assert np.isfinite(result.columns["mean_intensity"]).all()
    np.testing.assert_allclose(result.columns["mean_intensity"], reference.columns["mean_intensity"] * 2.0 ** 127,
                               rtol=1e-6)
    assert np.array_equal(result.columns["max_intensity"], reference.columns["max_intensity"] * 2.0 ** 127)


def test_sparse_huge_label_ids_are_measured_with_their_own_ids():
    """One object numbered 2**31 - 1 must not need a table of 2**31 entries (it used to raise MemoryError)."""
    labels = np.zeros((40, 50), np.int64)
    labels[2:10, 3:12], labels[20:30, 20:35] = 2**31 - 1, 7
    table = measure(labels)
    assert list(table["label"]) == [7, 2**31 - 1]
    small = labels.copy()
    small[small == 2**31 - 1] = 9
    reference = measure(small)
    for column in table.column_names:
        if column != "label":
            assert np.array_equal(table[column], reference[column]), column
    no_background = np.full((4, 4), 10**9, np.int64)
    no_background[0, 0] = 10**12
    assert list(measure(no_background)["label"]) == [10**9, 10**12]
