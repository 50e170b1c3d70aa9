"""Data as it really comes, uploaded through the file uploader of a real ``streamlit run`` server (Chromium).

Float TIFFs with NaN "no data" areas, a 16-bit PNG with three grey levels, more objects than a 16-bit PNG
holds and a 2-channel 16-bit TIFF: the error screen never appears, a result image shows, and the numbers
shown are the ones the library returns for that file (computed here with ``segmentation``, never
hard-coded, so the tests stay right while the library's handling of such data changes).
"""

from __future__ import annotations

import io
from urllib.parse import urlencode

import cv2
import numpy as np
import pytest
import real_data_inputs as rd  # tests/ is on sys.path (pytest's rootdir-based import mode)
import tifffile

import segmentation as seg

from .conftest import assert_no_exception, screenshot, start_server, wait_idle

pytestmark = pytest.mark.timeout(300)

MAIN_IMAGES = "[data-testid=stMain] [data-testid=stImage] img"
MAIN_CAPTION = "[data-testid=stMain] [data-testid=stCaptionContainer]"
ERROR_SCREEN = "This app has encountered an error"
PNG_SENTENCE = "16-bit PNG holds at most 65,535"

#: The files a visitor uploads: name -> bytes.
FILES: dict[str, bytes] = {
    "nan_half.tif": rd.tiff_bytes(rd.nan_half()),
    "nan_stripe_dark.tif": rd.tiff_bytes(rd.nan_stripe_dark()),
    "few_levels.png": rd.png_bytes(rd.few_levels_uint16()),
    "many_objects.png": rd.png_bytes(rd.many_objects()),
    "two_channel_uint16.tif": rd.gray_with_unspecified_extra(np.uint16)[1],
}
#: Parameters each file is segmented with on the thresholding page (as a link gives them).
THRESHOLD_PARAMS: dict[str, dict[str, str]] = {
    "few_levels.png": {"method": "multiotsu", "classes": "3"},
}
#: The watershed's foreground without smoothing or clean-up: every 2×2 square of many_objects is an object.
PLAIN_FOREGROUND = {"smoothing": "none", "background_radius": "0", "closing": "0", "fill_holes": "false",
                    "min_size": "0"}


@pytest.fixture(scope="module")
def real_server(chromium_path):
    """One real server for this module (its log is watched for tracebacks like every test server's)."""
    srv = start_server("real-data")
    yield srv
    srv.stop()
    excerpt = srv.traceback()
    assert excerpt is None, f"the server logged a Traceback ({srv.log_path}):\n{excerpt}"


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def url(server, path: str, params: dict[str, str | list[str]] | None = None) -> str:
    query = urlencode(params or {}, doseq=True)
    return server.base_url + path + (f"?{query}" if query else "")


def upload(page, tmp_path, name: str) -> None:
    """Upload ``FILES[name]`` through the sidebar's file uploader and wait until the page shows it."""
    path = tmp_path / name
    path.write_bytes(FILES[name])
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="upload your own")  # not the ground truth's
    uploader.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path)
    page.wait_for_function(
        """(name) => {
             const cap = document.querySelector('[data-testid=stMain] [data-testid=stCaptionContainer]');
             if (cap && cap.innerText.startsWith(name + ' ')) return true;
             for (const box of document.querySelectorAll('[data-testid=stAlertContentError]'))
               if (box.innerText.includes(name + ':')) return true;
             return !!document.querySelector('[data-testid=stException]');
           }""", arg=name, timeout=60_000, polling=100)
    wait_idle(page)


def assert_no_error_screen(page) -> None:
    assert ERROR_SCREEN not in page.content()
    assert page.get_by_test_id("stException").count() == 0
    assert_no_exception(page)


def assert_result_shown(page, name: str, images: int) -> list[dict]:
    """The page shows ``name``, no error box, and ``images`` result images, all loaded."""
    assert_no_error_screen(page)
    caption = page.locator(MAIN_CAPTION).first.inner_text().strip()
    assert caption.startswith(f"{name} — "), caption
    errors = page.get_by_test_id("stAlertContentError").all_inner_texts()
    assert not errors, errors
    shown = page.locator(MAIN_IMAGES).evaluate_all(
        "imgs => imgs.map(i => ({src: i.src, width: i.naturalWidth, done: i.complete}))")
    assert len(shown) >= images and all(i["done"] and i["width"] > 0 for i in shown), shown
    return shown


def metrics(page) -> dict[str, str]:
    labels = page.get_by_test_id("stMetricLabel").all_inner_texts()
    values = page.get_by_test_id("stMetricValue").all_inner_texts()
    return {label.strip(): value.strip() for label, value in zip(labels, values)}


def decode_png(data: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB) if image.ndim == 3 else image


def download_labels(page) -> list[str]:
    return [t.strip() for t in page.get_by_test_id("stDownloadButton").all_inner_texts()]


def download(page, label: str) -> bytes:
    """Click the download button ``label`` and return the file the browser received."""
    with page.expect_download(timeout=60_000) as info:
        page.get_by_test_id("stDownloadButton").filter(has_text=label).get_by_role("button").click()
    return info.value.path().read_bytes()


# ---------------------------------------------------------------------------------------------
# Thresholding page: every file
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(FILES))
def test_thresholding_page_takes_the_upload(real_server, page, tmp_path, name):
    params = THRESHOLD_PARAMS.get(name, {})
    page.goto(url(real_server, "/", params))
    wait_idle(page)
    upload(page, tmp_path, name)
    screenshot(page, f"real-data-threshold-{name}")
    shown = assert_result_shown(page, name, images=3)

    expected = seg.threshold(seg.load_image(FILES[name]), seg.ThresholdRecipe.from_flat(params))
    values = metrics(page)
    assert values["Foreground"] == f"{expected.foreground_fraction:.1%}", values
    objects = int(cv2.connectedComponents(expected.mask.view(np.uint8), connectivity=8)[0]) - 1
    assert values["Objects"] == f"{objects:,}", values
    mask = decode_png(page.request.get(shown[1]["src"]).body())  # every file is smaller than the preview
    assert np.array_equal(mask, seg.mask_image(expected.mask))


def test_nan_half_says_how_many_pixels_are_not_finite(real_server, page, tmp_path):
    page.goto(url(real_server, "/"))
    wait_idle(page)
    upload(page, tmp_path, "nan_half.tif")
    assert_result_shown(page, "nan_half.tif", images=3)
    count = int(np.count_nonzero(~np.isfinite(seg.load_image(FILES["nan_half.tif"]))))
    text = page.get_by_test_id("stMain").inner_text()
    mentions = [line for line in text.splitlines() if f"{count:,}" in line or str(count) in line]
    assert len(mentions) == 1, text[:2000]  # said once (one line), not repeated by a note of the result


# ---------------------------------------------------------------------------------------------
# More objects than a 16-bit PNG holds: the Export tab says so and the TIFF downloads
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, params", [
    ("/", {"tab": "Export"}),
    ("/watershed", {"tab": "Export", **PLAIN_FOREGROUND}),
], ids=["threshold", "watershed"])
def test_many_objects_export_says_why_and_offers_the_tiff(real_server, page, tmp_path, path, params):
    page.goto(url(real_server, path, params))
    wait_idle(page)
    upload(page, tmp_path, "many_objects.png")
    screenshot(page, f"real-data-many-objects{path.replace('/', '-')}")
    assert_result_shown(page, "many_objects.png", images=3)

    image = seg.load_image(FILES["many_objects.png"])
    if path == "/":
        objects = int(seg.label_objects(seg.threshold(image).mask).max())
    else:
        objects = seg.watershed(image, seg.WatershedRecipe.from_flat(PLAIN_FOREGROUND)).count
    assert objects > 65_535
    assert metrics(page)["Objects"] == f"{objects:,}"
    message = page.get_by_test_id("stMain").get_by_text(PNG_SENTENCE)
    assert message.count() == 1 and message.is_visible()
    assert f"{objects:,} objects" in message.inner_text()
    buttons = download_labels(page)
    assert not any("Labels PNG" in b for b in buttons) and any("Labels TIFF" in b for b in buttons), buttons

    labels = tifffile.imread(io.BytesIO(download(page, "Labels TIFF")))
    assert labels.shape == image.shape and int(labels.max()) == objects
    assert_no_error_screen(page)


# ---------------------------------------------------------------------------------------------
# Watershed and Compare pages
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["nan_stripe_dark.tif", "two_channel_uint16.tif"])
def test_watershed_page_takes_the_upload(real_server, page, tmp_path, name):
    page.goto(url(real_server, "/watershed"))
    wait_idle(page)
    upload(page, tmp_path, name)
    screenshot(page, f"real-data-watershed-{name}")
    assert_result_shown(page, name, images=3)
    expected = seg.watershed(seg.load_image(FILES[name]))
    values = metrics(page)
    assert values["Objects"] == f"{expected.count:,}", values
    assert values["Foreground"] == f"{expected.threshold.foreground_fraction:.1%}", values


@pytest.mark.parametrize("name", ["nan_half.tif", "few_levels.png"])
def test_compare_page_takes_the_upload(real_server, page, tmp_path, name):
    page.goto(url(real_server, "/compare", {"methods": ["otsu", "li", "multiotsu"]}))
    wait_idle(page)
    upload(page, tmp_path, name)
    screenshot(page, f"real-data-compare-{name}")
    assert_no_error_screen(page)
    assert page.get_by_role("heading", name="Results").is_visible()
    image = seg.load_image(FILES[name])
    working = 0
    for method in ("otsu", "li", "multiotsu"):
        try:
            seg.threshold(image, seg.ThresholdRecipe(method=method))
            working += 1
        except ValueError:
            pass
    assert working, "the library gives no result for any method: nothing to compare"
    assert_result_shown(page, name, images=working)  # one overlay per method with a result


# ---------------------------------------------------------------------------------------------
# The manual threshold's slider follows a float upload with NaN pixels
# ---------------------------------------------------------------------------------------------
def test_manual_slider_moves_into_a_float_uploads_finite_range(real_server, page, tmp_path):
    page.goto(url(real_server, "/", {"method": "manual", "value": "150"}))  # an 8-bit value, set by hand
    wait_idle(page)
    value = page.locator('input[type=range][aria-label="Threshold value"]')
    assert float(value.get_attribute("aria-valuetext")) == 150
    upload(page, tmp_path, "nan_half.tif")
    assert_result_shown(page, "nan_half.tif", images=3)
    image = seg.load_image(FILES["nan_half.tif"])
    finite = image[np.isfinite(image)]
    shown = float(value.get_attribute("aria-valuetext"))
    assert finite.min() <= shown <= finite.max(), shown
    # It starts where it starts on any image: Otsu's threshold (to 4 decimals), computed by the library.
    start = round(seg.threshold(image, seg.ThresholdRecipe(method="otsu", polarity="bright")).thresholds[0], 4)
    assert shown == pytest.approx(start, rel=5e-4), (shown, start)
    expected = seg.threshold(image, seg.ThresholdRecipe(method="manual", value=start))
    assert metrics(page)["Foreground"] == f"{expected.foreground_fraction:.1%}"
