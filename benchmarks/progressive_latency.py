"""Slider latency while the full-resolution answer is computed in the background (issue 10, progressive answer).

Our Watershed page shows the live view on a 1024-px preview at once and computes the full-resolution result
in the server's one-worker pool (``studio_ui/full_resolution.py``); a fragment brings its numbers in. The
claim to check: that background work does not slow the live view down.

In a real browser (Playwright, Debian's chromium), a 12-MP grayscale PNG (``make_image("gray")``) is uploaded
to ``/watershed``, the foreground method is set to "Manual value", and the "Threshold value" slider is moved
one step at a time (each step changes the labels, so the middle image's URL changes and every move starts a
new full-resolution job). Two servers of our app run side by side: one as deployed, one with
``STUDIO_FULL_RESOLUTION=off`` (no background work at all: the reference). Each round times three moves:

* **off** — a move on the reference server (nothing else running on either server);
* **idle** — the previous move's full-resolution numbers are on screen (no "≈"), so no job is running
  and the fragment has stopped polling; then one move is timed;
* **busy** — at once after the idle move's view is shown, while *its* full-resolution watershed is
  running (checked: the metrics still show "≈" at the key press; busy moves made after the job had
  already finished are kept in ``busy_all`` but left out of the ratios); then one move is timed.
  (An idle move's own job starts during its rerun, after the preview's library call.)

Both servers are checked to show the upload itself before anything is timed, and after every move: the first
image's natural size must be the upload's 1024-px preview (``browser_latency.AppUnderTest.wait_shown``); an
error box, or the sample still on screen, stops the benchmark with what was shown instead (an earlier harness
waited only for the file name on the page, and the reference server's moves were timed on the coins sample).

One move is timed as in ``browser_latency.py`` (keydown to the new labels image decoded and painted). The
results are the ratios of the medians busy / off (target: at most 1.25, i.e. "the same" within the noise of a
shared 2-core machine), idle / off and busy / idle, and how long the full-resolution numbers took to arrive.

Run: ``python -m benchmarks.browser_latency --full-resolution [--sizes 12MP] [--moves 8]`` or
``python -m benchmarks.progressive_latency``. Writes ``benchmarks/results/progressive_latency.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .browser_latency import AppUnderTest
from .common import SIZES, make_image, percentile, stop_on_sigterm, table, write_image_file, write_results
from .harness import CHROMIUM_ARGS, INSTALL_HINT, find_chromium

#: (image kind, format, page, naive query (unused), slider, must the labels URL change, choice to make first)
SPEC = ("gray", "png", "/watershed", "/?mode=watershed", "Threshold value", True,
        ("Method", ("manual", "Manual value")))
TARGET_RATIO = 1.25

_VALUES = "Array.from(document.querySelectorAll('[data-testid=stMetricValue]')).map(v => v.innerText.trim())"
PENDING = f"() => {_VALUES}.some(v => v.startsWith('≈'))"
FINAL = f"() => {{ const v = {_VALUES}; return v.length >= 4 && !v.some(x => x.startsWith('≈')); }}"


def _summary(moves: list[dict]) -> dict:
    totals = [m["total_ms"] for m in moves]
    return {"median_ms": statistics.median(totals), "p90_ms": percentile(totals, 90), "min_ms": min(totals),
            "max_ms": max(totals), "moves": len(totals)}


def _say_where(where: str, error: Exception, apps: dict) -> None:
    """On a failed wait: what each page shows (metrics, captions, slider, script state), and a screenshot."""
    from .common import RESULTS

    print(f"    stopped at {where}: {type(error).__name__}: {str(error)[:300]}", file=sys.stderr)
    for name, app in apps.items():
        try:
            state = app.page.evaluate(f"""() => ({{metrics: {_VALUES},
                script: document.querySelector('[data-testid=stApp]').dataset.testScriptState,
                captions: Array.from(document.querySelectorAll('[data-testid=stMain] [data-testid=stCaptionContainer]'))
                                .map(c => c.innerText.trim()).slice(0, 6)}})""")
            shot = RESULTS / f"progressive-stuck-{name}.png"
            app.page.screenshot(path=str(shot))
            print(f"    {name}: {state}; slider {app.widget.get_by_test_id('stSliderThumbValue').inner_text()}; "
                  f"see {shot} and {app.server.log_path}", file=sys.stderr)
        except Exception as inner:  # noqa: BLE001 - the report must not hide the first error
            print(f"    {name}: could not be inspected ({inner})", file=sys.stderr)


def run(chromium: str, size: tuple[str, int, int], moves: int, timeout_s: float) -> dict:
    from playwright.sync_api import sync_playwright

    label, width, height = size
    started = time.perf_counter()
    idle, busy, off_moves, full_s = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="studio-progressive-") as tmp, sync_playwright() as playwright:
        path = write_image_file(make_image("gray", width, height), Path(tmp) / f"progressive-{label}.png", "png")
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            with AppUnderTest("ours", browser, "watershed", path, timeout_s, spec=SPEC) as app, \
                    AppUnderTest("ours", browser, "watershed", path, timeout_s, spec=SPEC,
                                 env={"STUDIO_FULL_RESOLUTION": "off"}) as off:
                page = app.page
                page.wait_for_function(FINAL, polling=100)
                app.move()  # warm-up
                off.move()
                page.wait_for_function(FINAL, polling=100)
                load_before = os.getloadavg()[0]
                for i in range(moves):
                    key = "ArrowRight" if i % 2 == 0 else "ArrowLeft"  # stay around the starting value
                    stage = "waiting for the previous full-resolution numbers"
                    try:
                        page.wait_for_function(FINAL, polling=100)  # no job running, no polling
                        stage = "off move"
                        off_moves.append(off.move(key))
                        page.wait_for_timeout(300)
                        stage = "idle move"
                        result = app.move(key)
                        after_idle = time.perf_counter()
                        running = page.evaluate(PENDING)
                        idle.append(result)
                        stage = "busy move"
                        result = app.move(key)  # the idle move's full-resolution job is running now
                        result["job_running_at_keydown"] = running
                        busy.append(result)
                        stage = "waiting for the full-resolution numbers"
                        page.wait_for_function(FINAL, polling=100)
                    except Exception as error:
                        _say_where(f"round {i + 1}, {stage}", error, {"ours": app, "off": off})
                        raise
                    full_s.append(time.perf_counter() - after_idle)
                    print(f"    {label} round {i + 1}/{moves}: off {off_moves[-1]['total_ms']:.0f} ms, "
                          f"idle {idle[-1]['total_ms']:.0f} ms, "
                          f"busy {busy[-1]['total_ms']:.0f} ms (job running: {running})", file=sys.stderr)
                load_after = os.getloadavg()[0]
        finally:
            browser.close()
    # Only the busy moves made while the job was really running count (on a loaded machine the idle move's
    # view can take longer than its full-resolution job); all moves are kept in the results.
    running = [m for m in busy if m.get("job_running_at_keydown")] or busy
    median = {name: statistics.median(m["total_ms"] for m in group)
              for name, group in (("off", off_moves), ("idle", idle), ("busy", running))}
    ratio = median["busy"] / median["off"]
    return {"size": label, "width": width, "height": height, "pairs": moves, "off": _summary(off_moves),
            "idle": _summary(idle), "busy": _summary(running), "busy_all": _summary(busy),
            "ratio_busy_over_off": ratio, "ratio_idle_over_off": median["idle"] / median["off"],
            "ratio_busy_over_idle": median["busy"] / median["idle"],
            "busy_moves_with_job_running": sum(bool(m.get("job_running_at_keydown")) for m in busy),
            "shown_sizes": {"ours": sorted({tuple(m["shown_sizes"][0]) for m in idle + busy}),
                            "off": sorted({tuple(m["shown_sizes"][0]) for m in off_moves})},
            "full_resolution_after_s_median": statistics.median(full_s), "load_average_before": load_before,
            "load_average_after": load_after, "target_ratio": TARGET_RATIO, "target_met": ratio <= TARGET_RATIO,
            "all_off": off_moves, "all_idle": idle, "all_busy": busy, "seconds": time.perf_counter() - started}


def report(results: dict) -> str:
    rows = [[c["size"], f"{c['off']['median_ms']:.0f}", f"{c['idle']['median_ms']:.0f}",
             f"{c['busy']['median_ms']:.0f}",
             "/".join(f"{c[name]['p90_ms']:.0f}" for name in ("off", "idle", "busy")),
             f"{c['ratio_busy_over_off']:.2f}", f"{c['ratio_idle_over_off']:.2f}", f"{c['ratio_busy_over_idle']:.2f}",
             f"{c['busy_moves_with_job_running']}/{c['pairs']}", f"{c['full_resolution_after_s_median']:.1f}",
             f"{c['load_average_before']:.1f}/{c['load_average_after']:.1f}"] for c in results["cells"]]
    out = ["Watershed page, slider move -> new labels shown (ms, medians): reference server without background "
           "work (off), ours with no job running (idle) and with the previous move's full-resolution job running "
           "(busy)",
           table(rows, ["size", "off", "idle", "busy", "p90 off/idle/busy", "busy/off", "idle/off", "busy/idle",
                        "job running", "full-res after (s)", "load avg"])]
    out += [f"target busy/off <= {TARGET_RATIO} at {c['size']}: {'met' if c['target_met'] else 'NOT met'} "
            f"(images shown: ours {c['shown_sizes']['ours']}, off {c['shown_sizes']['off']})"
            for c in results["cells"]]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.progressive_latency",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="*", choices=[s[0] for s in SIZES], default=["12MP"])
    parser.add_argument("--moves", type=int, default=12, help="rounds of off/idle/busy moves (default 12)")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args(argv)
    stop_on_sigterm()
    chromium = find_chromium()
    if chromium is None:
        print(f"no Chromium found; {INSTALL_HINT}", file=sys.stderr)
        return 2
    cells = [run(chromium, size, args.moves, args.timeout) for size in SIZES if size[0] in args.sizes]
    results = {"cells": cells, "all_targets_met": all(c["target_met"] for c in cells)}
    print(report(results))
    print(f"\nwrote {write_results('progressive_latency', results)}")
    return 0 if results["all_targets_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
