"""A tiled run gives what a whole-image run gives: OME-Zarr labels with pyramids, measurements, mask and exports.

The reference is always the whole-image run of the same command on the same pixels (the library's own
``watershed``/``threshold`` labels and ``measure``'s CSV), for tile sizes that cut objects. The images are
generated and fit in memory. OME-NGFF 0.4 (https://ngff.openmicroscopy.org/0.4/) says what the folder holds:
``multiscales`` datasets from full resolution down, each with its ``scale``; labels under ``labels/`` with
``image-label``, downsampled without new values.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
import zarr
from cli_helpers import measurement_lines, recipe_comment, run_cli_in_process
from test_tiles import nuclei

import segmentation as seg

#: In this process, one image at a time (see tests/test_tiles_budget.py: no worker forked after zarr started).
ONE_JOB = ["--jobs", "1"]
PIXEL_SIZE = 0.5


def _rows(folder: Path) -> dict[str, dict]:
    with open(folder / "summary.csv", encoding="utf-8") as handle:
        return {row["output_stem"]: row for row in csv.DictReader(handle)}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _check_ome_zarr(root: Path, labels: np.ndarray, image: np.ndarray, pixel_size: float | None) -> int:
    """The OME-NGFF 0.4 layout and pyramids of ``root``; returns its number of levels."""
    group = zarr.open_group(str(root), mode="r")
    step = pixel_size or 1.0
    levels = []
    height, width = labels.shape
    while True:  # each level half the one before (rounded up) until one fits in a 1024-px chunk
        levels.append((height, width))
        if height <= 1024 and width <= 1024:
            break
        height, width = -(-height // 2), -(-width // 2)
    for attrs, name in ((group.attrs, "image"), (group["labels/objects"].attrs, "objects")):
        multiscales = attrs["multiscales"][0]
        assert multiscales["version"] == "0.4"
        assert [a["name"] for a in multiscales["axes"]] == ["y", "x"]
        if pixel_size:
            assert all(a["unit"] == "micrometer" for a in multiscales["axes"])
        datasets = multiscales["datasets"]
        assert [d["path"] for d in datasets] == [str(k) for k in range(len(levels))], name
        for k, dataset in enumerate(datasets):
            assert dataset["coordinateTransformations"] == [{"type": "scale", "scale": [step * 2 ** k] * 2}]
    assert group["labels"].attrs["labels"] == ["objects"]
    assert group["labels/objects"].attrs["image-label"] == {"version": "0.4", "source": {"image": "../../"}}
    objects = group["labels/objects"]
    assert np.array_equal(objects["0"][:], labels) and objects["0"].dtype == np.int32
    assert np.array_equal(group["0"][:], image)
    for k, shape in enumerate(levels):
        assert objects[str(k)].shape == group[str(k)].shape == shape
        assert np.array_equal(objects[str(k)][:], labels[:: 2 ** k, :: 2 ** k])  # nearest neighbour: no new values
    for k in range(1, len(levels)):  # the image: the mean of each 2 x 2 pixels of the level above
        above = group[str(k - 1)][:].astype(np.float64)
        above = np.pad(above, [(0, above.shape[0] % 2), (0, above.shape[1] % 2)], mode="edge")
        mean = (above[0::2, 0::2] + above[1::2, 0::2] + above[0::2, 1::2] + above[1::2, 1::2]) / 4
        assert np.array_equal(group[str(k)][:], np.floor(mean + 0.5).astype(image.dtype))
    return len(levels)


#: (command, options): the commands' default recipes, and the watershed without background subtraction.
RUNS = [("watershed", []), ("threshold", ["--method", "otsu", "--fill-holes", "--min-size", "20"]),
        ("watershed", ["--background-radius", "0", "--pixel-size", str(PIXEL_SIZE), "--unit", "µm"])]


@pytest.mark.parametrize(("command", "options"), RUNS)
def test_tiled_outputs_equal_the_whole_images_byte_for_byte(tmp_path, command, options, monkeypatch, capsys):
    # 1100 x 320: the pyramid has two levels (1100 > 1024); tiles of 64 and 100 px cut many nuclei
    image = nuclei(7, size=1100, count=500, depth=16)[:, :320]
    (tmp_path / "images").mkdir()
    tifffile.imwrite(tmp_path / "images" / "field.tif", image, tile=(64, 64))
    exports = ["--export", "roi,geojson,ome-zarr"]
    labels_tiff = ["--labels-format", "tiff"] if command == "watershed" else []
    done = run_cli_in_process(command, "images", "--out", "whole", *labels_tiff, *exports, *options, *ONE_JOB,
                              cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    whole = tmp_path / "whole"
    if command == "watershed":
        labels = tifffile.imread(whole / "field_labels.tif")
    else:
        labels = seg.label_objects(seg.load_image(whole / "field_mask.png") > 0)
    assert labels.max() > 100
    # the references are the library's own whole-image results
    recipe = seg.recipe_from_json((whole / "recipe.json").read_text(encoding="utf-8"))
    expected = seg.watershed(image, recipe).labels if command == "watershed" else None
    if expected is not None:
        assert np.array_equal(labels, expected)
    pixel_size = PIXEL_SIZE if "--pixel-size" in options else None
    table = seg.measure(labels if command == "watershed" else labels > 0, image, pixel_size=pixel_size)
    assert recipe.to_json() == (whole / "recipe.json").read_text(encoding="utf-8")
    written = (whole / "field_measurements.csv").read_text(encoding="utf-8")
    assert written == table.to_csv(recipe_json=recipe.to_json())  # the recipe's comment line, then the table
    measurement_lines(written, recipe.to_json(), command)
    for tile in (64, 100, 2048):
        out = tmp_path / f"tiled{tile}"
        done = run_cli_in_process(command, "images", "--out", out.name, "--tile", str(tile), *exports, *options,
                                  *ONE_JOB, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
        assert done.returncode == 0, done.stderr
        for name in ("field_measurements.csv", "field_rois.zip", "field.geojson"):
            assert (out / name).read_bytes() == (whole / name).read_bytes(), (tile, name)
        assert _check_ome_zarr(out / "field.ome.zarr", labels, image, pixel_size) == 2
        # the same folder, file by file, as the whole image's --export ome-zarr
        assert _files(out / "field.ome.zarr") == _files(whole / "field.ome.zarr"), tile
        tiles = zarr.open_group(str(out / "field_tiles.zarr"), mode="r")
        assert np.array_equal(tiles["mask"][:], seg.load_image(whole / "field_mask.png") > 0)
        assert np.array_equal(tiles["labels"][:], labels)
        row, whole_row = _rows(out)["field"], _rows(whole)["field"]
        for column in ("width", "height", "objects", "foreground_fraction", "thresholds"):
            assert row[column] == whole_row[column], column
        assert "the mask is in field_tiles.zarr" in row["message"] and "no overlay image" in row["message"]
    _check_ome_zarr(whole / "field.ome.zarr", labels, image, pixel_size)


def test_measurements_of_objects_cut_by_tiles_count_each_object_once_whole(tmp_path, monkeypatch, capsys):
    # squares of known areas, each cut by the 16-px tile grid into 2 or 4 pieces
    image = np.full((96, 96), 10, np.uint8)
    areas = {}
    for k, (r, c, side) in enumerate([(10, 10, 12), (40, 12, 9), (60, 60, 30), (5, 70, 7)]):
        image[r:r + side, c:c + side] = 200
        areas[k] = side * side
    tifffile.imwrite(tmp_path / "squares.tif", image)
    done = run_cli_in_process("threshold", "squares.tif", "--method", "manual", "--value", "100", "--polarity",
                              "bright", "--tile", "16", *ONE_JOB, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "segmentation-out"
    text = (out / "squares_measurements.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(measurement_lines(text, (out / "recipe.json").read_text(encoding="utf-8"),
                                                 "threshold")))  # after the recipe's comment line
    assert sorted(int(row["area_px"]) for row in rows) == sorted(areas.values())  # once each, whole
    assert [int(row["label"]) for row in rows] == [1, 2, 3, 4]


def _ome_zarr_input(path: Path, image: np.ndarray, version: str) -> None:
    """An OME-Zarr image as other tools write it: 0.4 (Zarr v2, t c z y x) or 0.5 (Zarr v3, c y x)."""
    um = {"type": "space", "unit": "micrometer"}
    if version == "0.4":
        root = zarr.open_group(str(path), mode="w", zarr_format=2)
        root.create_array("0", data=image[None, None, None], chunks=(1, 1, 1, 100, 100))
        axes = [{"name": "t", "type": "time"}, {"name": "c", "type": "channel"}, {"name": "z", "type": "space"},
                {"name": "y", **um}, {"name": "x", **um}]
        root.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [
            {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 1, PIXEL_SIZE,
                                                                                     PIXEL_SIZE]}]}]}]
    else:
        root = zarr.open_group(str(path), mode="w", zarr_format=3)
        root.create_array("0", data=image[None], chunks=(1, 100, 100))
        axes = [{"name": "c", "type": "channel"}, {"name": "y", **um}, {"name": "x", **um}]
        root.attrs["ome"] = {"version": "0.5", "multiscales": [{"axes": axes, "datasets": [
            {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, PIXEL_SIZE, PIXEL_SIZE]}]}]}]}


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_an_ome_zarr_input_is_one_image_alone_or_in_a_folder(tmp_path, version, monkeypatch, capsys):
    image = nuclei(2, size=300, count=60, depth=16)
    (tmp_path / "plate" / "well").mkdir(parents=True)
    _ome_zarr_input(tmp_path / "plate" / "well" / "slide.ome.zarr", image, version)
    tifffile.imwrite(tmp_path / "plate" / "same.tif", image)
    options = ["--background-radius", "0", *ONE_JOB]
    done = run_cli_in_process("watershed", "plate/same.tif", "--out", "whole", "--labels-format", "tiff",
                              "--pixel-size", str(PIXEL_SIZE), "--unit", "µm", *options, cwd=tmp_path,
                              monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    labels = tifffile.imread(tmp_path / "whole" / "same_labels.tif")
    # the whole run's recipe has --pixel-size 0.5 µm, the Zarr runs' "auto" (the store's scale): the same table
    # after each file's comment line, which names its own recipe
    whole_recipe = (tmp_path / "whole" / "recipe.json").read_text(encoding="utf-8")
    expected_table = measurement_lines((tmp_path / "whole" / "same_measurements.csv").read_text(encoding="utf-8"),
                                       whole_recipe, "watershed")
    assert seg.recipe_from_json(whole_recipe).foreground.pixel_size == PIXEL_SIZE
    for argument, out in (("plate/well/slide.ome.zarr", "alone"), ("plate/well", "folder"), ("plate", "walk")):
        extra = ["--recursive"] if out == "walk" else []
        done = run_cli_in_process("watershed", argument, "--out", out, *extra, *options, cwd=tmp_path,
                                  monkeypatch=monkeypatch, capsys=capsys)
        assert done.returncode == 0, (argument, done.stdout, done.stderr)
        assert "no image files" not in done.stderr
        rows = _rows(tmp_path / out)
        assert rows["slide"]["status"] == "ok"
        assert "a Zarr image is read a region at a time" in rows["slide"]["message"]
        assert len(rows) == (2 if out == "walk" else 1)  # the store's own folders are not images
        result = tmp_path / out
        assert np.array_equal(zarr.open_group(str(result / "slide.ome.zarr"), mode="r")["labels/objects/0"][:],
                              labels)
        # the pixel size comes from the store's scale, typed nowhere
        recipe_json = (result / "recipe.json").read_text(encoding="utf-8")
        assert seg.recipe_from_json(recipe_json) == seg.WatershedRecipe.from_params(background_radius=0)
        text = (result / "slide_measurements.csv").read_text(encoding="utf-8")
        assert text == recipe_comment(recipe_json) + "\n" + "\n".join(expected_table) + "\n"
        assert measurement_lines(text, recipe_json, "watershed") == expected_table


def test_an_image_over_64_megapixels_is_tiled_and_the_message_names_tile(tmp_path, monkeypatch, capsys):
    # 8,200 x 8,000 = 65.6 MP: over load_image's 64 MP, under the default memory budget of any machine here
    image = np.full((8000, 8200), 20, np.uint8)
    rng = np.random.default_rng(0)
    for r, c in rng.integers(40, 7960, (400, 2)):
        image[r - 8:r + 8, c - 8:c + 8] = 200
    tifffile.imwrite(tmp_path / "big.tif", image, tile=(512, 512))
    done = run_cli_in_process("threshold", "big.tif", "--method", "otsu", "--out", "out", *ONE_JOB, cwd=tmp_path,
                              monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    row = _rows(tmp_path / "out")["big"]
    assert row["status"] == "ok"
    assert row["message"].startswith("it has 65.6 MP, more than a whole image may have (64 MP), so it is segmented "
                                     "in tiles of 2048 px (as with --tile 2048)")
    whole = seg.threshold(image, seg.ThresholdRecipe(method="otsu"))
    assert int(row["objects"]) == int(seg.label_objects(whole.mask).max())
    assert np.array_equal(zarr.open_group(str(tmp_path / "out" / "big_tiles.zarr"), mode="r")["mask"][:],
                          whole.mask)
    # a recipe the tiles cannot follow: refused in words that say why it was tiled and what to change
    done = run_cli_in_process("threshold", "big.tif", "--method", "li", "--out", "li", *ONE_JOB, cwd=tmp_path,
                              monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 1
    message = _rows(tmp_path / "li")["big"]["message"]
    assert message.startswith("it has 65.6 MP, more than a whole image may have (64 MP), so it is segmented in "
                              "tiles of 2048 px (as with --tile 2048); tiled segmentation cannot follow this recipe")
    assert "method li is not computed in tiles" in message


def test_a_rerun_with_skip_existing_skips_a_tiled_image_and_overwrite_replaces_its_folders(tmp_path, monkeypatch,
                                                                                          capsys):
    tifffile.imwrite(tmp_path / "slide.tif", nuclei(4, size=200, count=30, depth=16))
    args = ["watershed", "slide.tif", "--tile", "64", "--background-radius", "0", "--export", "geojson", *ONE_JOB]
    assert run_cli_in_process(*args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys).returncode == 0
    out = tmp_path / "segmentation-out"
    before = _files(out / "slide.ome.zarr")
    done = run_cli_in_process(*args, "--skip-existing", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0 and _rows(out)["slide"]["status"] == "skipped"
    done = run_cli_in_process(*args, "--overwrite", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0 and _rows(out)["slide"]["status"] == "ok"
    assert _files(out / "slide.ome.zarr") == before
    assert json.loads((out / "slide.geojson").read_text(encoding="utf-8"))["type"] == "FeatureCollection"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no staging folder left
    shutil.rmtree(out)


@pytest.mark.parametrize("kind", ["rgb", "blank"])
def test_an_rgb_or_an_empty_image_gives_the_whole_images_files_in_tiles(tmp_path, kind, monkeypatch, capsys):
    gray = nuclei(5, size=256, count=40)
    image = np.stack([gray, gray // 2, 255 - gray], axis=-1) if kind == "rgb" else np.full((100, 120), 7, np.uint8)
    tifffile.imwrite(tmp_path / "x.tif", image, photometric="rgb" if kind == "rgb" else "minisblack")
    args = ["threshold", "x.tif", "--method", "otsu", "--export", "roi,geojson,ome-zarr", *ONE_JOB]
    for out, extra in (("whole", []), ("tiled", ["--tile", "64"])):
        done = run_cli_in_process(*args, "--out", out, *extra, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
        assert done.returncode == 0, done.stderr
    whole, tiled = tmp_path / "whole", tmp_path / "tiled"
    for name in ("x_measurements.csv", "x_rois.zip", "x.geojson"):
        assert (tiled / name).read_bytes() == (whole / name).read_bytes(), name
    assert _files(tiled / "x.ome.zarr") == _files(whole / "x.ome.zarr")
    objects = int(_rows(tiled)["x"]["objects"])
    assert objects > 20 if kind == "rgb" else objects == 0
    if kind == "rgb":  # axes c, y, x: the image's three channels; the labels' c axis of length 1
        group = zarr.open_group(str(tiled / "x.ome.zarr"), mode="r")
        assert np.array_equal(np.moveaxis(group["0"][:], 0, -1), image)
        assert group["labels/objects/0"].shape == (1, 256, 256)


def _damaged_tiffs(folder: Path) -> dict[str, bytes]:
    """Files named .tif that are not whole TIFFs: empty, text, a header cut short, a tiled TIFF cut short."""
    image = nuclei(3, size=256, count=30, depth=16)
    whole = folder / "whole.tif"
    tifffile.imwrite(whole, image, tile=(64, 64), compression="zlib")
    data = whole.read_bytes()
    whole.unlink()
    return {"empty.tif": b"", "notes.tif": b"Shopping list\n- agar plates\n", "header.tif": data[:6],
            "cut_tiles.tif": data[: len(data) * 2 // 3]}


def test_a_damaged_file_in_tiles_is_said_in_the_whole_images_words(tmp_path, monkeypatch, capsys):
    """#14 review: in tiles, "corrupted IFD structure", "not a TIFF file: header=b'xxxx'" and "unexpected error
    (error: Error -5 while decompressing data ...)" (retried on a cluster as if transient), where the whole-image
    path says "this file is empty", "this file is not an image (it looks like text)", "this TIFF file is
    truncated or damaged". The batch goes on and exits 1."""
    folder = tmp_path / "bad"
    folder.mkdir()
    files = _damaged_tiffs(folder)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    tifffile.imwrite(folder / "good.tif", nuclei(4, size=256, count=30, depth=16))
    messages = {}
    for out, extra in (("whole", []), ("tiled", ["--tile", "128"])):
        done = run_cli_in_process("watershed", "bad", "--out", out, *extra, *ONE_JOB, cwd=tmp_path,
                                  monkeypatch=monkeypatch, capsys=capsys)
        assert done.returncode == 1, (done.stdout, done.stderr)
        rows = _rows(tmp_path / out)
        assert rows["good"]["status"] == "ok"
        messages[out] = {stem: rows[stem]["message"] for stem in ("empty", "notes", "header", "cut_tiles")}
        assert all(rows[stem]["status"] == "error" for stem in messages[out])
    for stem, whole in messages["whole"].items():
        assert messages["tiled"][stem].endswith(whole), (stem, messages)
        assert "unexpected" not in messages["tiled"][stem] and "IFD" not in messages["tiled"][stem]


def test_a_five_dimensional_zarr_image_is_read_a_region_at_a_time(tmp_path):
    """OME-Zarr's t, c, z axes of length 1 are indexed on each read: ``array[0]`` of a Zarr array decodes the
    whole plane, which for a slide bigger than memory is the whole slide."""
    image = nuclei(5, size=300, count=40, depth=16)
    root = zarr.open_group(str(tmp_path / "slide.zarr"), mode="w")
    stored = root.create_array("0", shape=(1, 1, 1, *image.shape), dtype=image.dtype, chunks=(1, 1, 1, 100, 100))
    stored[...] = image[None, None, None]
    opened = seg.batch.open_image(tmp_path / "slide.zarr")
    assert opened.shape == image.shape and opened.dtype == image.dtype
    reads = []
    original = type(stored).__getitem__

    def counted(self, key):
        reads.append(key)
        return original(self, key)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(stored), "__getitem__", counted)
        region = opened[100:150, 200:260]
    assert np.array_equal(region, image[100:150, 200:260])
    assert reads == [(0, 0, 0, slice(100, 150), slice(200, 260))]
    assert np.array_equal(seg.batch.segment_tiled(tmp_path / "slide.zarr", seg.WatershedRecipe(), tile=128).labels[:],
                          seg.watershed(image).labels)


def test_an_ome_zarr_output_says_its_recipe_hash_and_versions_as_the_summary_does(tmp_path, monkeypatch, capsys):
    """#14: "recipe hash and library versions stamped in every output": the OME-Zarr of a tiled image and the
    ``--export ome-zarr`` of a whole one carry the recipe, its SHA-256 and the versions of the summary's row."""
    tifffile.imwrite(tmp_path / "cells.tif", nuclei(6, size=256, count=30, depth=16))
    for out, extra in (("tiled", ["--tile", "128"]), ("whole", ["--export", "ome-zarr"])):
        done = run_cli_in_process("watershed", "cells.tif", "--out", out, *extra, *ONE_JOB, cwd=tmp_path,
                                  monkeypatch=monkeypatch, capsys=capsys)
        assert done.returncode == 0, done.stderr
        row = _rows(tmp_path / out)["cells"]
        said = zarr.open_group(str(tmp_path / out / "cells.ome.zarr"), mode="r").attrs["segmentation-studio"]
        recipe_json = (tmp_path / out / "recipe.json").read_text(encoding="utf-8")
        assert said["recipe"] == json.loads(recipe_json)
        assert said["recipe_version"] == seg.RECIPE_VERSION == json.loads(recipe_json)["version"]
        assert (said["recipe_sha256"], said["versions"]) == (row["recipe_sha256"], row["versions"])
        assert row["recipe_sha256"] == hashlib.sha256(recipe_json.encode("utf-8")).hexdigest()
