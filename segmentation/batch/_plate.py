"""What a whole plate needs beyond one image: stamps, a resume journal, quality flags, a pooled threshold.

Shared by the local process pool and the Dask path (:mod:`._dask`), so both run the same code:

- :func:`stamp`: the recipe's SHA-256 and the library versions, written into every summary row by the
  process that computed the row (on a cluster, the worker's own versions);
- the journal ``.summary.partial.csv`` in ``--out``: one row appended per finished image while the batch
  runs and removed once ``summary.csv`` is written, so a batch that was killed resumes from it;
- :func:`flag_outliers`: per-image flags where the threshold, the foreground fraction or the object count
  lies more than 3 scaled MADs from the batch's median (a threshold from the median of the images of its own
  bit depth);
- :func:`channel_histogram` and :func:`pooled_recipe`: one global threshold from the pooled histogram of
  every image (two passes over the plate), as Fiji's "use stack histogram" does;
- :func:`pool_context`: how every local process pool (the batch, the pooled histograms, ``score`` and
  ``tune``) starts its workers.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import importlib.machinery
import importlib.metadata
import io
import json
import math
import multiprocessing
import os
import re
import shutil
import signal
import sys
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
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

__all__ = ["stamp", "provenance", "JOURNAL", "append_journal", "read_rows", "flag_outliers", "bit_depth",
           "channel_histogram",
           "pooled_recipe", "check_pooled", "check_bit_depths", "POOLED_METHODS", "map_local", "init_worker",
           "remove_stale_temporaries", "pool_context", "worker_failure", "run_pool", "stop_pool"]

#: The journal of a running batch, in --out; hidden, and removed once summary.csv is written.
JOURNAL = ".summary.partial.csv"

#: Methods whose threshold is a function of the histogram alone (scikit-image's ``hist=`` argument).
POOLED_METHODS = ("otsu", "yen", "isodata", "minimum", "mean")

#: A value is flagged when it lies further than this many scaled MADs from the batch's median.
MADS = 3.0
#: MAD × 1.4826 estimates the standard deviation of normally distributed values (Rousseeuw & Croux 1993).
MAD_SCALE = 1.4826
#: Where an error raised by a pool or a cluster itself (not by the task's code) comes from: its innermost frame.
_MACHINERY = (os.path.join("concurrent", "futures"), "distributed", "tornado", "asyncio", "multiprocessing")
#: Dask's error for a task whose workers died one after another (distributed is not imported here).
_KILLED_WORKER = "KilledWorker"

#: Where the MAD is 0 (most values equal the median): the mean absolute deviation from the median × sqrt(pi/2),
#: which also estimates the standard deviation of normal values (as IBM Cognos Analytics' modified z score does).
MEANAD_SCALE = math.sqrt(math.pi / 2)


# -- stamps ------------------------------------------------------------------------------------------
#: The libraries a tiled result also depends on (labelling across tiles, the Zarr outputs); their versions are
#: read from the installed distributions, without importing them into every worker.
_TILED_LIBRARIES = ("dask", "dask-image", "zarr")


def _installed(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@functools.lru_cache(maxsize=1)
def _versions() -> str:
    tiled = "; ".join(f"{name} {_installed(name)}" for name in _TILED_LIBRARIES)
    return (f"segmentation-studio {_own_version()}; numpy {np.__version__}; opencv {cv2.__version__}; "
            f"scikit-image {skimage.__version__}; scipy {scipy.__version__}; tifffile {tifffile.__version__}; "
            + tiled)


@functools.lru_cache(maxsize=8)
def stamp(recipe_json: str) -> dict[str, str]:
    """``{"recipe_sha256": ..., "versions": ...}``: what identifies a result, for the summary and resuming."""
    return {"recipe_sha256": hashlib.sha256(recipe_json.encode("utf-8")).hexdigest(), "versions": _versions()}


def provenance(recipe_json: str) -> dict:
    """What an output folder (OME-Zarr) says of itself: the recipe, its SHA-256 and the library versions."""
    return {"recipe": json.loads(recipe_json), **stamp(recipe_json)}


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
    over the rows with status ok or skipped; at least 3 such rows are needed. A threshold is in the pixel
    values of its image, as Fiji shows it, so it is compared only with the thresholds of the images of the same
    ``bit_depth`` (at least 3 of them): an 8-bit image's 120 and a 16-bit image's 30,000 are not on one scale,
    and no common scale fits all (a 12-bit camera's 16-bit files use a sixteenth of the 16-bit range). Where the
    batch mixes bit depths, the flag names the group ("the median 30000 of the 16-bit images"). Where the MAD is 0 (most
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
    def threshold(row: dict) -> float | None:
        return _number(row["thresholds"]) if len(str(row.get("thresholds", "")).split()) == 1 else None

    everything = list(range(len(good)))
    depths: dict[str, list[int]] = {}  # the thresholds' groups: one per bit depth ("" for a row without one)
    for i, row in enumerate(good):
        depths.setdefault(row.get("bit_depth") or "", []).append(i)
    mixed = len(depths) > 1
    measures = [("threshold", threshold, members, f" of the {depth or 'unknown bit depth'} images" * mixed)
                for depth, members in depths.items()]
    measures += [("foreground_fraction", lambda r: _number(r.get("foreground_fraction")), everything, ""),
                 ("objects", lambda r: _number(r.get("objects")), everything, "")]
    flags: dict[int, list[str]] = {}
    for name, get, members, group in measures:
        values = [(i, get(good[i])) for i in members]
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
                flags.setdefault(i, []).append(f"{name} {value:g} far from the median {median:g}{group} "
                                               f"({deviation / scale:.1f} {unit})")
    for i, texts in sorted(flags.items()):
        good[i]["flags"] = "; ".join(texts)


# -- the pooled threshold ----------------------------------------------------------------------------
def _foreground(recipe) -> ThresholdRecipe:
    return recipe.foreground if isinstance(recipe, WatershedRecipe) else recipe


def channel_histogram(task: dict) -> dict:
    """Pass 1 of a pooled threshold, for one image: the exact histogram of its prepared channel.

    Returns ``{"counts": int64 array (one bin per integer value from ``offset``), "offset": int, "polarity": str,
    "dtype": "uint8" or "uint16"}`` or ``{"error": str}``; only the occupied range is sent back (a 16-bit field
    uses a few thousand values). The dtype lets :func:`pooled_recipe` refuse a plate that mixes bit depths.
    """
    try:
        recipe = _foreground(recipe_from_json(task["recipe"]))
        prepared = prepare(load_image(task["path"], **file_selection(recipe)), recipe)
        channel = prepared.image
        if channel.dtype not in (np.uint8, np.uint16):
            return {"error": f"a pooled threshold needs an 8- or 16-bit channel; this one is {channel.dtype}"}
        counts = np.bincount(channel.ravel())
        low = int(np.flatnonzero(counts)[0])
        return {"counts": counts[low:].astype(np.int64), "offset": low, "polarity": prepared.polarity,
                "dtype": channel.dtype.name}
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


def bit_depth(dtype) -> str:
    """``"uint16"`` -> ``"16-bit"`` (``float32`` -> ``"32-bit"``, as Fiji's Image > Type names it)."""
    return f"{np.dtype(dtype).itemsize * 8}-bit"


def check_bit_depths(histograms: list[dict]) -> None:
    """``ValueError`` in plain words when the histograms come from channels of different bit depths.

    An 8-bit and a 16-bit channel share no scale: pooled, the 16-bit values set the threshold and every 8-bit
    image lies below it (a plate of 8- and 16-bit fields gave a threshold of 13402 and no object in any 8-bit
    image). Says how many images have each depth and one of each (a histogram's ``"file"``, when given).
    """
    depths: dict[str, list[dict]] = {}
    for h in histograms:
        if "counts" in h and h.get("dtype"):
            depths.setdefault(h["dtype"], []).append(h)
    if len(depths) < 2:
        return
    parts = []
    for dtype in sorted(depths, key=lambda d: np.dtype(d).itemsize):
        members = depths[dtype]
        example = next((h["file"] for h in members if h.get("file")), None)
        parts.append(f"{len(members)} {'is' if len(members) == 1 else 'are'} {bit_depth(dtype)}"
                     + (f" (such as {example})" if example else ""))
    raise ValueError("--pooled-threshold needs images of one bit depth, since their histograms are pooled on one "
                     f"scale; these images mix bit depths: {' and '.join(parts)}. Run each bit depth as its own "
                     "batch (with its own --out), or leave out --pooled-threshold for a threshold per image")


def pooled_recipe(recipe, histograms: list[dict]):
    """Pass 2's recipe: the same recipe with ``method="manual"`` at the threshold of the pooled histogram.

    ``histograms`` are :func:`channel_histogram` results (failed images are left out). With ``polarity``
    ``"auto"`` and no background subtraction, the polarity is decided on the pooled histogram by the
    automatic rule (the side of its Otsu threshold holding fewer pixels) and written into the recipe.
    Raises ``ValueError`` in plain words when the method has no histogram form, no image could be read, or
    the images mix bit depths (:func:`check_bit_depths`).

    References
    ----------
    N. Otsu, "A threshold selection method from gray-level histograms", IEEE Trans. Systems, Man and
    Cybernetics 9(1):62–66, 1979. :DOI:`10.1109/TSMC.1979.4310076`
    """
    foreground = check_pooled(recipe)
    good = [h for h in histograms if "counts" in h]
    if not good:
        raise ValueError("--pooled-threshold: no image could be read for the pooled histogram")
    check_bit_depths(good)
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


@contextlib.contextmanager
def _main_not_imported() -> Iterator[None]:
    """While a worker is started: the caller's ``__main__`` is not run again in it.

    A process started by ``forkserver`` or ``spawn`` runs the file of the caller's ``__main__`` module (as
    ``__mp_main__``) unless that module names itself (``__spec__``, as ``python -m`` gives it). Run from a
    script (a Streamlit page under ``AppTest``, a user's ``batch.py``), every worker ran that script first: an
    ``AppTest.from_function`` script stopped each worker at once ("NameError: name '__args' is not defined",
    every image "the worker process stopped unexpectedly"), a page ran its whole code in each worker. The
    workers run only this package's functions: a ``__spec__`` named ``__main__`` makes multiprocessing skip it.
    """
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        yield
        return
    main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)
    try:
        yield
    finally:
        main.__spec__ = None


class _ForkServerProcess(multiprocessing.context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj):
        with _main_not_imported():
            return multiprocessing.context.ForkServerProcess._Popen(process_obj)


class _ForkServerContext(multiprocessing.context.ForkServerContext):
    Process = _ForkServerProcess


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
    context = _ForkServerContext()  # forkserver, without running the caller's __main__ in each worker
    context.set_forkserver_preload(_PRELOAD)  # takes effect when the server starts (first use); the same each time
    return context


def init_worker() -> None:
    """A local worker: Ctrl-C is the main process's; one OpenCV thread (one image per core already)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: cancel what has not started and terminate the workers (no result is half-written)."""
    workers = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.terminate()


def run_pool(function: Callable, items: list, jobs: int, *, initializer: Callable | None = None,
             initargs: tuple = (), window: int | None = None,
             keep_going: Callable[[], bool] | None = None) -> Iterator[tuple[int, object]]:
    """``(index, function(item))`` as items finish on ``jobs`` local processes, the error instead where one failed.

    Every item is given exactly once: its result, the exception its task raised, or the ``BrokenProcessPool``
    of a worker that died while running it alone. At most ``window`` items (default ``2 * jobs``) are in the
    pool at a time; no new one starts once ``keep_going()`` is false (the first always does).

    A worker that dies (killed, out of memory) breaks a process pool: every item in it fails with
    ``BrokenProcessPool`` and none says which item took the worker down. The pool is then replaced and those
    items are run again one at a time, so that an item that kills its worker again is the only one reported,
    and the others go on (their writes are atomic, so an item run twice is written once in effect).
    """
    window = window or 2 * jobs
    keep_going = keep_going or (lambda: True)

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=jobs, mp_context=pool_context(), initializer=initializer,
                                   initargs=initargs)

    pool = new_pool()
    pending: dict = {}
    suspects: list[int] = []  # items that were in a pool when a worker died: run again alone
    started, alone = 0, False
    try:
        while True:
            if not pending:
                alone = bool(suspects)
                if alone:
                    i = suspects.pop(0)
                    pending[pool.submit(function, items[i])] = i
            while not alone and started < len(items) and len(pending) < window and (started == 0 or keep_going()):
                pending[pool.submit(function, items[started])] = started
                started += 1
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            broken = False
            for future in sorted(done, key=pending.__getitem__):
                i = pending.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool as error:
                    broken = True
                    if not alone:
                        suspects.append(i)
                        continue
                    result = error  # it took its worker down on its own
                except Exception as error:  # noqa: BLE001 - the task raised in the worker: this item's result
                    result = error
                yield i, result
            if broken:  # the rest of the pool's items fail too: they are run again, alone
                suspects = sorted(suspects + list(pending.values()))
                pending.clear()
                stop_pool(pool)
                pool = new_pool()
    except BaseException:  # Ctrl-C or the caller stopped: stop now rather than wait for running tasks
        stop_pool(pool)
        raise
    pool.shutdown()


def map_local(function: Callable[[dict], dict], items: list[dict], jobs: int,
              failed: Callable[[dict, BaseException], dict] | None = None) -> Iterator[tuple[int, dict]]:
    """``(index, function(item))`` as they finish, on ``jobs`` local processes (in this one for 1).

    Where a task raised or its worker died (:func:`run_pool`), ``failed(item, error)`` is its result (without
    ``failed``, the error is raised).
    """
    if min(jobs, len(items)) <= 1:
        for i, item in enumerate(items):
            try:
                result = function(item)
            except Exception as error:  # noqa: BLE001 - reported as this item's result, the others go on
                if failed is None:
                    raise
                result = failed(item, error)
            yield i, result
        return
    for i, result in run_pool(function, items, min(jobs, len(items)), initializer=init_worker):
        if isinstance(result, BaseException):
            if failed is None:
                raise result
            result = failed(items[i], result)
        yield i, result


def worker_failure(error: BaseException, what: str = "this image") -> str:
    """What the user is told when a worker could not give ``what``'s result: plain words, then the real error.

    The real error is the first sentence of ``error`` and of each error that caused it (Dask reports a task
    it could not unpickle as a RuntimeError caused by the ModuleNotFoundError; a local pool re-raises the
    worker's own error, caused by the worker's traceback text, which is left out), prefixed by the error's
    type, and by "Dask" when it came from the cluster ("Dask" alone when the workers cannot import the
    project). The plain words say which of three things happened:

    - the workers (or the scheduler) cannot import the project: "the workers could not run ..." and what to check;
    - the task's own code raised (a local pool sent the worker's traceback along, or the innermost frame is
      the task's, not the pool's or Dask's): "the worker could not finish ...: unexpected error (...)";
    - else the worker itself is gone (a local pool's ``BrokenProcessPool``, Dask's ``KilledWorker``, or an
      error that says nothing more): "the worker process stopped unexpectedly (...); out of memory?".

    Examples
    --------
    >>> worker_failure(BrokenProcessPool("A process was terminated abruptly. More words"))
    'the worker process stopped unexpectedly (BrokenProcessPool: A process was terminated abruptly); out of memory?'
    """
    parts, chain, cause, remote = [], [], error, False
    while cause is not None and len(chain) < 4 and cause not in chain:
        chain.append(cause)
        if type(cause).__name__ == "_RemoteTraceback":  # concurrent.futures: the worker's traceback as text
            remote = True
        else:
            text = " ".join(str(cause).split()).split(". ")[0].rstrip(".")
            if text:
                parts.append(text)
        cause = cause.__cause__ or cause.__context__
    detail = ": ".join(dict.fromkeys(parts))
    detail = detail if len(detail) <= 300 else detail[:297] + "..."
    frames, tb = [], error.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    dask = type(error).__module__.startswith("distributed") or any("distributed" in name for name in frames)
    imports = any(isinstance(c, ImportError) for c in chain)  # the workers (or the scheduler) lack the project
    source = ("Dask" if imports else f"Dask, {type(error).__name__}") if dask else type(error).__name__
    source = f"{source}: {detail}" if detail else source
    if imports:
        return (f"the workers could not run {what} ({source}); is the checkout importable on the scheduler and the "
                "workers (PYTHONPATH)? see the README")
    killed = any(isinstance(c, BrokenProcessPool) or type(c).__name__ == _KILLED_WORKER for c in chain)
    # frames[0] is the caller's, which caught the error: raised further in by the task's own code (in this
    # process, or on a Dask worker, whose frames come back with the error), not by the pool's or Dask's machinery
    ran = remote or (len(frames) > 1 and not any(part in frames[-1] for part in _MACHINERY))
    if ran and not killed:
        return f"the worker could not finish {what}: unexpected error ({source})"
    return f"the worker process stopped unexpectedly ({source}); out of memory?"
