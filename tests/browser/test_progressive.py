"""The progressive answer in a real browser (#10): preview numbers first, then the full-resolution ones.

A 12-megapixel grayscale image (4000×3000, scikit-image's coins tiled, as the latency benchmark makes it) is
uploaded to the Watershed page. The live view is a 1024-px preview (26 %), so the page first shows the
preview's numbers marked "≈"; the full-resolution watershed runs in the server's background pool and a
fragment brings its numbers in. Then:

* the object count shown equals the library's full-resolution count (computed here with ``segmentation``)
  and the number of objects in the labels TIFF downloaded from the Export tab;
* the fragment has stopped polling: the script state stays ``notRunning`` for a few seconds.
"""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
import tifffile

import segmentation as seg
from benchmarks.common import make_image, write_image_file

from .conftest import assert_no_exception, screenshot, wait_idle

pytestmark = pytest.mark.timeout(600)

PREVIEW = "≈ "


def metrics(page) -> dict[str, str]:
    labels = page.get_by_test_id("stMetricLabel").all_inner_texts()
    values = page.get_by_test_id("stMetricValue").all_inner_texts()
    return {label.strip(): value.strip() for label, value in zip(labels, values)}


@pytest.fixture(scope="module")
def large_image(tmp_path_factory):
    image = make_image("gray", 4000, 3000)
    path = write_image_file(image, tmp_path_factory.mktemp("progressive") / "coins_12mp.png", "png")
    return image, path


def test_watershed_count_after_the_full_resolution_step_equals_the_exported_labels(server, page, large_image):
    image, path = large_image
    page.goto(server.base_url + "/watershed")
    wait_idle(page)
    page.get_by_test_id("stFileUploader").filter(has_text="upload your own") \
        .get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path)
    # The first numbers shown for the upload are the preview's, marked as estimates.
    page.wait_for_function(
        """(name) => {
             const cap = document.querySelector('[data-testid=stMain] [data-testid=stCaptionContainer]');
             const app = document.querySelector('[data-testid=stApp]');
             if (!cap || !cap.innerText.startsWith(name + ' ')) return false;
             const values = Array.from(document.querySelectorAll('[data-testid=stMetricValue]'));
             return values.some(v => v.innerText.trim().startsWith('≈'))
                    || app.getAttribute('data-test-script-state') === 'notRunning';
           }""", arg=path.name, timeout=120_000, polling=50)
    first = metrics(page)
    screenshot(page, "progressive-preview")
    assert first["Objects"].startswith(PREVIEW), first
    assert re.fullmatch(r"≈ [\d,]+", first["Objects"]), first
    assert page.get_by_text("computing at full resolution").count() >= 1

    # Then the full-resolution numbers replace them (the fragment polls every half second).
    page.wait_for_function(
        """() => {
             const values = Array.from(document.querySelectorAll('[data-testid=stMetricValue]'));
             return values.length >= 4 && !values.some(v => v.innerText.trim().startsWith('≈'));
           }""", timeout=300_000, polling=200)
    wait_idle(page)
    final = metrics(page)
    screenshot(page, "progressive-final")
    assert_no_exception(page)
    expected = seg.watershed(seg.load_image(path.read_bytes()))  # the default recipe at full resolution
    assert final["Objects"] == f"{expected.count:,}", (final, expected.count)
    assert final["Seeds"] == f"{int(expected.markers.max()):,}"
    assert final["Foreground"] == f"{expected.threshold.foreground_fraction:.1%}"

    # Polling has stopped: no rerun for three seconds.
    changes = page.evaluate("""() => new Promise(resolve => {
        const app = document.querySelector('[data-testid=stApp]');
        let n = 0;
        const observer = new MutationObserver(() => { n += 1; });
        observer.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
        setTimeout(() => { observer.disconnect(); resolve(n); }, 3000);
    })""")
    assert changes == 0, f"the page reran {changes} times after the full-resolution numbers were in"

    # The downloaded labels hold exactly that many objects.
    page.get_by_role("tab", name="Export").click()
    wait_idle(page)
    button = page.get_by_test_id("stDownloadButton").filter(has_text="Labels TIFF")
    button.first.wait_for(timeout=300_000)
    with page.expect_download(timeout=300_000) as info:
        button.first.get_by_role("button").click()
    labels = tifffile.imread(io.BytesIO(info.value.path().read_bytes()))
    assert labels.shape == image.shape
    assert int(labels.max()) == int(np.unique(labels[labels > 0]).size) == expected.count
    assert metrics(page)["Objects"] == f"{int(labels.max()):,}"
    assert_no_exception(page)


def test_a_stale_metric_from_the_previous_run_never_shows_its_number(server, page):
    """While a rerun runs, Streamlit leaves the previous run's elements on screen (``data-stale``): a stale metric
    shows "≈ …" instead of its number (after 0.3 s), a current one its own value (#10 review, finding 9)."""
    page.goto(server.base_url + "/watershed")
    wait_idle(page)
    container = page.locator("[data-testid=stElementContainer]").filter(
        has=page.get_by_test_id("stMetricValue")).first
    value = container.get_by_test_id("stMetricValue")
    style = """(el) => ({child: getComputedStyle(el.firstElementChild).visibility,
                         before: getComputedStyle(el, '::before').content,
                         shown: getComputedStyle(el, '::before').opacity})"""
    fresh = value.evaluate(style)
    assert fresh["child"] == "visible" and fresh["shown"] == "0", fresh
    container.evaluate("(el) => el.setAttribute('data-stale', 'true')")  # what Streamlit does during a rerun
    page.wait_for_timeout(600)
    stale = value.evaluate(style)
    assert stale["child"] == "hidden" and stale["before"] == '"≈ …"' and stale["shown"] == "1", stale
    container.evaluate("(el) => el.setAttribute('data-stale', 'false')")
    assert value.evaluate(style)["child"] == "visible"
    # The page's style sheet is in the document's head, once, however many reruns and page switches drew its
    # script again (a <style> among the page's elements made every rerun restyle the whole page: issue 15).
    page.get_by_test_id("stPageLink-NavLink").filter(has_text="Thresholding").click()
    wait_idle(page)
    page.get_by_test_id("stPageLink-NavLink").filter(has_text="Watershed").click()
    wait_idle(page)
    sheets = page.evaluate("""() => ({head: document.head.querySelectorAll('style#studio-style').length,
                                      body: [...document.body.querySelectorAll('style')].filter(
                                          (s) => s.textContent.includes('stMetricValue')).length})""")
    assert sheets == {"head": 1, "body": 0}, sheets


def test_a_new_upload_never_shows_the_samples_metrics_beside_its_own_nor_its_downloads(server, page, large_image,
                                                                                       tmp_path):
    """Issue 15's trial: with the Export tab open, a 12-MP upload after the coins sample showed three more metrics
    ("Foreground ≈ …", "Threshold ≈ …", "Time ≈ …") under the new row while the run waited for the full-resolution
    job, and the sample's download buttons stayed clickable: "Labels PNG" gave coins_labels.png (and, the second
    trial found, could still be reached with the keyboard while only the mouse was kept off)."""
    image, _ = large_image
    # An image this server has not segmented yet (the full-resolution result of the module's is cached).
    path = write_image_file(np.ascontiguousarray(image[::-1]), tmp_path / "coins_12mp_flipped.png", "png")
    page.goto(server.base_url + "/watershed")
    wait_idle(page)
    assert len(metrics(page)) == 5
    page.get_by_role("tab", name="Export").click()
    page.get_by_test_id("stDownloadButton").first.wait_for()
    # Sampled every 25 ms from the upload until the full-resolution numbers are in: how many metrics are on the
    # page, and whether any stale download button (the sample's file) could be clicked once 0.3 s stale.
    page.evaluate("""() => {
        window.__seen = {metrics: 0, clickable: 0, staleButtons: 0};
        const since = new Map();
        window.__probe = setInterval(() => {
          const seen = window.__seen;
          seen.metrics = Math.max(seen.metrics, document.querySelectorAll('[data-testid=stMetric]').length);
          for (const b of document.querySelectorAll('[data-stale=true] [data-testid=stDownloadButton]')) {
            if (!since.has(b)) since.set(b, performance.now());
            if (performance.now() - since.get(b) < 400) continue;
            seen.staleButtons += 1;
            const style = getComputedStyle(b);  // hidden: neither the mouse nor the keyboard reaches it
            if (style.pointerEvents !== 'none' || style.visibility !== 'hidden') seen.clickable += 1;
            const button = b.querySelector('button');
            if (button) { button.focus(); if (document.activeElement === button) seen.clickable += 1; }
          }
        }, 25);
    }""")
    page.get_by_test_id("stFileUploader").filter(has_text="upload your own") \
        .get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path)
    page.wait_for_function(
        """() => {
             const cap = document.querySelector('[data-testid=stMain] [data-testid=stCaptionContainer]');
             const values = Array.from(document.querySelectorAll('[data-testid=stMetricValue]'));
             return cap && cap.innerText.startsWith('coins_12mp_flipped.png ') && values.length === 5
                    && values.every(v => !v.innerText.trim().startsWith('≈'));
           }""", timeout=180_000)
    wait_idle(page)
    seen = page.evaluate("() => { clearInterval(window.__probe); return window.__seen; }")
    assert seen["metrics"] == 5, seen
    assert seen["staleButtons"] > 0 and seen["clickable"] == 0, seen
    assert_no_exception(page)


def test_share_link_carries_the_recipe_version_and_an_old_link_reads_as_version_2(server, page):
    page.goto(server.base_url + "/watershed?sample=nuclei&h=2")  # a link from before versions (no v)
    wait_idle(page)
    assert_no_exception(page)
    query = parse_qs(urlsplit(page.url).query)
    assert query["v"] == [str(seg.RECIPE_VERSION)] and query["h"] == ["2"], query
    assert query["projection"] == ["none"], query  # version 2 read one plane of a stack (upgrade_params)
    page.goto(server.base_url + f"/watershed?sample=nuclei&h=2&v={seg.RECIPE_VERSION}")
    wait_idle(page)
    query = parse_qs(urlsplit(page.url).query)
    assert "projection" not in query and query["v"] == [str(seg.RECIPE_VERSION)], query


def test_compare_numbers_end_at_full_resolution(server, page, tmp_path):
    """A 1500×2025 document and its ink mask on Compare: the preview's numbers first (marked), then the
    full-resolution ones, which are the library's (the Triangle column's threshold in the grid's caption)."""
    from tests.test_progressive_compare import DOC, INK

    doc = write_image_file(DOC, tmp_path / "doc.png", "png")
    mask = write_image_file((INK * 255).astype(np.uint8), tmp_path / "doc_mask.png", "png")
    page.goto(server.base_url + "/compare?methods=otsu&methods=triangle")
    wait_idle(page)
    page.get_by_test_id("stFileUploader").filter(has_text="upload your own") \
        .get_by_test_id("stFileUploaderDropzoneInput").set_input_files(doc)
    page.locator("[data-testid=stMain]").get_by_text("doc.png").first.wait_for(timeout=120_000)
    wait_idle(page)
    truth = page.get_by_test_id("stExpander").filter(has_text="Ground truth")
    truth.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(mask)
    page.wait_for_function(
        """() => {
             const side = document.querySelector('[data-testid=stSidebar]').innerText;
             const main = document.querySelector('[data-testid=stMain]').innerText;
             return side.includes('doc_mask.png: binary mask') && main.includes('At full resolution.')
                    && !main.includes('computing at full resolution');
           }""", timeout=300_000, polling=200)
    wait_idle(page)
    assert_no_exception(page)
    main = page.get_by_test_id("stMain").inner_text()
    assert "computing at full resolution" not in main
    # The grid shows the preview's views; their captions give the full-resolution count and threshold, the library's
    triangle = seg.threshold(DOC, seg.ThresholdRecipe(method="triangle"))
    objects = int(seg.label_objects(triangle.mask).max())
    assert re.search(rf"Triangle — {objects:,} objects?, [^\n]*, t = {triangle.thresholds[0]:.0f}\n", main + "\n"), main
    assert "Triangle — ≈ " not in main
    assert "≈ IoU on the preview" not in main
