"""The recipe is the whole answer: pixel size and unit are recipe fields, and every recipe carries its version.

A recipe saved with pixel size 0.65 µm and applied by the command line writes the same µm columns as the library
(what the app's CSV download is); version-1 recipes (no pixel size, no version key or "version": 1) still give
their result in pixels.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
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
    header = (tmp_path / "out" / "cells.ome_measurements.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith("label,area_px,")
    saved = json.loads((tmp_path / "out" / "recipe.json").read_text(encoding="utf-8"))
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
    expected = seg.measure(labels, image, pixel_size=0.65, unit="µm").to_csv()
    written = (tmp_path / "out" / f"{path.stem}_measurements.csv").read_text(encoding="utf-8")
    assert written == expected and written.startswith("label,area_um2,perimeter_um,")
    # apply --pixel-size overrides the recipe's (and 0 means pixels)
    done = run_cli("apply", "--recipe", "recipe.json", str(path), "--out", "px", "--pixel-size", "0", "--jobs", "1",
                   cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0 and (tmp_path / "px" / f"{path.stem}_measurements.csv").read_text(
        encoding="utf-8") == seg.measure(labels, image).to_csv()


def test_measurements_in_micrometres_from_the_file_without_typing_the_pixel_size(tmp_path, monkeypatch, capsys):
    write_ome_tiff(tmp_path / "cells.ome.tif")
    done = run_cli("watershed", "cells.ome.tif", "--projection", "max", "--out", "out", "--jobs", "1", cwd=tmp_path,
                   monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    image, info = seg.load_image(tmp_path / "cells.ome.tif", with_info=True, projection="max")
    labels = seg.watershed(image, WatershedRecipe.from_params(projection="max")).labels
    scale = seg.resolve_pixel_size(None, "µm", info)
    assert scale.size == PIXEL_SIZE and scale.unit == "µm" and "OME" in scale.source
    expected = seg.measure(labels, image, pixel_size=PIXEL_SIZE, unit="µm").to_csv()
    assert (tmp_path / "out" / "cells.ome_measurements.csv").read_text(encoding="utf-8") == expected
    # The CLI's recipe.json says how it was measured: "auto" (None), resolved from the file per image.
    saved = json.loads((tmp_path / "out" / "recipe.json").read_text(encoding="utf-8"))
    assert saved["version"] == RECIPE_VERSION and saved["params"]["pixel_size"] is None


def test_upgrade_params_refuses_unknown_versions():
    assert seg.upgrade_params({"h": 1}, 3) == {"h": 1}
    assert seg.upgrade_params({"h": 1}, 2) == {"h": 1, "projection": "none"}  # version 2 read one plane
    assert seg.upgrade_params({"projection": "sum"}, 2) == {"projection": "sum"}
    for version in (0, 4, "2", True, 1.5):
        with pytest.raises(ValueError, match="version"):
            seg.upgrade_params({}, version)
    assert np.isclose(seg.upgrade_params({}, 1)["pixel_size"], 0)
