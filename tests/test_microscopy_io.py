"""Microscopy images as they come: OME-TIFF, ImageJ hyperstacks, multi-page and multi-channel TIFFs.

The files are written here with tifffile (the reference writer of both formats); the expected planes are the
numpy arrays written, and projections are numpy's max / mean / sum over the whole written stack.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from cli_helpers import measurement_lines
from microscopy_files import NUCLEI, PIXEL_SIZE, SQUARES, run_cli, write_imagej_hyperstack, write_ome_tiff

import segmentation as seg
from segmentation import ImageLoadError, ThresholdRecipe, WatershedRecipe, load_image, to_python


# -- reading -----------------------------------------------------------------------------------------------
def test_ome_tiff_axes_channel_names_and_pixel_size(tmp_path):
    stack = write_ome_tiff(tmp_path / "cells.ome.tif")
    image, info = load_image(tmp_path / "cells.ome.tif", with_info=True)
    assert (info.axes, info.shape) == ("CZYX", stack.shape)
    assert info.channel_names == ("GFP", "DAPI") and (info.n_channels, info.n_planes, info.n_timepoints) == (2, 5, 1)
    assert info.pixel_size == PIXEL_SIZE and info.unit == "µm" and "OME PhysicalSizeX" in info.pixel_size_source
    # The default channel is the nuclear stain, found by its name (it is channel 1); the default projection is
    # "auto", as in the recipes, the app, the command line and the script: the maximum of the z-stack.
    assert info.channel == 1 and info.plane is None and info.projection == "max"
    assert image.dtype == np.uint16 and np.array_equal(image, stack[1].max(axis=0))
    assert any("nuclear stain (DAPI)" in note for note in info.notes)
    assert "max projection of the 5 z-planes (automatic for a z-stack)" in info.notes
    # "none" still reads one plane, z-plane 0 unless told.
    image, info = load_image(tmp_path / "cells.ome.tif", with_info=True, projection="none")
    assert info.plane == 0 and info.projection == "none" and np.array_equal(image, stack[1, 0])


def test_imagej_hyperstack_axes_and_every_index(tmp_path):
    data = write_imagej_hyperstack(tmp_path / "hyper.tif", pixel_size=0.5)
    image, info = load_image(tmp_path / "hyper.tif", with_info=True, channel=1, plane=2, timepoint=2,
                             projection="none")
    assert (info.axes, info.shape) == ("TZCYX", data.shape)
    assert (info.n_timepoints, info.n_planes, info.n_channels) == (3, 4, 2)
    assert info.pixel_size == 0.5 and info.unit == "µm" and "ImageJ" in info.pixel_size_source
    assert np.array_equal(image, data[2, 2, 1]) and image[5, 5] == 10 * 2 + 3 * 2 + 1 + 1
    for t in range(3):
        for z in range(4):
            for c in range(2):
                assert np.array_equal(load_image(tmp_path / "hyper.tif", channel=c, plane=z, timepoint=t,
                                                 projection="none"), data[t, z, c])


@pytest.mark.parametrize("projection, reference", [
    ("max", lambda s: s.max(axis=0)),
    ("mean", lambda s: s.astype(np.float64).mean(axis=0).astype(np.float32)),
    ("sum", lambda s: s.astype(np.float64).sum(axis=0).astype(np.float32)),
])
def test_projections_equal_numpy_over_the_whole_stack(tmp_path, projection, reference):
    stack = write_ome_tiff(tmp_path / "cells.ome.tif")
    for channel, index in (("DAPI", 1), ("gfp", 0), (0, 0), (1, 1)):
        image, info = load_image(tmp_path / "cells.ome.tif", with_info=True, channel=channel, projection=projection)
        expected = reference(stack[index])
        assert image.dtype == expected.dtype and np.array_equal(image, expected), (projection, channel)
        assert info.channel == index and info.projection == projection and info.plane is None


def test_only_the_pages_of_the_asked_plane_are_decoded(tmp_path, monkeypatch):
    write_ome_tiff(tmp_path / "cells.ome.tif")
    decoded = []
    for cls in (tifffile.TiffPage, tifffile.TiffFrame):
        original = cls.asarray
        monkeypatch.setattr(cls, "asarray", lambda self, *a, _o=original, **k: decoded.append(self.index) or
                            _o(self, *a, **k))
    monkeypatch.setattr(tifffile.TiffPageSeries, "asarray", lambda *a, **k: pytest.fail("whole series decoded"))
    monkeypatch.setattr(Path, "read_bytes", lambda *a, **k: pytest.fail("the whole file read"))
    load_image(tmp_path / "cells.ome.tif", channel="DAPI", plane=3, projection="none")
    assert set(decoded) == {1 * 5 + 3}  # one page of 10: channel 1, plane 3 (a frame decodes through its page)
    decoded.clear()
    load_image(tmp_path / "cells.ome.tif", channel="GFP", projection="max")
    assert set(decoded) == {0, 1, 2, 3, 4}  # the five z-planes of channel 0, one at a time


def test_sizes_are_checked_before_decoding(tmp_path, monkeypatch):
    write_ome_tiff(tmp_path / "cells.ome.tif")
    monkeypatch.setattr(tifffile.TiffFrame, "asarray", lambda *a, **k: pytest.fail("decoded"))
    monkeypatch.setattr(tifffile.TiffPage, "asarray", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(ImageLoadError, match="128 = 0.02 MP, over the 0.01 MP limit"):
        load_image(tmp_path / "cells.ome.tif", max_pixels=10_000)


def test_a_truncated_stack_is_read_as_far_as_it_goes_and_said_to_be_damaged(tmp_path, capfd):
    write_ome_tiff(tmp_path / "cells.ome.tif")
    data = (tmp_path / "cells.ome.tif").read_bytes()
    (tmp_path / "cut.ome.tif").write_bytes(data[:len(data) * 2 // 3])  # the OME-XML (at the end) is lost
    for source in (tmp_path / "cut.ome.tif", data[:len(data) * 2 // 3]):
        image, info = load_image(source, channel="DAPI", projection="max", with_info=True)
        assert image.shape == (128, 160) and any("damaged" in note for note in info.notes)
    assert "tifffile" not in capfd.readouterr().err  # said in the notes, not on the console
    (tmp_path / "stub.ome.tif").write_bytes(data[:200])  # the first page's pixels are lost too
    with pytest.raises(ImageLoadError, match="truncated or damaged"):
        load_image(tmp_path / "stub.ome.tif")


@pytest.mark.parametrize("kwargs, words", [
    ({"channel": 2}, "channel 2 does not exist: this file has 2 channels"),
    ({"channel": "Cy5"}, "no channel named 'Cy5'; its 2 channels are 0 GFP, 1 DAPI"),
    ({"plane": 5, "projection": "none"}, "plane 5 does not exist: this file has 5 z-planes"),
])
def test_indices_beyond_the_file_are_refused_in_plain_words(tmp_path, kwargs, words):
    write_ome_tiff(tmp_path / "cells.ome.tif")
    with pytest.raises(ImageLoadError, match=words):
        load_image(tmp_path / "cells.ome.tif", **kwargs)


def test_plain_multipage_and_multichannel_tiffs(tmp_path):
    pages = np.stack([np.full((6, 9), 1000 * (i + 1), np.uint16) for i in range(4)])
    # No axes in the metadata: the pages are taken as planes.
    tifffile.imwrite(tmp_path / "pages.tif", pages, photometric="minisblack")
    image, info = load_image(tmp_path / "pages.tif", with_info=True)
    assert np.array_equal(image, pages[0]) and "first page of a 4-page TIFF" in info.notes
    assert np.array_equal(load_image(tmp_path / "pages.tif", plane=2), pages[2])
    assert np.array_equal(load_image(tmp_path / "pages.tif", projection="sum"), pages.sum(0).astype(np.float32))
    # A 32-bit float (C, Y, X) TIFF whose metadata names the axes: channels, the first by default.
    channels = np.random.default_rng(3).normal(size=(3, 7, 5)).astype(np.float32)
    tifffile.imwrite(tmp_path / "channels.tif", channels, photometric="minisblack", metadata={"axes": "CYX"})
    image, info = load_image(tmp_path / "channels.tif", with_info=True)
    assert info.axes == "CYX" and info.n_channels == 3 and np.array_equal(image, channels[0])
    assert np.array_equal(load_image(tmp_path / "channels.tif", channel=2), channels[2])
    # An RGB stack stays RGB: the recipe's colour channel picks its colour later.
    rgb = np.random.default_rng(4).integers(0, 255, (2, 6, 8, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    assert np.array_equal(load_image(tmp_path / "rgb.tif", plane=1), rgb[1])


def test_pyramidal_and_multi_series_ome_tiff(tmp_path):
    full = np.random.default_rng(5).integers(0, 60000, (2, 256, 256), dtype=np.uint16)
    second = np.full((1, 32, 48), 7, np.uint16)
    with tifffile.TiffWriter(tmp_path / "pyramid.ome.tif", ome=True) as tif:
        options = dict(tile=(64, 64), metadata={"axes": "CYX", "Channel": {"Name": ["Hoechst 33342", "CD45"]},
                                                "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
        tif.write(full, subifds=2, **options)
        tif.write(full[:, ::2, ::2], subfiletype=1, tile=(64, 64))
        tif.write(full[:, ::4, ::4], subfiletype=1, tile=(64, 64))
        tif.write(second, metadata={"axes": "CYX", "PhysicalSizeX": 2.0, "PhysicalSizeY": 2.0})
    image, info = load_image(tmp_path / "pyramid.ome.tif", with_info=True)
    assert np.array_equal(image, full[0]) and info.channel == 0 and info.channel_names[0] == "Hoechst 33342"
    assert info.n_series == 2 and any("level 0 of 3" in note for note in info.notes) and info.pixel_size == 0.5
    image, info = load_image(tmp_path / "pyramid.ome.tif", with_info=True, series=1)
    assert np.array_equal(image, second[0]) and info.series == 1 and info.pixel_size == 2.0


def test_resolution_tags_in_centimetres_but_not_dots_per_inch(tmp_path):
    gray = np.zeros((4, 5), np.uint8)
    tifffile.imwrite(tmp_path / "cm.tif", gray, resolution=(20000, 20000), resolutionunit="CENTIMETER")
    info = load_image(tmp_path / "cm.tif", with_info=True)[1]
    assert info.pixel_size == 0.5 and info.unit == "µm" and "centimetre" in info.pixel_size_source
    # 0.65 µm is stored as (200000, 13) pixels per centimetre: read exactly, not as 0.6499999999999999
    tifffile.imwrite(tmp_path / "cm.tif", gray, resolution=(1 / 0.65e-4, 1 / 0.65e-4), resolutionunit="CENTIMETER")
    assert load_image(tmp_path / "cm.tif", with_info=True)[1].pixel_size == 0.65
    tifffile.imwrite(tmp_path / "dpi.tif", gray, resolution=(300, 300), resolutionunit="INCH")
    assert load_image(tmp_path / "dpi.tif", with_info=True)[1].pixel_size is None
    tifffile.imwrite(tmp_path / "oblong.tif", gray, resolution=(20000, 10000), resolutionunit="CENTIMETER")
    info = load_image(tmp_path / "oblong.tif", with_info=True)[1]
    assert info.pixel_size is None and any("not square" in note for note in info.notes)


def test_the_reader_knows_every_recipe_word(tmp_path):
    """The reader (which does not import the recipes) takes every colour word as "the default channel", finds
    every nuclear-stain name, and accepts every projection the recipes offer."""
    data = np.stack([np.full((4, 6), 10, np.uint16), np.full((4, 6), 20, np.uint16)])
    for stain in seg.NUCLEAR_STAINS:
        tifffile.imwrite(tmp_path / "two.ome.tif", data, ome=True,
                         metadata={"axes": "CYX", "Channel": {"Name": ["GFP", f"{stain.upper()} stain"]}})
        for word in seg.CHANNELS:
            assert load_image(tmp_path / "two.ome.tif", channel=word)[0, 0] == 20, (stain, word)
    for projection in seg.PROJECTIONS:
        load_image(tmp_path / "two.ome.tif", projection=projection)


def test_resolve_pixel_size_rules(tmp_path):
    write_ome_tiff(tmp_path / "cells.ome.tif")
    info = load_image(tmp_path / "cells.ome.tif", with_info=True)[1]
    assert seg.resolve_pixel_size(None, "nm", info)[:2] == (PIXEL_SIZE, "µm")  # the file's, in its unit
    assert seg.resolve_pixel_size(0.65, "nm", info)[:2] == (0.65, "nm")  # the recipe's wins
    assert seg.resolve_pixel_size(0, "µm", info)[:2] == (None, "px")  # 0: pixels
    with pytest.raises(seg.ParameterError, match="pixel_size"):
        seg.resolve_pixel_size(-1, "µm", info)


# -- the recipe's channel: colour words, indices and names are one parameter --------------------------------
def test_one_channel_parameter_for_colours_and_file_channels():
    assert ThresholdRecipe(channel="red").channel == "red"
    assert ThresholdRecipe.from_flat({"channel": "1"}).channel == 1  # text "1" is the index 1
    assert ThresholdRecipe.from_flat({"channel": "DAPI"}).channel == "DAPI"
    assert ThresholdRecipe(channel=1).to_flat() == {"channel": "1"}
    assert ThresholdRecipe.from_json(ThresholdRecipe(channel="DAPI").to_json()).channel == "DAPI"
    rgb = np.dstack([np.full((2, 2), v, np.uint8) for v in (10, 20, 30)])
    assert np.array_equal(seg.extract_channel(rgb, 2), rgb[..., 2])  # an index on RGB: that colour
    assert seg.extract_channel(rgb[..., 0], "DAPI") is not None  # gray: chosen when the file was read
    with pytest.raises(seg.ParameterError, match="not a channel of an RGB image"):
        seg.extract_channel(rgb, "DAPI")
    # A colour word in any letter case is the word (choices are case-blind); a file's channel named "Red" is
    # still found, names being matched case-blind too.
    assert ThresholdRecipe(channel=" Red ").channel == "red"


# -- the command line ---------------------------------------------------------------------------------------
def _rows(path):
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _measurements(path, kind: str):
    """A command line's measurements CSV as rows, after checking its first line names the folder's recipe.json."""
    recipe_json = (Path(path).parent / "recipe.json").read_text(encoding="utf-8")
    return list(csv.DictReader(measurement_lines(path.read_text(encoding="utf-8"), recipe_json, kind)))


def test_cli_projection_max_picks_the_nuclei_and_measures_in_micrometres(tmp_path, monkeypatch, capsys):
    write_ome_tiff(tmp_path / "cells.ome.tif")
    done = run_cli("watershed", "cells.ome.tif", "--projection", "max", "--out", "out", "--jobs", "1",
                   cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    rows = _measurements(tmp_path / "out" / "cells_measurements.csv", "watershed")
    assert len(rows) == len(NUCLEI) and "area_um2" in rows[0] and "area_px" not in rows[0]
    areas = np.array([float(r["area_um2"]) for r in rows])
    disc = np.count_nonzero(seg.load_image(tmp_path / "cells.ome.tif", projection="max") >= 3000) / len(NUCLEI)
    assert np.allclose(areas, areas.mean(), rtol=0.2) and abs(areas.mean() / PIXEL_SIZE**2 - disc) < 0.35 * disc
    summary = _rows(tmp_path / "out" / "summary.csv")[0]
    assert "nuclear stain (DAPI)" in summary["message"] and "max projection" in summary["message"]
    # --channel by name: the three squares; one plane without projection: only that plane's nuclei.
    done = run_cli("watershed", "cells.ome.tif", "--channel", "GFP", "--projection", "max", "--out", "gfp",
                   "--jobs", "1", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    assert len(_measurements(tmp_path / "gfp" / "cells_measurements.csv", "watershed")) == len(SQUARES)
    done = run_cli("threshold", "cells.ome.tif", "--projection", "none", "--plane", "0", "--method", "manual",
                   "--value", "1000", "--polarity", "bright", "--out", "z0", "--jobs", "1", cwd=tmp_path,
                   monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0 and len(_measurements(tmp_path / "z0" / "cells_measurements.csv", "threshold")) == \
        sum(z == 0 for _, _, z in NUCLEI)


def test_cli_channel_beyond_the_file_fails_that_file_in_words(tmp_path, monkeypatch, capsys):
    write_ome_tiff(tmp_path / "cells.ome.tif")
    done = run_cli("threshold", "cells.ome.tif", "--channel", "5", "--out", "out", cwd=tmp_path,
                   monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 1 and "channel 5 does not exist" in done.stderr


# -- the generated script reads the same plane and the same pixel size ---------------------------------------
def _script(tmp_path, recipe, name):
    path = tmp_path / f"{name}.py"
    path.write_text(to_python(recipe), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("settings", [
    {}, {"channel": "GFP"}, {"channel": 1, "plane": 3}, {"projection": "max"}, {"projection": "mean", "channel": 0},
    {"projection": "sum"},
])
def test_script_reads_the_same_plane_as_the_library(tmp_path, settings):
    write_ome_tiff(tmp_path / "cells.ome.tif")
    recipe = WatershedRecipe.from_params(**settings)
    script = _script(tmp_path, recipe, "script_" + "_".join(f"{k}{v}" for k, v in settings.items()))
    fg = recipe.foreground
    ours = load_image(tmp_path / "cells.ome.tif", channel=fg.channel, plane=fg.plane, timepoint=fg.timepoint,
                      projection=fg.projection)
    theirs = script.load_image(str(tmp_path / "cells.ome.tif"))
    assert theirs.dtype == ours.dtype and np.array_equal(theirs, ours)


@pytest.mark.parametrize("projection", ["mean", "sum", "max"])
def test_projections_of_a_float_stack_leave_out_nan(tmp_path, projection):
    """NaN is no data in every projection: a stack with one all-NaN plane and NaN rows in every plane projects
    to numpy's NaN-ignoring mean / sum / max (NaN where every plane is NaN, not nansum's 0), in the library and
    the generated script alike (#13 review: the mean and sum of such a stack were NaN everywhere)."""
    rng = np.random.default_rng(5)
    stack = rng.random((5, 40, 50)).astype(np.float32) * 1000
    stack[4] = np.nan  # one empty plane
    stack[:, :6] = np.nan  # rows with no data in any plane
    stack[1, 10:20, 10:20] = np.nan  # and holes in one plane only
    tifffile.imwrite(tmp_path / "nan.ome.tif", stack, ome=True, metadata={"axes": "ZYX"})
    ours = load_image(tmp_path / "nan.ome.tif", projection=projection)
    with warnings.catch_warnings():  # numpy's "Mean of empty slice" / "All-NaN slice" on the NaN rows
        warnings.simplefilter("ignore", RuntimeWarning)
        wanted = {"mean": np.nanmean, "sum": np.nansum, "max": np.nanmax}[projection](stack.astype(np.float64), axis=0)
    wanted[np.isnan(stack).all(axis=0)] = np.nan
    assert ours.dtype == (stack.dtype if projection == "max" else np.float32)
    assert np.array_equal(np.isnan(ours), np.isnan(stack).all(axis=0))  # NaN only where every plane is
    np.testing.assert_allclose(ours[6:], wanted[6:], rtol=1e-6)
    script = _script(tmp_path, WatershedRecipe.from_params(projection=projection), f"script_nan_{projection}")
    theirs = script.load_image(str(tmp_path / "nan.ome.tif"))
    assert theirs.dtype == ours.dtype and np.array_equal(theirs, ours, equal_nan=True)


def test_script_hyperstack_plane_and_time_point(tmp_path):
    data = write_imagej_hyperstack(tmp_path / "hyper.tif")
    script = _script(tmp_path, ThresholdRecipe(channel=1, plane=3, timepoint=1), "script_hyper")
    assert np.array_equal(script.load_image(str(tmp_path / "hyper.tif")), data[1, 3, 1])


@pytest.mark.parametrize("pixel_size", [None, 0.65, 0])
def test_script_areas_equal_the_library_measurements(tmp_path, pixel_size, monkeypatch, capsys):
    write_ome_tiff(tmp_path / "cells.ome.tif")
    recipe = WatershedRecipe.from_params(projection="max", pixel_size=pixel_size)
    script = _script(tmp_path, recipe, f"script_areas_{pixel_size}".replace(".", "_"))
    script.main([str(tmp_path / "cells.ome.tif"), str(tmp_path / "script")])
    # the script's areas CSV starts with the recipe's comment line, as the app's and the command line's do
    areas = list(csv.DictReader(measurement_lines(
        (tmp_path / "script" / "cells_areas.csv").read_text(encoding="utf-8"), recipe.to_json(), "watershed")))
    (tmp_path / "r.json").write_text(recipe.to_json(), encoding="utf-8")
    done = run_cli("apply", "--recipe", "r.json", "cells.ome.tif", "--out", "cli", "--jobs", "1", cwd=tmp_path,
                   monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    table = _measurements(tmp_path / "cli" / "cells_measurements.csv", "watershed")
    column = {None: "area_um2", 0.65: "area_um2", 0: "area_px"}[pixel_size]
    assert list(areas[0]) == ["label", column] and len(areas) == len(table) > 0
    assert [(r["label"], r[column]) for r in areas] == [(r["label"], r[column]) for r in table]
    if pixel_size is None:  # the file's 0.325 µm, found by the script too: areas are whole pixels × 0.325²
        counts = [float(r["area_um2"]) / PIXEL_SIZE**2 for r in table]
        assert counts == pytest.approx([round(n) for n in counts]) and min(counts) > 100


def test_score_runs_a_recipe_on_the_plane_the_recipe_chooses(tmp_path, monkeypatch, capsys):
    write_ome_tiff(tmp_path / "cells.ome.tif")
    recipe = WatershedRecipe.from_params(projection="max")
    assert seg.file_selection(recipe) == {"channel": "luminance", "plane": 0, "timepoint": 0, "projection": "max",
                                          "pages": "planes", "series": 0}
    labels = seg.watershed(load_image(tmp_path / "cells.ome.tif", **seg.file_selection(recipe)), recipe).labels
    (tmp_path / "truth").mkdir()
    tifffile.imwrite(tmp_path / "truth" / "cells.ome_labels.tif", labels.astype(np.uint16))
    (tmp_path / "r.json").write_text(recipe.to_json(), encoding="utf-8")
    done = run_cli("score", "--truth", "truth", "r.json", "cells.ome.tif", "--out", "scores", "--jobs", "1",
                   cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    summary = _rows(tmp_path / "scores" / "scores_summary.csv")[0]
    assert float(summary["f1_iou50"]) == 1.0 and int(summary["n_true"]) == len(NUCLEI)
