"""The app in a real browser: a real ``streamlit run`` server driven by Chromium (Playwright, sync API).

The last tests are regressions for app bugs these tests found (labels instead of names in URLs, settings
leaking between pages and samples, sidebar sections closing on an upload error).
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urljoin, urlsplit

import cv2
import numpy as np
import pytest
from make_bad_inputs import build_corpus  # tests/ is on sys.path (pytest's rootdir-based import mode)

import segmentation as seg
from benchmarks.load_test import disc_image  # the repository root is put on sys.path by conftest.py
from segmentation import load_sample

from .conftest import assert_no_exception, new_context, new_page, screenshot, wait_idle

pytestmark = pytest.mark.timeout(300)

MAIN_IMAGES = "[data-testid=stMain] [data-testid=stImage] img"
MAIN_CAPTION = "[data-testid=stMain] [data-testid=stCaptionContainer]"


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def open_page(page, url: str) -> None:
    page.goto(url)
    wait_idle(page)


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def image_caption(page) -> str:
    """The line under the title: '<file> — <w>×<h> px, <depth> <colour>[ · notes]'."""
    return page.locator(MAIN_CAPTION).first.inner_text().strip()


def metrics(page) -> dict[str, str]:
    labels = page.get_by_test_id("stMetricLabel").all_inner_texts()
    values = page.get_by_test_id("stMetricValue").all_inner_texts()
    return {label.strip(): value.strip() for label, value in zip(labels, values)}


def main_images(page) -> list[dict]:
    return page.locator(MAIN_IMAGES).evaluate_all(
        "imgs => imgs.map(i => ({src: i.src, width: i.naturalWidth, height: i.naturalHeight, done: i.complete}))")


def mask_src(page) -> str:
    return page.locator(MAIN_IMAGES).nth(1).get_attribute("src")


def image_bytes(page, src: str) -> bytes:
    return page.request.get(src).body()


def sidebar_select(page, label: str, option: str) -> None:
    """Choose ``option`` in the sidebar selectbox labelled ``label``."""
    box = page.get_by_test_id("stSidebar").get_by_role("combobox", name=label, exact=True)
    for attempt in range(4):
        box.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=5000)
            break
        except Exception:  # noqa: BLE001 - the list closed (a rerun redrew the box) on a loaded machine: again
            if attempt == 3:
                raise
            page.keyboard.press("Escape")
            wait_idle(page)
    wait_idle(page)


def open_expander(page, title: str) -> None:
    expander = page.get_by_test_id("stSidebar").get_by_test_id("stExpander").filter(
        has=page.locator("summary").get_by_text(title, exact=True))
    details = expander.locator("details")
    if details.get_attribute("open") is None:
        expander.locator("summary").click()
        page.wait_for_timeout(200)


def slider(page, label: str):
    """The slider labelled ``label`` (an ``<input type=range>``; its accessible name repeats the label)."""
    return page.locator(f'input[type=range][aria-label="{label}"]')


def slider_value(page, label: str) -> float:
    """The value the slider shows (for select sliders, ``input.value`` is the option's index)."""
    return float(slider(page, label).get_attribute("aria-valuetext"))


def press_slider(page, label: str, key: str, times: int = 1) -> str:
    """Focus the slider, press ``key`` ``times`` times, wait until the app has rerun; return its new value."""
    slider_ = slider(page, label)
    before = slider_.get_attribute("aria-valuetext")
    slider_.focus()
    for _ in range(times):
        slider_.press(key)
    page.wait_for_function("([el, before]) => el.getAttribute('aria-valuetext') !== before",
                           arg=[slider_.element_handle(), before], timeout=10_000)
    wait_idle(page)
    return slider_.get_attribute("aria-valuetext")


# Every input widget's value, hidden ones (in closed expanders) included, keyed by its label.
WIDGETS_JS = """() => {
  const out = {};
  const label = el => {
    const w = el.closest('[data-testid]:is(.stSelectbox,.stSlider,.stCheckbox,.stNumberInput,.stTextInput,'
                         + '.stRadio,.stMultiSelect,.stSelectSlider,.stColorPicker,.stToggle)')
           || el.closest('[data-testid^=st]');
    const l = w && w.querySelector('[data-testid=stWidgetLabel]');
    return (el.getAttribute('aria-label') || (l && l.innerText) || (w && w.innerText) || '?').trim();
  };
  const root = document;
  for (const el of root.querySelectorAll('input[role=combobox]')) out['select: ' + label(el)] = el.value;
  for (const el of root.querySelectorAll('input[type=range]'))
    out['slider: ' + label(el)] = el.getAttribute('aria-valuetext');
  for (const el of root.querySelectorAll('input[type=checkbox]')) {
    const w = el.closest('[data-testid=stCheckbox]') || el.closest('label');
    out['check: ' + ((w && w.innerText) || label(el)).trim()] = el.checked;
  }
  for (const el of root.querySelectorAll('input[type=number]')) out['number: ' + label(el)] = el.value;
  for (const el of root.querySelectorAll('[data-testid=stTextInput] input')) out['text: ' + label(el)] = el.value;
  for (const el of root.querySelectorAll('[data-testid=stRadio] input[type=radio]:checked'))
    out['radio: ' + label(el)] = el.value;
  const tab = root.querySelector('[role=tab][aria-selected=true]');
  if (tab) out['tab'] = tab.innerText.trim();
  return out;
}"""


def view_state(page) -> dict:
    """What a person sees: the image line, every widget value and the metrics (except the timing)."""
    shown = {k: v for k, v in metrics(page).items() if k != "Time"}
    return {"caption": image_caption(page), "widgets": page.evaluate(WIDGETS_JS), "metrics": shown}


def path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def wait_for_upload_outcome(page, name: str, timeout_ms: int = 60_000) -> str:
    """Wait until the app either shows ``name`` or an error box about it; return 'load' or 'error'."""
    handle = page.wait_for_function(
        """(name) => {
             const cap = document.querySelector('[data-testid=stMain] [data-testid=stCaptionContainer]');
             if (cap && cap.innerText.startsWith(name + ' ')) return 'load';
             for (const box of document.querySelectorAll('[data-testid=stAlertContentError]'))
               if (box.innerText.includes(name + ':')) return 'error';
             return false;
           }""", arg=name, timeout=timeout_ms, polling=100)
    wait_idle(page)
    return handle.json_value()


DEPTH = {"uint8": "8-bit", "uint16": "16-bit", "float32": "32-bit float"}


def expected_caption(case) -> str:
    colour = "RGB" if case.channels == 3 else "grayscale"
    return f"{case.name} — {case.width}×{case.height} px, {DEPTH[case.dtype]} {colour}"


# ---------------------------------------------------------------------------------------------
# First page
# ---------------------------------------------------------------------------------------------
def test_first_page_shows_segmented_sample(server, page):
    open_page(page, server.base_url + "/")
    assert page.get_by_role("heading", name="Thresholding", level=1).is_visible()
    assert image_caption(page).startswith("camera.png — 512×512 px, 8-bit grayscale")

    images = main_images(page)
    assert len(images) == 3, images
    assert all(i["done"] and i["width"] > 0 and i["height"] > 0 for i in images), images
    assert len({i["src"] for i in images}) == 3, "original, mask and overlay must be three different images"
    assert page.locator(MAIN_IMAGES).nth(1).is_visible()
    captions = page.get_by_test_id("stImageCaption").all_inner_texts()
    assert captions[:3] == ["Original", "Mask (dark objects)", "Boundaries on the original"], captions

    shown = metrics(page)
    assert list(shown) == ["Method", "Threshold", "Foreground", "Objects", "Time"], shown
    assert page.get_by_test_id("stMetric").first.is_visible()
    assert shown["Method"] == "Otsu"
    assert re.fullmatch(r"\d+(\.\d+)?", shown["Threshold"]), shown
    assert re.fullmatch(r"\d+(\.\d)?%", shown["Foreground"]), shown
    assert re.fullmatch(r"[\d,]+", shown["Objects"]) and int(shown["Objects"].replace(",", "")) > 0, shown
    assert page.get_by_test_id("stFileUploader").is_visible()  # nothing to upload before seeing a result
    assert_no_exception(page)
    screenshot(page, "first-page")


# ---------------------------------------------------------------------------------------------
# Upload
# ---------------------------------------------------------------------------------------------
def test_upload_replaces_the_image(server, page, tmp_path):
    from skimage import data

    path = tmp_path / "my_coins.png"
    assert cv2.imwrite(str(path), data.coins())
    open_page(page, server.base_url + "/")
    before_src = mask_src(page)
    before_bytes = image_bytes(page, before_src)

    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path)
    assert wait_for_upload_outcome(page, path.name) == "load"

    assert image_caption(page).startswith("my_coins.png — 384×303 px, 8-bit grayscale")
    assert "Showing your upload my_coins.png" in page.get_by_test_id("stSidebar").inner_text()
    after_src = mask_src(page)
    assert after_src != before_src
    after_bytes = image_bytes(page, after_src)
    assert after_bytes != before_bytes
    mask = cv2.imdecode(np.frombuffer(after_bytes, np.uint8), cv2.IMREAD_UNCHANGED)
    assert mask.shape[:2] == (303, 384), "the mask shown is the uploaded image's"
    images = main_images(page)
    assert len(images) == 3 and all(i["width"] > 0 for i in images), images
    assert int(metrics(page)["Objects"].replace(",", "")) > 0
    assert not page.get_by_test_id("stAlertContentError").count()
    assert_no_exception(page)
    screenshot(page, "after-upload")


# ---------------------------------------------------------------------------------------------
# Sliders: the result and the address bar follow
# ---------------------------------------------------------------------------------------------
def test_slider_changes_mask_and_address_bar(server, page):
    open_page(page, server.base_url + "/")
    sidebar_select(page, "Method", "Manual value")  # the box shows names; the URL holds the recipe's
    assert metrics(page)["Method"] == "Manual value"
    assert query(page).get("method") == ["manual"], page.url  # the recipe's own name, as in the CLI

    before = mask_src(page)
    start = slider_value(page, "Threshold value")  # Otsu's threshold of the image
    expected = start + 3  # three steps of 1 (8-bit image)
    value = press_slider(page, "Threshold value", "ArrowRight", times=3)
    assert float(value) == expected
    page.wait_for_url(lambda url: "value" in parse_qs(urlsplit(url).query))
    assert float(query(page)["value"][0]) == expected
    assert mask_src(page) != before, "the mask must change when the threshold moves"
    assert float(metrics(page)["Threshold"]) == expected

    # A clean-up slider inside a closed expander.
    open_expander(page, "Clean-up")
    before = mask_src(page)
    assert press_slider(page, "Opening (px, 0 = off)", "ArrowRight", times=3) == "3"  # diameter 1 = no-op
    page.wait_for_url(re.compile(r"[?&]opening=3(&|$)"))
    assert mask_src(page) != before
    assert float(query(page)["value"][0]) == expected
    assert_no_exception(page)


# ---------------------------------------------------------------------------------------------
# Share links on a freshly started server
# ---------------------------------------------------------------------------------------------
def _reopen_on_fresh_server(browser, server_factory, shared_url: str):
    fresh = server_factory()
    context = new_context(browser)
    page = new_page(context)
    open_page(page, fresh.base_url + path_and_query(shared_url))  # the first request to this server
    return context, page


def test_share_link_thresholding_on_fresh_server(server, page, browser, server_factory):
    # A visitor arrives on the scanned-page sample (its suggested recipe: Sauvola with its window and k,
    # dark objects), then changes the method and two sliders. The open tab is not part of the link.
    open_page(page, server.base_url + "/?sample=page")
    assert metrics(page)["Method"] == "Sauvola"
    sidebar_select(page, "Method", "Niblack (local)")
    window = int(slider_value(page, "Window (px)"))
    k = slider_value(page, "k")
    press_slider(page, "Window (px)", "ArrowRight", times=2)  # odd sizes: steps of 2
    press_slider(page, "k", "ArrowLeft", times=3)  # steps of 0.01
    page.get_by_role("tab", name="Objects").click()
    wait_idle(page)
    params = query(page)
    assert params.get("sample") == ["page"] and params.get("method") == ["niblack"], page.url
    assert params.get("window") == [str(window + 4)], page.url
    assert float(params["k"][0]) == pytest.approx(k - 0.03), page.url
    assert "tab" not in params, page.url
    page.get_by_role("tab", name="Histogram").click()  # the tab a link opens on
    wait_idle(page)
    original = view_state(page)
    assert original["caption"].startswith("page.png")
    assert original["metrics"]["Method"] == "Niblack"
    shared_url = page.url

    context, fresh = _reopen_on_fresh_server(browser, server_factory, shared_url)
    try:
        reopened = view_state(fresh)
        assert reopened == original
        assert query(fresh) == params, "the reopened page keeps the link's parameters"
        assert_no_exception(fresh)
        screenshot(fresh, "share-link-thresholding-fresh-server")
    finally:
        context.close()
    assert_no_exception(page)


def test_share_link_watershed_deep_link_on_fresh_server(server, page, browser, server_factory):
    open_page(page, server.base_url + "/watershed")
    assert page.get_by_role("heading", name="Watershed", level=1).is_visible()
    sidebar_select(page, "Method", "Li (minimum cross-entropy)")
    h = slider_value(page, "h (px)")
    press_slider(page, "h (px)", "ArrowRight", times=2)  # steps of 0.05
    page.get_by_role("tab", name="Objects").click()  # the watershed page opens on the Histogram tab
    wait_idle(page)
    page.get_by_text("Show the intermediate stages").click()
    wait_idle(page)
    params = query(page)
    assert urlsplit(page.url).path == "/watershed"
    assert float(params["h"][0]) == pytest.approx(h + 0.1), page.url
    assert "tab" not in params and params.get("stages") == ["true"], page.url  # the open tab is not shared
    page.get_by_role("tab", name="Histogram").click()  # the tab a link opens on
    wait_idle(page)
    original = view_state(page)
    assert original["caption"].startswith("coins.png")
    images_before = len(main_images(page))
    shared_url = page.url

    context, fresh = _reopen_on_fresh_server(browser, server_factory, shared_url)
    try:
        assert fresh.get_by_role("heading", name="Watershed", level=1).is_visible()
        reopened = view_state(fresh)
        assert reopened == original
        assert query(fresh) == params
        # The shared sidebar (navigation, image source) is there: the page ran its full setup.
        assert fresh.get_by_test_id("stPageLink").count() == 4  # Thresholding, Watershed, Compare, Batch
        assert len(main_images(fresh)) == images_before
        assert_no_exception(fresh)
        screenshot(fresh, "share-link-watershed-fresh-server")
    finally:
        context.close()


# ---------------------------------------------------------------------------------------------
# Hostile uploads
# ---------------------------------------------------------------------------------------------
def test_hostile_corpus_uploads(server, page, tmp_path):
    cases = build_corpus(tmp_path / "corpus")
    open_page(page, server.base_url + "/")
    shown_name, thickness_key = "camera.png", "ArrowRight"
    problems = []
    for case in cases:
        page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(tmp_path / "corpus" / case.name)
        outcome = wait_for_upload_outcome(page, case.name)
        caption = image_caption(page)
        images = main_images(page)
        if page.get_by_test_id("stException").count():
            problems.append(f"{case.name}: exception box")
        if len(images) != 3 or not all(i["width"] > 0 for i in images):
            problems.append(f"{case.name}: images not shown: {images}")
        if outcome != case.expect:
            problems.append(f"{case.name}: expected {case.expect}, got {outcome} (caption {caption!r})")
            continue
        if outcome == "load":
            if not caption.startswith(expected_caption(case)):
                problems.append(f"{case.name}: caption {caption!r}, expected {expected_caption(case)!r}")
            missing = [w for w in case.words if w not in caption]
            if missing:
                problems.append(f"{case.name}: notes {missing} not shown in {caption!r}")
            shown_name = case.name
        else:
            message = page.get_by_test_id("stAlertContentError").filter(has_text=case.name + ":").inner_text()
            missing = [w for w in case.words if w not in message]
            if missing:
                problems.append(f"{case.name}: error box {message!r} lacks {missing}")
            if not caption.startswith(shown_name + " "):
                problems.append(f"{case.name}: after the error the previous image {shown_name} is not shown: "
                                f"{caption!r}")
            # A widget still works after the error: the overlay follows the outline thickness.
            overlay_before = page.locator(MAIN_IMAGES).nth(2).get_attribute("src")
            open_expander(page, "Display")  # the error box above it re-creates (closes) the expander
            press_slider(page, "Outline thickness (px)", thickness_key)
            thickness_key = "ArrowLeft" if thickness_key == "ArrowRight" else "ArrowRight"
            if page.locator(MAIN_IMAGES).nth(2).get_attribute("src") == overlay_before:
                problems.append(f"{case.name}: the overlay did not follow the thickness slider after the error")
            if not image_caption(page).startswith(shown_name + " "):
                problems.append(f"{case.name}: the image changed when a slider moved after the error")
    screenshot(page, "hostile-corpus-last")
    assert not problems, "\n".join(problems)
    assert_no_exception(page)


# ---------------------------------------------------------------------------------------------
# Every page and tab, with a sample and with an upload
# ---------------------------------------------------------------------------------------------
def test_no_exception_on_any_page_or_tab(server, page, tmp_path):
    for path, title in (("/", "Thresholding"), ("/watershed", "Watershed"), ("/compare", "Compare")):
        open_page(page, server.base_url + path)
        assert page.get_by_role("heading", name=title, level=1).is_visible()
        tabs = page.get_by_role("tab")
        for index in range(tabs.count()):
            tabs.nth(index).click()
            wait_idle(page)
            assert_no_exception(page)
        screenshot(page, f"page-{title.lower()}")

    # An upload on one page is the image of every page (kept in the session, not in the widget).
    path = tmp_path / "blobs.png"
    assert cv2.imwrite(str(path), disc_image(5))
    open_page(page, server.base_url + "/")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path)
    assert wait_for_upload_outcome(page, path.name) == "load"
    assert metrics(page)["Objects"] == "5"
    for title in ("Watershed", "Compare", "Thresholding"):
        page.get_by_test_id("stSidebar").get_by_role("link", name=title).click()
        wait_idle(page)
        assert page.get_by_role("heading", name=title, level=1).is_visible()
        assert image_caption(page).startswith("blobs.png — 640×480 px"), (title, image_caption(page))
        assert_no_exception(page)
    assert metrics(page)["Objects"] == "5"


# ---------------------------------------------------------------------------------------------
# Links and page switches (regression tests for bugs found by this suite and fixed in 8ff1a6c)
# ---------------------------------------------------------------------------------------------
def test_sidebar_link_in_new_tab_keeps_the_sample(server, page, browser):
    """The sidebar links carry ?sample=<name>; opened in a new tab (a new session) they keep the sample."""
    open_page(page, server.base_url + "/")
    sidebar_select(page, "Sample image", "page")
    href = page.get_by_test_id("stSidebar").get_by_role("link", name="Watershed").get_attribute("href")
    context = new_context(browser)
    try:
        tab = new_page(context)
        open_page(tab, urljoin(page.url, href))
        assert image_caption(tab).startswith("page.png")
    finally:
        context.close()


def test_link_written_with_recipe_names_opens_that_recipe(server, page):
    """URLs hold the recipe's own names (as the CLI and recipe JSON), not the widgets' display labels."""
    open_page(page, server.base_url + "/?sample=page&method=niblack&window=61")
    assert image_caption(page).startswith("page.png")
    assert metrics(page)["Method"] == "Niblack"
    assert slider(page, "Window (px)").get_attribute("aria-valuetext") == "61"
    # A link without a version was written before versions were (version 2, one plane of a z-stack): the page
    # writes that meaning and the current version into the address; a link of this version stays as it is.
    assert query(page) == {"sample": ["page"], "method": ["niblack"], "window": ["61"], "projection": ["none"],
                           "v": [str(seg.RECIPE_VERSION)]}, page.url
    open_page(page, server.base_url + f"/?sample=page&method=niblack&window=61&v={seg.RECIPE_VERSION}")
    assert metrics(page)["Method"] == "Niblack"
    assert query(page) == {"sample": ["page"], "method": ["niblack"], "window": ["61"],
                           "v": [str(seg.RECIPE_VERSION)]}, page.url


def test_switching_to_watershed_uses_the_watershed_defaults(server, page, browser):
    """Following the sidebar link after changing something on Thresholding gives the Watershed page its own
    defaults (both pages use the same widget keys with different defaults)."""
    context = new_context(browser)
    try:
        direct = new_page(context)
        open_page(direct, server.base_url + "/watershed")
        expected = view_state(direct)
    finally:
        context.close()

    open_page(page, server.base_url + "/")
    sidebar_select(page, "Sample image", "coins")
    page.get_by_test_id("stSidebar").get_by_role("link", name="Watershed").click()
    wait_idle(page)
    assert page.get_by_role("heading", name="Watershed", level=1).is_visible()
    assert metrics(page)["Objects"] == expected["metrics"]["Objects"]
    assert view_state(page)["widgets"] == expected["widgets"]


# ---------------------------------------------------------------------------------------------
# Regressions: a link made after switching samples, and sidebar sections around upload errors
# ---------------------------------------------------------------------------------------------
def test_share_link_after_switching_sample_reproduces_the_view(server, page, browser):
    open_page(page, server.base_url + "/")
    sidebar_select(page, "Sample image", "page")
    original = view_state(page)
    context = new_context(browser)
    try:
        other = new_page(context)
        open_page(other, page.url)
        assert view_state(other) == original
    finally:
        context.close()


def test_upload_error_keeps_open_sidebar_sections_open(server, page, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"Shopping list\n- agar plates\n")
    open_page(page, server.base_url + "/")
    open_expander(page, "Display")
    open_expander(page, "Clean-up")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(bad)
    assert wait_for_upload_outcome(page, bad.name) == "error"
    opened = page.locator("[data-testid=stSidebar] details").evaluate_all(
        "ds => ds.filter(d => d.open).map(d => d.querySelector('summary').innerText.trim())")
    assert any("Display" in t for t in opened) and any("Clean-up" in t for t in opened), opened


def test_clicking_the_image_places_watershed_seeds(server, page):
    """Seeds placed by clicking: each click on a coin adds a point to the URL and grows one object."""

    open_page(page, server.base_url + "/watershed?sample=coins&seeds=points")
    assert metrics(page)["Objects"] == "0"
    frame = page.locator("iframe").first  # the click-to-seed image (streamlit-image-coordinates)
    box = frame.bounding_box()
    coins = seg.watershed(load_sample("coins"))  # the default recipe's coins give us points inside coins
    height, width = coins.labels.shape
    centres = [np.argwhere(coins.labels == label).mean(axis=0) for label in (1, 5)]
    for clicks, (row, col) in enumerate(centres, start=1):
        page.mouse.click(box["x"] + box["width"] * (col + 0.5) / width, box["y"] + box["height"] * (row + 0.5) / height)
        page.wait_for_function("(clicks) => new URL(location.href).searchParams.get('points')?.split(';').length"
                               " === clicks", arg=clicks)
        wait_idle(page)
        assert metrics(page)["Objects"] == str(clicks)
    points = seg.WatershedRecipe.from_flat({"points": query(page)["points"][0]}).points
    for (row, col), (true_row, true_col) in zip(points, centres):
        assert abs(row - true_row) <= 3 and abs(col - true_col) <= 3
    assert_no_exception(page)
