"""Microscopy files on the pages (issue 13): channel, plane, projection and time point widgets bound to the URL,
the pixel size from the file, the colour composite, and the exports for Fiji, QuPath and napari.

Every file is generated here with tifffile (tests/microscopy_files.py): an OME-TIFF (channels GFP and DAPI,
5 z-planes, PhysicalSizeX 0.325 µm, nuclei sharp in one plane each) and an ImageJ hyperstack (T 3, Z 4, C 2,
0.5 µm). Expected values come from the library (``seg.load_image`` with the same selection, ``seg.measure``,
``seg.channel_composite``), from the command line on the same file and recipe, and from roifile / json / zarr
reading the exports back.
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import roifile
import zarr
from app_helpers import (
    assert_ok,
    captions,
    decode,
    exceptions,
    main_images,
    media,  # noqa: F401 - fixture
    metrics,
    results_frame,
    run,
    set_widget,
    thresholds_of,
    upload,
    widget,
    widget_keys,
)
from microscopy_files import NUCLEI, PIXEL_SIZE, SQUARES, run_cli, write_imagej_hyperstack, write_ome_tiff

import segmentation as seg

STACK_KEYS = {"projection", "plane"}


@pytest.fixture
def ome(tmp_path):
    path = tmp_path / "cells.ome.tif"
    write_ome_tiff(path)
    return path


def opened(page: str, path, **kwargs):
    at = upload(run(page, **kwargs), path.name, path.read_bytes(), mime="image/tiff")
    assert_ok(at)
    return at


def objects(at) -> int:
    return int(metrics(at)["Objects"].lstrip("≈ ~").replace(",", ""))


def channel_box(at):
    """The file's channel box (its widget key names the file's channels; the URL's key is ``channel``)."""
    boxes = [node for block in (at.sidebar, at.main) for node in block
             if str(getattr(node, "key", "")).startswith("file_channel_")]
    assert len(boxes) == 1, widget_keys(at)
    return boxes[0]


def set_channel(at, value):
    channel_box(at).set_value(value)
    return at.run()


def watershed_count(path, **selection) -> int:
    return seg.watershed(seg.load_image(path, **selection)).count


def test_a_stack_gets_channel_and_plane_widgets_with_the_nuclear_stain_by_default(ome):
    at = opened("watershed", ome)
    assert STACK_KEYS <= widget_keys(at) and "timepoint" not in widget_keys(at)  # one time point: no slider
    box = channel_box(at)
    assert box.value == "luminance"  # automatic: the nuclear stain, as the library and the CLI choose
    assert list(box.options) == ["Automatic: DAPI (nuclear stain)", "0: GFP", "1: DAPI"]
    # The image segmented is DAPI's plane 0: the library's default read of the file.
    assert objects(at) == watershed_count(ome) == sum(z == 0 for *_, z in NUCLEI)
    assert any("channel 1 (DAPI) of 2" in c for c in captions(at))
    assert dict(at.query_params).keys().isdisjoint(STACK_KEYS)  # defaults stay out of the address


def test_a_plain_image_has_no_stack_widgets():
    at = run("threshold")
    assert_ok(at)
    assert not {"projection", "plane", "timepoint"} & widget_keys(at)


@pytest.mark.parametrize("page", ["threshold", "watershed"])
def test_choosing_projection_channel_and_plane_follows_the_image_and_the_url(ome, page):
    at = opened(page, ome)
    at = set_widget(at, "projection", "max")
    assert_ok(at)
    assert at.query_params["projection"] == "max"
    assert "plane" not in widget_keys(at)  # one plane only without a projection
    count = {"threshold": lambda **s: seg.label_objects(seg.threshold(seg.load_image(ome, **s)).mask).max(),
             "watershed": lambda **s: watershed_count(ome, **s)}[page]
    assert objects(at) == count(projection="max") == len(NUCLEI)
    at = set_channel(at, "GFP")
    assert_ok(at)
    assert at.query_params["channel"] == "GFP" and at.query_params["projection"] == "max"
    assert objects(at) == count(channel="GFP", projection="max") == len(SQUARES)
    at = set_widget(set_channel(at, "luminance"), "projection", "none")
    at = set_widget(at, "plane", 3)
    assert_ok(at)
    assert "channel" not in at.query_params  # (sliders write the URL in the browser: tests/browser)
    assert objects(at) == count(plane=3) == sum(z == 3 for *_, z in NUCLEI)
    assert any("plane 3 of 5 z-planes" in c for c in captions(at))


def test_an_address_naming_the_channel_by_index_or_in_other_letter_case(ome):
    at = set_widget(opened("watershed", ome), "projection", "max")
    at.query_params["channel"] = "0"  # an address typed by hand
    at = at.run()
    assert channel_box(at).value == "GFP" and at.query_params["channel"] == "GFP"
    assert objects(at) == len(SQUARES)
    at.query_params["channel"] = "dapi"
    at = at.run()
    assert channel_box(at).value == "DAPI" and at.query_params["channel"] == "DAPI"
    assert objects(at) == len(NUCLEI)
    at.query_params["channel"] = "Cy5"  # no such channel: ignored, the box keeps its channel
    at = at.run()
    assert_ok(at)
    assert channel_box(at).value == "DAPI" and at.query_params["channel"] == "DAPI"


def test_the_original_is_a_colour_composite_with_the_chosen_channel_highlighted(ome, media):  # noqa: F811
    at = opened("threshold", ome)
    at = set_widget(at, "projection", "max")
    original = main_images(at)[0]
    caption = original.proto.imgs[0].caption
    assert "**DAPI** (blue, segmented)" in caption and "GFP (green, dimmed)" in caption
    channels, _ = seg.load_channels(ome, projection="max")
    expected = seg.channel_composite(list(channels), 1, colors=[(0, 255, 0), (0, 0, 255)])
    shown = media.image(original)
    assert shown.shape == expected.shape
    assert np.abs(shown.astype(int) - expected).mean() < 3  # JPEG quality 90
    at = set_channel(at, "GFP")
    shown_gfp = media.image(main_images(at)[0])
    expected_gfp = seg.channel_composite(list(channels), 0, colors=[(0, 255, 0), (0, 0, 255)])
    assert np.abs(shown_gfp.astype(int) - expected_gfp).mean() < 3
    assert np.abs(shown_gfp.astype(int) - shown).mean() > 5  # the highlight moved


def test_the_pixel_size_comes_from_the_file_says_where_and_can_be_overridden(ome):
    at = opened("watershed", ome, query={"projection": "max"})
    assert widget(at, "pixel_size").value == pytest.approx(PIXEL_SIZE) and widget(at, "unit").value == "µm"
    assert "Measured in µm: 0.325 µm per pixel, from the file (OME PhysicalSizeX/Y)." in captions(at)
    at.session_state["tab"] = "Objects"
    at = at.run()
    table = at.dataframe[0].value
    labels = seg.watershed(seg.load_image(ome, projection="max")).labels
    image = seg.load_image(ome, projection="max")
    assert "area_um2" in table.columns and len(table) == len(NUCLEI)
    reference = seg.measure(labels, image, pixel_size=PIXEL_SIZE, unit="µm").columns
    assert np.allclose(table["area_um2"], reference["area_um2"])
    at = set_widget(at, "pixel_size", 0.5)
    assert_ok(at)
    assert any(c.startswith("Measured in µm: 0.5 µm per pixel, set here (the file says 0.325 µm") for c in captions(at))
    table = at.dataframe[0].value
    assert np.allclose(table["area_um2"], seg.measure(labels, image, pixel_size=0.5, unit="µm").columns["area_um2"])


def test_an_imagej_hyperstack_time_point_and_pixel_size(tmp_path):
    path = tmp_path / "hyper.tif"
    data = write_imagej_hyperstack(path)  # T 3, Z 4, C 2; block value 10 t + 3 z + c + 1
    at = opened("threshold", path)
    assert {"projection", "plane", "timepoint"} <= widget_keys(at) and channel_box(at).value == "luminance"
    assert widget(at, "timepoint").max == 2 and widget(at, "plane").max == 3
    at = set_channel(set_widget(set_widget(at, "timepoint", 2), "plane", 1), "1")
    assert_ok(at)
    assert at.query_params["channel"] == "1"
    assert any("time point 2 of 3" in c and "plane 1 of 4" in c for c in captions(at))
    assert any("0.5 µm per pixel, from the file (ImageJ unit and resolution tags)" in c for c in captions(at))
    # The page segments the plane (t 2, z 1, c 1): its block value is 10·2 + 3·1 + 1 + 1 = 25.
    assert int(data[2, 1, 1].max()) == 25
    chosen = seg.load_image(path, channel=1, plane=1, timepoint=2)
    assert np.array_equal(chosen, data[2, 1, 1])
    expected = seg.threshold(chosen).thresholds
    assert thresholds_of(metrics(at)["Threshold"]) == pytest.approx(expected, abs=0.01)


def test_compare_page_segments_the_chosen_plane(ome):
    at = opened("compare", ome)
    at = set_widget(at, "projection", "max")
    assert_ok(at)
    assert at.query_params["projection"] == "max"
    image = seg.load_image(ome, projection="max")
    frame = results_frame(at)
    expected = seg.label_objects(seg.threshold(image, seg.ThresholdRecipe(method="otsu")).mask).max()
    assert frame.loc["Otsu", "objects"] == expected


# --- Export tab: CSV in µm equal to the library and the CLI; the exports for Fiji, QuPath, napari ------------
def export_tab(ome):
    at = opened("watershed", ome, query={"projection": "max"})
    at.session_state["tab"] = "Export"
    at = at.run()
    assert_ok(at)
    return at


def make(at, fmt):
    next(b for b in at.button if b.key == f"make_{fmt}").click()
    at = at.run()
    assert_ok(at)
    return at


def test_export_csv_is_in_micrometres_and_equals_the_library_and_the_cli(ome, media, tmp_path,  # noqa: F811
                                                                          monkeypatch, capsys):
    at = export_tab(ome)
    csv = media.download(at, "Measurements CSV").decode()
    image = seg.load_image(ome, projection="max")
    labels = seg.watershed(image).labels
    assert csv == seg.measure(labels, image, pixel_size=PIXEL_SIZE, unit="µm").to_csv()
    assert "area_um2" in csv.splitlines()[0]
    recipe = media.download(at, "Recipe JSON")
    (tmp_path / "r.json").write_bytes(recipe)
    assert seg.recipe_from_json(recipe.decode()).foreground.pixel_size is None  # "from the file", as typed nowhere
    done = run_cli("apply", "--recipe", "r.json", ome.name, "--out", "cli", "--jobs", "1",
                   "--export", "roi,geojson", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cli" / "cells.ome_measurements.csv").read_text(encoding="utf-8") == csv
    at = make(make(at, "roi"), "geojson")
    assert media.download(at, "ROI set (Fiji)") == (tmp_path / "cli" / "cells.ome_rois.zip").read_bytes()
    assert media.download(at, "GeoJSON (QuPath)") == (tmp_path / "cli" / "cells.ome.geojson").read_bytes()


def test_export_roi_geojson_and_ome_zarr_read_back(ome, media, tmp_path):  # noqa: F811
    at = export_tab(ome)
    assert not [b for b in at.get("download_button") if b.label.startswith(("ROI", "GeoJSON", "OME"))]
    image = seg.load_image(ome, projection="max")
    labels = seg.watershed(image).labels
    n = int(labels.max())
    at = make(at, "roi")
    stages = [node.label for node in at.main if type(node).__name__ == "Status"]
    assert any(s.startswith("Full-resolution result: 6 objects") for s in stages), stages
    assert any(s.startswith("ROI set (Fiji):") for s in stages), stages
    (tmp_path / "rois.zip").write_bytes(media.download(at, "ROI set (Fiji)"))
    read = roifile.roiread(tmp_path / "rois.zip")
    assert [roi.name for roi in read] == [str(i) for i in range(1, n + 1)]
    for roi in read:  # each traced polygon's area (shoelace) is its object's pixel count
        x, y = roi.coordinates().T
        area = abs(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) / 2
        assert area == np.count_nonzero(labels == int(roi.name))
    at = make(at, "geojson")
    collection = json.loads(media.download(at, "GeoJSON (QuPath)"))
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == n
    first = collection["features"][0]["properties"]["measurements"]
    assert first["area_um2"] == pytest.approx(np.count_nonzero(labels == 1) * PIXEL_SIZE**2)
    at = make(at, "ome-zarr")
    with zipfile.ZipFile(io.BytesIO(media.download(at, "OME-Zarr (napari)"))) as archive:
        archive.extractall(tmp_path / "zarr")
    group = zarr.open_group(str(tmp_path / "zarr" / "cells.ome.ome.zarr"), mode="r")
    assert group["labels"].attrs["labels"] == ["objects"]
    assert np.array_equal(group["labels/objects/0"][:], labels)
    assert np.array_equal(group["0"][:], image)
    scale = group["labels/objects"].attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == [PIXEL_SIZE, PIXEL_SIZE]
    # The three stay offered on the next run, without being made again.
    at = at.run()
    assert {"ROI set (Fiji)", "GeoJSON (QuPath)", "OME-Zarr (napari)"} <= {b.label for b in at.get("download_button")}
    assert exceptions(at) == []


def test_threshold_page_export_uses_the_pixel_size_too(ome, media):  # noqa: F811
    at = opened("threshold", ome, query={"projection": "max"})
    at.session_state["tab"] = "Export"
    at = at.run()
    csv = media.download(at, "Measurements CSV").decode()
    image = seg.load_image(ome, projection="max")
    mask = seg.threshold(image).mask
    assert csv == seg.measure(mask, image, pixel_size=PIXEL_SIZE, unit="µm").to_csv()
    assert decode(media.download(at, "Mask PNG")).astype(bool).tolist() == mask.tolist()
