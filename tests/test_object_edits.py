"""Objects corrected by hand after the flooding: merge pairs of objects, split one along its neck (issue 16)."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import draw, measure

import segmentation as seg
from segmentation import merge_objects, split_objects


def _dumbbell(gap: int = 28, radius: int = 18) -> np.ndarray:
    """One object of two overlapping disks side by side (a merged pair), centres at columns 30 and 30 + gap."""
    labels = np.zeros((60, 40 + gap + radius), np.int32)
    for centre in (30, 30 + gap):
        rows, cols = draw.disk((30, centre), radius)
        labels[rows, cols] = 1
    return labels


@pytest.mark.parametrize("line", [False, True])
def test_split_cuts_a_dumbbell_at_its_neck(line):
    labels = _dumbbell()
    cut, notes = split_objects(labels, [(30, 30)], watershed_line=line)
    assert notes == ()
    assert cut.dtype == np.int32 and set(np.unique(cut)) == {0, 1, 2}
    # By symmetry the neck is the column halfway between the centres (44); the halves mirror each other.
    left = cut == 1
    assert np.nonzero(left.any(axis=0))[0].max() in (43, 44)
    if line:  # the two halves are mirror images about the neck column 44 (column c <-> 88 - c)
        right = cut == 2
        assert np.array_equal(left[:, 12:44], right[:, 76:44:-1])  # the object spans columns 13 to 75
        assert np.array_equal(((cut == 0) & (labels > 0)).any(axis=0).nonzero()[0], [44])
    assert np.array_equal(cut > 0, labels > 0) or line  # without a line no pixel is lost
    assert measure.label(cut == 1).max() == 1 and measure.label(cut == 2).max() == 1


def test_split_and_merge_undo_each_other():
    labels = _dumbbell()
    cut, _ = split_objects(labels, [(30, 50)], watershed_line=True)
    merged, notes = merge_objects(cut, labels > 0, [(30, 25), (30, 60)])
    assert notes == ()
    assert np.array_equal(merged, labels)  # the line between the halves joins the merged object


def test_merge_keeps_the_lower_label_and_renumbers():
    labels = np.zeros((10, 30), np.int32)
    labels[2:8, 2:8], labels[2:8, 9:15], labels[2:8, 20:26] = 7, 3, 900
    merged, notes = merge_objects(labels, labels > 0, [(4, 4), (4, 22)])
    assert notes == ()
    # 3 -> 1; 7 and 900 become one object, numbered after 3 in the order of their lowest label (7).
    assert merged[4, 10] == 1 and merged[4, 4] == merged[4, 22] == 2 and merged.max() == 2
    assert merged[4, 8] == 0  # the gap column is background, not a line between the merged objects


def test_merge_chains_and_notes():
    labels = np.zeros((5, 20), np.int32)
    labels[:, 0:4], labels[:, 5:9], labels[:, 10:14] = 1, 2, 3
    merged, notes = merge_objects(labels, labels > 0, [(0, 0), (0, 6), (0, 6), (0, 12), (0, 1), (0, 11), (0, 4),
                                                       (0, 0)])
    assert set(np.unique(merged)) == {0, 1}
    assert notes == ("merge points (0, 1) and (0, 11) are on one object already",
                     "merge points (0, 4) and (0, 0): a point is on the background")


def test_split_notes_and_errors():
    labels = np.zeros((5, 5), np.int32)
    labels[2, 2] = 4
    cut, notes = split_objects(labels, [(0, 0), (2, 2)])
    assert np.array_equal(cut, (labels > 0).astype(np.int32))
    assert notes == ("split point (0, 0) is on the background",
                     "split point (2, 2): the object is too small to split")
    with pytest.raises(seg.ParameterError, match="split_points: point \\(9, 0\\) lies outside"):
        split_objects(labels, [(9, 0)])
    with pytest.raises(seg.ParameterError, match="pairs"):
        merge_objects(labels, labels > 0, [(0, 0)])
    with pytest.raises(seg.ParameterError, match="watershed_line"):
        split_objects(labels, [], watershed_line="yes")


def test_split_of_an_elongated_object_without_neck_halves_it():
    labels = np.zeros((9, 41), np.int32)
    labels[2:7, 0:41] = 5
    cut, _ = split_objects(labels, [(4, 3)])
    # A bar has no neck: the cut falls in the middle (column 20, where the two floods meet).
    assert cut[4, 0] == 1 and cut[4, 40] == 2
    assert abs(np.nonzero((cut == 1).any(axis=0))[0].max() - 20) <= 1


# -- the recipe, the command line and the generated script -------------------------------------------------------
def _three_discs() -> np.ndarray:
    """Two touching discs (one merged object under distance_peaks with min_distance 30) and one apart."""
    image = np.zeros((60, 140), np.uint8)
    for centre in ((30, 30), (30, 52), (30, 110)):
        image[draw.disk(centre, 16, shape=image.shape)] = 200
    return image


MERGING = dict(seeds="distance_peaks", min_distance=30)
EDITS = [
    dict(split_points=((30, 30),), **MERGING),  # the merged pair cut at its neck
    dict(split_points=((30, 30),), watershed_line=True, **MERGING),
    dict(merge_points=((30, 30), (30, 110))),  # default seeds: the three discs, two of them joined
    dict(merge_points=((30, 28), (30, 54)), watershed_line=True),  # the touching pair: the line between filled
    dict(merge_points=((30, 30), (30, 110)), split_points=((30, 110), (0, 0)), landscape="gradient"),
    dict(merge_points=((0, 0), (30, 110)), add_seeds=((30, 50),), **MERGING),
]


@pytest.mark.parametrize("params", EDITS)
def test_the_script_and_the_cli_give_the_library_labels(params, tmp_path, monkeypatch, capsys):
    import importlib.util

    import cv2

    from tests.cli_helpers import run_cli_in_process

    image = _three_discs()
    recipe = seg.WatershedRecipe.from_params(**params)
    expected = seg.watershed(image, recipe).labels
    path = tmp_path / "edited_script.py"
    path.write_text(seg.to_python(recipe), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("edited_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    got = module.segment(image)
    assert got.dtype == expected.dtype and np.array_equal(got, expected)
    cv2.imwrite(str(tmp_path / "discs.png"), image)
    flags = []
    for name, value in recipe.to_flat().items():  # a switch is given by its name alone
        flags += [f"--{name.replace('_', '-')}"] + ([] if value == "true" else [value])
    done = run_cli_in_process("watershed", "discs.png", "--out", "out", *flags, "--no-progress",
                              cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    assert np.array_equal(seg.load_image(tmp_path / "out" / "discs_labels.png"), expected)


def test_the_edits_change_the_count_as_a_person_expects():
    image = _three_discs()
    merged_pair = seg.watershed(image, **MERGING)
    assert merged_pair.count == 2
    assert seg.watershed(image, split_points=((30, 30),), **MERGING).count == 3
    three = seg.watershed(image)
    assert three.count == 3
    joined = seg.watershed(image, merge_points=((30, 30), (30, 110)))
    assert joined.count == 2 and joined.labels[30, 30] == joined.labels[30, 110]
    assert seg.watershed(image, merge_points=((30, 30),) * 2).notes[-1].endswith("on one object already")


def test_recipe_round_trips_scale_and_refuses_odd_pairs():
    recipe = seg.WatershedRecipe.from_params(merge_points=((30, 30), (30, 110)), split_points=((4, 6),))
    assert seg.recipe_from_json(recipe.to_json()) == recipe
    assert seg.WatershedRecipe.from_flat(recipe.to_flat()) == recipe
    half = recipe.rescaled(0.5)
    assert half.merge_points == ((15, 15), (15, 55)) and half.split_points == ((2, 3),)
    with pytest.raises(seg.ParameterError, match="merge_points must come in pairs"):
        seg.WatershedRecipe.from_flat({"merge_points": "1,2"})


@pytest.mark.parametrize("params", [dict(merge_points=((1, 1), (2, 2))), dict(split_points=((1, 1),))])
def test_tiles_refuse_object_edits(params, tmp_path, monkeypatch, capsys):
    import cv2

    from tests.cli_helpers import run_cli_in_process

    cv2.imwrite(str(tmp_path / "discs.png"), _three_discs())
    flags = [part for name, value in seg.WatershedRecipe.from_params(**params).to_flat().items()
             for part in (f"--{name.replace('_', '-')}", value)]
    done = run_cli_in_process("watershed", "discs.png", "--out", "out", "--tile", "64", *flags, "--no-progress",
                              cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 2
    assert "hand edits (add_seeds, remove_seeds, merge_points, split_points) are not applied in tiles" in done.stderr
