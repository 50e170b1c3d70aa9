"""What a whole plate needs beyond one image: stamps, a resume journal, quality flags, a pooled threshold.

Shared by the local process pool and the Dask path (:mod:`._dask`), so both run the same code:

- :func:`stamp`: the recipe's SHA-256 and the library versions, written into every summary row by the
  process that computed the row (on a cluster, the worker's own versions);
- the journal ``.summary.partial.csv`` in ``--out``: one row appended per finished image while the batch
  runs and removed once ``summary.csv`` is written, so a batch that was killed resumes from it;
- :func:`flag_outliers`: per-image flags where the threshold, the foreground fraction or the object count
  lies more than 3 scaled MADs from the batch's median;
- :func:`channel_histogram` and :func:`pooled_recipe`: one global threshold from the pooled histogram of
  every image (two passes over the plate), as Fiji's "use stack histogram" does.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import math
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
           "pooled_recipe", "check_pooled", "POOLED_METHODS", "map_local", "init_worker", "remove_stale_temporaries"]

#: The journal of a running batch, in --out; hidden, and removed once summary.csv is written.
JOURNAL = ".summary.partial.csv"

#: Methods whose threshold is a function of the histogram alone (scikit-image's ``hist=`` argument).
POOLED_METHODS = ("otsu", "yen", "isodata", "minimum", "mean")

#: A value is flagged when it lies further than this many scaled MADs from the batch's median.
MADS = 3.0
#: MAD × 1.4826 estimates the standard deviation of normally distributed values (Rousseeuw & Croux 1993).
MAD_SCALE = 1.4826


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
    images share the value), a value is flagged when it differs from the median by more than 10 % of it
    (or by anything, for a median of 0).

    References
    ----------
    P. J. Rousseeuw and C. Croux, "Alternatives to the median absolute deviation", Journal of the
    American Statistical Association 88(424):1273–1283, 1993. :DOI:`10.1080/01621459.1993.10476408`
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
        scale = MAD_SCALE * float(np.median(np.abs(array - median)))
        for i, value in values:
            deviation = abs(value - median)
            if scale > 0:
                far = deviation > mads * scale
                words = f"{deviation / scale:.1f} MADs"
            else:
                far = deviation > 0.1 * abs(median) if median else deviation > 0
                words = "the others share one value"
            if far:
                shown = f"{value:g}"
                flags.setdefault(i, []).append(f"{name} {shown} far from the median {median:g} ({words})")
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
    with ProcessPoolExecutor(max_workers=min(jobs, len(items)), initializer=init_worker) as pool:
        futures = {pool.submit(function, item): i for i, item in enumerate(items)}
        for future in as_completed(futures):
            yield futures[future], future.result()
