"""Recipe files and share links written before the library was reorganised still open the same recipe.

The two JSON files in ``tests/fixtures`` were written by version 0.1 (commit aaf2e51, before the sub-packages);
the flat dicts are what that version put into share links for the same recipes.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from microscopy_files import write_ome_tiff

import segmentation as seg

FIXTURES = Path(__file__).resolve().parent / "fixtures"

WATERSHED = seg.WatershedRecipe.from_params(method="sauvola", window=31, h=2.0, seeds="h_maxima", compactness=0.5)
THRESHOLD = seg.ThresholdRecipe(method="multiotsu", classes=4, foreground_classes=(2, 3), smoothing="median",
                                median_size=5)


def test_recipe_files_from_before_read_as_the_same_recipes_and_write_back_identically():
    # Recipe version 1 measured in pixels (it had no pixel size) and read plane 0 of a z-stack: it reads with
    # pixel_size 0 (pixels) and projection "none", and is written back as the current version with the same
    # parameters plus the new ones at the values that keep its result.
    for name, expected in (("recipe_v0.1_watershed.json", WATERSHED), ("recipe_v0.1_threshold.json", THRESHOLD)):
        text = (FIXTURES / name).read_text(encoding="utf-8")
        recipe = seg.recipe_from_json(text)
        kept = {"pixel_size": 0, "projection": "none"}  # version 1 measured in pixels and read one plane
        assert recipe == expected.replace(**kept) if isinstance(expected, seg.ThresholdRecipe) else \
            recipe == expected.replace(foreground=expected.foreground.replace(**kept))
        old, new = json.loads(text), json.loads(recipe.to_json())
        assert old["version"] == 1 and new["version"] == seg.RECIPE_VERSION
        assert {k: v for k, v in new["params"].items() if k in old["params"]} == old["params"]
        assert new["params"]["pixel_size"] == 0 and new["params"]["projection"] == "none"
        assert seg.recipe_from_json(recipe.to_json()) == recipe


def test_share_links_from_before_open_the_same_recipes():
    assert seg.WatershedRecipe.from_flat({"method": "sauvola", "window": "31", "h": "2", "compactness": "0.5"}) \
        == WATERSHED
    assert seg.ThresholdRecipe.from_flat({"method": "multiotsu", "smoothing": "median", "median_size": "5",
                                          "classes": "4", "foreground_classes": "2,3"}) == THRESHOLD
    assert WATERSHED.to_flat() == {"method": "sauvola", "window": "31", "h": "2", "compactness": "0.5"}


def test_version_2_recipes_read_one_plane_of_a_z_stack(tmp_path):
    """Version 3 opens a z-stack on its maximum projection (projection "auto"); a version-2 recipe, which has no
    projection key when it read one plane, keeps reading plane 0."""
    stack = write_ome_tiff(tmp_path / "cells.ome.tif")  # C=2 (GFP, DAPI), Z=5
    v2 = {"format": seg.RECIPE_FORMAT, "version": 2, "kind": "threshold", "params": {"method": "li"}}
    old = seg.recipe_from_json(json.dumps(v2))
    assert old.projection == "none" and json.loads(old.to_json())["params"]["projection"] == "none"
    assert np.array_equal(seg.load_image(tmp_path / "cells.ome.tif", **seg.file_selection(old)), stack[1, 0])
    new = seg.ThresholdRecipe(method="li")
    assert new.projection == "auto"
    image, info = seg.load_image(tmp_path / "cells.ome.tif", with_info=True, **seg.file_selection(new))
    assert np.array_equal(image, stack[1].max(axis=0)) and info.projection == "max" and info.plane is None
    assert "max projection of the 5 z-planes (automatic for a z-stack)" in info.notes
    # A version-2 recipe that chose a projection keeps it.
    v2["params"]["projection"] = "mean"
    assert seg.recipe_from_json(json.dumps(v2)).projection == "mean"
