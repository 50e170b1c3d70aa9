"""What a whole plate needs beyond one image: stamps, a resume journal, quality flags, a pooled threshold.

Shared by the local process pool and the Dask path (:mod:`._dask`), so both run the same code:

- :func:`stamp`: the recipe's SHA-256 and the library versions, written into every summary row by the
  process that computed the row (on a cluster, the worker's own versions);
- the journal ``.summary.partial.csv`` in ``--out``: one row appended per finished image while the batch
  runs and removed once ``summary.csv`` is written, so a batch that was killed resumes from it;
- :func:`flag_outliers`: per-image flags where the threshold, the foreground fraction or the object count
  lies more than 3 scaled MADs from the batch's median;
- :func:`channel_histogram` and :func:`pooled_recipe`: one global threshold from the pooled histogram of
  every image (two passes over the plate), as Fiji's "use stack histogram" does;
- :func:`pool_context`: how every local process pool (the batch, the pooled histograms, ``score`` and
  ``tune``) starts its workers.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import math
import multiprocessing
import os
import re
import shutil
import signal
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cv2
import numpy as np
import scipy
import skimage
import tifffile
from skimage import filters

from ..io import load_image
from ..recipes import ThresholdRecipe, WatershedRecipe, file_selection, recipe_from_json
from ..thresholding import prepare
from ._options import _own_version

__all__ = ["stamp", "JOURNAL", "append_journal", "read_rows", "flag_outliers", "channel_histogram",
           "pooled_recipe", "check_pooled", "POOLED_METHODS", "map_local", "init_worker", "remove_stale_temporaries",
           "pool_context"]

#: The journal of a running batch, in --out; hidden, and removed once summary.csv is written.
JOURNAL = ".summary.partial.csv"

#: Methods whose threshold is a function of the histogram alone (scikit-image's ``hist=`` argument).
POOLED_METHODS = ("otsu", "yen", "isodata", "minimum", "mean")

#: A value is flagged when it lies further than this many scaled MADs from the batch's median.
MADS = 3.0
#: MAD × 1.4826 estimates the standard deviation of normally distributed values (Rousseeuw & Croux 1993).
MAD_SCALE = 1.4826
#: Where the MAD is 0 (most values equal the median): the mean absolute deviation from the median × sqrt(pi/2),
#: which also estimates the standard deviation of normal values (as IBM Cognos Analytics' modified z score does).
MEANAD_SCALE = math.sqrt(math.pi / 2)


# -- stamps ------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _versions() -> str:
    return (f"segmentation-studio {_own_version()}; numpy {np.__version__}; opencv {cv2.__version__}; "
            f"scikit-image {skimage.__version__}; scipy {scipy.__version__}; tifffile {tifffile.__version__}")


@functools.lru_cache(maxsize=8)
def stamp(recipe_json: str) -> dict[str, str]:
    """``{"recipe_sha256": ..., "versions": ...}``: what identifies a result, for the summary and resuming."""
    return {"recipe_sha256": hashlib.sha256(recipe_json.encode("utf-8")).hexdigest(), "versions": _versions()}


# -- journal -----------------------------------------------------------------------------------------
def append_journal(out_dir: Path, row: dict, columns: tuple[str, ...]) -> None:
    """Append one finished image's row to the journal (header first when it is new), flushed to disk."""
    path = Path(out_dir, JOURNAL)
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)
        handle.flush()
        os.fsync(handle.fileno())


def read_rows(path: Path) -> list[dict]:
    """The rows of a summary or journal file; none when it is missing or unreadable (a torn last line is dropped)."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return []
    try:
        rows = list(csv.DictReader(io.StringIO(text)))
    except csv.Error:
        return []
    if rows and not text.endswith("\n"):
        rows.pop()  # killed in the middle of a line
    return rows


def remove_stale_temporaries(out_dir: Path, names: Iterable[str]) -> int:
    """Remove temporary files a killed writer left for these output names (``.NAME.<12 hex>.tmp``)."""
    wanted = set(names)
    pattern = re.compile(r"^\.(.+)\.[0-9a-f]{12}\.tmp$")
    removed = 0
    try:
        entries = list(os.scandir(out_dir))
    except OSError:
        return 0
    for entry in entries:
        match = pattern.match(entry.name)
        if match and match.group(1) in wanted:
            try:
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path)  # a Zarr folder being written (tiled images)
                else:
                    os.unlink(entry.path)
                removed += 1
            except OSError:
                pass
    return removed


# -- quality flags -----------------------------------------------------------------------------------
def _number(text: str) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def flag_outliers(rows: list[dict], mads: float = MADS) -> None:
    """Set each row's ``flags``: the measures further than ``mads`` scaled MADs from the batch's median.

    Measures: ``threshold`` (when the image has exactly one), ``foreground_fraction`` and ``objects``,
    over the rows with status ok or skipped; at least 3 such rows are needed. Where the MAD is 0 (most
    images share the value), the scale is the mean absolute deviation from the median × sqrt(pi/2)
    (:data:`MEANAD_SCALE`) instead; both estimate the standard deviation of normal values, and both judge a
    value below the median as one above it. Nothing is flagged when every value is the same.

    References
    ----------
    P. J. Rousseeuw and C. Croux, "Alternatives to the median absolute deviation", Journal of the
    American Statistical Association 88(424):1273–1283, 1993. :DOI:`10.1080/01621459.1993.10476408`

    IBM Cognos Analytics 11.1, "Modified z score" (the MeanAD × 1.253314 scale where the MAD is 0),
    https://www.ibm.com/docs/en/cognos-analytics/11.1.0?topic=terms-modified-z-score
    """
    good = [row for row in rows if row.get("status") in ("ok", "skipped")]
    for row in rows:
        row["flags"] = ""
    if len(good) < 3:
        return
    measures = {
        "threshold": lambda r: _number(r["thresholds"]) if len(str(r.get("thresholds", "")).split()) == 1 else None,
        "foreground_fraction": lambda r: _number(r.get("foreground_fraction")),
        "objects": lambda r: _number(r.get("objects")),
    }
    flags: dict[int, list[str]] = {}
    for name, get in measures.items():
        values = [(i, get(row)) for i, row in enumerate(good)]
        values = [(i, v) for i, v in values if v is not None]
        if len(values) < 3:
            continue
        array = np.array([v for _, v in values])
        median = float(np.median(array))
        deviations = np.abs(array - median)
        scale, unit = MAD_SCALE * float(np.median(deviations)), "MADs"
        if scale == 0:  # most values are the median's: a scale from all the deviations
            scale, unit = MEANAD_SCALE * float(np.mean(deviations)), "scaled mean absolute deviations; the MAD is 0"
        if scale == 0:  # every value is the same
            continue
        for i, value in values:
            deviation = abs(value - median)
            if deviation > mads * scale:
                flags.setdefault(i, []).append(f"{name} {value:g} far from the median {median:g} "
                                               f"({deviation / scale:.1f} {unit})")
    for i, texts in flags.items():
        good[i]["flags"] = "; ".join(texts)


# -- the pooled threshold ----------------------------------------------------------------------------
def _foreground(recipe) -> ThresholdRecipe:
    return recipe.foreground if isinstance(recipe, WatershedRecipe) else recipe


def channel_histogram(task: dict) -> dict:
    """Pass 1 of a pooled threshold, for one image: the exact histogram of its prepared channel.

    Returns ``{"counts": int64 array (one bin per integer value from ``offset``), "offset": int, "polarity": str}``
    or ``{"error": str}``; only the occupied range is sent back (a 16-bit field uses a few thousand values).
    """
    try:
        recipe = _foreground(recipe_from_json(task["recipe"]))
        prepared = prepare(load_image(task["path"], **file_selection(recipe)), recipe)
        channel = prepared.image
        if channel.dtype not in (np.uint8, np.uint16):
            return {"error": f"a pooled threshold needs an 8- or 16-bit channel; this one is {channel.dtype}"}
        counts = np.bincount(channel.ravel())
        low = int(np.flatnonzero(counts)[0])
        return {"counts": counts[low:].astype(np.int64), "offset": low, "polarity": prepared.polarity}
    except MemoryError:
        return {"error": "there is not enough memory to read this image"}
    except (OSError, ValueError) as error:
        return {"error": str(error) or type(error).__name__}


def _histogram_threshold(method: str, counts: np.ndarray) -> float:
    """The method's threshold of the pixels whose histogram (one bin per integer value) is ``counts``."""
    values = np.flatnonzero(counts)
    low, high = int(values[0]), int(values[-1])
    counts = counts[low:high + 1]  # scikit-image bins an integer image from its min to its max, one bin per value
    centers = np.arange(low, high + 1, dtype=np.float64)
    if method == "mean":
        return float(np.dot(counts, centers) / counts.sum())
    function = {"otsu": filters.threshold_otsu, "yen": filters.threshold_yen, "isodata": filters.threshold_isodata,
                "minimum": filters.threshold_minimum}[method]
    return float(function(hist=(counts, centers)))


def check_pooled(recipe) -> ThresholdRecipe:
    """The recipe's foreground recipe; ``ValueError`` if its method has no histogram form."""
    foreground = _foreground(recipe)
    if foreground.method not in POOLED_METHODS:
        raise ValueError(f"--pooled-threshold works with the methods {', '.join(POOLED_METHODS)} (a threshold "
                         f"from the histogram alone); the recipe's method is {foreground.method}")
    return foreground


def pooled_recipe(recipe, histograms: list[dict]):
    """Pass 2's recipe: the same recipe with ``method="manual"`` at the threshold of the pooled histogram.

    ``histograms`` are :func:`channel_histogram` results (failed images are left out). With ``polarity``
    ``"auto"`` and no background subtraction, the polarity is decided on the pooled histogram by the
    automatic rule (the side of its Otsu threshold holding fewer pixels) and written into the recipe.
    Raises ``ValueError`` in plain words when the method has no histogram form or no image could be read.

    References
    ----------
    N. Otsu, "A threshold selection method from gray-level histograms", IEEE Trans. Systems, Man and
    Cybernetics 9(1):62–66, 1979. :DOI:`10.1109/TSMC.1979.4310076`
    """
    foreground = check_pooled(recipe)
    good = [h for h in histograms if "counts" in h]
    if not good:
        raise ValueError("--pooled-threshold: no image could be read for the pooled histogram")
    size = max(h.get("offset", 0) + len(h["counts"]) for h in good)
    counts = np.zeros(size, np.int64)
    for h in good:
        start = h.get("offset", 0)
        counts[start:start + len(h["counts"])] += h["counts"]
    if np.count_nonzero(counts) < 2:
        raise ValueError("--pooled-threshold: every image is the same constant value; there is nothing to separate")
    t = _histogram_threshold(foreground.method, counts)
    changes = {"method": "manual", "value": t}
    if foreground.polarity == "auto" and foreground.background_radius == 0:
        otsu = _histogram_threshold("otsu", counts)
        above = int(counts[int(math.floor(otsu)) + 1:].sum())
        changes["polarity"] = "bright" if above <= counts.sum() - above else "dark"
    if isinstance(recipe, WatershedRecipe):
        return recipe.replace(foreground=foreground.replace(**changes))
    return recipe.replace(**changes)


# -- the local pool ----------------------------------------------------------------------------------
#: Imported once by the fork server (every module a worker runs), so that workers start already loaded.
#: None of them starts a thread on import (zarr's I/O loop, Dask's and OpenCV's pools start on first use).
_PRELOAD = ["segmentation.batch._cli"]


def pool_context() -> multiprocessing.context.BaseContext:
    """The start method of every local process pool: workers forked from a clean server, never from this process.

    A worker forked from the calling process (``fork``, Linux's default) inherits its memory but only the
    thread that forked: a process that has already used zarr (its ``zarr_io`` event loop thread, which every
    zarr read and write waits on), Dask (its thread pool) or OpenCV (its worker threads) gives a child whose
    first zarr write (``--export ome-zarr``, ``--tile``) or OpenCV call waits forever for a thread that is
    not there, or finds a lock held by it; the pool then hangs, or breaks when the child is killed. The
    command line itself starts none of them before its workers, but a long-lived process calling
    :func:`segmentation.batch.main` (a test session, a notebook, the app) does. ``forkserver`` forks each
    worker from a server process started once, single-threaded, with :data:`_PRELOAD` imported; ``spawn``
    (a fresh interpreter per worker) where forkserver does not exist. The worker gets the caller's current
    folder and ``sys.path`` either way.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)  # takes effect when the server starts (first use); the same each time
    return context


def init_worker() -> None:
    """A local worker: Ctrl-C is the main process's; one OpenCV thread (one image per core already)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)


def map_local(function: Callable[[dict], dict], items: list[dict], jobs: int) -> Iterator[tuple[int, dict]]:
    """``(index, function(item))`` as they finish, on ``jobs`` local processes (in this one for 1)."""
    if min(jobs, len(items)) <= 1:
        for i, item in enumerate(items):
            yield i, function(item)
        return
    with ProcessPoolExecutor(max_workers=min(jobs, len(items)), mp_context=pool_context(),
                             initializer=init_worker) as pool:
        futures = {pool.submit(function, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            yield futures[future], future.result()
