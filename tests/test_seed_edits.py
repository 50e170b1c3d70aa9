"""Hand edits of the watershed's seeds (add_seeds / remove_seeds): library, recipe text forms, CLI, script.

Reference shapes: discs drawn with scikit-image (``skimage.draw.disk``). The expected split of two
overlapping discs is the perpendicular bisector of their centres (each pixel of the union to the nearer
centre); the watershed of the distance map puts its line at the neck, which for equal discs is that bisector.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.draw import disk

import segmentation as seg
from segmentation import ParameterError, WatershedRecipe, edit_seeds, load_image, to_python, watershed
from tests.cli_helpers import run_cli_in_process

RADIUS = 15
CENTRES = ((30, 30), (30, 50))  # 20 px apart: the discs overlap, a neck between them


def _two_discs() -> np.ndarray:
    image = np.zeros((60, 100), np.uint8)
    for centre in CENTRES:
        image[disk(centre, RADIUS, shape=image.shape)] = 200
    return image


def _halves() -> list[np.ndarray]:
    """Each disc's part of the union: the pixels nearer its centre (the ideal split)."""
    rows, cols = np.indices((60, 100))
    union = _two_discs() > 0
    nearer_first = (rows - 30) ** 2 + (cols - 30) ** 2 < (rows - 30) ** 2 + (cols - 50) ** 2
    return [union & nearer_first, union & ~nearer_first]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / (a | b).sum())


MERGING = dict(seeds="distance_peaks", min_distance=30)  # one peak for the pair: merged


@pytest.mark.parametrize("landscape", ["distance", "gradient"])
def test_one_add_point_splits_a_merged_pair(landscape):
    image = _two_discs()
    merged = watershed(image, landscape=landscape, **MERGING)
    assert merged.count == 1
    split = watershed(image, landscape=landscape, add_seeds=((30, 50),), **MERGING)
    assert split.count == 2 and split.notes == ()
    assert split.labels[CENTRES[0]] != split.labels[CENTRES[1]]
    if landscape == "distance":  # the gradient of a flat pair has no line to follow: only the distance map's neck
        for half in _halves():
            best = max(_iou(split.labels == k, half) for k in (1, 2))
            assert best >= 0.9, best
    # the add point's seed is numbered after the automatic one
    assert split.markers[30, 50] == 2


def test_an_add_point_cuts_a_seed_stretched_over_both_objects():
    """Default h-maxima seeds of two strongly overlapping discs: one seed on the neck; a click splits it."""
    image = np.zeros((60, 100), np.uint8)
    for col in (30, 42):
        image[disk((30, col), RADIUS, shape=image.shape)] = 200
    assert watershed(image).count == 1
    split = watershed(image, add_seeds=((30, 42),))
    assert split.count == 2
    assert split.labels[30, 30] != split.labels[30, 42]
    assert set(np.unique(split.markers[30, 30:43])) == {0, 1, 2}


def test_a_remove_point_merges_two_seeds_of_one_disc():
    image = np.zeros((60, 60), np.uint8)
    image[disk((30, 30), 20, shape=image.shape)] = 200
    two = watershed(image, seeds="points", points=((30, 20), (30, 40)))
    assert two.count == 2
    for remove in ((30, 40), (33, 44)):  # on the seed, and 5 px off it (within the reach of 8 px)
        merged = watershed(image, seeds="points", points=((30, 20), (30, 40)), remove_seeds=(remove,))
        assert merged.count == 1 and merged.notes == ()
        assert np.array_equal(merged.labels > 0, image > 0)
    too_far = watershed(image, seeds="points", points=((30, 20), (30, 40)), remove_seeds=((33, 44),),
                        edit_radius=4)
    assert too_far.count == 2 and too_far.notes == ("remove point (33, 44) is on no seed",)


def test_points_that_change_nothing_are_reported():
    image = _two_discs()
    result = watershed(image, remove_seeds=((2, 2),), add_seeds=((0, 0),))
    assert result.count == watershed(image).count
    assert result.notes == ("remove point (2, 2) is on no seed",
                            "add point (0, 0) is on the background: ignored (seeds grow only inside the foreground)")


def test_edit_seeds_rules_and_numbering():
    seeds = np.zeros((9, 9), np.int32)
    seeds[1, 1], seeds[7, 7], seeds[4, 4] = 5, 3, 9
    fg = np.ones((9, 9), bool)
    edited, notes = edit_seeds(seeds, fg, remove=[(4, 5)], add=[(1, 7)])
    # 9 removed (nearest within 8 px), 3 -> 1, 5 -> 2 (increasing old ids), the add point -> 3
    assert notes == () and edited.dtype == np.int32
    assert (edited[7, 7], edited[1, 1], edited[1, 7], edited[4, 4]) == (1, 2, 3, 0)
    with pytest.raises(ParameterError, match="add_seeds: point \\(9, 0\\) lies outside the 9×9 image"):
        edit_seeds(seeds, fg, add=[(9, 0)])
    with pytest.raises(ParameterError, match="radius"):
        edit_seeds(seeds, fg, radius=-1)
    with pytest.raises(ParameterError, match="add_seeds: point"):
        watershed(_two_discs(), add_seeds=((100, 0),))


def test_text_forms_round_trip_and_scale_with_the_preview():
    recipe = WatershedRecipe(add_seeds=((30, 50), (1, 2)), remove_seeds=((4, 5),), edit_radius=5)
    flat = recipe.to_flat()
    assert flat == {"add_seeds": "30,50;1,2", "remove_seeds": "4,5", "edit_radius": "5"}
    assert WatershedRecipe.from_flat(flat) == recipe
    assert seg.recipe_from_json(recipe.to_json()) == recipe
    assert recipe.to_dict()["params"]["add_seeds"] == [[30, 50], [1, 2]]
    half = recipe.rescaled(0.5)
    assert half.add_seeds == ((15, 25), (0, 1)) and half.remove_seeds == ((2, 2),) and half.edit_radius == 2
    with pytest.raises(ParameterError, match="add_seeds"):
        WatershedRecipe.from_flat({"add_seeds": "1,x"})


def test_cli_applies_the_edits(tmp_path, monkeypatch, capsys):
    cv2.imwrite(str(tmp_path / "pair.png"), _two_discs())
    done = run_cli_in_process("watershed", "pair.png", "--out", "out", "--seeds", "distance_peaks",
                              "--min-distance", "30", "--add-seeds", "30,50", "--no-progress",
                              cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    expected = watershed(_two_discs(), add_seeds=((30, 50),), **MERGING)
    labels = load_image(tmp_path / "out" / "pair_labels.png")
    assert expected.count == 2 and np.array_equal(labels, expected.labels)


def _script_labels(recipe: WatershedRecipe, image: np.ndarray, tmp_path) -> np.ndarray:
    path = tmp_path / "edited_script.py"
    path.write_text(to_python(recipe), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("edited_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.segment(image)


@pytest.mark.parametrize("params", [
    dict(add_seeds=((30, 50), (0, 0)), **MERGING),
    dict(add_seeds=((30, 50),), **MERGING, landscape="gradient"),
    dict(remove_seeds=((30, 31), (2, 2)), seeds="distance_peaks", min_distance=5),
    dict(add_seeds=((30, 42), (31, 30)), remove_seeds=((31, 52),), h=2.0),
    dict(seeds="points", points=((30, 30), (30, 50), (0, 0)), remove_seeds=((30, 50),), add_seeds=((25, 30),)),
])
def test_the_generated_script_gives_identical_labels(params, tmp_path):
    image = _two_discs()
    recipe = WatershedRecipe.from_params(**params)
    expected = watershed(image, recipe).labels
    got = _script_labels(recipe, image, tmp_path)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)


def test_the_script_copy_is_the_library_code():
    """The scripts' edit_seeds is the text of the library's private _edit (renamed), line for line."""
    module = (Path(seg.__file__).parent / "regions" / "_seed_edits.py").read_text(encoding="utf-8")
    library = module[module.index("def _edit("):].replace("def _edit(", "def edit_seeds(", 1).strip("\n")
    script = to_python(WatershedRecipe(add_seeds=((1, 1),)))
    copied = re.search(r"^def edit_seeds\(.*?(?=^\S)", script, flags=re.M | re.S).group(0).strip("\n")
    assert copied == library


def test_tiles_refuse_seed_edits_instead_of_dropping_them(tmp_path, monkeypatch, capsys):
    cv2.imwrite(str(tmp_path / "pair.png"), _two_discs())
    done = run_cli_in_process("watershed", "pair.png", "--out", "out", "--tile", "64", "--add-seeds", "30,50",
                              "--no-progress", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 2
    assert "hand edits (add_seeds, remove_seeds, merge_points, split_points) are not applied in tiles" in done.stderr
    assert "--add-seeds ''" in done.stderr
