"""Browser latency: from a slider move to the new mask on screen, our app against the naive app.

In a real browser (Playwright driving Debian's chromium), for images of about 1, 4 and 12 megapixels:

* **thresholding** — an RGB photo (JPEG) is uploaded through the file uploader of our Thresholding page
  (``/``, then "Manual value" is picked in the Method box) and of ``benchmarks/naive_app.py``
  (``/?mode=threshold``); then the "Threshold value" slider is moved one step with the arrow key, again
  and again;
* **watershed** — a grayscale micrograph-like image (PNG) is uploaded to our Watershed page
  (``/watershed``) and to the naive app (``/?mode=watershed``); then the "h (px)" slider is moved.

One move is timed inside the page, from the ``keydown`` event to the moment the middle image (the
mask, or the labels) shows the new result: its ``src`` changed (thresholding; a watershed step may give
identical labels, and then the same URL), the script state is back to ``notRunning`` after running, the
``<img>`` is ``complete`` with ``naturalWidth > 0``, it has been decoded (``img.decode()``) and one
animation frame has passed. The parts (rerun started, new result arrived, script finished, image
loaded) are recorded too, with the image's transfer size from the Resource Timing API.

Each app gets a fresh server per cell (free port, headless, ``--server.maxUploadSize 200``). The two apps
are measured in the same run, alternately (ours, naive, naive, ours, ...), after one warm-up move each.
Targets: thresholding a 12-MP photo in our app has a median below 250 ms, and our app is at least 4×
faster than the naive app at 12 MP (median naive / median ours >= 4).
The floor app (``benchmarks/floor_app.py``: decode once, a 1024-px preview, the same library call, three
views it encodes itself, nothing else) is measured in the same rotation: our page's median may be at most
1.3× the floor's for thresholding and 2× for the watershed at 12 MP.

Run: ``python -m benchmarks browser [--quick]``, or ``python -m benchmarks.browser_latency --help`` for one task
or size. Writes ``benchmarks/results/browser_latency.json``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .common import (
    RESULTS,
    ROOT,
    SIZES,
    make_image,
    percentile,
    stop_on_sigterm,
    table,
    wait_for_quiet,
    write_image_file,
    write_results,
)
from .harness import CHROMIUM_ARGS, INSTALL_HINT, StreamlitServer, find_chromium

#: Options of both apps' servers (the 12-MP PNGs are bigger than Streamlit's default upload limit).
SERVER_ARGS = ("--server.maxUploadSize", "200")
VIEWPORT = {"width": 1600, "height": 1000}
TARGET_MS = 250.0
TARGET_SPEEDUP = 4.0

#: task -> (image kind, file format, our page path, naive query, slider label, must the mask URL change,
#:          (selectbox label, option) to pick in our app first)
TASKS = {
    "threshold": ("rgb", "jpg", "/", "/?mode=threshold", "Threshold value", True,
                  ("Method", ("manual", "Manual value"))),
    "watershed": ("gray", "png", "/watershed", "/?mode=watershed", "h (px)", False, None),
}
APPS = {"ours": ROOT / "app.py", "naive": ROOT / "benchmarks" / "naive_app.py",
        "floor": ROOT / "benchmarks" / "floor_app.py"}
#: Our page's median over the floor app's, per task (issue "Speed at the limit"): the most a page may cost
#: beyond one bare rerun that shows the same three views of the same library call on the preview.
TARGET_OVER_FLOOR = {"threshold": 1.3, "watershed": 2.0}
#: Where "ours" is served from: this checkout, or another one given with --ours-root (to compare a fix).
OURS_ROOT = ROOT

IMAGES = "document.querySelectorAll('[data-testid=\"stMain\"] [data-testid=\"stImage\"] img')"

# Installed before each key press; the result is read from window.__lat once ``done`` is true.
INSTALL_WATCHER = """
([index, mustChange]) => {
  const imgs = () => %s;
  const first = imgs()[index];
  const st = {before: first ? first.src : null, t0: null, running: null, notRunning: null, srcChanged: null,
              ready: null, shown: null, done: false, src: null};
  window.__lat = st;
  const app = document.querySelector('[data-testid="stApp"]');
  document.addEventListener('keydown', () => { if (st.t0 === null) st.t0 = performance.now(); },
                            {capture: true, once: true});
  const observer = new MutationObserver(() => {
    const now = performance.now(), state = app.getAttribute('data-test-script-state');
    if (st.t0 !== null && state !== 'notRunning' && st.running === null) st.running = now;
    if (st.running !== null && state === 'notRunning' && st.notRunning === null) st.notRunning = now;
  });
  observer.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  const finish = (img) => {
    st.ready = performance.now();
    st.src = img.src;
    const stamp = () => { if (!st.done) { st.shown = performance.now(); st.done = true; observer.disconnect(); } };
    img.decode().catch(() => null).then(() => { requestAnimationFrame(stamp); setTimeout(stamp, 250); });
  };
  const tick = () => {
    if (st.t0 !== null) {
      const img = imgs()[index];
      if (img && st.srcChanged === null && img.src !== st.before) st.srcChanged = performance.now();
      const ready = img && img.complete && img.naturalWidth > 0;
      if (st.notRunning !== null && ready && (st.srcChanged !== null || !mustChange)) { finish(img); return; }
    }
    setTimeout(tick, 2);
  };
  tick();
}
""" % IMAGES

READ_RESULT = """
() => {
  const st = window.__lat;
  const entries = st.src ? performance.getEntriesByName(st.src) : [];
  const e = entries.length ? entries[entries.length - 1] : null;
  return {...st, fetch_ms: e ? e.responseEnd - e.startTime : null,
          bytes: e ? (e.encodedBodySize || e.transferSize) : null,
          images: Array.from(%s).map(i => [i.naturalWidth, i.naturalHeight])};
}
""" % IMAGES

IDLE = """
([count, text]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-connection-state') !== 'CONNECTED') return false;
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (text && !document.body.innerText.includes(text)) return false;
  const imgs = Array.from(%s);
  return imgs.length >= count && imgs.every(i => i.complete && i.naturalWidth > 0);
}
""" % IMAGES

# The upload is on screen: connected, script done, ``count`` images loaded and the first one (the original)
# has one of ``sizes`` as its natural size (the upload's preview, or the upload itself, as the app shows it).
# An error or exception box in the main area ends the wait at once with its text: the harness then fails
# loudly instead of timing the moves of whatever the page showed before (a sample, an error message).
SHOWN = """
([count, sizes]) => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-connection-state') !== 'CONNECTED') return false;
  const bad = document.querySelector('[data-testid="stMain"] [data-testid="stException"], '
                                     + '[data-testid="stMain"] [data-testid="stAlertContentError"]');
  if (bad && app.getAttribute('data-test-script-state') === 'notRunning')
    return 'error: ' + bad.innerText.slice(0, 400);
  if (app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  const imgs = Array.from(%s);
  if (imgs.length < count || !imgs.every(i => i.complete && i.naturalWidth > 0)) return false;
  const [w, h] = [imgs[0].naturalWidth, imgs[0].naturalHeight];
  return sizes.some(([sw, sh]) => sw === w && sh === h) ? 'shown' : false;
}
""" % IMAGES
#: Streamlit's ``st.image`` sends an image wider than twice its content width (2 × 730 px) resized to this width.
ST_IMAGE_MAX_WIDTH = 1460
#: The long side of our pages' live preview by default (``studio_ui.views.DEFAULT_PREVIEW_SIDE``) and of the floor
#: app's.
PREVIEW_SIDE = 1024


def expected_sizes(app: str, image_path: Path) -> list[tuple[int, int]]:
    """(width, height) the first image of ``app`` may have once ``image_path`` is shown: the preview of the upload
    (ours, floor: :data:`PREVIEW_SIDE` on the long side, as the library's ``downscale`` makes it) or the upload
    itself as ``st.image`` sends it (naive; full size, or :data:`ST_IMAGE_MAX_WIDTH` wide)."""
    import numpy as np
    from PIL import Image

    import segmentation as seg

    with Image.open(image_path) as im:
        width, height = im.size
    if app in ("ours", "floor"):
        small, _ = seg.downscale(np.zeros((height, width), np.uint8), PREVIEW_SIDE, kind="image")
        return [(small.shape[1], small.shape[0])]
    sizes = [(width, height)]
    if width > ST_IMAGE_MAX_WIDTH:
        sizes += [(ST_IMAGE_MAX_WIDTH, int(ST_IMAGE_MAX_WIDTH * height / width)),
                  (ST_IMAGE_MAX_WIDTH, round(ST_IMAGE_MAX_WIDTH * height / width))]
    return sizes


class AppUnderTest:
    """One app in one browser page: served fresh, opened, given the image, with its slider found."""

    def __init__(self, name: str, browser, task: str, image_path: Path, timeout_s: float, spec: tuple | None = None,
                 env: dict[str, str] | None = None):
        self.name, self.browser, self.image_path = name, browser, image_path
        self.timeout_ms = timeout_s * 1000
        _, _, ours_path, naive_query, self.label, self.must_change, self.choice = spec or TASKS[task]
        self.path = ours_path if name == "ours" else naive_query
        root = OURS_ROOT if name == "ours" else ROOT
        self.server = StreamlitServer(root / APPS[name].relative_to(ROOT), *SERVER_ARGS, cwd=root, log_dir=RESULTS,
                                      keep_log=False, env=env)
        self.context = None
        self.moves: list[dict] = []
        self.sizes = expected_sizes(name, image_path)

    def __enter__(self):
        self.server.start()
        try:
            self._open()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _open(self) -> None:
        self.context = self.browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()
        self.page.set_default_timeout(self.timeout_ms)
        self.page.goto(self.server.base_url + self.path)
        self.page.wait_for_selector('[data-testid="stApp"][data-test-connection-state="CONNECTED"]')
        self.page.wait_for_function(IDLE, arg=[0, None], polling=50)
        start = time.perf_counter()
        self.page.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(self.image_path))
        self.wait_shown("after the upload")
        self.upload_to_view_ms = (time.perf_counter() - start) * 1000
        if self.name == "ours" and self.choice:
            # Picked in the page, not through the URL: the bound selectbox writes its *label* into the URL
            # (``?method=Manual+value``), so ``?method=manual`` is ignored (reported to the lead).
            self._choose(*self.choice)
        self.widget = self.page.get_by_test_id("stSlider").filter(has=self.page.get_by_text(self.label, exact=True))
        self.slider = self.widget.get_by_role("slider")
        self.slider.wait_for()
        self.wait_shown(f"after choosing {self.choice}" if self.choice else "before the first move")

    def wait_shown(self, when: str) -> None:
        """Wait until the upload is on screen (:data:`SHOWN`); raise with what is shown instead when an error
        box appears or it is not there within the timeout: timing moves on anything else is meaningless."""
        try:
            state = self.page.wait_for_function(SHOWN, arg=[3, self.sizes], polling=50).json_value()
        except Exception as error:  # noqa: BLE001 - a timeout: say what the page shows
            state = f"timeout ({type(error).__name__})"
        if state != "shown":
            shown = self.page.evaluate(f"() => Array.from({IMAGES}).map(i => [i.naturalWidth, i.naturalHeight])")
            shot = RESULTS / f"failed-upload-{self.name}-{self.server.port}.png"
            self.page.screenshot(path=str(shot))
            raise RuntimeError(f"{self.name} ({self.server.base_url}{self.path}) does not show the upload "
                               f"{self.image_path.name} {when}: {state}; images shown {shown}, expected the first "
                               f"at one of {self.sizes}; see {shot} and {self.server.log_path}")

    def _choose(self, box_label: str, options: tuple[str, ...]) -> None:
        """Pick the first option shown under any of ``options`` (the box may show names or labels)."""
        box = self.page.get_by_test_id("stSelectbox").filter(has=self.page.get_by_text(box_label, exact=True))
        pattern = re.compile("^(" + "|".join(map(re.escape, options)) + ")$")
        wanted = self.page.get_by_role("option", name=pattern)
        for _ in range(5):
            self.page.wait_for_function(IDLE, arg=[0, None], polling=50)
            box.click()
            try:
                wanted.click(timeout=5000)
                break
            except Exception:  # noqa: BLE001 - the list closed (a rerun redrew the box): open it again
                self.page.keyboard.press("Escape")
        else:
            shot = RESULTS / f"failed-choose-{self.name}.png"
            self.page.screenshot(path=str(shot))
            raise RuntimeError(f"could not pick {options!r} in {box_label!r}; see {shot}")
        self.page.wait_for_function(IDLE, arg=[3, None], polling=50)  # the slider is awaited by the caller

    def __exit__(self, *exc):
        try:
            if self.context is not None:
                self.context.close()
        finally:
            self.server.stop()
            if self.server.traceback():
                print(f"    the {self.name} server logged a Traceback: see {self.server.log_path}", file=sys.stderr)

    def move(self, key: str = "ArrowRight") -> dict:
        """One slider step; returns the timings (ms from the keydown) of its stages."""
        self.page.wait_for_function(IDLE, arg=[3, None], polling=20)
        self.slider.focus()
        self.page.evaluate(INSTALL_WATCHER, [1, self.must_change])
        self.page.keyboard.press(key)
        self.page.wait_for_function("() => window.__lat && window.__lat.done", polling=20)
        raw = self.page.evaluate(READ_RESULT)
        if not raw["images"] or tuple(raw["images"][0]) not in self.sizes:
            raise RuntimeError(f"{self.name}: after a move the page shows images {raw['images']}, not the upload "
                               f"{self.image_path.name} (expected the first at one of {self.sizes})")
        t0 = raw["t0"]
        since = lambda key: None if raw.get(key) is None else raw[key] - t0  # noqa: E731
        return {"total_ms": since("shown"), "rerun_started_ms": since("running"),
                "result_arrived_ms": since("srcChanged"), "script_done_ms": since("notRunning"),
                "image_ready_ms": since("ready"),
                "mask_changed": raw["srcChanged"] is not None, "mask_fetch_ms": raw["fetch_ms"],
                "mask_bytes": raw["bytes"], "shown_sizes": raw["images"],
                "value": self.widget.get_by_test_id("stSliderThumbValue").inner_text()}


def _summary(moves: list[dict]) -> dict:
    totals = [m["total_ms"] for m in moves]
    parts = {}
    for key in ("rerun_started_ms", "result_arrived_ms", "script_done_ms", "image_ready_ms", "mask_fetch_ms",
                "mask_bytes"):
        values = [m[key] for m in moves if m.get(key) is not None]
        parts[key] = statistics.median(values) if values else None
    return {"median_ms": statistics.median(totals), "p90_ms": percentile(totals, 90), "min_ms": min(totals),
            "max_ms": max(totals), "moves": len(totals), "changed": sum(m["mask_changed"] for m in moves),
            "median_parts": parts}


def run_cell(browser, task: str, size: tuple[str, int, int], moves: int, warmup: int, workdir: Path,
             timeout_s: float) -> dict:
    label, width, height = size
    kind, fmt = TASKS[task][:2]
    image_path = write_image_file(make_image(kind, width, height), workdir / f"{task}-{label}.{fmt}", fmt)
    load_before = os.getloadavg()[0]
    with AppUnderTest("ours", browser, task, image_path, timeout_s) as ours, \
            AppUnderTest("naive", browser, task, image_path, timeout_s) as naive, \
            AppUnderTest("floor", browser, task, image_path, timeout_s) as floor:
        apps = {"ours": ours, "naive": naive, "floor": floor}
        for name, app in apps.items():
            for _ in range(warmup):
                app.move()
            print(f"    {label} {task}: {name} ready (upload to view {app.upload_to_view_ms:.0f} ms)",
                  file=sys.stderr)
        for i in range(moves):
            names = tuple(apps)
            order = names[i % 3:] + names[:i % 3]  # each app first, second and last in turn
            for name in order:
                result = apps[name].move()
                apps[name].moves.append(result)
                print(f"    {label} {task} move {i + 1}/{moves} {name:5}: {result['total_ms']:8.0f} ms "
                      f"(script done {result['script_done_ms']:.0f}, changed {result['mask_changed']})",
                      file=sys.stderr)
        cell = {"task": task, "size": label, "width": width, "height": height, "file_bytes": image_path.stat().st_size,
                "file_format": fmt, "load_average_before": load_before, "load_average_after": os.getloadavg()[0]}
        for name, app in apps.items():
            cell[name] = {**_summary(app.moves), "upload_to_view_ms": app.upload_to_view_ms, "all_moves": app.moves}
    image_path.unlink()
    cell["ratio_naive_over_ours"] = cell["naive"]["median_ms"] / cell["ours"]["median_ms"]
    cell["ratio_ours_over_floor"] = cell["ours"]["median_ms"] / cell["floor"]["median_ms"]
    return cell


def run(chromium: str, quick: bool = False, sizes: tuple[str, ...] = (), tasks: tuple[str, ...] = (),
        moves: int | None = None, timeout_s: float = 900.0, max_load: float = 4.0) -> dict:
    from playwright.sync_api import sync_playwright

    chosen_sizes = [s for s in SIZES if (sizes and s[0] in sizes) or (not sizes and (not quick or s[0] == "1MP"))]
    moves = moves or (3 if quick else 10)
    warmup = 1
    cells = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="studio-bench-") as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            for task in tasks or tuple(TASKS):
                for size in chosen_sizes:
                    load = wait_for_quiet(None if quick else max_load)
                    print(f"  {task} {size[0]} (load average {load:.1f})", file=sys.stderr)
                    cells.append(run_cell(browser, task, size, moves, warmup, Path(tmp), timeout_s))
        finally:
            browser.close()
    targets = {}
    for cell in cells:
        if cell["size"] == "12MP":
            if cell["task"] == "threshold":
                targets["threshold_12MP_median_below_250ms"] = cell["ours"]["median_ms"] < TARGET_MS
            faster = cell["ratio_naive_over_ours"] >= TARGET_SPEEDUP
            targets[f"{cell['task']}_12MP_at_least_4x_faster_than_naive"] = faster
            limit = TARGET_OVER_FLOOR[cell["task"]]
            targets[f"{cell['task']}_12MP_within_{limit}x_of_the_floor_app"] = cell["ratio_ours_over_floor"] <= limit
    return {"quick": quick, "ours_root": str(OURS_ROOT), "moves_per_cell": moves, "warmup_moves": warmup,
            "target_ms": TARGET_MS,
            "target_speedup": TARGET_SPEEDUP, "cells": cells, "targets": targets,
            # None when no 12-MP cell ran (a quick or partial run): the targets were not checked.
            "all_targets_met": all(targets.values()) if targets else None, "seconds": time.perf_counter() - started}


def report(results: dict) -> str:
    rows = []
    for c in results["cells"]:
        o, n, f = c["ours"], c["naive"], c["floor"]
        rows.append([c["task"], c["size"], f"{o['median_ms']:.0f}", f"{o['p90_ms']:.0f}", f"{f['median_ms']:.0f}",
                     f"{c['ratio_ours_over_floor']:.2f}x", f"{n['median_ms']:.0f}",
                     f"{n['p90_ms']:.0f}", f"{c['ratio_naive_over_ours']:.1f}x", f"{o['moves']}/{n['moves']}",
                     f"{o['changed']}/{n['changed']}", f"{o['upload_to_view_ms']:.0f}/{n['upload_to_view_ms']:.0f}",
                     f"{c['load_average_before']:.1f}"])
    out = ["Slider move -> new mask shown (ms, in the browser)",
           table(rows, ["task", "size", "ours median", "ours p90", "floor median", "ours/floor", "naive median",
                        "naive p90", "naive/ours",
                        "moves", "mask changed", "upload->view ms ours/naive", "load avg"])]
    rows = []
    for c in results["cells"]:
        for name in ("ours", "floor", "naive"):
            p = c[name]["median_parts"]
            fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
            rows.append([c["task"], c["size"], name, fmt(p["rerun_started_ms"]), fmt(p["result_arrived_ms"]),
                         fmt(p["script_done_ms"]), fmt(p["image_ready_ms"]), f"{c[name]['median_ms']:.0f}",
                         fmt(p["mask_fetch_ms"]), "-" if p["mask_bytes"] is None else f"{p['mask_bytes'] / 1e3:.0f}"])
    out += ["", "Median stages (ms after keydown): rerun started, new mask URL arrived, script done, image loaded, "
                "shown",
            table(rows, ["task", "size", "app", "started", "mask URL", "script done", "img loaded", "shown",
                         "mask fetch ms", "mask kB"])]
    out += [""] + [f"target {name}: {'met' if ok else 'NOT met'}" for name, ok in results["targets"].items()]
    met = results["all_targets_met"]
    verdict = "not checked (they are defined at 12 MP)" if met is None else "yes" if met else "NO"
    out.append(f"All browser-latency targets met: {verdict}; {results['seconds']:.0f} s")
    return "\n".join(out)


# -- where the server's time goes in one rerun (``--profile``) ---------------------------------------
#: stage -> (file name ending, function name) pairs whose cumulative time is that stage's.
STAGES = {
    "page setup + image source": [("studio_ui/page.py", "start_page")],
    "decode upload": [("studio_ui/source.py", "_decode_upload"), ("~", "<imdecode>")],
    "preview downscale": [("studio_ui/source.py", "preview_of")],
    "widgets": [("studio_ui/widgets.py", "recipe_widgets"), ("studio_ui/views.py", "display_settings")],
    "compute (library)": [("studio_ui/compute.py", "run_threshold"), ("studio_ui/compute.py", "run_watershed"),
                          ("segmentation/thresholding/_pipeline.py", "threshold"),
                          ("segmentation/regions/_segment.py", "watershed")],
    "object count": [("studio_ui/compute.py", "count_objects")],
    "render + encode views": [("studio_ui/compute.py", "result_views"), ("studio_ui/compute.py", "original_view"),
                              ("segmentation/display/_render.py", "boundary_overlay"),
                              ("segmentation/display/_render.py", "colorize_labels")],
    "st.image (PIL encode/resize)": [("elements/lib/image_utils.py", "marshall_images")],
    "histogram (vega-lite)": [("studio_ui/views.py", "histogram_spec"), ("elements/vega_charts.py", "vega_lite_chart")],
    "objects table": [("studio_ui/compute.py", "measurements"), ("studio_ui/views.py", "measurement_table")],
}


def _stage_times(stats, wall_s: float) -> dict[str, float]:
    """Milliseconds per stage: the cumulative time of its matching functions, counting a function called
    directly by another match of the same stage only once (``run_threshold`` calls ``threshold``)."""
    out = {}
    for stage, targets in STAGES.items():
        matched = {key for key in stats.stats
                   if any(key[0].endswith(f) and key[2] == name for f, name in targets)}
        total = 0.0
        for key in matched:
            _, _, _, cumulative, callers = stats.stats[key]
            if not matched.intersection(callers):  # outermost only
                total += cumulative
        out[stage] = total * 1000
    out["rerun total"] = wall_s * 1000
    return out


def profile(tasks: tuple[str, ...], sizes: tuple[str, ...], moves: int = 2) -> dict:
    """Run our page and the naive app in-process (AppTest) and break one slider rerun down by stage.

    This is the server's share only: sending the result (protobuf over the websocket), fetching the
    images and painting them happen in the browser and show in the browser stages instead.
    cProfile slows pure-Python code (altair, widgets) more than OpenCV calls, so the Python-heavy stages
    look bigger than they are; the stages do not add up to the total (the rest is Streamlit itself).
    """
    import cProfile
    import pstats

    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.testing.v1 import AppTest

    state: dict = {"on": False}
    original = script_runner.ScriptRunner._run_script

    def profiled(self, rerun_data):
        if not state["on"]:
            return original(self, rerun_data)
        profiler, start = cProfile.Profile(), time.perf_counter()
        profiler.enable()
        try:
            return original(self, rerun_data)
        finally:
            profiler.disable()
            state["stats"], state["wall"] = pstats.Stats(profiler), time.perf_counter() - start

    script_runner.ScriptRunner._run_script = profiled
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="studio-prof-") as tmp:
            for task in tasks or tuple(TASKS):
                kind, fmt, ours_path, _, label, _, choice = TASKS[task]
                for size_label, width, height in [s for s in SIZES if s[0] in (sizes or ("12MP",))]:
                    path = write_image_file(make_image(kind, width, height), Path(tmp) / f"{task}.{fmt}", fmt)
                    for app, script in APPS.items():
                        at = AppTest.from_file(str(script), default_timeout=1800)
                        if app != "ours":
                            at.query_params["mode"] = task
                        at.run()
                        if app == "ours" and ours_path != "/":  # page links resolve against the entry script
                            at.switch_page("pages/2_watershed.py").run()
                        mime = "image/jpeg" if fmt == "jpg" else "image/png"
                        at.file_uploader(key="upload").set_value((path.name, path.read_bytes(), mime)).run()
                        if app == "ours" and choice:
                            at.selectbox(key="method").set_value("manual").run()
                        labels = [w.label for w in at.slider]
                        if label not in labels:
                            raise RuntimeError(f"{app} {task}: no slider {label!r} among {labels}; "
                                               f"{[e.value for e in at.exception]}")
                        key = next(w.key for w in at.slider if w.label == label)
                        step = 1 if task == "threshold" else 0.05
                        runs = []
                        for i in range(moves + 1):  # the first move warms the caches and is not kept
                            slider = at.slider(key=key)
                            slider.set_value(slider.value + step)
                            state["on"] = True
                            at.run()
                            state["on"] = False
                            if at.exception:
                                raise RuntimeError(f"{app} {task}: {at.exception[0].value}")
                            if i:
                                runs.append(_stage_times(state["stats"], state["wall"]))
                        median = {stage: statistics.median(r[stage] for r in runs) for stage in runs[0]}
                        results.append({"task": task, "size": size_label, "app": app, "stages_ms": median,
                                        "runs": runs})
                        print(f"    profiled {app} {task} {size_label}: rerun {median['rerun total']:.0f} ms",
                              file=sys.stderr)
    finally:
        script_runner.ScriptRunner._run_script = original
    return {"profile": results}


def profile_report(results: dict) -> str:
    rows = []
    stages = list(STAGES) + ["rerun total"]
    for r in results["profile"]:
        rows.append([r["task"], r["size"], r["app"]] + [f"{r['stages_ms'][s]:.0f}" for s in stages])
    return ("Server time of one slider rerun, by stage (ms, median; in-process AppTest + cProfile)\n"
            + table(rows, ["task", "size", "app"] + stages))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.browser_latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 MP only, 3 moves per cell (a smoke run)")
    parser.add_argument("--sizes", nargs="*", choices=[s[0] for s in SIZES])
    parser.add_argument("--tasks", nargs="*", choices=list(TASKS))
    parser.add_argument("--moves", type=int, help="timed moves per app and cell (default 10; quick 3)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one move may take (naive 12 MP!)")
    parser.add_argument("--output", help="results file name without .json (default: browser_latency, or "
                                         "browser_latency_quick with --quick, so a smoke run never replaces a full "
                                         "one)")
    parser.add_argument("--profile", action="store_true",
                        help="instead: break one server-side rerun down by stage (default 12 MP; writes "
                             "rerun_profile.json)")
    parser.add_argument("--max-load", type=float, default=4.0,
                        help="before each cell, wait up to 5 min for the 1-minute load average to drop below "
                             "this (0 = do not wait); the load is recorded either way")
    parser.add_argument("--full-resolution", action="store_true",
                        help="instead: our watershed page's slider latency while the full-resolution job of the "
                             "previous move runs in the background, against the same move with no job running "
                             "(benchmarks/progressive_latency.py; default 12 MP; writes progressive_latency.json)")
    parser.add_argument("--ours-root", type=Path,
                        help="serve 'ours' from another checkout (e.g. a copy with a candidate fix); the naive "
                             "app always comes from this one")
    args = parser.parse_args(argv)
    args.output = args.output or ("browser_latency_quick" if args.quick else "browser_latency")
    stop_on_sigterm()
    if args.ours_root:
        global OURS_ROOT
        OURS_ROOT = args.ours_root.resolve()
    if args.full_resolution:
        from . import progressive_latency

        return progressive_latency.main(["--sizes", *(args.sizes or ["12MP"]), "--moves", str(args.moves or 12),
                                         "--timeout", str(args.timeout)])
    if args.profile:  # always this checkout's app (in-process imports)
        results = profile(tuple(args.tasks or ()), tuple(args.sizes or ()), moves=args.moves or 2)
        print(profile_report(results))
        print(f"\nwrote {write_results('rerun_profile', results)}")
        return 0
    chromium = find_chromium()
    if chromium is None:
        print(f"no Chromium found; {INSTALL_HINT}", file=sys.stderr)
        return 2
    results = run(chromium, args.quick, tuple(args.sizes or ()), tuple(args.tasks or ()), args.moves, args.timeout,
                  args.max_load)
    print(report(results))
    print(f"\nwrote {write_results(args.output, results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
