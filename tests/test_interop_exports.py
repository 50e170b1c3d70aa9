"""Exports for the next tool, read back by the tools' own readers: roifile (Fiji's ROI format), a GeoJSON
check written from RFC 7946, and zarr (OME-NGFF 0.4 metadata)."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
import roifile
import skimage.data
import zarr
from microscopy_files import PIXEL_SIZE, run_cli, write_ome_tiff
from skimage.measure import points_in_poly

import segmentation as seg


def _labels() -> np.ndarray:
    """Objects of every awkward kind: a ring (with a hole), two pixels touching at a corner, a single pixel,
    a label in two pieces, one touching the border, and a gap in the numbering (no label 6)."""
    labels = np.zeros((40, 50), np.int32)
    labels[2:12, 2:12] = 1
    labels[5:8, 5:8] = 0  # a hole
    labels[15, 15] = labels[16, 16] = 2  # diagonal neighbours: one 8-connected object
    labels[20, 30] = 3
    labels[25:30, 2:6] = 4
    labels[25:30, 10:14] = 4  # a second piece
    labels[0:5, 45:50] = 5  # at the border
    labels[30:38, 30:45] = 7
    return labels


def _filled(points: np.ndarray, shape) -> np.ndarray:
    """The pixels whose centres lie inside a polygon given at pixel corners (x, y)."""
    rows, cols = np.mgrid[:shape[0], :shape[1]]
    centres = np.column_stack([cols.ravel() + 0.5, rows.ravel() + 0.5])
    return points_in_poly(centres, points).reshape(shape)


def _shoelace(points) -> float:
    x, y = np.asarray(points, float).T
    return float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) / 2


def test_outlines_enclose_exactly_the_objects_pixels():
    labels = _labels()
    outlines = seg.object_outlines(labels)
    assert sorted(outlines) == [1, 2, 3, 4, 5, 7]
    for label, loops in outlines.items():
        assert sum(_shoelace(loop) for loop in loops) == np.count_nonzero(labels == label), label
        filled = np.zeros(labels.shape, bool)
        for loop in loops:
            filled ^= _filled(loop, labels.shape)  # even-odd: holes cut out
        assert np.array_equal(filled, labels == label), label
    assert len(outlines[1]) == 2 and len(outlines[2]) == 1 and len(outlines[4]) == 2


def test_outlines_of_the_coins_watershed():
    image = skimage.data.coins()
    labels = seg.watershed(image, seg.WatershedRecipe()).labels
    for label, loops in seg.object_outlines(labels).items():
        assert sum(_shoelace(loop) for loop in loops) == np.count_nonzero(labels == label)


def test_roi_zip_read_back_by_roifile_gives_one_polygon_per_object(tmp_path):
    labels = _labels()
    labels[labels == 4] = 0  # one piece per object here: an ImageJ ROI holds one polygon
    labels[5:8, 5:8] = 1  # and no hole
    data = seg.encode_roi_zip(labels)
    (tmp_path / "RoiSet.zip").write_bytes(data)
    rois = roifile.roiread(tmp_path / "RoiSet.zip")
    ids = [label for label in np.unique(labels) if label]
    assert [roi.name for roi in rois] == [str(label) for label in ids]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == [f"{label:04d}.roi" for label in ids]
    for roi, label in zip(rois, ids):
        points = roi.coordinates()
        assert roi.roitype == roifile.ROI_TYPE.TRACED
        assert abs(_shoelace(points)) == np.count_nonzero(labels == label)
        assert np.array_equal(_filled(points, labels.shape), labels == label)
    assert seg.encode_roi_zip(labels) == data  # the same bytes every time


def test_roi_zip_of_an_object_in_pieces_holds_its_largest_piece():
    labels = _labels()
    with zipfile.ZipFile(io.BytesIO(seg.encode_roi_zip(labels))) as archive:
        rois = {name: roifile.ImagejRoi.frombytes(archive.read(name)) for name in archive.namelist()}
    assert abs(_shoelace(rois["0004.roi"].coordinates())) == 20  # 5×4, one of the two pieces
    assert abs(_shoelace(rois["0001.roi"].coordinates())) == 100  # the ring's outline, hole filled


def _check_geojson(collection: dict) -> None:
    """The parts of RFC 7946 a FeatureCollection of (Multi)Polygons must follow (§3.1.1, 3.1.6, 3.2, 3.3)."""
    assert collection["type"] == "FeatureCollection" and isinstance(collection["features"], list)
    for feature in collection["features"]:
        assert feature["type"] == "Feature" and isinstance(feature["properties"], dict)
        assert isinstance(feature.get("id"), (str, int))
        geometry = feature["geometry"]
        polygons = ([geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"])
        assert geometry["type"] in ("Polygon", "MultiPolygon")
        for polygon in polygons:
            for k, ring in enumerate(polygon):
                assert len(ring) >= 4 and ring[0] == ring[-1]  # closed linear ring
                assert all(len(p) == 2 and all(isinstance(v, (int, float)) for v in p) for p in ring)
                # right-hand rule: exterior anticlockwise (positive area), holes clockwise
                assert (_shoelace(ring[:-1]) > 0) == (k == 0)


def test_geojson_is_rfc7946_with_one_feature_per_object_and_its_measurements():
    labels = _labels()
    image = (labels * 20).astype(np.uint8)
    table = seg.measure(labels, image, pixel_size=PIXEL_SIZE, unit="µm")
    collection = json.loads(seg.encode_geojson(labels, table.columns))
    _check_geojson(collection)
    features = collection["features"]
    assert [f["properties"]["label"] for f in features] == table["label"].tolist()
    for feature, record in zip(features, table.to_records()):
        properties = feature["properties"]
        assert properties["objectType"] == "detection" and properties["name"] == str(record["label"])
        assert properties["measurements"] == {k: v for k, v in record.items() if k != "label"}
    by_label = {f["properties"]["label"]: f["geometry"] for f in features}
    assert by_label[4]["type"] == "MultiPolygon" and len(by_label[1]["coordinates"]) == 2  # ring with a hole
    for label, geometry in by_label.items():
        polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        area = sum(_shoelace(ring[:-1]) for polygon in polygons for ring in polygon)
        assert area == np.count_nonzero(labels == label)


def test_geojson_refuses_measurements_of_other_objects():
    labels = _labels()
    with pytest.raises(seg.ParameterError, match="label"):
        seg.encode_geojson(labels, {"area": np.ones(6)})
    with pytest.raises(seg.ParameterError, match="no row"):
        seg.encode_geojson(labels, {"label": np.array([1, 2]), "area": np.ones(2)})


@pytest.mark.parametrize("rgb", [False, True])
def test_ome_zarr_labels_read_back_by_zarr_equal_the_labels_and_carry_the_scale(tmp_path, rgb):
    labels = _labels()
    image = np.random.default_rng(0).integers(0, 4000, labels.shape + ((3,) if rgb else ()), dtype=np.uint16)
    root = seg.write_ome_zarr(tmp_path / "cells.ome.zarr", image, labels, pixel_size=PIXEL_SIZE, unit="µm")
    group = zarr.open_group(str(root), mode="r")
    multiscales = group.attrs["multiscales"][0]
    assert multiscales["version"] == "0.4"
    spatial = [axis for axis in multiscales["axes"] if axis["type"] == "space"]
    assert [(a["name"], a["unit"]) for a in spatial] == [("y", "micrometer"), ("x", "micrometer")]
    scale = multiscales["datasets"][0]["coordinateTransformations"][0]
    assert scale["type"] == "scale" and scale["scale"][-2:] == [PIXEL_SIZE, PIXEL_SIZE]
    stored = group[multiscales["datasets"][0]["path"]][:]
    assert np.array_equal(np.moveaxis(stored, 0, -1) if rgb else stored, image)
    assert group["labels"].attrs["labels"] == ["objects"]
    objects = group["labels/objects"]
    assert objects.attrs["image-label"]["source"]["image"] == "../../"
    label_scale = objects.attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert label_scale[-2:] == [PIXEL_SIZE, PIXEL_SIZE]
    read = objects["0"][:]
    assert read.dtype == np.int32 and np.array_equal(read[0] if rgb else read, labels)
    with pytest.raises(seg.ParameterError, match="exists"):
        seg.write_ome_zarr(root, image, labels)


def test_ome_zarr_zip_holds_the_same_folder(tmp_path):
    labels = _labels()
    data = seg.encode_ome_zarr_zip(labels.astype(np.uint8), labels, pixel_size=2.0, unit="nm", name="x")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(tmp_path)
    group = zarr.open_group(str(tmp_path / "x.ome.zarr"), mode="r")
    assert np.array_equal(group["labels/objects/0"][:], labels)
    assert group.attrs["multiscales"][0]["axes"][0]["unit"] == "nanometer"


def test_cli_export_roi_geojson_ome_zarr(tmp_path, monkeypatch, capsys):
    write_ome_tiff(tmp_path / "cells.ome.tif")
    done = run_cli("watershed", "cells.ome.tif", "--projection", "max", "--export", "ome-zarr,roi,geojson",
                   "--out", "out", "--jobs", "1", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    labels = seg.load_image(out / "cells.ome_labels.png").astype(np.int32)
    n = int(labels.max())
    assert n == 6
    assert [roi.name for roi in roifile.roiread(out / "cells.ome_rois.zip")] == [str(i) for i in range(1, n + 1)]
    collection = json.loads((out / "cells.ome.geojson").read_text(encoding="utf-8"))
    _check_geojson(collection)
    assert len(collection["features"]) == n and "area_um2" in collection["features"][0]["properties"]["measurements"]
    group = zarr.open_group(str(out / "cells.ome.zarr"), mode="r")
    assert np.array_equal(group["labels/objects/0"][:], labels)
    scale = group.attrs["multiscales"][0]["datasets"][0]["coordinateTransformations"][0]["scale"]
    assert scale == [PIXEL_SIZE, PIXEL_SIZE]  # from the file's OME metadata, typed nowhere
    # Run again with --overwrite: the folder is replaced, not refused or merged.
    done = run_cli("watershed", "cells.ome.tif", "--projection", "max", "--export", "ome-zarr", "--out", "out",
                   "--overwrite", "--jobs", "1", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []  # no staging folder left


def test_cli_refuses_an_unknown_export_in_words(tmp_path, monkeypatch, capsys):
    done = run_cli("threshold", "x.png", "--export", "roi,svg", cwd=tmp_path, monkeypatch=monkeypatch,
                   capsys=capsys)
    assert done.returncode == 2 and "roi, geojson, ome-zarr" in done.stderr
