"""Automatic tiles above a memory budget, and the steps tiles refuse, named in plain words.

The reference for "same result" is the whole-image run of the same command (the library's own whole-image
watershed and connected components), as in tests/test_tiles.py; the budgets are set tiny so that a 400 x 400
image is "too big".
"""

from __future__ import annotations

import csv
import os

import cv2
import numpy as np
import pytest
import tifffile
import zarr
from cli_helpers import run_cli_in_process
from test_tiles import nuclei

import segmentation as seg
from segmentation.batch import TiledError, default_memory_budget, segment_tiled

TILEABLE = ["--background-radius", "0", "--no-fill-holes", "--min-size", "0"]
#: Two workers, started from this test process where zarr already runs its I/O thread: the pools never fork
#: this process (segmentation.batch._plate.pool_context; tests/test_pools.py).
TWO_JOBS = ["--jobs", "2"]


def _rows(folder) -> dict[str, dict]:
    with open(folder / "summary.csv", encoding="utf-8") as handle:
        return {row["output_stem"]: row for row in csv.DictReader(handle)}


@pytest.fixture
def plate(tmp_path):
    (tmp_path / "images").mkdir()
    tifffile.imwrite(tmp_path / "images" / "slide.tif", nuclei(4, size=400, count=120, depth=16), tile=(128, 128))
    tifffile.imwrite(tmp_path / "images" / "small.tif", nuclei(5, size=60, count=4, depth=16))
    return tmp_path


@pytest.mark.parametrize("command", ["threshold", "watershed"])
def test_an_image_over_the_memory_budget_is_tiled_with_the_whole_images_result(plate, command, monkeypatch, capsys):
    # slide.tif decodes to 400 * 400 * 2 = 320,000 bytes, small.tif to 7,200: a 10 KiB budget tiles only the slide
    labels_tiff = ["--labels-format", "tiff"] if command == "watershed" else []
    whole = run_cli_in_process(command, "images", "--out", "whole", *labels_tiff, *TILEABLE, *TWO_JOBS,
                               cwd=plate, monkeypatch=monkeypatch, capsys=capsys)
    auto = run_cli_in_process(command, "images", "--out", "auto", "--memory-budget", "10K", *TILEABLE, *TWO_JOBS,
                              cwd=plate, monkeypatch=monkeypatch, capsys=capsys)
    assert whole.returncode == auto.returncode == 0, whole.stderr + auto.stderr
    names = sorted(os.listdir(plate / "auto"))
    assert "slide_tiles.zarr" in names and "slide_mask.png" not in names  # tiled
    assert "small_mask.png" in names and "small_tiles.zarr" not in names  # under the budget: whole
    tiles = plate / "auto" / "slide_tiles.zarr"
    mask = zarr.open(str(tiles / "mask"), mode="r")[:]
    assert np.array_equal(mask, seg.load_image(plate / "whole" / "slide_mask.png") > 0)
    labels = zarr.open(str(tiles / "labels"), mode="r")[:]
    if command == "watershed":
        assert np.array_equal(labels, tifffile.imread(plate / "whole" / "slide_labels.tif"))
    else:  # the mask's 8-connected objects, numbered as the whole image's are
        assert np.array_equal(labels, seg.label_objects(mask))
    assert (plate / "auto" / "small_mask.png").read_bytes() == (plate / "whole" / "small_mask.png").read_bytes()
    rows, whole_rows = _rows(plate / "auto"), _rows(plate / "whole")
    for column in ("width", "height", "objects", "foreground_fraction", "thresholds", "recipe_sha256"):
        assert rows["slide"][column] == whole_rows["slide"][column], column
    assert "over the memory budget of 10.0 KiB (--memory-budget)" in rows["slide"]["message"]


def test_the_default_budget_is_the_memory_over_32_times_the_jobs():
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert default_memory_budget(1) == total // 32
    assert default_memory_budget(4) == total // 128


@pytest.mark.parametrize("text", ["0", "-1", "4Q", "lots", ""])
def test_a_bad_memory_budget_is_a_usage_error(plate, text, monkeypatch, capsys):
    done = run_cli_in_process("threshold", "images", "--memory-budget", text, cwd=plate, monkeypatch=monkeypatch,
                              capsys=capsys)
    assert done.returncode == 2
    assert f"argument --memory-budget: must be a size such as 4G, 512M or 300000 (bytes); got '{text}'" in done.stderr


#: Each step tiles cannot do exactly: (command, options, the words naming the parameter, the option to change).
REFUSED = [
    ("threshold", ["--method", "li"], "method li is not computed in tiles", "--method otsu or a local method"),
    ("threshold", ["--method", "multiotsu"], "method multiotsu is not computed in tiles", "--method otsu"),
    ("watershed", [*TILEABLE, "--seeds", "distance_peaks"], "seeds distance_peaks are not numbered across tiles",
     "--seeds h_maxima"),
    ("watershed", [*TILEABLE, "--landscape", "gradient"], "landscape gradient is not flooded in tiles",
     "--landscape distance"),
]


@pytest.mark.parametrize(("command", "options", "words", "fix"), REFUSED)
def test_tile_refuses_each_step_it_cannot_do_exactly_naming_the_parameter(plate, command, options, words, fix,
                                                                          monkeypatch, capsys):
    done = run_cli_in_process(command, "images", "--out", "out", "--tile", "100", *options, cwd=plate,
                              monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 2
    assert "--tile cannot follow this recipe exactly: " + words in done.stderr
    assert fix in done.stderr and "or leave out --tile" in done.stderr
    assert not (plate / "out").exists()  # refused before anything is written


@pytest.mark.parametrize(("command", "options", "words", "fix"), REFUSED)
def test_an_over_budget_image_with_such_a_recipe_fails_alone_in_words(plate, command, options, words, fix,
                                                                       monkeypatch, capsys):
    done = run_cli_in_process(command, "images", "--out", "out", "--memory-budget", "10K", *options, *TWO_JOBS,
                              cwd=plate,
                              monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 1  # the slide failed, the small image was segmented
    rows = _rows(plate / "out")
    assert rows["small"]["status"] == "ok"
    assert rows["slide"]["status"] == "error"
    message = rows["slide"]["message"]
    assert message.startswith("its decoded size, 312.5 KiB, is over the memory budget of 10.0 KiB (--memory-budget)")
    assert "tiled segmentation cannot follow this recipe exactly: " + words in message
    assert "(with a larger --memory-budget)" in message


def test_the_library_refuses_in_the_same_words_and_lists_every_step():
    image = nuclei(1, size=64, count=5)
    recipe = seg.WatershedRecipe(foreground=seg.ThresholdRecipe(method="li"), seeds="distance_peaks",
                                 landscape="gradient")
    with pytest.raises(TiledError) as refused:
        segment_tiled(image, recipe, tile=32)
    text = str(refused.value)
    for words in ("method li is not computed in tiles", "seeds distance_peaks are not numbered across tiles",
                  "landscape gradient is not flooded in tiles"):
        assert words in text
    assert text.endswith("Change them, or segment the image whole")


def _blob_slide() -> np.ndarray:
    """A 400 x 400 image whose foreground holds one blob of 360 x 340 px (a slide-wide object) and 7 nuclei."""
    rng = np.random.default_rng(6)
    image = rng.normal(20, 4, (400, 400)).astype(np.float32)
    image[20:380, 30:370] = 200
    for row in range(50, 400, 50):  # in a column of their own, right of the blob
        cv2.circle(image, (386, row), 6, 180.0, -1)
    return np.clip(image, 0, 255).astype(np.uint8)


#: Every step tiles do, nothing that reaches far: the blob stays one object of 360 x 340 px.
BLOB_RECIPE = seg.WatershedRecipe(foreground=seg.ThresholdRecipe(polarity="bright", fill_holes=False, min_size=0))


def test_a_halo_over_the_memory_budget_is_refused_naming_the_object_the_halo_and_the_budget(monkeypatch):
    def flood(*args, **kwargs):
        raise AssertionError("the watershed ran; the image should have been refused before")

    monkeypatch.setattr("segmentation.batch._tiles.watershed", flood)
    with pytest.raises(TiledError) as refused:
        segment_tiled(_blob_slide(), BLOB_RECIPE, tile=64, memory_budget=40_000)
    text = str(refused.value)
    assert text.startswith("watershed in tiles cannot segment this image within the memory budget: its largest "
                           "object is 360 px across (at row 20, column 30)")
    assert "the halo around each tile would be 360 px" in text
    assert "(400 × 400 px, 156.2 KiB of mask) is over the memory budget of 39.1 KiB (--memory-budget)" in text
    # a region of sqrt(40,000) = 200 px: (200 - 64) / 2 px of halo, less the distance smoothing's 6 px margin
    assert "which allows a halo of at most 62 px with tiles of 64 px" in text
    assert "Give a larger memory budget, a smaller halo" in text and "a size filter" in text


def test_the_same_image_within_a_larger_budget_is_the_whole_images_watershed():
    image = _blob_slide()
    whole = seg.watershed(image, BLOB_RECIPE)
    tiled = segment_tiled(image, BLOB_RECIPE, tile=64, memory_budget=1 << 20)
    assert tiled.halo == 360
    assert tiled.count == whole.count > 5
    assert np.array_equal(tiled.labels[:], whole.labels)


def test_an_explicit_halo_over_the_budget_is_refused_too():
    with pytest.raises(TiledError, match=r"the halo around each tile is 300 px; the region flooded at a time"):
        segment_tiled(nuclei(2, size=400, count=20), BLOB_RECIPE, tile=64, halo=300, memory_budget=40_000)

