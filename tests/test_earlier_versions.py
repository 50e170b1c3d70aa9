"""Recipe files and share links written before the library was reorganised still open the same recipe.

The two JSON files in ``tests/fixtures`` were written by version 0.1 (commit aaf2e51, before the sub-packages);
the flat dicts are what that version put into share links for the same recipes.
"""

from __future__ import annotations

import json
from pathlib import Path

import segmentation as seg

FIXTURES = Path(__file__).resolve().parent / "fixtures"

WATERSHED = seg.WatershedRecipe.from_params(method="sauvola", window=31, h=2.0, seeds="h_maxima", compactness=0.5)
THRESHOLD = seg.ThresholdRecipe(method="multiotsu", classes=4, foreground_classes=(2, 3), smoothing="median",
                                median_size=5)


def test_recipe_files_from_before_read_as_the_same_recipes_and_write_back_identically():
    # Recipe version 1 measured in pixels (it had no pixel size): it reads with pixel_size 0 (pixels), and is
    # written back as version 2 with the same parameters plus the new ones at the values that keep its result.
    for name, expected in (("recipe_v0.1_watershed.json", WATERSHED), ("recipe_v0.1_threshold.json", THRESHOLD)):
        text = (FIXTURES / name).read_text(encoding="utf-8")
        recipe = seg.recipe_from_json(text)
        assert recipe == expected.replace(pixel_size=0) if isinstance(expected, seg.ThresholdRecipe) else \
            recipe == expected.replace(foreground=expected.foreground.replace(pixel_size=0))
        old, new = json.loads(text), json.loads(recipe.to_json())
        assert old["version"] == 1 and new["version"] == seg.RECIPE_VERSION
        assert {k: v for k, v in new["params"].items() if k in old["params"]} == old["params"]
        assert new["params"]["pixel_size"] == 0 and seg.recipe_from_json(recipe.to_json()) == recipe


def test_share_links_from_before_open_the_same_recipes():
    assert seg.WatershedRecipe.from_flat({"method": "sauvola", "window": "31", "h": "2", "compactness": "0.5"}) \
        == WATERSHED
    assert seg.ThresholdRecipe.from_flat({"method": "multiotsu", "smoothing": "median", "median_size": "5",
                                          "classes": "4", "foreground_classes": "2,3"}) == THRESHOLD
    assert WATERSHED.to_flat() == {"method": "sauvola", "window": "31", "h": "2", "compactness": "0.5"}
