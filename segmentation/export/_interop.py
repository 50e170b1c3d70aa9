"""Results for the next tool: Fiji's ROI Manager, QuPath and napari (OME-NGFF).

- :func:`object_outlines`: each object's outline along its pixels' edges (the "crack" between object and
  background pixels, ImageJ's traced-ROI convention): vertices at pixel corners, x = column, y = row, so
  the polygon's area is exactly the object's pixel count (plus any holes it encloses) and filling it by
  pixel centres gives the object's pixels back.
- :func:`encode_roi_zip`: an ImageJ/Fiji ROI set (a ``.zip`` of ``.roi`` files, one polygon per object,
  named by its label), written with ``roifile``; Fiji opens it with *File > Open* or the ROI Manager's
  *More > Open...*.
- :func:`encode_geojson`: a GeoJSON FeatureCollection (RFC 7946) of one polygon per object, with the
  measurements as properties in QuPath's layout (``objectType``, ``name``, ``measurements``); QuPath imports it
  with *File > Import objects from file* (or by dropping it on the image).
- :func:`write_ome_zarr` / :func:`encode_ome_zarr_zip`: the image and its labels as OME-Zarr (OME-NGFF 0.4,
  Zarr format 2): an image group whose ``labels/objects`` group holds the label image, both with the pixel
  size as the coordinate scale; napari opens the folder with the napari-ome-zarr plugin, Fiji with MoBIE or
  the N5 plugins.

References
----------
ImageJ ROI format: roifile (C. Gohlke), after ImageJ's ij/io/RoiDecoder.java. GeoJSON: H. Butler et al.,
RFC 7946, 2016, doi:10.17487/RFC7946. QuPath GeoJSON import: P. Bankhead et al., Sci. Rep. 7:16878, 2017,
doi:10.1038/s41598-017-17204-5. OME-NGFF 0.4: J. Moore et al., Nature Methods 18:1496–1498, 2021,
doi:10.1038/s41592-021-01326-w (https://ngff.openmicroscopy.org/0.4/).
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
from ..recipes import RECIPE_VERSION

__all__ = ["object_outlines", "encode_roi_zip", "encode_geojson", "write_ome_zarr", "encode_ome_zarr_zip",
           "EXPORT_FORMATS", "NGFF_UNITS"]

#: The export names of the command line's ``--export`` and the app's Export tab.
EXPORT_FORMATS = ("roi", "geojson", "ome-zarr")
#: Units OME-NGFF names (UDUNITS-2 words) for the units people write.
NGFF_UNITS = {"µm": "micrometer", "μm": "micrometer", "um": "micrometer", "nm": "nanometer", "mm": "millimeter",
              "cm": "centimeter", "m": "meter", "Å": "angstrom"}

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


def _roi_points(outline: list[np.ndarray]) -> np.ndarray:
    return outline[0].astype(np.float64)  # the largest piece's outer outline: an ImageJ ROI has one polygon


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
        by its label. Each polygon follows the object's pixel edges (:func:`object_outlines`; ImageJ's
        traced-ROI type), so in Fiji the ROI's area is the object's pixel count (for an object in one piece
        without holes; an object in pieces gets its largest piece, holes are filled).

    Raises
    ------
    ParameterError
        If ``labels`` is not a 2-D integer array or holds negative values.

    References
    ----------
    roifile (C. Gohlke), https://github.com/cgohlke/roifile; ImageJ's ROI Manager reads the zip
    (*More > Open...*).

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
            name = f"{label:0{width}d}"
            roi = roifile.ImagejRoi.frompoints(_roi_points(outline), name=str(label))
            roi.roitype = roifile.ROI_TYPE.TRACED
            info = zipfile.ZipInfo(f"{name}.roi", date_time=(1980, 1, 1, 0, 0, 0))  # same bytes every run
            archive.writestr(info, roi.tobytes(), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


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
        names = [name for name in measurements if name != "label"]
        for i, label in enumerate(np.asarray(measurements["label"]).tolist()):
            rows[int(label)] = {name: _json_number(np.asarray(measurements[name])[i]) for name in names}
        missing = sorted(set(outlines) - set(rows))
        if missing:
            raise ParameterError(f"measurements have no row for object(s) {missing[:5]}")
    features = []
    for label, outline in outlines.items():
        pieces: list[list[list[list[int]]]] = []
        for loop in outline:
            # Outer outlines have a positive shoelace area in (x, y) as written (anticlockwise with y up, the
            # right-hand rule of RFC 7946 §3.1.6; clockwise on the screen), holes a negative one: kept as they are.
            ring = loop
            ring_list = ring.tolist() + [ring[0].tolist()]
            if _area(loop) > 0:
                pieces.append([ring_list])
            else:  # a hole: in the piece whose outline encloses it (the first that holds its first corner)
                host = next((p for p in pieces if _inside(ring[0], np.array(p[0][:-1]))), pieces[0])
                host.append(ring_list)
        geometry = ({"type": "Polygon", "coordinates": pieces[0]} if len(pieces) == 1
                    else {"type": "MultiPolygon", "coordinates": pieces})
        properties: dict[str, Any] = {"objectType": object_type, "name": str(label), "label": label,
                                      "recipeVersion": RECIPE_VERSION}
        if rows:
            properties["measurements"] = rows[label]
        features.append({"type": "Feature", "id": str(label), "geometry": geometry, "properties": properties})
    collection = {"type": "FeatureCollection", "features": features}
    return (json.dumps(collection, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _inside(point: np.ndarray, ring: np.ndarray) -> bool:
    """Whether a corner of a hole lies inside a ring (even-odd rule on a point nudged into the hole's pixel)."""
    x, y = point[0] + 0.5, point[1] + 0.5
    xs, ys = ring[:, 0].astype(float), ring[:, 1].astype(float)
    x2, y2 = np.roll(xs, -1), np.roll(ys, -1)
    crosses = ((ys > y) != (y2 > y)) & (x < (x2 - xs) * (y - ys) / np.where(y2 != ys, y2 - ys, 1) + xs)
    return bool(np.count_nonzero(crosses) % 2)


def _multiscales(name: str, axes: list[dict], scale: list[float]) -> list[dict]:
    return [{"version": "0.4", "name": name, "axes": axes, "type": "none",
             "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}]}]


def write_ome_zarr(path: str | os.PathLike, image: np.ndarray, labels: np.ndarray, *,
                   pixel_size: float | None = None, unit: str = "µm", name: str = "image") -> Path:
    """Write the image and its labels as an OME-Zarr folder (OME-NGFF 0.4, Zarr format 2).

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
        The length unit (``"µm"``, ``"nm"``, ...), written as its OME-NGFF (UDUNITS-2) name.
    name : str
        The image's name in the metadata.

    Returns
    -------
    pathlib.Path
        ``path``. The folder holds ``.zgroup``/``.zattrs`` (``multiscales``), the image array ``0``,
        and ``labels/`` (``{"labels": ["objects"]}``) with ``labels/objects`` (``multiscales`` and
        ``image-label``, source ``../../``) and its array ``0``.

    Raises
    ------
    ParameterError
        If the shapes differ, ``labels`` is not a 2-D integer array of non-negative values, ``pixel_size``
        is not above 0, or ``path`` exists.

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
    path = Path(path)
    if path.exists():
        raise ParameterError(f"{path} exists already; choose another name")
    ngff_unit = NGFF_UNITS.get(unit.strip(), unit.strip()) if pixel_size else None
    space = [{"name": axis, "type": "space", **({"unit": ngff_unit} if ngff_unit else {})} for axis in "yx"]
    step = float(pixel_size) if pixel_size else 1.0
    rgb = image.ndim == 3
    axes = ([{"name": "c", "type": "channel"}] if rgb else []) + space
    scale = ([1.0] if rgb else []) + [step, step]
    data = np.moveaxis(image, -1, 0) if rgb else image
    label_data = labels.astype(np.int32 if labels.max(initial=0) <= np.iinfo(np.int32).max else np.uint32)
    if rgb:
        label_data = label_data[None]
    chunks = tuple(min(n, 1024) for n in data.shape)
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    root.create_array("0", data=np.ascontiguousarray(data), chunks=chunks)
    root.attrs.update({"multiscales": _multiscales(name, axes, scale),
                       "segmentation-studio": {"recipe_version": RECIPE_VERSION}})
    group = root.create_group("labels")
    group.attrs.update({"labels": ["objects"]})
    objects = group.create_group("objects")
    objects.create_array("0", data=np.ascontiguousarray(label_data),
                         chunks=tuple(min(n, 1024) for n in label_data.shape))
    objects.attrs.update({"multiscales": _multiscales("objects", axes, scale),
                          "image-label": {"version": "0.4", "source": {"image": "../../"}}})
    return path


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
