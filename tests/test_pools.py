"""Every local process pool starts its workers from a clean process, so it works inside a long-lived one.

A worker forked from a process that has already run zarr (its ``zarr_io`` event loop thread), Dask (a thread
pool) or OpenCV (its worker threads) got only the forking thread: its first zarr write waited forever for the
missing loop (``--jobs 2 --export ome-zarr`` hung inside pytest). These tests start those threads first, in
this process, then run the command line's ``main()`` here, twice, with two workers.
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import dask.array as da
import numpy as np
import pytest
import tifffile
import zarr
from cli_helpers import run_cli_in_process
from test_cli_score_tune import read_csv, write_png
from test_tiles import nuclei

#: A hang fails the test (the thread method dumps every stack and ends the session) instead of blocking it.
HANG = pytest.mark.timeout(300, method="thread")


def _start_threads() -> set[str]:
    """Use zarr, Dask and OpenCV here, as a test session or a notebook does before a batch; the threads' names."""
    array = zarr.create_array(store=zarr.storage.MemoryStore(), shape=(64, 64), dtype="u1", chunks=(32, 32))
    array[:] = 1
    assert int(da.from_zarr(array).sum().compute(scheduler="threads")) == 64 * 64
    cv2.setNumThreads(2)
    cv2.GaussianBlur(np.zeros((1500, 1500), np.float32), (0, 0), 3)
    return {thread.name for thread in threading.enumerate()}


@HANG
def test_the_pooled_threshold_with_two_jobs_runs_in_a_process_with_threads(tmp_path, monkeypatch, capsys):
    (tmp_path / "plate").mkdir()
    for i in range(4):
        tifffile.imwrite(tmp_path / "plate" / f"w{i}.tif", nuclei(10 + i, size=120, count=12))
    _start_threads()
    firsts = []
    for jobs in ("1", "2", "2"):  # pass 1 (every image's histogram) on a process pool, twice
        done = run_cli_in_process("threshold", "plate", "--out", f"out{len(firsts)}", "--pooled-threshold",
                                  "--jobs", jobs, "--no-progress", cwd=tmp_path, monkeypatch=monkeypatch,
                                  capsys=capsys)
        assert done.returncode == 0, done.stderr
        firsts.append(done.stdout.splitlines()[0])
    assert firsts[0].startswith("pooled threshold ") and firsts[0] == firsts[1] == firsts[2]


@HANG
def test_the_command_line_with_two_jobs_and_ome_zarr_runs_twice_in_a_process_with_threads(tmp_path, monkeypatch,
                                                                                          capsys):
    (tmp_path / "images").mkdir()
    for i in range(4):
        tifffile.imwrite(tmp_path / "images" / f"n{i}.tif", nuclei(i, size=160, count=20))
    names = _start_threads()
    assert "zarr_io" in names  # zarr's I/O loop runs in this process: what a forked worker would lack
    options = ["--export", "ome-zarr", "--labels-format", "tiff", "--no-progress"]
    one = run_cli_in_process("watershed", "images", "--out", "one", "--jobs", "1", *options, cwd=tmp_path,
                             monkeypatch=monkeypatch, capsys=capsys)
    assert one.returncode == 0, one.stderr
    for run in ("first", "second"):
        done = run_cli_in_process("watershed", "images", "--out", run, "--jobs", "2", *options, cwd=tmp_path,
                                  monkeypatch=monkeypatch, capsys=capsys)
        assert done.returncode == 0, done.stderr
        assert "4 images: 4 segmented, 0 failed" in done.stdout
        for i in range(4):  # the workers' results are the one-process run's
            folder = tmp_path / run / f"n{i}.ome.zarr"
            assert folder.is_dir()
            reference = tmp_path / "one" / f"n{i}.ome.zarr"
            labels = zarr.open_group(str(folder), mode="r")["labels"]
            expected = zarr.open_group(str(reference), mode="r")["labels"]
            assert sorted(labels.keys()) == sorted(expected.keys())
            for name in labels.keys():
                assert np.array_equal(labels[name]["0"][:], expected[name]["0"][:])
            assert (Path(tmp_path / run / f"n{i}_labels.tif").read_bytes()
                    == (tmp_path / "one" / f"n{i}_labels.tif").read_bytes())


@HANG
def test_score_with_its_default_jobs_runs_in_a_process_with_threads(tmp_path, monkeypatch, capsys):
    truth = np.zeros((60, 80), np.uint16)
    truth[5:20, 5:20], truth[30:50, 30:60] = 1, 2
    for stem in ("a", "b", "c"):
        write_png(tmp_path / "truth" / f"{stem}.png", truth)
        write_png(tmp_path / "pred" / f"{stem}_labels.png", truth)
    _start_threads()
    for run in ("first", "second"):  # --jobs left out: one worker per core
        done = run_cli_in_process("score", "--truth", "truth", "pred", "--out", run, cwd=tmp_path,
                                  monkeypatch=monkeypatch, capsys=capsys)
        assert done.returncode == 0, done.stderr
        rows = read_csv(tmp_path / run / "scores.csv")  # a row per image and IoU threshold
        assert {row["file"] for row in rows} == {f"pred/{stem}_labels.png" for stem in "abc"}
        assert all(row["status"] == "ok" for row in rows), rows


@HANG
def test_workers_do_not_run_the_callers_main_script(tmp_path, monkeypatch, capsys):
    """A worker started by ``forkserver`` runs the file of the caller's ``__main__`` first, unless that module names
    itself. Under ``AppTest`` the main module is the page's script (``from_function``'s stops at once:
    "NameError: name '__args' is not defined"), and every image of a later ``--jobs 2`` batch in the same
    process failed as "the worker process stopped unexpectedly". A user's script calling ``batch.main`` ran
    again in each worker. Here the main module is a script that leaves a file and fails when run."""
    import types

    script = tmp_path / "caller.py"
    script.write_text(f"open({str(tmp_path / 'ran')!r}, 'w').close()\nraise SystemExit('the caller ran again')\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(__import__("sys").modules, "__main__", main)
    (tmp_path / "plate").mkdir()
    for i in range(3):
        write_png(tmp_path / "plate" / f"w{i}.png", nuclei(20 + i, size=120, count=6))
    done = run_cli_in_process("watershed", "plate", "--out", "out", "--jobs", "2", cwd=tmp_path,
                              monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {row["status"] for row in read_csv(tmp_path / "out" / "summary.csv")} == {"ok"}
    assert not (tmp_path / "ran").exists()
    assert getattr(main, "__spec__", None) is None  # the caller's module is left as it was
