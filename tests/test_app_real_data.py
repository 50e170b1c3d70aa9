"""Data as it really comes, on every page (AppTest): float images with NaN "no data" areas and infinities,
16-bit images with few grey levels, more objects than a 16-bit PNG holds, TIFFs with extra channels.

No input may show Streamlit's error screen; each shows a result, and the numbers on the page are the ones
the library returns for that image (computed here with ``segmentation``, never hard-coded), so these tests
stay right while the library's handling of such data changes.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import real_data_inputs as rd
from app_helpers import (
    app,
    assert_ok,
    assert_thresholds_shown,
    captions,
    decode,
    exceptions,
    main_images,
    media,
    metrics,
    objects_in,
    percent,
    results_frame,
    upload,
    widget,
)
from cli_helpers import measurement_lines

import segmentation as seg
from studio_ui.exports import png_labels_refusal
from studio_ui.views import finite_limits, result_notes

__all__ = ["media"]  # the fixture, imported for pytest

PNG_SENTENCE = "16-bit PNG holds at most 65,535"
PNG_BUTTON = "Labels PNG (16-bit)"

#: The uploads: file name -> bytes, as a visitor sends them.
INPUTS: dict[str, bytes] = {
    "nan_half.tif": rd.tiff_bytes(rd.nan_half()),
    "nan_stripe_dark.tif": rd.tiff_bytes(rd.nan_stripe_dark()),
    **{f"nonfinite_{kind}.tif": rd.tiff_bytes(rd.nonfinite_regions(kind)) for kind in ("nan", "inf", "-inf", "mixed")},
    "few_levels.png": rd.png_bytes(rd.few_levels_uint16()),
    "many_objects.png": rd.png_bytes(rd.many_objects()),
    "gray_extra.tif": rd.gray_with_unspecified_extra()[1],
    "rgb_nir.tif": rd.rgb_nir()[1],
}
#: Parameters each input is segmented with (URL names, as a link gives them); the rest are the page's defaults.
PARAMS: dict[str, dict[str, str]] = {
    "few_levels.png": {"method": "multiotsu", "classes": "3"},
    "many_objects.png": {"method": "otsu", "min_size": "0"},
}
#: The watershed's foreground without smoothing or clean-up: every 2×2 square of many_objects is an object.
PLAIN_FOREGROUND = {"smoothing": "none", "background_radius": "0", "closing": "0", "fill_holes": "false",
                    "min_size": "0"}


def image_of(name: str) -> np.ndarray:
    """The image as the library reads the upload (what every page works on)."""
    return seg.load_image(INPUTS[name])


def page_texts(at) -> list[str]:
    """Every caption, info, warning, error and markdown text on the page (sidebar included)."""
    texts = []
    for kind in ("caption", "info", "warning", "error", "markdown", "success"):
        texts += [str(element.value) for element in at.get(kind)]
    return texts


def open_with(page: str, name: str, query: dict[str, str] | None = None):
    at = app(page, query={**PARAMS.get(name, {}), **(query or {})}).run()
    return upload(at, name, INPUTS[name])


def assert_uploaded(at, name: str) -> None:
    assert_ok(at)  # no exception box, no error box
    assert any(text.startswith(f"{name} — ") for text in page_texts(at)), page_texts(at)


# --- every input on every page ------------------------------------------------------------------
@pytest.mark.parametrize("name", list(INPUTS))
def test_thresholding_page_shows_the_library_result(name, media):
    at = open_with("threshold", name)
    assert_uploaded(at, name)
    expected = seg.threshold(image_of(name), seg.ThresholdRecipe.from_flat(PARAMS.get(name, {})))
    shown = metrics(at)
    assert shown["Foreground"] == percent(expected.foreground_fraction), (shown, expected.foreground_fraction)
    assert shown["Objects"] == f"{objects_in(expected.mask):,}"
    assert_thresholds_shown(shown["Threshold"], expected.thresholds,
                            integer=np.issubdtype(expected.processed.dtype, np.integer))
    images = main_images(at)
    assert len(images) == 3
    assert np.array_equal(media.image(images[1]), seg.mask_image(expected.mask))  # every input is < 1024 px


@pytest.mark.parametrize("name", list(INPUTS))
def test_watershed_page_shows_the_library_result(name):
    at = open_with("watershed", name)
    assert_uploaded(at, name)
    expected = seg.watershed(image_of(name), seg.WatershedRecipe.from_flat(PARAMS.get(name, {})))
    shown = metrics(at)
    assert shown["Objects"] == f"{expected.count:,}", shown
    assert shown["Foreground"] == percent(expected.threshold.foreground_fraction), shown
    assert len(main_images(at)) == 3


@pytest.mark.parametrize("name", list(INPUTS))
def test_compare_page_shows_the_library_result(name):
    query = {"methods": ["otsu", "li", "triangle", "sauvola", "multiotsu"]}
    at = app("compare", query={k: v for k, v in {**PARAMS.get(name, {}), **query}.items() if k != "method"})
    at = upload(at.run(), name, INPUTS[name])
    assert_uploaded(at, name)
    frame = results_frame(at)
    image = image_of(name)
    shared = {k: v for k, v in PARAMS.get(name, {}).items() if k not in ("method", "classes")}
    for method in query["methods"]:
        row = frame.loc[seg.METHODS[method].label]
        try:
            expected = seg.threshold(image, seg.ThresholdRecipe.from_flat({**shared, "method": method}))
        except ValueError as error:  # the method cannot give a result here: a line under the table says why
            label = seg.METHODS[method].label
            assert f"**{label}**: {error}" in captions(at) or str(error).startswith(label.split(" (")[0]) \
                and str(error) in captions(at), (method, captions(at))
            assert "note" not in frame.columns
            continue
        assert abs(row["foreground %"] - 100 * expected.foreground_fraction) < 1e-9, (method, row)
        assert row["objects"] == objects_in(expected.mask), (method, row)
    assert main_images(at), "no result image"


# --- what only some inputs need ------------------------------------------------------------------
@pytest.mark.parametrize("page", ["threshold", "watershed", "compare"])
def test_the_non_finite_pixel_count_is_said_once(page):
    image = image_of("nan_half.tif")
    count = int(np.count_nonzero(~np.isfinite(image)))
    assert count == 20_000
    at = open_with(page, "nan_half.tif")
    assert_uploaded(at, "nan_half.tif")
    mentions = [t for t in page_texts(at) if re.search(rf"\b{count:,}\b|\b{count}\b", t)]
    assert len(mentions) == 1 and "NaN" in mentions[0], mentions


def test_few_grey_levels_multiotsu_gives_a_result():
    """scikit-image's 3-class multi-Otsu of {0, 100, 65535} is [0, 100]: a result, not a refusal."""
    at = open_with("threshold", "few_levels.png")
    assert_uploaded(at, "few_levels.png")
    assert metrics(at)["Method"] == "Multi-Otsu"


@pytest.mark.parametrize("page", ["threshold", "watershed", "compare"])
@pytest.mark.parametrize("name", ["nan_half.tif", "nonfinite_inf.tif", "nonfinite_-inf.tif", "nonfinite_mixed.tif"])
def test_manual_slider_spans_the_finite_values(name, page):
    """NaN and ±inf pixels give the manual threshold's slider no NaN or infinite end; it starts at Otsu's."""
    query = {"methods": ["manual"]} if page == "compare" else {"method": "manual"}
    at = open_with(page, name, query)
    assert_uploaded(at, name)
    image = image_of(name)
    finite = image[np.isfinite(image)]
    slider = widget(at, "manual.value" if page == "compare" else "value")
    assert slider is not None
    # Watershed's foreground subtracts the background by default: Manual starts at Otsu of that channel, and
    # the slider spans that channel's values as well as the image's (they go below the image's smallest)
    start = seg.WatershedRecipe().foreground if page == "watershed" else seg.ThresholdRecipe(polarity="bright")
    result = seg.threshold(image, start.replace(method="otsu"))
    processed = result.processed[np.isfinite(result.processed)]
    lo, hi = min(finite.min(), processed.min()), max(finite.max(), processed.max())
    assert (slider.min, slider.max) == pytest.approx((float(lo), float(hi)))
    assert np.isfinite([slider.min, slider.max]).all()
    assert slider.min <= result.thresholds[0] <= slider.max
    assert slider.value == pytest.approx(result.thresholds[0], abs=5e-5)


@pytest.mark.parametrize("tab", ["Histogram", "Objects", "Look closer", "Export"])
@pytest.mark.parametrize("page", ["threshold", "watershed"])
@pytest.mark.parametrize("name", ["nan_half.tif", "nan_stripe_dark.tif", "nonfinite_mixed.tif", "rgb_nir.tif"])
def test_every_tab_takes_non_finite_and_extra_channel_images(name, page, tab):
    at = open_with(page, name, {"tab": tab})
    assert_uploaded(at, name)


def test_result_notes_drop_only_the_restated_non_finite_count():
    channel = np.zeros((100, 120), np.float32)
    channel[:, :100] = np.nan  # 10,000 pixels
    notes = ("10,000 pixels not finite (10,000 NaN): thresholds come from the finite pixels",
             "Triangle ran on an 8-bit copy", "110000 pixels is not the count", "a 10,0000 pixel lookalike",
             "10000 seeds: the count, but not of pixels")
    assert result_notes(notes, channel) == list(notes[1:])
    assert result_notes(notes, np.zeros((100, 120), np.float32)) == list(notes)
    assert result_notes(notes, np.zeros((100, 120), np.uint16)) == list(notes)


def test_finite_limits_leave_out_nan_and_infinities():
    assert finite_limits(rd.nonfinite_regions("mixed")) == pytest.approx(
        (float(np.nanmin(rd.nonfinite_regions("nan"))), float(np.nanmax(rd.nonfinite_regions("nan")))))
    assert finite_limits(np.full((2, 2), np.nan, np.float32)) is None
    assert finite_limits(np.array([[3, 7]], np.uint16)) == (3.0, 7.0)


# --- exports ---------------------------------------------------------------------------------------
def test_png_labels_refusal_boundary():
    assert png_labels_refusal(0) is None
    assert png_labels_refusal(65_535) is None
    message = png_labels_refusal(65_536)
    assert PNG_SENTENCE in message and "65,536 objects" in message and "TIFF" in message


def _download_labels(at) -> list[str]:
    return [button.label for button in at.get("download_button")]


@pytest.mark.parametrize("page, query", [
    ("threshold", {"tab": "Export"}),
    ("watershed", {"tab": "Export", **PLAIN_FOREGROUND}),
])
def test_too_many_objects_for_a_png_say_why_and_offer_the_tiff(page, query, media):
    at = open_with(page, "many_objects.png", query)
    assert_uploaded(at, "many_objects.png")
    image = image_of("many_objects.png")
    if page == "threshold":
        objects = objects_in(seg.threshold(image, seg.ThresholdRecipe.from_flat(PARAMS["many_objects.png"])).mask)
    else:
        objects = seg.watershed(image, seg.WatershedRecipe.from_flat({**PARAMS["many_objects.png"], **query})).count
    assert objects == 70_225
    assert metrics(at)["Objects"] == f"{objects:,}"
    buttons = _download_labels(at)
    assert PNG_BUTTON not in buttons and "Labels TIFF" in buttons, buttons
    notes = [i.value for i in at.info if PNG_SENTENCE in i.value]
    assert len(notes) == 1 and f"{objects:,} objects" in notes[0] and "Labels TIFF" in notes[0], notes
    labels = decode(media.download(at, "Labels TIFF"))
    assert labels.shape == image.shape and int(labels.max()) == objects
    assert np.array_equal(decode(media.download(at, "Mask PNG")) > 0, labels > 0)
    assert decode(media.download(at, "Overlay PNG")).shape == (*image.shape, 3)


@pytest.mark.parametrize("page", ["threshold", "watershed"])
def test_every_download_of_a_nan_image_works(page, media):
    at = open_with(page, "nan_half.tif", {"tab": "Export"})
    assert_uploaded(at, "nan_half.tif")
    image = image_of("nan_half.tif")
    buttons = _download_labels(at)
    assert buttons == ["Mask PNG", PNG_BUTTON, "Labels TIFF", "Overlay PNG", "Measurements CSV", "Recipe JSON",
                       "Python script"]
    if page == "threshold":
        mask = seg.threshold(image, seg.ThresholdRecipe()).mask
        objects = objects_in(mask)
    else:
        labels = seg.watershed(image, seg.WatershedRecipe()).labels
        mask, objects = labels > 0, int(labels.max())
    assert np.array_equal(decode(media.download(at, "Mask PNG")) > 0, mask)
    assert int(decode(media.download(at, PNG_BUTTON)).max()) == objects
    assert int(decode(media.download(at, "Labels TIFF")).max()) == objects
    assert decode(media.download(at, "Overlay PNG")).shape == (*image.shape, 3)
    csv = media.download(at, "Measurements CSV").decode()
    recipe_json = media.download(at, "Recipe JSON").decode()  # the comment line names it, then header and rows
    assert len(measurement_lines(csv, recipe_json, page)) == 1 + objects


# --- a fault that is not the visitor's still never shows the error screen --------------------------
def test_an_unexpected_library_fault_is_a_plain_message(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("simulated fault")

    monkeypatch.setattr(seg, "boundary_overlay", broken)
    # An image no earlier test has shown, so no cached view hides the fault.
    image = np.random.default_rng(12345).integers(0, 255, (40, 60), dtype=np.uint8)
    at = upload(app("threshold").run(), "fault.png", rd.png_bytes(image))
    assert exceptions(at) == []
    assert any("RuntimeError" in e.value and "simulated fault" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert metrics(at)["Objects"]  # the numbers above the views are still there
