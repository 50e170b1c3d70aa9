"""Marker images and seed points of any integer dtype and any ids, on both landscapes.

Two touching discs, one seed each, with ids in every integer dtype, including ids an int32 cast would wrap
(uint32 3e9/4e9 become negative, int64 2**40 becomes 0 and 2**32 + 1 becomes 1) or that only fit uint64.
Reference: scikit-image's ``watershed(-distance, markers, mask=foreground)`` on the library's own returned
distance map and foreground, compared up to renumbering (the pairs of labels are a bijection). Negative
values are "no seed" (documented), so scikit-image, which floods from them, gets them as 0. Seeds on the
background are ignored: never an object outside the foreground. Every input is generated here.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import segmentation as sk_segmentation

import segmentation as seg

SHAPE = (80, 120)
CENTRES = [(40, 40), (40, 76)]  # radius 20, 36 px apart: the discs touch along a neck
PARAMS = dict(polarity="bright", smoothing="none", background_radius=0, closing=0, fill_holes=False, min_size=0)


def _discs() -> tuple[np.ndarray, np.ndarray]:
    rows, cols = np.mgrid[:SHAPE[0], :SHAPE[1]]
    inside = np.zeros(SHAPE, bool)
    for r, c in CENTRES:
        inside |= (rows - r) ** 2 + (cols - c) ** 2 <= 20 ** 2
    return np.where(inside, 200, 20).astype(np.uint8), inside


IMAGE, FOREGROUND = _discs()


def _markers(ids, dtype, where=CENTRES) -> np.ndarray:
    """A 3×3 seed of each id at each position, in ``dtype`` (ids given as exact Python ints)."""
    markers = np.zeros(SHAPE, dtype)
    for (r, c), value in zip(where, ids):
        markers[r - 1:r + 2, c - 1:c + 2] = value
    return markers


# (dtype, id at the left disc, id at the right disc)
ID_CASES = [
    (np.int8, 5, 127), (np.int8, 127, 1), (np.uint8, 1, 255), (np.uint8, 255, 254),
    (np.int16, 300, 32767), (np.uint16, 65535, 1), (np.int32, 7, 2**31 - 1), (np.uint32, 1, 2**31),
    (np.uint32, 3_000_000_000, 4_000_000_000), (np.uint32, 2**32 - 1, 2**32 - 2),
    (np.int64, 2**40, 2**41 + 5), (np.int64, 2**41 + 5, 2**40), (np.int64, 2**32 + 1, 1),
    (np.int64, 2**63 - 1, 2**62), (np.uint64, 2**64 - 1, 2**64 - 2), (np.uint64, 2**64 - 1, 2**32 - 1),
    (np.uint64, 2**63, 3),
]
CASE_IDS = [f"{np.dtype(d).name}-{a}-{b}" for d, a, b in ID_CASES]


def _pairs(ours: np.ndarray, theirs: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(ours.ravel().tolist(), theirs.ravel().tolist()))  # tolist(): exact Python ints, uint64 too


def assert_same_partition(ours: np.ndarray, theirs: np.ndarray) -> None:
    """The same objects up to renumbering: a bijection between the labels, background to background."""
    pairs = _pairs(ours, theirs)
    assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs}), sorted(pairs)[:10]
    assert all((a == 0) == (b == 0) for a, b in pairs), sorted(pairs)[:10]


def _scikit(result: seg.WatershedResult, markers: np.ndarray) -> np.ndarray:
    """scikit-image's watershed on the library's own distance map and foreground (every non-zero id a seed)."""
    return sk_segmentation.watershed(-result.distance, markers, mask=result.foreground,
                                     connectivity=2 if result.recipe.connectivity == 8 else 1)


def _assert_inside_and_seeded(result: seg.WatershedResult, markers: np.ndarray) -> None:
    """No object outside the foreground; every object holds exactly the seed pixels of one given id."""
    assert result.labels.dtype == np.int32 and result.markers.dtype == np.int32
    assert not result.labels[~result.foreground].any()
    assert not result.markers[~result.foreground].any()
    for label in range(1, result.count + 1):
        ids = set(markers[(result.labels == label) & (markers != 0) & result.foreground].tolist())
        assert len(ids) == 1, (label, ids)


def _assert_markers_numbered_in_id_order(result: seg.WatershedResult, markers: np.ndarray) -> None:
    """result.markers: the seeds inside the foreground, 1..M in increasing id order; object k grows from seed k."""
    used = (markers != 0) & result.foreground
    ids = sorted(set(markers[used].tolist()))
    assert np.array_equal(result.markers > 0, used)
    for rank, value in enumerate(ids, start=1):
        assert (result.markers[used & (markers == value)] == rank).all()
        assert (result.labels[result.markers == rank] == rank).all()
    assert int(result.markers.max(initial=0)) == len(ids)


# ------------------------------------------------------------------------------ marker images
def test_the_discs_are_the_foreground():
    result = seg.watershed(IMAGE, markers=_markers((1, 2), np.int32), **PARAMS)
    assert np.array_equal(result.foreground, FOREGROUND)
    assert ndi.label(FOREGROUND)[1] == 1  # one touching pair: only the seeds can split it


@pytest.mark.parametrize("dtype, first, second", ID_CASES, ids=CASE_IDS)
def test_distance_landscape_equals_scikit_image_for_every_dtype_and_id(dtype, first, second):
    markers = _markers((first, second), dtype)
    assert len(set(markers[markers > 0].tolist())) == 2
    result = seg.watershed(IMAGE, markers=markers, landscape="distance", **PARAMS)
    assert result.recipe.seeds == "marker_image"
    theirs = _scikit(result, markers)
    assert result.count == 2 == len(np.unique(theirs[theirs != 0]))
    assert_same_partition(result.labels, theirs)
    _assert_inside_and_seeded(result, markers)
    _assert_markers_numbered_in_id_order(result, markers)


@pytest.mark.parametrize("dtype, first, second", ID_CASES, ids=CASE_IDS)
def test_gradient_landscape_gives_two_objects_for_every_dtype_and_id(dtype, first, second):
    markers = _markers((first, second), dtype)
    result = seg.watershed(IMAGE, markers=markers, landscape="gradient", **PARAMS)
    assert result.count == 2
    left, right = (result.labels[r - 1:r + 2, c - 1:c + 2] for r, c in CENTRES)
    assert len(set(left.ravel().tolist())) == 1 and len(set(right.ravel().tolist())) == 1  # each holds its seed
    assert left[0, 0] != right[0, 0] and left[0, 0] > 0 and right[0, 0] > 0
    _assert_inside_and_seeded(result, markers)
    _assert_markers_numbered_in_id_order(result, markers)


@pytest.mark.parametrize("landscape", ["distance", "gradient"])
def test_negative_ids_are_seeds_as_scikit_image_floods_them(landscape):
    # A label image read as signed integers holds negative ids (uint8 200 reads as int8 -56): dropping them
    # merged the discs without a word. scikit-image floods every non-zero marker.
    for dtype in (np.int8, np.int16, np.int32, np.int64):
        info = np.iinfo(dtype)
        for first, second in ((-5, 7), (info.max, info.min), (-1, -2)):
            markers = _markers((first, second), dtype)
            result = seg.watershed(IMAGE, markers=markers, landscape=landscape, **PARAMS)
            assert result.count == 2, (dtype, first, second)
            _assert_inside_and_seeded(result, markers)
            _assert_markers_numbered_in_id_order(result, markers)
            if landscape == "distance":
                assert_same_partition(result.labels, _scikit(result, markers))
        markers = _markers((9, 4), dtype)
        markers[60, 70] = info.min  # on the background: ignored, with a note
        result = seg.watershed(IMAGE, markers=markers, landscape=landscape, **PARAMS)
        assert result.count == 2 and not result.labels[~FOREGROUND].any()


@pytest.mark.parametrize("landscape", ["distance", "gradient"])
def test_bool_markers_seed_one_object_per_8_connected_region(landscape):
    markers = _markers((True, True), bool)
    markers[20, 40] = markers[21, 41] = True  # two pixels touching at a corner: one more seed
    result = seg.watershed(IMAGE, markers=markers, landscape=landscape, **PARAMS)
    assert result.count == 3
    regions = ndi.label(markers, structure=np.ones((3, 3)))[0]
    _assert_inside_and_seeded(result, regions)
    _assert_markers_numbered_in_id_order(result, regions)
    if landscape == "distance":
        assert_same_partition(result.labels, _scikit(result, regions))


@pytest.mark.parametrize("landscape", ["distance", "gradient"])
def test_seeds_on_the_background_never_make_an_object_outside_the_foreground(landscape):
    markers = _markers((3_000_000_000, 4_000_000_000), np.uint32)
    markers[2:5, 2:5] = 3_500_000_000  # wholly on the background, in a corner
    markers[75, 100:110] = 5  # wholly on the background, under the discs
    markers[40, 14:24] = 2**32 - 1  # partly: its part inside the left disc (columns 20..23) seeds an object
    result = seg.watershed(IMAGE, markers=markers, landscape=landscape, **PARAMS)
    assert result.count == 3
    assert not result.labels[~FOREGROUND].any()
    _assert_inside_and_seeded(result, markers)
    _assert_markers_numbered_in_id_order(result, markers)
    assert any("2 marker seeds wholly on the background ignored" in note for note in result.notes), result.notes
    if landscape == "distance":
        assert_same_partition(result.labels, _scikit(result, markers))
    # only seeds on the background: no object at all
    nowhere = np.zeros(SHAPE, np.int64)
    nowhere[:3, :3], nowhere[-3:, -3:] = 2**40, -5
    empty = seg.watershed(IMAGE, markers=nowhere, landscape=landscape, **PARAMS)
    assert empty.count == 0 and not empty.labels.any() and not empty.markers.any()


def test_marker_image_of_other_kinds_is_still_refused():
    with pytest.raises(seg.ParameterError, match="whole numbers"):
        seg.watershed(IMAGE, markers=_markers((1.0, 2.0), np.float64), **PARAMS)
    with pytest.raises(seg.ParameterError, match="marker image"):
        seg.watershed(IMAGE, markers=np.zeros((SHAPE[0], SHAPE[1] + 1), np.uint64), **PARAMS)


# ------------------------------------------------------------------------------ seed points
@pytest.mark.parametrize("landscape", ["distance", "gradient"])
def test_points_of_any_integer_type_with_one_on_the_background(landscape):
    points = [(np.uint16(40), np.int64(40)), (np.int8(5), np.uint64(5)), (np.uint8(40), 76)]
    result = seg.watershed(IMAGE, seeds="points", points=points, landscape=landscape, **PARAMS)
    assert result.count == 2
    assert not result.labels[~FOREGROUND].any()
    # the point on the background is ignored and said so; the others keep their order, numbered 1..M
    assert any("1 seed point on the background ignored" in note and "(5, 5)" in note for note in result.notes)
    assert result.markers[40, 40] == 1 and result.markers[40, 76] == 2
    assert np.count_nonzero(result.markers) == 2
    assert result.labels[40, 40] == 1 and result.labels[40, 76] == 2
    if landscape == "distance":
        given = seg.point_seeds(SHAPE, points)
        assert_same_partition(result.labels, _scikit(result, given))


# ------------------------------------------------------------------------------ building blocks
@pytest.mark.parametrize("dtype, first, second", ID_CASES, ids=CASE_IDS)
def test_flood_distance_and_flood_gradient_take_any_integer_seeds(dtype, first, second):
    distance = seg.distance_map(FOREGROUND)
    markers = _markers((first, second), dtype)
    rank = {value: index for index, value in enumerate(sorted({first, second}), start=1)}
    by_distance = seg.flood_distance(distance, markers, FOREGROUND)
    by_gradient = seg.flood_gradient(IMAGE, markers, ~FOREGROUND)
    theirs = sk_segmentation.watershed(-distance, markers, mask=FOREGROUND)
    assert_same_partition(by_distance, theirs)
    for labels in (by_distance, by_gradient):
        assert labels.dtype == np.int32
        assert set(np.unique(labels).tolist()) == {0, 1, 2}
        assert not labels[~FOREGROUND].any()
        for (r, c), value in zip(CENTRES, (first, second)):
            assert labels[r, c] == rank[value]  # numbered in increasing order of the ids


def test_flood_blocks_take_negative_seeds_and_keep_numbers_1_to_m():
    distance = seg.distance_map(FOREGROUND)
    markers = np.full(SHAPE, -4, np.int16)  # one seed (id -4) everywhere: one object, the whole foreground
    assert np.array_equal(seg.flood_distance(distance, markers, FOREGROUND), FOREGROUND.astype(np.int32))
    assert (seg.flood_gradient(IMAGE, markers, ~FOREGROUND) == 1).all()  # seeds win over background markers
    ordinary = _markers((1, 2), np.int32)  # the library's own seeds 1..M keep their numbers
    assert seg.flood_distance(distance, ordinary, FOREGROUND)[40, 76] == 2
    assert seg.flood_gradient(IMAGE, ordinary, ~FOREGROUND)[40, 76] == 2
    # a seed wholly outside the foreground floods nothing, and the others are numbered without a gap
    outside = _markers((2**40, 2**50, 2**45), np.int64, where=CENTRES + [(2, 2)])
    labels = seg.flood_distance(distance, outside, FOREGROUND)
    assert set(np.unique(labels).tolist()) == {0, 1, 2}


def test_seed_every_object_widens_instead_of_overflowing():
    objects = np.zeros((3, 9), np.int32)
    objects[:, :2], objects[:, 4:6], objects[:, 7:] = 1, 2, 3
    distance = np.zeros((3, 9), np.float32)
    distance[1, 5] = distance[1, 8] = 1.0
    seeds = np.zeros((3, 9), np.uint8)
    seeds[1, 0] = 255
    grown = seg.seed_every_object(seeds, objects, distance)
    assert grown.dtype == np.uint16 and grown[1, 5] == 256 and grown[1, 8] == 257 and grown[1, 0] == 255
    seeds = np.zeros((3, 9), np.int8)
    seeds[1, 0] = 127
    assert seg.seed_every_object(seeds, objects, distance).dtype == np.int16
    seeds = np.zeros((3, 9), np.uint64)
    seeds[1, 0] = 2**64 - 1  # no integer dtype holds 2**64: the seeds are numbered 1..M first
    grown = seg.seed_every_object(seeds, objects, distance)
    assert grown.dtype == np.int32 and grown[1, 0] == 1 and grown[1, 5] == 2 and grown[1, 8] == 3
    seeds = np.zeros((3, 9), np.int64)
    seeds[1, 0] = 2**63 - 1
    grown = seg.seed_every_object(seeds, objects, distance)
    assert grown.dtype == np.int32 and grown.max() == 3
    full = np.zeros((3, 9), np.uint32)
    full[1, 0], full[1, 4], full[1, 7] = 4_000_000_000, 3_000_000_000, 3
    assert seg.seed_every_object(full, objects, distance) is full  # every object seeded: nothing to add


def test_point_seeds_take_numpy_integers():
    seeds = seg.point_seeds((np.uint64(4), np.int8(5)), [(np.uint8(1), np.int64(2)), (np.uint32(3), np.int16(4))])
    assert seeds.dtype == np.int32 and seeds[1, 2] == 1 and seeds[3, 4] == 2
    with pytest.raises(seg.ParameterError, match="outside"):
        seg.point_seeds((4, 5), [(np.uint64(2**64 - 1), 0)])


# ------------------------------------------------------------------------------ generated script
@pytest.mark.parametrize("landscape", ["distance", "gradient"])
def test_script_reproduces_points_labels_byte_for_byte(tmp_path, landscape):
    recipe = seg.WatershedRecipe.from_params(seeds="points", points=[(40, 40), (5, 5), (40, 76), (78, 118)],
                                             landscape=landscape, **PARAMS)
    path = tmp_path / f"points_{landscape}.py"
    path.write_text(seg.to_python(recipe), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"generated_points_{landscape}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = seg.watershed(IMAGE, recipe).labels
    assert expected.max() == 2 and not expected[~FOREGROUND].any()
    got = module.segment(IMAGE)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()
