"""A worker that fails (its task raises, or the process is killed) is reported with the real error, and the rest go on.

The failing functions below replace the per-image function of ``score``, ``tune`` and the batch in this process
(``monkeypatch``); the pools pickle them by name, so each worker imports this module and runs them. Image ``b``
fails; ``a`` and ``c`` must still be done, and the command exits with status 1. A killed worker breaks a
process pool (every task in it fails with ``BrokenProcessPool``): those tasks are run again alone, so only the
image that kills its worker is reported (segmentation.batch._plate.run_pool).
"""

from __future__ import annotations

import concurrent.futures.process
import importlib
import os
import signal
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import run_cli_in_process
from distributed import LocalCluster
from test_cli_score_tune import nuclei, read_csv, write_png

import segmentation as seg

_cli = importlib.import_module("segmentation.batch._cli")
_score = importlib.import_module("segmentation.batch._score")
_tune = importlib.import_module("segmentation.batch._tune")
_plate = importlib.import_module("segmentation.batch._plate")

#: The real per-image functions (in a worker, this module is imported fresh, so these are never the patched ones).
REAL_SCORE_ONE, REAL_PROCESS_IMAGE, REAL_EVALUATE = _score._score_one, _cli.process_image, _tune.evaluate
REAL_HISTOGRAM = _plate.channel_histogram

#: What the failing task raises: the user must read this text (its first sentence) and the error's type.
FIRE = "the disk is on fire. A second sentence the message leaves out"
KILLED = ("the worker process stopped unexpectedly (BrokenProcessPool: A process in the process pool was "
          "terminated abruptly while the future was running or pending); out of memory?")
RAISED = "the worker could not finish this image: unexpected error (RuntimeError: the disk is on fire)"
HANG = pytest.mark.timeout(300, method="thread")


def _fail(name: str, how: str) -> None:
    if Path(name).stem.startswith("b"):
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer would
        raise RuntimeError(FIRE)


def _score_kill(task: dict) -> dict:
    _fail(task["file"], "kill")
    return REAL_SCORE_ONE(task)


def _score_raise(task: dict) -> dict:
    _fail(task["file"], "raise")
    return REAL_SCORE_ONE(task)


def _image_kill(task: dict) -> dict:
    _fail(task["path"], "kill")
    return REAL_PROCESS_IMAGE(task)


def _image_raise(task: dict) -> dict:
    _fail(task["path"], "raise")
    return REAL_PROCESS_IMAGE(task)


def _evaluate_kill(task: tuple[int, str]) -> dict:
    if task[0] == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return REAL_EVALUATE(task)


def _histogram_kill(task: dict) -> dict:
    _fail(task["path"], "kill")
    return REAL_HISTOGRAM(task)


@pytest.fixture
def plate(tmp_path):
    """Three nuclei images a, b, c with their true labels."""
    for i, stem in enumerate("abc"):
        image, truth = nuclei(i)
        write_png(tmp_path / "images" / f"{stem}.png", image)
        write_png(tmp_path / "truth" / f"{stem}_labels.png", truth)
    return tmp_path


def _by_file(rows: list[dict]) -> dict[str, dict]:
    return {Path(row["file"]).stem: row for row in rows}


@HANG
@pytest.mark.parametrize(("replacement", "expected"), [(_score_raise, RAISED), (_score_kill, KILLED)])
def test_score_reports_the_real_error_of_a_failed_worker_and_scores_the_others(plate, replacement, expected,
                                                                                monkeypatch, capsys):
    (plate / "t.json").write_text(seg.ThresholdRecipe(method="otsu").to_json(), encoding="utf-8")
    monkeypatch.setattr(_score, "_score_one", replacement)
    done = run_cli_in_process("score", "--truth", "truth", "t.json", "images", "--out", "out", "--jobs", "2",
                              "--thresholds", "0.5", cwd=plate, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 1, done.stderr
    rows = _by_file(read_csv(plate / "out" / "scores.csv"))
    assert rows["b"]["status"] == "error" and rows["b"]["message"] == expected
    assert f"images/b.png: {expected}" in done.stderr
    for stem in "ac":  # scored, with the whole-image numbers
        truth = seg.load_image(plate / "truth" / f"{stem}_labels.png")
        found = seg.threshold(seg.load_image(plate / "images" / f"{stem}.png"), seg.ThresholdRecipe(method="otsu"))
        assert rows[stem]["status"] == "ok", rows[stem]
        assert float(rows[stem]["f1"]) == pytest.approx(seg.score_objects(truth, found.mask).f1[0])
    assert "2 images scored, 1 failed" in done.stdout


@HANG
@pytest.mark.parametrize(("replacement", "expected"), [(_image_raise, RAISED), (_image_kill, KILLED)])
def test_the_batch_reports_the_real_error_of_a_failed_worker_and_segments_the_others(plate, replacement, expected,
                                                                                      monkeypatch, capsys):
    monkeypatch.setattr(_cli, "process_image", replacement)
    done = run_cli_in_process("threshold", "images", "--out", "out", "--jobs", "2", "--no-progress", cwd=plate,
                              monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 1, done.stderr
    rows = _by_file(read_csv(plate / "out" / "summary.csv"))
    assert rows["b"]["status"] == "error" and rows["b"]["message"] == expected
    assert f"images/b.png: {expected}" in done.stderr
    assert rows["a"]["status"] == rows["c"]["status"] == "ok"
    for stem in "ac":  # each image done once, with the library's mask
        mask = seg.threshold(seg.load_image(plate / "images" / f"{stem}.png"), seg.ThresholdRecipe()).mask
        assert np.array_equal(seg.load_image(plate / "out" / f"{stem}_mask.png") > 0, mask)
    assert not (plate / "out" / "b_mask.png").exists()
    assert "3 images: 2 segmented, 1 failed" in done.stdout


def _segment_task_raise(task: dict) -> dict:
    _fail(task["path"], "raise")
    return REAL_PROCESS_IMAGE(task)


@HANG
def test_a_task_that_raises_on_a_dask_worker_is_reported_with_its_error(plate, monkeypatch, capsys):
    monkeypatch.setattr(importlib.import_module("segmentation.batch._dask"), "segment_task", _segment_task_raise)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=":0") as cluster:
        done = run_cli_in_process("threshold", "images", "--out", "out", "--scheduler", cluster.scheduler_address,
                                  "--no-progress", cwd=plate, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 1, done.stderr
    rows = _by_file(read_csv(plate / "out" / "summary.csv"))
    expected = RAISED.replace("(RuntimeError", "(Dask, RuntimeError")
    assert rows["b"]["status"] == "error" and rows["b"]["message"] == expected
    assert f"images/b.png: {expected}" in done.stderr
    assert rows["a"]["status"] == rows["c"]["status"] == "ok"


@HANG
def test_tune_reports_a_killed_evaluation_and_goes_on(plate, monkeypatch, capsys):
    (plate / "start.json").write_text(seg.WatershedRecipe(h=6.0).to_json(), encoding="utf-8")
    monkeypatch.setattr(_tune, "evaluate", _evaluate_kill)
    done = run_cli_in_process("tune", "--truth", "truth", "images", "--recipe", "start.json", "--budget", "4",
                              "--out", "out", "--jobs", "2", cwd=plate, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 1, done.stderr
    table = {int(row["evaluation"]): row for row in read_csv(plate / "out" / "search.csv")}
    assert sorted(table) == [0, 1, 2, 3]  # every evaluation once
    message = KILLED.replace("this image", "this recipe")
    assert table[1]["message"] == message and table[1]["f1_iou50"] == "0" and table[1]["failed_images"] == "3"
    assert f"evaluation 1: {message}" in done.stderr
    assert "1 evaluation failed in its worker and scored 0" in done.stderr
    for k in (0, 2, 3):  # the others scored as without the failure
        assert table[k]["message"] == "" and float(table[k]["f1_iou50"]) > 0.5, table[k]


@HANG
def test_the_pooled_histogram_leaves_out_an_image_whose_worker_died(plate, monkeypatch, capsys):
    monkeypatch.setattr(_cli, "channel_histogram", _histogram_kill)
    done = run_cli_in_process("threshold", "images", "--out", "out", "--pooled-threshold", "--jobs", "2",
                              "--no-progress", cwd=plate, monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr  # pass 2 segments all three with the threshold of a and c
    words = KILLED.replace("this image", "this image's histogram")
    assert f"images/b.png: {words}; left out of the pooled histogram" in done.stderr
    assert "from the histogram of 2 images" in done.stdout
    recipe = seg.ThresholdRecipe().to_json()
    histograms = [REAL_HISTOGRAM({"path": str(plate / "images" / f"{s}.png"), "recipe": recipe}) for s in "ac"]
    expected = _plate.pooled_recipe(seg.ThresholdRecipe(), histograms)
    assert seg.recipe_from_json((plate / "out" / "recipe.json").read_text(encoding="utf-8")) == expected


# -- the words, for each kind of failure ---------------------------------------------------------------------
def _caught(function) -> BaseException:
    try:
        function()
    except BaseException as error:  # noqa: BLE001 - the error under test
        return error
    raise AssertionError("no error")


def test_worker_failure_words():
    failure = _plate.worker_failure

    def missing():
        try:
            import segmentation_not_installed  # noqa: F401
        except ImportError as error:
            raise RuntimeError("Error during deserialization of the task graph. Details") from error

    text = failure(_caught(missing))
    assert text.startswith("the workers could not run this image (RuntimeError: Error during deserialization of "
                           "the task graph: No module named 'segmentation_not_installed')")
    assert "PYTHONPATH" in text
    # a local pool re-raises the worker's error, caused by its traceback as text: the text is left out
    remote = RuntimeError(FIRE)
    remote.__cause__ = concurrent.futures.process._RemoteTraceback('\n"""\nTraceback (most recent call last): ...')
    assert failure(remote) == RAISED
    # raised by the task itself, run in this process (run_parallel with one job): the same words
    index, error = next(_score.run_parallel(_score_raise, [{"file": "b.png"}], 1))
    assert index == 0 and isinstance(error, RuntimeError) and failure(error) == RAISED
    killed = concurrent.futures.process.BrokenProcessPool(KILLED.split("(BrokenProcessPool: ")[1].split(")")[0])
    assert failure(killed) == KILLED
    assert failure(RuntimeError("")) == "the worker process stopped unexpectedly (RuntimeError); out of memory?"
