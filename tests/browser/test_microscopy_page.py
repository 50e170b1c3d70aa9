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

import numpy as np
import pytest
import tifffile
from skimage.draw import disk

import segmentation as seg

from .conftest import assert_no_exception, screenshot, wait_idle
from .test_browser import metrics, sidebar_select

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
    assert "DAPI" in channel_box.input_value()  # the nuclear stain, chosen automatically
    caption = page.locator(MAIN_CAPTION).first.inner_text()
    assert "channel 1 (DAPI) of 3" in caption and "plane 0 of 5 z-planes" in caption
    assert objects(page) == expected() == sum(z == 0 for *_, z in NUCLEI)
    assert sidebar.get_by_text("0.325 µm per pixel, from the file (OME PhysicalSizeX/Y)").count() == 1

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
    page.goto(f"{server.base_url}/compare?methods=otsu&recipes=watershed")
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

    assert column_counts() == expected()
    sidebar_select(page, "Z projection", "Maximum")
    assert query(page).get("projection") == ["max"]
    assert column_counts() == expected(projection="max")
    assert expected(projection="max")[1] == f"{len(NUCLEI):,}"
    assert_no_exception(page)
