"""Tiled segmentation equals whole-image segmentation, bit for bit, for tile sizes that cut objects.

References are the library's own whole-image results (:func:`segmentation.threshold`,
:func:`segmentation.label_objects`, :func:`segmentation.watershed`) and OpenCV's Otsu.
"""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest
import tifffile
import zarr

import segmentation as seg
from segmentation.batch import TiledError, otsu_of_counts, segment_tiled


def nuclei(seed: int, size: int = 300, count: int = 60, depth: int = 8) -> np.ndarray:
    """Blurred round nuclei (radius 5-10 px, some touching) on a noisy background; 8- or 16-bit."""
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size), np.float32)
    for _ in range(count):
        row, col = rng.integers(10, size - 10, 2)
        cv2.circle(image, (int(col), int(row)), int(rng.integers(5, 11)), float(rng.uniform(120, 200)), -1)
    image = cv2.GaussianBlur(image, (0, 0), 1.5) + rng.normal(20, 6, image.shape)
    if depth == 16:
        return np.clip(image * 257 + rng.integers(0, 200, image.shape), 0, 65535).astype(np.uint16)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("depth", [8, 16])
def test_otsu_of_the_histogram_is_opencvs_otsu_of_the_image(depth):
    for seed in range(12):
        image = nuclei(seed, size=160, count=5 + 6 * seed, depth=depth)
        expected, _ = cv2.threshold(image, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
        counts = np.bincount(image.ravel(), minlength=1 << depth)
        assert otsu_of_counts(counts) == expected, seed


RECIPES = {
    "otsu": seg.ThresholdRecipe(),
    "otsu smoothed, opened and closed": seg.ThresholdRecipe(smoothing="gaussian", sigma=2, opening=3, closing=5),
    "median, dark objects found by auto polarity": seg.ThresholdRecipe(smoothing="median", median_size=5),
    "manual": seg.ThresholdRecipe(method="manual", value=90, polarity="bright"),
    "sauvola": seg.ThresholdRecipe(method="sauvola", window=25, polarity="bright"),
    "adaptive gaussian": seg.ThresholdRecipe(method="adaptive_gaussian", window=31, polarity="bright"),
}


@pytest.mark.parametrize("name", list(RECIPES))
@pytest.mark.parametrize("depth", [8, 16])
def test_tiled_threshold_masks_and_components_equal_the_whole_image(name, depth):
    recipe = RECIPES[name]
    image = nuclei(3, depth=depth)
    if "dark" in name:
        image = np.iinfo(image.dtype).max - image  # dark nuclei on a bright background
    if name == "manual" and depth == 16:
        recipe = recipe.replace(value=90 * 257)
    if name == "adaptive gaussian" and depth == 16:  # OpenCV's adaptive threshold maps the whole range to 8 bits
        with pytest.raises(TiledError, match="maps a 16-bit image's whole range"):
            segment_tiled(image, recipe, tile=50)
        return
    whole = seg.threshold(image, recipe)
    components = seg.label_objects(whole.mask)
    assert components.max() > 20
    for tile in (50, 128, 300):  # 50 cuts most nuclei, 128 some; 300 is the whole image
        tiled = segment_tiled(image, recipe, tile=tile)
        assert tiled.thresholds == whole.thresholds, tile
        assert tiled.polarity == whole.polarity
        assert np.array_equal(tiled.mask[:], whole.mask), tile
        assert tiled.count == components.max()
        assert np.array_equal(tiled.labels[:], components), tile  # same numbers, not only the same objects


@pytest.mark.parametrize("connectivity", [8, 4])
def test_tiled_watershed_labels_equal_the_whole_image(connectivity):
    recipe = seg.WatershedRecipe(foreground=seg.ThresholdRecipe(smoothing="gaussian", sigma=1.25, closing=3),
                                 connectivity=connectivity)
    image = nuclei(5, count=80)
    whole = seg.watershed(image, recipe)
    assert whole.count > 40 and whole.count > seg.label_objects(whole.foreground).max()  # touching nuclei split
    for tile in (64, 100, 300):
        tiled = segment_tiled(image, recipe, tile=tile, halo=100)  # the largest cluster of nuclei is 73 px
        assert tiled.thresholds == whole.threshold.thresholds
        assert np.array_equal(tiled.mask[:], whole.foreground), tile
        assert tiled.count == whole.count
        assert np.array_equal(tiled.labels[:], whole.labels), tile


def test_an_object_wider_than_the_halo_is_refused_in_words():
    image = np.full((200, 200), 10, np.uint8)
    image[20:180, 30:60] = 200  # 160 px tall
    with pytest.raises(TiledError, match="use a halo of at least"):
        segment_tiled(image, seg.WatershedRecipe(foreground=seg.ThresholdRecipe()), tile=50, halo=30)


def test_steps_that_need_the_whole_image_are_refused_in_words():
    image = nuclei(1, size=64, count=5)
    with pytest.raises(TiledError, match="method li"):
        segment_tiled(image, seg.ThresholdRecipe(method="li"), tile=32)
    with pytest.raises(TiledError, match="8- or 16-bit"):
        segment_tiled(image.astype(np.float32), seg.ThresholdRecipe(), tile=32)


def test_a_tiled_bigtiff_and_an_ome_zarr_are_read_region_by_region(tmp_path):
    image = nuclei(7, size=300, count=70, depth=16)
    recipe = seg.WatershedRecipe(foreground=seg.ThresholdRecipe(smoothing="gaussian", sigma=1.25))
    whole = seg.watershed(image, recipe)
    tiff = tmp_path / "slide.tif"
    tifffile.imwrite(tiff, image, bigtiff=True, tile=(64, 64))
    store = tifffile.imread(tiff, aszarr=True)
    assert zarr.open(store, mode="r").chunks == (64, 64)  # the TIFF's own tiles are the chunks read
    from_tiff = segment_tiled(tiff, recipe, tile=96, halo=60, out=tmp_path / "out")
    assert np.array_equal(from_tiff.labels[:], whole.labels)
    assert np.array_equal(zarr.open(str(tmp_path / "out" / "labels"), mode="r")[:], whole.labels)  # on disk
    group = zarr.open_group(str(tmp_path / "slide.ome.zarr"), mode="w")
    group.create_array("0", data=image[None, None], chunks=(1, 1, 128, 128))
    group.attrs["multiscales"] = [{"version": "0.4", "axes": [{"name": "c", "type": "channel"},
                                                              {"name": "z", "type": "space"},
                                                              {"name": "y", "type": "space"},
                                                              {"name": "x", "type": "space"}],
                                   "datasets": [{"path": "0", "coordinateTransformations": [
                                       {"type": "scale", "scale": [1, 1, 1, 1]}]}]}]
    from_zarr = segment_tiled(tmp_path / "slide.ome.zarr", recipe, tile=128, halo=60)
    assert np.array_equal(from_zarr.labels[:], whole.labels)


def test_the_command_line_tile_option_writes_the_whole_images_result(tmp_path):
    from cli_helpers import run_cli

    image = nuclei(4, size=400, count=120, depth=16)
    (tmp_path / "images").mkdir()
    tifffile.imwrite(tmp_path / "images" / "slide.tif", image, bigtiff=True, tile=(128, 128))
    options = ["--background-radius", "0", "--no-fill-holes", "--min-size", "0"]  # steps tiles refuse
    whole = run_cli("watershed", "images", "--out", "whole", "--labels-format", "tiff", *options, cwd=tmp_path)
    tiled = run_cli("watershed", "images", "--out", "tiled", "--tile", "150", *options, cwd=tmp_path)
    assert whole.returncode == tiled.returncode == 0, whole.stderr + tiled.stderr
    labels = zarr.open(str(tmp_path / "tiled" / "slide_tiles.zarr" / "labels"), mode="r")[:]
    assert np.array_equal(labels, tifffile.imread(tmp_path / "whole" / "slide_labels.tif"))
    rows = [next(csv.DictReader(open(tmp_path / out / "summary.csv", encoding="utf-8"))) for out in ("whole", "tiled")]
    for column in ("width", "height", "objects", "foreground_fraction", "thresholds", "recipe_sha256"):
        assert rows[0][column] == rows[1][column], column
    # the whole image's outputs (segmentation.batch._tiled_output), but no overlay image
    assert sorted(p.name for p in (tmp_path / "tiled").iterdir()) == [
        "recipe.json", "slide.ome.zarr", "slide_measurements.csv", "slide_tiles.zarr", "summary.csv"]


@pytest.mark.parametrize("flags", [("--series", "1"), ("--channel", "1"), ("--plane", "2"), ("--pages", "channels"),
                                   ("--projection", "max"), ("--timepoint", "1")])
def test_tiles_refuse_what_they_would_not_read(flags, tmp_path, monkeypatch, capsys):
    """Tiles read the stored plane: a file selection they cannot apply is refused, never silently dropped."""
    from tests.cli_helpers import run_cli_in_process

    tifffile.imwrite(tmp_path / "plane.tif", np.zeros((64, 64), np.uint8))
    done = run_cli_in_process("threshold", "plane.tif", "--out", "out", "--tile", "32", *flags, "--no-progress",
                              cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 2, done.stderr
    assert "is not applied in tiles" in done.stderr and "--projection auto" in done.stderr


def test_a_halo_wider_than_half_a_tile_is_said_where_the_time_goes():
    """#14 review: one long object made the automatic halo (the largest object's extent) most of the image, and
    small tiles slow, without a word. The result stays the whole image's; the note says the halo and the cost."""
    image = np.zeros((600, 600), np.uint16)
    cv2.line(image, (20, 300), (580, 310), 3000, 9)
    for i in range(10):
        cv2.circle(image, (50 + 50 * i, 100), 12, 2500, -1)
    result = seg.batch.segment_tiled(image, seg.WatershedRecipe(), tile=128)
    assert np.array_equal(result.labels[:], seg.watershed(image).labels)
    assert result.halo > 64
    (note,) = result.notes
    assert f"the halo is {result.halo:,} px" in note and "128-px tile" in note and "--tile" in note
    small = np.zeros((600, 600), np.uint16)
    for i in range(10):
        cv2.circle(small, (50 + 50 * i, 100), 12, 2500, -1)
    assert seg.batch.segment_tiled(small, seg.WatershedRecipe(), tile=128).notes == []  # a halo of ~25 px: nothing
