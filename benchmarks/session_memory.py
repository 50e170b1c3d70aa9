"""Session memory: what one session with a 12-MP upload holds on the server (issue 15's memory target).

**Question:** after a visitor uploads a 12-megapixel photo and works with it for a moment, how much memory
does the server hold for it, in multiples of the decoded image (height × width × 3 bytes)? Target: at most
3× (held after the session settled; the peak during the work is reported too).

**Browser part** (Playwright driving Debian's chromium, for the Thresholding page ``/`` and the Watershed
page ``/watershed``, each on a fresh server with ``--server.maxUploadSize 200`` and the glibc settings of
``load_test.SERVER_ENV``, so that RSS follows what the app holds instead of what glibc keeps mapped):

1. the page opens on its default sample and settles (script done, images loaded, full-resolution numbers
   in): **baseline** = resident memory of the server and its child processes (psutil), median of 5 samples;
2. a 12-MP RGB photo (``make_image("rgb", 4000, 3000)`` as JPEG, quality 92) is uploaded through the page's
   file uploader and the benchmark waits until the full-resolution numbers have arrived (no metric marked
   "≈", as ``progressive_latency.py`` waits); RSS **after upload**;
3. ``--moves`` (default 3) slider moves that change the recipe, one step up each (every move a recipe not
   seen before, as a visitor exploring; Thresholding: "Manual value" chosen, then "Threshold value";
   Watershed: "h (px)"), each waited for until its full-resolution numbers are in; RSS after each;
4. settled RSS **after** (median of 5 samples, 3 s after the last move). A thread samples RSS every 100 ms
   from the baseline on: the **peak**.

Reported: held = after − baseline and peak − baseline, in MB and as multiples of the decoded image; the
target (held ≤ 3×) met or not.

**Breakdown part** (in-process, ``AppTest``; the server's heap cannot be inspected from outside): the same
page, upload (through the file uploader widget) and moves, with the full-resolution jobs awaited between
runs; then every array and byte string reachable from Streamlit's ``st.cache_resource`` /
``st.cache_data`` caches (per cached function), from the app's own module-level stores (``studio_ui.*``
globals such as the byte-bounded LRU of full-resolution results), the session state (the upload's bytes) and
the media file storage (the encoded views) is listed with its size, together with the large arrays found by a
scan of all live objects that none of these hold. Each buffer is counted once. It says where the held memory
goes, what each store may grow to, and what the held figure would be if only the newest full-resolution
result were kept, and of it only what its readers use (:data:`NEEDED_AT_FULL_SIZE`).

Run: ``python -m benchmarks.session_memory [--pages threshold watershed] [--moves 3] [--no-breakdown]`` or
``python -m benchmarks memory`` (``--quick``: the Thresholding page, one move, no breakdown; writes
``session_memory_quick.json``). Writes ``benchmarks/results/session_memory.json``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from .common import ROOT, make_image, stop_on_sigterm, table, write_image_file, write_results
from .harness import CHROMIUM_ARGS, IDLE_JS, INSTALL_HINT, PAGE_INIT_JS, StreamlitServer, find_chromium
from .load_test import SERVER_ENV, media_storage_bytes

#: The issue's bound: held memory of one session with a 12-MP upload, in multiples of the decoded image.
TARGET_MULTIPLE = 3.0
WIDTH, HEIGHT = 4000, 3000
SERVER_ARGS = ("--server.maxUploadSize", "200")
MB = 2**20

#: page -> (URL path, AppTest page file or None, slider label, slider key, (selectbox key, label, value) to pick)
PAGES = {
    "threshold": ("/", None, "Threshold value", "value", ("method", "Method", "Manual value", "manual")),
    "watershed": ("/watershed", "pages/2_watershed.py", "h (px)", "h", None),
}

_VALUES = "Array.from(document.querySelectorAll('[data-testid=stMetricValue]')).map(v => v.innerText.trim())"
PENDING = f"() => {_VALUES}.some(v => v.startsWith('≈'))"
FINAL = f"() => {{ const v = {_VALUES}; return v.length >= 4 && !v.some(x => x.startsWith('≈')); }}"


# ----------------------------------------------------------------------------------------------
# Browser part
# ----------------------------------------------------------------------------------------------
class Sampler:
    """Samples the server's RSS (process and children) every ``period`` seconds in a thread."""

    def __init__(self, server: StreamlitServer, period: float = 0.1) -> None:
        self.server, self.period = server, period
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((self.now(), self.server.rss_mb()))
            self._stop.wait(self.period)

    def now(self) -> float:
        """Seconds since sampling started."""
        return time.perf_counter() - self.start

    def __enter__(self) -> Sampler:
        self.start = time.perf_counter()
        self._thread.start()
        return self

    def peak_between(self, t0: float, t1: float) -> float:
        return max((rss for t, rss in self.samples if t0 <= t <= t1), default=float("nan"))

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak(self) -> float:
        return max(rss for _, rss in self.samples)


def settled_rss(server: StreamlitServer, wait_s: float = 3.0, samples: int = 5) -> float:
    """Median RSS of ``samples`` readings 0.2 s apart, after ``wait_s`` seconds of quiet."""
    time.sleep(wait_s)
    values = []
    for _ in range(samples):
        values.append(server.rss_mb())
        time.sleep(0.2)
    return statistics.median(values)


def _processes(server: StreamlitServer) -> list[dict]:
    import psutil

    root = psutil.Process(server.pid)
    return [{"pid": p.pid, "name": p.name(), "rss_mb": round(p.memory_info().rss / MB, 1)}
            for p in [root, *root.children(recursive=True)]]


def _idle(page, settle_ms: int = 800) -> None:
    page.wait_for_function(IDLE_JS, arg=settle_ms, polling=100)


def _final(page) -> None:
    """The full-resolution numbers are on screen (idle, no metric marked "≈")."""
    _idle(page)
    page.wait_for_function(FINAL, polling=100)
    _idle(page)


def _choose(page, box_label: str, option: str) -> None:
    box = page.get_by_test_id("stSelectbox").filter(has=page.get_by_text(box_label, exact=True))
    for _ in range(5):
        _idle(page, 300)
        box.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=5000)
            return
        except Exception:  # noqa: BLE001 - the list closed (a rerun redrew the box): open it again
            page.keyboard.press("Escape")
    raise RuntimeError(f"could not pick {option!r} in {box_label!r}")


def _move(page, label: str, key: str) -> str:
    """One slider step that changes the recipe; waits until its full-resolution numbers are in."""
    widget = page.get_by_test_id("stSlider").filter(has=page.get_by_text(label, exact=True))
    slider = widget.get_by_role("slider")
    thumb = widget.get_by_test_id("stSliderThumbValue")
    before = thumb.inner_text()
    slider.focus()
    page.keyboard.press(key)
    deadline = time.monotonic() + 30
    while thumb.inner_text() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    try:  # the rerun marks the numbers "≈" while the new recipe's full-resolution job runs
        page.wait_for_function(PENDING, polling=50, timeout=15_000)
    except Exception:  # noqa: BLE001 - already done (or the step gave the same recipe): fine either way
        pass
    _final(page)
    return thumb.inner_text()


def run_page(browser, name: str, image_path: Path, moves: int, log_dir: Path, timeout_s: float) -> dict:
    path, _, slider_label, _, choice = PAGES[name]
    started = time.perf_counter()
    with StreamlitServer("app.py", *SERVER_ARGS, env=SERVER_ENV, log_dir=log_dir, name=f"memory-{name}",
                         keep_log=False) as server:
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        context.set_default_timeout(timeout_s * 1000)
        context.add_init_script(PAGE_INIT_JS)
        try:
            page = context.new_page()
            page.goto(server.base_url + path)
            _final(page)
            baseline = settled_rss(server)
            media_baseline = media_storage_bytes(server.base_url)
            steps = []
            with Sampler(server) as sampler:
                t0 = time.perf_counter()
                page.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(image_path))
                page.locator("[data-testid=stMain]").get_by_text(image_path.name).first.wait_for()
                _final(page)
                upload_s = time.perf_counter() - t0
                after_upload = settled_rss(server, wait_s=1.0)
                steps.append({"step": "upload", "seconds": round(upload_s, 1), "rss_mb": round(after_upload, 1),
                              "t_end": sampler.now()})
                print(f"    {name}: upload -> full-resolution numbers in {upload_s:.1f} s, RSS {after_upload:.0f} MB",
                      file=sys.stderr)
                if choice:
                    _, box_label, option, _ = choice
                    _choose(page, box_label, option)
                    _final(page)
                    steps.append({"step": f"{box_label}: {option}", "rss_mb": round(settled_rss(server, 1.0), 1),
                                  "t_end": sampler.now()})
                for i in range(moves):
                    t0 = time.perf_counter()
                    value = _move(page, slider_label, "ArrowRight")  # each step a recipe not seen before
                    rss = settled_rss(server, wait_s=1.0)
                    steps.append({"step": f"{slider_label} -> {value}", "seconds": round(time.perf_counter() - t0, 1),
                                  "rss_mb": round(rss, 1), "t_end": sampler.now()})
                    print(f"    {name}: move {i + 1}/{moves} ({slider_label} -> {value}) RSS {rss:.0f} MB",
                          file=sys.stderr)
                after = settled_rss(server)
            processes = _processes(server)
            media_after = media_storage_bytes(server.base_url)
            exceptions = page.get_by_test_id("stException").all_inner_texts()
            exceptions += page.get_by_test_id("stAlertContentError").all_inner_texts()
        finally:
            context.close()
        tracebacks = server.log_text().count("Traceback")
    decoded = WIDTH * HEIGHT * 3 / MB
    held, peak = after - baseline, sampler.peak - baseline
    t0 = 0.0
    for step in steps:  # the peak during each step, over the baseline, as a multiple of the image
        t1 = step.pop("t_end")
        step["peak_multiple"] = round((sampler.peak_between(t0, t1) - baseline) / decoded, 2)
        step["held_multiple"] = round((step["rss_mb"] - baseline) / decoded, 2)
        t0 = t1
    return {"page": name, "path": path, "decoded_mb": round(decoded, 2), "file_bytes": image_path.stat().st_size,
            "baseline_mb": round(baseline, 1), "after_mb": round(after, 1), "peak_mb": round(sampler.peak, 1),
            "held_mb": round(held, 1), "peak_over_baseline_mb": round(peak, 1),
            "held_multiple": round(held / decoded, 2), "peak_multiple": round(peak / decoded, 2),
            "after_upload_multiple": round((after_upload - baseline) / decoded, 2),
            "target_multiple": TARGET_MULTIPLE, "target_met": held / decoded <= TARGET_MULTIPLE,
            "steps": steps, "processes_after": processes,
            "media_storage_bytes": {"baseline": media_baseline, "after": media_after},
            "rss_samples": [(round(t, 2), round(r, 1)) for t, r in sampler.samples],
            "exceptions": exceptions, "server_tracebacks": tracebacks,
            "seconds": round(time.perf_counter() - started, 1)}


# ----------------------------------------------------------------------------------------------
# Breakdown part (in-process)
# ----------------------------------------------------------------------------------------------
def _buffers(value, seen: set[int], depth: int = 0):
    """(description, bytes, id of the owning buffer) for every array / byte string reachable from ``value``."""
    import dataclasses

    import numpy as np

    if depth > 10 or id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, np.ndarray):
        owner = value
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        yield f"{value.dtype}{list(value.shape)}", owner.nbytes, id(owner)
    elif isinstance(value, (bytes, bytearray, memoryview)):
        yield f"{type(value).__name__}", len(value), id(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            for desc, size, ident in _buffers(v, seen, depth + 1):
                yield f"{k}: {desc}", size, ident
    elif isinstance(value, (list, tuple, set, frozenset)):
        for i, v in enumerate(value):
            for desc, size, ident in _buffers(v, seen, depth + 1):
                yield f"[{i}] {desc}", size, ident
    elif dataclasses.is_dataclass(value) and not isinstance(value, type) or hasattr(value, "__dict__"):
        fields = vars(value) if hasattr(value, "__dict__") else {}
        for k, v in fields.items():
            for desc, size, ident in _buffers(v, seen, depth + 1):
                yield f"{k}: {desc}", size, ident
    elif hasattr(value, "getbuffer"):  # BytesIO (an UploadedFile)
        yield type(value).__name__, value.getbuffer().nbytes, id(value)


def _cache_entries() -> list[dict]:
    """Every entry of every st.cache_resource / st.cache_data cache, with the buffers it holds."""
    from streamlit.runtime.caching import cache_data_api, cache_resource_api

    rows = []
    with cache_resource_api._resource_caches._caches_lock:
        caches = [c for per in cache_resource_api._resource_caches._function_caches.values() for c in per.values()]
    for cache in caches:
        with cache._mem_cache_lock:
            entries = list(cache._mem_cache.values())
        for entry in entries:
            found = list(_buffers(entry.value, set()))
            rows.append({"where": f"cache_resource {cache.display_name}", "buffers": found,
                         "max_entries": cache._mem_cache.maxsize, "kind": _kind(cache.display_name)})
    with cache_data_api._data_caches._caches_lock:
        caches = [c for per in cache_data_api._data_caches._function_caches.values() for c in per.values()]
    for cache in caches:
        storage = getattr(cache.storage, "_mem_cache", None)
        for ident, pickled in list(storage.items()) if storage is not None else []:
            rows.append({"where": f"cache_data {cache.display_name}", "max_entries": cache.max_entries,
                         "buffers": [("pickled entry", len(pickled), id(pickled))]})
    return rows


def _kind(name: str) -> str | None:
    return next((kind for kind in ("threshold", "watershed") if kind in name.rsplit(".", 1)[-1]), None)


def _module_holders() -> list[dict]:
    """Entries of the app's own module-level stores (``studio_ui.*`` globals that are containers or instances
    of the app's classes, e.g. a bytes-bounded LRU of full-resolution results), one row per entry."""
    rows = []
    for module_name, module in sorted(sys.modules.items()):
        if not module_name.startswith("studio_ui") or module is None:
            continue
        for name, value in sorted(vars(module).items()):
            own_class = type(value).__module__.startswith("studio_ui")
            if not (own_class or isinstance(value, (dict, list, set))) or isinstance(value, type):
                continue
            where = f"{module_name}.{name}".replace("studio_ui.", "")
            entries = getattr(value, "_entries", None)
            if isinstance(entries, dict):  # an LRU of its own: one row per entry
                budget = getattr(value, "budget", None)
                for key, entry in list(entries.items()):
                    kind = key[0] if isinstance(key, tuple) and key and isinstance(key[0], str) else None
                    rows.append({"where": f"module {where}", "buffers": list(_buffers(entry, set())),
                                 "budget": budget, "kind": _kind(str(kind)) if kind else None})
            else:
                rows.append({"where": f"module {where}", "buffers": list(_buffers(value, set()))})
    return rows


def _clear_module_stores() -> None:
    """Empty the app's own module-level LRUs (what a fresh server starts with)."""
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("studio_ui") and module is not None:
            for value in list(vars(module).values()):
                if isinstance(getattr(value, "_entries", None), dict) and callable(getattr(value, "clear", None)):
                    value.clear()


def _stray_arrays(known: set[int]) -> list[tuple[str, int, int]]:
    """Arrays of at least 1 MB referred to by any live object but held by none of the stores listed.

    numpy arrays are not tracked by the garbage collector, so they are found as the referents of the
    objects that are (dicts, lists, instances)."""
    import numpy as np

    found: dict[int, tuple[str, int, int]] = {}
    for holder in gc.get_objects():
        for ref in gc.get_referents(holder):
            if not isinstance(ref, np.ndarray):
                continue
            owner = ref
            while isinstance(owner.base, np.ndarray):
                owner = owner.base
            if owner.nbytes >= MB and id(owner) not in known and id(owner) not in found:
                found[id(owner)] = (f"{owner.dtype}{list(owner.shape)} (in a {type(holder).__name__})", owner.nbytes,
                                    id(owner))
    return list(found.values())


def _wait_jobs(timeout_s: float = 600.0) -> None:
    from studio_ui import full_resolution

    deadline = time.monotonic() + timeout_s
    while full_resolution.jobs().pending() and time.monotonic() < deadline:
        time.sleep(0.1)


def breakdown(name: str, data: bytes, file_name: str, moves: int) -> dict:
    """Run the page in-process (AppTest) as the browser part does and list the big buffers it keeps."""
    import streamlit.testing.v1.app_test as app_test_module
    from streamlit.runtime.caching import cache_data_api, cache_resource_api
    from streamlit.runtime.media_file_manager import MediaFileManager
    from streamlit.testing.v1 import AppTest

    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    cache_resource_api._resource_caches.clear_all()
    cache_data_api._data_caches.clear_all()
    _clear_module_stores()
    managers: list = []

    class Recording(MediaFileManager):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            managers.append(self)

    original = app_test_module.MediaFileManager
    app_test_module.MediaFileManager = Recording
    try:
        _, page_file, _, slider_key, choice = PAGES[name]
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        if page_file:
            at.switch_page(page_file)
        at.run()
        _wait_jobs()
        at.file_uploader(key="upload").set_value((file_name, data, "image/jpeg")).run()
        _wait_jobs()
        at.run()
        if choice:
            at.selectbox(key=choice[0]).set_value(choice[3]).run()
            _wait_jobs()
        slider = at.slider(key=slider_key)
        step = slider.proto.step or 1
        for i in range(moves):
            value = slider.value + step
            at.slider(key=slider_key).set_value(value).run()
            _wait_jobs()
            slider = at.slider(key=slider_key)
        at.run()  # the last run sees every job done, as the browser's final fragment rerun does
        problems = [e.message for e in at.exception] + [e.value for e in at.error]
        gc.collect()

        rows = _cache_entries() + _module_holders()
        state = {k: at.session_state[k] for k in at.session_state}
        rows.append({"where": "session_state", "buffers": list(_buffers(state, set()))})
        storage = managers[-1]._storage if managers else None
        files = getattr(storage, "_files_by_id", {}) if storage is not None else {}
        rows.append({"where": "media file storage (last run)",
                     "buffers": [(f"{getattr(f, 'mimetype', '')}", len(f.content), id(f.content))
                                 for f in files.values()]})
        # Large live arrays none of the above holds (the pool's thread, a closure, ...).
        known = {ident for row in rows for _, _, ident in row["buffers"]}
        stray = _stray_arrays(known)
        rows.append({"where": "other live arrays >= 1 MB (not in a cache or the session)", "buffers": stray})
        del at
    finally:
        app_test_module.MediaFileManager = original
        cache_resource_api._resource_caches.clear_all()
        cache_data_api._data_caches.clear_all()
        _clear_module_stores()
        gc.collect()
    return summarise(name, rows, problems)


#: What the full-resolution consumers (the numbers, the exports, Look closer, the Objects tab) read from a cached
#: full-resolution answer (``studio_ui.compute.FullAnswer``: the mask in bits or the labels narrowed, in
#: ``packed``); anything else found in a full-resolution entry would be held for no reader.
NEEDED_AT_FULL_SIZE = {"threshold": ("packed",), "watershed": ("packed",)}


def _field(desc: str) -> str:
    """``"result: threshold: processed: uint8[3000, 4000]"`` -> ``"threshold.processed"``."""
    parts = desc.split(": ")[:-1]
    return ".".join(p for p in parts if p not in ("result",) and not p.startswith("["))


def summarise(name: str, rows: list[dict], problems: list[str]) -> dict:
    """Count each buffer once (the first place it is found), group by holder, and project the savings."""
    decoded = WIDTH * HEIGHT * 3
    full_shape = f"[{HEIGHT}, {WIDTH}"
    counted: set[int] = set()
    groups: dict[str, dict] = {}
    full_entries: dict[str, list[dict]] = {}
    preview_entries: dict[str, list[dict]] = {}
    for row in rows:
        group = groups.setdefault(row["where"], {"where": row["where"], "entries": 0, "bytes": 0, "big": {},
                                                 "entry_mb": [], "max_entries": row.get("max_entries"),
                                                 "budget": row.get("budget")})
        group["entries"] += 1
        entry, fields = 0, {}
        for desc, size, ident in row["buffers"]:
            if ident in counted:
                continue
            counted.add(ident)
            entry += size
            fields[_field(desc)] = fields.get(_field(desc), 0) + size
            if size >= MB:
                count, _ = group["big"].get(desc, (0, size))
                group["big"][desc] = (count + 1, size)
        group["bytes"] += entry
        group["entry_mb"].append(round(entry / MB, 1))
        function = row.get("kind")
        if function in NEEDED_AT_FULL_SIZE:
            full = "FULL_RESULTS" in row["where"] or any(full_shape in d for d, _, _ in row["buffers"])
            (full_entries if full else preview_entries).setdefault(function, []).append(
                {"bytes": entry, "fields": fields})
    out = []
    for group in groups.values():
        if not group["bytes"]:
            continue
        group["items"] = [f"{count} × {desc} ({size / MB:.1f} MB)" if count > 1 else f"{desc} ({size / MB:.1f} MB)"
                          for desc, (count, size) in group.pop("big").items()]
        sizes: dict[float, int] = {}
        for mb in group.pop("entry_mb"):
            sizes[mb] = sizes.get(mb, 0) + 1
        group["entries_mb"] = ", ".join(f"{n} × {mb:g}" if n > 1 else f"{mb:g}"
                                        for mb, n in sorted(sizes.items(), reverse=True) if mb >= 0.1)
        group["multiple"] = round(group["bytes"] / decoded, 2)
        group["mb"] = round(group["bytes"] / MB, 1)
        largest = max(sizes) if sizes else 0.0
        if group["max_entries"] and group["max_entries"] != float("inf"):
            # What this cache may grow to if every entry were as large as its largest now (one busy session).
            group["cap_multiple"] = round(group["max_entries"] * largest * MB / decoded, 1)
        elif group["budget"]:  # bounded in bytes (the newest entry is kept even when larger)
            group["cap_multiple"] = round(max(group["budget"], largest * MB) / decoded, 1)
        out.append(group)
    out.sort(key=lambda g: -g["bytes"])
    total = sum(g["bytes"] for g in out)
    projections = {}
    for function, entries in full_entries.items():
        newest = entries[-1]
        kept = sum(v for k, v in newest["fields"].items() if k in NEEDED_AT_FULL_SIZE[function])
        dropped_fields = {k: round(v / MB, 1) for k, v in newest["fields"].items()
                          if k not in NEEDED_AT_FULL_SIZE[function] and v >= MB}
        older = sum(e["bytes"] for e in entries[:-1])
        previews = [e["bytes"] for e in preview_entries.get(function, [])]
        older_previews = sum(previews) - max(previews, default=0)
        slim = total - older - newest["bytes"] + kept
        projections[function] = {
            "full_resolution_entries": len(entries), "entry_mb": round(newest["bytes"] / MB, 1),
            "entry_multiple": round(newest["bytes"] / decoded, 2), "older_entries_mb": round(older / MB, 1),
            "not_needed_in_entry_mb": dropped_fields,
            "held_if_one_full_entry": round((total - older) / decoded, 2),
            "held_if_one_slim_full_entry": round(slim / decoded, 2),
            "preview_entries_mb": [round(b / MB, 1) for b in previews],
            "held_if_one_slim_full_and_one_preview_entry": round((slim - older_previews) / decoded, 2)}
    return {"page": name, "groups": out, "total_mb": round(total / MB, 1), "total_multiple": round(total / decoded, 2),
            "full_resolution_projection": projections, "problems": problems}


# ----------------------------------------------------------------------------------------------
# Report
# ----------------------------------------------------------------------------------------------
def report(results: dict) -> str:
    rows = [[c["page"], f"{c['decoded_mb']:.1f}", f"{c['baseline_mb']:.0f}", f"{c['after_mb']:.0f}",
             f"{c['peak_mb']:.0f}", f"{c['held_mb']:.0f}", f"{c['after_upload_multiple']:.2f}×",
             f"{c['held_multiple']:.2f}×", f"{c['peak_multiple']:.2f}×",
             f"≤ {c['target_multiple']:.0f}×: {'met' if c['target_met'] else 'NOT met'}"] for c in results["cells"]]
    out = [f"One session, 12-MP RGB JPEG upload + {results['moves']} slider moves (RSS of server + children, MB; "
           "multiples of the decoded image)",
           table(rows, ["page", "decoded", "baseline", "after", "peak", "held", "held after upload", "held",
                        "peak", "target"])]
    for c in results["cells"]:
        out.append(f"  {c['page']}, held / peak per step: " + "; ".join(
            f"{st['step']} {st['held_multiple']:.2f}× / {st['peak_multiple']:.2f}×" for st in c["steps"]))
    for b in results.get("breakdown", []):
        out.append(f"\nWhere it goes, {b['page']} page (in-process, AppTest, same upload and moves): "
                   f"{b['total_mb']:.0f} MB = {b['total_multiple']:.2f}× the decoded image")
        brows = [[g["where"].replace("studio_ui.", ""), g["entries_mb"] or "-", f"{g['mb']:.1f}",
                  f"{g['multiple']:.2f}×", f"{g['cap_multiple']:g}×" if "cap_multiple" in g else ""]
                 for g in b["groups"]]
        out.append(table(brows, ["held by", "entries (MB each)", "MB", "× image", "cap (max_entries × largest)"]))
        for function, p in b.get("full_resolution_projection", {}).items():
            fields = ", ".join(f"{k} {v:g} MB" for k, v in p["not_needed_in_entry_mb"].items()) or "nothing"
            out.append(f"  {function}: {p['full_resolution_entries']} full-resolution results kept, "
                       f"{p['entry_mb']:g} MB ({p['entry_multiple']:.2f}×) each, of which not read at full size: "
                       f"{fields}. Held with only the newest kept: {p['held_if_one_full_entry']:.2f}×; "
                       f"with only it and only {'/'.join(NEEDED_AT_FULL_SIZE[function])}: "
                       f"{p['held_if_one_slim_full_entry']:.2f}×; and only the newest preview result: "
                       f"{p['held_if_one_slim_full_and_one_preview_entry']:.2f}×")
        if b["problems"]:
            out.append(f"  page problems: {b['problems']}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.session_memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", nargs="*", choices=list(PAGES), default=list(PAGES))
    parser.add_argument("--moves", type=int, default=3, help="recipe-changing slider moves after the upload")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--no-breakdown", action="store_true", help="skip the in-process breakdown")
    parser.add_argument("--breakdown-only", action="store_true",
                        help="only the in-process breakdown (writes session_memory_breakdown)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: the Thresholding page, one move, no breakdown (writes session_memory_quick)")
    args = parser.parse_args(argv)
    if args.quick:
        args.pages, args.moves, args.no_breakdown = ["threshold"], 1, True
    stop_on_sigterm()
    chromium = find_chromium()
    if chromium is None and not args.breakdown_only:
        print(f"no Chromium found; {INSTALL_HINT}", file=sys.stderr)
        return 2
    cells, breakdowns = [], []
    with tempfile.TemporaryDirectory(prefix="studio-memory-") as tmp:
        image_path = write_image_file(make_image("rgb", WIDTH, HEIGHT), Path(tmp) / "photo-12MP.jpg", "jpg")
        if not args.breakdown_only:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                try:
                    for name in args.pages:
                        cells.append(run_page(browser, name, image_path, args.moves, Path(tmp), args.timeout))
                finally:
                    browser.close()
        if not args.no_breakdown:
            data = image_path.read_bytes()
            for name in args.pages:
                print(f"    breakdown of the {name} page (in-process)...", file=sys.stderr)
                breakdowns.append(breakdown(name, data, image_path.name, args.moves))
    results = {"moves": args.moves, "width": WIDTH, "height": HEIGHT, "server_env": SERVER_ENV, "cells": cells,
               "breakdown": breakdowns,
               "all_targets_met": all(c["target_met"] for c in cells) if cells else None}
    ok = all(not c["exceptions"] and not c["server_tracebacks"] for c in cells)
    ok = ok and not any(b["problems"] for b in breakdowns)
    print(report(results))
    # A smoke run or a breakdown alone never replaces a full run's figures.
    out_name = "session_memory_quick" if args.quick else "session_memory_breakdown" if args.breakdown_only \
        else "session_memory"
    print(f"\nwrote {write_results(out_name, results)}")
    if not ok:
        print("a page showed an exception or an error box, or the server logged a traceback: the figures are "
              "not those of a working page", file=sys.stderr)
        return 2
    return 0 if results["all_targets_met"] in (True, None) else 1


if __name__ == "__main__":
    sys.exit(main())
