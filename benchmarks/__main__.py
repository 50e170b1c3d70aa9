"""``python -m benchmarks [--quick] [library|full|browser|load|memory|profile|quality|all]``: run the
benchmarks (see README.md).

* ``library``: library overhead, ``segmentation.threshold``/``watershed`` / the bare OpenCV and
  scikit-image calls (target ratio <= 1.15); writes ``benchmarks/results/library_overhead.json``.
* ``browser``: slider-to-new-mask latency in Chromium, our app against ``benchmarks/naive_app.py``
  (targets: < 250 ms median for a 12-MP photo, >= 4x faster than the naive app at 12 MP); writes
  ``benchmarks/results/browser_latency.json``.
* ``load``: many concurrent sessions on one server (``benchmarks/load_test.py``); writes
  ``benchmarks/results/load_test.json``.
* ``memory``: what one session with a 12-MP upload holds on the server, as a multiple of the decoded image
  (``benchmarks/session_memory.py``; target <= 3x), with an in-process breakdown by cache; writes
  ``benchmarks/results/session_memory.json``.
* ``full``: the slow stages at full resolution, 12 MP (``benchmarks/full_resolution.py``: default watershed
  <= 2 s and <= 2x ``peak_local_max`` + ``watershed``, labels export <= 3 s, ``measure()`` with 1,000 objects
  <= 0.3 s, 5-class 16-bit multi-Otsu <= 1 s); writes ``benchmarks/results/full_resolution.json``.
* ``profile``: where the server's time goes in one slider rerun, by stage (not part of ``all``).
* ``quality``: the default recipes scored against expert ground truth (``../shared/devdata`` when present,
  and the bundled synthetic nuclei); writes ``benchmarks/results/quality.json`` (not part of ``all``).
* ``all`` (the default): library, full, browser, load and memory, one after the other (never in parallel: they
  would disturb each other's timings on a 2-core machine).

``--quick`` makes each a smoke run of a minute or two (1 MP only, few repetitions). The exit status is
0 when every benchmark ran and met its targets, 1 when a target was missed, 2 when one could not run.
"""

from __future__ import annotations

import argparse
import sys
import traceback


def _library(quick: bool) -> int:
    from . import library_overhead

    code = library_overhead.main(["--quick"] if quick else [])
    return code or (0 if _met("library_overhead_quick" if quick else "library_overhead") else 1)


def _browser(quick: bool) -> int:
    from . import browser_latency

    code = browser_latency.main(["--quick"] if quick else [])
    return code or (0 if _met("browser_latency_quick" if quick else "browser_latency") else 1)


def _profile(quick: bool) -> int:
    from . import browser_latency

    return browser_latency.main(["--profile"] + (["--sizes", "1MP"] if quick else []))


def _full(quick: bool) -> int:
    from . import full_resolution

    return full_resolution.main(["--quick"] if quick else [])


def _load(quick: bool) -> int:
    from . import load_test
    from .common import RESULTS

    # A smoke run writes load_test_quick.json, so that it never replaces a full run's figures.
    quick_args = ["--sessions", "4", "--moves", "2", "--out", str(RESULTS / "load_test_quick.json")]
    return load_test.main(quick_args if quick else [])


def _memory(quick: bool) -> int:
    from . import session_memory

    return session_memory.main(["--quick"] if quick else [])


def _met(name: str) -> bool:
    import json

    from .common import RESULTS

    try:
        met = json.loads((RESULTS / f"{name}.json").read_text()).get("all_targets_met", False)
    except (OSError, ValueError):
        return False
    return met is None or bool(met)  # None: no target applies to what ran (a quick run)


def _quality(quick: bool) -> int:
    from . import quality

    return quality.main([])


RUNNERS = {"library": _library, "full": _full, "browser": _browser, "load": _load, "memory": _memory,
           "profile": _profile, "quality": _quality}


#: What ``all`` runs, in this order (one after the other: in parallel they would disturb each other's timings).
ALL = ("library", "full", "browser", "load", "memory")


def chosen_benchmarks(argv: list[str] | None = None) -> tuple[list[str], bool]:
    """The benchmarks named on the command line (``all`` spelled out, each once, in the order given) and
    whether ``--quick`` was given."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    # The default is the string "all", not ["all"]: Python 3.11's argparse checks a list default of an nargs="*"
    # positional against ``choices`` as one value and refused a bare ``python -m benchmarks`` (invalid choice).
    parser.add_argument("which", nargs="*", default="all", choices=[*RUNNERS, "all"],
                        help=f"which benchmarks to run (default: all = {', '.join(ALL)})")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run of each")
    args = parser.parse_args(argv)
    chosen = []
    for name in [args.which] if isinstance(args.which, str) else args.which:
        chosen += list(ALL) if name == "all" else [name]
    return list(dict.fromkeys(chosen)), args.quick


def main(argv: list[str] | None = None) -> int:
    chosen, quick = chosen_benchmarks(argv)
    status = 0
    for name in chosen:
        print(f"\n=== {name}{' (quick)' if quick else ''} ===", flush=True)
        try:
            code = RUNNERS[name](quick)
        except Exception:  # noqa: BLE001 - report and go on with the next benchmark
            traceback.print_exc()
            code = 2
        print(f"=== {name}: {'ok' if code == 0 else 'target missed' if code == 1 else 'did not run'} ===",
              flush=True)
        status = max(status, code)
    return status


if __name__ == "__main__":
    sys.exit(main())
