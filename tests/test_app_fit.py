"""The Watershed page's "Fit to this image" button puts seg.fit_nuclei_recipe's values into the widgets."""

from __future__ import annotations

import importlib.util

import numpy as np
from app_helpers import assert_ok, captions, decode, media, metrics, run, set_widget

import segmentation as seg
from studio_ui.page import sample_defaults

__all__ = ["media"]  # the fixture, imported for pytest


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
    # the address holds every fitted value, the multi-Otsu classes too (trial of issue 16: the link lost them)
    again = run("watershed", query=dict(at.query_params))
    assert_ok(again)
    assert metrics(again)["Objects"].lstrip("≈ ") == shown


def test_a_link_with_diameter_auto_fits_at_full_resolution_and_its_script_fits_too(media, tmp_path):
    """``?diameter=auto``: the labels are the library's auto watershed; the recipe JSON keeps "auto" (the CLI fits
    each image anew) and so does the script, which gives the same labels."""
    image = seg.load_sample("nuclei")
    at = run("watershed", query={"sample": "nuclei", "diameter": "auto", "tab": "Export"})
    assert_ok(at)
    recipe = seg.recipe_from_json(media.download(at, "Recipe JSON").decode())
    assert recipe.diameter is None
    labels = decode(media.download(at, "Labels TIFF"))
    expected = seg.watershed(image, recipe).labels
    assert labels.shape == image.shape[:2] and labels.max() > 0 and np.array_equal(labels, expected)
    script = media.download(at, "Python script").decode()
    assert script == seg.to_python(recipe)
    path = tmp_path / "generated_from_the_app.py"
    path.write_text(script, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("generated_from_the_app", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert np.array_equal(module.segment(image), expected)


def test_a_downscaled_preview_runs_the_recipe_fitted_to_the_whole_image_and_says_so(media):
    """The live view of a 512-px preview runs ``recipe_for_image(whole image)`` scaled, not a fit of its own, and the
    sidebar says what was fitted; the download is the full-resolution auto watershed."""
    image = seg.load_sample("nuclei")
    at = set_widget(run("watershed", query={"sample": "nuclei", "diameter": "auto", "tab": "Export"}), "preview", 512)
    assert_ok(at)
    fitted = seg.recipe_for_image(image, seg.WatershedRecipe(diameter=None))
    assert any(c.startswith(f"Typical diameter *auto*: **{fitted.diameter:.1f} px** fitted to this image")
               for c in captions(at)), captions(at)
    assert any(c.startswith("Live preview at 67%") for c in captions(at))
    labels = decode(media.download(at, "Labels TIFF"))
    assert np.array_equal(labels, seg.watershed(image, diameter="auto").labels)


def test_emptying_the_diameter_box_gives_auto_and_a_number_gives_that_number():
    """Trial of issue 16: a box started from a number could not be emptied again (Streamlit put the number back)."""
    at = run("watershed", query={"sample": "nuclei", "diameter": "30"})
    assert_ok(at)
    box = at.number_input(key="diameter")
    assert box.value == 30.0 and not any(c.startswith("Typical diameter *auto*") for c in captions(at))
    box.set_value(None).run()
    assert_ok(at)
    assert at.number_input(key="diameter").value is None and at.query_params["diameter"] in ("auto", ["auto"])
    assert any(c.startswith("Typical diameter *auto*") for c in captions(at))
    at.number_input(key="diameter").set_value(0.0).run()
    assert_ok(at)
    assert "diameter" not in at.query_params and not any(c.startswith("Typical diameter *auto*") for c in captions(at))
