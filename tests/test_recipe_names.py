"""Recipes survive a rename: a parameter's earlier names (``ParamSpec.aliases``) are honoured by the JSON
file, the URL (library and app), the keyword arguments and the command line, and never written.

No parameter has been renamed yet, so the tests give two real parameters an earlier name for their
duration (``window`` was ``old_window``, ``h`` was ``old_h``) and drive the real code paths with it.
Also here: errors about parameters are ``ParameterError`` (a ``ValueError``), and every thresholding
method names its published source, which the method's caption on the page shows.
"""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import skimage.data
from app_helpers import assert_ok, captions, run, widget

import segmentation as seg
from segmentation.batch import main


@pytest.fixture
def renamed(monkeypatch):
    """``window`` (thresholding) answers to ``old_window`` and ``h`` (watershed) to ``old_h``."""
    for cls, name, alias in ((seg.ThresholdRecipe, "window", "old_window"), (seg.WatershedRecipe, "h", "old_h")):
        specs = tuple(dataclasses.replace(s, aliases=(alias,)) if s.name == name else s for s in cls.specs())
        monkeypatch.setattr(cls, "_specs_cache", specs)
    yield


def _recipe_file(kind: str, params: dict) -> str:
    return json.dumps({"format": seg.RECIPE_FORMAT, "version": seg.RECIPE_VERSION, "kind": kind, "params": params})


def test_json_with_an_earlier_name_reads_and_writes_the_current_one(renamed):
    recipe = seg.recipe_from_json(_recipe_file("threshold", {"method": "sauvola", "old_window": 31}))
    assert recipe == seg.ThresholdRecipe(method="sauvola", window=31)
    written = json.loads(recipe.to_json())["params"]
    assert written["window"] == 31 and "old_window" not in written


def test_watershed_json_with_earlier_names_for_its_own_and_its_foreground_parameters(renamed):
    recipe = seg.recipe_from_json(_recipe_file("watershed", {"old_h": 2.5, "method": "sauvola", "old_window": 41}))
    assert recipe.h == 2.5 and recipe.foreground.window == 41 and recipe.foreground.method == "sauvola"


def test_url_with_an_earlier_name(renamed):
    assert seg.ThresholdRecipe.from_flat({"method": "sauvola", "old_window": "31"}).window == 31
    watershed = seg.WatershedRecipe.from_flat({"old_h": "3", "old_window": "21", "method": "niblack"})
    assert (watershed.h, watershed.foreground.window) == (3.0, 21)
    assert "old_h" not in watershed.to_flat() and watershed.to_flat()["h"] == "3"


def test_keyword_arguments_with_an_earlier_name(renamed):
    assert seg.WatershedRecipe.from_params(old_h=4.0).h == 4.0
    assert seg.ThresholdRecipe.from_params(method="sauvola", old_window=15).window == 15


def test_a_parameter_given_under_two_names_is_refused(renamed):
    with pytest.raises(seg.ParameterError, match="window.*old_window|old_window.*window"):
        seg.ThresholdRecipe.from_flat({"window": "31", "old_window": "41"})
    with pytest.raises(seg.ParameterError, match="h is given twice"):
        seg.WatershedRecipe.from_params(h=1.0, old_h=2.0)


def test_without_aliases_an_unknown_name_stays_unknown():
    with pytest.raises(seg.ParameterError, match="old_window"):
        seg.ThresholdRecipe.from_flat({"old_window": "31"}, ignore_unknown=False)
    with pytest.raises(seg.ParameterError, match="old_window"):
        seg.recipe_from_json(_recipe_file("threshold", {"old_window": 31}))


def test_command_line_option_with_an_earlier_name(renamed, tmp_path, monkeypatch, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "page.png").write_bytes(seg.encode_png(skimage.data.page()))
    monkeypatch.chdir(tmp_path)
    code = main(["threshold", "in", "--method", "sauvola", "--old-window", "31", "--out", "out", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    recipe = seg.recipe_from_json((tmp_path / "out" / "recipe.json").read_text())
    assert recipe == seg.ThresholdRecipe(method="sauvola", window=31)
    expected = seg.threshold(skimage.data.page(), recipe).mask
    written = seg.load_image(tmp_path / "out" / "page_mask.png") > 0
    assert np.array_equal(written, expected)


def test_share_link_with_an_earlier_name_opens_the_same_view(renamed):
    at = run("threshold", query={"sample": "page", "method": "sauvola", "old_window": "31"})
    assert_ok(at)
    assert widget(at, "window").value == 31
    assert "old_window" not in at.query_params


def test_parameter_errors_are_value_errors_naming_the_parameter():
    with pytest.raises(seg.ParameterError, match="window") as caught:
        seg.ThresholdRecipe(method="sauvola", window=30)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(seg.ParameterError, match="band_low"):
        seg.WatershedRecipe(seeds="intensity_bands", band_low=5.0, band_high=1.0)


@pytest.mark.parametrize("method", list(seg.METHODS))
def test_every_method_names_its_library_and_its_published_source(method):
    info = seg.METHODS[method]
    assert info.label and info.library
    assert re.search(r"(1[89]|20)\d\d", info.source), f"{method}: the source needs its year"
    assert not info.doi or re.fullmatch(r"10\.\d{4,9}/\S+", info.doi), info.doi


def test_the_method_caption_shows_its_source():
    at = run("threshold", query={"sample": "camera", "method": "li"})
    assert_ok(at)
    info = seg.METHODS["li"]
    shown = [c for c in captions(at) if info.library in c]
    assert shown and info.source in shown[0] and f"https://doi.org/{info.doi}" in shown[0]


def test_generated_script_credits_the_method():
    script = seg.to_python(seg.ThresholdRecipe(method="yen"))
    comments = " ".join(line.strip().removeprefix("# ") for line in script.splitlines() if line.strip().startswith("#"))
    assert seg.METHODS["yen"].source in comments


def test_threshold_and_watershed_keywords_with_an_earlier_name(renamed):
    page = skimage.data.page()
    assert np.array_equal(seg.threshold(page, "sauvola", old_window=31).mask,
                          seg.threshold(page, "sauvola", window=31).mask)
    coins = skimage.data.coins()
    assert np.array_equal(seg.watershed(coins, old_h=2.0).labels, seg.watershed(coins, h=2.0).labels)


def test_an_ambiguous_earlier_name_is_refused_in_every_input_form(monkeypatch):
    """An alias equal to another parameter's name would silently set the wrong parameter: refused, and said."""
    specs = tuple(dataclasses.replace(s, aliases=("block_size",)) if s.name == "window" else s
                  for s in seg.ThresholdRecipe.specs())
    monkeypatch.setattr(seg.ThresholdRecipe, "_specs_cache", specs)
    with pytest.raises(ValueError, match="'block_size' of window is ambiguous"):
        seg.ThresholdRecipe.from_flat({"method": "adaptive_mean", "block_size": "31"})
    with pytest.raises(ValueError, match="ambiguous"):
        seg.batch.build_parser()
    with pytest.raises(ValueError, match="ambiguous"):
        seg.alias_table(seg.ThresholdRecipe.specs() + seg.WatershedRecipe.specs())


def test_the_real_specs_have_no_ambiguous_earlier_names():
    table = seg.alias_table(seg.ThresholdRecipe.specs() + seg.WatershedRecipe.specs())
    assert not set(table) & {s.name for s in seg.ThresholdRecipe.specs() + seg.WatershedRecipe.specs()}


def test_replace_and_the_foreground_mapping_honour_earlier_names(renamed):
    recipe = seg.ThresholdRecipe(method="sauvola")
    assert recipe.replace(old_window=21).window == 21
    with pytest.raises(seg.ParameterError, match="windw"):
        recipe.replace(windw=21)
    assert seg.WatershedRecipe(foreground={"method": "sauvola", "old_window": 21}).foreground.window == 21
    assert seg.WatershedRecipe.from_params(foreground={"old_window": 25}).foreground.window == 25


def test_numpy_scalars_are_accepted_like_python_numbers():
    image = skimage.data.camera().astype(np.float32) / 255
    assert seg.threshold(image, "manual", value=image.mean()).recipe.value == float(image.mean())
    recipe = seg.ThresholdRecipe(method="sauvola", window=np.int64(31), fill_holes=np.True_)
    assert recipe == seg.ThresholdRecipe(method="sauvola", window=31, fill_holes=True)
    assert type(recipe.window) is int and type(recipe.fill_holes) is bool
    assert seg.WatershedRecipe(connectivity=np.int64(4)).connectivity == 4


def test_a_message_names_the_parameter_once():
    with pytest.raises(seg.ParameterError) as caught:
        seg.WatershedRecipe(connectivity=6)
    assert str(caught.value).startswith("connectivity must be one of 4, 8")


def test_huge_integers_in_float_parameters_are_parameter_errors(tmp_path):
    with pytest.raises(seg.ParameterError, match="^value"):
        seg.ThresholdRecipe(value=10**309)
    with pytest.raises(seg.ParameterError, match="^h must be a finite number"):
        seg.recipe_from_json(_recipe_file("watershed", {"h": 10**400}))
    (tmp_path / "r.json").write_text(_recipe_file("watershed", {"h": 10**400}))
    (tmp_path / "in.png").write_bytes(seg.encode_png(skimage.data.coins()))
    with pytest.raises(SystemExit) as exited:  # a usage error: argparse's exit status 2, a plain message
        main(["apply", "--recipe", str(tmp_path / "r.json"), str(tmp_path / "in.png"),
              "--out", str(tmp_path / "out"), "--no-progress"])
    assert exited.value.code == 2


def test_numpy_integers_inside_list_parameters():
    points = np.argwhere(skimage.data.coins() == 255)[:2]  # what people pass: numpy ints
    assert seg.WatershedRecipe(seeds="points", points=points.tolist()).points == tuple(map(tuple, points.tolist()))
    assert seg.WatershedRecipe(seeds="points", points=[tuple(p) for p in points]).points \
        == tuple(map(tuple, points.tolist()))
    assert seg.ThresholdRecipe(method="multiotsu", foreground_classes=(np.int64(1),)).foreground_classes == (1,)


def test_watershed_with_a_recipe_and_an_earlier_keyword_name(renamed):
    coins = skimage.data.coins()
    recipe = seg.WatershedRecipe(h=1.0)
    assert np.array_equal(seg.watershed(coins, recipe, old_h=2.0).labels, seg.watershed(coins, h=2.0).labels)


def test_command_line_refuses_a_parameter_under_both_names(renamed, tmp_path, monkeypatch, capsys):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "page.png").write_bytes(seg.encode_png(skimage.data.page()))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["threshold", "in", "--method", "sauvola", "--window", "21", "--old-window", "23", "--out", "out"])
    assert exited.value.code == 2 and "window is given twice" in capsys.readouterr().err
