"""The Batch page (AppTest) and its helpers: uploads and zips, the recipe of a page or a file, one zip of results.

The reference for every output is the command line itself (``python -m segmentation apply --recipe`` on the same
files, run in this process by ``cli_helpers.run_cli_in_process``): the page's files must be byte-identical. The
recipes expected from a page come from the library's recipes and the samples' suggested settings.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import streamlit as st
from app_helpers import app, assert_ok, errors, exceptions, media, png_bytes, set_widget, tiff_bytes
from cli_helpers import run_cli_in_process

import segmentation as seg
from segmentation import SAMPLES, load_sample
from studio_ui import batch_ui

__all__ = ["media"]

RESULT_KEY = "studio_batch_result"
COINS, CAMERA = load_sample("coins"), load_sample("camera")


def _images() -> list[tuple[str, bytes, str]]:
    return [("coins.png", png_bytes(COINS), "image/png"), ("camera.png", png_bytes(CAMERA), "image/png"),
            ("notes.png", b"these are my notes, not an image", "image/png")]


def number(value: float) -> str:
    """A threshold as summary.csv writes it: Python's shortest round-trip text, without a trailing .0."""
    return repr(float(value)).removesuffix(".0")


def batch_page(at=None):
    at = at or app("threshold")
    at.switch_page("pages/4_batch.py")
    at = at.run()
    assert_ok(at)
    return at


def run_batch_on_page(at, files):
    at.file_uploader(key="batch_files").set_value(files)
    at = at.run()
    next(b for b in at.button if b.label == "Run the batch").click()
    at = at.run()
    assert exceptions(at) == [], exceptions(at)
    return at


def unzip(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def cli_outputs(tmp_path, files, recipe_json: bytes, monkeypatch, capsys) -> dict[str, bytes]:
    """The command line's files for the same uploads and recipe: ``apply --recipe`` in a fresh folder."""
    (tmp_path / "cli").mkdir()
    for name, data, _ in files:
        (tmp_path / "cli" / name).write_bytes(data)
    (tmp_path / "recipe.json").write_bytes(recipe_json)
    names = [name for name, _, _ in files]
    done = run_cli_in_process("apply", "--recipe", "recipe.json", *[f"cli/{n}" for n in names], "--out", "out",
                              "--jobs", "1", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode in (0, 1), done.stderr
    return {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir() if p.is_file()}


def test_three_uploads_give_a_summary_and_a_zip_equal_to_the_command_line(tmp_path, media, monkeypatch, capsys):
    at = run_batch_on_page(batch_page(), _images())
    table = at.dataframe[0].value
    assert list(table["file"]) == ["coins.png", "camera.png", "notes.png"]
    assert list(table["status"]) == ["ok", "ok", "error"]
    assert "not an image" in table["message"][2]  # the bad file's own message; the others went on
    # its other cells are empty (a missing value would be drawn as "None")
    assert [table[col][2] for col in ("overlay", "objects", "threshold", "foreground", "flags")] == [""] * 5
    assert all(str(url).startswith("data:image/png;base64,") for url in table["overlay"][:2])
    # the Thresholding page was not opened: its suggestion for the sidebar's sample (camera: Otsu)
    expected = seg.ThresholdRecipe.from_flat({**seg.ThresholdRecipe().to_flat(), **SAMPLES["camera"].recipe})
    files = unzip(media.download(at, "Download every result (zip)"))
    assert seg.recipe_from_json(files["recipe.json"].decode()) == expected
    for stem, image in (("coins", COINS), ("camera", CAMERA)):
        result = seg.threshold(image, expected)
        row = table[table["file"] == f"{stem}.png"].iloc[0]
        assert row["objects"] == str(seg.label_objects(result.mask).max())
        assert row["threshold"] == number(result.thresholds[0])
        assert row["foreground"] == f"{result.foreground_fraction:.1%}"
    cli = cli_outputs(tmp_path, _images(), files["recipe.json"], monkeypatch, capsys)
    per_image = {name for name in cli if name not in ("summary.csv", "recipe.json")}
    assert per_image == {f"{s}_{kind}" for s in ("coins", "camera")
                         for kind in ("mask.png", "overlay.png", "measurements.csv")}
    assert set(files) == per_image | {"summary.csv", "recipe.json"}
    for name in per_image | {"recipe.json"}:
        assert files[name] == cli[name], name
    summary = files["summary.csv"].decode().splitlines()
    assert summary[0].split(",")[:3] == ["file", "status", "message"] and len(summary) == 4


def test_the_recipe_set_on_the_thresholding_page_is_the_one_applied(media):
    at = app("threshold").run()
    at = set_widget(at, "method", "li")
    at.query_params.clear()
    at = run_batch_on_page(batch_page(at), _images()[:1])
    assert "Threshold recipe: Method: Li (minimum cross-entropy)" in " ".join(c.value for c in at.caption)
    recipe = seg.recipe_from_json(unzip(media.download(at, "Download every result (zip)"))["recipe.json"].decode())
    assert recipe.method == "li"
    table = at.dataframe[0].value
    assert table["threshold"][0] == number(seg.threshold(COINS, recipe).thresholds[0])


def test_arriving_from_the_watershed_page_the_batch_uses_its_recipe():
    """A visitor who tuned h on Watershed and opened Batch gets the Watershed recipe (a reviewer ran the
    Thresholding page's default unawares); a recipe file chosen on an earlier visit stays chosen."""
    at = app("threshold")
    at.switch_page("pages/2_watershed.py")
    at = set_widget(at.run(), "h", 2.0)
    at = batch_page(at)
    assert at.radio(key="batch_recipe_source").value == "Watershed"
    assert "h: 2 px" in " ".join(c.value for c in at.caption)
    at.radio(key="batch_recipe_source").set_value("Recipe file")
    at = at.run()
    at.switch_page("pages/2_watershed.py")
    at = batch_page(at.run())
    assert at.radio(key="batch_recipe_source").value == "Recipe file"
    at.switch_page("app.py")  # from Thresholding too
    at = batch_page(at.run())
    assert at.radio(key="batch_recipe_source").value == "Recipe file"


def test_an_uploaded_watershed_recipe_gives_the_command_lines_labels(tmp_path, media, monkeypatch, capsys):
    recipe = seg.WatershedRecipe(h=2)
    at = batch_page()
    at.radio(key="batch_recipe_source").set_value("Recipe file")
    at = at.run()
    at.file_uploader(key="batch_recipe_file").set_value(("mine.json", recipe.to_json().encode(), "application/json"))
    at = at.run()
    assert_ok(at)
    files = [("coins.png", png_bytes(COINS), "image/png"), ("c16.tif", tiff_bytes(COINS.astype(np.uint16) * 257),
                                                            "image/tiff")]
    at = run_batch_on_page(at, files)
    got = unzip(media.download(at, "Download every result (zip)"))
    cli = cli_outputs(tmp_path, files, recipe.to_json().encode(), monkeypatch, capsys)
    for stem, image in (("coins", COINS), ("c16", COINS.astype(np.uint16) * 257)):
        assert got[f"{stem}_labels.png"] == cli[f"{stem}_labels.png"]
        labels = seg.load_image(io.BytesIO(got[f"{stem}_labels.png"]))
        assert np.array_equal(labels, seg.watershed(image, recipe).labels), stem


def test_a_bad_recipe_file_is_a_plain_message_and_the_button_waits(media):
    at = batch_page()
    at.radio(key="batch_recipe_source").set_value("Recipe file")
    at = at.run()
    at.file_uploader(key="batch_recipe_file").set_value(("bad.json", b'{"format": "x"}', "application/json"))
    at = at.run()
    assert exceptions(at) == []
    assert errors(at) and "recipe" in errors(at)[0].lower()
    at.file_uploader(key="batch_files").set_value(_images()[:1])
    at = at.run()
    assert next(b for b in at.button if b.label == "Run the batch").disabled


# -- helpers ---------------------------------------------------------------------------------------
def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_gives_its_images_like_a_folder_and_unsafe_names_stay_inside():
    data = _zip({"plate/a.png": b"1", "plate/b.tif": b"22", "readme.txt": b"x", "__MACOSX/._a.png": b"",
                 "../../evil.png": b"333", ".hidden.png": b"4"})
    found = batch_ui.collect_uploads([("plate.zip", data), ("c.png", b"55")])
    assert found.images == [("plate.zip/evil.png", b"333"), ("plate.zip/plate/a.png", b"1"),
                            ("plate.zip/plate/b.tif", b"22"), ("c.png", b"55")]
    assert found.notes == [f"plate.zip: 1 file that is not an image ({' '.join(seg.batch.IMAGE_SUFFIXES)}) left out"]
    broken = batch_ui.collect_uploads([("broken.zip", b"PK\x03\x04 not really")])
    assert broken.images == [] and broken.refused[0][0] == "broken.zip"
    assert broken.refused[0][1].startswith("this zip cannot be opened")


def test_the_limits_refuse_the_files_beyond_them_and_say_so():
    files = [(f"{i}.png", b"x" * 400_000) for i in range(4)]
    found = batch_ui.collect_uploads(files, max_files=3, max_megabytes=100)
    assert [n for n, _ in found.images] == ["0.png", "1.png", "2.png"]
    assert found.refused == [("3.png", "not segmented: a batch here holds at most 3 images")]
    found = batch_ui.collect_uploads(files, max_files=10, max_megabytes=1)
    assert [n for n, _ in found.images] == ["0.png", "1.png"]
    assert found.refused[0] == ("2.png", "not segmented: a batch here holds at most 1 MB of images")
    assert "Up to 7 images and 9 MB" in batch_ui.limits_text(7, 9)


def test_limits_are_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("STUDIO_BATCH_MAX_FILES", "12")
    assert batch_ui._setting("STUDIO_BATCH_MAX_FILES", 50) == 12
    monkeypatch.setenv("STUDIO_BATCH_MAX_FILES", "lots")
    assert batch_ui._setting("STUDIO_BATCH_MAX_FILES", 50) == 50


def test_a_repeated_name_is_written_apart(tmp_path):
    paths = batch_ui.write_inputs([("a.png", b"1"), ("a.png", b"2"), ("A.PNG", b"3")], tmp_path)
    assert [p.read_bytes() for p in paths] == [b"1", b"2", b"3"]
    assert len({p.resolve() for p in paths}) == 3


def test_a_pages_stored_widget_values_make_its_recipe():
    stored = {"method": "multiotsu", "classes": 4, "foreground_classes": [3, 1], "log": True}
    recipe = batch_ui.page_recipe("Thresholding", "camera", stored)
    assert recipe == seg.ThresholdRecipe(method="multiotsu", classes=4, foreground_classes=(1, 3))
    watershed = batch_ui.page_recipe("Watershed", "coins", {"seeds": "points", "points": "10,12;30,40", "h": 3.0,
                                                            "pixel_size": 0.5, "method": "li"})
    assert watershed.seeds == "points" and watershed.points == ((10, 12), (30, 40)) and watershed.h == 3.0
    assert watershed.foreground.method == "li" and watershed.foreground.pixel_size is None  # as the page builds it
    assert batch_ui.page_recipe("Watershed", "coins", {}) == seg.WatershedRecipe()
    with pytest.raises(ValueError, match="classes"):
        batch_ui.page_recipe("Thresholding", "camera", {"method": "multiotsu", "classes": 99})


def test_a_recipe_file_that_is_not_text_is_refused_in_words():
    with pytest.raises(ValueError, match="not a text file"):
        batch_ui.recipe_file(b"\xff\xfe\x00\x81")
    assert batch_ui.recipe_file(seg.WatershedRecipe(h=2).to_json().encode("utf-8-sig")) == seg.WatershedRecipe(h=2)
    assert json.loads(seg.WatershedRecipe(h=2).to_json())["kind"] == "watershed"


def test_a_zip_of_images_is_a_batch_of_its_images_and_a_bad_member_fails_alone(media):
    data = _zip({"plate/a.png": png_bytes(COINS), "plate/b.png": png_bytes(CAMERA), "plate/broken.png": b"\x89PNG",
                 "plate/readme.txt": b"notes"})
    at = run_batch_on_page(batch_page(), [("plate.zip", data, "application/zip")])
    table = at.dataframe[0].value
    assert list(table["file"]) == ["plate.zip/plate/a.png", "plate.zip/plate/b.png", "plate.zip/plate/broken.png"]
    assert list(table["status"]) == ["ok", "ok", "error"] and table["message"][2]
    assert any("1 file that is not an image" in info.value for info in at.info)
    files = unzip(media.download(at, "Download every result (zip)"))
    assert {"a_mask.png", "b_mask.png", "summary.csv", "recipe.json"} <= set(files)
    recipe = seg.recipe_from_json(files["recipe.json"].decode())
    assert seg.load_image(io.BytesIO(files["a_mask.png"])).astype(bool).tolist() == \
        seg.threshold(COINS, recipe).mask.tolist()


def test_the_recipe_is_said_in_words_with_how_objects_are_measured():
    words = batch_ui.recipe_words(seg.ThresholdRecipe(method="sauvola", window=31, smoothing="gaussian", sigma=2.0,
                                                      fill_holes=True, pixel_size=0.0))
    assert words == ("Threshold recipe: Method: Sauvola (local); Smoothing: Gaussian; Gaussian sigma: 2 px; "
                     "Window: 31 px; Fill holes: yes; measured in pixels")
    assert "=" not in words and "pixel_size" not in words
    assert batch_ui.recipe_words(seg.WatershedRecipe()) == ("Watershed recipe with the default parameters; "
                                                            "pixel size from the file")
    given = seg.ThresholdRecipe(method="li", pixel_size=0.65, unit="µm", background_radius=0, opening=3)
    assert batch_ui.recipe_words(given) == "Threshold recipe: Method: Li (minimum cross-entropy); Opening: 3 px; " \
                                           "pixel size 0.65 µm"
    # a parameter that does not apply (sigma without Gaussian smoothing) is not said
    assert "sigma" not in batch_ui.recipe_words(seg.ThresholdRecipe(sigma=3.0, smoothing="none")).lower()
    watershed = seg.WatershedRecipe(h=2.0, watershed_line=True, distance_sigma=0.0)
    assert seg.WatershedRecipe().distance_sigma != 0  # so 0 is said, as the page's label says it: off
    assert batch_ui.recipe_words(watershed) == ("Watershed recipe: h: 2 px; Distance smoothing: off; "
                                                "Watershed lines: yes; pixel size from the file")


def test_the_upload_limit_is_said_at_the_uploader():
    at = batch_page()
    limit = st.get_option("server.maxUploadSize")  # the page reads the same option in this process
    assert any(f"Each file (or zip) at most {limit} MB" in c.value for c in at.caption)


def test_one_click_runs_the_batch_once_and_the_button_is_enabled_again(monkeypatch):
    calls, seen = [], []
    real = batch_ui.run

    def counted(inputs, recipe, work, on_row=None):
        calls.append([name for name, _ in inputs.images])
        seen.append(st.session_state.get("studio_batch_running"))
        return real(inputs, recipe, work, on_row)

    monkeypatch.setattr(batch_ui, "run", counted)
    at = run_batch_on_page(batch_page(), _images()[:2])
    assert calls == [["coins.png", "camera.png"]]  # once, with the uploads
    assert seen == [True]  # the run doing the batch drew the button disabled (its flag was set)
    assert not next(b for b in at.button if b.label == "Run the batch").disabled  # enabled again after the rerun
    assert at.session_state["studio_batch_running"] is False
    at = at.run()  # another rerun (any widget) does not run it again
    assert len(calls) == 1 and list(at.dataframe[0].value["file"]) == ["coins.png", "camera.png"]


def test_an_error_that_stops_the_batch_is_said_and_the_button_comes_back(monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    monkeypatch.setattr(batch_ui, "run", broken)
    at = run_batch_on_page(batch_page(), _images()[:1])
    assert any("No space left on device" in e for e in errors(at)), errors(at)
    assert not next(b for b in at.button if b.label == "Run the batch").disabled


def test_messages_and_flags_are_said_in_full_below_the_table(media):
    """A table cell cuts a long message off ("threshold 14512 far from the med…"): each is listed in full."""
    at = run_batch_on_page(batch_page(), _images())
    listed = " ".join(e.value for e in at.markdown if "**notes.png**" in e.value)
    table = at.dataframe[0].value
    message = table.loc[table["file"] == "notes.png", "message"].iloc[0]
    assert message and message in listed.replace("\\", ""), (message, listed)
    assert batch_ui.table_height(3, 96) == 96 * 4 + 3 and batch_ui.table_height(40, 96) == 96 * 13 + 3
    assert batch_ui.problem_lines(table.iloc[:0]) == []


def test_files_beyond_the_limits_are_said_before_the_run(monkeypatch):
    """A reviewer learnt only from the summary that a file was over the limit: it is said on upload."""
    monkeypatch.setitem(batch_ui.collect_uploads.__kwdefaults__, "max_files", 2)
    at = batch_page()
    at.file_uploader(key="batch_files").set_value(_images())
    at = at.run()
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("1 image beyond this page's limits will not be segmented (notes.png)") for w in warnings)
    pairs = [(name, data) for name, data, _ in _images()]
    assert batch_ui.beyond_limits(pairs[:2]) is None
    assert batch_ui.collect_uploads(pairs, read=False).images[0] == ("coins.png", b"")
