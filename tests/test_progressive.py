"""The progressive answer (#10): preview numbers marked "≈", then the full-resolution ones from a background job.

The pages compute the live view on a display-sized preview and the full-resolution result in the server's
one-worker pool (``studio_ui.full_resolution.jobs()``). AppTest does not follow ``run_every`` timers, so a
test reruns the script (``at.run()``) after the job has finished, as the browser's timer would rerun the
fragment. To see the page *before* the job is done, a test parks the pool's worker on an event first.
The expected values are the library's own full-resolution results (``seg.threshold`` / ``seg.watershed``
on the whole image), and for the watershed page also the highest label of the exported labels TIFF.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest

import segmentation as seg
from segmentation import SAMPLES, load_sample
from studio_ui import full_resolution
from tests.app_helpers import assert_ok, captions, decode, image_captions, media, metrics, run, set_widget

__all__ = ["media"]  # the fixture, imported for pytest

PREVIEW = 512  # the nuclei sample is 768 px: the live view works on a 67 % copy


@contextmanager
def worker_parked():
    """Keep the pool's only worker busy until the block ends, so jobs submitted meanwhile stay queued."""
    release = threading.Event()
    started = threading.Event()

    def park() -> None:
        started.set()
        release.wait(60)

    parked = full_resolution.jobs().pool.submit(park)
    assert started.wait(30), "the pool's worker did not pick up the parking job"
    try:
        yield
    finally:
        release.set()
        parked.result(timeout=60)


def wait_for_jobs(timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while full_resolution.jobs().pending():
        assert time.monotonic() < deadline, "the full-resolution job did not finish"
        time.sleep(0.05)


def rerun_until_final(at, label: str = "Objects", tries: int = 200):
    """Rerun (as the fragment's timer does) until the metric has lost its preview mark."""
    for _ in range(tries):
        wait_for_jobs()
        at.run()
        if not metrics(at)[label].startswith(full_resolution.PREVIEW_MARK):
            return at
    raise AssertionError(f"{label} still a preview estimate: {metrics(at)}")


def suggested(base, sample: str):
    """The recipe a page starts with for a sample: the library's defaults plus the sample's suggestions."""
    if SAMPLES[sample].recipe and SAMPLES[sample].best_for == base.kind:
        return type(base).from_flat({**base.to_flat(), **SAMPLES[sample].recipe})
    return base


def nuclei_page(page: str):
    at = set_widget(run(page), "sample", "nuclei")
    return set_widget(at, "preview", PREVIEW)


def test_watershed_count_is_marked_then_equals_the_full_resolution_count(media):
    nuclei = load_sample("nuclei")
    expected = seg.watershed(nuclei, suggested(seg.WatershedRecipe(), "nuclei"))  # the whole 768 px image
    at = run("watershed")
    at = set_widget(at, "sample", "nuclei")
    with worker_parked():
        at = set_widget(at, "preview", PREVIEW)
        assert_ok(at)
        shown = metrics(at)
        for label in ("Objects", "Seeds", "Foreground", "Threshold"):
            assert shown[label].startswith("≈ "), shown
        assert any("preview estimates" in c and "computing at full resolution" in c for c in captions(at))
        # the labels image is the preview's: its title says so, with no count to mistake for the answer
        assert f"Labels (live preview at {PREVIEW / 768:.0%})" in image_captions(at), image_captions(at)
    at = rerun_until_final(at)
    assert_ok(at)
    shown = metrics(at)
    assert shown["Objects"] == f"{expected.count:,}"
    assert not any(c.startswith("Labels (") and "object" in c for c in image_captions(at)), image_captions(at)
    assert shown["Seeds"] == f"{int(expected.markers.max()):,}"
    assert shown["Foreground"] == f"{expected.threshold.foreground_fraction:.1%}"
    assert not any("preview estimates" in c for c in captions(at))
    time = next(m for m in at.metric if m.label == "Time")  # the full-resolution run's time, said so
    assert time.help.startswith("Library time at full resolution (the live preview took "), time.help
    # The screen's final count is the number of objects in the exported labels.
    at.session_state["tab"] = "Export"
    at.run()
    labels = decode(media.download(at, "Labels TIFF"))
    assert labels.shape == nuclei.shape
    assert int(labels.max()) == int(np.unique(labels[labels > 0]).size) == expected.count
    # The Export's line says the count and the time the metrics row says (#10 review: it said its own wait).
    (status,) = [node.label for node in at.main if type(node).__name__ == "Status"
                 and node.label.startswith("Full-resolution result")]
    assert status == f"Full-resolution result: {expected.count:,} objects · library time {time.value}", status


def test_threshold_numbers_become_the_full_resolution_ones():
    nuclei = load_sample("nuclei")
    recipe = suggested(seg.ThresholdRecipe(), "nuclei")
    at = nuclei_page("threshold")
    at = rerun_until_final(at)
    assert_ok(at)
    shown = metrics(at)
    full = seg.threshold(nuclei, recipe)
    assert shown["Objects"] == f"{int(seg.label_objects(full.mask).max()):,}"
    assert shown["Foreground"] == f"{full.foreground_fraction:.1%}"
    assert shown["Threshold"] == f"{full.thresholds[0]:.2f}".rstrip("0").rstrip(".")
    assert next(m for m in at.metric if m.label == "Time").help.startswith("Library time at full resolution")


def test_a_stale_job_never_shows_for_a_new_recipe():
    nuclei = load_sample("nuclei")
    at = nuclei_page("watershed")
    at = rerun_until_final(at)
    with worker_parked():
        at = set_widget(at, "h", 3.0)  # recipe A: its job is queued behind the parked worker
        assert metrics(at)["Objects"].startswith("≈ ")
        queued_a = list(full_resolution.jobs()._futures.values())
        at = set_widget(at, "distance_sigma", 2.0)  # recipe B before A ran: A is dropped without running
        assert metrics(at)["Objects"].startswith("≈ ")
        assert any(f.cancelled() for f in queued_a), "the stale job was not dropped"
    at = rerun_until_final(at)
    base = suggested(seg.WatershedRecipe(), "nuclei").to_flat()
    recipe_a = seg.WatershedRecipe.from_flat({**base, "h": "3"})
    recipe_b = seg.WatershedRecipe.from_flat({**base, "h": "3", "distance_sigma": "2"})
    count_a, count_b = seg.watershed(nuclei, recipe_a).count, seg.watershed(nuclei, recipe_b).count
    assert count_a != count_b  # otherwise the test could not tell them apart
    assert metrics(at)["Objects"] == f"{count_b:,}"


def test_full_size_preview_shows_final_numbers_at_once():
    at = run("watershed")  # coins: 384 px, under the default preview side: factor 1
    assert_ok(at)
    shown = metrics(at)
    assert not any(v.startswith("≈") for v in shown.values()), shown
    expected = seg.watershed(load_sample("coins"), suggested(seg.WatershedRecipe(), "coins"))
    assert shown["Objects"] == f"{expected.count:,}"


@pytest.mark.parametrize("sessions", [2])
def test_two_sessions_share_one_job(sessions):
    pool = full_resolution.jobs()
    with worker_parked():
        pages = [nuclei_page("watershed") for _ in range(sessions)]
        keys = [k for k, f in pool._futures.items() if not f.done() and k[0] == "watershed"]
        assert len(keys) == 1, keys
    for at in pages:
        rerun_until_final(at)


def test_switched_off_the_numbers_stay_marked_and_no_job_runs(monkeypatch):
    monkeypatch.setenv("STUDIO_FULL_RESOLUTION", "off")
    before = dict(full_resolution.jobs()._futures)
    at = nuclei_page("watershed")
    assert_ok(at)
    assert metrics(at)["Objects"].startswith("≈ ")
    assert any("the downloads hold the full-resolution result" in c for c in captions(at))
    assert full_resolution.jobs()._futures.keys() <= before.keys()


def test_objects_table_is_the_previews_then_the_full_resolution_one():
    nuclei = load_sample("nuclei")
    expected = seg.watershed(nuclei, suggested(seg.WatershedRecipe(), "nuclei"))
    at = run("watershed")
    at = set_widget(at, "sample", "nuclei")
    at.session_state["tab"] = "Objects"
    with worker_parked():
        at = set_widget(at, "preview", PREVIEW)
        assert_ok(at)
        assert any(c.startswith("≈ Measured on the live preview") for c in captions(at)), captions(at)
        assert len(at.dataframe[0].value) != expected.count  # the preview's objects, not the file's
    at = rerun_until_final(at)
    assert_ok(at)
    assert any(c.startswith("At full resolution") for c in captions(at)), captions(at)
    table = at.dataframe[0].value
    assert len(table) == expected.count
    reference = seg.measure(expected.labels, nuclei)
    assert list(table["area_px"]) == [int(a) for a in reference.columns["area_px"]]


# --- memory: full-resolution results do not pile up (#10 review, finding 2) ----------------------------------
def test_bytes_lru_keeps_the_newest_and_stays_within_its_budget():
    from studio_ui.compute import BytesLRU, nbytes

    cache = BytesLRU(budget=3 * 2**20, max_entries=10)
    made = []

    def make(i: int, mb: int = 1):
        def build():
            made.append(i)
            return np.zeros(mb * 2**20, np.uint8)
        return build

    for i in range(6):
        cache.get(("k", i), make(i))
        assert cache.held() <= 3 * 2**20
    assert cache.keys() == [("k", 3), ("k", 4), ("k", 5)]
    assert cache.get(("k", 5), make(99)) is not None and made == list(range(6))  # a hit computes nothing
    big = cache.get(("big",), make(7, mb=5))  # larger than the whole budget: kept alone, not recomputed
    assert cache.keys() == [("big",)] and cache.get(("big",), make(8)) is big
    view = np.zeros((100, 100), np.uint8)
    assert nbytes((view, view[10:], {"a": view.T})) == view.nbytes  # one buffer counted once


def test_bytes_lru_computes_a_missing_key_once_for_two_threads():
    from studio_ui.compute import BytesLRU

    cache = BytesLRU(budget=2**30)
    calls, gate = [], threading.Event()

    def slow():
        calls.append(1)
        gate.wait(10)
        return np.ones(10)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(("same",), slow))) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    gate.set()
    for t in threads:
        t.join(10)
    assert len(calls) == 1 and results[0] is results[1]


def test_slider_stops_keep_one_full_resolution_result_and_previews_stay_content_keyed(monkeypatch):
    """Ten h stops on a downscaled image: the full-resolution cache holds the current recipe's result (the
    one the numbers, the table and the downloads read) within its byte budget, not one result per stop."""
    from studio_ui import compute

    nuclei = load_sample("nuclei")
    one = compute.nbytes(compute.FullAnswer.of(seg.watershed(nuclei, suggested(seg.WatershedRecipe(), "nuclei"))))
    monkeypatch.setattr(compute.FULL_RESULTS, "budget", int(one * 1.5))  # room for one full answer
    compute.FULL_RESULTS.clear()
    at = nuclei_page("watershed")
    rerun_until_final(at)
    for step in range(10):
        at = set_widget(at, "h", round(1.0 + 0.25 * (step + 1), 2))
        at = rerun_until_final(at)
        assert_ok(at)
        kept = [k for k in compute.FULL_RESULTS.keys() if k[0] == "watershed"]
        assert len(kept) == 1 and compute.FULL_RESULTS.held() <= int(one * 1.5), kept
    recipe = seg.WatershedRecipe.from_json(kept[0][2])
    assert recipe.h == pytest.approx(3.5)  # the newest: the recipe on screen
    assert metrics(at)["Objects"] == f"{seg.watershed(nuclei, recipe).count:,}"
    # The previews stay in the entry-bounded, content-keyed cache: same key -> the same object; a different
    # image key -> its own result.
    small = nuclei[::2, ::2]
    json = recipe.rescaled(0.5).to_json()
    first = compute.run_watershed("nuclei-test", 0.5, json, small)
    assert compute.run_watershed("nuclei-test", 0.5, json, small) is first
    assert compute.run_watershed("other-test", 0.5, json, small) is not first
    assert not any(k[1] in ("nuclei-test", "other-test") for k in compute.FULL_RESULTS.keys())


# --- the non-finite pixel note counts the whole image (#10 review, finding 4) ------------------------------------
def float_huge_tiff() -> tuple[np.ndarray, bytes]:
    """A 1500×2000 float32 image near the float32 limit (~1e37..4e37) with one NaN and one +inf: the preview's
    averaging overflows next to them and spreads them, so the preview counts other non-finite pixels."""
    import io

    import tifffile

    rng = np.random.default_rng(0)
    image = (rng.random((1500, 2000), dtype=np.float32) * 3e37 + 1e37).astype(np.float32)
    image[100, 100], image[200, 300] = np.nan, np.inf
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, image)
    return image, buffer.getvalue()


@pytest.mark.parametrize("page", ["threshold", "watershed"])
def test_nonfinite_note_counts_the_full_resolution_pixels(page):
    from tests.app_helpers import upload

    image, data = float_huge_tiff()
    recipe = seg.ThresholdRecipe() if page == "threshold" else seg.WatershedRecipe().foreground
    preview, _ = seg.downscale(image, 1024)
    preview_note = [n for n in seg.threshold(preview, recipe).notes if "not finite" in n]
    full_note = [n for n in seg.threshold(image, recipe).notes if "not finite" in n]
    assert full_note and full_note[0].startswith("2 pixels not finite (1 NaN, 1 +inf)")
    assert preview_note and preview_note != full_note  # the preview alone would say another count
    at = upload(run(page), "float_huge.tif", data, mime="image/tiff")
    assert_ok(at)
    shown = [i.value for i in at.info if "not finite" in i.value and "thresholds come from" in i.value]
    assert shown == full_note, shown
    assert not any(preview_note[0].split(":")[0] in i.value for i in at.info)


# --- the recipe JSON from the app is the command line's (#10 review, nit 8) ------------------------------------
@pytest.mark.parametrize("page", ["threshold", "watershed"])
def test_recipe_json_keeps_the_librarys_manual_value_unless_the_method_is_manual(media, page):
    import json

    at = run(page)
    at.session_state["tab"] = "Export"
    at.run()
    assert_ok(at)
    params = json.loads(media.download(at, "Recipe JSON"))["params"]
    library = (seg.ThresholdRecipe() if page == "threshold" else seg.WatershedRecipe().foreground).value
    fg = params if page == "threshold" else params["foreground"] if "foreground" in params else params
    assert fg["method"] != "manual" and fg["value"] == library  # what `python -m segmentation` writes
    # With the manual method the value chosen on the page is the recipe's.
    at = run(page, query={"method": "manual", "value": "101"})
    at.session_state["tab"] = "Export"
    at.run()
    params = json.loads(media.download(at, "Recipe JSON"))["params"]
    fg = params if page == "threshold" else params.get("foreground", params)
    assert fg["method"] == "manual" and fg["value"] == 101


def test_channel_box_shows_names_and_the_url_keeps_the_recipes_words():
    """#10 review, nit 7: the Channel box lists "Luminance", "Red", ..., "HSV value", never the internal keys."""
    from tests.app_helpers import png_bytes, upload, widget

    rgb = np.zeros((64, 80, 3), np.uint8)
    rgb[10:30, 10:30] = (200, 40, 40)
    at = upload(run("threshold"), "rgb.png", png_bytes(rgb), mime="image/png")
    assert_ok(at)
    box = widget(at, "channel")
    assert box.options == ["Luminance", "Red", "Green", "Blue", "HSV hue", "HSV saturation", "HSV value"]
    at = set_widget(at, "channel", "value")
    assert_ok(at)
    assert at.query_params["channel"] in ("value", ["value"])
    assert widget(at, "channel").value == "value"


# --- a measurements CSV can name its recipe and version (#10 review, finding 6: the library part) ---------------
def test_measurements_csv_can_start_with_the_recipes_version_and_sha256():
    import hashlib

    coins = load_sample("coins")
    recipe = seg.ThresholdRecipe(method="li")
    table = seg.measure(seg.label_objects(seg.threshold(coins, recipe).mask), coins)
    plain, tagged = table.to_csv(), table.to_csv(recipe_json=recipe.to_json())
    first, rest = tagged.split("\n", 1)
    digest = hashlib.sha256(recipe.to_json().encode("utf-8")).hexdigest()
    assert first == f"# segmentation-studio recipe version {seg.RECIPE_VERSION}, threshold, recipe_sha256 {digest}"
    assert rest == plain  # the table itself is byte for byte the plain CSV
    import pandas as pd

    assert pd.read_csv(__import__("io").StringIO(tagged), comment="#").shape == (len(table), len(table.column_names))
    with pytest.raises(seg.ParameterError, match="recipe_json"):
        table.to_csv(recipe_json="not json")


# --- the full-resolution cache keeps a slim answer (#15 memory) ----------------------------------------------
@pytest.mark.parametrize("kind", ["threshold", "watershed"])
def test_full_answer_gives_back_the_librarys_mask_labels_and_numbers_in_less_memory(kind):
    """The answer kept for the full-resolution readers decodes to the library's arrays bit for bit (bool mask,
    int32 labels), carries its numbers, and holds a fraction of the whole result (12 MP: 171.7 -> 22.9 MB)."""
    from studio_ui import compute

    image = load_sample("nuclei")
    if kind == "threshold":
        result = seg.threshold(image, "otsu")
        labels, fg, seeds = seg.label_objects(result.mask), result, None
    else:
        result = seg.watershed(image, suggested(seg.WatershedRecipe(), "nuclei"))
        labels, fg, seeds = result.labels, result.threshold, int(result.markers.max())
    answer = compute.FullAnswer.of(result)
    assert answer.mask.dtype == bool and np.array_equal(answer.mask, labels > 0)
    assert answer.labels.dtype == labels.dtype and np.array_equal(answer.labels, labels)
    assert answer.count == int(labels.max()) > 0 and answer.seeds == seeds
    assert answer.thresholds == tuple(fg.thresholds) and answer.dtype == fg.processed.dtype
    assert answer.foreground_fraction == fg.foreground_fraction and answer.notes == tuple(result.notes)
    whole, slim = compute.nbytes(result), compute.nbytes(answer)
    # bits for a mask (1/8 of bool), 8 or 16 bits for labels (at most 1/2 of int32): of a watershed result (7
    # full-size arrays) at most 1/14; of a thresholding's (mask, raw mask, processed) at most 1/24.
    assert slim * (14 if kind == "watershed" else 24) <= whole, (slim, whole)


def test_a_full_size_live_result_is_not_computed_again_for_its_answer(monkeypatch):
    """When the live view is the image itself, the full-resolution answer is made from the live result."""
    from studio_ui import compute

    image = load_sample("nuclei")[:200, :300]
    json = seg.WatershedRecipe().to_json()
    live = compute.run_watershed("small-test", 1.0, json, image)
    calls = []
    monkeypatch.setitem(compute._COMPUTE, "watershed", lambda *a: calls.append(a))
    answer = compute.full_answer("watershed", "small-test", json, image)
    assert not calls and answer.seconds == live.seconds
    assert np.array_equal(answer.result.labels, live.result.labels)


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="thread priorities are a POSIX facility")
def test_the_full_resolution_worker_runs_at_a_lower_priority_than_the_live_reruns():
    """The background thread is niced (Linux: per thread), so it yields the cores to live reruns."""
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    pool = full_resolution.Jobs(max_workers=1).pool
    try:
        assert pool.submit(niceness).result(timeout=30) == min(niceness() + full_resolution.WORKER_NICENESS, 19)
    finally:
        pool.shutdown()


def test_a_job_waits_for_the_recipe_to_settle_and_a_superseded_one_never_runs(monkeypatch):
    """A slider moved step after step starts no full-resolution work until it stops: each job waits
    SETTLE_SECONDS, and a job whose session asked for another recipe meanwhile gives up without running."""
    from concurrent.futures import CancelledError

    monkeypatch.setattr(full_resolution, "SETTLE_SECONDS", 0.3)
    jobs = full_resolution.Jobs(max_workers=1)
    ran = []
    try:
        first = jobs.want("session", ("threshold", "image", "recipe 1"), lambda: ran.append(1) or 1)
        second = jobs.want("session", ("threshold", "image", "recipe 2"), lambda: ran.append(2) or 2)
        assert second.result(timeout=30) == 2
        with pytest.raises(CancelledError):
            first.result(timeout=30)
        assert ran == [2]
        # A recipe asked for alone runs, after the wait.
        start = time.perf_counter()
        third = jobs.want("session", ("threshold", "image", "recipe 3"), lambda: ran.append(3) or 3)
        assert third.result(timeout=30) == 3 and time.perf_counter() - start >= 0.3 and ran == [2, 3]
    finally:
        jobs.pool.shutdown()


def test_jobs_of_several_sessions_wait_from_their_request_not_one_after_another(monkeypatch):
    """The one worker must not sleep each queued job's wait in turn: four sessions asking at once get their
    answers about one wait later, not four (a wait counted from the worker's start made it 4 x 0.3 s)."""
    monkeypatch.setattr(full_resolution, "SETTLE_SECONDS", 0.3)
    jobs = full_resolution.Jobs(max_workers=1)
    try:
        start = time.perf_counter()
        futures = [jobs.want(f"session {i}", ("threshold", "image", f"recipe {i}"), lambda i=i: i) for i in range(4)]
        assert [f.result(timeout=30) for f in futures] == [0, 1, 2, 3]
        assert 0.3 <= time.perf_counter() - start < 0.9
    finally:
        jobs.pool.shutdown()


def test_a_full_resolution_count_far_from_the_previews_says_which_one_the_views_show():
    """Issue 15's trial: Sauvola's count went from "≈ 93" on the preview to 24,081 at full resolution, and nothing
    said that the views still show the preview. A count 1.5 times off (and 5 or more apart) gets a caption naming
    both; a close one does not. Counts: the library's, on the 67 % copy the page makes and on the whole image."""
    nuclei = load_sample("nuclei")
    for method, far in (("otsu", False), ("sauvola", True)):
        at = set_widget(nuclei_page("threshold"), "method", method)
        recipe = suggested(seg.ThresholdRecipe(), "nuclei").replace(method=method)
        full = int(seg.label_objects(seg.threshold(nuclei, recipe).mask).max())
        preview = int(metrics(at)["Objects"].removeprefix(full_resolution.PREVIEW_MARK).replace(",", ""))
        at = rerun_until_final(at)
        assert_ok(at)
        assert metrics(at)["Objects"] == f"{full:,}"
        said = [c for c in captions(at) if c.startswith("At full resolution")]
        assert (max(preview, full) >= 1.5 * min(preview, full) and abs(full - preview) >= 5) == far, (preview, full)
        assert said == ([f"At full resolution {full:,} objects, against {preview:,} on the 67% preview the views "
                         "show: sizes in pixels (a window, a smallest object, the background radius) and specks act "
                         "differently on the smaller copy. *Look closer* shows full-resolution pixels; the downloads "
                         "hold the full-resolution result."] if far else []), said


def test_the_histogram_says_it_is_the_previews_when_the_view_is_a_preview():
    """The histogram is of the live preview's channel, whose threshold can differ from the full-resolution one in
    the Threshold metric (issue 15's trial: 35 against 44): its caption says so; at full size it does not."""
    for at, preview in ((nuclei_page("threshold"), True), (run("threshold"), False)):  # camera: 512 px, factor 1
        assert_ok(at)
        caption = next(c for c in captions(at) if c.startswith("Histogram of the channel"))
        assert ("on the live preview (67% of full size; the metrics give the full-resolution threshold)"
                in caption) == preview, caption
