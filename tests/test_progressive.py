"""The progressive answer (#10): preview numbers marked "≈", then the full-resolution ones from a background job.

The pages compute the live view on a display-sized preview and the full-resolution result in the server's
one-worker pool (``studio_ui.full_resolution.jobs()``). AppTest does not follow ``run_every`` timers, so a
test reruns the script (``at.run()``) after the job has finished, as the browser's timer would rerun the
fragment. To see the page *before* the job is done, a test parks the pool's worker on an event first.
The expected values are the library's own full-resolution results (``seg.threshold`` / ``seg.watershed``
on the whole image), and for the watershed page also the highest label of the exported labels TIFF.
"""

from __future__ import annotations

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
        # the labels image is the preview's: its title says so
        assert any(c.startswith("Labels (of the preview, ") for c in image_captions(at)), image_captions(at)
    at = rerun_until_final(at)
    assert_ok(at)
    shown = metrics(at)
    assert shown["Objects"] == f"{expected.count:,}"
    assert shown["Seeds"] == f"{int(expected.markers.max()):,}"
    assert shown["Foreground"] == f"{expected.threshold.foreground_fraction:.1%}"
    assert not any("preview estimates" in c for c in captions(at))
    # The screen's final count is the number of objects in the exported labels.
    at.session_state["tab"] = "Export"
    at.run()
    labels = decode(media.download(at, "Labels TIFF"))
    assert labels.shape == nuclei.shape
    assert int(labels.max()) == int(np.unique(labels[labels > 0]).size) == expected.count


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
