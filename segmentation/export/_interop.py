"""Results for the next tool: Fiji's ROI Manager, QuPath and napari (OME-NGFF).

- :func:`object_outlines`: each object's outline along its pixels' edges (the "crack" between object and
  background pixels, ImageJ's traced-ROI convention): vertices at pixel corners, x = column, y = row, so
  the polygon's area is exactly the object's pixel count (plus any holes it encloses) and filling it by
  pixel centres gives the object's pixels back.
- :func:`encode_roi_zip`: an ImageJ/Fiji ROI set (a ``.zip`` of ``.roi`` files, one ROI per object, named by
  its label: a traced polygon, or a composite ROI of all its outlines for an object with holes or in pieces),
  written with ``roifile``; Fiji opens it with *File > Open* or the ROI Manager's *More > Open...*.
- :func:`encode_geojson`: a GeoJSON FeatureCollection (RFC 7946) of one polygon per object, with the
  measurements as properties in QuPath's layout (``objectType``, ``name``, ``measurements``); QuPath imports it
  with *File > Import objects from file* (or by dropping it on the image).
- :func:`write_ome_zarr` / :func:`encode_ome_zarr_zip`: the image and its labels as OME-Zarr (OME-NGFF 0.4,
  Zarr format 2): an image group whose ``labels/objects`` group holds the label image, both with the pixel
  size as the coordinate scale; napari opens the folder with the napari-ome-zarr plugin, Fiji with MoBIE or
  the N5 plugins.

References
----------
ImageJ ROI format: roifile (C. Gohlke), after ImageJ's ij/io/RoiDecoder.java; composite ROIs as ImageJ's
ij/gui/ShapeRoi.java reads them (a path of MOVETO / LINETO / CLOSE segments, filled by the even-odd rule).
GeoJSON: H. Butler et al., RFC 7946, 2016, doi:10.17487/RFC7946. QuPath GeoJSON import: P. Bankhead et al.,
Sci. Rep. 7:16878, 2017, doi:10.1038/s41598-017-17204-5. OME-NGFF 0.4: J. Moore et al., Nature Methods
18:1496–1498, 2021, doi:10.1038/s41592-021-01326-w (https://ngff.openmicroscopy.org/0.4/).
"""

from __future__ import annotations

import io
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import roifile
import zarr
from scipy import ndimage as ndi

from .._checks import check_label_image
from .._errors import ParameterError
from ..recipes import RECIPE_VERSION, UDUNITS, length_unit

__all__ = ["object_outlines", "encode_roi_zip", "encode_geojson", "write_ome_zarr", "encode_ome_zarr_zip",
           "EXPORT_FORMATS", "NGFF_UNITS",
           # the pieces of those, for writers that go object by object (big images in tiles: batch)
           "roi_bytes", "add_roi", "geojson_row", "geojson_feature", "OmeZarrPyramid", "pyramid_shapes"]

#: The export names of the command line's ``--export`` and the app's Export tab.
EXPORT_FORMATS = ("roi", "geojson", "ome-zarr")
#: Units OME-NGFF names (UDUNITS-2 words) for the units people write (any spelling segmentation.length_unit takes
#: is written by its UDUNITS-2 name too).
NGFF_UNITS = {**UDUNITS, "μm": "micrometer", "um": "micrometer"}

# A pixel's four edges as (corner from, corner to), walking with the object on the right (y down): the outer
# outline runs clockwise on the screen, holes anticlockwise. Corners are (x, y) = (column, row).
_TOP, _RIGHT, _BOTTOM, _LEFT = 0, 1, 2, 3


def _checked_labels(labels: Any) -> np.ndarray:
    labels = check_label_image(labels)
    if labels.size and labels.min() < 0:
        raise ParameterError("labels must not hold negative values (0 = background, objects 1, 2, ...)")
    return labels


def _loops(mask: np.ndarray) -> list[np.ndarray]:
    """Closed crack outlines of a bool mask: (k, 2) int arrays of (x, y) corners, collinear corners removed."""
    padded = np.pad(mask, 1)
    inside = padded[1:-1, 1:-1]
    edges: dict[tuple[int, int], list[tuple[tuple[int, int], tuple[int, int]]]] = {}
    rows, cols = np.nonzero(inside & ~padded[:-2, 1:-1])  # top edges: background above
    for r, c in zip(rows.tolist(), cols.tolist()):
        edges.setdefault((c, r), []).append(((c + 1, r), (r, c)))
    rows, cols = np.nonzero(inside & ~padded[1:-1, 2:])  # right edges
    for r, c in zip(rows.tolist(), cols.tolist()):
        edges.setdefault((c + 1, r), []).append(((c + 1, r + 1), (r, c)))
    rows, cols = np.nonzero(inside & ~padded[2:, 1:-1])  # bottom edges
    for r, c in zip(rows.tolist(), cols.tolist()):
        edges.setdefault((c + 1, r + 1), []).append(((c, r + 1), (r, c)))
    rows, cols = np.nonzero(inside & ~padded[1:-1, :-2])  # left edges
    for r, c in zip(rows.tolist(), cols.tolist()):
        edges.setdefault((c, r + 1), []).append(((c, r), (r, c)))
    loops = []
    while edges:
        start = min(edges)  # the top-left corner first: deterministic outlines
        corner, pixel = start, None
        points = [start]
        while True:
            outs = edges.get(corner)
            if not outs:
                break
            # At a corner two objects' pixels touch diagonally: go on along the other pixel (8-connected).
            choice = next((i for i, (_, p) in enumerate(outs) if p != pixel), 0) if len(outs) > 1 else 0
            end, pixel = outs.pop(choice)
            if not outs:
                del edges[corner]
            corner = end
            if corner == start and start not in edges:
                break
            points.append(corner)
        loops.append(_without_collinear(np.array(points, np.int64)))
    return loops


def _without_collinear(points: np.ndarray) -> np.ndarray:
    before, after = np.roll(points, 1, axis=0), np.roll(points, -1, axis=0)
    cross = (points[:, 0] - before[:, 0]) * (after[:, 1] - points[:, 1]) - \
        (points[:, 1] - before[:, 1]) * (after[:, 0] - points[:, 0])
    return points[cross != 0]


def _area(points: np.ndarray) -> float:
    """Shoelace area of a closed polygon, positive when it runs clockwise on the screen (y down)."""
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    return float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)) / 2


def object_outlines(labels: np.ndarray) -> dict[int, list[np.ndarray]]:
    """Each object's outlines along its pixel edges, in image pixel coordinates.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        0 = background, objects any positive ids.

    Returns
    -------
    dict of int to list of (K, 2) int64 ndarray
        For each label (ascending), its closed outlines as (x, y) pixel-corner coordinates (x = column,
        y = row, the image's top-left corner at (0, 0); the first point is not repeated at the end), the
        outer outline of each piece first (largest first, running clockwise on the screen), then the holes
        (anticlockwise). Pixels touching only at a corner are one piece (8-connected). The shoelace area of
        an outer outline minus its holes' is the object's pixel count exactly.

    Raises
    ------
    ParameterError
        If ``labels`` is not a 2-D integer array or holds negative values.

    References
    ----------
    The crack-following outline of ImageJ's traced ROIs (ij/gui/Wand.java), here from the object's
    boundary edges found with NumPy and chained in order.

    Examples
    --------
    >>> labels = np.zeros((4, 4), np.int32); labels[1:3, 1:4] = 5
    >>> object_outlines(labels)[5][0].tolist()
    [[1, 1], [4, 1], [4, 3], [1, 3]]
    """
    labels = _checked_labels(labels)
    result: dict[int, list[np.ndarray]] = {}
    for index, box in enumerate(ndi.find_objects(labels)):
        if box is None:
            continue
        label = index + 1
        loops = _loops(labels[box] == label)
        dy, dx = box[0].start, box[1].start
        loops = [loop + np.array([dx, dy]) for loop in loops]
        outer = sorted((loop for loop in loops if _area(loop) > 0), key=_area, reverse=True)
        holes = [loop for loop in loops if _area(loop) < 0]
        result[label] = outer + holes
    return result


# java.awt.geom.PathIterator's segment types, as an ImageJ composite (ShapeRoi) ROI stores its path.
_SEG_MOVETO, _SEG_LINETO, _SEG_CLOSE = 0, 1, 4


def encode_roi_zip(labels: np.ndarray) -> bytes:
    """An ImageJ/Fiji ROI set: a ``.zip`` of one traced polygon ``.roi`` per object, named by its label.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        0 = background, objects any positive ids.

    Returns
    -------
    bytes
        The zip file: ``0001.roi``, ``0002.roi``, ... (the label, zero-padded to the widest), each ROI named
        by its label, along the object's pixel edges (:func:`object_outlines`). An object in one piece without
        holes is a traced polygon (ImageJ's traced-ROI type); an object with holes or in several pieces is a
        composite ROI (ImageJ's ShapeRoi: every outline as a closed sub-path, filled by the even-odd rule, so
        holes stay empty and every piece is there). Either way the ROI's area in Fiji is the object's pixel
        count.

    Raises
    ------
    ParameterError
        If ``labels`` is not a 2-D integer array or holds negative values.

    References
    ----------
    roifile (C. Gohlke), https://github.com/cgohlke/roifile; ImageJ's ROI Manager reads the zip
    (*More > Open...*); ImageJ's ij/io/RoiDecoder.java (``getShapeRoi``) and ij/gui/ShapeRoi.java (a path
    filled with ``GeneralPath.WIND_EVEN_ODD``) read the composite ROIs.

    Examples
    --------
    >>> import roifile, zipfile, io
    >>> labels = np.zeros((5, 5), np.int32); labels[1:3, 1:4] = 1
    >>> with zipfile.ZipFile(io.BytesIO(encode_roi_zip(labels))) as z:
    ...     roi = roifile.ImagejRoi.frombytes(z.read("0001.roi"))
    >>> roi.name, roi.coordinates().tolist()
    ('1', [[1.0, 1.0], [4.0, 1.0], [4.0, 3.0], [1.0, 3.0]])
    """
    outlines = object_outlines(labels)
    width = max(4, len(str(max(outlines, default=0))))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for label, outline in outlines.items():
            add_roi(archive, label, roi_bytes(label, outline), width)
    return buffer.getvalue()


def roi_bytes(label: int, outline: list[np.ndarray]) -> bytes:
    """One object's ImageJ ``.roi`` named by its label, from its :func:`object_outlines`.

    One outline: a traced polygon. Several (holes, pieces): a composite ROI whose path holds each outline as a
    closed sub-path (MOVETO, LINETO..., CLOSE, in pixel-corner coordinates), which ImageJ fills by the even-odd
    rule: the area of the outer outlines minus the holes', the object's pixel count.
    """
    if len(outline) == 1:
        roi = roifile.ImagejRoi.frompoints(outline[0].astype(np.float64), name=str(label))
        roi.roitype = roifile.ROI_TYPE.TRACED
        return roi.tobytes()
    path: list[float] = []
    for loop in outline:
        (x0, y0), rest = loop[0].tolist(), loop[1:].tolist()
        path += [_SEG_MOVETO, x0, y0]
        for x, y in rest:
            path += [_SEG_LINETO, x, y]
        path.append(_SEG_CLOSE)
    corners = np.concatenate(outline)
    (left, top), (right, bottom) = corners.min(axis=0).tolist(), corners.max(axis=0).tolist()
    roi = roifile.ImagejRoi(roitype=roifile.ROI_TYPE.RECT, name=str(label), left=left, top=top, right=right,
                            bottom=bottom, shape_roi_size=len(path),
                            multi_coordinates=np.array(path, np.float32))
    return roi.tobytes()


def add_roi(archive: zipfile.ZipFile, label: int, data: bytes, width: int) -> None:
    """Add one ``.roi`` to a ROI set as :func:`encode_roi_zip` does (name zero-padded to ``width``, fixed date)."""
    info = zipfile.ZipInfo(f"{label:0{width}d}.roi", date_time=(1980, 1, 1, 0, 0, 0))  # same bytes every run
    archive.writestr(info, data, zipfile.ZIP_DEFLATED)


def _json_number(value: Any) -> Any:
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None  # JSON has no NaN: "no value"


def encode_geojson(labels: np.ndarray, measurements: Mapping[str, Any] | None = None, *,
                   object_type: str = "detection") -> bytes:
    """The objects as a GeoJSON FeatureCollection for QuPath: one polygon feature per object.

    Parameters
    ----------
    labels : (H, W) ndarray of int
        0 = background, objects any positive ids.
    measurements : mapping of str to 1-D array, optional
        Columns with one value per object in label order and a ``"label"`` column, such as
        :attr:`segmentation.MeasurementTable.columns`; each object's row becomes its ``measurements``.
    object_type : {"detection", "annotation"}
        QuPath's object type for the features (detections are light, annotations editable).

    Returns
    -------
    bytes
        UTF-8 JSON: ``{"type": "FeatureCollection", "features": [...]}``, each feature ``{"type": "Feature",
        "id": "<label>", "geometry": Polygon or MultiPolygon, "properties": {"objectType", "name": "<label>",
        "label", "measurements": {...}}}``. Coordinates are pixels (x = column, y = row, the image's top-left
        corner at (0, 0): what QuPath uses), along the pixel edges (:func:`object_outlines`); rings are
        closed, exterior rings with a positive shoelace area in (x, y) as written (anticlockwise with y up)
        and holes with a negative one, the right-hand rule of RFC 7946 §3.1.6. NaN measurements are null.

    Raises
    ------
    ParameterError
        If ``labels`` is not a 2-D integer array or holds negative values, ``measurements`` has no
        ``"label"`` column or lacks an object, or ``object_type`` is not one of the two words.

    References
    ----------
    RFC 7946 (doi:10.17487/RFC7946); QuPath's GeoJSON import (https://qupath.readthedocs.io, "Exporting and
    importing objects").

    Examples
    --------
    >>> labels = np.zeros((4, 4), np.int32); labels[1:3, 1:3] = 1
    >>> json.loads(encode_geojson(labels))["features"][0]["geometry"]["coordinates"]
    [[[1, 1], [3, 1], [3, 3], [1, 3], [1, 1]]]
    """
    if object_type not in ("detection", "annotation"):
        raise ParameterError(f"object_type must be detection or annotation; got {object_type!r}")
    outlines = object_outlines(labels)
    rows: dict[int, dict[str, Any]] = {}
    if measurements is not None:
        if "label" not in measurements:
            raise ParameterError("measurements must have a 'label' column (segmentation.measure(...).columns)")
        for i, label in enumerate(np.asarray(measurements["label"]).tolist()):
            rows[int(label)] = geojson_row(measurements, i)
        missing = sorted(set(outlines) - set(rows))
        if missing:
            raise ParameterError(f"measurements have no row for object(s) {missing[:5]}")
    features = [geojson_feature(label, outline, rows.get(label) if rows else None, object_type)
                for label, outline in outlines.items()]
    collection = {"type": "FeatureCollection", "features": features}
    return (json.dumps(collection, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def geojson_row(measurements: Mapping[str, Any], i: int) -> dict[str, Any]:
    """Row ``i`` of measurement columns as a GeoJSON feature's ``measurements`` (NaN as null, no label)."""
    return {name: _json_number(np.asarray(measurements[name])[i]) for name in measurements if name != "label"}


def geojson_feature(label: int, outline: list[np.ndarray], row: dict[str, Any] | None,
                    object_type: str = "detection") -> dict[str, Any]:
    """One object's GeoJSON feature as :func:`encode_geojson` writes it, from its :func:`object_outlines`."""
    pieces: list[list[list[list[int]]]] = []
    for loop in outline:
        # Outer outlines have a positive shoelace area in (x, y) as written (anticlockwise with y up, the
        # right-hand rule of RFC 7946 §3.1.6; clockwise on the screen), holes a negative one: kept as they are.
        ring = loop
        ring_list = ring.tolist() + [ring[0].tolist()]
        if _area(loop) > 0:
            pieces.append([ring_list])
        else:  # a hole: in the smallest piece whose outline encloses it (pieces come largest first; a piece on
            # an island inside another piece's hole lies inside that piece's outline too)
            host = next((p for p in reversed(pieces) if _inside(ring[0], np.array(p[0][:-1]))), pieces[0])
            host.append(ring_list)
    geometry = ({"type": "Polygon", "coordinates": pieces[0]} if len(pieces) == 1
                else {"type": "MultiPolygon", "coordinates": pieces})
    properties: dict[str, Any] = {"objectType": object_type, "name": str(label), "label": label,
                                  "recipeVersion": RECIPE_VERSION}
    if row is not None:
        properties["measurements"] = row
    return {"type": "Feature", "id": str(label), "geometry": geometry, "properties": properties}


def _inside(point: np.ndarray, ring: np.ndarray) -> bool:
    """Whether a corner of a hole lies inside a ring (even-odd rule on a point nudged into the hole's pixel)."""
    x, y = point[0] + 0.5, point[1] + 0.5
    xs, ys = ring[:, 0].astype(float), ring[:, 1].astype(float)
    x2, y2 = np.roll(xs, -1), np.roll(ys, -1)
    crosses = ((ys > y) != (y2 > y)) & (x < (x2 - xs) * (y - ys) / np.where(y2 != ys, y2 - ys, 1) + xs)
    return bool(np.count_nonzero(crosses) % 2)


def _multiscales(name: str, axes: list[dict], scale: list[float], levels: int) -> list[dict]:
    """OME-NGFF 0.4 ``multiscales``: level k (array ``"k"``) has the scale of level 0 times 2**k in y and x."""
    fixed = len(scale) - 2  # the channel axis keeps its scale
    datasets = [{"path": str(k), "coordinateTransformations": [
        {"type": "scale", "scale": scale[:fixed] + [value * 2 ** k for value in scale[fixed:]]}]}
        for k in range(levels)]
    return [{"version": "0.4", "name": name, "axes": axes, "type": "none", "datasets": datasets}]


def pyramid_shapes(shape: tuple[int, int], chunk: int) -> list[tuple[int, int]]:
    """The (height, width) of each pyramid level, level 0 first.

    Level 0 is ``shape``; each next one is half the one before (rounded up), until a level fits in one ``chunk`` ×
    ``chunk`` chunk (that level is the last).
    """
    shapes = [tuple(int(n) for n in shape)]
    while shapes[-1][0] > chunk or shapes[-1][1] > chunk:
        shapes.append(tuple(-(-n // 2) for n in shapes[-1]))
    return shapes


def _halved_image(block: np.ndarray) -> np.ndarray:
    """A (h, w[, 3]) block shrunk 2× by the mean of each 2 × 2 pixels, rounded half up for integers.

    The last row or column of an odd side is repeated.
    """
    pad = [(0, block.shape[0] % 2), (0, block.shape[1] % 2)] + [(0, 0)] * (block.ndim - 2)
    even = np.pad(block, pad, mode="edge").astype(np.float64)
    mean = (even[0::2, 0::2] + even[1::2, 0::2] + even[0::2, 1::2] + even[1::2, 1::2]) / 4
    if block.dtype.kind in "iu":
        mean = np.floor(mean + 0.5)
    return mean.astype(block.dtype)


class OmeZarrPyramid:
    """An OME-Zarr folder (OME-NGFF 0.4, Zarr format 2) of an image and its labels, written a region at a time.

    The layout of :func:`write_ome_zarr`: the image's pyramid (arrays ``0``, ``1``, ... of the root group) and the
    labels' (``labels/objects/0``, ``1``, ...), every level half the one before (rounded up) until it fits in one
    chunk. Write level 0 with :meth:`write`, then call :meth:`finish` to compute the other levels region by
    region: the labels by taking every other pixel (the nearest neighbour, as OME-NGFF requires of labels: no
    new values), the image by the mean of each 2 × 2 pixels.
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, int], image_dtype, rgb: bool, label_dtype, *,
                 pixel_size: float | None = None, unit: str = "µm", name: str = "image", chunk: int = 1024,
                 provenance: dict | None = None):
        if pixel_size is not None and not (isinstance(pixel_size, (int, float)) and math.isfinite(pixel_size)
                                           and pixel_size > 0):
            raise ParameterError(f"pixel_size must be a number above 0 or None; got {pixel_size!r}")
        ngff_unit = UDUNITS[length_unit(unit)] if pixel_size else None  # OME-NGFF 0.4: a UDUNITS-2 length unit
        path = Path(path)
        if path.exists():
            raise ParameterError(f"{path} exists already; choose another name")
        self.rgb, self.chunk = bool(rgb), int(chunk)
        self.shapes = pyramid_shapes(shape, self.chunk)
        space = [{"name": axis, "type": "space", **({"unit": ngff_unit} if ngff_unit else {})} for axis in "yx"]
        step = float(pixel_size) if pixel_size else 1.0
        axes = ([{"name": "c", "type": "channel"}] if rgb else []) + space
        scale = ([1.0] if rgb else []) + [step, step]
        lead = (3,) if rgb else ()
        label_lead = (1,) if rgb else ()
        self.root = zarr.open_group(str(path), mode="w", zarr_format=2)
        self.images, self.labels = [], []
        for k, level in enumerate(self.shapes):
            chunks = tuple(min(n, self.chunk) for n in level)
            self.images.append(self.root.create_array(str(k), shape=lead + level, dtype=image_dtype,
                                                      chunks=lead + chunks, fill_value=0))
        self.root.attrs.update({"multiscales": _multiscales(name, axes, scale, len(self.shapes)),
                                "segmentation-studio": {"recipe_version": RECIPE_VERSION, **(provenance or {})}})
        group = self.root.create_group("labels")
        group.attrs.update({"labels": ["objects"]})
        objects = group.create_group("objects")
        for k, level in enumerate(self.shapes):
            chunks = tuple(min(n, self.chunk) for n in level)
            self.labels.append(objects.create_array(str(k), shape=label_lead + level, dtype=label_dtype,
                                                    chunks=label_lead + chunks, fill_value=0))
        objects.attrs.update({"multiscales": _multiscales("objects", axes, scale, len(self.shapes)),
                              "image-label": {"version": "0.4", "source": {"image": "../../"}}})
        self.path = path

    def write(self, rows: slice, cols: slice, image: np.ndarray | None = None, labels: np.ndarray | None = None):
        """Write a region of level 0: ``image`` (h, w[, 3]) and/or ``labels`` (h, w)."""
        if image is not None:
            self.images[0][(slice(None),) * self.rgb + (rows, cols)] = np.moveaxis(image, -1, 0) if self.rgb else image
        if labels is not None:
            self.labels[0][(slice(None),) * self.rgb + (rows, cols)] = labels[None] if self.rgb else labels

    def _read(self, array, r0: int, r1: int, c0: int, c1: int, image: bool) -> np.ndarray:
        block = np.asarray(array[(slice(None),) * self.rgb + (slice(r0, r1), slice(c0, c1))])
        if not self.rgb:
            return block
        return np.moveaxis(block, 0, -1) if image else block[0]

    def finish(self) -> Path:
        """Compute levels 1, 2, ... from the one before, a region of ``2 × chunk`` pixels at a time."""
        step = 2 * self.chunk
        for k in range(1, len(self.shapes)):
            height, width = self.shapes[k - 1]
            for r0 in range(0, height, step):
                for c0 in range(0, width, step):
                    r1, c1 = min(r0 + step, height), min(c0 + step, width)
                    rows, cols = slice(r0 // 2, -(-r1 // 2)), slice(c0 // 2, -(-c1 // 2))
                    image = _halved_image(self._read(self.images[k - 1], r0, r1, c0, c1, True))
                    labels = self._read(self.labels[k - 1], r0, r1, c0, c1, False)[::2, ::2]
                    self.images[k][(slice(None),) * self.rgb + (rows, cols)] = (np.moveaxis(image, -1, 0)
                                                                                 if self.rgb else image)
                    self.labels[k][(slice(None),) * self.rgb + (rows, cols)] = labels[None] if self.rgb else labels
        return self.path


def write_ome_zarr(path: str | os.PathLike, image: np.ndarray, labels: np.ndarray, *,
                   pixel_size: float | None = None, unit: str = "µm", name: str = "image",
                   chunk: int = 1024, provenance: dict | None = None) -> Path:
    """Write the image and its labels as an OME-Zarr folder (OME-NGFF 0.4, Zarr format 2), with pyramids.

    Parameters
    ----------
    path : str or os.PathLike
        The folder to create (by convention ending in ``.ome.zarr``); it must not exist yet.
    image : (H, W) or (H, W, 3) ndarray
        The image the labels belong to (gray: axes y, x; RGB: axes c, y, x).
    labels : (H, W) ndarray of int
        0 = background; written as int32 (uint32 beyond its range) under ``labels/objects``.
    pixel_size : float, optional
        Size of one pixel in ``unit``: the ``scale`` coordinate transformation of y and x (1 and no unit
        without it).
    unit : str
        The length unit (``"µm"``, ``"nm"``, ...; any spelling :func:`segmentation.length_unit` takes), written as
        its OME-NGFF (UDUNITS-2) name (``"micrometer"``, ...). Ignored without a ``pixel_size``.
    name : str
        The image's name in the metadata.
    chunk : int
        The chunk side (px) of every array, and the size the pyramid shrinks to.
    provenance : dict, optional
        JSON values added to the root's ``segmentation-studio`` attributes beside ``recipe_version`` (the batch
        adds the recipe, its ``recipe_sha256`` and the library ``versions``, as in its summary).

    Returns
    -------
    pathlib.Path
        ``path``. The folder holds ``.zgroup``/``.zattrs`` (``multiscales``), the image's arrays ``0``, ``1``, ...
        and ``labels/`` (``{"labels": ["objects"]}``) with ``labels/objects`` (``multiscales`` and
        ``image-label``, source ``../../``) and its arrays ``0``, ``1``, .... Level 0 is full resolution; each
        next level is half the one before (rounded up: :func:`pyramid_shapes`) until one fits in a single chunk,
        the labels by taking every other pixel (nearest neighbour, as OME-NGFF requires of labels), the image by
        the mean of each 2 × 2 pixels, and its ``scale`` is level 0's times 2**level.

    Raises
    ------
    ParameterError
        If the shapes differ, ``labels`` is not a 2-D integer array of non-negative values, ``pixel_size``
        is not above 0, ``unit`` is not a length unit (with a ``pixel_size``), or ``path`` exists.

    References
    ----------
    OME-NGFF 0.4 (https://ngff.openmicroscopy.org/0.4/), Moore et al., Nature Methods 18:1496, 2021,
    doi:10.1038/s41592-021-01326-w; written with zarr-python.

    Examples
    --------
    >>> import tempfile, zarr
    >>> folder = Path(tempfile.mkdtemp()) / "x.ome.zarr"
    >>> _ = write_ome_zarr(folder, np.zeros((4, 4), np.uint8), np.ones((4, 4), np.int32), pixel_size=0.5)
    >>> zarr.open_group(folder, mode="r")["labels/objects/0"].shape
    (4, 4)
    """
    labels = _checked_labels(labels)
    image = np.asarray(image)
    if image.shape[:2] != labels.shape or image.ndim not in (2, 3):
        raise ParameterError(f"image and labels must have the same height and width; got {image.shape} and "
                             f"{labels.shape}")
    if pixel_size is not None and not (isinstance(pixel_size, (int, float)) and math.isfinite(pixel_size)
                                       and pixel_size > 0):
        raise ParameterError(f"pixel_size must be a number above 0 or None; got {pixel_size!r}")
    label_dtype = np.int32 if labels.max(initial=0) <= np.iinfo(np.int32).max else np.uint32
    pyramid = OmeZarrPyramid(path, labels.shape, image.dtype, image.ndim == 3, label_dtype, pixel_size=pixel_size,
                             unit=unit, name=name, chunk=chunk, provenance=provenance)
    pyramid.write(slice(None), slice(None), image, labels.astype(label_dtype, copy=False))
    return pyramid.finish()


def encode_ome_zarr_zip(image: np.ndarray, labels: np.ndarray, *, pixel_size: float | None = None,
                        unit: str = "µm", name: str = "image") -> bytes:
    """:func:`write_ome_zarr`'s folder as a zip (a download): unzip it to get ``<name>.ome.zarr``.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray
        The image the labels belong to.
    labels : (H, W) ndarray of int
        0 = background.
    pixel_size : float, optional
        Size of one pixel in ``unit`` (the coordinate scale).
    unit : str
        The length unit.
    name : str
        The image's name, and the folder's (``<name>.ome.zarr``).

    Returns
    -------
    bytes
        A zip holding the folder ``<name>.ome.zarr/`` (entries in sorted order, fixed dates).

    Raises
    ------
    ParameterError
        As :func:`write_ome_zarr`.

    Examples
    --------
    >>> data = encode_ome_zarr_zip(np.zeros((4, 4), np.uint8), np.ones((4, 4), np.int32))
    >>> "image.ome.zarr/labels/objects/.zattrs" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    True
    """
    with tempfile.TemporaryDirectory() as folder:
        root = write_ome_zarr(Path(folder) / f"{name}.ome.zarr", image, labels, pixel_size=pixel_size, unit=unit,
                              name=name)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(p for p in root.rglob("*") if p.is_file()):
                info = zipfile.ZipInfo(file.relative_to(folder).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                archive.writestr(info, file.read_bytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
