"""A session keeps its work: each page's settings, the upload, plain messages and names (AppTest).

Page switches are followed with ``at.switch_page`` inside one session, as the sidebar links do in the browser
(the browser half, with history entries and Back, is ``tests/browser/test_session.py``). Expected results
come from the library, never from the app's helpers.

AppTest sees what the server writes to the URL through ``st.query_params`` (choice parameters, and the values a
page puts back on arrival); a bound widget's own URL change is made by the browser.
"""

from __future__ import annotations

import numpy as np
import pytest
from app_helpers import (
    assert_ok,
    captions,
    errors,
    image_captions,
    media,
    metrics,
    objects_in,
    png_bytes,
    run,
    set_widget,
    upload,
    widget,
)

import segmentation as seg
from segmentation import SAMPLES, load_sample

__all__ = ["media"]

CAMERA = load_sample("camera")
CAMERA_OTSU = 102.0


def go(at, page: str):
    """Follow the sidebar link to ``page`` ("app.py", "pages/2_watershed.py", ...) and run.

    The browser's query for the new page holds no parameter of the page it leaves (Streamlit drops those
    bound to the old page's widgets; the others are not carried), so the address starts empty here too.
    """
    at.query_params.clear()
    at.switch_page(page)
    at = at.run()
    assert_ok(at)
    return at


def url(at) -> dict[str, str]:
    """The address bar's query as the server last wrote it (one text per parameter)."""
    return {key: v[-1] if isinstance(v, list) else v for key, v in at.query_params.items()}


def value(at, key):
    node = widget(at, key)
    assert node is not None, f"{key!r} is not drawn"
    return node.value


def camera_objects(**params) -> str:
    """The Objects metric the thresholding page shows for the camera with these parameters."""
    return f"{objects_in(seg.threshold(CAMERA, seg.ThresholdRecipe(**{'value': CAMERA_OTSU, **params})).mask):,}"


# --- each page keeps its own settings ------------------------------------------------------------
def test_thresholding_keeps_sauvola_21_through_compare_and_watershed():
    at = set_widget(set_widget(run(), "method", "sauvola"), "window", 21)
    assert metrics(at)["Objects"] == camera_objects(method="sauvola", window=21)
    at = go(at, "pages/3_compare.py")
    at = go(at, "pages/2_watershed.py")
    assert value(at, "method") == seg.WatershedRecipe().foreground.method  # the watershed's own, not Sauvola
    at = go(at, "app.py")
    assert value(at, "method") == "sauvola" and value(at, "window") == 21
    assert metrics(at)["Method"] == "Sauvola"
    assert metrics(at)["Objects"] == camera_objects(method="sauvola", window=21)
    # The address bar shows the restored values too (the link copied from it reopens this view).
    assert url(at)["method"] == "sauvola" and url(at)["window"] == "21"


def test_watershed_keeps_h_and_its_open_tab():
    at = set_widget(run("watershed"), "h", 2.0)
    at.session_state["tab"] = "Objects"
    at = at.run()
    objects = metrics(at)["Objects"]
    at = go(at, "app.py")
    assert at.session_state["tab"] == "Histogram"  # the thresholding page opens on its own tab
    at = go(at, "pages/2_watershed.py")
    assert value(at, "h") == 2.0
    assert at.session_state["tab"] == "Objects"
    coins = SAMPLES["coins"]
    suggested = coins.recipe if coins.best_for == "watershed" else {}
    recipe = seg.WatershedRecipe.from_flat({**seg.WatershedRecipe().to_flat(), **suggested, "h": "2"})
    assert metrics(at)["Objects"] == objects == f"{seg.watershed(load_sample('coins'), recipe).count:,}"
    assert url(at)["h"] == "2"


def test_pages_do_not_share_same_named_settings():
    at = set_widget(run(), "min_size", 40)
    at = go(at, "pages/2_watershed.py")
    assert value(at, "min_size") == seg.WatershedRecipe().foreground.min_size
    at = set_widget(at, "min_size", 7)
    at = go(at, "app.py")
    assert value(at, "min_size") == 40
    at = go(at, "pages/2_watershed.py")
    assert value(at, "min_size") == 7


def test_a_new_sample_opens_every_page_with_its_suggested_settings():
    at = set_widget(run("watershed"), "h", 2.0)
    at = go(at, "app.py")
    at = set_widget(at, "sample", "page")
    assert_ok(at)
    at = go(at, "pages/2_watershed.py")
    assert value(at, "h") == seg.WatershedRecipe().h  # not the 2.0 set on the coins


# --- the open tab is the visitor's, not the link's ----------------------------------------------------
@pytest.mark.parametrize("page, path", [("threshold", ""), ("watershed", "/watershed")])
def test_share_link_has_no_tab(page, path):
    at = run(page, query={"min_size": "12"}, context={"url": "https://studio.example/"})
    at.session_state["tab"] = "Share"
    at = at.run()
    assert_ok(at)
    (link,) = [c.value for c in at.code]
    assert link.startswith(f"https://studio.example{path}?") and "min_size=12" in link
    assert "tab=" not in link


def test_an_earlier_link_with_a_tab_opens_that_tab_and_drops_it_from_the_address():
    # What the address bar held before this version (a multiselect repeats its parameter).
    at = run(query={"tab": "Objects", "method": "multiotsu", "classes": "4", "foreground_classes": ["2", "3"],
                    "smoothing": "median", "median_size": "5"})
    assert_ok(at)
    assert at.session_state["tab"] == "Objects"
    assert "tab" not in at.query_params
    objects = next(t for t in at.tabs if t.label == "Objects")
    recipe = seg.ThresholdRecipe(method="multiotsu", classes=4, foreground_classes=(2, 3), smoothing="median",
                                 median_size=5, value=CAMERA_OTSU)
    mask = seg.threshold(CAMERA, recipe).mask
    assert len(objects.dataframe[0].value) == int(seg.label_objects(mask).max())
    assert metrics(at)["Method"] == "Multi-Otsu"


# --- words ----------------------------------------------------------------------------------------
def test_choice_boxes_show_names_and_the_url_holds_the_recipe_names():
    at = run()
    box = at.selectbox(key="method")
    assert "Multi-Otsu" in box.options and "multiotsu" not in box.options
    at = set_widget(at, "method", "multiotsu")
    assert_ok(at)
    assert at.selectbox(key="method").value == "multiotsu"
    assert url(at)["method"] == "multiotsu"
    at = set_widget(at, "method", "otsu")  # the default leaves the address
    assert "method" not in at.query_params
    seeds = run("watershed").selectbox(key="seeds")
    assert "h-maxima of the distance map" in seeds.options and "h_maxima" not in seeds.options


def test_a_link_naming_a_choice_opens_it_and_a_bad_name_falls_back():
    assert value(run(query={"method": "niblack"}), "method") == "niblack"
    at = run(query={"method": "Niblack (local)"})  # a shown name is not a recipe name
    assert_ok(at)
    assert value(at, "method") == "otsu" and "method" not in at.query_params


@pytest.mark.parametrize("page", ["threshold", "watershed", "compare"])
def test_a_link_naming_no_bundled_sample_says_so_once(page):
    """#10 review: ``sample=../../etc/passwd`` opened the page's sample without a word."""
    at = run(page, query={"sample": "../../etc/passwd"})
    assert_ok(at)
    said = [w.value for w in at.warning if "sample=../../etc/passwd" in w.value]
    assert len(said) == 1 and "left out" in said[0], [w.value for w in at.warning]
    at.run()
    assert not [w.value for w in at.warning if "sample=" in w.value]  # said once per session


def test_one_object_is_one_object():
    coins = load_sample("coins")
    deepest = tuple(int(v) for v in np.unravel_index(np.argmax(seg.watershed(coins).distance), coins.shape))
    at = run("watershed", query={"seeds": "points", "points": f"{deepest[0]},{deepest[1]}"})
    assert_ok(at)
    assert metrics(at)["Objects"] == "1"
    assert "Labels (1 object)" in image_captions(at)


# --- the image source ------------------------------------------------------------------------------
def test_after_an_upload_the_sample_box_switches_back_even_to_the_sample_it_showed():
    coins = load_sample("coins")
    at = run()
    assert value(at, "sample") == "camera"
    at = upload(at, "mine.png", png_bytes(coins), mime="image/png")
    assert_ok(at)
    assert captions(at)[0].startswith("mine.png — ")
    assert value(at, "sample") is None  # blank while the upload is shown
    at = set_widget(at, "sample", "camera")
    assert_ok(at)
    assert captions(at)[0].startswith("camera.png — ")


def test_a_stale_upload_error_goes_when_a_sample_is_chosen():
    at = upload(run(), "notes.png", b"Shopping list\n- agar plates\n", mime="image/png")
    assert any("notes.png" in e for e in errors(at)), errors(at)
    at = set_widget(at, "sample", "coins")
    assert_ok(at)
    assert captions(at)[0].startswith("coins.png — ")


def test_the_upload_stays_on_every_page():
    coins = load_sample("coins")
    at = upload(run(), "mine.png", png_bytes(coins), mime="image/png")
    for page in ("pages/2_watershed.py", "pages/3_compare.py", "app.py"):
        at = go(at, page)
        assert captions(at)[0].startswith("mine.png — "), page


def test_a_reload_says_the_upload_is_not_kept_and_offers_it_back(monkeypatch):
    """A reload is a new session; the page's script leaves the upload's digest and name in a cookie."""
    import streamlit.runtime.context as context

    coins = load_sample("coins")
    first = upload(run(), "mine.png", png_bytes(coins), mime="image/png")
    digest = first.session_state["studio_source"]["digest"]
    cookies = {"studio_upload": f"{digest}%3Amine.png"}  # as the browser sends it (URI-encoded)
    monkeypatch.setattr(context.ContextProxy, "cookies", property(lambda self: cookies))
    at = run()
    assert_ok(at)
    assert captions(at)[0].startswith(f"{SAMPLES['camera'].filename} — ")
    assert any("mine.png" in i.value and "not kept" in i.value for i in at.info), [i.value for i in at.info]
    (again,) = [b for b in at.button if b.label == "Use mine.png again"]
    at = again.click().run()
    assert_ok(at)
    assert captions(at)[0].startswith("mine.png — ")
    assert not any("not kept" in i.value for i in at.info)


def test_a_reload_after_the_server_let_the_upload_go_says_to_upload_it_again(monkeypatch):
    """The uploads the server holds are bounded: a digest it no longer holds is not offered back (the button
    would do nothing); the notice says to upload the file again."""
    import streamlit.runtime.context as context

    cookies = {"studio_upload": f"{'0' * 32}%3Along_gone.png"}
    monkeypatch.setattr(context.ContextProxy, "cookies", property(lambda self: cookies))
    at = run()
    assert_ok(at)
    assert any("long_gone.png" in i.value and "not kept" in i.value for i in at.info), [i.value for i in at.info]
    assert not [b for b in at.button if "again" in b.label]
    assert any("upload it again" in c.value for c in at.sidebar.caption), [c.value for c in at.sidebar.caption]
