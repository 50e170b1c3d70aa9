"""The Watershed page's "Fit to this image" button puts seg.fit_nuclei_recipe's values into the widgets."""

from __future__ import annotations

from app_helpers import assert_ok, metrics, run

import segmentation as seg
from studio_ui.page import sample_defaults


def test_fit_button_sets_the_fitted_recipe_and_the_count_follows():
    at = run("watershed", query={"sample": "nuclei"})
    assert_ok(at)
    image = seg.load_sample("nuclei")
    fitted = seg.fit_nuclei_recipe(image, sample_defaults(seg.WatershedRecipe(), "nuclei"))
    button = next(b for b in at.sidebar.button if b.label == "Fit to this image (nuclei)")
    button.click().run()
    assert_ok(at)
    assert any("Fitted to this image" in info.value for info in at.sidebar.info), [i.value for i in at.sidebar.info]
    if fitted.diameter:
        assert at.number_input(key="diameter").value == fitted.diameter
    expected = seg.watershed(image, fitted).count
    shown = metrics(at)["Objects"].lstrip("≈ ")
    assert shown == f"{expected:,}"
