"""Shared pieces of the benchmarks: test images, interleaved timing, memory peaks, results.

Servers, ports and Chromium are in ``harness.py`` (shared with the browser tests).

Everything here measures *ratios within one run* (library / bare calls, naive app / our app): the
machines these run on are small and noisy, so absolute milliseconds only mean something next to the
number they are compared with, measured a moment apart.
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

#: Test sizes: (label, width, height). About 1, 4 and 12 megapixels.
SIZES = (("1MP", 1000, 1000), ("4MP", 2000, 2000), ("12MP", 4000, 3000))


# -- test images --------------------------------------------------------------------------------
def make_image(kind: str, width: int, height: int, *, seed: int = 0) -> np.ndarray:
    """A realistic test image of the given size, made from scikit-image's sample data.

    ``kind="gray"``: ``skimage.data.coins()`` tiled (objects keep about their real size, so a bigger
    image holds more coins, as a bigger micrograph would) and resized with ``INTER_CUBIC``.
    ``kind="rgb"``: ``skimage.data.astronaut()`` tiled so that it is enlarged about 2× (a photo), resized
    with ``INTER_CUBIC``. Both get mild sensor-like noise (σ = 2 grey levels) so encoders and
    histogram methods see real data rather than perfectly smooth interpolation.
    """
    import cv2
    from skimage import data

    if kind == "gray":
        base, upscale = data.coins(), 1.0
    elif kind == "rgb":
        base, upscale = data.astronaut(), 2.0
    else:
        raise ValueError(f"kind must be gray or rgb, not {kind!r}")
    bh, bw = base.shape[:2]
    reps = (math.ceil(height / (bh * upscale)), math.ceil(width / (bw * upscale)))
    tiled = np.tile(base, reps + ((1,) if base.ndim == 3 else ()))
    out = cv2.resize(tiled, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = np.random.default_rng(seed).normal(0.0, 2.0, out.shape)
    return np.clip(out + noise, 0, 255).astype(np.uint8)


def write_image_file(image: np.ndarray, path: Path, fmt: str) -> Path:
    """Write a test image as PNG (lossless, as a micrograph would be shared) or JPEG (a camera photo)."""
    import cv2

    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    params = [cv2.IMWRITE_JPEG_QUALITY, 92] if fmt == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 3]
    ok, buffer = cv2.imencode("." + fmt, bgr, params)
    if not ok:
        raise RuntimeError(f"could not encode {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.tobytes())
    return path


# -- timing -------------------------------------------------------------------------------------
def _time_once(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process, all threads) for one call."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def interleaved(a: Callable[[], object], b: Callable[[], object], *, budget: float = 2.0, min_pairs: int = 5,
                max_pairs: int = 200) -> dict:
    """Time ``a`` and ``b`` alternately (A B, B A, A B, ...) and return medians in milliseconds.

    The number of pairs adapts so that the whole cell takes about ``budget`` seconds, but never fewer
    than ``min_pairs`` (then the cell takes longer). One warm-up pair is run first and discarded,
    except when a call takes more than 2 s: then the warm-up pair counts as a sample (cold-start effects
    are negligible against such a call, and the cell would otherwise take minutes more).

    Both the wall-clock time and the process CPU time (all threads) are recorded. On a 2-core machine
    shared with other jobs the wall time of a call swings with their load; the CPU time of the same work
    hardly does, so the CPU-time ratio is the steadier measure of *overhead* (it cannot see waiting,
    but neither side of these comparisons waits for anything).
    """
    gc.collect()
    first_a, first_b = _time_once(a), _time_once(b)
    keep_warmup = min(first_a[0], first_b[0]) > 2.0
    pairs = int(min(max_pairs, max(min_pairs, budget / max(first_a[0] + first_b[0], 1e-6))))
    runs_a, runs_b = ([first_a], [first_b]) if keep_warmup else ([], [])
    for i in range(pairs - len(runs_a)):
        if i % 2 == 0:
            runs_a.append(_time_once(a))
            runs_b.append(_time_once(b))
        else:
            runs_b.append(_time_once(b))
            runs_a.append(_time_once(a))
    wall_a, cpu_a = zip(*runs_a)
    wall_b, cpu_b = zip(*runs_b)
    ma, mb = statistics.median(wall_a) * 1000, statistics.median(wall_b) * 1000
    ca, cb = statistics.median(cpu_a) * 1000, statistics.median(cpu_b) * 1000
    pair_ratios = [x / y for x, y in zip(wall_a, wall_b) if y > 0]
    return {
        "a_ms": ma, "b_ms": mb, "ratio": ma / mb if mb > 0 else float("nan"),
        "pair_ratio_median": statistics.median(pair_ratios) if pair_ratios else float("nan"),
        "pairs": len(runs_a),
        "a_p90_ms": percentile(wall_a, 90) * 1000, "b_p90_ms": percentile(wall_b, 90) * 1000,
        # The fastest run of each is the least disturbed by other processes: a second opinion on a busy box.
        "a_min_ms": min(wall_a) * 1000, "b_min_ms": min(wall_b) * 1000,
        "min_ratio": min(wall_a) / min(wall_b) if min(wall_b) > 0 else float("nan"),
        "a_cpu_ms": ca, "b_cpu_ms": cb, "cpu_ratio": ca / cb if cb > 0 else float("nan"),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }


def wait_for_quiet(max_load: float | None, max_wait: float = 300.0) -> float:
    """Wait (up to ``max_wait`` s) until the 1-minute load average is below ``max_load``; return it."""
    load = os.getloadavg()[0]
    if not max_load:
        return load
    deadline = time.monotonic() + max_wait
    while load >= max_load and time.monotonic() < deadline:
        time.sleep(5)
        load = os.getloadavg()[0]
    return load


def percentile(values, q: float) -> float:
    """Linear-interpolated percentile of a small list (no numpy import needed by callers)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def peak_memory_mb(fn: Callable[[], object]) -> float:
    """Peak Python-visible memory (numpy and OpenCV output arrays) allocated while ``fn`` runs, in MB.

    ``tracemalloc`` sees numpy's buffers (and so the arrays OpenCV returns), not OpenCV's internal
    scratch memory: good enough to compare two ways of doing the same work.
    """
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak / 1e6


def stop_on_sigterm() -> None:
    """Turn SIGTERM (``timeout``, CI cancellation) into SystemExit so that servers we started are stopped."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


# -- results ------------------------------------------------------------------------------------
def environment() -> dict:
    import cv2
    import skimage
    import streamlit

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": platform.python_version(), "platform": platform.platform(), "cpus": os.cpu_count(),
        "numpy": np.__version__, "opencv": cv2.__version__, "scikit-image": skimage.__version__,
        "streamlit": streamlit.__version__, "load_average": load,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_results(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"environment": environment(), **payload}, indent=2, default=_json_default) + "\n")
    return path


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def table(rows: list[list[str]], header: list[str]) -> str:
    """A plain-text table (also valid Markdown)."""
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])
