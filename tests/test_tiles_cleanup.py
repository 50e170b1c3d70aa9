"""Tiles with the steps that reach far: background subtraction, hole filling, size filter, border clearing.

The reference is the whole-image library (``seg.threshold``, ``seg.watershed``, ``seg.label_objects``) on the same
generated image; the tiled result must be bit for bit the same, for tile sizes that cut objects, holes and the
background subtraction's shrink grid's blocks.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import tifffile
import zarr
from cli_helpers import run_cli_in_process
from test_tiles import nuclei

import segmentation as seg
from segmentation.batch import TiledError, segment_tiled


def uneven(seed: int, shape=(256, 320), depth: int = 8, dark: bool = False) -> np.ndarray:
    """Nuclei (some ring-shaped, with holes) on a background sloping across the image; 8- or 16-bit."""
    rng = np.random.default_rng(seed)
    image = np.zeros(shape, np.float32)
    for index in range(70):
        row, col = int(rng.integers(0, shape[0])), int(rng.integers(0, shape[1]))  # some on the image border
        radius = int(rng.integers(3, 13))
        cv2.circle(image, (col, row), radius, float(rng.uniform(90, 160)), -1)
        if index % 3 == 0 and radius > 5:  # a hole, to be filled
            cv2.circle(image, (col, row), radius // 2, 0.0, -1)
    rows, cols = np.indices(shape, dtype=np.float32)
    image = cv2.GaussianBlur(image, (0, 0), 1.0) + 30 + 0.15 * cols + 0.1 * rows + rng.normal(0, 4, shape)
    if dark:
        image = 250 - image
    if depth == 16:
        return np.clip(image * 257 + rng.integers(0, 200, shape), 0, 65535).astype(np.uint16)
    return np.clip(image, 0, 255).astype(np.uint8)


def _same(image, recipe, tiles) -> None:
    whole = seg.threshold(image, recipe)
    assert whole.mask.any()
    for tile in tiles:
        tiled = segment_tiled(image, recipe, tile=tile)
        assert tiled.thresholds == whole.thresholds, tile
        assert tiled.polarity == whole.polarity, tile
        assert np.array_equal(tiled.mask[:], whole.mask), tile
        components = seg.label_objects(whole.mask)
        assert tiled.count == components.max()
        assert np.array_equal(tiled.labels[:], components), tile


@pytest.mark.parametrize(("radius", "polarity", "depth"), [
    (5, "bright", 8),  # computed at full size (reach 2 r + 3)
    (8, "auto", 16),
    (20, "auto", 8),  # shrunk by 2
    (50, "bright", 16),  # shrunk by 4, the watershed default
    (50, "dark", 8),
    (150, "auto", 8),  # shrunk by 8
])
def test_tiled_background_subtraction_equals_the_whole_image(radius, polarity, depth):
    image = uneven(radius, depth=depth, dark=polarity == "dark")
    recipe = seg.ThresholdRecipe(method="otsu", background_radius=radius, polarity=polarity, smoothing="gaussian",
                                 sigma=1.25)
    # the background is not flat: without the subtraction Otsu would give another mask
    assert not np.array_equal(seg.threshold(image, recipe.replace(background_radius=0)).mask,
                              seg.threshold(image, recipe).mask)
    _same(image, recipe, (64, 96) if radius > 100 else (64, 100, 128))


def test_tiled_background_subtraction_with_a_local_method_equals_the_whole_image():
    image = uneven(3, depth=16)
    _same(image, seg.ThresholdRecipe(method="sauvola", window=31, background_radius=20, polarity="bright"), (64, 100))


@pytest.mark.parametrize(("recipe", "on_disk"), [
    (seg.ThresholdRecipe(method="otsu", background_radius=20, polarity="bright"), False),
    (seg.ThresholdRecipe(method="otsu", background_radius=20, polarity="auto", smoothing="gaussian"), True),
    (seg.ThresholdRecipe(method="mean", background_radius=50, polarity="dark"), True),
    (seg.ThresholdRecipe(method="sauvola", window=31, background_radius=20, polarity="bright"), False),  # r from range
])
def test_the_background_is_subtracted_once_per_tile(recipe, on_disk, tmp_path, monkeypatch):
    image = uneven(23, depth=16, dark=recipe.polarity == "dark")
    whole = seg.threshold(image, recipe)
    calls = []
    monkeypatch.setattr("segmentation.thresholding._preprocess.subtract_background",  # what prepare() calls
                        lambda *args, **kwargs: calls.append(args[0].shape) or seg.subtract_background(*args, **kwargs))
    tiled = segment_tiled(image, recipe, tile=64, out=tmp_path / "out" if on_disk else None)
    assert len(calls) == (256 // 64) * (320 // 64)  # the histogram pass's, kept for the mask pass
    assert tiled.thresholds == whole.thresholds
    assert np.array_equal(tiled.mask[:], whole.mask)
    assert np.array_equal(tiled.labels[:], seg.label_objects(whole.mask))
    assert not on_disk or sorted(p.name for p in (tmp_path / "out").iterdir()) == ["labels", "mask"]


@pytest.mark.parametrize("steps", [
    {"fill_holes": True},
    {"min_size": 60},
    {"clear_border": True},
    {"fill_holes": True, "min_size": 60, "clear_border": True, "closing": 3},  # in the library's order
])
def test_tiled_hole_filling_size_filter_and_border_clearing_equal_the_whole_image(steps):
    image = uneven(11)
    recipe = seg.ThresholdRecipe(method="otsu", polarity="bright", background_radius=8, **steps)
    plain = seg.threshold(image, recipe.replace(fill_holes=False, min_size=0, clear_border=False, closing=0)).mask
    assert not np.array_equal(plain, seg.threshold(image, recipe).mask)  # each step changes the mask here
    _same(image, recipe, (64, 100, 128))


def test_tiled_hole_filling_is_scipys_on_a_hole_spanning_many_tiles():
    from scipy import ndimage

    image = np.full((200, 200), 10, np.uint8)
    image[20:180, 20:180] = 200
    image[40:160, 40:160] = 10  # a 120 px hole under 4 × 4 tiles of 50 px
    image[90:110, 0:30] = 10  # a notch from the border: not a hole
    image[100, 60:70] = 200
    image[60, 60] = 10  # a one-pixel hole
    image[170, 170] = 10
    image[168:171, 168] = 10  # touching the hole only by corners: 4-connected background, a hole of its own
    recipe = seg.ThresholdRecipe(method="manual", value=100, polarity="bright", fill_holes=True)
    expected = ndimage.binary_fill_holes(image > 100)
    for tile in (32, 50, 64):
        assert np.array_equal(segment_tiled(image, recipe, tile=tile).mask[:], expected), tile


def test_a_tile_off_the_background_grid_is_refused_in_words():
    image = uneven(2)
    with pytest.raises(TiledError, match=r"tile \(50 px\) is a multiple of 4; choose such a tile \(say 48 px\)"):
        segment_tiled(image, seg.ThresholdRecipe(background_radius=50), tile=50)


@pytest.mark.parametrize("extra", [(1, 0), (0, 3), (2, 1)])
def test_an_image_whose_sides_are_off_the_background_grid_tiles_exactly(extra):
    """A slide's sides are whatever the scanner gave (2998 px): the background grid runs from the corner and a
    side that ends inside a grid cell still tiles exactly (issue 14's review: every such image was refused)."""
    image = uneven(2)
    image = np.pad(image, ((0, extra[0]), (0, extra[1])), mode="reflect")
    assert image.shape[0] % 4 or image.shape[1] % 4
    for recipe in (seg.ThresholdRecipe(background_radius=50, polarity="bright"), seg.WatershedRecipe()):
        whole = seg.threshold(image, recipe) if recipe.kind == "threshold" else seg.watershed(image, recipe)
        expected = whole.mask if recipe.kind == "threshold" else whole.labels
        for tile in (64, 96):
            tiled = segment_tiled(image, recipe, tile=tile)
            assert np.array_equal(tiled.labels[:] > 0, expected > 0), (recipe.kind, tile)
            if recipe.kind == "watershed":
                assert np.array_equal(tiled.labels[:], expected), tile


def test_background_on_a_grid_cut_to_the_image_is_the_grid_aligned_background():
    """The enlarged background of an image whose side is not a multiple of the shrink is the top-left part of
    the background of the image padded to the grid (the grid starts at the corner, whatever the size)."""
    rng = np.random.default_rng(3)
    image = (rng.random((203, 158)) * 60 + np.linspace(0, 120, 158)).astype(np.uint8)
    padded = np.pad(image, ((0, 1), (0, 2)), mode="edge")  # 204 × 160: multiples of 4
    cut = seg.subtract_background(image, 50)
    whole = seg.subtract_background(padded, 50)
    # edge padding leaves every 4×4 block minimum as it was, so the shrunk copies are equal, and so is the rest
    assert np.array_equal(cut, whole[:203, :158])


def test_the_default_watershed_recipe_tiles_exactly():
    image = uneven(21, depth=16)
    recipe = seg.WatershedRecipe()
    whole = seg.watershed(image, recipe)
    assert whole.count > seg.label_objects(whole.foreground).max()  # touching nuclei split
    for tile in (64, 100, 128):
        tiled = segment_tiled(image, recipe, tile=tile)
        assert tiled.thresholds == whole.threshold.thresholds
        assert np.array_equal(tiled.mask[:], whole.foreground), tile
        assert tiled.count == whole.count
        assert np.array_equal(tiled.labels[:], whole.labels), tile


@pytest.mark.parametrize("tile", ["64", "100", "128"])
def test_the_default_watershed_command_over_the_budget_gives_the_whole_images_labels(tmp_path, tile, monkeypatch,
                                                                                     capsys):
    (tmp_path / "images").mkdir()
    tifffile.imwrite(tmp_path / "images" / "slide.tif", nuclei(4, size=400, count=120, depth=16), tile=(128, 128))
    whole = run_cli_in_process("watershed", "images", "--out", "whole", "--labels-format", "tiff", "--jobs", "1",
                               cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    # 100 KiB: under the image's decoded 312.5 KiB (so it is tiled), over a tile's flooded region with its halo
    tiled = run_cli_in_process("watershed", "images", "--out", "tiled", "--memory-budget", "100K", "--tile", tile,
                               "--jobs", "1", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert whole.returncode == tiled.returncode == 0, whole.stderr + tiled.stderr
    labels = zarr.open(str(tmp_path / "tiled" / "slide_tiles.zarr" / "labels"), mode="r")[:]
    expected = tifffile.imread(tmp_path / "whole" / "slide_labels.tif")
    assert expected.max() > 50
    assert labels.dtype == expected.dtype and labels.tobytes() == expected.tobytes()


@pytest.mark.parametrize(("depth", "radius", "polarity"), [(8, 0, "auto"), (16, 0, "dark"), (16, 20, "auto")])
def test_the_mean_method_from_the_whole_histogram_equals_the_whole_image(depth, radius, polarity):
    image = uneven(7, depth=depth, dark=polarity == "dark")
    recipe = seg.ThresholdRecipe(method="mean", background_radius=radius, polarity=polarity)
    assert seg.threshold(image, recipe).thresholds[0] % 1  # a fraction: the division is checked, not only the sum
    _same(image, recipe, (64, 100))


@pytest.mark.parametrize("method", ["otsu", "mean"])
def test_a_constant_image_gives_the_librarys_empty_mask_in_tiles(method):
    image = np.full((96, 96), 77, np.uint8)
    whole = seg.threshold(image, method)
    assert whole.thresholds == () and not whole.mask.any()
    tiled = segment_tiled(image, seg.ThresholdRecipe(method=method), tile=32)
    assert tiled.thresholds == () and not tiled.mask[:].any() and tiled.count == 0


@pytest.mark.parametrize("method", ["yen", "isodata"])
@pytest.mark.parametrize(("depth", "radius", "polarity"), [(8, 0, "auto"), (8, 20, "auto"), (8, 0, "dark")])
def test_yen_and_isodata_from_the_whole_histogram_equal_the_whole_image(method, depth, radius, polarity):
    image = uneven(13, depth=depth, dark=polarity == "dark")
    _same(image, seg.ThresholdRecipe(method=method, background_radius=radius, polarity=polarity), (64, 100))


@pytest.mark.parametrize("method", ["yen", "isodata"])
def test_yen_and_isodata_on_a_16_bit_channel_of_few_levels_equal_the_whole_image(method):
    image = (uneven(17).astype(np.uint16) // 4) * 200  # 16-bit, under 256 distinct values
    assert image.max() > 255 and len(np.unique(image)) <= 256
    _same(image, seg.ThresholdRecipe(method=method, polarity="bright"), (64, 100))


def test_yen_on_a_16_bit_channel_of_many_levels_is_refused_in_words():
    image = uneven(19, depth=16)
    with pytest.raises(TiledError, match="method yen bins a 16-bit channel of more than 256 values"):
        segment_tiled(image, seg.ThresholdRecipe(method="yen"), tile=64)
