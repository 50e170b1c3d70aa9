"""The recipe is the whole answer: pixel size and unit are recipe fields, and every recipe carries its version.

A recipe saved with pixel size 0.65 µm and applied by the command line writes the same µm columns as the library
(what the app's CSV download is); version-1 recipes (no pixel size, no version key or "version": 1) still give
their result in pixels. Every measurements CSV starts with a comment line naming the recipe's version, kind and
SHA-256, and the app's download is byte for byte the command line's file.
"""

from __future__ import annotations

import csv
import hashlib
import json

import numpy as np
import pytest
from app_helpers import assert_ok, media, png_bytes, run, set_widget, upload  # noqa: F401 - media is a fixture
from cli_helpers import measurement_lines, recipe_comment
from microscopy_files import PIXEL_SIZE, run_cli, write_ome_tiff

import segmentation as seg
from segmentation import RECIPE_FORMAT, RECIPE_VERSION, ThresholdRecipe, WatershedRecipe


def test_every_recipe_json_carries_the_current_version():
    for recipe in (ThresholdRecipe(), WatershedRecipe(), WatershedRecipe.from_params(pixel_size=0.65, unit="nm")):
        data = json.loads(recipe.to_json())
        assert data["format"] == RECIPE_FORMAT and data["version"] == RECIPE_VERSION == 3
        assert seg.recipe_from_json(recipe.to_json()) == recipe


def test_pixel_size_and_unit_in_json_url_and_keywords():
    recipe = WatershedRecipe.from_params(h=2, pixel_size=0.65, unit="µm", channel="DAPI", projection="max")
    assert recipe.foreground.pixel_size == 0.65 and recipe.foreground.unit == "µm"
    flat = recipe.to_flat()
    assert flat["pixel_size"] == "0.65" and flat["channel"] == "DAPI" and flat["projection"] == "max"
    assert "unit" not in flat  # µm is the default
    assert WatershedRecipe.from_flat(flat) == recipe
    assert WatershedRecipe.from_flat({**flat, "unit": "nm"}).foreground.unit == "nm"
    params = json.loads(recipe.to_json())["params"]
    assert params["pixel_size"] == 0.65 and params["unit"] == "µm"
    assert ThresholdRecipe.from_flat({"pixel_size": "auto"}).pixel_size is None
    assert ThresholdRecipe.from_flat({"pixel_size": "0"}).pixel_size == 0  # an old link's "0 = pixels"
    with pytest.raises(seg.ParameterError, match="pixel_size"):
        ThresholdRecipe(pixel_size=-0.5)


@pytest.mark.parametrize("document", [
    {"format": RECIPE_FORMAT, "version": 1, "kind": "watershed", "params": {"h": 2.0}},
    {"format": RECIPE_FORMAT, "kind": "watershed", "params": {"h": 2.0}},  # no version: the first one
])
def test_version_1_recipes_keep_measuring_in_pixels(tmp_path, document, monkeypatch, capsys):
    recipe = seg.recipe_from_json(json.dumps(document))
    assert recipe == WatershedRecipe.from_params(h=2.0, pixel_size=0, projection="none")
    write_ome_tiff(tmp_path / "cells.ome.tif")  # the file says 0.325 µm; a version-1 recipe did not look
    (tmp_path / "old.json").write_text(json.dumps(document), encoding="utf-8")
    done = run_cli("apply", "--recipe", "old.json", "cells.ome.tif", "--out", "out", "--jobs", "1", cwd=tmp_path,
                   monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    saved_json = (tmp_path / "out" / "recipe.json").read_text(encoding="utf-8")
    # the CSV's comment names the recipe as upgraded and saved next to it (the current version), not version 1
    text = (tmp_path / "out" / "cells_measurements.csv").read_text(encoding="utf-8")
    header = measurement_lines(text, saved_json, "watershed")[0]
    assert header.startswith("label,area_px,")
    saved = json.loads(saved_json)
    assert saved["version"] == RECIPE_VERSION and saved["params"]["pixel_size"] == 0  # upgraded, same result
    assert saved["params"]["projection"] == "none"  # and still one plane of the z-stack, as version 1 read it


def test_a_recipe_with_pixel_size_applied_by_the_cli_writes_the_librarys_micrometre_csv(tmp_path, monkeypatch,
                                                                                        capsys):
    """Issue 10: a watershed recipe saved with pixel size 0.65 µm, applied by the CLI, gives the app's CSV."""
    path = seg.sample_path(seg.DEFAULT_SAMPLE_WATERSHED)
    recipe = WatershedRecipe.from_params(h=1.5, pixel_size=0.65, unit="µm")
    (tmp_path / "recipe.json").write_text(recipe.to_json(), encoding="utf-8")  # as the app's Recipe download
    done = run_cli("apply", "--recipe", "recipe.json", str(path), "--out", "out", "--jobs", "1", cwd=tmp_path,
                   monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    image = seg.load_image(path)
    labels = seg.watershed(image, recipe).labels
    expected = seg.measure(labels, image, pixel_size=0.65, unit="µm").to_csv(recipe_json=recipe.to_json())
    written = (tmp_path / "out" / f"{path.stem}_measurements.csv").read_text(encoding="utf-8")
    assert written == expected
    assert measurement_lines(written, recipe.to_json(), "watershed")[0].startswith("label,area_um2,perimeter_um,")
    # apply --pixel-size overrides the recipe's (and 0 means pixels); the comment still names the recipe applied
    done = run_cli("apply", "--recipe", "recipe.json", str(path), "--out", "px", "--pixel-size", "0", "--jobs", "1",
                   cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0 and (tmp_path / "px" / f"{path.stem}_measurements.csv").read_text(
        encoding="utf-8") == seg.measure(labels, image).to_csv(recipe_json=recipe.to_json())


def test_measurements_in_micrometres_from_the_file_without_typing_the_pixel_size(tmp_path, monkeypatch, capsys):
    write_ome_tiff(tmp_path / "cells.ome.tif")
    done = run_cli("watershed", "cells.ome.tif", "--projection", "max", "--out", "out", "--jobs", "1", cwd=tmp_path,
                   monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    image, info = seg.load_image(tmp_path / "cells.ome.tif", with_info=True, projection="max")
    labels = seg.watershed(image, WatershedRecipe.from_params(projection="max")).labels
    scale = seg.resolve_pixel_size(None, "µm", info)
    assert scale.size == PIXEL_SIZE and scale.unit == "µm" and "OME" in scale.source
    recipe_json = WatershedRecipe.from_params(projection="max").to_json()
    assert (tmp_path / "out" / "recipe.json").read_text(encoding="utf-8") == recipe_json
    expected = seg.measure(labels, image, pixel_size=PIXEL_SIZE, unit="µm").to_csv(recipe_json=recipe_json)
    assert (tmp_path / "out" / "cells_measurements.csv").read_text(encoding="utf-8") == expected
    assert expected.startswith(recipe_comment(recipe_json) + "\n")
    # The CLI's recipe.json says how it was measured: "auto" (None), resolved from the file per image.
    saved = json.loads((tmp_path / "out" / "recipe.json").read_text(encoding="utf-8"))
    assert saved["version"] == RECIPE_VERSION and saved["params"]["pixel_size"] is None


def test_the_apps_measurements_csv_is_the_command_lines_byte_for_byte(tmp_path, media, monkeypatch,  # noqa: F811
                                                                       capsys):
    """Every output carries its recipe version: the app's Measurements CSV download and the CLI's file for the
    same recipe and image are the same bytes, comment line included, and the comment names RECIPE_VERSION."""
    image = seg.load_sample("coins")[:160, :220]
    (tmp_path / "coins.png").write_bytes(png_bytes(image))
    at = upload(run("threshold", query={"method": "li", "min_size": "12", "tab": "Export"}),
                "coins.png", (tmp_path / "coins.png").read_bytes(), mime="image/png")
    at = set_widget(at, "pixel_size", 0.5)  # typed for this file (a PNG has no pixel size)
    assert_ok(at)
    downloaded = media.download(at, "Measurements CSV")
    recipe_json = media.download(at, "Recipe JSON").decode()
    recipe = seg.recipe_from_json(recipe_json)
    assert (recipe.method, recipe.min_size, recipe.pixel_size, recipe.unit) == ("li", 12, 0.5, "µm")
    (tmp_path / "recipe.json").write_text(recipe_json, encoding="utf-8")  # as a visitor saves the Recipe download
    done = run_cli("apply", "--recipe", "recipe.json", "coins.png", "--out", "out", "--jobs", "1", cwd=tmp_path,
                   monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    written = (tmp_path / "out" / "coins_measurements.csv").read_bytes()
    assert written == downloaded
    comment = downloaded.decode().splitlines()[0]
    digest = hashlib.sha256(recipe_json.encode("utf-8")).hexdigest()
    assert comment == f"# segmentation-studio recipe version {RECIPE_VERSION}, threshold, recipe_sha256 {digest}"
    with open(tmp_path / "out" / "summary.csv", encoding="utf-8", newline="") as handle:
        assert [row["recipe_sha256"] for row in csv.DictReader(handle)] == [digest]  # the summary names it too
    rows = list(csv.DictReader(measurement_lines(downloaded.decode(), recipe_json, "threshold")))
    mask = seg.threshold(image, recipe).mask
    assert len(rows) == int(seg.label_objects(mask).max()) > 5
    assert sum(float(row["area_um2"]) for row in rows) == pytest.approx(np.count_nonzero(mask) * 0.25)


def test_upgrade_params_refuses_unknown_versions():
    assert seg.upgrade_params({"h": 1}, 3) == {"h": 1}
    assert seg.upgrade_params({"h": 1}, 2) == {"h": 1, "projection": "none"}  # version 2 read one plane
    assert seg.upgrade_params({"projection": "sum"}, 2) == {"projection": "sum"}
    for version in (0, 4, "2", True, 1.5):
        with pytest.raises(ValueError, match="version"):
            seg.upgrade_params({}, version)
    assert np.isclose(seg.upgrade_params({}, 1)["pixel_size"], 0)
