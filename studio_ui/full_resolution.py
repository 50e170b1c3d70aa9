"""The progressive answer: preview numbers at once, full-resolution numbers when they are ready.

The live views are computed on a display-sized preview so a slider answers at once. The numbers a person
reads (objects, threshold, foreground) must be the ones the downloads hold, so the full-resolution result
is computed too, but *off the script thread*: Streamlit can stop a script only between its own calls, and a
full-resolution watershed of a 12-megapixel photo takes seconds, which would hold up the next slider move.

* One small pool (:func:`jobs`, ``max_workers=1``) is shared by every session of the server: the
  full-resolution work of all visitors queues there and never takes more than one core from the live
  views. A job is keyed by (page, image key, recipe JSON); two sessions asking for the same answer share
  one job.
* A session wants one answer at a time. A new widget change (a new key) releases the session's previous
  job: if nobody else wants it and it has not started, it is cancelled (it never runs); a running one
  cannot be interrupted (the library call is one C call) and finishes into the cache, unused. A job waits
  :data:`SETTLE_SECONDS` before it starts and gives up if it was released meanwhile, so moving a slider
  step after step starts no full-resolution work until the recipe settles (work beside a live rerun slows
  it: they share the GIL and the machine's two cores).
* The job calls the *same* cached function as the Export tab (``compute.full_answer``), so the work is done
  once and the number shown is, by construction, the number of objects in the exported file. The answer
  cache is theirs (``compute.FULL_RESULTS``, keyed by image key and recipe JSON, bounded in bytes and holding
  only the mask or labels and the numbers: the current recipe's answer stays, older ones go once the budget is
  exceeded, so slider stops do not pile up full-resolution results); the job itself returns a few numbers.
* Compare draws its numbers in several places (the results table, the agreement matrix, the object scores):
  :func:`start` asks for its one job (all columns, the truth's scores, the agreement shown) and each place
  calls :func:`follow`, showing the preview's numbers marked "≈" until the job's are in.
* The metrics are drawn in a fragment that reruns every :data:`POLL_SECONDS` while the job is pending
  (``@st.fragment(run_every=...)``) and stops polling when it is done. Until then each number is shown
  as "≈ value" with a help text saying it is a preview estimate. The fragment holds the future of the
  recipe it was drawn for, so a stale job's numbers can never show for a newer recipe.
* When the preview is the image itself (factor 1) there is nothing to wait for: the numbers are final.
* ``STUDIO_FULL_RESOLUTION=off`` in the server's environment turns the background work off (the numbers
  then stay marked as preview estimates, and the downloads are computed on click as before). It exists for
  the latency benchmark's reference (``python -m benchmarks.browser_latency --full-resolution``) and for a
  host too small to compute full-resolution results it was not asked for.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import numpy as np
import streamlit as st

import segmentation as seg

from . import compute, views

#: How often the metrics fragment looks for the full-resolution result while it is being computed.
POLL_SECONDS = 0.5
#: How long a full-resolution job waits before it starts, for the recipe to settle: a job started at once ran
#: beside the next slider move's rerun and took its GIL and its second core (thresholding a 12-megapixel
#: photo: 190-200 ms from slider to views against 164 ms with no background work,
#: ``python -m benchmarks.browser_latency``). A job whose recipe changed while it waited never runs.
SETTLE_SECONDS = float(os.environ.get("STUDIO_FULL_RESOLUTION_SETTLE", "0.4"))
#: Sessions remembered by the job registry (a session that went away without a new request is forgotten
#: after this many newer ones, releasing its job).
MAX_SESSIONS = 256
PREVIEW_MARK = "≈ "
#: How much nicer than the server the full-resolution worker thread runs (Linux schedules threads one by one, so
#: only this thread is lowered): a live rerun of any session comes first on a 2-core machine, the background
#: answer takes the rest. Measured by ``python -m benchmarks.progressive_latency`` (slider latency while a
#: full-resolution watershed runs, against a server with no background work).
WORKER_NICENESS = int(os.environ.get("STUDIO_WORKER_NICENESS", "10"))


def enabled() -> bool:
    """Whether full-resolution numbers are computed in the background (``STUDIO_FULL_RESOLUTION`` not "off")."""
    return os.environ.get("STUDIO_FULL_RESOLUTION", "on").strip().lower() not in ("off", "0", "false", "no")


@dataclass(frozen=True)
class Numbers:
    """The numbers the metrics row shows for one result (preview or full resolution)."""

    objects: int
    thresholds: tuple[float, ...]
    dtype: np.dtype
    foreground_fraction: float
    seeds: int | None = None
    seconds: float | None = None  # the library's time at full resolution (None: the preview's, shown as given)


def _lower_priority() -> None:
    """Lower the calling thread's scheduling priority by :data:`WORKER_NICENESS` (where the OS allows it)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed: the work still runs, at normal priority
        pass


class Jobs:
    """A bounded pool plus the registry of which session wants which full-resolution answer."""

    def __init__(self, max_workers: int = 1) -> None:
        self.pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="full-resolution",
                                       initializer=_lower_priority)
        self._lock = threading.Lock()
        self._futures: dict[tuple, Future] = {}
        self._wanted_by: dict[tuple, set[str]] = {}
        self._latest: OrderedDict[str, tuple] = OrderedDict()

    def want(self, session: str, key: tuple, work: Callable[[], Numbers]) -> Future:
        """The future of ``key`` for ``session``, submitting ``work`` if nobody asked for it yet.

        The session's previous key is released first (a job nobody wants any more and not yet started is
        cancelled, so it never runs).
        """
        with self._lock:
            previous = self._latest.pop(session, None)
            if previous is not None and previous != key:
                self._release(session, previous)
            self._latest[session] = key
            while len(self._latest) > MAX_SESSIONS:
                gone, gone_key = self._latest.popitem(last=False)
                self._release(gone, gone_key)
            future = self._futures.get(key)
            if future is None or future.cancelled():
                future = self.pool.submit(self._settled, key, work, time.monotonic() + SETTLE_SECONDS)
                self._futures[key] = future
            self._wanted_by.setdefault(key, set()).add(session)
            return future

    def _settled(self, key: tuple, work: Callable[[], Numbers], due: float) -> Numbers:
        """``work()`` once ``due`` (:data:`SETTLE_SECONDS` after it was asked for) has passed, unless nobody wants
        ``key`` any more by then (it raises ``CancelledError``: the session moved on while the job waited).

        The wait counts from the request, not from the start in the worker: jobs of other sessions queued behind
        a waiting one have waited their time already and do not add theirs one after another.
        """
        time.sleep(max(0.0, due - time.monotonic()))
        with self._lock:
            if key not in self._wanted_by:
                raise CancelledError(f"no session wants {key[0]} {key[1][:12]} any more")
        return work()

    def find(self, key: tuple) -> Future | None:
        """The future of ``key`` if some session asked for it (None otherwise); starts nothing."""
        with self._lock:
            return self._futures.get(key)

    def forget(self, session: str) -> None:
        """The session wants no full-resolution answer now (its preview is the full image)."""
        with self._lock:
            key = self._latest.pop(session, None)
            if key is not None:
                self._release(session, key)

    def _release(self, session: str, key: tuple) -> None:
        wanting = self._wanted_by.get(key)
        if wanting is None:
            return
        wanting.discard(session)
        if not wanting:
            del self._wanted_by[key]
            future = self._futures.pop(key, None)
            if future is not None:
                future.cancel()  # True only if it had not started: then it never runs

    def pending(self) -> int:
        """How many wanted jobs are not finished (for tests and the benchmark)."""
        with self._lock:
            return sum(not future.done() for future in self._futures.values())


@st.cache_resource(show_spinner=False)
def jobs() -> Jobs:
    """The server's one pool for full-resolution work (shared by all sessions).

    One worker: the machine this runs on has few cores and the live views of every session must keep one.
    """
    return Jobs(max_workers=1)


def _session_id() -> str:
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def _stop_polling() -> None:
    """Tell the browser to stop rerunning the current fragment on its timer.

    ``run_every`` is sent once, when the fragment is declared, and the browser keeps the timer across full
    reruns of the same page; Streamlit 1.67 stops a timer only with its ``stop_auto_rerun`` message (sent by
    ``script_runner.py`` for fragments that disappeared). The fragment sends the same message for itself once
    its answer is in. Should these internals move, the timer just keeps rerunning a fragment that has
    nothing left to do.
    """
    try:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        from streamlit.runtime.scriptrunner_utils.script_run_context import ThreadState, get_script_run_ctx
    except ImportError:  # pragma: no cover - another Streamlit version
        return
    ctx = get_script_run_ctx()
    fragment_id = ThreadState.get().fragment_id
    if ctx is None or not fragment_id:
        return
    message = ForwardMsg()
    message.stop_auto_rerun.fragment_ids.append(fragment_id)
    ctx.enqueue(message)


# _same_block: a fragment draws into a block of its own. A page drawn without one (a small image's final numbers,
# background work off) must draw into a block too: when the next run drew a fragment where the last drew five metric
# columns straight into the page, the new block took the columns' place and kept the old columns it did not fill as
# stale children, laid out one under another, until the run ended: "Foreground ≈ …", "Threshold ≈ …", "Time ≈ …"
# below the new row for the 1-3 s an open Export tab waits for the full-resolution job (helper's trial of issue 15,
# every 12-MP upload after a sample). Test: tests/browser/test_progressive.py.
def _progressive(kind: str, image_key: str, recipe_json: str, factor: float, preview: Numbers,
                 work: Callable[[], Numbers], draw: Callable[[Numbers, str, str], None]) -> None:
    """Draw the metrics with ``draw(numbers, mark, help)`` now and again when the full answer is in."""
    if factor >= 1:
        jobs().forget(_session_id())
        with st.container():  # the block a fragment draws into: see _same_block
            draw(preview, "", "")
        return
    scale = f"{factor:.0%}"
    if not enabled():
        with st.container():
            draw(preview, PREVIEW_MARK, f"Preview estimate ({scale} of full size); the downloads are computed at "
                                        "full resolution.")
            st.caption(f"≈ preview estimates ({scale} scale); the downloads hold the full-resolution result.")
        return
    future = jobs().want(_session_id(), (kind, image_key, recipe_json), work)

    @st.fragment(run_every=None if future.done() else POLL_SECONDS)
    def metrics() -> None:
        if not future.done():
            draw(preview, PREVIEW_MARK,
                 f"Preview estimate, computed on the live preview ({scale} of full size); the full-resolution "
                 f"value replaces it in a moment.")
            st.caption(f"≈ preview estimates ({scale} scale) · computing at full resolution…")
            return
        _stop_polling()
        try:
            numbers = future.result()
        except (CancelledError, Exception) as error:  # noqa: BLE001 - the preview numbers stay usable
            draw(preview, PREVIEW_MARK, f"Preview estimate ({scale} of full size).")
            st.caption(f"≈ preview estimates: the full-resolution computation failed ({error}).")
            return
        draw(numbers, "", "At full resolution: the downloads hold this.")
        if _differs(preview.objects, numbers.objects):
            st.caption(f"At full resolution {numbers.objects:,} objects, against {preview.objects:,} on the "
                       f"{scale} preview the views show: sizes in pixels (a window, a smallest object, the background "
                       "radius) and specks act differently on the smaller copy. *Look closer* shows full-resolution "
                       "pixels; the downloads hold the full-resolution result.")

    metrics()


def _differs(preview: int, full: int) -> bool:
    """Whether the full-resolution count is far from the preview's: 1.5 times more or fewer, and 5 or more apart.

    The views stay the preview's, and a metric that changed from "≈ 93" to "24,081" (Sauvola on a 12-MP photo,
    issue 15's trial) left the visitor to guess which one the views show.
    """
    low, high = sorted((preview, full))
    return high - low >= 5 and high > 1.5 * low


def when_ready(kind: str, image_key: str, recipe_json: str, factor: float, *, preview: Callable[[], None],
               full: Callable[[], None]) -> None:
    """Draw ``preview()`` now and ``full()`` once this recipe's full-resolution answer is in.

    For what the metrics' job makes cheap afterwards (the Objects tab measures the full-resolution result
    the job left in the page's cache). It starts no job of its own: the metrics row asked for it. A fragment
    polls, as the metrics do, and stops once ``full()`` is drawn.
    """
    if factor >= 1:
        with st.container():  # the block a fragment draws into: see _same_block
            full()
        return
    future = jobs().find((kind, image_key, recipe_json)) if enabled() else None
    if future is None:
        with st.container():
            preview()
        return

    @st.fragment(run_every=None if future.done() else POLL_SECONDS)
    def part() -> None:
        if not future.done() or future.cancelled() or future.exception() is not None:
            preview()
            return
        _stop_polling()
        full()

    part()


def start(kind: str, image_key: str, recipe_json: str, factor: float, work: Callable[[], object]) -> None:
    """Ask the pool for ``work()``, the full-resolution answer of ``(kind, image_key, recipe_json)``.

    For a page whose numbers are drawn in several places (Compare: the results table, the agreement matrix,
    the object scores): each place then calls :func:`follow` with the same key. Nothing is started when the
    preview is the image itself (``factor`` 1: the page's numbers are final) or background work is off.
    """
    if factor >= 1:
        jobs().forget(_session_id())
    elif enabled():
        jobs().want(_session_id(), (kind, image_key, recipe_json), work)


def follow(kind: str, image_key: str, recipe_json: str, factor: float, *, preview: Callable[[str], None],
           full: Callable[[object], None]) -> None:
    """Draw ``preview(note)`` (the preview's numbers, marked) until the job :func:`start` asked for is done,
    then ``full(value)`` with its value; a fragment polls every :data:`POLL_SECONDS` meanwhile.

    ``note`` says why the numbers are still estimates (being computed, background work off, the computation
    failed). With ``factor`` 1 the page draws its final numbers itself: this draws nothing.
    """
    if factor >= 1:
        return
    scale = f"{factor:.0%}"
    future = jobs().find((kind, image_key, recipe_json)) if enabled() else None
    if future is None:
        with st.container():  # the block a fragment draws into: see _same_block
            preview(f"≈ preview estimates ({scale} scale); switch on *Full resolution* to compute them on the "
                    "whole image.")
        return

    @st.fragment(run_every=None if future.done() else POLL_SECONDS)
    def part() -> None:
        if not future.done():
            preview(f"≈ preview estimates ({scale} scale) · computing at full resolution…")
            return
        _stop_polling()
        try:
            value = future.result()
        except (CancelledError, Exception) as error:  # noqa: BLE001 - the preview numbers stay usable
            preview(f"≈ preview estimates ({scale} scale): the full-resolution computation failed ({error}).")
            return
        full(value)

    part()


# --- the two pages ----------------------------------------------------------------------------------------
def _help(base: str | None, extra: str) -> str | None:
    return " ".join(part for part in (base, extra) if part) or None


def _time_metric(where, preview_seconds: float, numbers: Numbers) -> None:
    """The Time metric: the library's time for the numbers shown, the full-resolution one once they are in (#10
    review: it stayed the preview's while every other number became the full-resolution one)."""
    if numbers.seconds is None:
        where.metric("Time", views.format_ms(preview_seconds), help="Library time for the live preview.")
    else:
        took = views.format_ms(preview_seconds)
        where.metric("Time", views.format_ms(numbers.seconds),
                     help=f"Library time at full resolution (the live preview took {took}).")


def threshold_metrics(*, image_key: str, image: np.ndarray, factor: float, recipe: seg.ThresholdRecipe,
                      result: seg.ThresholdResult, objects: int, seconds: float) -> None:
    """The Thresholding page's metrics row: method, threshold, foreground, objects, time."""
    recipe_json = recipe.to_json()
    preview = Numbers(objects, tuple(result.thresholds), result.processed.dtype, result.foreground_fraction)

    def work() -> Numbers:
        timed = compute.full_answer("threshold", image_key, recipe_json, image)
        full = timed.result
        return Numbers(full.count, full.thresholds, full.dtype, full.foreground_fraction, seconds=timed.seconds)

    method = seg.METHODS[recipe.method]

    def draw(numbers: Numbers, mark: str, note: str) -> None:
        c1, c2, c3, c4, c5 = st.columns(5)
        c1.metric("Method", method.label.split(" (")[0],
                  help=f"Computed by {method.library}, after {method.source}.")
        threshold = views.format_thresholds(numbers.thresholds, numbers.dtype, recipe.method)
        c2.metric("Threshold", (mark if numbers.thresholds else "") + threshold,
                  help=_help("In the image's own units (a 16-bit image gets 16-bit values).", note))
        c3.metric("Foreground", f"{mark}{numbers.foreground_fraction:.1%}", help=note or None)
        c4.metric("Objects", f"{mark}{numbers.objects:,}", help=_help("8-connected objects in the mask.", note))
        _time_metric(c5, seconds, numbers)

    _progressive("threshold", image_key, recipe_json, factor, preview, work, draw)


def watershed_metrics(*, image_key: str, image: np.ndarray, factor: float, recipe: seg.WatershedRecipe,
                      result: seg.WatershedResult, seconds: float) -> None:
    """The Watershed page's metrics row: objects, seeds, foreground, threshold, time."""
    recipe_json = recipe.to_json()
    fg = result.threshold
    preview = Numbers(result.count, tuple(fg.thresholds), fg.processed.dtype, fg.foreground_fraction,
                      int(result.markers.max(initial=0)))

    def work() -> Numbers:
        timed = compute.full_answer("watershed", image_key, recipe_json, image)
        full = timed.result
        return Numbers(full.count, full.thresholds, full.dtype, full.foreground_fraction, full.seeds,
                       seconds=timed.seconds)

    def draw(numbers: Numbers, mark: str, note: str) -> None:
        shown = views.format_thresholds(numbers.thresholds, numbers.dtype, recipe.foreground.method)
        threshold = (mark if numbers.thresholds else "") + shown
        c1, c2, c3, c4, c5 = st.columns(5)
        c1.metric("Objects", f"{mark}{numbers.objects:,}", help=note or None)
        c2.metric("Seeds", f"{mark}{numbers.seeds:,}", help=note or None)
        c3.metric("Foreground", f"{mark}{numbers.foreground_fraction:.1%}",
                  help=_help(f"{seg.METHODS[recipe.foreground.method].label} threshold {threshold}", note))
        c4.metric("Threshold", threshold, help=note or None)
        _time_metric(c5, seconds, numbers)

    _progressive("watershed", image_key, recipe_json, factor, preview, work, draw)
