"""An image bigger than memory, segmented tile by tile with overlapping halos, exactly as if whole.

The image is read through Zarr, a region at a time: a TIFF or BigTIFF through ``tifffile``'s Zarr store
(``tifffile.imread(path, aszarr=True)``: only the TIFF tiles or strips a region touches are decoded), an
OME-Zarr image (its full-resolution level), or any array. Results go to Zarr arrays (on disk with ``out``),
chunked like the tiles. Nothing but a tile and its halo is held in memory at a time.

How each step stays exact (tests/test_tiles.py and tests/test_tiles_cleanup.py compare with the whole-image
library on generated images, for tile sizes that cut objects):

- global thresholds come from the whole image's histogram, gathered tile by tile (one bin per value of the
  8- or 16-bit channel: exact): Otsu by OpenCV's own criterion evaluated on that histogram (:func:`otsu_of_counts`,
  the loop of OpenCV's ``getThreshVal_Otsu``, checked against ``cv2.threshold`` in the tests), the automatic
  polarity by counting the pixels above it; Mean as numpy's exact integer mean; Yen and IsoData by
  scikit-image from that histogram (``hist=``, as it bins an integer channel itself); the threshold is then
  applied as a manual one;
- the automatic polarity is decided from the histogram of the smoothed channel, and with background
  subtraction the threshold from a second histogram of the subtracted channel, as ``prepare`` does;
- smoothing, background subtraction, local methods and opening/closing run on the tile plus a halo at least
  as wide as their reach, and only the tile's core is kept. Background subtraction above 10 px shrinks the
  image on a grid from its corner (``background_shrink_factor``): tiles and halos are then multiples of that
  grid, so each region's shrunk copy and its linear enlargement are the whole image's (the enlargement is made
  on the whole grid and cut to the image, so an image's sides need not be multiples);
- hole filling: the background's 4-connected components (SciPy's default structure) labelled across chunks
  by ``dask_image.ndmeasure.label``; those met on the image border stay, every other one is filled;
- connected components: ``dask_image.ndmeasure.label`` (exact across chunks), renumbered in raster order
  of each object's first pixel, as OpenCV numbers them; the size filter (areas summed over the tiles) and
  border clearing (labels on the border strips) drop whole components, in the library's order (hole
  filling, size filter, border clearing);
- watershed (h-maxima seeds on the distance map): the exact mask above is flooded; each object belongs to the
  tile holding its first pixel; that tile floods it with the library's :func:`~segmentation.watershed` on
  the tile plus the halo (by default the largest object's extent, so it holds every object whole, plus a
  margin for the distance smoothing), and the labels are numbered as the whole-image watershed numbers them:
  seeds in raster order of their first pixel, then the objects that got no seed, in raster order. The
  flooding region must fit in the memory budget (a halo of half a tile always does; a larger one as far as
  the budget allows): an object as large as the slide is refused in plain words, not run out of memory on.
  No exception for seeds of exactly equal height (two equal round objects, mirror images of each other):
  the library floods every object on its own (:func:`~segmentation.flood_distance`), so the line
  between them does not depend on anything outside the object, in a tile or in the whole image
  (tests/test_tiles_ties.py).

Li, Triangle, Minimum and multi-Otsu (and Yen and IsoData on a 16-bit channel of more than 256 values) are
refused in plain words rather than approximated.

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
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import dask.array as da
import numpy as np
import tifffile
import zarr
from dask_image import ndmeasure
from scipy import ndimage
from skimage import filters

from .._errors import ImageLoadError
from ..io import load_image
from ..recipes import CHANNELS, LOCAL_METHODS, ThresholdRecipe, WatershedRecipe
from ..regions import h_maxima_seeds, label_objects, watershed
from ..thresholding import background_shrink_factor, prepare, threshold
from ._options import TIFF_SUFFIXES, default_memory_budget

__all__ = ["open_image", "segment_tiled", "TiledResult", "otsu_of_counts", "TiledError", "tile_refusals",
           "check_tileable"]

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
    notes : list of str
        Plain-English notes about the run, for the batch's summary: a watershed's halo (the largest object's
        extent) wider than half a tile, which is where the time goes.
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
class _Regions:
    """A file's image read a region at a time: ``shape``, ``dtype`` and ``[rows, cols]`` reads.

    Leading axes of length 1 (OME-Zarr's t, c, z) are indexed at 0 on each read, never read whole (``array[0]`` of
    a Zarr array decodes the whole plane). A read that fails (a TIFF cut short, a damaged chunk) is an
    ``ImageLoadError`` in the words :func:`segmentation.load_image` uses, not the decoder's ("Error -5 while
    decompressing data", "corrupted strip cannot be reshaped": #14 review).
    """

    def __init__(self, array, lead: int, what: str):
        self._array, self._lead, self._what = array, (0,) * lead, what
        self.shape = tuple(array.shape)[lead:]
        self.dtype = np.dtype(array.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        try:
            return np.asarray(self._array[self._lead + key])
        except MemoryError:
            raise
        except Exception as exc:
            raise ImageLoadError(f"this {self._what} is truncated or damaged") from exc


def _open_file(path: Path):
    """The Zarr array of a TIFF's or a Zarr folder's full-resolution image, and what to call the file."""
    if path.suffix.lower() in TIFF_SUFFIXES:
        try:
            opened = zarr.open(tifffile.imread(path, aszarr=True), mode="r")
        except MemoryError:
            raise
        except Exception as exc:
            # Said as the whole-image path says it ("this file is empty", "... it looks like text", "this TIFF file
            # is truncated or damaged"): load_image reads what it can of the file and names the problem.
            load_image(path)
            raise ImageLoadError("this TIFF file is truncated or damaged") from exc
        if isinstance(opened, zarr.Group):  # a pyramid: level 0 is the full resolution
            opened = opened["0"]
        return opened, "TIFF file"
    try:
        opened = zarr.open(str(path), mode="r")
        if isinstance(opened, zarr.Group):
            multiscales = opened.attrs.get("multiscales") or opened.attrs.get("ome", {}).get("multiscales")
            opened = opened[multiscales[0]["datasets"][0]["path"] if multiscales else "0"]
    except MemoryError:
        raise
    except Exception as exc:
        raise ImageLoadError(f"{path.name} is a folder but not a Zarr or OME-Zarr image ({exc})") from exc
    return opened, "Zarr image"


def open_image(source):
    """A 2-D (or H×W×3) array-like read a region at a time: TIFF/BigTIFF, OME-Zarr, Zarr, or an array.

    Other image files (PNG, JPEG, ...) are read whole by :func:`segmentation.load_image`.

    Raises ``TiledError`` for other shapes and dtypes, ``ImageLoadError`` for a file that cannot be read (in the
    words of :func:`segmentation.load_image`).
    """
    what = None
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.suffix.lower() in TIFF_SUFFIXES or path.is_dir():
            array, what = _open_file(path)
        else:  # PNG, JPEG, ...: no region reads, so the image is read whole (as without tiles)
            array = load_image(path)
    else:
        array = source
    shape = tuple(array.shape)
    lead = 0
    while len(shape) - lead > 2 and shape[lead] == 1:  # OME-Zarr's t, c, z axes of length 1
        lead += 1
    shape = shape[lead:]
    if not (len(shape) == 2 or (len(shape) == 3 and shape[2] == 3)):
        raise TiledError(f"a tiled image must be H×W or H×W×3; this one has shape {shape}")
    if np.dtype(array.dtype) not in (np.uint8, np.uint16):
        raise TiledError(f"a tiled image must be 8- or 16-bit; this one is {array.dtype}")
    if what is not None:
        return _Regions(array, lead, what)
    return array[(0,) * lead] if lead else array


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


#: Global methods computed exactly from the whole image's histogram (one bin per value). Yen and IsoData
#: are scikit-image's on an integer channel, which it bins one bin per value from the minimum to the maximum:
#: given that same histogram (``hist=``), it computes the same threshold; a 16-bit channel of more than 256
#: values, which the library bins in 256 float bins, is refused when met. The others are not computed from
#: a histogram (Li's iterations and Minimum's smoothing run on the image itself, Triangle on an 8-bit copy,
#: multi-Otsu on the 256-bin table): refused rather than approximated.
_HISTOGRAM_METHODS = ("manual", "otsu", "mean", "yen", "isodata")
_SKIMAGE_HISTOGRAM = {"yen": "threshold_yen", "isodata": "threshold_isodata"}


def _skimage_of_counts(method: str, counts: np.ndarray, wide: bool) -> float:
    """Yen's or IsoData's threshold from the exact histogram, as the library computes it on the channel."""
    levels = np.flatnonzero(counts)
    if wide and len(levels) > 256:
        raise TiledError(f"method {method} bins a 16-bit channel of more than 256 values in 256 bins over its "
                         f"range, which tiles do not reproduce; this channel has {len(levels)} values. Use otsu "
                         "or mean, or segment the image whole")
    low, high = int(levels[0]), int(levels[-1])
    centers = np.arange(low, high + 1)
    return float(getattr(filters, _SKIMAGE_HISTOGRAM[method])(hist=(counts[low:high + 1], centers)))


def _mean_of_counts(counts: np.ndarray) -> float:
    """The mean pixel value of a histogram, as ``numpy.mean`` gives it on the integer image.

    That is scikit-image's ``threshold_mean``: numpy sums 8- and 16-bit pixels in float64, exactly (every
    partial sum is an integer below 2**53), and divides once; here the exact integer sum over the count,
    correctly rounded: the same float.
    """
    total = int(np.dot(np.arange(len(counts), dtype=np.int64), counts.astype(np.int64)))
    return total / int(counts.sum())


# -- the recipe's reach ------------------------------------------------------------------------------
def _foreground_of(recipe) -> ThresholdRecipe:
    return recipe.foreground if isinstance(recipe, WatershedRecipe) else recipe


def tile_refusals(recipe) -> list[tuple[str, str]]:
    """``(parameter, reason)`` for each step of ``recipe`` that tiles cannot do exactly (empty: it tiles).

    Global methods other than manual and otsu are not computed from the gathered histogram; watershed seeds
    other than h-maxima on the distance map are not numbered across tiles. (Hole filling, the size filter and
    border clearing are done on the whole mask with global labels; background subtraction with a halo, see
    :func:`segment_tiled`.)
    """
    fg = _foreground_of(recipe)
    refused = []
    if fg.method not in (*_HISTOGRAM_METHODS, *LOCAL_METHODS):
        refused.append(("method", f"method {fg.method} is not computed in tiles (the global methods manual, otsu, "
                                  f"mean, yen and isodata are, exactly from the whole histogram, and the local "
                                  f"methods "
                                  f"{', '.join(LOCAL_METHODS)})"))
    if isinstance(recipe, WatershedRecipe):
        if recipe.diameter is None:
            refused.append(("diameter", "diameter auto is fitted to a whole image, not to tiles; set the typical "
                                        "object diameter in pixels (the app's Typical diameter caption, or "
                                        "segmentation.recipe_for_image, gives one for an image like it), or 0 for "
                                        "the recipe's own sizes"))
        if recipe.seeds != "h_maxima":
            refused.append(("seeds", f"seeds {recipe.seeds} are not numbered across tiles (seeds h_maxima are)"))
        if recipe.landscape != "distance":
            refused.append(("landscape", f"landscape {recipe.landscape} is not flooded in tiles (landscape "
                                         "distance is)"))
        # segmentation.edit_seeds works on the whole image's seeds, merge_objects / split_objects on its objects
        if recipe.add_seeds or recipe.remove_seeds or recipe.merge_points or recipe.split_points:
            refused.append(("add_seeds", "hand edits (add_seeds, remove_seeds, merge_points, split_points) are "
                                         "not applied in tiles"))
    # Tiles read the first series' full-resolution plane as it is stored (open_image): a recipe that chooses
    # another series, page, channel of a file, time point or a projection would be silently ignored.
    if (fg.series or fg.pages != "planes" or fg.plane or fg.timepoint or fg.projection not in ("none", "auto")
            or not isinstance(fg.channel, str) or fg.channel not in CHANNELS):
        refused.append(("channel", "tiles read one plane as stored (series 0, the colour channels of an RGB "
                                   "image): a file channel, plane, time point, series, pages setting or "
                                   "projection is not applied in tiles"))
    return refused


def check_tileable(recipe) -> None:
    """Raise :class:`TiledError` naming every parameter of ``recipe`` that tiles cannot apply exactly."""
    refused = tile_refusals(recipe)
    if refused:
        raise TiledError("tiled segmentation cannot follow this recipe exactly: " + "; ".join(r for _, r in refused)
                         + ". Change " + ("it" if len(refused) == 1 else "them")
                         + ", or segment the image whole")


def _background_reach(radius: int) -> tuple[int, int]:
    """``(reach, grid)`` of :func:`~segmentation.subtract_background` of ``radius`` px.

    The library shrinks the image by ``grid`` (block minimum or maximum on a grid from the image's origin),
    opens or closes it with a disc of ``round(radius / grid)`` small pixels (reach: twice that), and enlarges
    the background back by linear interpolation (one small pixel more each side). A region whose edges lie on
    the grid and that extends ``reach`` past a tile gives the whole image's values on the tile (tested).
    """
    if radius <= 0:
        return 0, 1
    grid = background_shrink_factor(radius)
    small = max(1, round(radius / grid))
    return grid * (2 * small + 3), grid


def _reach(recipe) -> int:
    """How far (px) a pixel's foreground value depends on its neighbours (a multiple of the background grid).

    Smoothing, background subtraction, local window and morphology, added up.
    """
    fg = _foreground_of(recipe)
    reach = 0
    if fg.smoothing == "gaussian":
        reach += math.ceil(4 * fg.sigma) + 1
    elif fg.smoothing == "median":
        reach += fg.median_size // 2
    background, grid = _background_reach(fg.background_radius)
    reach += background
    if fg.method in LOCAL_METHODS:
        reach += max(fg.window, fg.block_size) // 2 + 1 if hasattr(fg, "block_size") else fg.window // 2 + 1
    reach += 2 * fg.iterations * (fg.opening // 2 + fg.closing // 2) + 1
    return -(-reach // grid) * grid


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


class _Channel:
    """The prepared channel (after smoothing and background subtraction) of the whole image, kept tile by tile.

    The histogram pass computes it for each tile's core anyway; the mask pass then thresholds it rather than
    smoothing and subtracting the background of every tile a second time. In memory (``scratch`` None) or in
    the ``scratch`` folder, uncompressed (it is read back once).
    """

    def __init__(self, shape: tuple[int, int], tile: int, scratch):
        self.shape, self.tile, self.scratch = shape, tile, scratch
        self.array = None

    def write(self, r0: int, r1: int, c0: int, c1: int, channel: np.ndarray) -> None:
        if self.array is None:
            store = zarr.storage.MemoryStore() if self.scratch is None else str(Path(self.scratch) / "channel")
            self.array = zarr.create_array(store=store, shape=self.shape, dtype=channel.dtype,
                                           chunks=(self.tile, self.tile), compressors=None, overwrite=True,
                                           fill_value=0)
        self.array[r0:r1, c0:c1] = channel


def _histogram(array, probe: ThresholdRecipe, tile: int, reach: int,
               keep: _Channel | None = None) -> tuple[np.ndarray, bool]:
    """The whole image's histogram (one bin per value) of the channel ``prepare(…, probe)`` gives, tile by tile.

    With ``keep``, that channel is kept there too.
    """
    counts = np.zeros(65536, np.int64)
    wide = False
    for r0, r1, c0, c1 in _tiles(array.shape[:2], tile):
        _, pixels, core = _region(array, r0, r1, c0, c1, reach)
        channel = prepare(pixels, probe).image[core]
        wide = wide or channel.dtype != np.uint8
        counts[:1 << (8 * channel.itemsize)] += np.bincount(channel.ravel(), minlength=1 << (8 * channel.itemsize))
        if keep is not None:
            keep.write(r0, r1, c0, c1, channel)
    return counts, wide


def _trimmed(counts: np.ndarray, array, fg: ThresholdRecipe) -> np.ndarray:
    size = 256 if np.dtype(array.dtype) == np.uint8 and fg.channel in ("luminance", "red", "green", "blue",
                                                                          "value") else 65536
    return counts[:max(size, int(np.flatnonzero(counts)[-1]) + 1 if counts.any() else 1)]


def _auto_polarity(counts: np.ndarray) -> tuple[str, float]:
    """The library's automatic polarity (fewer pixels above Otsu's threshold: bright) from a histogram."""
    otsu = otsu_of_counts(counts)
    if np.count_nonzero(counts) <= 1:
        return "bright", otsu
    above = int(counts[int(otsu) + 1:].sum())
    return ("bright" if above <= int(counts.sum()) - above else "dark"), otsu


def _global_threshold(array, fg: ThresholdRecipe, tile: int, reach: int,
                      keep: _Channel | None = None) -> tuple[ThresholdRecipe, float | None]:
    """The foreground recipe with its polarity decided and a global method turned into a manual threshold.

    As :func:`~segmentation.prepare` does: the automatic polarity is decided on the smoothed channel, before
    background subtraction; the method's threshold is computed on the channel after it. With background
    subtraction, that channel is kept in ``keep`` (when a threshold is computed from it).
    """
    # Sauvola's automatic r on a 16-bit channel is half the whole channel's range (sauvola_surface)
    range_r = fg.method == "sauvola" and fg.r == 0 and np.dtype(array.dtype) != np.uint8
    computed = fg.method in _HISTOGRAM_METHODS and fg.method != "manual"
    needs_histogram = computed or fg.polarity == "auto" or range_r
    if not needs_histogram:
        return fg, (fg.value if fg.method == "manual" else None)
    probe = fg.replace(polarity="bright", method="manual")  # without background subtraction, any polarity
    polarity, otsu = fg.polarity, None
    counts = None
    if polarity == "auto":
        before = probe.replace(background_radius=0)
        counts, wide = _histogram(array, before, tile, reach)
        polarity, otsu = _auto_polarity(_trimmed(counts, array, fg))
    fixed = fg.replace(polarity=polarity)
    if not computed and not range_r:  # manual, or a local method: no threshold to compute
        return fixed, (fg.value if fg.method == "manual" else None)
    if fg.background_radius > 0 or counts is None:
        # after background subtraction the channel depends on the polarity: a second pass
        counts, wide = _histogram(array, fixed.replace(method="manual"), tile, reach,
                                  keep if fg.background_radius > 0 else None)
        otsu = None
    if range_r and wide and counts.any():
        present = np.flatnonzero(counts)
        fixed = fixed.replace(r=0.5 * float(present[-1] - present[0]))
    if computed and np.count_nonzero(counts) <= 1:
        # a constant channel: the library finds nothing to separate (empty mask, no threshold); "value > its
        # only level" is that empty mask
        level = float(np.flatnonzero(counts)[0]) if counts.any() else 0.0
        return fixed.replace(method="manual", value=level), None
    if fg.method == "otsu" and otsu is None:
        otsu = otsu_of_counts(_trimmed(counts, array, fg))
    t = {"otsu": otsu, "manual": fg.value}.get(fg.method)
    if fg.method == "mean":
        t = _mean_of_counts(counts)
    elif fg.method in _SKIMAGE_HISTOGRAM:
        t = _skimage_of_counts(fg.method, counts, wide)
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
                  label_chunk: int = 2048, memory_budget: int | None = None) -> TiledResult:
    """Segment a big image tile by tile, with the whole image's result (see the module's notes).

    No exception, for seeds of exactly equal height included: the library floods every object on its own
    (:func:`~segmentation.flood_distance`), so an object's labels depend on that object alone, which its tile and
    halo hold whole.

    Parameters
    ----------
    source : str, os.PathLike or array_like
        A TIFF/BigTIFF file, an OME-Zarr or Zarr folder, or an (H, W) / (H, W, 3) uint8 or uint16 array.
    recipe : ThresholdRecipe or WatershedRecipe
        Global methods manual or otsu, or a local method; watershed with h-maxima seeds on the distance map.
        With a background_radius above 10 px, ``tile`` must be a multiple of the background's shrink factor
        (:func:`~segmentation.background_shrink_factor`).
    tile : int
        Side of a tile, in pixels (the output's chunk side too).
    halo : int or None
        Pixels added around each tile. For a threshold recipe, at least the reach of smoothing, background
        subtraction, local window and morphology (the default). For a watershed, the halo of the flooding (the
        mask is computed first with that reach): it must hold the largest object (default: the largest
        object's height or width, measured on the global labels, so every object is flooded whole).
    out : str, os.PathLike or None
        A folder for the Zarr arrays ``mask`` and ``labels``; None keeps them in memory.
    label_chunk : int
        Chunk side for the connected-components pass (larger is faster: dask-image's cost grows with the
        number of chunks, 25.6 s with 512² chunks against 1.1 s with 2048² on a 16-megapixel mask).
    memory_budget : int or None
        Bytes, as the command line's ``--memory-budget`` (decoded image bytes; default
        :func:`~segmentation.batch.default_memory_budget` for one process). A watershed's flooding region (a
        tile and its halo on each side, an 8-bit mask) may take that much, or four tiles' worth when that is
        more: a halo that needs more (an object as large as the slide) is refused rather than run out of
        memory.

    Returns
    -------
    TiledResult

    Raises
    ------
    TiledError
        A recipe step the tiles cannot do exactly, an unsupported image, a watershed object larger than
        the halo allows (the message says which halo to use), or a halo whose flooding region exceeds the
        memory budget (the message names the object's size, the halo and the budget, and what to change).

    Examples
    --------
    >>> import numpy as np
    >>> from segmentation import ThresholdRecipe
    >>> image = np.zeros((60, 60), np.uint8); image[5:15, 5:50] = 200; image[40:55, 20:30] = 120
    >>> result = segment_tiled(image, ThresholdRecipe(method="otsu", polarity="bright"), tile=16)
    >>> result.count, int(result.labels[45, 25]), result.mask.shape
    (2, 2, (60, 60))
    """
    check_tileable(recipe)
    if isinstance(recipe, WatershedRecipe):
        recipe = recipe.sized()  # the sizes a typical diameter sets, as watershed() runs them (tiles read them below)
    array = open_image(source)
    shape = tuple(array.shape[:2])
    tile = int(tile)
    if tile < 8:
        raise TiledError(f"tile must be at least 8 pixels; got {tile}")
    fg = _foreground_of(recipe)
    if fg.method in ("adaptive_mean", "adaptive_gaussian") and np.dtype(array.dtype) != np.uint8:
        raise TiledError(f"method {fg.method} maps a 16-bit image's whole range to 8 bits first, which tiles "
                         "cannot do exactly; use sauvola or niblack, or a global method")
    _, grid = _background_reach(fg.background_radius)
    if grid > 1 and tile % grid:
        raise TiledError(f"background_radius {fg.background_radius} px shrinks the image by {grid} on a grid "
                         f"from its corner, which tiles follow exactly only when the tile ({tile} px) is a "
                         f"multiple of {grid}; choose such a tile (say {max(grid, tile - tile % grid)} px)")
    reach = _reach(recipe)
    is_watershed = isinstance(recipe, WatershedRecipe)
    if halo is None and not is_watershed:
        halo = reach
    if not is_watershed and halo < reach:
        raise TiledError(f"halo must be at least {reach} px for this recipe (smoothing, background, window, "
                         f"morphology); got {halo}")
    with tempfile.TemporaryDirectory(prefix="segmentation-tiles-") as scratch:
        kept = _Channel(shape, tile, None if out is None else scratch)
        fixed, t = _global_threshold(array, fg, tile, reach, kept)
        mask_out = _store(out, "mask", shape, bool, tile)
        labels_out = _store(out, "labels", shape, np.int32, tile)
        local = fixed.replace(fill_holes=False, min_size=0, clear_border=False)  # the steps done on the whole mask
        # the background-free channel kept by the histogram pass is thresholded as it is: its values are the
        # whole image's, so the region around each tile gives the same core (one top-hat per tile, not two)
        source = array if kept.array is None else kept.array
        if kept.array is not None:
            local = local.replace(smoothing="none", background_radius=0, polarity="bright")
        for r0, r1, c0, c1 in _tiles(shape, tile):
            _, pixels, core = _region(source, r0, r1, c0, c1, reach)
            mask_out[r0:r1, c0:c1] = threshold(pixels, local).mask[core]
        if fixed.fill_holes:
            _fill_holes_tiled(mask_out, shape, tile, label_chunk, None if out is None else scratch)
        labels_out = _store(out, "labels", shape, np.int32, label_chunk)
        count = _components(mask_out, labels_out, shape, tile, label_chunk, fixed.min_size, fixed.clear_border)
    if not is_watershed:
        return TiledResult((t,) if t is not None else (), _polarity(fixed), mask_out, labels_out, count, tile, halo, [])
    largest = None
    if halo is None:  # as large as the largest object: every object is flooded whole
        largest = _largest_extent(labels_out, shape, tile, count, located=True)
        halo = max(1, largest[0])
    budget = default_memory_budget(1) if memory_budget is None else int(memory_budget)
    _check_flood_region(shape, tile, halo, _flood_margin(recipe), budget, largest)
    labels_out = _store(out, "labels", shape, np.int32, tile)
    result = _watershed_tiled(mask_out, recipe, fixed, t, tile, halo, labels_out)
    if largest is not None and 2 * halo > tile:
        # Said, as it is where the time goes (#14 review: one 2,800-px line made 512-px tiles of a 9-MP image take
        # 113 s against 2.9 s whole, 47 s with 1000-px tiles): each tile is flooded with its halo.
        factor = (tile + 2 * halo) ** 2 / tile ** 2
        result.notes.append(f"the halo is {halo:,} px (the largest object's extent), more than half the {tile:,}-px "
                            f"tile: each tile is flooded with it, about {factor:,.0f}× its pixels; larger tiles "
                            "(--tile) are quicker here")
    return result


def _flood_margin(recipe: WatershedRecipe) -> int:
    """Pixels added to the halo for the distance map's smoothing (beyond an object it reaches this far)."""
    return math.ceil(4 * recipe.distance_sigma) + 2


def _bytes_words(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:,} bytes"


def _check_flood_region(shape: tuple[int, int], tile: int, halo: int, margin: int, budget: int, largest) -> None:
    """Refuse, in plain words, a halo whose flooding region would not fit in the memory budget.

    Each tile is flooded on a region of the mask (8-bit) reaching ``halo + margin`` px past it on each side
    (clipped to the image), held whole with the watershed's own arrays; its decoded size is counted against
    ``budget`` as a whole image's is (the budget already leaves the room the watershed needs on top,
    ``MEMORY_FACTOR``). The tiles themselves take what their side sets, whatever the budget: a region up
    to twice the tile's side (a halo of half a tile) is always allowed.
    """
    rows = min(shape[0], tile + 2 * (halo + margin))
    cols = min(shape[1], tile + 2 * (halo + margin))
    allowed = max(budget, 4 * tile * tile)
    if rows * cols <= allowed:
        return
    side = math.isqrt(allowed)
    most = max(0, (side - tile) // 2 - margin)
    if largest is not None:
        extent, row, col = largest
        cause = (f"its largest object is {extent:,} px across (at row {row:,}, column {col:,}), and each object "
                 f"is flooded whole, so the halo around each tile would be {halo:,} px")
    else:
        cause = f"the halo around each tile is {halo:,} px"
    raise TiledError(f"watershed in tiles cannot segment this image within the memory budget: {cause}; the "
                     f"region flooded at a time ({rows:,} × {cols:,} px, {_bytes_words(rows * cols)} of mask) is over "
                     f"the memory budget of {_bytes_words(budget)} (--memory-budget), which allows a halo of at "
                     f"most {most:,} px with tiles of {tile:,} px. Give a larger memory budget, a smaller halo "
                     f"(the largest object size flooded whole; larger objects are then refused where they are met), "
                     f"or remove such objects before the watershed (a size filter; an object spanning the image is "
                     f"usually background taken for foreground: check the threshold)")


def _largest_extent(labels, shape, tile: int, count: int, located: bool = False):
    """The largest height or width (px) of the objects labelled 1..count in ``labels``, read tile by tile.

    With ``located``, ``(extent, row, column)``: also the top-left corner of that object's bounding box.
    """
    if not count:
        return (0, 0, 0) if located else 0
    low = np.full((2, count + 1), np.iinfo(np.int64).max, np.int64)
    high = np.full((2, count + 1), -1, np.int64)
    for r0, r1, c0, c1 in _tiles(shape, tile):
        block = np.asarray(labels[r0:r1, c0:c1])
        present = np.unique(block)
        present = present[present > 0]
        if not present.size:
            continue
        for axis, start in ((0, r0), (1, c0)):
            where = np.indices(block.shape, dtype=np.int64)[axis] + start
            np.minimum.at(low[axis], present, ndimage.minimum(where, block, present).astype(np.int64))
            np.maximum.at(high[axis], present, ndimage.maximum(where, block, present).astype(np.int64))
    extents = (high[:, 1:] - low[:, 1:] + 1).max(axis=0)
    if not located:
        return int(extents.max())
    k = int(np.argmax(extents)) + 1
    return int(extents[k - 1]), int(low[0, k]), int(low[1, k])


def _polarity(fixed: ThresholdRecipe) -> str:
    """The polarity the mask was taken with, as the library reports it (bright after background subtraction)."""
    return "bright" if fixed.background_radius > 0 else fixed.polarity


def _border_labels(labels, shape: tuple[int, int]) -> np.ndarray:
    """The labels on the image's outermost rows and columns."""
    h, w = shape
    strips = [labels[0:1, :], labels[h - 1:h, :], labels[:, 0:1], labels[:, w - 1:w]]
    return np.unique(np.concatenate([np.asarray(strip).ravel() for strip in strips]))


def _fill_holes_tiled(mask_out, shape, tile: int, label_chunk: int, scratch) -> None:
    """Fill the mask's holes in place, as :func:`scipy.ndimage.binary_fill_holes` does on the whole mask.

    A hole is a 4-connected background component (SciPy's default structure) without a pixel on the image
    border: the background is labelled across chunks by ``dask_image.ndmeasure.label``, the labels met on the
    border strips stay background, every other background label becomes foreground.
    """
    mask = da.from_zarr(mask_out).rechunk((label_chunk, label_chunk))
    cross = ndimage.generate_binary_structure(2, 1)
    background, _ = ndmeasure.label(~mask, structure=cross)
    store = zarr.storage.MemoryStore() if scratch is None else str(Path(scratch) / "background")
    saved = zarr.create_array(store=store, shape=shape, dtype=np.int32, chunks=(label_chunk, label_chunk),
                              overwrite=True, fill_value=0)
    da.store(background.astype(np.int32), saved, lock=False, compute=True)
    outside = _border_labels(saved, shape)
    for r0, r1, c0, c1 in _tiles(shape, tile):
        block = np.asarray(saved[r0:r1, c0:c1])
        mask_out[r0:r1, c0:c1] = (block == 0) | np.isin(block, outside, invert=True)


def _components(mask_out, labels_out, shape, tile: int, label_chunk: int, min_size: int, clear_border: bool) -> int:
    """8-connected components of the mask into ``labels_out``, numbered in OpenCV's raster order; the count.

    As :func:`~segmentation.clean_mask` does after hole filling: objects of fewer than ``min_size`` pixels
    (areas summed over the chunks) and then, with ``clear_border``, objects on the image border (scikit-image's
    ``clear_border``, 8-connected) are removed, from ``mask_out`` too. Both remove whole components, so one
    labelling serves both and the objects left.
    """
    mask = da.from_zarr(mask_out).rechunk((label_chunk, label_chunk))
    labelled, count = ndmeasure.label(mask, structure=np.ones((3, 3), bool))
    # dask-image's numbers first, into chunks that match the array's (a safe parallel write)
    da.store(labelled.astype(np.int32), labels_out, lock=False, compute=True)
    count = int(np.asarray(count))
    first = _first_pixels(labels_out, shape, tile, count)
    drop = np.zeros(count + 1, bool)
    if min_size > 1 and count:
        areas = np.zeros(count + 1, np.int64)
        for r0, r1, c0, c1 in _tiles(shape, tile):
            areas += np.bincount(np.asarray(labels_out[r0:r1, c0:c1]).ravel(), minlength=count + 1)
        drop |= areas < min_size
    if clear_border and count:
        drop[_border_labels(labels_out, shape)] = True
    drop[0] = False
    if drop.any():
        first[drop] = np.iinfo(np.int64).max
    lookup = _raster_lookup(first)
    lookup[drop] = 0
    for r0, r1, c0, c1 in _tiles(shape, tile):
        block = np.asarray(labels_out[r0:r1, c0:c1])
        labels_out[r0:r1, c0:c1] = lookup[block]
        if drop.any():
            mask_out[r0:r1, c0:c1] = lookup[block] > 0
    return count - int(np.count_nonzero(drop))


#: The foreground recipe that gives back a 0/1 mask image as its mask (``value > 0``), nothing else done.
_MASK_RECIPE = ThresholdRecipe(method="manual", value=0.0, polarity="bright")


def _watershed_tiled(mask_out, recipe: WatershedRecipe, fixed: ThresholdRecipe, t, tile: int, halo: int, labels_out):
    """Flood the (already exact, cleaned) mask tile by tile; see the module's notes."""
    shape = tuple(mask_out.shape)
    # beyond an object, the distance smoothing reaches this far (the mask itself is exact up to the region's edge)
    margin = _flood_margin(recipe)
    flood = recipe.replace(foreground=_MASK_RECIPE)
    keys_a, keys_b = [], []
    with tempfile.TemporaryDirectory(prefix="segmentation-tiles-") as scratch:
        parts = []
        for index, (r0, r1, c0, c1) in enumerate(_tiles(shape, tile)):
            (R0, R1, C0, C1), pixels, core = _region(mask_out, r0, r1, c0, c1, halo + margin)
            if not pixels[core].any():
                continue
            result = watershed(pixels.view(np.uint8), flood)
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
                                     f"{halo} px; use a halo of at least {size} px")
            labels = result.labels  # each object flooded on its own: an object held whole is the whole image's
            mine = np.isin(objects, ids[in_core])
            local = np.where(mine, labels, 0).astype(np.int32)
            present = np.unique(local)
            present = present[present > 0]
            if not present.size:
                continue
            seeds = h_maxima_seeds(result.distance, recipe.h)  # the seeds watershed() numbered first
            a_count = int(seeds.max(initial=0))
            seed_of = ndimage.maximum(result.markers, labels, present).astype(np.int64)
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
    return TiledResult((t,) if t is not None else (), _polarity(fixed), mask_out, labels_out,
                       len(rank_a) + len(rank_b), tile, halo, [])

