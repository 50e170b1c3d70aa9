"""What an image segmented in tiles gives, as the whole-image batch gives it, without ever holding the whole image.

:func:`write_tiled_outputs` takes :func:`~segmentation.batch.segment_tiled`'s result (mask and labels in Zarr
arrays) and the image opened region by region, and writes:

- ``<stem>.ome.zarr``: the image and its labels as OME-Zarr (OME-NGFF 0.4), the layout of the whole-image
  ``--export ome-zarr`` (``OmeZarrPyramid`` of ``export/_interop.py``, one writer for both): a multiscale pyramid
  of the image and one of the labels (``labels/objects``), each level half the one before until it fits in one
  chunk (1024 px, as the whole-image export: the same folder for the same image), the pixel size as the
  coordinate scale; level 0 of the labels is ``segment_tiled``'s labels;
- ``<stem>_measurements.csv``: the rows :func:`segmentation.measure` gives for the whole image, byte for byte.
  Each object is measured once, on a crop that holds it whole: its bounding box (from a pass over the labels)
  grown by one pixel, so its contour and perimeter are the whole image's. The objects are grouped by the tile
  that holds their bounding box's top-left corner, and measured together on the smallest crop holding all of
  them, with every other object's pixels set to 0 (a neighbour counts as "not this object" either way). The
  centroid is computed from exact integer sums in the whole image's coordinates (what ``measure`` divides),
  and the bounding box is moved by the crop's corner; the other columns do not depend on where the object is;
- with ``roi`` and ``geojson`` exports, ``<stem>_rois.zip`` and ``<stem>.geojson``, byte for byte what
  :func:`segmentation.encode_roi_zip` and :func:`segmentation.encode_geojson` give for the whole image: each
  object's outline is traced on the same crop (:func:`segmentation.object_outlines` of one object depends on
  its pixels only).

The rows, ROIs and features of each tile are written to a scratch file in label order, and the files are merged
(``heapq.merge``, at most 128 files at a time): one object per file is held at a time. Memory is bounded by a
tile grown by the largest object, never by the image.

The mask stays in ``<stem>_tiles.zarr`` (array ``mask``, with the labels as array ``labels``: a Zarr group);
an overlay image of a slide is not drawn (said in the summary's message).

This module imports zarr (and ``_tiles``) at its top and is loaded on demand only: the command line's
:func:`process_tiled` (one image of a batch in tiles) lives here.

References
----------
OME-NGFF 0.4 (https://ngff.openmicroscopy.org/0.4/), J. Moore et al., Nature Methods 18:1496–1498, 2021,
doi:10.1038/s41592-021-01326-w.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import pickle
import secrets
import shutil
import tempfile
import time
import types
import zipfile
from pathlib import Path

import numpy as np
import tifffile
import zarr
from scipy import ndimage

from ..export._interop import (
    OmeZarrPyramid,
    add_roi,
    geojson_feature,
    geojson_row,
    object_outlines,
    roi_bytes,
)
from ..io import resolve_pixel_size
from ..io._stack import tiff_layout
from ..measurement import MeasurementTable, measure
from ..measurement._table import _recipe_comment
from ..recipes import ThresholdRecipe, length_unit, recipe_from_json
from ._options import TIFF_SUFFIXES
from ._plate import bit_depth, provenance
from ._tiles import open_image, segment_tiled

__all__ = ["write_tiled_outputs", "file_scale_info", "label_boxes", "process_tiled"]


def file_scale_info(path: str | os.PathLike):
    """What a TIFF's metadata or an OME-Zarr's ``multiscales`` say of the pixel size, read without the pixels.

    Returns an object with ``pixel_size``, ``unit`` and ``pixel_size_source`` (as
    :class:`segmentation.ImageInfo`, for :func:`segmentation.resolve_pixel_size`), or None when unknown.
    """
    path = Path(path)
    try:
        if path.suffix.lower() in TIFF_SUFFIXES:
            with tifffile.TiffFile(path) as tif:
                layout = tiff_layout(tif)
            return types.SimpleNamespace(pixel_size=layout.pixel_size, unit=layout.unit,
                                         pixel_size_source=layout.pixel_size_source)
        if path.is_dir():
            group = zarr.open(str(path), mode="r")
            if not isinstance(group, zarr.Group):
                return None
            multiscales = group.attrs.get("multiscales") or group.attrs.get("ome", {}).get("multiscales")
            if not multiscales:
                return None
            axes = multiscales[0]["axes"]
            scale = next(t["scale"] for t in multiscales[0]["datasets"][0]["coordinateTransformations"]
                         if t["type"] == "scale")
            named = {(a["name"] if isinstance(a, dict) else a): (a, s) for a, s in zip(axes, scale)}
            (_, y), (x_axis, x) = named["y"], named["x"]
            unit = x_axis.get("unit") if isinstance(x_axis, dict) else None
            if not unit or not math.isclose(float(x), float(y), rel_tol=1e-6) or not float(x) > 0:
                return None
            return types.SimpleNamespace(pixel_size=float(x), unit=length_unit(unit),
                                         pixel_size_source="OME-Zarr multiscales scale")
    except Exception:  # noqa: BLE001 - metadata that cannot be read: measurements in pixels, as for a plain file
        return None
    return None


def _tiles(shape: tuple[int, int], tile: int):
    for r0 in range(0, shape[0], tile):
        for c0 in range(0, shape[1], tile):
            yield r0, min(r0 + tile, shape[0]), c0, min(c0 + tile, shape[1])


def label_boxes(labels, count: int, tile: int, each=None) -> np.ndarray:
    """Each object's bounding box ``(min_row, min_col, max_row, max_col)`` (max exclusive), read tile by tile.

    Row 0 is unused (background); an absent label keeps ``(max, max, -1, -1)``. ``each(r0, r1, c0, c1, block)``
    is called with every tile's labels (to copy them on the way).
    """
    shape = tuple(labels.shape)
    boxes = np.empty((count + 1, 4), np.int64)
    boxes[:, :2] = np.iinfo(np.int64).max
    boxes[:, 2:] = -1
    for r0, r1, c0, c1 in _tiles(shape, tile):
        block = np.asarray(labels[r0:r1, c0:c1])
        if each is not None:
            each(r0, r1, c0, c1, block)
        present = np.flatnonzero(np.bincount(block.ravel(), minlength=count + 1))
        present = present[present > 0]
        if not present.size:
            continue
        lookup = np.zeros(count + 1, np.int32)
        lookup[present] = np.arange(1, present.size + 1, dtype=np.int32)
        found = ndimage.find_objects(lookup[block])
        local = np.array([[s[0].start, s[1].start, s[0].stop, s[1].stop] for s in found], np.int64)
        local += np.array([r0, c0, r0, c0])
        boxes[present, 0] = np.minimum(boxes[present, 0], local[:, 0])
        boxes[present, 1] = np.minimum(boxes[present, 1], local[:, 1])
        boxes[present, 2] = np.maximum(boxes[present, 2], local[:, 2])
        boxes[present, 3] = np.maximum(boxes[present, 3], local[:, 3])
    return boxes


def _records(name: str):
    """The records pickled one after another in the file ``name``, one at a time."""
    with open(name, "rb") as handle:
        while True:
            try:
                yield pickle.load(handle)
            except EOFError:
                return


#: The most scratch files merged at once (each open while merging); more are merged in rounds.
_MERGE_FILES = 128


def _merged(parts: list[str], scratch: str):
    """The records of every file in ``parts`` (each in label order), in label order, ``_MERGE_FILES`` at a time."""
    round_ = 0
    while len(parts) > _MERGE_FILES:
        merged = []
        for k in range(0, len(parts), _MERGE_FILES):
            name = os.path.join(scratch, f"merged-{round_}-{k}.pickle")
            with open(name, "wb") as handle:
                for record in heapq.merge(*map(_records, parts[k:k + _MERGE_FILES]), key=lambda r: r[0]):
                    pickle.dump(record, handle, protocol=pickle.HIGHEST_PROTOCOL)
            merged.append(name)
        parts, round_ = merged, round_ + 1
    return heapq.merge(*map(_records, parts), key=lambda record: record[0])


def _measure_crop(labels, image, boxes: np.ndarray, ids: np.ndarray, count: int, scale,
                  outlines: bool) -> tuple[MeasurementTable, dict | None]:
    """The measurement rows of objects ``ids`` (and their outlines), in the whole image's coordinates."""
    height, width = labels.shape[:2]
    R0 = max(0, int(boxes[ids, 0].min()) - 1)
    C0 = max(0, int(boxes[ids, 1].min()) - 1)
    R1 = min(height, int(boxes[ids, 2].max()) + 1)
    C1 = min(width, int(boxes[ids, 3].max()) + 1)
    crop = np.asarray(labels[R0:R1, C0:C1])
    own = np.zeros(count + 1, bool)
    own[ids] = True
    crop = np.where(own[crop], crop, 0).astype(crop.dtype, copy=False)
    pixels = np.asarray(image[R0:R1, C0:C1])
    table = measure(crop, pixels, pixel_size=scale.size, unit=scale.unit)
    names = table.column_names
    columns = dict(table.columns)
    # the centroid from exact sums of whole numbers in the whole image's rows and columns, as measure divides them
    index = np.zeros(count + 1, np.intp)
    index[ids] = np.arange(1, ids.size + 1)
    compact = index[crop].ravel()
    area = np.bincount(compact, minlength=ids.size + 1)[1:].astype(np.float64)
    rows = np.repeat(np.arange(R0, R1, dtype=np.float64), C1 - C0)
    cols = np.tile(np.arange(C0, C1, dtype=np.float64), R1 - R0)
    row_sums = np.bincount(compact, weights=rows, minlength=ids.size + 1)[1:]
    col_sums = np.bincount(compact, weights=cols, minlength=ids.size + 1)[1:]
    factor = 1.0 if scale.size is None else scale.size
    columns[names[3]] = (row_sums / area) * factor
    columns[names[4]] = (col_sums / area) * factor
    for name, offset in (("bbox_min_row", R0), ("bbox_min_col", C0), ("bbox_max_row", R0), ("bbox_max_col", C0)):
        columns[name] = columns[name] + offset
    table = MeasurementTable(columns, unit=table.unit, pixel_size=table.pixel_size)
    traced = None
    if outlines:
        corner = np.array([C0, R0])
        traced = {label: [loop + corner for loop in loops] for label, loops in object_outlines(crop).items()}
    return table, traced


def write_tiled_outputs(result, image, folder: str | os.PathLike, names: dict[str, str], *, scale,
                        exports: tuple[str, ...] = (), name: str = "image",
                        recipe_json: str | None = None) -> list[str]:
    """Write a tiled segmentation's OME-Zarr, measurements and exports into ``folder``; the notes for the summary.

    Parameters
    ----------
    result : TiledResult
        :func:`~segmentation.batch.segment_tiled`'s result (its ``labels`` and ``mask`` Zarr arrays, ``count``
        and ``tile``).
    image : array_like, (H, W) or (H, W, 3) uint8 or uint16
        The image, read a region at a time (:func:`~segmentation.batch.open_image`).
    folder : str or os.PathLike
        Where to write (a staging folder: the caller moves the files to their place).
    names : dict
        File names by role: ``"ome-zarr"`` and ``"measurements"`` (always), ``"roi"`` and ``"geojson"`` (with
        those ``exports``).
    scale : segmentation.PixelSize
        The pixel size measurements and the OME-Zarr's scale use.
    exports : tuple of str
        Among ``roi``, ``geojson``, ``ome-zarr`` (the OME-Zarr is written either way).
    name : str
        The image's name in the OME-Zarr metadata.
    recipe_json : str, optional
        The recipe's JSON: the measurements CSV then starts with the comment line naming its version, kind and
        SHA-256, as a whole image's (:meth:`segmentation.MeasurementTable.to_csv`).

    Returns
    -------
    list of str
        Notes for the summary's message.
    """
    folder = Path(folder)
    labels, count, tile = result.labels, int(result.count), int(result.tile)
    shape = tuple(labels.shape)
    rgb = len(image.shape) == 3
    pyramid = OmeZarrPyramid(folder / names["ome-zarr"], shape, np.dtype(image.dtype), rgb, np.int32,
                             pixel_size=scale.size, unit=scale.unit if scale.size else "µm", name=name,
                             provenance=provenance(recipe_json) if recipe_json else None)

    def copy(r0, r1, c0, c1, block):
        pyramid.write(slice(r0, r1), slice(c0, c1), np.asarray(image[r0:r1, c0:c1]), block.astype(np.int32))

    boxes = label_boxes(labels, count, tile, copy)
    pyramid.finish()

    want_roi, want_geojson = "roi" in exports, "geojson" in exports
    owner = (boxes[1:, 0] // tile) * (-(-shape[1] // tile)) + boxes[1:, 1] // tile
    order = np.argsort(owner, kind="stable")
    ids_sorted = order + 1
    starts = np.flatnonzero(np.diff(owner[order], prepend=-1)) if count else np.zeros(0, np.intp)
    header = None
    with tempfile.TemporaryDirectory(prefix="segmentation-tiled-out-", dir=folder) as scratch:
        parts = []
        for k, start in enumerate(starts.tolist()):
            stop = starts[k + 1] if k + 1 < len(starts) else count
            ids = np.sort(ids_sorted[start:stop])
            table, traced = _measure_crop(labels, image, boxes, ids, count, scale, want_roi or want_geojson)
            lines = table.to_csv().splitlines(keepends=True)
            header = lines[0]
            part = os.path.join(scratch, f"{k}.pickle")
            with open(part, "wb") as handle:
                for i, (label, line) in enumerate(zip(table["label"].tolist(), lines[1:])):
                    roi = roi_bytes(label, traced[label]) if want_roi else None
                    feature = (json.dumps(geojson_feature(label, traced[label], geojson_row(table.columns, i)),
                                          ensure_ascii=False, separators=(",", ":")) if want_geojson else None)
                    pickle.dump((label, line, roi, feature), handle, protocol=pickle.HIGHEST_PROTOCOL)
            parts.append(part)
        if header is None:  # no objects: measure's columns, zero rows
            header = measure(np.zeros((1, 1), np.int32), np.asarray(image[0:1, 0:1]), pixel_size=scale.size,
                             unit=scale.unit).to_csv()
        csv_file = open(folder / names["measurements"], "w", encoding="utf-8", newline="")
        archive = zipfile.ZipFile(folder / names["roi"], "w", zipfile.ZIP_DEFLATED) if want_roi else None
        geojson = open(folder / names["geojson"], "w", encoding="utf-8", newline="") if want_geojson else None
        try:
            if recipe_json is not None:  # the comment line naming the recipe, as a whole image's CSV has it
                csv_file.write(_recipe_comment(recipe_json))
            csv_file.write(header)
            if geojson is not None:
                geojson.write('{"type":"FeatureCollection","features":[')
            width = max(4, len(str(count)))
            first = True
            for label, line, roi, feature in _merged(parts, scratch):
                csv_file.write(line)
                if archive is not None:
                    add_roi(archive, label, roi, width)
                if geojson is not None:
                    geojson.write(("" if first else ",") + feature)
                first = False
            if geojson is not None:
                geojson.write("]}\n")
        finally:
            csv_file.close()
            if archive is not None:
                archive.close()
            if geojson is not None:
                geojson.close()
    return []


def _zarr_group(path: Path, tile: int) -> None:
    """Make ``segment_tiled``'s folder of arrays ``mask`` and ``labels`` a Zarr group that says what they are."""
    group = zarr.open_group(str(path), mode="a")
    group.attrs.update({"segmentation-studio": {
        "mask": "the foreground, bool (H, W)", "labels": "the objects, int32 (H, W), 0 = background",
        "tile": tile}})


def _move(source: Path, target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    os.replace(source, target)


def process_tiled(task: dict, row: dict, start: float) -> dict:
    """One batch task in tiles: ``<stem>_tiles.zarr``, ``<stem>.ome.zarr``, the measurements and the exports.

    Everything is written in a staging folder beside the outputs (``.<stem>_tiles.zarr.<12 hex>.tmp``, which a
    later batch removes if this one is killed) and then moved to its place. ``task["tiled_because"]`` (why the
    image was tiled when ``--tile`` was not given) is added to the row's message, and on an error
    ``task["whole_hint"]`` too.
    """
    names = task["names"]
    out_dir = Path(task["out_dir"])
    try:
        recipe = recipe_from_json(task["recipe"])
        fg = recipe if isinstance(recipe, ThresholdRecipe) else recipe.foreground
        staging = out_dir / f".{names['tiles']}.{secrets.token_hex(6)}.tmp"
        try:
            staging.mkdir()
            result = segment_tiled(task["path"], recipe, tile=task["tile"], out=staging / names["tiles"],
                                   memory_budget=task.get("memory_budget"))
            _zarr_group(staging / names["tiles"], result.tile)
            height, width = result.mask.shape
            foreground = sum(int(np.count_nonzero(result.mask[r0:r1, c0:c1]))
                             for r0, r1, c0, c1 in _tiles((height, width), result.tile))
            given = task.get("pixel_size")  # apply --pixel-size overrides the recipe's
            scale = resolve_pixel_size(fg.pixel_size if given is None else given, task.get("unit") or fg.unit,
                                       file_scale_info(task["path"]))
            image = open_image(task["path"])
            notes = write_tiled_outputs(result, image, staging, names, scale=scale,
                                        exports=tuple(task.get("exports") or ()),
                                        name=names["ome-zarr"].removesuffix(".ome.zarr"), recipe_json=task["recipe"])
            for role in sorted(names, key=lambda role: role == "tiles"):  # the tiles folder last: "all written"
                _move(staging / names[role], out_dir / names[role])
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        notes += result.notes
        notes.append(("" if task.get("tiled_because") else f"segmented in tiles of {result.tile} px: ")
                     + f"the mask is in {names['tiles']} (Zarr array mask), the labels in {names['ome-zarr']}; "
                     "no overlay image is drawn for a tiled image")
        row.update(width=width, height=height, bit_depth=bit_depth(image.dtype),
                   objects=result.count,
                   foreground_fraction=f"{foreground / (height * width):.6f}",
                   thresholds=" ".join(repr(float(t)).removesuffix(".0") for t in result.thresholds),
                   message="; ".join(notes))
    except MemoryError:
        row.update(status="error", message="there is not enough memory to segment this image in tiles")
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        row.update(status="error", message=f"could not read or write{where}: {error.strerror or error}")
    except ValueError as error:  # TiledError and the library's own plain-words errors
        row.update(status="error", message=str(error) or type(error).__name__)
    except Exception as error:  # a bug, reported as this file's error so the batch goes on
        row.update(status="error", message=f"unexpected error ({type(error).__name__}: {error})")
    because = task.get("tiled_because")
    if because and row["status"] == "error":
        row["message"] = f"{because}; {row['message']}{task.get('whole_hint') or ''}"
    elif because:
        row["message"] = "; ".join(filter(None, [because, row.get("message")]))
    row["seconds"] = f"{time.perf_counter() - start:.3f}"
    return row
