"""An image bigger than memory, segmented tile by tile with overlapping halos, exactly as if whole.

The image is read through Zarr, a region at a time: a TIFF or BigTIFF through ``tifffile``'s Zarr store
(``tifffile.imread(path, aszarr=True)``: only the TIFF tiles or strips a region touches are decoded), an
OME-Zarr image (its full-resolution level), or any array. Results go to Zarr arrays (on disk with ``out``),
chunked like the tiles. Nothing but a tile and its halo is held in memory at a time.

How each step stays exact (tests/test_tiles.py compares with the whole-image library on generated images,
for tile sizes that cut objects):

- global thresholds come from the whole image's histogram, gathered tile by tile (one bin per value of the
  8- or 16-bit channel: exact): Otsu by OpenCV's own criterion evaluated on that histogram (:func:`otsu_of_counts`,
  the loop of OpenCV's ``getThreshVal_Otsu``, checked against ``cv2.threshold`` in the tests), the automatic
  polarity by counting the pixels above it; the threshold is then applied as a manual one;
- smoothing, local methods and opening/closing run on the tile plus a halo at least as wide as their
  window, and only the tile's core is kept;
- connected components: ``dask_image.ndmeasure.label`` (exact across chunks), renumbered in raster order
  of each object's first pixel, as OpenCV numbers them;
- watershed (h-maxima seeds on the distance map): each foreground object belongs to the tile holding its
  first pixel; that tile floods it with the library's :func:`~segmentation.watershed` on the tile plus the
  halo, which must hold the whole object and a margin for the distance smoothing (else a plain error asks
  for a larger halo), and the labels are numbered as the whole-image watershed numbers them: seeds in
  raster order of their first pixel, then the objects that got no seed, in raster order.

Steps that need the whole image at once (hole filling, size filter, border clearing, background
subtraction) are refused in plain words rather than approximated.

This module imports dask and zarr at its top and is loaded on demand only (see ``_dask``).

References
----------
N. Otsu, "A threshold selection method from gray-level histograms", IEEE Trans. Systems, Man and Cybernetics
9(1):62–66, 1979. :DOI:`10.1109/TSMC.1979.4310076`

C. Gohlke, tifffile (Zarr interface to TIFF files), https://github.com/cgohlke/tifffile

dask-image contributors, ``dask_image.ndmeasure.label``, https://github.com/dask/dask-image
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as da
import numpy as np
import tifffile
import zarr
from dask_image import ndmeasure
from scipy import ndimage

from ..io import load_image
from ..recipes import LOCAL_METHODS, ThresholdRecipe, WatershedRecipe, recipe_from_json
from ..regions import h_maxima_seeds, label_objects, watershed
from ..thresholding import prepare, threshold

__all__ = ["open_image", "segment_tiled", "TiledResult", "otsu_of_counts", "TiledError", "process_tiled"]

#: float32's machine epsilon, as OpenCV's Otsu loop uses it (FLT_EPSILON).
_FLT_EPSILON = float(np.finfo(np.float32).eps)


class TiledError(ValueError):
    """A recipe or an image the tiled path cannot segment exactly (plain words, names the parameter)."""


@dataclass
class TiledResult:
    """What :func:`segment_tiled` found; the pixels are in Zarr arrays, read them a region at a time.

    Attributes
    ----------
    thresholds : tuple of float
        The global threshold (empty for a local method).
    polarity : str
        ``"bright"`` or ``"dark"``.
    mask : zarr.Array, (H, W) bool
        The foreground.
    labels : zarr.Array, (H, W) int32
        The objects: connected components of the mask (threshold recipe) or watershed labels, 1..count.
    count : int
        Number of objects.
    tile, halo : int
        The tile side and the halo used, in pixels.
    """

    thresholds: tuple[float, ...]
    polarity: str
    mask: zarr.Array
    labels: zarr.Array
    count: int
    tile: int
    halo: int
    notes: list[str] = field(default_factory=list)


# -- reading -----------------------------------------------------------------------------------------
def open_image(source):
    """A 2-D (or H×W×3) array-like read a region at a time: TIFF/BigTIFF, OME-Zarr, Zarr, or an array.

    Other image files (PNG, JPEG, ...) are read whole by :func:`segmentation.load_image`.

    Raises ``TiledError`` for other files and shapes.
    """
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.suffix.lower() in (".tif", ".tiff", ".btf", ".tf8"):
            store = tifffile.imread(path, aszarr=True)
            opened = zarr.open(store, mode="r")
            if isinstance(opened, zarr.Group):  # a pyramid: level 0 is the full resolution
                opened = opened["0"]
            array = opened
        elif path.is_dir():
            opened = zarr.open(str(path), mode="r")
            if isinstance(opened, zarr.Group):
                multiscales = opened.attrs.get("multiscales") or opened.attrs.get("ome", {}).get("multiscales")
                name = multiscales[0]["datasets"][0]["path"] if multiscales else "0"
                opened = opened[name]
            array = opened
        else:  # PNG, JPEG, ...: no region reads, so the image is read whole (as without tiles)
            array = load_image(path)
    else:
        array = source
    shape = tuple(array.shape)
    while len(shape) > 2 and shape[0] == 1:  # OME-Zarr's t, c, z axes of length 1
        array = array[0]
        shape = shape[1:]
    if not (len(shape) == 2 or (len(shape) == 3 and shape[2] == 3)):
        raise TiledError(f"a tiled image must be H×W or H×W×3; this one has shape {shape}")
    if np.dtype(array.dtype) not in (np.uint8, np.uint16):
        raise TiledError(f"a tiled image must be 8- or 16-bit; this one is {array.dtype}")
    return array


# -- exact global thresholds from a histogram --------------------------------------------------------
def otsu_of_counts(counts: np.ndarray) -> float:
    """Otsu's threshold of the pixels whose histogram (one bin per value from 0) is ``counts``, as OpenCV gives it.

    The loop of OpenCV's ``getThreshVal_Otsu`` (8- and 16-bit), in the same double-precision order, so
    the value equals ``cv2.threshold(image, 0, 1, THRESH_OTSU)`` on the image itself (tested).
    """
    values = counts.tolist()
    scale = 1.0 / float(sum(values))
    mu = 0.0
    for i, c in enumerate(values):
        mu += i * float(c)
    mu *= scale
    mu1 = q1 = max_sigma = 0.0
    best = 0
    for i, c in enumerate(values):
        p_i = c * scale
        mu1 *= q1
        q1 += p_i
        q2 = 1.0 - q1
        if min(q1, q2) < _FLT_EPSILON or max(q1, q2) > 1.0 - _FLT_EPSILON:
            continue
        mu1 = (mu1 + i * p_i) / q1
        mu2 = (mu - q1 * mu1) / q2
        sigma = q1 * q2 * (mu1 - mu2) * (mu1 - mu2)
        if sigma > max_sigma:
            max_sigma, best = sigma, i
    return float(best)


# -- the recipe's reach ------------------------------------------------------------------------------
def _foreground_of(recipe) -> ThresholdRecipe:
    return recipe.foreground if isinstance(recipe, WatershedRecipe) else recipe


def _check(recipe) -> None:
    fg = _foreground_of(recipe)
    refused = [name for name, on in (("fill_holes", fg.fill_holes), ("min_size", fg.min_size > 0),
                                      ("clear_border", fg.clear_border), ("background_radius",
                                                                          fg.background_radius > 0)) if on]
    if refused:
        raise TiledError(f"tiled segmentation cannot yet apply {', '.join(refused)} (they need the whole image "
                         "at once); set them off, or segment the image whole")
    if fg.method not in ("manual", "otsu", *LOCAL_METHODS):
        raise TiledError(f"tiled segmentation computes the global methods manual and otsu exactly from the "
                         f"histogram, and the local methods {', '.join(LOCAL_METHODS)}; got method {fg.method}")
    if isinstance(recipe, WatershedRecipe) and (recipe.seeds != "h_maxima" or recipe.landscape != "distance"):
        raise TiledError("tiled watershed needs seeds h_maxima on the distance landscape; got seeds "
                         f"{recipe.seeds}, landscape {recipe.landscape}")


def _reach(recipe) -> int:
    """How far (px) a pixel's foreground value depends on its neighbours: smoothing, local window, morphology."""
    fg = _foreground_of(recipe)
    reach = 0
    if fg.smoothing == "gaussian":
        reach += math.ceil(4 * fg.sigma) + 1
    elif fg.smoothing == "median":
        reach += fg.median_size // 2
    if fg.method in LOCAL_METHODS:
        reach += max(fg.window, fg.block_size) // 2 + 1 if hasattr(fg, "block_size") else fg.window // 2 + 1
    reach += 2 * fg.iterations * (fg.opening // 2 + fg.closing // 2) + 1
    return reach


# -- the engine --------------------------------------------------------------------------------------
def _tiles(shape: tuple[int, int], tile: int):
    for r0 in range(0, shape[0], tile):
        for c0 in range(0, shape[1], tile):
            yield r0, min(r0 + tile, shape[0]), c0, min(c0 + tile, shape[1])


def _region(array, r0: int, r1: int, c0: int, c1: int, halo: int):
    """Rows/cols of the tile grown by ``halo`` (clipped), its pixels, and the core's slice inside it."""
    R0, R1 = max(0, r0 - halo), min(array.shape[0], r1 + halo)
    C0, C1 = max(0, c0 - halo), min(array.shape[1], c1 + halo)
    pixels = np.asarray(array[R0:R1, C0:C1])
    return (R0, R1, C0, C1), pixels, (slice(r0 - R0, r1 - R0), slice(c0 - C0, c1 - C0))


def _global_threshold(array, fg: ThresholdRecipe, tile: int, reach: int) -> tuple[ThresholdRecipe, float | None]:
    """The foreground recipe with its polarity decided and a global method turned into a manual threshold."""
    # Sauvola's automatic r on a 16-bit channel is half the whole channel's range (sauvola_surface)
    range_r = fg.method == "sauvola" and fg.r == 0 and np.dtype(array.dtype) != np.uint8
    needs_histogram = fg.method == "otsu" or fg.polarity == "auto" or range_r
    if not needs_histogram:
        return fg, (fg.value if fg.method == "manual" else None)
    counts = np.zeros(65536, np.int64)
    probe = fg.replace(polarity="bright", method="manual")  # the channel itself does not depend on polarity
    wide = False
    for r0, r1, c0, c1 in _tiles(array.shape[:2], tile):
        _, pixels, core = _region(array, r0, r1, c0, c1, reach)
        channel = prepare(pixels, probe).image[core]
        wide = wide or channel.dtype != np.uint8
        counts[:1 << (8 * channel.itemsize)] += np.bincount(channel.ravel(), minlength=1 << (8 * channel.itemsize))
    if range_r and wide and counts.any():
        present = np.flatnonzero(counts)
        fg = fg.replace(r=0.5 * float(present[-1] - present[0]))
    size = 256 if np.dtype(array.dtype) == np.uint8 and fg.channel in ("luminance", "red", "green", "blue",
                                                                          "value") else 65536
    counts = counts[:max(size, int(np.flatnonzero(counts)[-1]) + 1 if counts.any() else 1)]
    otsu = otsu_of_counts(counts) if (fg.method == "otsu" or fg.polarity == "auto") else None
    polarity = fg.polarity
    if polarity == "auto":
        if np.count_nonzero(counts) <= 1:
            polarity = "bright"
        else:
            above = int(counts[int(otsu) + 1:].sum())
            polarity = "bright" if above <= int(counts.sum()) - above else "dark"
    t = otsu if fg.method == "otsu" else (fg.value if fg.method == "manual" else None)
    fixed = fg.replace(polarity=polarity)
    if t is not None:
        fixed = fixed.replace(method="manual", value=t)
    return fixed, t


def _store(out, name: str, shape, dtype, chunk: int):
    if out is None:
        store = zarr.storage.MemoryStore()
    else:
        Path(out).mkdir(parents=True, exist_ok=True)
        store = str(Path(out) / name)
    return zarr.create_array(store=store, shape=shape, dtype=dtype, chunks=(chunk, chunk), overwrite=True,
                             fill_value=0)


def _order_keys(r0: int, c0: int, block_shape: tuple[int, int], width: int, connectivity: int) -> np.ndarray:
    """Per pixel of a block at (r0, c0), the key whose minimum over an object gives OpenCV's numbering order.

    OpenCV numbers 4-connected components in raster order of their first pixel, and 8-connected ones in the
    raster order of 2×2 blocks (its block-based scan; a 2×2 block holds one 8-connected object at most):
    checked against ``cv2.connectedComponents`` through :func:`segmentation.label_objects` in the tests.
    """
    rows, cols = np.indices(block_shape, dtype=np.int64)
    rows += r0
    cols += c0
    if connectivity == 8:
        return (rows // 2) * ((width + 1) // 2) + cols // 2
    return rows * width + cols


def _first_pixels(labels, shape: tuple[int, int], tile: int, count: int, connectivity: int = 8) -> np.ndarray:
    """Each label's order key (index 0 unused), from ``labels`` read tile by tile."""
    first = np.full(count + 1, np.iinfo(np.int64).max, np.int64)
    for r0, r1, c0, c1 in _tiles(shape, tile):
        block = np.asarray(labels[r0:r1, c0:c1])
        present = np.unique(block)
        present = present[present > 0]
        if present.size:
            keys = _order_keys(r0, c0, block.shape, shape[1], connectivity)
            np.minimum.at(first, present, ndimage.minimum(keys, block, present).astype(np.int64))
    return first


def _raster_lookup(first: np.ndarray) -> np.ndarray:
    """Old label -> new label, numbering by increasing first pixel (OpenCV's raster order)."""
    order = np.argsort(first[1:], kind="stable") + 1
    lookup = np.zeros(len(first), np.int32)
    lookup[order] = np.arange(1, len(first), dtype=np.int32)
    return lookup


def segment_tiled(source, recipe, *, tile: int = 2048, halo: int | None = None, out=None,
                  label_chunk: int = 2048) -> TiledResult:
    """Segment a big image tile by tile, with the whole image's result (see the module's notes).

    Parameters
    ----------
    source : str, os.PathLike or array_like
        A TIFF/BigTIFF file, an OME-Zarr or Zarr folder, or an (H, W) / (H, W, 3) uint8 or uint16 array.
    recipe : ThresholdRecipe or WatershedRecipe
        Without hole filling, size filter, border clearing or background subtraction; global methods
        manual or otsu, or a local method; watershed with h-maxima seeds on the distance map.
    tile : int
        Side of a tile, in pixels (the output's chunk side too).
    halo : int or None
        Pixels added around each tile. At least the reach of smoothing, local window and morphology (the
        default for a threshold recipe); for a watershed it must also hold the largest object and the
        distance smoothing's margin (default: ``tile // 2``).
    out : str, os.PathLike or None
        A folder for the Zarr arrays ``mask`` and ``labels``; None keeps them in memory.
    label_chunk : int
        Chunk side for the connected-components pass (larger is faster: dask-image's cost grows with the
        number of chunks, 25.6 s with 512² chunks against 1.1 s with 2048² on a 16-megapixel mask).

    Returns
    -------
    TiledResult

    Raises
    ------
    TiledError
        A recipe step the tiles cannot do exactly, an unsupported image, or a watershed object larger than
        the halo allows (the message says which halo to use).

    Examples
    --------
    >>> import numpy as np
    >>> from segmentation import ThresholdRecipe
    >>> image = np.zeros((60, 60), np.uint8); image[5:15, 5:50] = 200; image[40:55, 20:30] = 120
    >>> result = segment_tiled(image, ThresholdRecipe(method="otsu", polarity="bright"), tile=16)
    >>> result.count, int(result.labels[45, 25]), result.mask.shape
    (2, 2, (60, 60))
    """
    _check(recipe)
    array = open_image(source)
    shape = tuple(array.shape[:2])
    tile = int(tile)
    if tile < 8:
        raise TiledError(f"tile must be at least 8 pixels; got {tile}")
    fg = _foreground_of(recipe)
    if fg.method in ("adaptive_mean", "adaptive_gaussian") and np.dtype(array.dtype) != np.uint8:
        raise TiledError(f"method {fg.method} maps a 16-bit image's whole range to 8 bits first, which tiles "
                         "cannot do exactly; use sauvola or niblack, or a global method")
    reach = _reach(recipe)
    fixed, t = _global_threshold(array, fg, tile, reach)
    is_watershed = isinstance(recipe, WatershedRecipe)
    if halo is None:
        halo = max(reach, tile // 2) if is_watershed else reach
    if halo < reach:
        raise TiledError(f"halo must be at least {reach} px for this recipe (smoothing, window, morphology); "
                         f"got {halo}")
    mask_out = _store(out, "mask", shape, bool, tile)
    labels_out = _store(out, "labels", shape, np.int32, tile)
    notes: list[str] = []
    if not is_watershed:
        for r0, r1, c0, c1 in _tiles(shape, tile):
            _, pixels, core = _region(array, r0, r1, c0, c1, reach)
            mask_out[r0:r1, c0:c1] = threshold(pixels, fixed).mask[core]
        mask = da.from_zarr(mask_out).rechunk((label_chunk, label_chunk))
        labelled, count = ndmeasure.label(mask, structure=np.ones((3, 3), bool))
        # dask-image's numbers first, into chunks that match the array's (a safe parallel write)
        labels_out = _store(out, "labels", shape, np.int32, label_chunk)
        da.store(labelled.astype(np.int32), labels_out, lock=False, compute=True)
        count = int(np.asarray(count))
        lookup = _raster_lookup(_first_pixels(labels_out, shape, tile, count))
        for r0, r1, c0, c1 in _tiles(shape, tile):
            labels_out[r0:r1, c0:c1] = lookup[np.asarray(labels_out[r0:r1, c0:c1])]
        return TiledResult((t,) if t is not None else (), fixed.polarity, mask_out, labels_out, count, tile, halo,
                           notes)
    return _watershed_tiled(array, recipe.replace(foreground=fixed), t, tile, halo, reach, mask_out, labels_out)


def _watershed_tiled(array, recipe: WatershedRecipe, t, tile: int, halo: int, reach: int, mask_out, labels_out):
    shape = tuple(array.shape[:2])
    # beyond an object, the distance smoothing reaches this far, and the region's own border spoils smoothing
    margin = math.ceil(4 * recipe.distance_sigma) + 2 + reach
    keys_a, keys_b = [], []
    with tempfile.TemporaryDirectory(prefix="segmentation-tiles-") as scratch:
        parts = []
        for index, (r0, r1, c0, c1) in enumerate(_tiles(shape, tile)):
            (R0, R1, C0, C1), pixels, core = _region(array, r0, r1, c0, c1, halo + reach)
            result = watershed(pixels, recipe)
            mask_out[r0:r1, c0:c1] = result.foreground[core]
            objects = label_objects(result.foreground, recipe.connectivity)
            count = int(objects.max(initial=0))
            if not count:
                continue
            h, w = objects.shape
            flat = np.arange(objects.size, dtype=np.int64).reshape(objects.shape)
            ids = np.arange(1, count + 1)
            first = ndimage.minimum(flat, objects, ids).astype(np.int64)
            rows, cols = first // w, first % w
            in_core = (rows >= core[0].start) & (rows < core[0].stop) & (cols >= core[1].start) & (cols < core[1].stop)
            if not in_core.any():
                continue
            boxes = ndimage.find_objects(objects)
            for k in np.flatnonzero(in_core):  # each object it owns must lie whole inside the region, with margin
                box = boxes[k]
                if ((box[0].start < margin and R0 > 0) or (box[1].start < margin and C0 > 0)
                        or (box[0].stop > h - margin and R1 < shape[0])
                        or (box[1].stop > w - margin and C1 < shape[1])):
                    size = max(box[0].stop - box[0].start, box[1].stop - box[1].start)
                    raise TiledError(f"an object of {box[0].stop - box[0].start}×{box[1].stop - box[1].start} px near "
                                     f"row {R0 + box[0].start}, column {C0 + box[1].start} does not fit in the halo of "
                                     f"{halo} px with its margin of {margin} px; use a halo of at least "
                                     f"{size + margin} px")
            mine = np.isin(objects, ids[in_core])
            local = np.where(mine, result.labels, 0).astype(np.int32)
            present = np.unique(local)
            present = present[present > 0]
            if not present.size:
                continue
            seeds = h_maxima_seeds(result.distance, recipe.h)  # the seeds watershed() numbered first
            a_count = int(seeds.max(initial=0))
            seed_of = ndimage.maximum(result.markers, result.labels, present).astype(np.int64)
            is_a = seed_of <= a_count
            keys = np.empty(present.size, np.int64)
            if is_a.any():  # an h-maximum: numbered as label_objects (8-connected) numbers the seed components
                order8 = _order_keys(R0, C0, objects.shape, shape[1], 8)
                keys[is_a] = ndimage.minimum(order8, seeds, seed_of[is_a]).astype(np.int64)
            if (~is_a).any():  # an object without an h-maximum: numbered after them, as its object is numbered
                spots = ndimage.minimum(flat, result.markers, seed_of[~is_a]).astype(np.int64)
                order = _order_keys(R0, C0, objects.shape, shape[1], recipe.connectivity)
                object_keys = ndimage.minimum(order, objects, ids).astype(np.int64)
                keys[~is_a] = object_keys[objects.ravel()[spots] - 1]
            keys_a += keys[is_a].tolist()
            keys_b += keys[~is_a].tolist()
            name = os.path.join(scratch, f"{index}.npz")
            np.savez_compressed(name, local=local, present=present, keys=keys, is_a=is_a)
            parts.append(((R0, R1, C0, C1), name))
        rank_a = {key: i for i, key in enumerate(sorted(keys_a), start=1)}
        rank_b = {key: i for i, key in enumerate(sorted(keys_b), start=len(rank_a) + 1)}
        for (R0, R1, C0, C1), name in parts:
            with np.load(name) as saved:
                local, present, keys, is_a = saved["local"], saved["present"], saved["keys"], saved["is_a"]
            lookup = np.zeros(int(present.max()) + 1, np.int32)
            lookup[present] = [rank_a[k] if a else rank_b[k] for k, a in zip(keys.tolist(), is_a.tolist())]
            mapped = lookup[local]
            window = np.asarray(labels_out[R0:R1, C0:C1])
            labels_out[R0:R1, C0:C1] = np.where(mapped > 0, mapped, window)
    return TiledResult((t,) if t is not None else (), recipe.foreground.polarity, mask_out, labels_out,
                       len(rank_a) + len(rank_b), tile, halo, [])


# -- the command line's task -------------------------------------------------------------------------
def process_tiled(task: dict, row: dict, start: float) -> dict:
    """One batch task in tiles (``--tile``): ``<stem>_tiles.zarr`` written beside its place, then moved there."""
    try:
        recipe = recipe_from_json(task["recipe"])
        target = Path(task["out_dir"], task["names"]["tiles"])
        staging = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            result = segment_tiled(task["path"], recipe, tile=task["tile"], out=staging)
            height, width = result.mask.shape
            foreground = sum(int(np.count_nonzero(result.mask[r0:r1, c0:c1]))
                             for r0, r1, c0, c1 in _tiles((height, width), result.tile))
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        row.update(width=width, height=height, objects=result.count,
                   foreground_fraction=f"{foreground / (height * width):.6f}",
                   thresholds=" ".join(repr(float(t)).removesuffix(".0") for t in result.thresholds))
    except MemoryError:
        row.update(status="error", message="there is not enough memory to segment this image in tiles")
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        row.update(status="error", message=f"could not read or write{where}: {error.strerror or error}")
    except ValueError as error:  # TiledError and the library's own plain-words errors
        row.update(status="error", message=str(error) or type(error).__name__)
    except Exception as error:  # a bug, reported as this file's error so the batch goes on
        row.update(status="error", message=f"unexpected error ({type(error).__name__}: {error})")
    row["seconds"] = f"{time.perf_counter() - start:.3f}"
    return row
