"""URL query parameters are read back into the widgets; bad ones never break a page.

AppTest covers the read direction only (``at.query_params`` before ``run()``); the browser writes the
URL. Choice widgets carry the parameter's *names* (``method=sauvola``, ``sample=coins``), the same words
as the recipe, the JSON file and the command line.

Not covered here: following a sidebar page link inside one session. AppTest's ``switch_page`` does not carry
widget state the way the browser does (checked in Chromium: the sample does carry over, through the shared
``sample`` widget key, not through the link's ``?sample=<name>``), so that needs a browser test.
"""

from __future__ import annotations

import pytest
from app_helpers import (
    app,
    assert_ok,
    assert_thresholds_shown,
    captions,
    errors,
    exceptions,
    metrics,
    objects_in,
    percent,
    results_frame,
    run,
    set_widget,
    widget,
    widget_keys,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import segmentation as seg
from segmentation import SAMPLES, load_sample

CAMERA = load_sample("camera")
COINS = load_sample("coins")
CAMERA_OTSU = 102.0
SPECS = {spec.name: spec for spec in seg.ThresholdRecipe.specs() + seg.WatershedRecipe.specs()}
DEFAULT_COMPARE = [seg.METHODS[m][0] for m in ("otsu", "li", "triangle", "sauvola")]



def value_of(at, key):
    node = widget(at, key)
    assert node is not None, f"{key!r} not drawn; have {sorted(widget_keys(at))}"
    return node.value


def assert_camera_shows(at, **params) -> None:
    """The thresholding page shows the library's result for the camera with these parameters."""
    assert_ok(at)
    result = seg.threshold(CAMERA, seg.ThresholdRecipe(**{"value": CAMERA_OTSU, **params}))
    shown = metrics(at)
    assert_thresholds_shown(shown["Threshold"], result.thresholds)
    assert shown["Foreground"] == percent(result.foreground_fraction)
    assert shown["Objects"] == f"{objects_in(result.mask):,}"


# --- values are read back -----------------------------------------------------------------------
def test_numbers_and_flags_are_read_back():
    at = run(query={"min_size": "12", "fill_holes": "true", "opening": "2", "thickness": "3"})
    assert (value_of(at, "min_size"), value_of(at, "fill_holes"), value_of(at, "opening")) == (12, True, 2)
    assert value_of(at, "thickness") == 3
    assert_camera_shows(at, min_size=12, fill_holes=True, opening=2)


def test_url_by_parameter_names_reopens_sauvola():
    at = run(query={"method": "sauvola", "window": "31", "k": "0.3"})
    assert value_of(at, "method") == "sauvola"
    assert value_of(at, "window") == 31 and value_of(at, "k") == 0.3
    assert_camera_shows(at, method="sauvola", window=31, k=0.3)


def test_url_by_sample_name():
    at = run(query={"sample": "coins"})
    assert_ok(at)
    assert captions(at)[0].startswith("coins.png — ")


def test_watershed_url_by_parameter_names():
    at = run("watershed", query={"seeds": "distance_peaks", "min_distance": "12"})
    assert_ok(at)
    assert value_of(at, "seeds") == "distance_peaks" and value_of(at, "min_distance") == 12
    assert metrics(at)["Objects"] == str(seg.watershed(COINS, seeds="distance_peaks", min_distance=12).count)


def test_compare_url_by_method_names():
    at = run("compare", query={"methods": ["otsu", "yen"]})
    assert_ok(at)
    assert list(results_frame(at).index) == ["Otsu", "Yen"]


# --- bad values fall back to the defaults -------------------------------------------------------
@pytest.mark.parametrize("window", ["abc", "-5", "1", "999999999999999999999", "", "1e400", "nan", "31abc"])
def test_bad_window_falls_back(window):
    at = run(query={"window": window}, state={"method": "sauvola"})
    assert value_of(at, "window") == 51
    assert_camera_shows(at, method="sauvola")


@pytest.mark.parametrize("page, query, name, spec", [
    ("watershed", {"h": "-5"}, "h", SPECS["h"]),
    ("threshold", {"method": "sauvola", "window": "4"}, "window", SPECS["window"]),
    ("threshold", {"pixel_size": "-1"}, "pixel_size", SPECS["pixel_size"]),
])
def test_bad_link_value_is_named_once(page, query, name, spec):
    """A link value the page cannot use is named with the library's message (not silently replaced), once."""
    at = run(page, query=query)
    assert_ok(at)
    with pytest.raises(seg.ParameterError) as expected:
        spec.from_text(query[name])
    shown = [w.value for w in at.warning if f"{name}={query[name]}" in w.value]
    assert len(shown) == 1 and str(expected.value) in shown[0], [w.value for w in at.warning]
    at.run()
    assert not [w.value for w in at.warning if f"{name}={query[name]}" in w.value]


def test_good_link_values_raise_no_warning():
    at = run("watershed", query={"h": "3", "min_size": "12"})
    assert_ok(at)
    assert not [w.value for w in at.warning if "The link's" in w.value]


@pytest.mark.parametrize("k", ["nan", "inf", "-inf", "1e308", "abc", ""])
def test_bad_k_falls_back(k):
    at = run(query={"k": k}, state={"method": "niblack"})
    assert value_of(at, "k") == 0.2
    assert_camera_shows(at, method="niblack")


@pytest.mark.parametrize("method, key, value", [
    ("sauvola", "window", "4"),
    ("adaptive_mean", "block_size", "300"),
])
def test_even_window_from_url_does_not_break_the_page(method, key, value):
    at = run(query={key: value}, state={"method": method})
    assert_ok(at)
    assert value_of(at, key) % 2 == 1
    assert metrics(at)["Foreground"].endswith("%")


def test_even_median_size_from_url_does_not_break_the_page():
    at = run(query={"median_size": "4"}, state={"smoothing": "median"})
    assert_ok(at)
    assert value_of(at, "median_size") % 2 == 1


def test_even_window_on_compare_page_keeps_the_method():
    at = run("compare", query={"sauvola.window": "4"})
    assert_ok(at)
    assert list(results_frame(at).index) == DEFAULT_COMPARE


@pytest.mark.parametrize("min_size", ["1e30", "99999999999999999999999", "-1", "nan", "abc", "", "0x10"])
def test_bad_min_size_falls_back(min_size):
    at = run(query={"min_size": min_size})
    assert value_of(at, "min_size") == 0
    assert metrics(at)["Objects"] == f"{objects_in(seg.threshold(CAMERA).mask):,}"
    assert_camera_shows(at)


@pytest.mark.parametrize("method", ["nope", "", "SAUVOLA", "../otsu", "Sauvola", "0"])
def test_bad_method_falls_back(method):
    at = run(query={"method": method})
    assert value_of(at, "method") == "otsu"
    assert metrics(at)["Method"] == "Otsu" and metrics(at)["Threshold"] == "102"


@pytest.mark.parametrize("page, default", [("threshold", "camera"), ("watershed", "coins"), ("compare", "camera")])
@pytest.mark.parametrize("sample", ["../../etc/passwd", "/etc/passwd", "", "camera/../../../etc/passwd",
                                    "%2e%2e%2fetc%2fpasswd", "C:\\Windows\\win.ini", "nuclei_labels", "nuclei.tif"])
def test_bad_sample_falls_back_to_the_page_default(page, default, sample):
    at = run(page, query={"sample": sample})
    assert_ok(at)
    assert value_of(at, "sample") == default
    assert captions(at)[0].startswith(SAMPLES[default].filename + " — ")


@pytest.mark.parametrize("page", ["threshold", "watershed", "compare"])
def test_unknown_keys_are_ignored(page):
    query = {"zzz": "1", "__class__": "x", "sauvola.window": "4", "foreground": "{}", "recipe": "../x",
             "methods.otsu": "1", "points.0": "5,5"}
    if page == "compare":
        del query["sauvola.window"]  # a real key there
    at = run(page, query=query)
    assert_ok(at)
    reference = run(page)
    assert {k: v for k, v in metrics(at).items() if k != "Time"} == \
           {k: v for k, v in metrics(reference).items() if k != "Time"}


KNOWN_KEYS = {
    "threshold": ["sample", "preview", "outline", "thickness", "fill", "method", "channel", "smoothing", "sigma",
                  "median_size", "background_radius", "polarity", "value", "classes", "foreground_classes",
                  "block_size", "offset", "window", "k", "r", "opening", "closing", "iterations", "fill_holes",
                  "min_size", "clear_border", "tab", "log", "zoom", "zoom_x", "zoom_y"],
    "watershed": ["sample", "method", "sigma", "min_size", "seeds", "h", "min_distance", "peak_fraction",
                  "distance_sigma", "band_low", "band_high", "points", "landscape", "compactness", "connectivity",
                  "watershed_line", "pixel_size", "unit", "stages", "tab"],
    "compare": ["sample", "methods", "channel", "polarity", "min_size", "sauvola.window", "sauvola.k",
                "manual.value", "multiotsu.classes", "truth_invert", "full", "recipes", "per_row", "agreement"],
}


@pytest.mark.parametrize("page", ["threshold", "watershed", "compare"])
def test_empty_values_keep_the_defaults(page):
    at = run(page, query={key: "" for key in KNOWN_KEYS[page]})
    assert exceptions(at) == []
    if page == "compare":
        # ?methods= is the one parameter where empty means something: no methods chosen.
        assert value_of(at, "methods") == []
        assert any("Choose at least one method" in i.value for i in at.info)
        return
    assert errors(at) == []
    reference = run(page)
    assert {k: v for k, v in metrics(at).items() if k != "Time"} == \
           {k: v for k, v in metrics(reference).items() if k != "Time"}


WATERSHED_DEFAULTS = {**seg.WatershedRecipe().values(), "pixel_size": 0.0}


@pytest.mark.parametrize("query", [
    {"min_distance": "0"}, {"min_distance": "abc"}, {"h": "0"}, {"h": "1e400"}, {"connectivity": "6"},
    {"seeds": "marker_image"}, {"seeds": "Marker image"}, {"compactness": "inf"}, {"pixel_size": "-1"},
    {"landscape": "nope"},
])
def test_bad_watershed_values_fall_back(query):
    at = run("watershed", query=query)
    assert_ok(at)
    assert value_of(at, "seeds") == "h_maxima"
    assert metrics(at)["Objects"] == str(seg.watershed(COINS).count)
    for key in query:
        node = widget(at, key)
        if node is not None:
            assert node.value == WATERSHED_DEFAULTS[key]


@pytest.mark.parametrize("methods, rows", [
    ("nope", DEFAULT_COMPARE), (["otsu", "otsu"], ["Otsu"]), (["Otsu"], DEFAULT_COMPARE),
])
def test_bad_compare_methods(methods, rows):
    at = run("compare", query={"methods": methods})
    assert_ok(at)
    assert list(results_frame(at).index) == rows


def test_huge_and_odd_numbers_everywhere_never_raise():
    for page, keys in KNOWN_KEYS.items():
        for value in ("1e308", "-1e308", "99999999999999999999999999", "-0", "0x1F", "١٢"):
            # (the watershed's free-text "unit" has its own test in test_app_pages.py)
            at = run(page, query={key: value for key in keys if key not in ("sample", "methods", "unit")})
            assert exceptions(at) == [], (page, value, exceptions(at))


# --- property: no URL ever raises ---------------------------------------------------------------
_LABELS = ["Sauvola (local)", "Niblack (local)", "Multi-Otsu", "Manual value", "Adaptive mean (local)", "Minimum",
           "Otsu", "Li (minimum cross-entropy)", "Median", "Gaussian", "Dark on bright", "Bright on dark",
           "Distance-map peaks", "Intensity bands", "Points I click", "Gradient (edges)", "Scanned page",
           "Coins", "Handwritten formula", "Export", "Share", "Look closer", "Objects", "Histogram", "class 2"]
_VALUES = st.one_of(
    st.sampled_from(_LABELS + ["0", "1", "3", "4", "31", "-1", "1e9", "nan", "inf", "true", "false", "abc",
                               "../../etc/passwd", "5,5;9,9", "0,0", ""]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=12),
)
_EXTRA_KEYS = ["zzz", "sauvola.window", "otsu.value", "__proto__", "tab", "points", "band_low", "band_high"]


def _queries(page: str):
    # "unit" is left out: its fallback is tested in test_app_pages.py.
    keys = st.sampled_from([k for k in KNOWN_KEYS[page] if k != "unit"] + _EXTRA_KEYS)
    values = st.one_of(_VALUES, st.lists(_VALUES, min_size=1, max_size=3))
    return st.dictionaries(keys, values, max_size=6)


@pytest.mark.parametrize("page", ["threshold", "watershed", "compare"])
def test_random_urls_never_raise(page):
    @settings(max_examples=15, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(query=_queries(page))
    def check(query):
        # Only 8-bit samples are reachable from these values.
        at = app(page, query=query, timeout=60).run()
        assert exceptions(at) == [], (query, exceptions(at))

    check()


@pytest.mark.parametrize("page", ["threshold", "watershed", "compare"])
@pytest.mark.parametrize("text", ["1e400", "inf", "-inf", "nan", "1e20", "abc"])
def test_a_link_value_no_number_box_can_take_is_ignored_in_plain_words(page, text):
    at = run(page, query={"min_size": text})
    assert exceptions(at) == [], exceptions(at)
    if page != "compare":  # Compare has no min_size box of its own
        shown = [w.value for w in at.warning if f"min_size={text}" in w.value]
        assert len(shown) == 1 and "ignored" in shown[0] and "whole number" in shown[0], shown
        assert "min_size" not in at.query_params


@pytest.mark.parametrize("page", ["threshold", "watershed"])
def test_a_link_choice_this_image_does_not_offer_is_said_once(page):
    """A link made on an upload names the file's channel; opened on a sample that has none, the choice box leaves
    it out and says so (it vanished unseen, #13 review). A value no box takes is said once, not twice."""
    at = run(page, query={"sample": "coins", "channel": "GFP", "method": "bogus", "v": "3"})
    assert exceptions(at) == []
    said = [w.value for w in at.warning]
    assert [w for w in said if "`channel=GFP`" in w] == [
        "The link's `channel=GFP` was left out: this image has no such channel (a link made on an upload names the "
        "file's channels: upload that file)."], said
    assert len([w for w in said if "`method=bogus`" in w]) == 1, said
    # the box may sit in a collapsed section: a toast says it too, seen whichever sections are open
    channel = [w for w in said if "`channel=GFP`" in w]
    assert [t.value for t in at.toast if "`channel=GFP`" in t.value] == channel, [t.value for t in at.toast]
    assert "channel" not in at.query_params and "method" not in at.query_params
    assert not [w.value for w in at.run().warning if "`channel=GFP`" in w.value]  # said once, on arrival


def test_compare_says_which_linked_methods_it_left_out():
    at = run("compare", query={"methods": ["otsu", "bogus"], "v": "3"})
    assert exceptions(at) == []
    assert [w.value for w in at.sidebar.warning] == [
        "The link's `methods=bogus` was left out: not one of this box's choices."]
    assert widget(at, "methods").value == ["otsu"]


# --- the recipe version in links (#10 review, finding 5) ------------------------------------------------------

@pytest.mark.parametrize("page", ["threshold", "watershed", "compare"])
def test_the_page_writes_the_recipe_version_into_its_link(page):
    at = run(page, query={"sample": "nuclei"} | ({"h": "2"} if page == "watershed" else {}))
    assert at.query_params["v"] in (str(seg.RECIPE_VERSION), [str(seg.RECIPE_VERSION)])
    # A bare address is the current version: nothing upgraded, and left bare on the first run (each address
    # change of a first run is a history entry of its own); the next run writes the version.
    bare = run(page)
    assert dict(bare.query_params) == {}
    bare = bare.run()
    assert dict(bare.query_params) == {"v": str(seg.RECIPE_VERSION)}, dict(bare.query_params)


@pytest.mark.parametrize("version", ["99", "0", "x"])
def test_a_link_of_a_version_this_program_does_not_read_is_said(version):
    """``?v=99&method=li`` opened as version 3 without a word (#10 review); the command line refuses such a
    recipe. The page says it once, opens the values as the current version's, and writes the current version."""
    at = run("threshold", query={"method": "li", "v": version})
    assert exceptions(at) == []
    said = [w.value for w in at.warning if "recipe version" in w.value]
    assert len(said) == 1 and f"`v={version}`" in said[0] and "versions 1 to 3" in said[0], said
    assert widget(at, "method").value == "li"
    at = at.run()
    assert at.query_params["v"] in (str(seg.RECIPE_VERSION), [str(seg.RECIPE_VERSION)])
    assert not [w.value for w in at.warning if "recipe version" in w.value]  # said on arrival only
    assert not [w.value for w in run("threshold", query={"method": "li", "v": "2"}).warning
                if "recipe version" in w.value]


def test_an_old_links_projection_leaves_the_address_when_another_image_is_picked():
    """``projection=none`` (what a version-2 link meant) belongs to that link's image: picking a sample drops it
    from the address and so from later links (#10 review: it stuck to every later view)."""
    at = run("threshold", query={"method": "li"})
    assert at.query_params["projection"] in ("none", ["none"])
    at = set_widget(at, "sample", "coins")
    assert_ok(at)
    assert "projection" not in at.query_params and at.query_params["v"] in ("3", ["3"])


def test_an_old_links_first_run_holds_its_address_and_the_next_run_gives_it():
    """#10 review: each address change a first run sends is a history entry of its own in the browser, so an old
    link's first run sends none (the page's script writes the address in place); the next run gives Streamlit's
    front end, which still sends the address it opened, the address the first run meant."""
    opened = {"sample": "page", "min_size": "12"}
    at = run("threshold", query=dict(opened))
    assert_ok(at)
    meant = {**opened, **seg.upgrade_params({}, 2), "v": str(seg.RECIPE_VERSION)}
    assert dict(at.query_params) == meant, dict(at.query_params)  # Streamlit's copy of the address
    at.query_params = dict(opened)  # the front end was not told: it sends the address it opened with
    at = at.run()
    assert_ok(at)
    assert dict(at.query_params) == meant, dict(at.query_params)
    assert widget(at, "min_size").value == 12


def test_a_link_without_a_version_is_read_as_version_2_through_upgrade_params():
    old = run("watershed", query={"sample": "nuclei", "h": "2"})  # written before links carried v
    assert_ok(old)
    upgraded = seg.upgrade_params({}, 2)
    assert upgraded == {"projection": "none"}
    for name, value in upgraded.items():
        assert old.query_params[name] in (value, [value]), dict(old.query_params)
    current = run("watershed", query={"sample": "nuclei", "h": "2", "v": str(seg.RECIPE_VERSION)})
    assert_ok(current)
    assert "projection" not in current.query_params
    # The same objects either way on a plain 2-D image (the projection only matters for a stack).
    assert [m.value for m in old.metric if m.label == "Objects"] == [m.value for m in current.metric
                                                                     if m.label == "Objects"]
