"""The Batch page in a real browser: three uploads, the run, the summary, the zip equal to the command line's.

The reference is ``python -m segmentation apply --recipe recipe.json`` on the same three files (run in this
process by ``cli_helpers.run_cli_in_process``): every per-image file in the page's zip must be byte-identical.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import tifffile

import segmentation as seg
from segmentation import SAMPLES, load_sample

from .conftest import assert_no_exception, screenshot, wait_idle

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ for cli_helpers
from cli_helpers import run_cli_in_process  # noqa: E402


def _write_images(folder: Path) -> list[Path]:
    folder.mkdir()
    paths = []
    for name, image in (("coins.png", load_sample("coins")), ("nuclei.png", load_sample("nuclei")),
                        ("coins16.tif", load_sample("coins").astype(np.uint16) * 257)):
        path = folder / name
        if name.endswith(".png"):
            path.write_bytes(seg.encode_png(image))
        else:
            tifffile.imwrite(path, image)  # a 16-bit TIFF
        paths.append(path)
    return paths


def test_three_uploads_give_a_summary_and_the_command_lines_files(server, page, tmp_path, monkeypatch, capsys):
    paths = _write_images(tmp_path / "images")
    page.goto(f"{server.base_url}/batch")
    wait_idle(page)
    assert page.get_by_role("heading", name="Batch", level=1).is_visible()
    assert "Up to 50 images and 200 MB of images per batch" in page.get_by_test_id("stMain").inner_text()
    page.get_by_test_id("stMain").get_by_text("From the Watershed page").click()
    wait_idle(page)
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="Images, or zips of images")
    uploader.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([str(p) for p in paths])
    wait_idle(page)
    page.get_by_role("button", name="Run the batch").click()
    page.get_by_text("3 files: 3 segmented, 0 failed").wait_for(timeout=120_000)
    wait_idle(page)
    assert_no_exception(page)

    table = page.get_by_test_id("stDataFrame")
    table.wait_for()
    # the grid is drawn on a canvas; its accessible table holds the header and one row per image
    assert table.locator("table[role=grid]").get_attribute("aria-rowcount") == "4"
    cells = [[table.get_by_test_id(f"glide-cell-{col}-{row}").text_content() for col in (1, 2)] for row in range(3)]
    assert cells == [["coins.png", "ok"], ["nuclei.png", "ok"], ["coins16.tif", "ok"]]
    assert table.get_by_test_id("glide-cell-0-0").text_content().startswith("data:image/png;base64,")  # thumbnail
    screenshot(page, "batch-page-summary")

    with page.expect_download() as info:
        page.get_by_role("button", name="Download every result (zip)").click()
    with zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes())) as archive:
        got = {name: archive.read(name) for name in archive.namelist()}
    recipe = seg.recipe_from_json(got["recipe.json"].decode())
    # the Watershed page was not opened: its suggestion for the sidebar's sample (the library's defaults)
    sample = seg.DEFAULT_SAMPLE_THRESHOLD
    assert SAMPLES[sample].best_for != "watershed" and recipe == seg.WatershedRecipe()
    stems = ("coins", "nuclei", "coins16")
    expected = {f"{s}_{k}" for s in stems for k in ("mask.png", "labels.png", "overlay.png", "measurements.csv")}
    assert set(got) == expected | {"summary.csv", "recipe.json"}

    (tmp_path / "recipe.json").write_bytes(got["recipe.json"])
    done = run_cli_in_process("apply", "--recipe", "recipe.json", "images", "--out", "cli", "--jobs", "1",
                              cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    for name in sorted(expected):
        assert got[name] == (tmp_path / "cli" / name).read_bytes(), name
    summary = got["summary.csv"].decode().splitlines()
    assert len(summary) == 4 and all(",ok," in line for line in summary[1:])


def test_a_link_to_the_batch_page_opens_it_on_a_fresh_server(server_factory, page):
    fresh = server_factory()
    page.goto(f"{fresh.base_url}/batch?sample=coins")
    wait_idle(page)
    assert page.get_by_role("heading", name="Batch", level=1).is_visible()
    assert page.get_by_test_id("stPageLink").count() == 4  # the shared sidebar: the page ran its full setup
    # coins is a watershed sample: the Watershed page's suggestion for it is the recipe offered
    page.get_by_test_id("stMain").get_by_text("From the Watershed page").click()
    wait_idle(page)
    assert "Watershed recipe" in page.get_by_test_id("stMain").inner_text()
    assert page.get_by_role("button", name="Run the batch").is_disabled()  # no images yet
    assert_no_exception(page)


def _nuclei_plate(folder: Path, count: int) -> list[Path]:
    """A file that is not an image, then ``count`` shifted copies of the nuclei sample (16-bit PNGs)."""
    folder.mkdir()
    nuclei = load_sample("nuclei")
    paths = []
    for i in range(count):
        path = folder / f"n{i:02d}.png"
        path.write_bytes(seg.encode_png(np.roll(nuclei, 7 * i, axis=1)))
        paths.append(path)
    (folder / "notes.png").write_bytes(b"these are my notes, not an image")
    return [folder / "notes.png"] + paths  # first: the grid draws only the rows in view


def test_the_button_waits_while_a_batch_runs_and_a_failed_row_has_empty_cells(server, page, tmp_path):
    paths = _nuclei_plate(tmp_path / "plate", 24)
    page.goto(f"{server.base_url}/batch")
    wait_idle(page)
    page.get_by_test_id("stMain").get_by_text("From the Watershed page").click()
    wait_idle(page)
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="Images, or zips of images")
    uploader.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([str(p) for p in paths])
    wait_idle(page)
    button = page.get_by_role("button", name="Run the batch")
    button.click()
    progress = page.get_by_test_id("stProgress")
    progress.wait_for(timeout=60_000)
    assert button.is_disabled()  # while the batch runs: a second click cannot restart it
    button.click(force=True)  # a click on it does nothing
    assert "of 25 images" in progress.inner_text() and button.is_disabled()
    page.get_by_text("25 files: 24 segmented, 1 failed").wait_for(timeout=180_000)
    wait_idle(page)
    assert_no_exception(page)
    assert button.is_enabled()  # for the next batch
    assert page.get_by_test_id("stProgress").count() == 0

    table = page.get_by_test_id("stDataFrame")
    assert table.get_by_test_id("glide-cell-1-0").text_content() == "notes.png"
    assert table.get_by_test_id("glide-cell-2-0").text_content() == "error"
    for col in (0, 3, 4, 5):  # no thumbnail, count, threshold or foreground: empty, never "None"
        assert table.get_by_test_id(f"glide-cell-{col}-0").text_content() in ("", "—"), col
    assert int(table.get_by_test_id("glide-cell-3-1").text_content()) > 0  # a count where there is one
    screenshot(page, "batch-page-failed-row")


def test_the_upload_limit_of_one_file_is_said_at_the_uploader(server_factory, page, tmp_path):
    small = tmp_path / "coins.png"
    small.write_bytes(seg.encode_png(load_sample("coins")))
    big = tmp_path / "big.tif"
    tifffile.imwrite(big, np.random.default_rng(0).integers(0, 65535, (1024, 1024), np.uint16))  # 2 MB
    fresh = server_factory("--server.maxUploadSize", "1")
    page.goto(f"{fresh.base_url}/batch")
    wait_idle(page)
    main = page.get_by_test_id("stMain")
    assert "Each file (or zip) at most 1 MB: a bigger one is refused by the uploader" in main.inner_text()
    uploader = page.get_by_test_id("stFileUploader").filter(has_text="Images, or zips of images")
    uploader.get_by_test_id("stFileUploaderDropzoneInput").set_input_files([str(small), str(big)])
    wait_idle(page)
    page.get_by_role("button", name="Run the batch").click()
    page.get_by_text("1 file: 1 segmented, 0 failed").wait_for(timeout=60_000)
    wait_idle(page)
    assert_no_exception(page)
    assert "big.tif" in uploader.inner_text()  # the uploader keeps it, with its own error, out of the batch
    screenshot(page, "batch-page-upload-limit")
