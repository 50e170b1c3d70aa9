"""What a file's pages, series and units are, and z-stacks opening on their maximum projection (issue 13 review).

A plain multi-page TIFF (no metadata naming its axes: tifffile's ``I``/``Q`` axis) is read as z-planes unless the
recipe's ``pages`` says its pages are channels or time points; a channel asked of a file without channels is
refused in words; ``series`` picks an image of a multi-series OME-TIFF; units are length units only; choices take
any letter case; and ``projection="auto"`` (recipe version 3) takes the maximum of a z-stack. Each is checked in
the library, the command line and the generated script alike. The files are written here with tifffile; the
expected planes are the numpy arrays written.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json

import numpy as np
import pytest
import tifffile
import zarr
from cli_helpers import measurement_lines
from microscopy_files import run_cli, write_ome_tiff
from PIL import Image

import segmentation as seg
from segmentation import ImageLoadError, ThresholdRecipe, WatershedRecipe, load_image, to_python

SHAPE = (48, 64)


def plain_pages() -> np.ndarray:
    """(3, Y, X) uint8 pages, each with different objects: 2, 3 and 4 bright squares on a dark ground."""
    pages = np.full((3, *SHAPE), 20, np.uint8)
    for page, count in enumerate((2, 3, 4)):
        for k in range(count):
            pages[page, 8 + 20 * (k // 3):18 + 20 * (k // 3), 4 + 20 * (k % 3):14 + 20 * (k % 3)] = 200
    return pages


def write_plain_pages(path) -> np.ndarray:
    pages = plain_pages()
    tifffile.imwrite(path, pages, photometric="minisblack", metadata=None)  # no axes in the file
    return pages


def write_two_series(path) -> tuple[np.ndarray, np.ndarray]:
    first = np.full(SHAPE, 30, np.uint16)
    first[10:20, 10:20] = 3000
    second = np.full((40, 50), 30, np.uint16)
    for r, c in ((5, 5), (5, 30), (25, 5), (25, 30)):
        second[r:r + 10, c:c + 12] = 4000
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(first, metadata={"axes": "YX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
        tif.write(second, metadata={"axes": "YX", "PhysicalSizeX": 2.0, "PhysicalSizeY": 2.0})
    return first, second


def _script(tmp_path, recipe, name):
    path = tmp_path / f"{name}.py"
    path.write_text(to_python(recipe), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _rows(path):
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


# -- pages: planes, channels or time points -----------------------------------------------------------------
def test_plain_pages_are_planes_by_default_and_channels_or_time_points_when_told(tmp_path):
    pages = write_plain_pages(tmp_path / "pages.tif")
    image, info = load_image(tmp_path / "pages.tif", with_info=True)
    assert np.array_equal(image, pages[0]) and info.plain_pages and info.pages == "planes"
    assert (info.n_planes, info.n_channels) == (3, 1) and "first page of a 3-page TIFF" in info.notes
    image, info = load_image(tmp_path / "pages.tif", with_info=True, pages="channels", channel=1)
    assert np.array_equal(image, pages[1]) and info.axes == "CYX" and info.channel == 1
    assert (info.n_channels, info.n_planes, info.plain_pages, info.pages) == (3, 1, True, "channels")
    assert "channel 1 of 3" in info.notes
    image, info = load_image(tmp_path / "pages.tif", with_info=True, pages="timepoints", timepoint=2)
    assert np.array_equal(image, pages[2]) and info.axes == "TYX" and info.n_timepoints == 3
    # A projection over pages that are channels has no planes to combine: the channel itself.
    assert np.array_equal(load_image(tmp_path / "pages.tif", pages="channels", channel=2, projection="max"),
                          pages[2])
    channels, _ = seg.load_channels(tmp_path / "pages.tif", pages="channels")
    assert len(channels) == 3 and all(np.array_equal(c, p) for c, p in zip(channels, pages))


def test_pages_is_ignored_by_files_whose_metadata_names_their_axes(tmp_path):
    stack = write_ome_tiff(tmp_path / "cells.ome.tif")  # C=2 (GFP, DAPI), Z=5
    for pages in seg.PAGES:
        image, info = load_image(tmp_path / "cells.ome.tif", with_info=True, pages=pages, channel=0, plane=2,
                                 projection="none")
        assert np.array_equal(image, stack[0, 2]) and info.axes == "CZYX" and not info.plain_pages
    assert not load_image(seg.sample_path(seg.DEFAULT_SAMPLE_WATERSHED), with_info=True)[1].plain_pages


def test_a_channel_of_a_file_without_channels_is_refused_in_words(tmp_path):
    write_plain_pages(tmp_path / "pages.tif")
    with pytest.raises(ImageLoadError, match=r"channel 1 does not exist; this file has no channels: its 3 pages "
                                             r"are read as z-planes; if they are channels, set pages to channels "
                                             r"\(--pages channels\)"):
        load_image(tmp_path / "pages.tif", channel=1)
    with pytest.raises(ImageLoadError, match="no channel named 'DAPI'; this file has no channels"):
        load_image(tmp_path / "pages.tif", channel="DAPI")
    with pytest.raises(ImageLoadError, match="pages are read as time points"):
        load_image(tmp_path / "pages.tif", channel=1, pages="timepoints")
    stack = write_ome_tiff(tmp_path / "cells.ome.tif")
    tifffile.imwrite(tmp_path / "z.ome.tif", stack[1], ome=True, metadata={"axes": "ZYX"})
    with pytest.raises(ImageLoadError, match="this file has no channels: it has 5 z-planes"):
        load_image(tmp_path / "z.ome.tif", channel=1)
    # Colour words and channel 0 (the one channel there is) stay accepted everywhere.
    for channel in (*seg.CHANNELS, 0, None):
        load_image(tmp_path / "pages.tif", channel=channel)
        load_image(tmp_path / "z.ome.tif", channel=channel)


def test_an_integer_channel_on_gray_and_colour_pngs(tmp_path):
    """RGB: 0, 1, 2 are red, green, blue (the recipe's colour channel, as before); anything else was ignored or
    failed later, and is refused now when the file is read."""
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8)
    rgb = np.dstack([gray, gray // 2, gray // 3])
    (tmp_path / "gray.png").write_bytes(seg.encode_png(gray))
    (tmp_path / "rgb.png").write_bytes(seg.encode_png(rgb))
    assert np.array_equal(load_image(tmp_path / "gray.png", channel=0), gray)
    with pytest.raises(ImageLoadError, match="channel 1 does not exist; this file has no channels: it is a gray"):
        load_image(tmp_path / "gray.png", channel=1)
    with pytest.raises(ImageLoadError, match="no channel named 'DAPI'"):
        load_image(tmp_path / "gray.png", channel="DAPI")
    image = load_image(tmp_path / "rgb.png", channel=1)
    assert np.array_equal(image, rgb) and np.array_equal(seg.extract_channel(image, 1), rgb[..., 1])
    with pytest.raises(ImageLoadError, match="channel 3 does not exist; this image has no channels but RGB"):
        load_image(tmp_path / "rgb.png", channel=3)
    for word in seg.CHANNELS:
        load_image(tmp_path / "gray.png", channel=word)
        load_image(tmp_path / "rgb.png", channel=word)


def test_pages_as_channels_in_library_cli_and_script_give_the_same_mask(tmp_path, monkeypatch, capsys):
    pages = write_plain_pages(tmp_path / "pages.tif")
    recipe = ThresholdRecipe(pages="channels", channel=1)
    image = load_image(tmp_path / "pages.tif", **seg.file_selection(recipe))
    assert np.array_equal(image, pages[1])
    mask = seg.threshold(image, recipe).mask
    assert seg.as_labels(mask).max() == 3  # page 1's three squares
    done = run_cli("threshold", "pages.tif", "--pages", "channels", "--channel", "1", "--out", "cli", "--jobs", "1",
                   cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    script = _script(tmp_path, recipe, "script_pages")
    assert np.array_equal(script.load_image(str(tmp_path / "pages.tif")), pages[1])
    script.main([str(tmp_path / "pages.tif"), str(tmp_path / "script")])
    expected = (mask.astype(np.uint8) * 255).tobytes()
    assert _png(tmp_path / "cli" / "pages_mask.png").tobytes() == expected
    assert _png(tmp_path / "script" / "pages_mask.png").tobytes() == expected
    # Without pages=channels, channel 1 of that file is refused: by the CLI (that file fails, in words) and the script.
    done = run_cli("threshold", "pages.tif", "--channel", "1", "--out", "bad", "--jobs", "1", cwd=tmp_path,
                   monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 1 and "this file has no channels: its 3 pages are read as z-planes" in done.stderr
    script = _script(tmp_path, ThresholdRecipe(channel=1), "script_no_pages")
    with pytest.raises(ValueError, match="no channels"):
        script.load_image(str(tmp_path / "pages.tif"))


def test_pages_is_a_recipe_parameter_with_a_cli_option_and_a_url_form(capsys):
    spec = {s.name: s for s in ThresholdRecipe.specs()}["pages"]
    assert (spec.kind, spec.default, spec.choices, spec.group) == ("choice", "planes", seg.PAGES, "Pre-processing")
    assert spec.label.startswith("Pages of a plain TIFF are")
    assert seg.PAGES == ("planes", "channels", "timepoints")
    assert ThresholdRecipe.from_flat({"pages": "Channels"}).to_flat() == {"pages": "channels"}
    assert WatershedRecipe.from_params(pages="timepoints").foreground.pages == "timepoints"
    for command in ("threshold", "watershed"):
        with pytest.raises(SystemExit):
            seg.batch.main([command, "--help"])
        text = capsys.readouterr().out
        assert "--pages PAGES" in text and "--series" in text
    with pytest.raises(seg.ParameterError, match="pages"):
        ThresholdRecipe(pages="slices")


# -- series ----------------------------------------------------------------------------------------------------
def test_a_second_series_in_library_cli_and_script(tmp_path, monkeypatch, capsys):
    first, second = write_two_series(tmp_path / "two.ome.tif")
    image, info = load_image(tmp_path / "two.ome.tif", with_info=True)
    assert np.array_equal(image, first) and (info.series, info.n_series) == (0, 2)
    assert "series 0 of 2" in info.notes and not any("page" in note for note in info.notes)
    image, info = load_image(tmp_path / "two.ome.tif", with_info=True, series=1)
    assert np.array_equal(image, second) and info.series == 1 and info.pixel_size == 2.0
    assert "series 1 of 2" in info.notes
    with pytest.raises(ImageLoadError, match=r"series 2 does not exist: this file has 2 image series \(0–1\)"):
        load_image(tmp_path / "two.ome.tif", series=2)
    with pytest.raises(ImageLoadError, match="series 1 does not exist: this file has one image series"):
        load_image(seg.sample_path(seg.DEFAULT_SAMPLE_WATERSHED), series=1)

    recipe = WatershedRecipe.from_params(series=1, method="manual", value=1000, polarity="bright", closing=0,
                                         background_radius=0, min_size=0)
    assert recipe.foreground.series == 1 and recipe.to_flat()["series"] == "1"
    labels = seg.watershed(load_image(tmp_path / "two.ome.tif", **seg.file_selection(recipe)), recipe).labels
    assert labels.max() == 4
    done = run_cli("watershed", "two.ome.tif", "--series", "1", "--method", "manual", "--value", "1000",
                   "--polarity", "bright", "--closing", "0", "--background-radius", "0", "--min-size", "0",
                   "--out", "cli", "--jobs", "1", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    assert _png(tmp_path / "cli" / "two_labels.png").tobytes() == labels.astype(np.uint16).tobytes()
    saved = (tmp_path / "cli" / "recipe.json").read_text(encoding="utf-8")
    assert seg.recipe_from_json(saved) == recipe
    text = (tmp_path / "cli" / "two_measurements.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(measurement_lines(text, saved, "watershed")))  # after the recipe's comment line
    areas_px = np.bincount(labels.ravel())[1:]
    assert [float(r["area_um2"]) for r in rows] == list(areas_px * 2.0**2)  # series 1's own pixel size, 2 µm
    script = _script(tmp_path, recipe, "script_series")
    assert np.array_equal(script.load_image(str(tmp_path / "two.ome.tif")), second)
    script.main([str(tmp_path / "two.ome.tif"), str(tmp_path / "script")])
    assert _png(tmp_path / "script" / "two_labels.png").tobytes() == labels.astype(np.uint16).tobytes()
    areas = list(csv.DictReader(measurement_lines(
        (tmp_path / "script" / "two_areas.csv").read_text(encoding="utf-8"), recipe.to_json(), "watershed")))
    assert [r["area_um2"] for r in areas] == [r["area_um2"] for r in rows] and rows
    done = run_cli("threshold", "two.ome.tif", "--series", "5", "--out", "bad", "--jobs", "1", cwd=tmp_path,
                   monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 1 and "series 5 does not exist: this file has 2 image series" in done.stderr
    with pytest.raises(ValueError, match="series 5 does not exist"):
        _script(tmp_path, ThresholdRecipe(series=5), "script_series_5").load_image(str(tmp_path / "two.ome.tif"))


# -- choices in any letter case --------------------------------------------------------------------------------
def test_projection_in_capitals_on_the_command_line(tmp_path, monkeypatch, capsys):
    write_ome_tiff(tmp_path / "cells.ome.tif")
    done = run_cli("watershed", "cells.ome.tif", "--projection", "MAX", "--pages", "Planes",
                   "--out", "out", "--jobs", "1", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    saved = json.loads((tmp_path / "out" / "recipe.json").read_text(encoding="utf-8"))
    assert saved["params"]["projection"] == "max" and saved["params"]["pages"] == "planes"
    assert load_image(tmp_path / "cells.ome.tif", projection=" Max ").shape == (128, 160)


# -- units -----------------------------------------------------------------------------------------------------
def test_unknown_units_are_refused_everywhere(tmp_path, monkeypatch, capsys):
    with pytest.raises(seg.ParameterError, match=r"unit must be one of µm, nm, mm, cm, m, Å .*got 'furlong'"):
        ThresholdRecipe(unit="furlong")
    with pytest.raises(seg.ParameterError, match="unit must be a length unit: µm, nm, mm, cm, m or Å"):
        seg.resolve_pixel_size(0.5, "furlong")
    assert seg.resolve_pixel_size(0.5, "micron") == (0.5, "µm", "the recipe")
    labels = np.zeros((4, 4), np.int32)
    labels[1:3, 1:3] = 1
    with pytest.raises(seg.ParameterError, match="furlong"):
        seg.write_ome_zarr(tmp_path / "x.ome.zarr", labels.astype(np.uint8), labels, pixel_size=0.5, unit="furlong")
    assert not (tmp_path / "x.ome.zarr").exists()
    root = seg.write_ome_zarr(tmp_path / "y.ome.zarr", labels.astype(np.uint8), labels, pixel_size=0.5, unit="um")
    axes = zarr.open_group(str(root), mode="r").attrs["multiscales"][0]["axes"]
    assert [a["unit"] for a in axes] == ["micrometer", "micrometer"]
    # The command line: a usage error naming the units, before any image is read.
    (tmp_path / "a.png").write_bytes(seg.encode_png(labels.astype(np.uint8) * 200))
    done = run_cli("threshold", "a.png", "--pixel-size", "0.5", "--unit", "furlong", "--out", "out",
                   cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 2 and "furlong" in done.stderr and "µm, nm, mm, cm, m, Å" in done.stderr
    (tmp_path / "r.json").write_text(ThresholdRecipe().to_json(), encoding="utf-8")
    done = run_cli("apply", "--recipe", "r.json", "a.png", "--pixel-size", "0.5", "--unit", "furlong", "--out", "o",
                   cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 2 and "furlong" in done.stderr
    done = run_cli("apply", "--recipe", "r.json", "a.png", "--pixel-size", "0.5", "--unit", "Microns", "--out", "o",
                   "--jobs", "1", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0 and "area_um2" in (tmp_path / "o" / "a_measurements.csv").read_text(encoding="utf-8")


@pytest.mark.parametrize("written, unit", [("um", "µm"), ("micron", "µm"), ("MICROMETER", "µm"), ("nm", "nm"),
                                           ("mm", "mm"), ("angstrom", "Å"), ("furlong", None), ("%", None)])
def test_the_files_unit_is_a_known_length_unit_or_no_pixel_size(tmp_path, written, unit):
    data = np.zeros((2, 8, 10), np.uint16)
    tifffile.imwrite(tmp_path / "u.ome.tif", data, ome=True,
                     metadata={"axes": "ZYX", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25,
                               "PhysicalSizeXUnit": written, "PhysicalSizeYUnit": written})
    info = load_image(tmp_path / "u.ome.tif", with_info=True)[1]
    assert info.unit == unit and info.pixel_size == (0.25 if unit else None)
    assert any("not a length unit" in note for note in info.notes) == (unit is None)
    script = _script(tmp_path, ThresholdRecipe(), f"script_unit_{abs(hash(written))}")
    assert script.file_pixel_size(str(tmp_path / "u.ome.tif")) == ((0.25, unit) if unit else None)


# -- a z-stack opens on its maximum projection (recipe version 3) --------------------------------------------
def test_a_zcyx_stack_reads_its_max_projection_by_default_and_a_version_2_recipe_plane_0(tmp_path, monkeypatch,
                                                                                         capsys):
    czyx = write_ome_tiff(tmp_path / "cells.ome.tif")
    zcyx = np.ascontiguousarray(czyx.transpose(1, 0, 2, 3))
    tifffile.imwrite(tmp_path / "z.ome.tif", zcyx, ome=True,
                     metadata={"axes": "ZCYX", "Channel": {"Name": ["GFP", "DAPI"]}, "PhysicalSizeX": 0.325,
                               "PhysicalSizeY": 0.325})
    recipe = ThresholdRecipe()
    assert recipe.projection == "auto" and seg.RECIPE_VERSION == 3
    image, info = load_image(tmp_path / "z.ome.tif", with_info=True, **seg.file_selection(recipe))
    assert info.axes == "ZCYX" and np.array_equal(image, czyx[1].max(axis=0)) and info.projection == "max"
    assert "max projection of the 5 z-planes (automatic for a z-stack)" in info.notes
    script = _script(tmp_path, recipe, "script_auto")
    assert np.array_equal(script.load_image(str(tmp_path / "z.ome.tif")), image)
    done = run_cli("threshold", "z.ome.tif", "--out", "auto", "--jobs", "1", cwd=tmp_path, monkeypatch=monkeypatch,
                   capsys=capsys)
    assert done.returncode == 0, done.stderr
    expected = (seg.threshold(image, recipe).mask.astype(np.uint8) * 255).tobytes()
    assert _png(tmp_path / "auto" / "z_mask.png").tobytes() == expected
    # Pages without metadata are not a z-stack: auto reads the plane asked for.
    pages = write_plain_pages(tmp_path / "pages.tif")
    image, info = load_image(tmp_path / "pages.tif", with_info=True, projection="auto", plane=2)
    assert np.array_equal(image, pages[2]) and info.projection == "none" and info.plane == 2
    assert np.array_equal(_script(tmp_path, ThresholdRecipe(plane=2), "script_auto_pages").load_image(
        str(tmp_path / "pages.tif")), pages[2])
    # A version-2 recipe (no projection key) reads plane 0, in the library, the CLI and its script.
    v2 = {"format": seg.RECIPE_FORMAT, "version": 2, "kind": "threshold", "params": {"method": "otsu"}}
    (tmp_path / "v2.json").write_text(json.dumps(v2), encoding="utf-8")
    old = seg.recipe_from_json(json.dumps(v2))
    image = load_image(tmp_path / "z.ome.tif", **seg.file_selection(old))
    assert np.array_equal(image, czyx[1, 0])
    done = run_cli("apply", "--recipe", "v2.json", "z.ome.tif", "--out", "v2", "--jobs", "1", cwd=tmp_path,
                   monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    expected = (seg.threshold(image, old).mask.astype(np.uint8) * 255).tobytes()
    assert _png(tmp_path / "v2" / "z_mask.png").tobytes() == expected
    assert np.array_equal(_script(tmp_path, old, "script_v2").load_image(str(tmp_path / "z.ome.tif")), czyx[1, 0])


# -- no stray console line for a TIFF with more extra samples than Pillow decodes ------------------------------
def test_an_8_bit_tiff_with_4_extra_samples_reads_without_a_console_line(tmp_path, capfd):
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    extra = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "x.tif", np.dstack([rgb, extra]), photometric="rgb", extrasamples=["unspecified"] * 4)
    capfd.readouterr()
    image, info = load_image(tmp_path / "x.tif", with_info=True)
    assert np.array_equal(image, rgb) and any("4, 5, 6, 7 (unspecified data" in note for note in info.notes)
    script = _script(tmp_path, ThresholdRecipe(), "script_extra")
    assert np.array_equal(script.load_image(str(tmp_path / "x.tif")), rgb)
    captured = capfd.readouterr()
    assert captured.err == "" and captured.out == ""


def test_the_name_of_a_files_only_channel_is_accepted(tmp_path):
    plane = np.arange(80, dtype=np.uint16).reshape(8, 10)
    tifffile.imwrite(tmp_path / "one.ome.tif", plane, ome=True, metadata={"axes": "YX", "Channel": {"Name": "DAPI"}})
    assert np.array_equal(load_image(tmp_path / "one.ome.tif", channel="dapi"), plane)
    script = _script(tmp_path, ThresholdRecipe(channel="DAPI"), "script_one_channel")
    assert np.array_equal(script.load_image(str(tmp_path / "one.ome.tif")), plane)
    with pytest.raises(ImageLoadError, match="no channel named 'GFP'"):
        load_image(tmp_path / "one.ome.tif", channel="GFP")
    with pytest.raises(ValueError, match="no channels"):
        _script(tmp_path, ThresholdRecipe(channel="GFP"), "script_one_gfp").load_image(str(tmp_path / "one.ome.tif"))


# -- samples per pixel that are channels (issue 13, second review) ---------------------------------------------
def two_sample_image() -> np.ndarray:
    """(Y, X, 2) uint16: sample 0 has 2 bright squares, sample 1 has 3 (different objects in each)."""
    image = np.full((*SHAPE, 2), 200, np.uint16)
    for k in range(2):
        image[8:18, 4 + 20 * k:14 + 20 * k, 0] = 40000
    for k in range(3):
        image[28:38, 4 + 20 * k:14 + 20 * k, 1] = 30000
    return image


@pytest.mark.parametrize("planar", [False, True])
def test_the_samples_of_a_gray_pixel_are_channels_in_library_cli_and_script(tmp_path, planar, monkeypatch, capsys):
    image = two_sample_image()
    if planar:
        tifffile.imwrite(tmp_path / "two.tif", np.moveaxis(image, -1, 0), photometric="minisblack",
                         planarconfig="separate")
    else:
        tifffile.imwrite(tmp_path / "two.tif", image, planarconfig="contig")  # what the reviewer wrote
    with tifffile.TiffFile(tmp_path / "two.tif") as tif:  # one page, its two samples "unspecified" (not alpha)
        assert len(tif.pages) == 1 and tif.pages[0].samplesperpixel == 2 and list(tif.pages[0].extrasamples) == [0]
    for source in (tmp_path / "two.tif", (tmp_path / "two.tif").read_bytes()):
        first, info = load_image(source, with_info=True)  # no name to go by: channel 0, said in a note
        assert np.array_equal(first, image[..., 0]) and info.channel == 0 and info.n_channels == 2
        assert info.channel_names == ("", "") and info.axes == ("CYX" if planar else "YXC")
        assert any(n.startswith("channel 0 of 2 (sample 0 of the 2 samples of each pixel): the first channel")
                   for n in info.notes)
        second, info = load_image(source, with_info=True, channel=1)
        assert second.dtype == np.uint16 and np.array_equal(second, image[..., 1]) and info.channel == 1
        assert "channel 1 of 2 (sample 1 of the 2 samples of each pixel)" in info.notes
        with pytest.raises(ImageLoadError, match="channel 2 does not exist: this file has 2 channels"):
            load_image(source, channel=2)
    channels, _ = seg.load_channels(tmp_path / "two.tif")
    assert [c.tolist() for c in channels] == [image[..., 0].tolist(), image[..., 1].tolist()]
    recipe = ThresholdRecipe(channel=1)
    mask = seg.threshold(load_image(tmp_path / "two.tif", **seg.file_selection(recipe)), recipe).mask
    assert seg.as_labels(mask).max() == 3  # the second sample's three squares
    done = run_cli("threshold", "two.tif", "--channel", "1", "--out", "cli", "--jobs", "1", cwd=tmp_path,
                   monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    expected = (mask.astype(np.uint8) * 255).tobytes()
    assert _png(tmp_path / "cli" / "two_mask.png").tobytes() == expected
    for channel, sample in ((1, 1), (0, 0), ("luminance", 0)):
        script = _script(tmp_path, ThresholdRecipe(channel=channel), f"script_samples_{planar}_{sample}_{channel}")
        read = script.load_image(str(tmp_path / "two.tif"))
        assert read.dtype == np.uint16 and read.tobytes() == image[..., sample].tobytes()
    script.main([str(tmp_path / "two.tif"), str(tmp_path / "script")])  # channel luminance: sample 0
    ours = seg.threshold(image[..., 0], ThresholdRecipe()).mask
    assert _png(tmp_path / "script" / "two_mask.png").tobytes() == (ours.astype(np.uint8) * 255).tobytes()


def test_a_z_stack_of_two_sample_pixels_projects_the_chosen_sample(tmp_path):
    stack = np.random.default_rng(11).integers(0, 60000, (3, 20, 24, 2), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "zs.tif", stack, photometric="minisblack", planarconfig="contig",
                     metadata={"axes": "ZYXS"})
    image, info = load_image(tmp_path / "zs.tif", with_info=True, channel=1)
    assert info.axes == "ZYXC" and np.array_equal(image, stack[..., 1].max(axis=0)) and info.projection == "max"
    image = load_image(tmp_path / "zs.tif", channel=1, projection="mean")
    assert np.array_equal(image, stack[..., 1].astype(np.float64).mean(axis=0).astype(np.float32))
    assert np.array_equal(load_image(tmp_path / "zs.tif", channel=0, plane=2, projection="none"), stack[2, ..., 0])
    script = _script(tmp_path, ThresholdRecipe(channel=1, projection="mean"), "script_zs")
    assert script.load_image(str(tmp_path / "zs.tif")).tobytes() == image.tobytes()


def test_rgb_pixels_and_gray_with_alpha_keep_their_colour_handling(tmp_path):
    rgb = np.random.default_rng(12).integers(0, 255, (2, 6, 8, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "planar_rgb.tif", np.moveaxis(rgb, -1, 1), photometric="rgb",
                     planarconfig="separate")  # a planar RGB stack: each page decodes as S×Y×X
    image, info = load_image(tmp_path / "planar_rgb.tif", with_info=True, plane=1, projection="none")
    assert np.array_equal(image, rgb[1]) and info.n_channels == 1
    gray = np.full((6, 8), 1000, np.uint16)
    alpha = np.full((6, 8), 65535, np.uint16)
    tifffile.imwrite(tmp_path / "gray_alpha.tif", np.dstack([gray, alpha]), photometric="minisblack",
                     extrasamples=["unassalpha"])
    image, info = load_image(tmp_path / "gray_alpha.tif", with_info=True)
    assert np.array_equal(image, gray) and info.n_channels == 1 and any("alpha" in n for n in info.notes)


# -- an OME file that declares more planes than it holds ------------------------------------------------------
def write_short_ome(path) -> np.ndarray:
    """3 pages whose OME-XML says SizeZ="300" (an acquisition that stopped after 3 of 300 planes)."""
    planes = plain_pages().astype(np.uint16)
    tifffile.imwrite(path, planes, ome=True, metadata={"axes": "ZYX"})
    with tifffile.TiffFile(path) as tif:
        xml = tif.ome_metadata
    assert 'SizeZ="3"' in xml
    tifffile.imwrite(path, planes, photometric="minisblack", metadata=None,
                     description=xml.replace('SizeZ="3"', 'SizeZ="300"').replace('PlaneCount="3"', 'PlaneCount="300"'))
    with tifffile.TiffFile(path) as tif:
        assert tif.is_ome and tif.series[0].shape == (300, *SHAPE) and len(tif.pages) == 3
    return planes


def test_a_file_declaring_more_planes_than_it_holds_is_refused_in_words_everywhere(tmp_path, monkeypatch, capsys):
    write_short_ome(tmp_path / "short.ome.tif")
    words = "the file's metadata declares 300 z-planes but it holds 3 pages"
    for kwargs in ({}, {"projection": "auto"}, {"projection": "none", "plane": 200}, {"projection": "none"},
                   {"projection": "max"}):
        for source in (tmp_path / "short.ome.tif", (tmp_path / "short.ome.tif").read_bytes()):
            with pytest.raises(ImageLoadError, match=words):
                load_image(source, **kwargs)
    with pytest.raises(ImageLoadError, match=words):
        seg.load_channels(tmp_path / "short.ome.tif")
    for k, option in enumerate(([], ["--plane", "200", "--projection", "none"])):
        done = run_cli("threshold", "short.ome.tif", *option, "--out", f"cli{k}", "--jobs", "1", cwd=tmp_path,
                       monkeypatch=monkeypatch, capsys=capsys)
        assert done.returncode == 1 and words in done.stderr
    script = _script(tmp_path, ThresholdRecipe(), "script_short")
    with pytest.raises(ValueError, match="declares 300 planes .* but it holds 3 pages"):
        script.load_image(str(tmp_path / "short.ome.tif"))


def test_a_truncated_imagej_stack_holding_all_its_planes_is_not_refused(tmp_path):
    """ImageJ writes stacks over 4 GB with one IFD and the planes contiguous after it: they are all there."""
    stack = np.random.default_rng(13).integers(0, 255, (6, 20, 30), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "big.tif", stack, imagej=True, truncate=True, metadata={"axes": "ZYX"})
    with tifffile.TiffFile(tmp_path / "big.tif") as tif:
        assert len(tif.pages) == 1 and tif.series[0].is_truncated and tif.series[0].shape == stack.shape
    assert np.array_equal(load_image(tmp_path / "big.tif"), stack.max(axis=0))
    assert np.array_equal(load_image(tmp_path / "big.tif", plane=4, projection="none"), stack[4])
    for settings, expected in (({}, stack.max(axis=0)), ({"plane": 4, "projection": "none"}, stack[4])):
        script = _script(tmp_path, ThresholdRecipe(**settings), f"script_truncated_{len(settings)}")
        assert script.load_image(str(tmp_path / "big.tif")).tobytes() == expected.tobytes()


# -- the library's default projection is the recipes' "auto" ---------------------------------------------------
def test_the_library_opens_a_z_stack_as_the_app_cli_and_script_do(tmp_path):
    stack = write_ome_tiff(tmp_path / "cells.ome.tif")  # C=2 (GFP, DAPI), Z=5
    recipe = ThresholdRecipe()
    assert recipe.projection == "auto"
    default, info = load_image(tmp_path / "cells.ome.tif", with_info=True)
    assert np.array_equal(default, load_image(tmp_path / "cells.ome.tif", **seg.file_selection(recipe)))
    assert np.array_equal(default, stack[1].max(axis=0)) and info.projection == "max"
    script = _script(tmp_path, recipe, "script_default")
    assert script.load_image(str(tmp_path / "cells.ome.tif")).tobytes() == default.tobytes()
    channels, info = seg.load_channels(tmp_path / "cells.ome.tif")
    assert info.projection == "max" and all(np.array_equal(c, stack[i].max(axis=0)) for i, c in enumerate(channels))
    # "none" keeps reading one plane; None is "auto".
    assert np.array_equal(load_image(tmp_path / "cells.ome.tif", projection="none", plane=4), stack[1, 4])
    assert np.array_equal(load_image(tmp_path / "cells.ome.tif", projection=None), default)
