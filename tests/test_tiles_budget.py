"""Automatic tiles above a memory budget, and the steps tiles refuse, named in plain words.

The reference for "same result" is the whole-image run of the same command (the library's own whole-image
watershed and connected components), as in tests/test_tiles.py; the budgets are set tiny so that a 400 x 400
image is "too big".
"""

from __future__ import annotations

import csv
import importlib
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tifffile
import zarr
from cli_helpers import REPO, run_cli_in_process
from distributed import LocalCluster
from test_tiles import nuclei

import segmentation as seg
from segmentation.batch import TiledError, default_memory_budget, segment_tiled

auto_tile = importlib.import_module("segmentation.batch._options").auto_tile

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



# -- the command line's budget reaches each tiled task (local pool and Dask workers) ------------------------------
def _blob_plate(folder) -> None:
    (folder / "images").mkdir()
    tifffile.imwrite(folder / "images" / "blob.tif", _blob_slide(), tile=(128, 128))
    tifffile.imwrite(folder / "images" / "small.tif", nuclei(5, size=60, count=4))
    (folder / "blob.json").write_text(BLOB_RECIPE.to_json(), encoding="utf-8")


def test_the_command_lines_budget_caps_the_halo_as_the_librarys_does(tmp_path, monkeypatch, capsys):
    _blob_plate(tmp_path)
    with pytest.raises(TiledError) as refused:
        segment_tiled(_blob_slide(), BLOB_RECIPE, tile=64, memory_budget=40_000)
    small = run_cli_in_process("apply", "--recipe", "blob.json", "images", "--out", "small", "--tile", "64",
                               "--memory-budget", "40000", *TWO_JOBS, cwd=tmp_path, monkeypatch=monkeypatch,
                               capsys=capsys)
    assert small.returncode == 1, small.stderr  # the blob is refused in the worker, the small image done
    rows = _rows(tmp_path / "small")
    assert rows["blob"]["status"] == "error" and rows["blob"]["message"] == str(refused.value)
    assert rows["small"]["status"] == "ok"
    large = run_cli_in_process("apply", "--recipe", "blob.json", "images", "--out", "large", "--tile", "64",
                               "--memory-budget", "1M", *TWO_JOBS, cwd=tmp_path, monkeypatch=monkeypatch,
                               capsys=capsys)
    assert large.returncode == 0, large.stderr
    labels = zarr.open(str(tmp_path / "large" / "blob_tiles.zarr" / "labels"), mode="r")[:]
    assert np.array_equal(labels, seg.watershed(_blob_slide(), BLOB_RECIPE).labels)


@pytest.mark.timeout(300, method="thread")
def test_the_budget_reaches_the_tasks_on_a_dask_cluster(tmp_path, monkeypatch, capsys):
    _blob_plate(tmp_path)
    with pytest.raises(TiledError) as refused:
        segment_tiled(_blob_slide(), BLOB_RECIPE, tile=64, memory_budget=40_000)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        done = run_cli_in_process("apply", "--recipe", "blob.json", "images", "--out", "out", "--tile", "64",
                                  "--memory-budget", "40000", "--scheduler", cluster.scheduler_address,
                                  "--no-progress", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 1, done.stderr
    rows = _rows(tmp_path / "out")
    assert rows["blob"]["status"] == "error" and rows["blob"]["message"] == str(refused.value)
    assert rows["small"]["status"] == "ok"


def test_an_image_over_the_budget_is_cut_in_tiles_that_fit_the_budget(tmp_path, monkeypatch, capsys):
    # 1100 x 1100 8-bit decodes to 1,210,000 bytes, over a 600 KiB budget (614,400 bytes); a tile of 2048 or
    # 1024 px would be over it too (1,048,576 bytes), one of 512 px (262,144 bytes) fits
    (tmp_path / "images").mkdir()
    image = nuclei(8, size=1100, count=500)
    tifffile.imwrite(tmp_path / "images" / "big.tif", image, tile=(256, 256))
    assert auto_tile(600 * 1024, 1) == 512 and auto_tile(1210000, 1) == 1024 and auto_tile(1 << 30, 1) == 2048
    done = run_cli_in_process("threshold", "images", "--out", "out", "--memory-budget", "600K", *TILEABLE,
                              "--jobs", "1", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    row = _rows(tmp_path / "out")["big"]
    assert ("over the memory budget of 600.0 KiB (--memory-budget), so it is segmented in tiles of 512 px"
            in row["message"])
    tiles = zarr.open_group(str(tmp_path / "out" / "big_tiles.zarr"), mode="r")
    assert tiles.attrs["segmentation-studio"]["tile"] == 512 and tiles["mask"].chunks == (512, 512)
    recipe = seg.ThresholdRecipe(background_radius=0, fill_holes=False, min_size=0)
    assert np.array_equal(tiles["mask"][:], seg.threshold(image, recipe).mask)
    # the library's batch with the same budget makes the same plan
    rows = seg.batch.run_batch([tmp_path / "images" / "big.tif"], recipe, tmp_path / "library",
                               memory_budget=600 * 1024)
    assert rows[0]["message"] == row["message"]
    assert zarr.open_group(str(tmp_path / "library" / "big_tiles.zarr"), mode="r").attrs["segmentation-studio"][
        "tile"] == 512


# -- memory: a tiled run holds tiles, not the image ---------------------------------------------------------------
#: Measures the process's own peak (ru_maxrss, KiB on Linux) after the imports and after the batch.
_MEASURED_RUN = """
import importlib, resource, sys
from segmentation.batch import main
importlib.import_module("segmentation.batch._tiled_output")  # what a tiled run imports, counted in the baseline
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
code = main(sys.argv[1:])
print("peak KiB", before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.timeout(300, method="thread")
def test_a_41_megapixel_tiff_is_segmented_in_tiles_within_a_memory_bound(tmp_path):
    # 6400 x 6400 8-bit nuclei (41 MP, 40,960,000 bytes decoded), a whole-image run of which would peak at about
    # 26.4 times that (1.08 GB, _options.MEMORY_FACTOR's measurement); a 1 MiB budget cuts it in tiles of 1024 px
    side, budget = 6400, 1 << 20
    block = nuclei(3, size=800, count=150)
    image = np.tile(block, (side // 800, side // 800))
    (tmp_path / "images").mkdir()
    tifffile.imwrite(tmp_path / "images" / "slide.tif", image, tile=(512, 512))
    tile = auto_tile(budget, 1)
    assert tile == 1024
    # glibc keeps a malloc arena per thread (dask's) and returns little of it: two arenas, so that the peak is
    # what the program holds rather than how many threads once allocated
    env = {**os.environ, "MALLOC_ARENA_MAX": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _MEASURED_RUN, "threshold", "images", "--out", "out",
                           "--memory-budget", "1M", *TILEABLE, "--jobs", "1", "--no-progress"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    before, peak = (int(v) * 1024 for v in done.stderr.split("peak KiB")[1].split()[:2])
    row = _rows(tmp_path / "out")["slide"]
    assert f"so it is segmented in tiles of {tile} px" in row["message"]
    # the bound: one tile's work as a whole image's (MEMORY_FACTOR x its decoded size), plus the connected-
    # components pass, which holds label chunks of 2048 x 2048 (segment_tiled's label_chunk): eight int64 arrays
    # of a chunk's size (two dask threads, each with its labels, relabelled copy and lookups)
    bound = 32 * tile * tile + 8 * 2048 * 2048 * 8
    whole = 26.4 * image.nbytes
    assert bound < 0.3 * whole
    assert peak - before < bound, f"the tiled run grew by {(peak - before) / 2**20:.0f} MiB"
    assert int(row["objects"]) > 1000 and int(row["width"]) == int(row["height"]) == side
