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
import skimage.draw
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


def _even_odd_fill(paths, shape) -> np.ndarray:
    """The pixels a path of closed sub-paths fills by the even-odd rule, as ImageJ's ShapeRoi fills it: each
    sub-path rasterised by skimage.draw.polygon (pixel centres inside; corners shifted to centre coordinates),
    XORed together."""
    filled = np.zeros(shape, bool)
    for path in paths:
        one = np.zeros(shape, bool)
        rows, cols = skimage.draw.polygon(np.asarray(path)[:, 1] - 0.5, np.asarray(path)[:, 0] - 0.5, shape)
        one[rows, cols] = True
        filled ^= one
    return filled


def _holes_and_pieces() -> np.ndarray:
    """The review's objects: a disc r=12 with a hole r=5 (368 px), and an object in two 10×10 pieces (200 px)."""
    labels = np.zeros((60, 80), np.int32)
    labels[skimage.draw.disk((25, 25), 12, shape=labels.shape)] = 1
    labels[skimage.draw.disk((25, 25), 5, shape=labels.shape)] = 0
    labels[5:15, 50:60] = labels[5:15, 65:75] = 2
    # A ring whose hole holds an island of the same object, the island with a hole of its own.
    labels[30:58, 42:72] = 3
    labels[33:55, 45:69] = 0
    labels[37:51, 49:65] = 3
    labels[41:47, 53:61] = 0
    return labels


def test_roi_zip_of_objects_with_holes_or_pieces_fills_exactly_their_pixels(tmp_path):
    for labels in (_labels(), _holes_and_pieces()):
        (tmp_path / "RoiSet.zip").write_bytes(seg.encode_roi_zip(labels))
        rois = {int(roi.name): roi for roi in roifile.roiread(tmp_path / "RoiSet.zip")}
        assert sorted(rois) == [label for label in np.unique(labels).tolist() if label]
        for label, roi in rois.items():
            paths = roi.coordinates(multi=True)
            outlines = seg.object_outlines(labels)[label]
            if len(outlines) == 1:  # one piece without holes: a traced polygon, as before
                assert roi.roitype == roifile.ROI_TYPE.TRACED and not roi.composite
            else:  # ImageJ's composite ROI (ShapeRoi): a rectangle type with the path in multi_coordinates
                assert roi.composite and roi.roitype == roifile.ROI_TYPE.RECT and len(paths) == len(outlines)
                assert (roi.left, roi.top) == tuple(np.concatenate(outlines).min(axis=0).tolist())
            filled = _even_odd_fill(paths, labels.shape)
            assert np.count_nonzero(filled) == np.count_nonzero(labels == label), label
            assert np.array_equal(filled, labels == label), label
    review = _holes_and_pieces()
    assert np.count_nonzero(review == 1) == 368 and np.count_nonzero(review == 2) == 200


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


def _polygon_area(geometry: dict) -> float:
    """A (Multi)Polygon's area: each polygon's exterior ring minus its holes (shoelace, RFC 7946 rings)."""
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return sum(abs(_shoelace(polygon[0][:-1])) - sum(abs(_shoelace(h[:-1])) for h in polygon[1:])
               for polygon in polygons)


def test_geojson_of_objects_with_holes_or_pieces_has_their_area_and_pixels():
    labels = _holes_and_pieces()
    collection = json.loads(seg.encode_geojson(labels))
    _check_geojson(collection)
    by_label = {f["properties"]["label"]: f["geometry"] for f in collection["features"]}
    assert by_label[1]["type"] == "Polygon" and len(by_label[1]["coordinates"]) == 2  # the disc and its hole
    assert by_label[2]["type"] == "MultiPolygon" and len(by_label[2]["coordinates"]) == 2  # two pieces
    # The ring with an island: two polygons, each with its own hole (the island's hole is not the ring's).
    assert by_label[3]["type"] == "MultiPolygon" and [len(p) for p in by_label[3]["coordinates"]] == [2, 2]
    for label, geometry in by_label.items():
        assert _polygon_area(geometry) == np.count_nonzero(labels == label), label
        polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
        assert np.array_equal(_even_odd_fill([ring for p in polygons for ring in p], labels.shape), labels == label)
    assert _polygon_area(by_label[1]) == 368 and _polygon_area(by_label[2]) == 200


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
    labels = seg.load_image(out / "cells_labels.png").astype(np.int32)
    n = int(labels.max())
    assert n == 6
    assert [roi.name for roi in roifile.roiread(out / "cells_rois.zip")] == [str(i) for i in range(1, n + 1)]
    collection = json.loads((out / "cells.geojson").read_text(encoding="utf-8"))
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


@pytest.mark.parametrize("rgb", [False, True])
def test_ome_zarr_has_a_pyramid_down_to_one_chunk(tmp_path, rgb):
    # OME-NGFF 0.4: multiscales datasets from full resolution down, each with its scale; labels downsampled without
    # new values (every other pixel); 300 x 130 with 64-px chunks: 300, 150, 75, 38 rows
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 50, (300, 130)).astype(np.int32)
    image = rng.integers(0, 4000, labels.shape + ((3,) if rgb else ()), dtype=np.uint16)
    root = seg.write_ome_zarr(tmp_path / "p.ome.zarr", image, labels, pixel_size=PIXEL_SIZE, unit="µm", chunk=64)
    group = zarr.open_group(str(root), mode="r")
    shapes = [(300, 130), (150, 65), (75, 33), (38, 17)]
    for attrs in (group.attrs, group["labels/objects"].attrs):
        datasets = attrs["multiscales"][0]["datasets"]
        assert [d["path"] for d in datasets] == ["0", "1", "2", "3"]
        scales = [d["coordinateTransformations"][0]["scale"] for d in datasets]
        assert scales == [([1.0] if rgb else []) + [PIXEL_SIZE * 2 ** k] * 2 for k in range(4)]
    for k, shape in enumerate(shapes):
        level = group[f"labels/objects/{k}"][:]
        assert level.shape[-2:] == shape and group[str(k)].shape[-2:] == shape
        assert np.array_equal(level[0] if rgb else level, labels[:: 2 ** k, :: 2 ** k])
    first = group["1"][:]
    first = np.moveaxis(first, 0, -1) if rgb else first
    block = image[:2, :2].astype(np.float64)
    assert np.array_equal(first[0, 0], np.floor(block.mean(axis=(0, 1)) + 0.5).astype(np.uint16))
    # the default chunk (1024 px) holds this image whole: one level, as before
    one = zarr.open_group(str(seg.write_ome_zarr(tmp_path / "one.ome.zarr", image, labels)), mode="r")
    assert [d["path"] for d in one.attrs["multiscales"][0]["datasets"]] == ["0"]
