"""A microscopy z-stack in a real browser (issue 13): upload a 3-channel OME-TIFF z-stack, pick a channel and a
max projection, see the count change to the library's and the address bar carry the choice; the pixel size
comes from the file and the measurements are in µm.

The file is written here with tifffile: channels Actin, DAPI and GFP, 5 z-planes, PhysicalSizeX 0.325 µm.
DAPI holds six nuclei, each sharp in one plane only (a max projection shows all six); GFP three squares.
Expected counts come from the library on the same selection, never hard-coded.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import cv2
import numpy as np
import pytest
import tifffile
from skimage.draw import disk

import segmentation as seg

from .conftest import assert_no_exception, screenshot, wait_idle
from .test_browser import metrics, open_expander, sidebar_select

pytestmark = pytest.mark.timeout(300)

SIZE = (160, 200)
NUCLEI = ((25, 30, 0), (30, 100, 1), (35, 160, 2), (100, 35, 3), (110, 105, 4), (120, 165, 0))
SQUARES = ((10, 10), (70, 70), (110, 140))
PIXEL_SIZE = 0.325
MAIN_CAPTION = "[data-testid=stMain] [data-testid=stCaptionContainer]"


def write_stack(path) -> None:
    stack = np.full((3, 5, *SIZE), 120, np.uint16)  # C, Z, Y, X
    stack[0, :, 40:60, 20:180] = 1800  # Actin: one band in every plane
    for r, c, z in NUCLEI:
        rows, cols = disk((r, c), 11, shape=SIZE)
        stack[1, z, rows, cols] = 3000 + 150 * z
        for other in range(5):
            if other != z:
                stack[1, other, rows, cols] = np.maximum(stack[1, other, rows, cols], 350)
    for r, c in SQUARES:
        stack[2, :, r:r + 28, c:c + 28] = 2600
    tifffile.imwrite(path, stack, ome=True, metadata={
        "axes": "CZYX", "Channel": {"Name": ["Actin", "DAPI", "GFP"]}, "PhysicalSizeX": PIXEL_SIZE,
        "PhysicalSizeXUnit": "µm", "PhysicalSizeY": PIXEL_SIZE, "PhysicalSizeYUnit": "µm"})


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def address(page) -> dict[str, list[str]]:
    """The query of the address bar now (``page.url`` lags one step behind a widget's change of the URL)."""
    return parse_qs(urlsplit(page.evaluate("location.href")).query)


def objects(page) -> int:
    return int(metrics(page)["Objects"].lstrip("≈~ ").replace(",", ""))


def upload_stack(page, path) -> None:
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="upload your own")
    uploader.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(path)
    page.wait_for_function(
        "(name) => { const c = document.querySelector('" + MAIN_CAPTION + "');"
        " return c && c.innerText.startsWith(name + ' '); }", arg=path.name, timeout=60_000, polling=100)
    wait_idle(page)


@pytest.mark.parametrize("path", ["/watershed", "/"], ids=["watershed", "threshold"])
def test_a_stack_upload_choose_channel_and_projection(server, page, tmp_path, path):
    file = tmp_path / "cells3.ome.tif"
    write_stack(file)
    page.goto(server.base_url + path)
    wait_idle(page)
    upload_stack(page, file)
    assert_no_exception(page)

    def expected(**selection) -> int:
        image = seg.load_image(file, **selection)
        if path == "/":
            return int(seg.label_objects(seg.threshold(image).mask).max())
        return seg.watershed(image).count

    sidebar = page.get_by_test_id("stSidebar")
    channel_box = sidebar.get_by_role("combobox", name="Channel", exact=True)
    assert channel_box.input_value() == "Auto: DAPI"  # the nuclear stain, chosen automatically, shown whole
    caption = page.locator(MAIN_CAPTION).first.inner_text()
    # The recipe's default projection "auto": the maximum of a z-stack's planes
    assert "channel 1 (DAPI) of 3" in caption and "max projection of the 5 z-planes" in caption
    assert objects(page) == expected(projection="auto") == len(NUCLEI)
    assert sidebar.get_by_text("0.325 µm per pixel, from the file (OME PhysicalSizeX/Y)").count() == 1

    sidebar_select(page, "Z projection", "None (one plane)")
    assert address(page).get("projection") == ["none"]
    assert objects(page) == expected(projection="none") == sum(z == 0 for *_, z in NUCLEI)
    assert "plane 0 of 5 z-planes" in page.locator(MAIN_CAPTION).first.inner_text()

    sidebar_select(page, "Z projection", "Maximum")
    assert query(page).get("projection") == ["max"]
    assert objects(page) == expected(projection="max") == len(NUCLEI)
    assert sidebar.get_by_role("slider").filter(has_text="Z plane").count() == 0  # no plane with a projection

    sidebar_select(page, "Channel", "2: GFP")
    assert query(page).get("channel") == ["GFP"] and query(page).get("projection") == ["max"]
    assert objects(page) == expected(channel="GFP", projection="max") == len(SQUARES)
    caption = page.locator(MAIN_CAPTION).first.inner_text()
    assert "channel 2 (GFP) of 3" in caption and "max projection of the 5 z-planes" in caption
    original = page.locator("[data-testid=stMain] [data-testid=stImage]").first.inner_text()
    assert "GFP (green, segmented)" in original and "DAPI (blue, dimmed)" in original
    shot = screenshot(page, f"microscopy{path.replace('/', '-') or '-threshold'}")
    assert shot.exists()

    # The pixel size typed over the file's is what the measurements use.
    box = sidebar.get_by_role("spinbutton", name="Pixel size (0 = pixels)")
    if not box.is_visible():
        sidebar.get_by_text("Measurements", exact=True).click()
    box.fill("0.5")
    box.press("Enter")
    sidebar.get_by_text("0.5 µm per pixel, set here").wait_for(timeout=20_000)
    wait_idle(page)
    assert objects(page) == len(SQUARES)  # (the table's µm columns are checked in tests/test_app_microscopy.py)
    assert_no_exception(page)


def test_compare_segments_the_chosen_channel_and_projection_of_a_stack(server, page, tmp_path):
    file = tmp_path / "cells3.ome.tif"
    write_stack(file)
    page.goto(f"{server.base_url}/compare?methods=otsu&recipes=watershed&v=3")  # a link of this version
    wait_idle(page)
    upload_stack(page, file)
    assert_no_exception(page)
    sidebar = page.get_by_test_id("stSidebar")
    assert "DAPI" in sidebar.get_by_role("combobox", name="Channel", exact=True).input_value()

    def column_counts() -> list[str]:
        texts = page.locator(MAIN_CAPTION).all_inner_texts()
        return [re.search(r" — ([\d,]+) objects?", t).group(1) for t in texts if re.search(r" — [\d,]+ objects?", t)]

    def expected(**selection) -> list[str]:
        image = seg.load_image(file, **selection)
        return [f"{int(seg.label_objects(seg.threshold(image).mask).max()):,}", f"{seg.watershed(image).count:,}"]

    assert column_counts() == expected(projection="auto")  # the default: the maximum of the z-planes
    # The colour composite comes first, as on the other pages
    legend = [t for t in page.locator(MAIN_CAPTION).all_inner_texts() if t.startswith("Original: all channels")]
    assert len(legend) == 1 and "DAPI (blue, segmented)" in legend[0] and "GFP (green, dimmed)" in legend[0]
    sidebar_select(page, "Z projection", "None (one plane)")
    assert column_counts() == expected(projection="none")
    sidebar_select(page, "Z projection", "Maximum")
    assert query(page).get("projection") == ["max"]
    assert column_counts() == expected(projection="max")
    assert expected(projection="max")[1] == f"{len(NUCLEI):,}"
    assert_no_exception(page)


# --- review of issue 13: series, the pixel size in the address, Open in on an upload, a stale file channel --------
def write_two_series(path) -> None:
    """An OME-TIFF of two series: a plain 40×50 8-bit image (0.5 µm), then channels A and DAPI (0.25 µm)."""
    first = np.full((40, 50), 10, np.uint8)
    first[5:15, 5:20] = 200
    second = np.full((2, 30, 60), 100, np.uint16)
    second[0, 2:12, 2:50] = 3000
    for r, c in ((8, 8), (20, 30), (15, 50)):
        second[1, r - 4:r + 4, c - 4:c + 4] = 2500
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(first, metadata={"axes": "YX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
        tif.write(second, metadata={"axes": "CYX", "Channel": {"Name": ["A", "DAPI"]}, "PhysicalSizeX": 0.25,
                                    "PhysicalSizeY": 0.25})


def set_number(page, label: str, value: str) -> None:
    box = page.get_by_test_id("stSidebar").get_by_role("spinbutton", name=label)
    box.fill(value)
    box.press("Enter")
    wait_idle(page)


def test_a_multi_series_file_offers_its_series_in_the_address(server, page, tmp_path):
    file = tmp_path / "two.ome.tif"
    write_two_series(file)
    page.goto(server.base_url + "/")
    wait_idle(page)
    upload_stack(page, file)
    caption = page.locator(MAIN_CAPTION).first.inner_text()
    assert "series 0 of 2" in caption and "page" not in caption
    sidebar = page.get_by_test_id("stSidebar")
    assert sidebar.get_by_role("combobox", name="Channel", exact=True).count() == 0  # series 0 has one channel
    set_number(page, "Series", "1")
    page.wait_for_function("() => location.href.includes('series=1')", timeout=20_000)
    assert address(page).get("series") == ["1"]
    caption = page.locator(MAIN_CAPTION).first.inner_text()
    assert "series 1 of 2" in caption and "channel 1 (DAPI) of 2" in caption
    assert sidebar.get_by_role("combobox", name="Channel", exact=True).input_value() == "Auto: DAPI"
    image = seg.load_image(file, series=1)
    assert objects(page) == int(seg.label_objects(seg.threshold(image).mask).max()) == 3
    assert sidebar.get_by_text("0.25 µm per pixel, from the file").count() == 1
    assert_no_exception(page)


def test_a_pixel_size_typed_over_the_files_reaches_the_address_and_the_share_link(server, page, tmp_path):
    file = tmp_path / "cells3.ome.tif"
    write_stack(file)
    page.goto(server.base_url + "/watershed")
    wait_idle(page)
    upload_stack(page, file)
    sidebar = page.get_by_test_id("stSidebar")
    assert "pixel_size" not in address(page) and "unit" not in address(page)
    unit = sidebar.get_by_role("textbox", name="Unit")
    unit.fill("nm")  # the file's number, another unit: a pixel size of the recipe's own
    unit.press("Enter")
    sidebar.get_by_text("0.325 nm per pixel, set here").wait_for(timeout=20_000)
    wait_idle(page)
    assert address(page).get("pixel_size") == ["0.325"] and address(page).get("unit") == ["nm"]
    set_number(page, "Pixel size (0 = pixels)", "0.5")
    sidebar.get_by_text("0.5 nm per pixel, set here").wait_for(timeout=20_000)
    assert address(page).get("pixel_size") == ["0.5"] and address(page).get("unit") == ["nm"]
    page.get_by_role("tab", name="Share").click()
    wait_idle(page)
    link = page.get_by_test_id("stCode").first.inner_text()
    assert "pixel_size=0.5" in link and "unit=nm" in link
    unit.fill("µm")
    unit.press("Enter")
    sidebar.get_by_text("0.5 µm per pixel, set here").wait_for(timeout=20_000)
    wait_idle(page)
    assert address(page).get("pixel_size") == ["0.5"] and "unit" not in address(page)  # µm: the default unit
    set_number(page, "Pixel size (0 = pixels)", "0.325")  # the file's own again: "from the file"
    sidebar.get_by_text("0.325 µm per pixel, from the file").wait_for(timeout=20_000)
    wait_idle(page)
    assert "pixel_size" not in address(page) and "unit" not in address(page)
    # Two changes in quick succession (the second sent while the first run still writes the address): the address
    # the second run starts with is stale, and must not undo the first change.
    unit.fill("nm")
    unit.press("Enter")
    box = sidebar.get_by_role("spinbutton", name="Pixel size (0 = pixels)")
    box.fill("0.75")
    box.press("Enter")
    sidebar.get_by_text("0.75 nm per pixel, set here").wait_for(timeout=20_000)
    wait_idle(page)
    assert unit.input_value() == "nm"
    assert address(page).get("pixel_size") == ["0.75"] and address(page).get("unit") == ["nm"]
    assert_no_exception(page)


def test_open_in_thresholding_from_compare_keeps_the_upload(server, page, tmp_path):
    file = tmp_path / "cells3.ome.tif"
    write_stack(file)
    page.goto(f"{server.base_url}/compare?methods=li")
    wait_idle(page)
    upload_stack(page, file)
    sidebar_select(page, "Channel", "2: GFP")
    main = page.get_by_test_id("stMain")
    assert main.get_by_role("link", name="Open in Thresholding").count() == 0  # a link would carry a sample
    main.get_by_role("button", name="Open in Thresholding").click()
    page.wait_for_function("() => !location.pathname.includes('compare')", timeout=30_000)
    wait_idle(page)
    assert page.get_by_role("heading", name="Thresholding").count() >= 1
    assert page.locator(MAIN_CAPTION).first.inner_text().startswith(file.name + " ")  # the upload, not camera
    query_now = address(page)
    assert "sample" not in query_now
    assert query_now.get("method") == ["li"] and query_now.get("channel") == ["GFP"]
    image = seg.load_image(file, channel="GFP", projection="auto")
    assert objects(page) == int(seg.label_objects(seg.threshold(image, "li").mask).max()) == len(SQUARES)
    assert_no_exception(page)


@pytest.mark.parametrize("then", ["sample", "plain upload"])
def test_a_new_image_drops_the_file_channel(server, page, tmp_path, then):
    file = tmp_path / "cells3.ome.tif"
    write_stack(file)
    page.goto(server.base_url + "/")
    wait_idle(page)
    upload_stack(page, file)
    sidebar_select(page, "Channel", "2: GFP")
    assert address(page).get("channel") == ["GFP"]
    if then == "sample":
        sidebar_select(page, "Sample image", "coins")
        page.locator(MAIN_CAPTION).filter(has_text="coins").first.wait_for(timeout=30_000)
    else:
        plain = tmp_path / "plain.png"
        cv2.imwrite(str(plain), (np.random.default_rng(3).random((60, 80)) * 255).astype(np.uint8))
        upload_stack(page, plain)
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_test_id("stAlertContentError").count() == 0
    assert "channel" not in address(page)
    open_expander(page, "Pre-processing")
    assert page.get_by_test_id("stSidebar").get_by_role("combobox", name="Channel", exact=True).input_value() \
        == "Luminance"
    assert metrics(page)["Objects"]  # the page computed its result
