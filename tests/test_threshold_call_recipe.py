"""``threshold(image, method, **params)`` keeps the recipe a call's keywords make: the same answers as making it
afresh, the same errors every time (checked after a good call with an equal-hashing value)."""

import numpy as np
import pytest
from skimage import data

import segmentation as seg


def test_equal_hashing_values_are_still_checked_by_their_type():
    image = data.camera()
    assert seg.threshold(image, "otsu", min_size=1).recipe.min_size == 1
    # True == 1 and hash(True) == hash(1): a cache keyed by value alone would hand back the recipe of min_size=1.
    for _ in range(2):
        with pytest.raises(seg.ParameterError, match="min_size .* got True"):
            seg.threshold(image, "otsu", min_size=True)
    assert seg.threshold(image, "otsu", min_size=1.0).recipe.min_size == 1


def test_a_repeated_call_gives_what_a_fresh_recipe_gives():
    image = data.coins()
    first = seg.threshold(image, "sauvola", window=31, k=0.15)
    again = seg.threshold(image, "sauvola", window=31, k=0.15)
    fresh = seg.threshold(image, seg.ThresholdRecipe(method="sauvola", window=31, k=0.15))
    assert again.recipe == fresh.recipe == first.recipe
    assert np.array_equal(again.mask, fresh.mask)


def test_an_unhashable_value_is_checked_as_before():
    with pytest.raises(seg.ParameterError, match="sigma"):
        seg.threshold(data.camera(), "otsu", sigma=[1, 2])
