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
import tifffile
import zarr
from app_helpers import (
    assert_ok,
    captions,
    decode,
    exceptions,
    main_images,
    media,  # noqa: F401 - fixture
    metrics,
    png_bytes,
    results_frame,
    run,
    set_widget,
    thresholds_of,
    upload,
    widget,
    widget_keys,
)
from cli_helpers import measurement_lines
from microscopy_files import (
    NUCLEI,
    PIXEL_SIZE,
    SQUARES,
    ome_stack,
    run_cli,
    write_imagej_hyperstack,
    write_ome_tiff,
)

import segmentation as seg

STACK_KEYS = {"projection"}  # the plane slider only with one plane chosen (not the default "auto" = max)


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
    # Short enough for the sidebar's box (the reason is in the section's caption)
    assert list(box.options) == ["Auto: DAPI", "0: GFP", "1: DAPI"]
    assert any("Auto: DAPI, the nuclear stain." in c for c in captions(at))
    # The image segmented is the recipe's default selection: DAPI, projection "auto" = the maximum of the z-planes.
    assert objects(at) == watershed_count(ome, **seg.file_selection(seg.ThresholdRecipe())) == len(NUCLEI)
    assert any("channel 1 (DAPI) of 2" in c and "max projection" in c for c in captions(at))
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
    caption = next(c for c in captions(at) if "projection of the 5 z-planes" in c)
    assert "max projection" in caption and "automatic" not in caption  # chosen by name, not the default
    at = set_channel(at, "GFP")
    assert_ok(at)
    assert at.query_params["channel"] == "GFP" and at.query_params["projection"] == "max"
    assert objects(at) == count(channel="GFP", projection="max") == len(SQUARES)
    at = set_widget(set_channel(at, "luminance"), "projection", "none")
    at = set_widget(at, "plane", 3)
    assert_ok(at)
    assert "channel" not in at.query_params  # (sliders write the URL in the browser: tests/browser)
    assert objects(at) == count(plane=3, projection="none") == sum(z == 3 for *_, z in NUCLEI)
    assert any("plane 3 of 5 z-planes" in c for c in captions(at))


@pytest.mark.parametrize("page", ["threshold", "watershed"])
def test_one_plane_of_a_z_stack_is_that_plane_not_the_projection_it_opens_with(ome, page):
    """The file opens with the maximum of its z-planes; "none" then reads plane 0 alone (#13: the page kept the
    maximum, taking plane 0 for what the file opens with, as it was before projections were the default)."""
    at = set_widget(opened(page, ome), "projection", "none")
    assert_ok(at)
    count = {"threshold": lambda **s: seg.label_objects(seg.threshold(seg.load_image(ome, **s)).mask).max(),
             "watershed": lambda **s: watershed_count(ome, **s)}[page]
    assert objects(at) == count(projection="none", plane=0) == sum(z == 0 for *_, z in NUCLEI)
    assert any("plane 0 of 5 z-planes" in c for c in captions(at))


def test_the_channel_and_plane_follow_the_image_from_page_to_page(ome):
    """What is read of the file belongs to the image, which every page shows: GFP, one plane (2), chosen on
    Watershed, is what Thresholding and Compare segment too, and what Watershed shows again (#13 review)."""
    at = set_channel(opened("watershed", ome), "GFP")
    at = set_widget(set_widget(at, "projection", "none"), "plane", 2)
    assert_ok(at)
    gfp_plane_2 = seg.load_image(ome, channel="GFP", projection="none", plane=2)
    assert objects(at) == seg.watershed(gfp_plane_2).count
    for page in ("app.py", "pages/3_compare.py", "pages/2_watershed.py"):
        at.query_params.clear()  # a sidebar link's address: the page left's parameters are not carried
        at.switch_page(page)
        at = at.run()
        assert_ok(at)
        assert channel_box(at).value == "GFP" and widget(at, "projection").value == "none", page
        assert widget(at, "plane").value == 2, page
        assert any("channel 0 (GFP) of 2" in c and "plane 2 of 5 z-planes" in c for c in captions(at)), page
        assert {k: at.query_params[k] for k in ("channel", "projection")} == {"channel": "GFP", "projection": "none"}
    assert objects(at) == seg.watershed(gfp_plane_2).count


def test_a_file_replacing_an_upload_opens_as_files_open(ome, tmp_path):
    """A projection and plane chosen for one upload do not carry over to the next file (#13 review); a link's,
    waiting for a session's first upload, does."""
    at = set_widget(set_widget(opened("threshold", ome), "projection", "none"), "plane", 3)
    assert at.query_params["projection"] == "none"
    other = tmp_path / "other.ome.tif"
    write_ome_tiff(other)
    other.write_bytes(other.read_bytes() + b"\0")  # another file (digest), the same pixels
    at = upload(at, other.name, other.read_bytes(), mime="image/tiff")
    assert_ok(at)
    assert widget(at, "projection").value == "auto" and "plane" not in widget_keys(at)
    assert "projection" not in at.query_params and "plane" not in at.query_params
    assert any("max projection" in c for c in captions(at))
    linked = opened("threshold", ome, query={"projection": "none", "plane": "3", "v": "3"})
    assert widget(linked, "projection").value == "none" and widget(linked, "plane").value == 3


def test_a_plane_with_no_data_says_the_file_is_shown_as_it_opens(tmp_path):
    stack = np.random.default_rng(2).random((3, 40, 50)).astype(np.float32)
    stack[2] = np.nan
    path = tmp_path / "empty_plane.ome.tif"
    tifffile.imwrite(path, stack, ome=True, metadata={"axes": "ZYX"})
    at = set_widget(opened("threshold", path), "projection", "none")
    at = set_widget(at, "plane", 2)
    assert not at.exception
    errors = [e.value for e in at.sidebar.error]
    assert errors == ["This channel or plane: image holds no finite values (all NaN or infinite). The file is shown "
                      "as it opens (the maximum projection of its z-planes)."], errors
    assert any("max projection of the 3 z-planes" in c for c in captions(at))


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
    assert {"projection", "timepoint"} <= widget_keys(at) and channel_box(at).value == "luminance"
    assert "plane" not in widget_keys(at)  # "auto": the maximum of the 4 z-planes
    at = set_widget(at, "projection", "none")
    assert widget(at, "timepoint").max == 2 and widget(at, "plane").max == 3
    at = set_channel(set_widget(set_widget(at, "timepoint", 2), "plane", 1), "1")
    assert_ok(at)
    assert at.query_params["channel"] == "1"
    assert any("time point 2 of 3" in c and "plane 1 of 4" in c for c in captions(at))
    assert any("0.5 µm per pixel, from the file (ImageJ unit and resolution tags)" in c for c in captions(at))
    # The page segments the plane (t 2, z 1, c 1): its block value is 10·2 + 3·1 + 1 + 1 = 25.
    assert int(data[2, 1, 1].max()) == 25
    chosen = seg.load_image(path, channel=1, plane=1, timepoint=2, projection="none")
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


def download_name(media, at, label: str) -> str:  # noqa: F811
    """The file name a download button gives its file."""
    proto = next(b for b in at.get("download_button") if b.label == label).proto
    url = media.manager.execute_deferred(proto.deferred_file_id) if proto.deferred_file_id else proto.url
    return media.manager.read_file(url.rsplit("/", 1)[-1]).filename


def archive_names(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.namelist()


def make(at, fmt):
    next(b for b in at.button if b.key == f"make_{fmt}").click()
    at = at.run()
    assert_ok(at)
    return at


def test_export_csv_is_in_micrometres_and_equals_the_library_and_the_cli(ome, media, tmp_path,  # noqa: F811
                                                                          monkeypatch, capsys):
    at = export_tab(ome)
    csv = media.download(at, "Measurements CSV").decode()
    recipe = media.download(at, "Recipe JSON")
    image = seg.load_image(ome, projection="max")
    labels = seg.watershed(image).labels
    # the recipe's comment line, then the library's table byte for byte
    assert csv == seg.measure(labels, image, pixel_size=PIXEL_SIZE, unit="µm").to_csv(recipe_json=recipe.decode())
    assert "area_um2" in measurement_lines(csv, recipe.decode(), "watershed")[0]
    (tmp_path / "r.json").write_bytes(recipe)
    assert seg.recipe_from_json(recipe.decode()).foreground.pixel_size is None  # "from the file", as typed nowhere
    done = run_cli("apply", "--recipe", "r.json", ome.name, "--out", "cli", "--jobs", "1",
                   "--export", "roi,geojson", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cli" / "cells_measurements.csv").read_text(encoding="utf-8") == csv
    at = make(make(at, "roi"), "geojson")
    assert media.download(at, "ROI set (Fiji)") == (tmp_path / "cli" / "cells_rois.zip").read_bytes()
    assert media.download(at, "GeoJSON (QuPath)") == (tmp_path / "cli" / "cells.geojson").read_bytes()


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
    # Named as the command line names it: cells.ome.tif -> cells.ome.zarr (not cells.ome.ome.zarr)
    assert archive_names(media.download(at, "OME-Zarr (napari)"))[0].startswith("cells.ome.zarr/")
    assert download_name(media, at, "OME-Zarr (napari)") == "cells.ome.zarr.zip"
    group = zarr.open_group(str(tmp_path / "zarr" / "cells.ome.zarr"), mode="r")
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
    recipe_json = media.download(at, "Recipe JSON").decode()
    image = seg.load_image(ome, projection="max")
    mask = seg.threshold(image).mask
    assert csv == seg.measure(mask, image, pixel_size=PIXEL_SIZE, unit="µm").to_csv(recipe_json=recipe_json)
    assert measurement_lines(csv, recipe_json, "threshold")[0].startswith("label,area_um2,")
    assert decode(media.download(at, "Mask PNG")).astype(bool).tolist() == mask.tolist()


# --- review of issue 13: series, pages, the pixel size in the address, links on an upload, a stale channel -------
def write_two_series(path) -> tuple[np.ndarray, np.ndarray]:
    """An OME-TIFF of two image series: a plain 40×50 8-bit image (0.5 µm), then 2 channels A and DAPI (0.25 µm)."""
    first = np.full((40, 50), 10, np.uint8)
    first[5:15, 5:20] = 200
    second = np.full((2, 30, 60), 100, np.uint16)
    second[0, 2:12, 2:50] = 3000  # A: one bar
    for r, c in ((8, 8), (20, 30), (15, 50)):
        second[1, r - 4:r + 4, c - 4:c + 4] = 2500  # DAPI: three squares
    with tifffile.TiffWriter(path, ome=True) as tif:
        tif.write(first, metadata={"axes": "YX", "PhysicalSizeX": 0.5, "PhysicalSizeY": 0.5})
        tif.write(second, metadata={"axes": "CYX", "Channel": {"Name": ["A", "DAPI"]}, "PhysicalSizeX": 0.25,
                                    "PhysicalSizeY": 0.25})
    return first, second


def threshold_count(path, **selection) -> int:
    return int(seg.label_objects(seg.threshold(seg.load_image(path, **selection)).mask).max())


def main_caption(at) -> str:
    return captions(at)[0]  # under the title: the file, its size and the library's notes on what was read


def test_a_multi_series_file_offers_its_series_bound_to_the_url(tmp_path):
    path = tmp_path / "two.ome.tif"
    write_two_series(path)
    at = opened("threshold", path)
    assert widget(at, "series").max == 1 and widget(at, "series").value == 0
    assert "pages" not in widget_keys(at)  # the metadata says what the pages are
    assert "series 0 of 2" in main_caption(at) and "page" not in main_caption(at)  # not "first page of a 2-page"
    assert objects(at) == threshold_count(path) == 1
    assert any("0.5 µm per pixel, from the file" in c for c in captions(at))
    at = set_widget(at, "series", 1)
    assert_ok(at)  # (a bound number box writes the address in the browser only: tests/browser)
    assert channel_box(at).value == "luminance" and list(channel_box(at).options)[0] == "Auto: DAPI"
    assert "series 1 of 2" in main_caption(at) and "channel 1 (DAPI) of 2" in main_caption(at)
    assert objects(at) == threshold_count(path, series=1) == 3
    assert any("0.25 µm per pixel, from the file" in c for c in captions(at))  # that series' own pixel size
    at = set_channel(at, "A")
    assert at.query_params["channel"] == "A" and objects(at) == threshold_count(path, series=1, channel="A") == 1


def test_a_plain_multi_page_tiff_says_what_its_pages_are(tmp_path):
    path = tmp_path / "plain.tif"
    pages = np.full((3, 40, 50), 10, np.uint8)
    pages[0, 5:15, 5:15] = 200
    pages[1, 20:30, 5:15] = pages[1, 20:30, 30:40] = 200
    pages[2, 2:8, 2:8] = pages[2, 20:26, 20:26] = pages[2, 30:36, 40:46] = 200
    tifffile.imwrite(path, pages, metadata=None, photometric="minisblack")
    at = opened("threshold", path)
    box = widget(at, "pages")
    assert box.value == "planes" and list(box.options) == ["planes (z or pages)", "channels", "time points"]
    assert "plane" in widget_keys(at)  # "auto" on pages without metadata: one page
    assert objects(at) == threshold_count(path) == 1
    at = set_widget(at, "pages", "channels")
    assert_ok(at)
    assert at.query_params["pages"] == "channels"
    assert "plane" not in widget_keys(at)
    assert list(channel_box(at).options)[1:] == ["Channel 0", "Channel 1", "Channel 2"]
    at = set_channel(at, "2")
    assert objects(at) == threshold_count(path, pages="channels", channel=2) == 3
    at = set_widget(at, "pages", "timepoints")
    assert_ok(at)
    assert widget(at, "timepoint").max == 2
    at = set_widget(at, "timepoint", 1)
    assert objects(at) == threshold_count(path, pages="timepoints", timepoint=1) == 2


def share_text(at) -> str:
    at.session_state["tab"] = "Share"
    at = at.run()
    return next(code.value for code in at.code)


@pytest.mark.parametrize("page", ["threshold", "watershed"])
def test_a_pixel_size_typed_over_the_files_reaches_the_address_and_the_share_link(ome, page):
    at = opened(page, ome)
    assert "pixel_size" not in at.query_params and "unit" not in at.query_params  # the file's: "auto"
    at = set_widget(at, "unit", "nm")  # the same number, another unit: no longer the file's pixel size
    assert_ok(at)
    assert at.query_params["pixel_size"] == "0.325" and at.query_params["unit"] == "nm"
    assert any(c.startswith("Measured in nm: 0.325 nm per pixel, set here") for c in captions(at))
    assert "pixel_size=0.325" in share_text(at) and "unit=nm" in share_text(at)
    at = set_widget(at, "unit", "micron")  # another spelling of the file's unit: the file's size again
    assert "pixel_size" not in at.query_params and "unit" not in at.query_params
    at = set_widget(at, "pixel_size", 0.5)
    assert at.query_params["pixel_size"] == "0.5" and "unit" not in at.query_params  # µm: the default unit
    at = set_widget(at, "pixel_size", 0.0)  # pixels, although the file says 0.325 µm
    assert at.query_params["pixel_size"] == "0.0"
    assert any(c.startswith("Measured in pixels: the pixel size is set to 0") for c in captions(at))


def test_a_link_with_a_pixel_size_and_unit_opens_measuring_in_them():
    at = run("watershed", query={"pixel_size": "0.5", "unit": "nm", "tab": "Objects"})
    assert_ok(at)
    assert widget(at, "pixel_size").value == 0.5 and widget(at, "unit").value == "nm"
    assert "area_nm2" in at.dataframe[0].value.columns
    bad = run("watershed", query={"pixel_size": "-2", "unit": "furlong"})
    assert_ok(bad)
    assert "pixel_size" not in bad.query_params and "unit" not in bad.query_params
    assert any("pixel_size=-2 was ignored" in c for c in captions(bad))
    assert any("unit=furlong was ignored" in c for c in captions(bad))


def test_the_objects_table_shows_readable_headers_and_the_csv_keeps_its_keys(ome, media):  # noqa: F811
    at = opened("watershed", ome)
    at.session_state["tab"] = "Objects"
    at = at.run()
    table = at.dataframe[0]
    headers = {key: config["label"] for key, config in json.loads(table.proto.columns).items() if key != "_index"}
    assert headers["area_um2"] == "Area (µm²)" and headers["perimeter_um"] == "Perimeter (µm)"
    assert headers["bbox_min_row"] == "Bbox min row (px)" and headers["circularity"] == "Circularity"
    assert headers["centroid_col_um"] == "Centroid column (µm)"
    assert set(headers) == set(table.value.columns)  # every column has one
    at.session_state["tab"] = "Export"
    at = at.run()
    csv = media.download(at, "Measurements CSV").decode()
    header = measurement_lines(csv, media.download(at, "Recipe JSON").decode(), "watershed")[0]
    assert header.split(",") == list(table.value.columns)  # the CSV keeps the keys (after the recipe's comment)


def test_file_sizes_are_said_in_bytes_kb_or_mb():
    from studio_ui.exports import file_size_text

    assert [file_size_text(n) for n in (0, 1, 512, 2_345, 999_999, 3_400_000)] == \
        ["0 bytes", "1 byte", "512 bytes", "2.3 KB", "1000.0 KB", "3.40 MB"]


def open_buttons(at) -> dict:
    return {b.label: b for b in at.button if b.label.startswith("Open")}


def test_open_in_from_compare_on_an_upload_opens_the_upload_not_a_sample(ome):
    # Thresholding was left earlier in this session with a Gaussian smoothing: the column's recipe has none.
    earlier = {"Thresholding": {"values": {"smoothing": "gaussian"}, "url": {"smoothing": "gaussian"}}}
    at = opened("compare", ome, query={"methods": ["li"], "recipes": ["watershed h=2"]},
                state={"studio_page_settings": earlier})
    at = set_widget(at, "projection", "max")
    at = set_channel(at, "GFP")
    assert_ok(at)
    # No page link (it would carry the sample "camera"): buttons that switch page in this session.
    assert not [link for link in at.get("page_link") if link.proto.label.startswith("Open")]
    buttons = open_buttons(at)
    assert set(buttons) == {"Open in Thresholding", "Open in Watershed"}
    assert "never put in a link" in buttons["Open in Thresholding"].help
    buttons["Open in Thresholding"].click()
    at = at.run()
    assert_ok(at)
    assert at.title[0].value == "Thresholding"
    assert main_caption(at).startswith(ome.name)  # the upload, not a sample
    assert "sample" not in at.query_params
    assert at.query_params["method"] == "li" and at.query_params["channel"] == "GFP"
    assert at.query_params["projection"] == "max"
    assert widget(at, "smoothing").value == "none" and "smoothing" not in at.query_params
    expected = seg.threshold(seg.load_image(ome, channel="GFP", projection="max"), "li")
    assert objects(at) == int(seg.label_objects(expected.mask).max())


def test_open_in_on_a_sample_stays_a_link_with_the_sample():
    at = run("compare", query={"sample": "coins", "methods": ["li"]})
    links = {link.proto.label: link.proto for link in at.get("page_link")}
    assert "Open in Thresholding" in links and not open_buttons(at)
    assert "sample=coins" in links["Open in Thresholding"].query_string


@pytest.mark.parametrize("page", ["threshold", "watershed", "compare"])
@pytest.mark.parametrize("next_image", ["sample", "plain upload", "rgb upload", "one-channel z-stack"])
def test_a_new_image_drops_a_file_channel_it_does_not_have(tmp_path, page, next_image):
    path = tmp_path / "hyper.tif"
    write_imagej_hyperstack(path)
    at = set_channel(opened(page, path), "1")
    assert at.query_params["channel"] == "1"
    if next_image == "sample":
        at = set_widget(at, "sample", "coins")
    elif next_image == "one-channel z-stack":
        stack = tmp_path / "z.ome.tif"
        tifffile.imwrite(stack, ome_stack()[1], ome=True, metadata={"axes": "ZYX"})
        at = upload(at, stack.name, stack.read_bytes(), mime="image/tiff")
        assert "projection" in widget_keys(at)
    else:
        rng = np.random.default_rng(1)
        shape = (60, 80, 3) if next_image == "rgb upload" else (60, 80)
        at = upload(at, "plain.png", png_bytes((rng.random(shape) * 255).astype(np.uint8)), mime="image/png")
    assert_ok(at)
    assert "channel" not in at.query_params
    assert widget(at, "channel").value == "luminance"  # the colour default
    assert not [k for k in widget_keys(at) if k.startswith("file_channel_")]
    at = at.run()  # and it stays so
    assert_ok(at)
    assert "channel" not in at.query_params


def test_compare_shows_the_colour_composite_of_a_multi_channel_file(ome, media):  # noqa: F811
    at = opened("compare", ome, query={"methods": ["otsu"]})
    at = set_widget(at, "projection", "max")
    first = main_images(at)[0]
    caption = first.proto.imgs[0].caption or next(c for c in captions(at) if c.startswith("Original: all channels"))
    assert "**DAPI** (blue, segmented)" in caption and "GFP (green, dimmed)" in caption
    channels, _ = seg.load_channels(ome, projection="max")
    expected = seg.channel_composite(list(channels), 1, colors=[(0, 255, 0), (0, 0, 255)])
    shown = media.image(first)
    assert shown.shape == expected.shape and np.abs(shown.astype(int) - expected).mean() < 3
    assert len(main_images(at)) == 2  # the composite, then Otsu's column
