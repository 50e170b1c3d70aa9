"""Load test: many concurrent browser sessions on one real Streamlit server.

Each session opens the Thresholding page in its own Playwright browser context (one Chromium, async
API), uploads a *different* synthetic image (``discs_NN.png`` holds exactly NN bright discs, so its
Objects metric is known and unique), then moves sliders several times. Every session checks after each
step that it still sees only its own file name and its own object count, and that no error box and no
exception box ever appears. The server's resident memory (the process and its children, via psutil) is
sampled before, during and after the sessions.

Run as a script (writes ``benchmarks/results/load_test.json``)::

    python -m benchmarks.load_test [--sessions 12] [--moves 4]

or import :func:`run_load` (an ``async`` function driving an already running
:class:`benchmarks.harness.StreamlitServer`), as ``tests/browser/test_load.py`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .common import RESULTS
from .harness import CHROMIUM_ARGS, IDLE_JS, INSTALL_HINT, PAGE_INIT_JS, StreamlitServer, find_chromium, track_requests

# Sessions whose websocket is gone are kept for reconnection for server.disconnectedSessionTTL seconds
# (Streamlit's default: 120 s) and only then release their session state (here: the uploaded bytes) and
# upload storage. The load test shortens the TTL so that this cleanup happens within the measurement;
# everything else is the server's default configuration.
DISCONNECTED_SESSION_TTL = 3

# How the memory is measured. glibc keeps freed heap memory mapped (and raises its mmap threshold after
# the first large free), so with the default allocator the server's RSS after the sessions close simply
# stays at its peak and measures glibc rather than the app (measured, 10 sessions, 2 cores, Python 3.11,
# Streamlit 1.67: start 233 MB, peak 310 MB, after close 305 MB, final 305 MB). The server therefore runs
# with these standard glibc tunables, which make large blocks (image arrays, encoded images) come from
# and go back to the OS immediately, so that RSS follows what the app really still holds:
SERVER_ENV = {"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_THRESHOLD_": "65536", "MALLOC_TRIM_THRESHOLD_": "131072"}

# Memory bound: after the sessions have closed and expired, the server's RSS must be at most
# start + MEMORY_BOUND_MB, where "start" is measured after one page load (imports done, the default
# sample decoded and segmented once). Measured with SERVER_ENV (2 cores, Python 3.11, Streamlit 1.67):
#   10 sessions x 3 slider moves: start 230 MB, peak 254 MB, final 248 MB (start + 18 MB)
#   24 sessions x 3 slider moves: start 230 MB, peak 279 MB, final 260 MB (start + 30 MB)
# What legitimately stays is the app's shared caches, all bounded by max_entries (decoded uploads 6,
# threshold results 24, rendered views 48, ...: about 25-30 MB once full with these 640x480 images) plus
# some heap fragmentation. 50 MB is ~2.7x the 10-session figure and above the saturated-cache figure;
# a session that kept its upload, results and rendered images after closing (~3 MB each here) would
# push 10 sessions past it, and such a leak grows with every further session.
MEMORY_BOUND_MB = 50.0

IMAGE_SIZE = (480, 640)  # rows, columns
GRID = (6, 8)            # disc cells: up to 48 discs per image


# ----------------------------------------------------------------------------------------------
# Synthetic images with a known number of objects
# ----------------------------------------------------------------------------------------------
def disc_image(count: int, seed: int | None = None) -> np.ndarray:
    """A 480x640 8-bit image with exactly ``count`` separated bright discs on a dark, slightly noisy
    background. Otsu (the default method) separates them cleanly, so the app counts ``count`` objects."""
    rows, cols = GRID
    if not 1 <= count <= rows * cols:
        raise ValueError(f"count must be between 1 and {rows * cols}")
    rng = np.random.default_rng(count if seed is None else seed)
    image = rng.integers(20, 41, IMAGE_SIZE, dtype=np.uint8)  # background 20..40
    cell_h, cell_w = IMAGE_SIZE[0] // rows, IMAGE_SIZE[1] // cols
    cells = rng.choice(rows * cols, size=count, replace=False)
    for cell in cells:
        r, c = divmod(int(cell), cols)
        radius = int(rng.integers(14, 27))  # < half a cell (40 px): discs never touch
        centre = (c * cell_w + cell_w // 2, r * cell_h + cell_h // 2)
        cv2.circle(image, centre, radius, int(rng.integers(190, 231)), thickness=-1, lineType=cv2.LINE_8)
    return image


def write_disc_images(folder: Path, counts: list[int]) -> list[tuple[Path, int]]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for count in counts:
        path = folder / f"discs_{count:02d}.png"
        ok = cv2.imwrite(str(path), disc_image(count))
        assert ok, path
        out.append((path, count))
    return out


# ----------------------------------------------------------------------------------------------
# The server's memory
# ----------------------------------------------------------------------------------------------
def media_storage_bytes(base_url: str) -> int | None:
    """Bytes held by Streamlit's in-memory media storage (the images sessions are shown), from
    ``/_stcore/metrics``; ``None`` if the endpoint does not report it."""
    try:
        with urllib.request.urlopen(base_url + "/_stcore/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("cache_memory_bytes") and "st_memory_media_file_storage" in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return None


# ----------------------------------------------------------------------------------------------
# Browser side
# ----------------------------------------------------------------------------------------------
async def wait_idle_async(page, settle_ms: int = 500, timeout_ms: int = 180_000) -> None:
    """Script finished, DOM quiet for ``settle_ms``, images loaded, no request in flight."""
    deadline = time.monotonic() + timeout_ms / 1000
    await asyncio.sleep(0.1)
    while True:
        remaining = int((deadline - time.monotonic()) * 1000)
        await page.wait_for_function(IDLE_JS, arg=settle_ms, timeout=max(remaining, 1000), polling=100)
        if not getattr(page, "studio_pending", None):
            return
        if time.monotonic() > deadline:
            raise TimeoutError("requests still in flight")
        await asyncio.sleep(0.1)


@dataclass
class SessionReport:
    index: int
    file: str
    expected_objects: int
    page_loads: int = 0
    interactions: int = 0
    checks: int = 0
    seen_objects: list[str] = field(default_factory=list)
    mask_src: str = ""
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    steps: list[tuple[str, float]] = field(default_factory=list)

    def lap(self, step: str, since: list[float]) -> None:
        now = time.perf_counter()
        self.steps.append((step, round(now - since[0], 2)))
        since[0] = now


async def _metric(page, label: str) -> str:
    label_box = page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    metric = page.get_by_test_id("stMetric").filter(has=label_box)
    return (await metric.get_by_test_id("stMetricValue").inner_text()).strip()


async def _check_own(page, report: SessionReport, step: str) -> None:
    """The session still shows its own file and its own object count, and no error or exception."""
    from playwright.async_api import TimeoutError as PlaywrightTimeoutError

    report.checks += 1
    # A metric of an element Streamlit still marks stale (from the previous run) is hidden by the page's CSS and
    # reads '' (seen once in 40 checks with 10 sessions on 2 cores, after the idle check had passed): wait until
    # no element is stale; a page that stays stale is an error of its own.
    try:
        await page.wait_for_function("() => !document.querySelector('[data-stale=true]')", timeout=15_000,
                                     polling=100)
    except PlaywrightTimeoutError:
        report.errors.append(f"{step}: elements still marked stale 15 s after the page was idle")
    caption = (await page.locator("[data-testid=stMain] [data-testid=stCaptionContainer]").first.inner_text()).strip()
    if not caption.startswith(report.file + " "):
        report.errors.append(f"{step}: caption {caption!r} does not name {report.file}")
    objects = await _metric(page, "Objects")
    report.seen_objects.append(objects)
    if objects.replace(",", "") != str(report.expected_objects):
        report.errors.append(f"{step}: Objects metric {objects!r}, expected {report.expected_objects}")
    exceptions = await page.get_by_test_id("stException").all_inner_texts()
    if exceptions:
        report.errors.append(f"{step}: exception box: {exceptions[0][:300]!r}")
    for text in await page.get_by_test_id("stAlertContentError").all_inner_texts():
        report.errors.append(f"{step}: error box: {text[:300]!r}")


async def _one_session(browser, base_url: str, index: int, image: Path, count: int, moves: int,
                       start_gate: asyncio.Event) -> SessionReport:
    report = SessionReport(index, image.name, count)
    started = time.perf_counter()
    clock = [started]
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(120_000)
    await context.add_init_script(PAGE_INIT_JS)
    try:
        page = track_requests(await context.new_page())
        await start_gate.wait()
        clock[0] = time.perf_counter()
        await page.goto(base_url + "/", wait_until="domcontentloaded")
        report.page_loads += 1
        report.lap("goto", clock)
        await wait_idle_async(page)
        report.lap("first idle", clock)
        await page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(image))
        report.interactions += 1
        caption = page.locator("[data-testid=stMain] [data-testid=stCaptionContainer]").first
        await caption.filter(has_text=image.name).wait_for(timeout=120_000)
        report.lap("upload shown", clock)
        await wait_idle_async(page)
        report.lap("upload idle", clock)
        await _check_own(page, report, "after upload")

        # Slider moves: outline thickness and fill opacity (Display) and opening (Clean-up); none of them
        # changes the number of separated discs, all of them rerun the script and redraw the views.
        await page.get_by_test_id("stExpander").filter(has_text="Display").locator("summary").click()
        await page.get_by_test_id("stExpander").filter(has_text="Clean-up").locator("summary").click()
        sliders = [("Outline thickness (px)", "thickness"), ("Fill opacity", "fill"),
                   ("Opening (px, 0 = off)", "opening")]
        for move in range(moves):
            label, param = sliders[move % len(sliders)]
            slider = page.locator(f'input[type=range][aria-label="{label}"]')
            before = await slider.get_attribute("aria-valuetext")
            await slider.focus()
            # Up first, then back down: values stay small (opening <= 1 px keeps every disc).
            key = "ArrowRight" if (move // len(sliders)) % 2 == 0 else "ArrowLeft"
            await slider.press(key)
            report.interactions += 1
            for _ in range(200):  # the value is sent on key release; wait for the widget to take it
                if await slider.get_attribute("aria-valuetext") != before:
                    break
                await asyncio.sleep(0.05)
            else:
                report.errors.append(f"move {move + 1}: the {param} slider did not move from {before}")
            report.lap(f"move {move + 1} sent", clock)
            await wait_idle_async(page)
            report.lap(f"move {move + 1} idle", clock)
            await _check_own(page, report, f"move {move + 1} ({param} {key})")
        mask = page.locator("[data-testid=stMain] [data-testid=stImage] img").nth(1)
        report.mask_src = await mask.get_attribute("src") or ""
    except Exception as error:  # noqa: BLE001 - reported, and fails the run
        report.errors.append(f"{type(error).__name__}: {str(error)[:500]}")
    finally:
        report.seconds = time.perf_counter() - started
        await context.close()
    return report


async def _sample_memory(server: StreamlitServer, stop: asyncio.Event, samples: list[float],
                         period: float = 0.2) -> None:
    while not stop.is_set():
        samples.append(server.rss_mb())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), period)


async def run_load(server: StreamlitServer, *, sessions: int = 12, moves: int = 4, image_dir: Path,
                   chromium: str) -> dict:
    """Drive ``sessions`` concurrent browser sessions against a running server; return the figures.

    ``image_dir`` receives the sessions' images; ``chromium`` is the browser (``harness.find_chromium()``).

    The server should run with ``--server.disconnectedSessionTTL`` = :data:`DISCONNECTED_SESSION_TTL`
    (closed sessions are then released during the measurement; the final RSS is taken after that) and
    with :data:`SERVER_ENV` in its environment (see the comment there).
    """
    from playwright.async_api import async_playwright

    base_url = server.base_url
    images = write_disc_images(image_dir, [3 + i for i in range(sessions)])

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            # Start: the server has served one page (imports done, the default sample decoded), then idles.
            warm = await browser.new_context()
            await warm.add_init_script(PAGE_INIT_JS)
            page = track_requests(await warm.new_page())
            await page.goto(base_url + "/")
            await wait_idle_async(page)
            await warm.close()
            await asyncio.sleep(1.0)
            start_rss = server.rss_mb()
            media_start = await asyncio.to_thread(media_storage_bytes, base_url)

            samples: list[float] = [start_rss]
            stop = asyncio.Event()
            sampler = asyncio.create_task(_sample_memory(server, stop, samples))
            gate = asyncio.Event()
            began = time.perf_counter()
            tasks = [asyncio.create_task(_one_session(browser, base_url, i, path, count, moves, gate))
                     for i, (path, count) in enumerate(images)]
            gate.set()  # every context exists: the sessions now load the page at the same moment
            reports: list[SessionReport] = await asyncio.gather(*tasks)
            duration = time.perf_counter() - began
            stop.set()
            await sampler
            peak_rss = max(samples)
            after_close_rss = server.rss_mb()
            media_after_close = await asyncio.to_thread(media_storage_bytes, base_url)

            # Let the closed sessions expire, then open and close one short session: storing a session
            # makes the session store drop the expired ones (TTLCache expiry happens on mutation).
            await asyncio.sleep(DISCONNECTED_SESSION_TTL + 4)
            probe = await browser.new_context()
            await probe.add_init_script(PAGE_INIT_JS)
            page = track_requests(await probe.new_page())
            await page.goto(base_url + "/")
            await wait_idle_async(page)
            await probe.close()
            await asyncio.sleep(DISCONNECTED_SESSION_TTL + 2)
            final_rss = server.rss_mb()
            media_final = await asyncio.to_thread(media_storage_bytes, base_url)
        finally:
            await browser.close()

    mask_srcs = [r.mask_src for r in reports if r.mask_src]
    errors = [f"session {r.index} ({r.file}): {e}" for r in reports for e in r.errors]
    if len(set(mask_srcs)) != len(mask_srcs):
        errors.append("two sessions were shown the same mask image")
    return {
        "sessions": sessions,
        "slider_moves_per_session": moves,
        "page_loads": sum(r.page_loads for r in reports),
        "widget_interactions": sum(r.interactions for r in reports),
        "checks": sum(r.checks for r in reports),
        "errors": len(errors),
        "error_messages": errors,
        "rss_start_mb": round(start_rss, 1),
        "rss_peak_mb": round(peak_rss, 1),
        "rss_after_close_mb": round(after_close_rss, 1),
        "rss_final_mb": round(final_rss, 1),
        "media_storage_bytes": {"start": media_start, "after_close": media_after_close, "final": media_final},
        "memory_bound_mb": round(start_rss + MEMORY_BOUND_MB, 1),
        "memory_bound_rule": f"final RSS <= start RSS + {MEMORY_BOUND_MB:.0f} MB",
        "duration_s": round(duration, 1),
        "session_seconds_max": round(max(r.seconds for r in reports), 1),
        "per_session": [{k: v for k, v in asdict(r).items() if k != "mask_src"} for r in reports],
        "cpu_count": os.cpu_count(),
        "disconnected_session_ttl_s": DISCONNECTED_SESSION_TTL,
    }


def summary(figures: dict) -> str:
    return (f"load test: {figures['sessions']} sessions, {figures['page_loads']} page loads, "
            f"{figures['widget_interactions']} widget interactions, {figures['checks']} checks, "
            f"{figures['errors']} errors; RSS start {figures['rss_start_mb']} MB, peak {figures['rss_peak_mb']} MB, "
            f"after close {figures['rss_after_close_mb']} MB, final {figures['rss_final_mb']} MB "
            f"(bound {figures['memory_bound_mb']} MB = start + {MEMORY_BOUND_MB:.0f}); "
            f"sessions took {figures['duration_s']} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument("--moves", type=int, default=4, help="slider moves per session")
    parser.add_argument("--out", type=Path, default=RESULTS / "load_test.json")
    parser.add_argument("--default-malloc", action="store_true",
                        help="run the server without SERVER_ENV (RSS then stays at its peak; no bound checked)")
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        print(f"no Chromium found; {INSTALL_HINT}", file=sys.stderr)
        return 2
    env = {} if args.default_malloc else SERVER_ENV
    with tempfile.TemporaryDirectory(prefix="studio-load-") as tmp:
        with StreamlitServer("app.py", "--server.disconnectedSessionTTL", str(DISCONNECTED_SESSION_TTL),
                             env=env, log_dir=Path(tmp)) as server:
            figures = asyncio.run(run_load(server, sessions=args.sessions, moves=args.moves,
                                           image_dir=Path(tmp) / "images", chromium=chromium))
        server_log = server.log_text()
    figures["server_tracebacks"] = server_log.count("Traceback")
    figures["server_env"] = env
    figures["within_memory_bound"] = args.default_malloc or figures["rss_final_mb"] <= figures["memory_bound_mb"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(summary(figures))
    print(f"written to {args.out}")
    ok = figures["errors"] == 0 and figures["server_tracebacks"] == 0 and figures["within_memory_bound"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
