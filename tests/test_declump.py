"""Typical diameter, foreground choice, diameter-driven sizes and the CellProfiler preset (issue 16).

Known answers from generated images: discs of a known diameter (touching or not), a brightfield-like
image whose dark nuclei lie inside grey, clumped cytoplasm on a white field, and the coins photo.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import tifffile
from cli_helpers import run_cli_in_process
from skimage import data

import segmentation as seg
from segmentation import ParameterError, WatershedRecipe


def _discs(centres, radius: float, shape=(200, 260)) -> np.ndarray:
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    mask = np.zeros(shape, bool)
    for y, x in centres:
        mask |= (yy - y) ** 2 + (xx - x) ** 2 <= radius ** 2
    return mask


@pytest.mark.parametrize("diameter", [12, 20, 31])
def test_typical_diameter_of_touching_discs_is_within_ten_percent(diameter):
    r = diameter / 2
    # rows of discs whose centres are one diameter apart (touching), and a few lone ones
    centres = [(30 + i * diameter * 1.6, 20 + j * (diameter - 1)) for i in range(3) for j in range(4)]
    centres += [(30 + i * diameter * 1.6, 200) for i in range(3)]
    mask = _discs(centres, r, shape=(int(60 + 3.2 * diameter * 1.6), 260))
    assert seg.label_objects(mask).max() < len(centres)  # the touching ones are clumps
    estimate = seg.typical_diameter(mask)
    assert abs(estimate - diameter) <= 0.1 * diameter, estimate


def test_typical_diameter_of_an_empty_mask_is_zero_and_bad_input_is_refused():
    assert seg.typical_diameter(np.zeros((10, 10), bool)) == 0.0
    with pytest.raises(ParameterError, match="mask"):
        seg.typical_diameter(np.zeros((10, 10), np.uint8))


def test_convex_object_count_counts_convex_objects_and_not_specks():
    mask = np.zeros((60, 80), bool)
    mask[5:25, 5:25] = True                        # square: convex
    mask[30:55, 5:12] = True                       # an L (with the next line): solidity about 0.5
    mask[48:55, 5:40] = True
    mask[5:25, 40:60] = True                       # square: convex
    mask[40, 70] = True                            # a one-pixel speck, convex but far below the median area
    assert seg.convex_object_count(mask) == 2
    assert seg.convex_object_count(mask, area_fraction=0.0) == 3
    assert seg.convex_object_count(mask, solidity=0.0) == 3
    assert seg.convex_object_count(np.zeros((5, 5), bool)) == 0
    with pytest.raises(ParameterError, match="solidity"):
        seg.convex_object_count(mask, solidity=1.5)


def _brightfield(seed: int = 0):
    """White field, L-shaped clumps of three grey cells (dark on white), each cell holding one dark nucleus."""
    rng = np.random.default_rng(seed)
    shape = (400, 400)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    image = np.full(shape, 230.0)
    nuclei = np.zeros(shape, bool)
    cells = [(cy + dy, cx + dx) for cy, cx in [(60, 60), (60, 240), (240, 60), (240, 240)]
             for dy, dx in [(0, 0), (0, 58), (58, 0)]]
    for cy, cx in cells:
        image[(yy - cy) ** 2 + (xx - cx) ** 2 <= 32 ** 2] = 170.0
    for cy, cx in cells:
        nucleus = (yy - cy) ** 2 + (xx - cx) ** 2 <= 8 ** 2
        image[nucleus] = 80.0
        nuclei |= nucleus
    image += rng.normal(0, 3, shape)
    return np.clip(image, 0, 255).astype(np.uint8), nuclei


def test_choose_foreground_picks_the_darkest_class_on_a_brightfield_like_image():
    image, nuclei = _brightfield()
    # Otsu separates the cells from the white field: four clumps, none convex
    otsu = seg.threshold(image, seg.WATERSHED_FOREGROUND).mask
    assert seg.label_objects(otsu).max() == 4 and seg.convex_object_count(otsu) == 0
    chosen, name = seg.choose_foreground(image)
    assert name == "multi-Otsu brightest class"
    assert (chosen.method, chosen.classes, chosen.foreground_classes) == ("multiotsu", 3, (2,))
    mask = seg.threshold(image, chosen).mask
    assert (mask & nuclei).sum() / (mask | nuclei).sum() > 0.8
    # a recipe whose own method is local is kept as it is
    local = seg.WATERSHED_FOREGROUND.replace(method="sauvola")
    assert seg.choose_foreground(image, local) == (local, "threshold")


def test_fit_nuclei_recipe_finds_the_nuclei_and_their_diameter():
    image, nuclei = _brightfield()
    fitted = seg.fit_nuclei_recipe(image)
    assert abs(fitted.diameter - 17) <= 1.7  # discs of radius 8: 17 px across on the pixel grid
    labels = seg.watershed(image, fitted).labels
    assert labels.max() == 12
    scores = seg.score_objects(seg.label_objects(nuclei), labels)
    assert scores.f1[0] == 1.0


def test_fit_nuclei_recipe_keeps_the_24_coins():
    fitted = seg.fit_nuclei_recipe(data.coins())
    assert seg.watershed(data.coins(), fitted).count == 24
    assert fitted.diameter > 0 and WatershedRecipe.from_flat(fitted.to_flat()) == fitted
    with pytest.raises(ParameterError, match="recipe"):
        seg.fit_nuclei_recipe(data.coins(), seg.WATERSHED_FOREGROUND)


def test_sized_derives_the_sizes_from_the_diameter():
    recipe = WatershedRecipe(diameter=20)
    sized = recipe.sized()
    assert sized.diameter == 0 and sized.sized() == sized
    assert sized.foreground.background_radius == 20
    assert sized.foreground.min_size == round(0.2 * math.pi * 20 ** 2 / 4) == 63
    assert (sized.h, sized.min_distance) == (1.0, 13)
    assert WatershedRecipe().sized() == WatershedRecipe()
    # background subtraction off stays off; h never below 0.5 px
    off = WatershedRecipe.from_params(background_radius=0, diameter=4).sized()
    assert off.foreground.background_radius == 0 and off.h == 0.5
    with pytest.raises(ParameterError, match="diameter"):
        WatershedRecipe(diameter=-1)


def test_watershed_with_a_diameter_runs_the_sized_recipe_and_reports_the_given_one():
    image = data.coins()
    recipe = WatershedRecipe(diameter=40)
    result = seg.watershed(image, recipe)
    assert result.recipe == recipe
    assert np.array_equal(result.labels, seg.watershed(image, recipe.sized()).labels)
    assert seg.watershed(image, diameter=40).count == result.count


def test_diameter_round_trips_and_scales_with_the_preview():
    recipe = WatershedRecipe.from_flat({"diameter": "17.5", "method": "multiotsu", "foreground_classes": "2"})
    assert recipe.diameter == 17.5 and recipe.to_flat()["diameter"] == "17.5"
    assert seg.recipe_from_json(recipe.to_json()) == recipe
    assert recipe.rescaled(0.5).diameter == 8.75


def _segment_of(source: str, tmp_path, name: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.segment


@pytest.mark.parametrize("name", ["fitted", "preset"])
def test_script_reproduces_fitted_and_preset_recipes_bit_for_bit(tmp_path, name):
    image, _ = _brightfield(1)
    recipe = seg.fit_nuclei_recipe(image) if name == "fitted" else seg.WATERSHED_PRESETS["cellprofiler_nuclei"]
    if name == "fitted":
        assert recipe.diameter > 0
    expected = seg.watershed(image, recipe).labels
    assert expected.max() > 0
    result = _segment_of(seg.to_python(recipe), tmp_path, f"generated_{name}")(image)
    assert result.dtype == expected.dtype and np.array_equal(result, expected)


def test_cellprofiler_preset_is_the_published_pipeline():
    preset = seg.WATERSHED_PRESETS["cellprofiler_nuclei"]
    fg = preset.foreground
    assert (fg.method, fg.smoothing, fg.sigma, fg.fill_holes) == ("li", "gaussian", 1.3488, True)
    assert fg.min_size == 79  # a disc of CellProfiler's smallest typical diameter, 10 px
    assert (preset.seeds, preset.min_distance, preset.landscape) == ("distance_peaks", 7, "gradient")
    assert seg.recipe_from_json(preset.to_json()) == preset
    with pytest.raises(TypeError):
        seg.WATERSHED_PRESETS["mine"] = preset  # read-only


def test_cli_apply_of_a_fitted_recipe_gives_the_library_labels(tmp_path, monkeypatch, capsys):
    image, _ = _brightfield(2)
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "cells.png").write_bytes(seg.encode_png(image))
    recipe = seg.fit_nuclei_recipe(image)
    assert recipe.diameter > 0
    (tmp_path / "fitted.json").write_text(recipe.to_json(), encoding="utf-8")
    done = run_cli_in_process("apply", "--recipe", "fitted.json", "images", "--out", "out", "--labels-format",
                              "tiff", "--jobs", "2", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    expected = seg.watershed(seg.load_image(tmp_path / "images" / "cells.png"), recipe).labels
    assert np.array_equal(tifffile.imread(tmp_path / "out" / "cells_labels.tif"), expected)


def test_diameter_auto_runs_the_fit_of_this_image():
    image, _ = _brightfield(1)
    auto = WatershedRecipe(diameter=None)
    fitted = seg.fit_nuclei_recipe(image)  # the image is smaller than FIT_SIDE: fitted on itself
    assert max(image.shape[:2]) <= seg.FIT_SIDE and fitted.diameter > 0
    assert seg.recipe_for_image(image, auto) == fitted
    assert seg.recipe_for_image(image, fitted) is fitted  # a number is kept
    result = seg.watershed(image, auto)
    assert result.recipe == auto  # the recipe as given: a share link, the JSON and the CLI fit again
    assert np.array_equal(result.labels, seg.watershed(image, fitted).labels)
    assert any(f"typical diameter auto: {fitted.diameter:.1f} px fitted" in note for note in result.notes)
    assert seg.watershed(image, diameter="auto").count == result.count  # the text form, as links and the CLI
    assert WatershedRecipe.from_flat({"diameter": "auto"}).diameter is None
    assert seg.recipe_from_json(auto.to_json()) == auto and auto.rescaled(0.25).diameter is None


def test_diameter_auto_on_a_big_image_is_fitted_on_its_copy_and_scaled_back():
    small, _ = _brightfield(1)
    big = np.kron(small, np.ones((5, 5, 1), np.uint8)) if small.ndim == 3 else np.kron(small, np.ones((5, 5), np.uint8))
    assert max(big.shape[:2]) > seg.FIT_SIDE
    copy, scale = seg.downscale(big, seg.FIT_SIDE)
    on_copy = seg.fit_nuclei_recipe(copy, WatershedRecipe())
    run = seg.recipe_for_image(big, WatershedRecipe(diameter=None))
    assert on_copy.diameter > 0
    expected = WatershedRecipe(diameter=on_copy.diameter / scale)
    expected = expected.replace(foreground=expected.foreground.replace(
        method=on_copy.foreground.method, classes=on_copy.foreground.classes,
        foreground_classes=on_copy.foreground.foreground_classes))
    assert run == expected
    # the objects are 5x larger: the diameter found on the copy, scaled back, is about 5x the small image's
    assert 4.0 < on_copy.diameter / scale / seg.fit_nuclei_recipe(small).diameter < 6.0


def test_a_recipe_with_a_diameter_tiles_as_the_whole_image_and_auto_is_refused_in_words():
    from segmentation.batch import TiledError, segment_tiled
    yy, xx = np.mgrid[:160, :200]
    image = np.full((160, 200), 20, np.uint8)
    for y, x in [(40, 40), (40, 62), (110, 120), (110, 143), (60, 160)]:
        image[(yy - y) ** 2 + (xx - x) ** 2 <= 144] = 200
    image[140:146, 10:16] = 200  # a 36-px speck: under the smallest object a diameter of 24 px sets (90 px)
    recipe = WatershedRecipe(foreground=seg.ThresholdRecipe(smoothing="gaussian", sigma=1.25), diameter=24)
    whole = seg.watershed(image, recipe)
    assert whole.count == 5
    tiled = segment_tiled(image, recipe, tile=64, halo=60)
    assert np.array_equal(tiled.mask[:], whole.foreground)
    assert np.array_equal(tiled.labels[:], whole.labels)
    with pytest.raises(TiledError, match="diameter auto is fitted to a whole image"):
        segment_tiled(image, recipe.replace(diameter=None), tile=64)


def _auto_cases():
    coins = data.coins()
    brightfield, _ = _brightfield(3)
    sample = seg.load_sample("nuclei")
    nan_coins = coins.astype(np.float32)
    nan_coins[10:20, 30:40] = np.nan
    fg = seg.ThresholdRecipe
    return {
        "coins": (coins, WatershedRecipe(diameter=None)),
        "brightfield RGB": (np.dstack([brightfield] * 3), WatershedRecipe(diameter=None)),
        "nuclei sample, 16-bit": (sample.astype(np.uint16) * 257, WatershedRecipe(diameter=None)),
        "coins 4x (fitted on its copy)": (np.kron(coins, np.ones((4, 4), np.uint8)), WatershedRecipe(diameter=None)),
        "float with NaN": (nan_coins, WatershedRecipe(diameter=None)),
        "no background, polarity auto": (255 - coins, WatershedRecipe(
            foreground=fg(smoothing="gaussian", sigma=1.25, closing=3, fill_holes=True, min_size=50), diameter=None)),
        "li, distance peaks": (coins, WatershedRecipe(foreground=seg.WATERSHED_FOREGROUND.replace(method="li"),
                                                      seeds="distance_peaks", diameter=None)),
        "sauvola (no split candidates)": (coins, WatershedRecipe(
            foreground=seg.WATERSHED_FOREGROUND.replace(method="sauvola"), diameter=None)),
        "gradient landscape": (brightfield, WatershedRecipe(landscape="gradient", diameter=None)),
    }


@pytest.mark.parametrize("name", list(_auto_cases()))
def test_script_fits_diameter_auto_at_run_time_bit_for_bit(tmp_path, name):
    """The script of an "auto" recipe fits each image itself: the library's labels on every kind of image, a
    copy-fitted large one included."""
    image, recipe = _auto_cases()[name]
    expected = seg.watershed(image, recipe).labels
    source = seg.to_python(recipe)
    assert max(len(line) for line in source.splitlines()) <= 110  # as every generated script
    segment = _segment_of(source, tmp_path, "generated_auto")
    result = segment(image)
    assert result.dtype == expected.dtype and np.array_equal(result, expected)
    assert expected.max() > 0


def test_the_command_line_runs_diameter_auto_and_refuses_it_with_tile_naming_the_fix(tmp_path, monkeypatch, capsys):
    image, _ = _brightfield(2)
    tifffile.imwrite(tmp_path / "cells.tif", image)
    done = run_cli_in_process("watershed", "cells.tif", "--out", "out", "--diameter", "auto", "--labels-format",
                              "tiff", "--no-progress", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    expected = seg.watershed(image, diameter="auto").labels
    assert np.array_equal(tifffile.imread(tmp_path / "out" / "cells_labels.tif"), expected)
    done = run_cli_in_process("watershed", "cells.tif", "--out", "tiled", "--diameter", "auto", "--tile", "128",
                              "--no-progress", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 2, done.stderr
    assert "diameter auto is fitted to a whole image" in done.stderr and "--diameter N" in done.stderr
