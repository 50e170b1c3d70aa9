"""The three Streamlit pages, run with AppTest: every sample, every main widget, uploads, exports.

Expected numbers come from the library (``segmentation``), never from the app's own helpers, so a
page that shows something other than what the library computes fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import skimage.data
from app_helpers import (
    ROOT,
    assert_ok,
    assert_thresholds_shown,
    captions,
    decode,
    errors,
    exceptions,
    image_captions,
    main_images,
    media,
    method_title,
    metrics,
    objects_in,
    percent,
    png_bytes,
    results_frame,
    run,
    set_widget,
    tiff_bytes,
    upload,
    widget,
    widget_keys,
)
from cli_helpers import measurement_lines, run_cli
from scipy import ndimage as ndi

import segmentation as seg
from segmentation import SAMPLES, load_sample, to_python

try:
    from make_bad_inputs import build_corpus
except ModuleNotFoundError:  # pragma: no cover - when run from the repository root as a package
    from tests.make_bad_inputs import build_corpus

__all__ = ["media"]  # the fixture, imported for pytest

CAMERA = load_sample("camera")
COINS = load_sample("coins")
CAMERA_OTSU = 102.0  # the manual slider starts at Otsu's threshold of the luminance

#: Each method's own parameter widgets (everything else in the "Method" group must be hidden).
OWN_WIDGETS = {
    "manual": {"value"},
    "multiotsu": {"classes", "foreground_classes"},
    "adaptive_mean": {"block_size", "offset"},
    "adaptive_gaussian": {"block_size", "offset"},
    "sauvola": {"window", "k", "r"},
    "niblack": {"window", "k"},
}
METHOD_WIDGETS = set().union(*OWN_WIDGETS.values())
VIEW_TITLES = {"threshold": "Mask", "watershed": "Labels"}


def camera_result(**params) -> seg.ThresholdResult:
    """What the thresholding page computes for the camera with default widgets plus ``params``."""
    recipe = seg.ThresholdRecipe(**{"value": CAMERA_OTSU, **params})
    return seg.threshold(CAMERA, recipe)


def assert_threshold_metrics(at, result: seg.ThresholdResult) -> None:
    shown = metrics(at)
    assert_thresholds_shown(shown["Threshold"], result.thresholds)
    assert shown["Foreground"] == percent(result.foreground_fraction)
    assert shown["Objects"] == f"{objects_in(result.mask):,}"


# --- every page on every sample -----------------------------------------------------------------
@pytest.mark.parametrize("sample", list(SAMPLES))
@pytest.mark.parametrize("page", ["threshold", "watershed", "compare"])
def test_every_page_runs_on_every_sample(page, sample):
    at = run(page)
    assert_ok(at)
    at = set_widget(at, "sample", sample)
    assert_ok(at)
    assert captions(at)[0].startswith(SAMPLES[sample].filename + " — "), captions(at)
    if page == "compare":
        frame = results_frame(at)
        expected = [seg.METHODS[m][0] for m in ("otsu", "li", "triangle", "sauvola")]
        assert list(frame.index) == expected
        assert frame["foreground %"].between(0, 100).all()
        assert len(main_images(at)) == len(expected)  # one overlay per method
        return
    titles = image_captions(at)
    assert len(titles) == 3, titles
    assert titles[0].startswith("Original")
    assert titles[1].startswith(VIEW_TITLES[page])
    assert titles[2] == "Boundaries on the original"
    shown = metrics(at)
    wanted = {"threshold": {"Method", "Threshold", "Foreground", "Objects", "Time"},
              "watershed": {"Objects", "Seeds", "Foreground", "Threshold", "Time"}}[page]
    assert set(shown) == wanted
    assert shown["Foreground"].endswith("%") and shown["Objects"].replace(",", "").isdigit()


# --- thresholding page --------------------------------------------------------------------------
def test_threshold_defaults_on_camera_equal_the_library():
    at = run()
    assert_ok(at)
    shown = metrics(at)
    assert shown["Method"] == "Otsu"
    assert shown["Threshold"] == "102"
    assert shown["Foreground"] == percent(seg.threshold(CAMERA).foreground_fraction)
    assert_threshold_metrics(at, camera_result())


def test_threshold_mask_view_is_the_library_mask(media):
    at = run()
    assert_ok(at)
    shown = media.image(main_images(at)[1])  # the mask is shown as a lossless PNG
    expected = seg.threshold(CAMERA).mask
    assert shown.shape[:2] == expected.shape
    gray = shown if shown.ndim == 2 else shown[..., 0]
    assert np.array_equal(gray > 127, expected)


def test_every_method_shows_its_own_parameters_and_the_library_result():
    at = run()
    for method in seg.METHODS:
        at = set_widget(at, "method", method)
        assert_ok(at)
        keys = widget_keys(at)
        assert keys & METHOD_WIDGETS == OWN_WIDGETS.get(method, set()), method
        assert metrics(at)["Method"] == method_title(method)
        assert_threshold_metrics(at, camera_result(method=method))


@pytest.mark.parametrize("method, key, value", [
    ("sauvola", "window", 31),
    ("sauvola", "k", 0.4),
    ("niblack", "k", -0.5),
    ("adaptive_mean", "block_size", 21),
    ("adaptive_gaussian", "offset", 5.0),
    ("multiotsu", "classes", 4),
    ("manual", "value", 150.0),
])
def test_method_parameter_changes_the_result(method, key, value):
    at = set_widget(run(), "method", method)
    before = metrics(at)
    at = set_widget(at, key, value)
    assert_ok(at)
    assert metrics(at)["Foreground"] != before["Foreground"] or metrics(at)["Objects"] != before["Objects"]
    assert_threshold_metrics(at, camera_result(method=method, **{key: value}))


def test_polarity_changes_foreground():
    at = run()
    auto = metrics(at)["Foreground"]
    at = set_widget(at, "polarity", "bright")
    assert_ok(at)
    assert metrics(at)["Foreground"] != auto
    assert_threshold_metrics(at, camera_result(polarity="bright"))
    at = set_widget(at, "polarity", "dark")
    assert metrics(at)["Foreground"] == auto  # the camera's objects are dark: auto picks dark
    assert_threshold_metrics(at, camera_result(polarity="dark"))


def test_channel_of_a_colour_upload():
    astronaut = skimage.data.astronaut()
    at = upload(run(), "astronaut.png", png_bytes(astronaut), mime="image/png")
    assert_ok(at)
    assert "RGB" in captions(at)[0]
    assert_threshold_metrics(at, seg.threshold(astronaut))
    luminance = metrics(at)["Threshold"]
    at = set_widget(at, "channel", "red")
    assert_ok(at)
    assert metrics(at)["Threshold"] != luminance
    assert_threshold_metrics(at, seg.threshold(astronaut, channel="red"))


def test_smoothing_shows_only_its_own_parameter():
    at = run()
    assert {"sigma", "median_size"} & widget_keys(at) == set()
    at = set_widget(at, "smoothing", "gaussian")
    assert {"sigma", "median_size"} & widget_keys(at) == {"sigma"}
    at = set_widget(at, "sigma", 3.0)
    assert_ok(at)
    assert_threshold_metrics(at, camera_result(smoothing="gaussian", sigma=3.0))
    at = set_widget(at, "smoothing", "median")
    assert {"sigma", "median_size"} & widget_keys(at) == {"median_size"}
    at = set_widget(at, "median_size", 7)
    assert_threshold_metrics(at, camera_result(smoothing="median", median_size=7))
    at = set_widget(at, "smoothing", "none")
    assert {"sigma", "median_size"} & widget_keys(at) == set()


def test_min_size_reduces_the_objects():
    at = run()
    before = int(metrics(at)["Objects"].replace(",", ""))
    at = set_widget(at, "min_size", 50)
    assert_ok(at)
    after = int(metrics(at)["Objects"].replace(",", ""))
    assert after < before
    assert_threshold_metrics(at, camera_result(min_size=50))


@pytest.mark.parametrize("key, value", [
    ("opening", 3), ("closing", 5), ("fill_holes", True), ("clear_border", True), ("background_radius", 30),
])
def test_clean_up_and_background_widgets_follow_the_library(key, value):
    at = run()
    before = metrics(at)
    at = set_widget(at, key, value)
    assert_ok(at)
    assert (metrics(at)["Foreground"], metrics(at)["Objects"]) != (before["Foreground"], before["Objects"])
    assert_threshold_metrics(at, camera_result(**{key: value}))


def test_manual_value_slider_changes_foreground():
    at = set_widget(run(), "method", "manual")
    slider = widget(at, "value")
    assert (slider.min, slider.max, slider.value) == (0.0, 255.0, CAMERA_OTSU)
    default = metrics(at)["Foreground"]
    at = set_widget(at, "value", 60.0)
    assert_ok(at)
    assert metrics(at)["Foreground"] != default
    assert metrics(at)["Threshold"] == "60"
    assert_threshold_metrics(at, camera_result(method="manual", value=60.0))


def test_multiotsu_foreground_classes_follow_the_number_of_classes():
    at = set_widget(run(), "method", "multiotsu")
    at = set_widget(at, "classes", 2)
    options = widget(at, "foreground_classes").options
    assert options == ["0", "1"]


# --- watershed page -----------------------------------------------------------------------------
def coins_watershed(**params) -> seg.WatershedResult:
    return seg.watershed(COINS, **params)


def test_watershed_default_on_coins_finds_24_coins():
    at = run("watershed")
    assert_ok(at)
    shown = metrics(at)
    assert shown["Objects"] == str(coins_watershed().count) == "24"  # the 24 coins of the photo
    assert shown["Seeds"] == str(int(coins_watershed().markers.max()))
    assert shown["Threshold"] == f"{coins_watershed().threshold.thresholds[0]:.2f}".rstrip("0").rstrip(".")
    assert image_captions(at)[1] == "Labels (24 objects)"
    assert {"h", "distance_sigma", "compactness", "connectivity"} <= widget_keys(at)
    assert "min_distance" not in widget_keys(at)


def test_watershed_manual_starts_at_otsu_of_the_processed_channel():
    """Choosing Manual on Watershed keeps the foreground: the slider starts at Otsu's threshold of the channel
    after the page's background subtraction, not of the raw image (#10 review: 0.0 % foreground)."""
    at = set_widget(run("watershed"), "method", "manual")
    assert_ok(at)
    otsu = coins_watershed().threshold.thresholds[0]  # the default foreground: Otsu after background subtraction
    assert widget(at, "value").value == otsu
    expected = coins_watershed(foreground=seg.WatershedRecipe().foreground.replace(method="manual", value=otsu))
    assert metrics(at)["Objects"] == str(expected.count) == str(coins_watershed().count)


def test_watershed_distance_peaks_swap_the_seed_parameters():
    at = set_widget(run("watershed"), "seeds", "distance_peaks")
    assert_ok(at)
    keys = widget_keys(at)
    assert {"min_distance", "peak_fraction"} <= keys and "h" not in keys
    assert metrics(at)["Objects"] == str(coins_watershed(seeds="distance_peaks").count)
    at = set_widget(at, "min_distance", 20)
    assert metrics(at)["Objects"] == str(coins_watershed(seeds="distance_peaks", min_distance=20).count)


def test_watershed_gradient_landscape_hides_compactness():
    at = set_widget(run("watershed"), "landscape", "gradient")
    assert_ok(at)
    keys = widget_keys(at)
    assert "compactness" not in keys and "connectivity" not in keys
    assert metrics(at)["Objects"] == str(coins_watershed(landscape="gradient").count)


def test_watershed_intermediate_stages_add_three_images():
    at = run("watershed")
    assert len(main_images(at)) == 3
    at = set_widget(at, "stages", True)
    assert_ok(at)
    titles = image_captions(at)
    assert len(titles) == 6
    assert titles[3].startswith("Foreground") and titles[4].startswith("Distance")
    assert titles[5] == f"Seeds ({int(coins_watershed().markers.max())})"


def test_watershed_seed_points_typed_in_grow_one_object_each():
    reference = coins_watershed()
    deepest = tuple((int(r), int(c)) for r, c in ndi.maximum_position(reference.distance, reference.labels, [1, 2]))
    text = ";".join(f"{r},{c}" for r, c in deepest)
    at = set_widget(run("watershed"), "seeds", "points")
    assert_ok(at)
    assert metrics(at)["Objects"] == "0"  # no points yet
    at = set_widget(at, "points", text)
    assert_ok(at)
    assert metrics(at)["Seeds"] == "2"
    assert metrics(at)["Objects"] == "2" == str(coins_watershed(seeds="points", points=deepest).count)


def test_watershed_seed_points_on_background_grow_nothing():
    # (50, 50) and (100, 100) lie between the coins: flooding stays inside the foreground.
    assert not coins_watershed().foreground[50, 50] and not coins_watershed().foreground[100, 100]
    at = set_widget(set_widget(run("watershed"), "seeds", "points"), "points", "50,50;100,100")
    assert_ok(at)
    assert metrics(at)["Seeds"] == "0"  # seeds on the background are not used (the library says so in a note)
    assert metrics(at)["Objects"] == "0"
    assert any("background" in note for note in coins_watershed(seeds="points", points=((50, 50), (100, 100))).notes)


def test_watershed_bad_seed_points_give_plain_errors_and_recover():
    at = set_widget(run("watershed"), "seeds", "points")
    at = set_widget(at, "points", "abc")
    assert exceptions(at) == []
    assert any("row,col" in e for e in errors(at)), errors(at)
    at = set_widget(at, "points", "400,10")  # the coins image has 303 rows: left out, said, the page goes on
    assert_ok(at)
    assert any("outside" in w.value and "(400, 10)" in w.value for w in at.warning), at.warning
    assert metrics(at)["Objects"] == "0"
    at = set_widget(at, "points", "")
    assert_ok(at)
    assert metrics(at)["Objects"] == "0"


def test_watershed_pixel_size_reports_physical_units():
    at = run("watershed", query={"pixel_size": "0.5", "unit": "µm", "tab": "Objects"})
    assert_ok(at)
    columns = list(at.dataframe[0].value.columns)
    assert "area_um2" in columns, columns
    assert len(at.dataframe[0].value) == coins_watershed().count


@pytest.mark.parametrize("unit", ["", "%", "°"])
def test_watershed_unit_without_letters_does_not_crash(unit):
    at = set_widget(run("watershed"), "pixel_size", 0.5)
    at = set_widget(at, "unit", unit)  # e.g. clearing the field before typing a new unit
    assert exceptions(at) == []
    assert metrics(at)["Objects"] == str(coins_watershed().count)


def test_watershed_export_is_full_resolution(media):
    nuclei = load_sample("nuclei")
    at = set_widget(run("watershed", query={"tab": "Export"}), "sample", "nuclei")
    at = set_widget(at, "preview", 512)  # the live view works on a 512 px copy of the 768 px image
    assert_ok(at)
    assert any(c.startswith("Live preview at 67%") for c in captions(at))
    labels = decode(media.download(at, "Labels TIFF"))
    assert labels.shape == nuclei.shape
    assert int(labels.max()) == seg.watershed(nuclei).count


# --- compare page -------------------------------------------------------------------------------
def test_compare_defaults_one_row_per_method():
    at = run("compare")
    assert_ok(at)
    frame = results_frame(at)
    assert list(frame.index) == [seg.METHODS[m][0] for m in ("otsu", "li", "triangle", "sauvola")]
    assert frame.loc["Otsu", "threshold"] == "102"
    assert frame.loc["Otsu", "foreground %"] == pytest.approx(100 * seg.threshold(CAMERA).foreground_fraction)
    assert frame.loc["Otsu", "objects"] == objects_in(seg.threshold(CAMERA).mask)
    assert "dice" not in frame.columns
    assert len(main_images(at)) == 4


def test_compare_all_global_button_selects_the_automatic_global_methods():
    at = run("compare")
    next(b for b in at.button if b.label == "All global").click()
    at = at.run()
    assert_ok(at)
    automatic = [m for m in seg.GLOBAL_METHODS if m != "manual"]  # a manual value at its default repeats Otsu
    assert at.multiselect(key="methods").value == automatic
    frame = results_frame(at)
    assert list(frame.index) == [seg.METHODS[m][0] for m in automatic]
    for method in automatic:
        expected = camera_result(method=method)
        assert frame.loc[seg.METHODS[method][0], "foreground %"] == pytest.approx(100 * expected.foreground_fraction)
    next(b for b in at.button if b.label == "All methods").click()
    at = at.run()
    assert_ok(at)
    assert len(results_frame(at)) == len(seg.METHODS)


def test_compare_per_method_parameter():
    at = set_widget(run("compare"), "sauvola.window", 31)
    assert_ok(at)
    expected = camera_result(method="sauvola", window=31).foreground_fraction
    assert results_frame(at).loc["Sauvola (local)", "foreground %"] == pytest.approx(100 * expected)


def test_compare_ground_truth_adds_scores():
    truth = seg.threshold(CAMERA).mask
    at = upload(run("compare"), "truth.png", png_bytes(truth), key="truth", mime="image/png")
    assert_ok(at)
    frame = results_frame(at)
    assert {"dice", "iou", "precision", "recall"} <= set(frame.columns)
    assert frame.loc["Otsu", "dice"] == 1.0 and frame.loc["Otsu", "iou"] == 1.0
    assert (frame.drop(index="Otsu")["dice"] < 1.0).all()
    at = set_widget(at, "truth_invert", True)
    assert_ok(at)
    assert results_frame(at).loc["Otsu", "dice"] == 0.0


def test_compare_full_resolution_toggle():
    nuclei = load_sample("nuclei")
    at = set_widget(set_widget(run("compare"), "sample", "nuclei"), "preview", 512)
    assert_ok(at)
    at = set_widget(at, "full", True)
    assert_ok(at)
    frame = results_frame(at)
    for method in ("otsu", "li", "triangle", "sauvola"):
        expected = 100 * seg.threshold(nuclei, method=method).foreground_fraction
        assert frame.loc[seg.METHODS[method][0], "foreground %"] == pytest.approx(expected)


@pytest.mark.parametrize("name, data, words", [
    ("truth.png", os.urandom(300), "not an image"),
    ("truth.png", b"", "empty"),
    ("small.png", png_bytes(np.zeros((10, 12), np.uint8)), "12×10 but the image is 512×512"),
], ids=["random-bytes", "empty", "wrong-size"])
def test_compare_bad_ground_truth_is_ignored_with_a_plain_error(name, data, words):
    at = upload(run("compare"), name, data, key="truth")
    assert exceptions(at) == []
    assert any(words in e for e in errors(at)), errors(at)
    assert "dice" not in results_frame(at).columns


# --- uploads ------------------------------------------------------------------------------------
COINS_UP = skimage.data.coins()
COINS_16 = COINS_UP.astype(np.uint16) * 257


def test_upload_png_switches_the_image():
    at = run()
    before = metrics(at)
    at = upload(at, "my_coins.png", png_bytes(COINS_UP), mime="image/png")
    assert_ok(at)
    assert captions(at)[0].startswith("my_coins.png — 384×303 px, 8-bit grayscale")
    assert any("my_coins.png" in c for c in captions(at)[1:])
    assert metrics(at) != before
    expected = seg.threshold(COINS_UP, value=CAMERA_OTSU)
    assert_threshold_metrics(at, expected)


def test_upload_16_bit_tiff_thresholds_in_16_bit_units():
    at = upload(run(), "coins16.tif", tiff_bytes(COINS_16), mime="image/tiff")
    assert_ok(at)
    assert "16-bit grayscale" in captions(at)[0]
    assert metrics(at)["Threshold"] == "27499"
    expected = seg.threshold(COINS_16)
    assert_threshold_metrics(at, expected)
    at = set_widget(at, "method", "manual")
    slider = widget(at, "value")
    assert (slider.min, slider.max, slider.value) == (0.0, 65535.0, 27499.0)
    at = set_widget(at, "value", 30000.0)
    assert_ok(at)
    assert_threshold_metrics(at, seg.threshold(COINS_16, method="manual", value=30000.0))


@pytest.mark.parametrize("name, data, words", [
    ("random.png", os.urandom(2000), "not an image"),
    ("empty.png", b"", "empty"),
    ("notes.png", b"Shopping list:\n- milk\n- eggs\n" * 20, "not an image"),
], ids=["random-bytes", "empty", "text"])
def test_bad_upload_keeps_the_previous_image(name, data, words):
    at = run()
    before, caption = metrics(at), captions(at)[0]
    at = upload(at, name, data, mime="image/png")
    assert exceptions(at) == []
    shown = errors(at)
    assert len(shown) == 1 and name in shown[0] and words in shown[0], shown
    assert "Traceback" not in shown[0] and "Error" not in shown[0]
    assert "remove the file (×) or pick another image" in shown[0]  # how the message goes
    assert captions(at)[0] == caption
    del before["Time"]
    assert {k: v for k, v in metrics(at).items() if k != "Time"} == before
    at = set_widget(at, "method", "li")  # the page still works
    assert exceptions(at) == []
    assert metrics(at)["Method"] == "Li"
    assert_thresholds_shown(metrics(at)["Threshold"], camera_result(method="li").thresholds)


def test_hostile_upload_corpus(tmp_path):
    """Every file of the hostile-input corpus: loadable ones replace the image, the others are refused in
    plain words while the last good image stays."""
    cases = build_corpus(tmp_path)
    at = run()
    shown_name = "camera.png"
    for case in cases:
        at = upload(at, case.name, (tmp_path / case.name).read_bytes())
        assert exceptions(at) == [], (case.name, exceptions(at))
        if case.expect == "load":
            assert errors(at) == [], (case.name, errors(at))
            shown_name = case.name
            assert metrics(at)["Foreground"].endswith("%"), case.name
            assert len(main_images(at)) == 3, case.name
        else:
            assert len(errors(at)) == 1, (case.name, errors(at))
            assert case.name in errors(at)[0]
            assert all(w.lower() in errors(at)[0].lower() for w in case.words), (case.name, errors(at))
        assert captions(at)[0].startswith(shown_name + " — "), (case.name, captions(at)[0])


def test_upload_stays_when_switching_pages():
    at = upload(run(), "my_coins.png", png_bytes(COINS_UP), mime="image/png")
    at.switch_page("pages/2_watershed.py")
    at = at.run()
    assert_ok(at)
    assert captions(at)[0].startswith("my_coins.png — ")
    assert metrics(at)["Objects"] == str(seg.watershed(COINS_UP).count)
    at.switch_page("pages/3_compare.py")
    at = at.run()
    assert_ok(at)
    assert captions(at)[0].startswith("my_coins.png — ")
    assert results_frame(at).loc["Otsu", "threshold"] == f"{seg.threshold(COINS_UP).thresholds[0]:g}"
    at.switch_page("app.py")
    at = at.run()
    assert captions(at)[0].startswith("my_coins.png — ")
    at = set_widget(at, "sample", "coins")  # picking a sample switches back
    assert captions(at)[0].startswith("coins.png — ")


_SLOW_16_BIT = textwrap.dedent("""
    import io, json, sys
    import numpy as np, skimage.data, tifffile
    from streamlit.testing.v1 import AppTest
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, skimage.data.coins().astype(np.uint16) * 257)
    at = AppTest.from_file("app.py", default_timeout=600).run()
    at.file_uploader(key="upload").set_value(("coins16.tif", buffer.getvalue(), "image/tiff")).run()
    at.selectbox(key="method").set_value(sys.argv[1]).run()
    print(json.dumps({"exceptions": [e.message for e in at.exception], "errors": [e.value for e in at.error],
                      "metrics": {m.label: m.value for m in at.metric}}))
""")


def test_histogram_methods_on_a_16_bit_upload_answer_quickly():
    """Minimum and Multi-Otsu on a 16-bit upload answer (a threshold or a plain error) within seconds.

    scikit-image gives integer images one histogram bin per value; handed a 16-bit image directly, Minimum
    ran ~4 min and Multi-Otsu ~1 min on this 384×303 upload. Run in subprocesses with a hard limit, so a
    hang cannot leave a busy thread behind in this process.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = {m: subprocess.Popen([sys.executable, "-c", _SLOW_16_BIT, m], cwd=ROOT, env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
             for m in ("minimum", "multiotsu")}
    deadline = time.monotonic() + 30  # both run at once; a fixed library answers in a few seconds
    outcomes = {}
    for method, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            outcomes[method] = None
        else:
            outcomes[method] = json.loads(out.strip().splitlines()[-1])
    for method, outcome in outcomes.items():
        assert outcome is not None, f"{method} on a 16-bit image did not answer within 30 s"
        assert outcome["exceptions"] == []
        assert outcome["errors"] or outcome["metrics"]["Threshold"][0].isdigit()


# --- Export and Share tabs ----------------------------------------------------------------------
def test_export_tab_downloads_and_script(media):
    at = run(query={"tab": "Export"}, state={"method": "sauvola"})
    assert_ok(at)
    labels = [b.label for b in at.get("download_button")]
    assert labels == ["Mask PNG", "Labels PNG (16-bit)", "Labels TIFF", "Overlay PNG", "Measurements CSV",
                      "Recipe JSON", "Python script"]
    # The manual value the slider starts at follows the image (Otsu's threshold), but Sauvola does not use it:
    # the file keeps the default, as the command line writes it (same recipe file, same recipe_sha256).
    recipe = seg.ThresholdRecipe(method="sauvola")
    assert recipe.value != CAMERA_OTSU
    recipe_json = media.download(at, "Recipe JSON").decode()
    assert seg.ThresholdRecipe.from_json(recipe_json) == recipe and recipe_json == recipe.to_json()
    script = media.download(at, "Python script").decode()
    code = [c for c in at.code if c.language == "python"]
    assert script == to_python(recipe)
    assert len(code) == 1 and code[0].value.rstrip() == script.rstrip()
    compile(script, "segment.py", "exec")
    assert "sauvola" in script.lower()
    mask = decode(media.download(at, "Mask PNG"))
    assert np.array_equal(mask > 0, seg.threshold(CAMERA, recipe).mask)
    csv = media.download(at, "Measurements CSV").decode()
    # the recipe's comment line (its version, kind and recipe_sha256), the header, one row per object
    rows = measurement_lines(csv, recipe_json, "threshold")
    assert len(rows) == 1 + objects_in(seg.threshold(CAMERA, recipe).mask)
    assert csv == seg.measure(seg.threshold(CAMERA, recipe).mask, CAMERA).to_csv(recipe_json=recipe.to_json())


def test_the_overlay_download_is_the_command_lines_overlay(media, tmp_path):
    """With the page's default style the overlay PNG is the CLI's ``_overlay.png`` byte for byte (#10 review: the
    app outlined in (255, 32, 32), the CLI in (255, 0, 0))."""
    at = run(query={"tab": "Export"}, state={"method": "sauvola"})
    assert_ok(at)
    (tmp_path / "camera.png").write_bytes(seg.encode_png(CAMERA))
    (tmp_path / "recipe.json").write_text(seg.ThresholdRecipe(method="sauvola").to_json())
    done = run_cli("apply", "--recipe", "recipe.json", "camera.png", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert media.download(at, "Overlay PNG") == (tmp_path / "out" / "camera_overlay.png").read_bytes()


def test_export_tab_opened_with_the_tabs_widget():
    at = run()
    assert not at.get("download_button")  # only the open tab runs
    at.session_state["tab"] = "Export"
    at = at.run()
    assert_ok(at)
    assert len(at.get("download_button")) == 7


@pytest.mark.parametrize("page", ["threshold", "watershed"])
def test_every_tab_runs(page):
    at = run(page)
    objects = int(metrics(at)["Objects"].replace(",", ""))
    for tab in ("Histogram", "Objects", "Look closer", "Export", "Share"):
        at.session_state["tab"] = tab
        at = at.run()
        assert_ok(at)
        content = next(t for t in at.tabs if t.label == tab)
        assert content.children, f"the {tab} tab is empty"
        if tab == "Histogram":
            assert any(c.value.startswith("Histogram of the channel") for c in content.caption)
        if tab == "Objects":
            assert len(content.dataframe[0].value) == objects
        if tab == "Look closer":
            assert len(content.image) == 3
            assert any(c.value.startswith("Rows ") for c in content.caption)


@pytest.mark.parametrize("page, path", [("threshold", ""), ("watershed", "/watershed")])
def test_share_tab_link_holds_the_parameters(page, path):
    query = {"tab": "Share", "min_size": "12", "opening": "2"}
    at = run(page, query=query, context={"url": "https://studio.example/"})
    assert_ok(at)
    (link,) = [c.value for c in at.code]
    assert link.startswith(f"https://studio.example{path}?"), link
    assert "min_size=12" in link and "opening=2" in link
    assert widget(at, "min_size").value == 12
    assert any("address bar" in c for c in captions(at))


def test_share_tab_without_a_browser_url_and_with_an_upload():
    # AppTest leaves st.context.url unset unless at.context["url"] is given: the link is then the query alone.
    at = upload(run(query={"tab": "Share", "min_size": "12"}), "my_coins.png", png_bytes(COINS_UP))
    assert_ok(at)
    (link,) = [c.value for c in at.code]
    assert link.startswith("?") and "min_size=12" in link
    assert any("not** part of the link" in c and "Cameraman" in c for c in captions(at))


@pytest.mark.parametrize("values, domain", [
    (np.array([[3, 200]], np.uint8), [0.0, 256.0]),  # 8-bit: the 256 bins of 0..255, not a "nice" 0..260
    (np.array([[100, 4000]], np.uint16), [100.0, 4000.0]),
    (np.array([[-0.5, 2.0]], np.float32), [-0.5, 2.0]),
])
def test_histogram_axis_spans_the_bins(values, domain):
    from studio_ui.views import histogram_spec

    spec = histogram_spec(values, (float(values.mean()),))
    scale = spec["layer"][0]["encoding"]["x"]["scale"]
    assert scale["domain"] == pytest.approx(domain) and scale["nice"] is False


@pytest.mark.parametrize("values, exponent_format", [
    (np.array([[0.0, 3e-37]], np.float32), True),
    (np.array([[-3e38, 3e38]], np.float32), True),
    (np.array([[0.0, 4000.0]], np.float32), False),
])
def test_histogram_axis_reads_huge_and_tiny_values(values, exponent_format):
    """Vega's default axis labels show 3e-37 as a row of zeros; such ranges get exponent notation."""
    from studio_ui.views import histogram_spec

    spec = histogram_spec(values, (float(values.mean()),))
    axis = spec["layer"][0]["encoding"]["x"].get("axis", {})
    assert ("format" in axis) == exponent_format
    if exponent_format:
        assert axis["format"].endswith("e")


@pytest.mark.parametrize("values, thresholds, log", [
    (np.array([[3, 200]], np.uint8), (100.0,), False),
    (np.array([[100, 4000]], np.uint16), (1000.0, 2500.0), True),
    (np.array([[-0.5, np.nan, 2.0]], np.float32), (), False),
    (np.array([[0.0, 3e-37]], np.float32), (1e-37,), True),
])
def test_histogram_spec_is_valid_vega_lite_with_its_bins_and_rules(values, thresholds, log):
    """The histogram is a hand-written Vega-Lite spec (Altair's objects cost a third of a rerun): Altair's own
    schema accepts it, and it holds the 256 bins, their pixel counts and one rule per threshold."""
    import altair as alt

    from studio_ui.views import histogram_spec

    spec = histogram_spec(values, thresholds, log=log)
    alt.LayerChart.from_dict(spec)  # raises on anything the Vega-Lite schema refuses
    bins = spec["datasets"][spec["layer"][0]["data"]["name"]]
    # A row per bin edge (one filled step line): the 256 bins' counts, the last held to the axis' end.
    assert len(bins) == 257 and sum(b["pixels"] for b in bins[:-1]) == np.isfinite(values).sum()
    assert bins[-1]["pixels"] == bins[-2]["pixels"]
    assert bins[-1]["value"] == spec["layer"][0]["encoding"]["x"]["scale"]["domain"][1]
    assert spec["layer"][0]["mark"]["interpolate"] == "step-after"
    if thresholds:
        rules = spec["datasets"][spec["layer"][1]["data"]["name"]]
        assert [r["threshold"] for r in rules] == list(thresholds)
    else:
        assert len(spec["layer"]) == 1
    assert ("scale" in spec["layer"][0]["encoding"]["y"]) == log
    if log:  # ticks at 0 and every power of ten from 10 up to the largest count (Vega's own: 0 and the largest)
        top = max(b["pixels"] for b in bins)
        ticks = spec["layer"][0]["encoding"]["y"]["axis"]["values"]
        first = 1 if top >= 10 else 0
        assert ticks[0] == 0 and ticks[1:] == [10.0 ** k for k in range(first, first + len(ticks) - 1)]
        assert ticks[-1] <= top < ticks[-1] * 10


def test_log_histogram_ticks_are_the_powers_of_ten_of_a_large_image():
    from studio_ui.views import histogram_spec

    values = np.zeros((1000, 1200), np.uint8)
    values[:10, :25] = 255  # 250 pixels at 255, 1,199,750 at 0
    axis = histogram_spec(values, (), log=True)["layer"][0]["encoding"]["y"]["axis"]
    assert axis["values"] == [0, 10, 100, 1_000, 10_000, 100_000, 1_000_000]


def test_a_link_value_outside_this_images_range_is_named_not_dropped_unseen():
    """``?method=manual&value=1e308`` is a threshold the parameter allows but an 8-bit image's slider (0-255) does
    not: the slider dropped it without a word (issue 15's trial). The page names it once; the slider starts where
    it starts without the value."""
    at = run(query={"method": "manual", "value": "1e308"})
    assert_ok(at)
    assert [w.value for w in at.warning] == ["The link's `value=1e308` was not used: here value runs from 0 to 255."]
    assert at.slider(key="value").value == run(query={"method": "manual"}).slider(key="value").value  # the start
    at.run()
    assert not at.warning  # once a session, as the page's other link notices
    assert not run(query={"method": "manual", "value": "100"}).warning
