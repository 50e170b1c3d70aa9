"""The Compare page in a real browser: a watershed recipe next to two thresholding methods, scored object by
object against an uploaded label image, with the error overlay, and each column opening on its own page."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import cv2
import numpy as np
import pytest

import segmentation as seg

from .conftest import assert_no_exception, screenshot, wait_idle

pytestmark = pytest.mark.timeout(300)

REPO = Path(__file__).resolve().parents[2]
MAIN_IMAGES = "[data-testid=stMain] [data-testid=stImage] img"
WATERSHED = "watershed seeds=h_maxima h=2"


def _sidebar_text(page) -> str:
    return page.get_by_test_id("stSidebar").inner_text()


def _view_captions(page) -> list[str]:
    """The captions under the grid's views ("Otsu — 78 objects, 2 ms, t = 956"), in order."""
    texts = page.locator("[data-testid=stMain] [data-testid=stCaptionContainer]").all_inner_texts()
    return [t for t in texts if re.search(r" — [\d,]+ objects?", t)]


def test_watershed_next_to_two_thresholds_scored_against_uploaded_labels(server, page):
    query = urlencode([("sample", "nuclei"), ("methods", "otsu"), ("methods", "li"), ("recipes", WATERSHED)])
    page.goto(f"{server.base_url}/compare?{query}")
    wait_idle(page)
    assert page.get_by_role("heading", name="Compare", level=1).is_visible()
    captions = _view_captions(page)
    assert len(captions) == 3, captions
    assert captions[0].startswith("Otsu — ") and captions[1].startswith("Li (minimum cross-entropy) — ")
    assert captions[2].startswith("Watershed · seeds=h_maxima h=2 — "), captions
    image = seg.load_sample("nuclei")
    count = seg.watershed(image, seg.WatershedRecipe.from_flat({"h": "2"})).count
    assert f"— {count:,} objects" in captions[2], captions  # nuclei is 768 px: the preview is full size
    assert parse_qs(urlsplit(page.url).query)["recipes"] == [WATERSHED]

    # A square image gets three views a row; Enlarge shows one column's views in a large dialog.
    boxes = [page.locator(MAIN_IMAGES).nth(i).bounding_box() for i in range(3)]
    assert boxes[0]["y"] == boxes[1]["y"] == boxes[2]["y"] and boxes[0]["width"] > 200, boxes
    page.get_by_role("button", name="Enlarge").nth(2).click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=30_000)
    assert "Watershed · seeds=h_maxima h=2" in dialog.inner_text()
    assert dialog.locator("img").first.bounding_box()["width"] > 2 * boxes[2]["width"]
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden", timeout=30_000)
    wait_idle(page)

    # The truth: the sample's 16-bit instance label image.
    truth = page.get_by_test_id("stExpander").filter(has_text="Ground truth")
    truth.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(REPO / "samples" / "nuclei_labels.tif")
    wait_idle(page)
    assert "nuclei_labels.tif: instance labels, 100 objects" in _sidebar_text(page)
    assert page.get_by_role("heading", name="Object scores against the truth").is_visible()
    scores = {c: seg.score_objects(seg.sample_ground_truth("nuclei"), objects) for c, objects in (
        ("Otsu", seg.threshold(image, "otsu").mask), ("Li (minimum cross-entropy)", seg.threshold(image, "li").mask),
        ("Watershed · seeds=h_maxima h=2", seg.watershed(image, seg.WatershedRecipe(h=2)).labels))}
    best = max(scores, key=lambda c: scores[c].f1[0])
    main = page.get_by_test_id("stMain").inner_text()
    assert f"Best F1 at IoU 0.5: {best}" in main, main[-2000:]
    assert "preview estimates" not in main and "≈" not in main  # the whole image: final scores

    # The error overlay of the best recipe, with its legend counts, in the Okabe-Ito colours.
    legend = page.locator("[data-error]")
    assert legend.count() == 5
    s = scores[best]
    counts = {k: legend.nth(i).inner_text() for i, k in enumerate(("matched", "missed", "false", "merge", "split"))}
    assert counts["missed"].endswith(f": {len(s.missed_ids)}") and counts["merge"].endswith(f": {s.merges}"), counts
    overlay = page.locator(MAIN_IMAGES).last
    assert "Errors of" in page.locator("[data-testid=stMain] [data-testid=stCaptionContainer]").last.inner_text()
    data = page.request.get(overlay.get_attribute("src")).body()
    pixels = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert pixels.shape[:2] == image.shape
    green = np.abs(pixels.astype(int) - seg.SCORE_COLORS["matched"]).sum(axis=2) < 60
    assert green.sum() > 100, "matched objects are outlined in green"
    assert_no_exception(page)
    screenshot(page, "compare-scored")

    # "Open in Watershed" opens the watershed page with that recipe and the sample.
    page.get_by_role("link", name="Open in Watershed").click()
    page.wait_for_url(re.compile(r".*/watershed\?.*"))
    wait_idle(page)
    assert page.get_by_role("heading", name="Watershed", level=1).is_visible()
    opened = parse_qs(urlsplit(page.url).query)
    assert opened.get("sample") == ["nuclei"] and opened.get("h") == ["2"], page.url
    values = page.get_by_test_id("stMetricValue").all_inner_texts()
    labels = page.get_by_test_id("stMetricLabel").all_inner_texts()
    assert dict(zip(labels, values))["Objects"] == f"{count:,}"
    assert_no_exception(page)


def test_a_tall_image_gets_views_that_fit_on_screen(server, page, tmp_path):
    # 3072×300: four strips of the nuclei sample one above the other (an image ten times taller than wide).
    nuclei = seg.load_sample("nuclei")
    tall = np.vstack([nuclei[:, i * 150:i * 150 + 300] for i in range(4)])
    path = tmp_path / "tall.png"
    cv2.imwrite(str(path), tall)
    query = urlencode([("sample", "nuclei"), ("methods", "otsu"), ("methods", "li"), ("recipes", WATERSHED)])
    page.goto(f"{server.base_url}/compare?{query}")
    wait_idle(page)
    page.get_by_test_id("stSidebar").get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(path)
    wait_idle(page)
    assert "tall.png — 300×3072 px" in page.get_by_test_id("stMain").inner_text()
    boxes = [page.locator(MAIN_IMAGES).nth(i).bounding_box() for i in range(3)]
    # At most 700 px high (the cap: 70 % of a 1000-px window) and as wide as the aspect ratio allows.
    for box in boxes:
        assert 690 <= box["height"] <= 701 and box["width"] == pytest.approx(box["height"] * 300 / 3072, abs=2), boxes
    assert boxes[0]["y"] == boxes[1]["y"] == boxes[2]["y"], boxes  # one row
    page.get_by_role("button", name="Enlarge").first.click()
    dialog = page.get_by_role("dialog")
    dialog.wait_for(timeout=30_000)
    for image in dialog.locator("img").all():
        assert image.bounding_box()["height"] <= 701
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden", timeout=30_000)
    assert_no_exception(page)
    screenshot(page, "compare-tall")


def _open_in_thresholding(server, page, sample: str) -> dict[str, str]:
    query = urlencode([("sample", sample), ("methods", "sauvola"), ("sauvola.window", "31")])
    page.goto(f"{server.base_url}/compare?{query}")
    wait_idle(page)
    page.get_by_role("link", name="Open in Thresholding").click()
    page.wait_for_url(re.compile(r".*/\?.*window=31.*"))
    wait_idle(page)
    assert page.get_by_role("heading", name="Thresholding", level=1).is_visible()
    assert_no_exception(page)
    return dict(zip(page.get_by_test_id("stMetricLabel").all_inner_texts(),
                    page.get_by_test_id("stMetricValue").all_inner_texts()))


def test_open_in_thresholding_keeps_a_methods_own_parameters(server, page):
    shown = _open_in_thresholding(server, page, "camera")
    opened = parse_qs(urlsplit(page.url).query)
    assert opened.get("method") == ["sauvola"] and opened.get("window") == ["31"], page.url
    result = seg.threshold(seg.load_sample("camera"), seg.ThresholdRecipe(method="sauvola", window=31))
    assert shown["Method"] == "Sauvola" and shown["Foreground"] == f"{result.foreground_fraction:.1%}", shown


def test_open_in_thresholding_keeps_a_non_default_sample(server, page):
    shown = _open_in_thresholding(server, page, "page")
    assert parse_qs(urlsplit(page.url).query).get("sample") == ["page"], page.url
    recipe = seg.ThresholdRecipe.from_flat({**seg.SAMPLES["page"].recipe, "window": "31", "k": "0.2"})
    result = seg.threshold(seg.load_sample("page"), recipe)
    assert shown["Method"] == "Sauvola" and shown["Foreground"] == f"{result.foreground_fraction:.1%}", shown


def test_sidebar_link_to_the_entry_page_keeps_the_sample(server, page):
    # The entry page (app.py) is where a page link's sample used to be lost: Streamlit drops, on a page switch,
    # the parameters bound to the page being left, and the sample box is bound on every page.
    page.goto(f"{server.base_url}/watershed?sample=page")
    wait_idle(page)
    page.get_by_test_id("stSidebar").get_by_role("link", name="Thresholding").click()
    page.wait_for_function("() => document.querySelector('h1') && document.querySelector('h1').innerText"
                           " === 'Thresholding'", timeout=30_000)
    wait_idle(page)
    assert parse_qs(urlsplit(page.url).query).get("sample") == ["page"], page.url
    assert seg.SAMPLES["page"].filename in page.get_by_test_id("stMain").inner_text()
    assert_no_exception(page)


def test_tuning_shows_progress_and_stops_keeping_the_best_so_far(server, page):
    query = urlencode([("sample", "nuclei"), ("methods", "otsu")])
    page.goto(f"{server.base_url}/compare?{query}")
    wait_idle(page)
    # A recipe typed in becomes a column and goes into the address bar (the share link).
    typed = page.get_by_role("textbox", name="Add a recipe (text or a page's link)")
    typed.fill("watershed")
    typed.press("Enter")
    wait_idle(page)
    assert parse_qs(urlsplit(page.url).query).get("recipes") == ["watershed"], page.url
    assert _view_captions(page)[1].startswith("Watershed · defaults — ")
    truth = page.get_by_test_id("stExpander").filter(has_text="Ground truth")
    truth.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(REPO / "samples" / "nuclei_labels.tif")
    wait_idle(page)
    budget = page.get_by_role("spinbutton", name="Evaluations")
    budget.fill("200")
    budget.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="Tune").click()
    page.get_by_test_id("stProgress").wait_for(timeout=30_000)
    page.wait_for_function("() => /[1-9]\\d* of 200 recipes/.test(document.body.innerText)", timeout=60_000)
    page.get_by_role("button", name="Stop").click()
    wait_idle(page)
    main = page.get_by_test_id("stMain").inner_text()
    found = re.search(r"(\d+) of 200 evaluations \(stopped\)\. Best: evaluation (\d+), F1@0\.5 ([\d.]+)", main)
    assert found, main[-1500:]
    assert 1 <= int(found.group(1)) < 200
    assert page.get_by_role("link", name="Open the best recipe in Watershed").is_visible()
    assert not page.get_by_role("button", name="Stop").count()
    assert_no_exception(page)
    screenshot(page, "compare-tune-stopped")


def _upload_png(page, path) -> None:
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="upload your own")
    uploader.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(path))
    page.wait_for_function(
        "(name) => { const c = document.querySelector('[data-testid=stMain] [data-testid=stCaptionContainer]');"
        " return c && c.innerText.startsWith(name + ' '); }", arg=path.name, timeout=60_000, polling=100)
    wait_idle(page)


def _address(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.evaluate("location.href")).query)


@pytest.mark.parametrize("start", ["link", "bare"])
def test_back_from_open_in_on_an_upload_restores_the_compare_columns(server, page, tmp_path, start):
    """An upload's "Open in Thresholding" is a button (a page switch); Back brings Compare's columns back, as the
    page left them (the address had become ``/compare?v=3`` and the columns the defaults)."""
    file = tmp_path / "coins_upload.png"
    file.write_bytes(seg.encode_png(seg.load_sample("coins")))
    if start == "link":
        page.goto(f"{server.base_url}/compare?" + urlencode([("v", "3"), ("methods", "otsu"), ("recipes", WATERSHED)]))
    else:
        page.goto(f"{server.base_url}/compare")
    wait_idle(page)
    _upload_png(page, file)
    if start == "bare":
        methods = page.get_by_test_id("stSidebar").get_by_test_id("stMultiSelect").first
        methods.get_by_role("button", name=re.compile("Remove Li")).click()
        wait_idle(page)
        assert _address(page).get("methods") == ["otsu", "triangle", "sauvola"]
    before = [c.split(" — ")[0] for c in _view_captions(page)]
    wanted = _address(page)
    page.get_by_test_id("stMain").get_by_role("button", name="Open in Thresholding").first.click()
    page.wait_for_function("() => !location.pathname.includes('compare')", timeout=30_000)
    wait_idle(page)
    assert page.get_by_role("heading", name="Thresholding").count() >= 1
    page.go_back()
    page.wait_for_function("() => location.pathname.includes('compare')", timeout=30_000)
    wait_idle(page)
    assert [c.split(" — ")[0] for c in _view_captions(page)] == before
    assert _address(page).get("methods") == wanted.get("methods")
    assert _address(page).get("recipes") == wanted.get("recipes")
    assert_no_exception(page)


def test_the_automatic_views_per_row_stays_out_of_the_address(server, page, tmp_path):
    """"Views per row" on auto is the default: it is not written to the address, and never as its label
    ("auto (3 for this image)", which depends on the image) after a page switch and the sidebar's way back."""
    file = tmp_path / "coins_upload.png"
    file.write_bytes(seg.encode_png(seg.load_sample("coins")))
    page.goto(f"{server.base_url}/compare?" + urlencode([("v", "3"), ("methods", "otsu"), ("recipes", WATERSHED)]))
    wait_idle(page)
    _upload_png(page, file)
    page.get_by_test_id("stMain").get_by_role("button", name="Open in Thresholding").first.click()
    page.wait_for_function("() => !location.pathname.includes('compare')", timeout=30_000)
    wait_idle(page)
    page.get_by_test_id("stSidebar").get_by_role("link", name="Compare").click()
    page.wait_for_function("() => location.pathname.includes('compare')", timeout=30_000)
    wait_idle(page)
    address = _address(page)
    assert "per_row" not in address, address
    assert address.get("methods") == ["otsu"] and address.get("recipes") == [WATERSHED]
    assert_no_exception(page)
