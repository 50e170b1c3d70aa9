"""A plate on a real Dask cluster: a ``dask scheduler`` and ``dask worker`` processes on 127.0.0.1.

The batch run with ``--scheduler`` must write the same bytes as the local process pool, skip everything
when run again, and finish with every image done exactly once when one of its workers is killed mid-run.
Also, on the local pool: the pooled threshold (against scikit-image's Otsu of all the images' pixels) and
the quality flags of an odd field (and where most fields share one count). A scheduler with no worker is
said and given up on; a cluster started without the checkout on PYTHONPATH says so in every row.
"""

from __future__ import annotations

import csv
import hashlib
import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from cli_helpers import REPO, run_cli, run_cli_in_process
from distributed import Client
from skimage import filters

import segmentation as seg

# Private pieces tested directly (test_architecture: tests import the public packages; these are reached by name).
_died = importlib.import_module("segmentation.batch._cli")._died
flag_outliers = importlib.import_module("segmentation.batch._plate").flag_outliers

DASK = Path(sys.executable).with_name("dask")
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}


def nuclei(seed: int, size: int = 256, count: int = 30, brightness: tuple[int, int] = (120, 200)) -> np.ndarray:
    """A field of blurred round nuclei (radius 5-10 px, some touching) on a noisy background, 8-bit."""
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size), np.float32)
    for _ in range(count):
        row, col = rng.integers(10, size - 10, 2)
        cv2.circle(image, (int(col), int(row)), int(rng.integers(5, 11)), float(rng.uniform(*brightness)), -1)
    image = cv2.GaussianBlur(image, (0, 0), 1.5) + rng.normal(20, 6, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def write_plate(folder: Path, count: int, size: int = 256) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (folder / f"f{i:02d}.png").write_bytes(seg.encode_png(nuclei(i, size=size, count=size * size // 2000)))
    return sorted(p.name for p in folder.iterdir())


def summary(out: Path) -> dict[str, dict]:
    with open(out / "summary.csv", newline="", encoding="utf-8") as handle:
        return {Path(row["file"]).name: row for row in csv.DictReader(handle)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A scheduler and ``workers`` single-threaded worker processes, each in its own process group."""

    def __init__(self, workers: int = 2):
        self.address = f"tcp://127.0.0.1:{free_port()}"
        self.processes = [self._start("scheduler", "--host", "127.0.0.1", "--port", self.address.rsplit(":", 1)[1],
                                      "--dashboard-address", ":0")]
        self.workers = [self._start("worker", self.address, "--nworkers", "1", "--nthreads", "1", "--no-nanny",
                                    "--host", "127.0.0.1", "--dashboard-address", ":0") for _ in range(workers)]
        self.processes += self.workers
        deadline = time.monotonic() + 40
        with Client(self.address, timeout=30) as client:
            while len(client.scheduler_info(n_workers=-1)["workers"]) < workers:
                assert time.monotonic() < deadline, "the Dask workers did not start"
                time.sleep(0.2)

    @staticmethod
    def _start(*args: str) -> subprocess.Popen:
        return subprocess.Popen([str(DASK), *args], env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)  # a test cluster has nothing to save
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster():
    started = Cluster(workers=2)
    yield started
    started.stop()


def same_outputs(one: Path, two: Path) -> None:
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in two.iterdir())  # no journal, no temporary file left
    for name in names:
        if name != "summary.csv":
            assert (one / name).read_bytes() == (two / name).read_bytes(), name
    ignored = ("seconds",)
    rows_one, rows_two = summary(one), summary(two)
    assert {k: {c: v for c, v in r.items() if c not in ignored} for k, r in rows_one.items()} == \
           {k: {c: v for c, v in r.items() if c not in ignored} for k, r in rows_two.items()}


def test_a_plate_on_the_cluster_writes_the_local_bytes_and_resumes(tmp_path, cluster):
    images = write_plate(tmp_path / "plate", 6, size=192)
    (tmp_path / "plate" / "broken.png").write_bytes(b"not an image")
    local = run_cli("watershed", "plate", "--out", "local", "--jobs", "2", "--no-progress", cwd=tmp_path)
    remote = run_cli("watershed", "plate", "--out", "remote", "--scheduler", cluster.address, "--no-progress",
                     cwd=tmp_path)
    # the broken file is that image's error, never the batch's end
    assert local.returncode == remote.returncode == 1, local.stderr + remote.stderr
    assert "6 segmented, 1 failed" in remote.stdout
    same_outputs(tmp_path / "local", tmp_path / "remote")
    rows = summary(tmp_path / "remote")
    recipe = (tmp_path / "remote" / "recipe.json").read_text(encoding="utf-8")
    assert {row["recipe_sha256"] for row in rows.values()} == {hashlib.sha256(recipe.encode()).hexdigest()}
    assert all(f"numpy {np.__version__}" in row["versions"] for row in rows.values())
    import dask
    import zarr  # the tiled outputs' libraries are stamped too (#14 review)
    assert all(f"dask {dask.__version__}" in row["versions"] and f"zarr {zarr.__version__}" in row["versions"]
               for row in rows.values())
    expected = seg.watershed(seg.load_image(tmp_path / "plate" / images[0]))
    assert np.array_equal(seg.load_image(tmp_path / "remote" / "f00_labels.png"), expected.labels)

    # the same command again: every image done is skipped (the broken one is tried again)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "remote").iterdir() if p.name.startswith("f")}
    again = run_cli("watershed", "plate", "--out", "remote", "--scheduler", cluster.address, "--no-progress",
                    cwd=tmp_path)
    assert again.returncode == 1 and "0 segmented, 1 failed, 6 skipped" in again.stdout, again.stdout + again.stderr
    assert before == {p.name: p.stat().st_mtime_ns for p in (tmp_path / "remote").iterdir()
                      if p.name.startswith("f")}
    skipped = summary(tmp_path / "remote")
    assert all(skipped[name]["objects"] == rows[name]["objects"] for name in images)
    # --overwrite redoes them, to the same bytes
    redo = run_cli("watershed", "plate", "--out", "remote", "--scheduler", cluster.address, "--overwrite",
                   "--no-progress", cwd=tmp_path)
    assert "6 segmented, 1 failed" in redo.stdout
    same_outputs(tmp_path / "local", tmp_path / "remote")
    # another recipe into the same folder is refused rather than mixed
    other = run_cli("watershed", "plate", "--out", "remote", "--scheduler", cluster.address, "--h", "3",
                    cwd=tmp_path)
    assert other.returncode == 2 and "different recipe" in other.stderr
    # said from what the user typed: --scheduler resumes on its own, --skip-existing was never given
    assert "--scheduler resumes" in other.stderr and "--skip-existing" not in other.stderr


def test_an_unreachable_scheduler_is_a_usage_error(tmp_path):
    write_plate(tmp_path / "plate", 1)
    done = run_cli("threshold", "plate", "--scheduler", f"tcp://127.0.0.1:{free_port()}", cwd=tmp_path)
    assert done.returncode == 2 and "cannot reach the Dask scheduler" in done.stderr


def test_a_killed_worker_loses_and_duplicates_no_image(tmp_path):
    images = write_plate(tmp_path / "plate", 24, size=384)
    reference = run_cli("watershed", "plate", "--out", "local", "--jobs", "2", "--no-progress", cwd=tmp_path)
    assert reference.returncode == 0, reference.stderr
    cluster = Cluster(workers=2)
    try:
        batch = subprocess.Popen([sys.executable, "-m", "segmentation", "watershed", "plate", "--out", "remote",
                                  "--scheduler", cluster.address, "--no-progress"], cwd=tmp_path, env=ENV,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        journal = tmp_path / "remote" / ".summary.partial.csv"
        deadline = time.monotonic() + 60
        while not (journal.exists() and journal.read_text().count("\n") >= 4):  # a header and 3 images done
            assert batch.poll() is None and time.monotonic() < deadline, batch.communicate()
            time.sleep(0.05)
        os.killpg(cluster.workers[0].pid, signal.SIGKILL)  # mid-batch: it holds an image at this moment
        cluster.workers[0].wait(timeout=10)
        stdout, stderr = batch.communicate(timeout=120)
    finally:
        cluster.stop()
    assert batch.returncode == 0, stderr
    assert "Traceback" not in stderr and f"{len(images)} segmented, 0 failed" in stdout
    with open(tmp_path / "remote" / "summary.csv", newline="", encoding="utf-8") as handle:
        files = [Path(row["file"]).name for row in csv.DictReader(handle)]
    assert sorted(files) == images  # every image once
    same_outputs(tmp_path / "local", tmp_path / "remote")


def test_pooled_threshold_is_otsu_of_all_the_pixels(tmp_path):
    folder = tmp_path / "plate"
    folder.mkdir()
    fields = [nuclei(0), nuclei(1, brightness=(60, 90)), nuclei(2, brightness=(150, 250))]
    for i, image in enumerate(fields):
        (folder / f"f{i}.png").write_bytes(seg.encode_png(image))
    done = run_cli("threshold", "plate", "--out", "out", "--pooled-threshold", "--jobs", "2", "--no-progress",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # scikit-image's Otsu of every pixel of the plate, as one image
    expected = filters.threshold_otsu(np.concatenate([f.ravel() for f in fields]))
    rows = summary(tmp_path / "out")
    assert {float(row["thresholds"]) for row in rows.values()} == {float(expected)}
    recipe = seg.recipe_from_json((tmp_path / "out" / "recipe.json").read_text(encoding="utf-8"))
    assert (recipe.method, recipe.value, recipe.polarity) == ("manual", float(expected), "bright")
    for i, image in enumerate(fields):
        mask = seg.load_image(tmp_path / "out" / f"f{i}_mask.png") > 0
        assert np.array_equal(mask, image > expected)
    # per-image thresholds stay the default, and differ between these fields
    alone = run_cli("threshold", "plate", "--out", "alone", "--no-progress", cwd=tmp_path)
    assert len({row["thresholds"] for row in summary(tmp_path / "alone").values()}) == 3, alone.stderr
    refused = run_cli("threshold", "plate", "--out", "li", "--pooled-threshold", "--method", "li", cwd=tmp_path)
    assert refused.returncode == 2 and "--pooled-threshold works with the methods" in refused.stderr


def test_quality_flags_point_at_the_odd_field(tmp_path):
    folder = tmp_path / "plate"
    folder.mkdir()
    for i in range(9):
        (folder / f"f{i}.png").write_bytes(seg.encode_png(nuclei(i, count=30)))
    (folder / "odd.png").write_bytes(seg.encode_png(nuclei(99, count=160)))  # an overgrown field
    done = run_cli("watershed", "plate", "--out", "out", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = summary(tmp_path / "out")
    counts = np.array([int(row["objects"]) for row in rows.values()])
    median = np.median(counts)
    scaled_mad = 1.4826 * np.median(np.abs(counts - median))
    for name, row in rows.items():
        far = abs(int(row["objects"]) - median) > 3 * scaled_mad
        assert ("objects " in row["flags"]) == far, (name, row["flags"])
    assert "objects" in rows["odd.png"]["flags"] and "foreground_fraction" in rows["odd.png"]["flags"]


def wait_for_scheduler(port: int, timeout: float = 30) -> None:
    """Until the Dask scheduler started on ``port`` listens."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, "the Dask scheduler did not start"
            time.sleep(0.2)


def test_a_scheduler_without_workers_says_so_then_gives_up(tmp_path, monkeypatch, capsys):
    write_plate(tmp_path / "plate", 1)
    port = free_port()
    scheduler = Cluster._start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0")
    try:
        address = f"tcp://127.0.0.1:{port}"
        wait_for_scheduler(port)
        started = time.monotonic()
        done = run_cli_in_process("threshold", "plate", "--out", "out", "--scheduler", address, "--no-progress",
                                  "--wait-workers", "3", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
        assert time.monotonic() - started < 30
        # said at once, even with --no-progress, then a plain refusal after the wait (exit status 2)
        assert f"waiting for workers at {address}: 0 connected" in done.stderr
        assert done.returncode == 2 and f"no Dask worker connected to the scheduler at {address} in 3 s" in done.stderr
        assert "Traceback" not in done.stderr and not (tmp_path / "out" / "summary.csv").exists()
    finally:
        os.killpg(scheduler.pid, signal.SIGKILL)
        scheduler.wait(timeout=10)


def test_a_cluster_that_cannot_import_the_project_says_so_in_every_row(tmp_path):
    write_plate(tmp_path / "plate", 2, size=128)
    # the scheduler and its worker are started without the checkout on PYTHONPATH, from another folder
    bare = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                   "--dashboard-address", ":0"], env=bare, cwd=tmp_path, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)]
    try:
        batch = None
        wait_for_scheduler(port)
        batch = subprocess.Popen([sys.executable, "-m", "segmentation", "watershed", "plate", "--out", "out",
                                  "--scheduler", address, "--no-progress"], cwd=tmp_path, env=ENV,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        first = batch.stderr.readline()  # no worker yet: the batch says it waits
        assert first.startswith(f"waiting for workers at {address}: 0 connected"), first
        processes.append(subprocess.Popen([str(DASK), "worker", address, "--nthreads", "1", "--no-nanny", "--host",
                                           "127.0.0.1", "--dashboard-address", ":0"], env=bare, cwd=tmp_path,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True))
        stdout, stderr = batch.communicate(timeout=120)
    finally:
        if batch is not None and batch.poll() is None:
            batch.kill()
        for process in processes:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    assert batch.returncode == 1 and "0 segmented, 2 failed" in stdout, stdout + stderr
    for row in summary(tmp_path / "out").values():
        # the plain words, then Dask's own error and its cause, then what to do
        assert row["message"].startswith("the workers could not run this image (Dask: "), row["message"]
        assert "No module named 'segmentation'" in row["message"]
        assert "importable on the scheduler and the workers" in row["message"]


def test_a_died_image_keeps_the_real_error():
    task = {"display": "a.png", "stem": "a", "recipe": seg.ThresholdRecipe().to_json()}
    try:
        raise RuntimeError("the pool broke. More text")
    except RuntimeError as error:
        row = _died(task, error)
    assert row["message"] == "the worker process stopped unexpectedly (RuntimeError: the pool broke); out of memory?"
    assert row["status"] == "error" and row["file"] == "a.png"


def test_quality_flags_when_most_images_share_one_value():
    def flags(counts):
        rows = [{"status": "ok", "objects": str(c), "thresholds": "", "foreground_fraction": ""} for c in counts]
        flag_outliers(rows)
        return [row["flags"] for row in rows]

    # the MAD is 0 (three of five share 25): the scale is the mean absolute deviation from the median,
    # times sqrt(pi/2) (both scales estimate the standard deviation of normal data); 29 is 4 / (1.2533 * 1.2)
    # = 2.7 of them from 25 and 23 is 1.3: neither is far, and both are judged alike
    counts = np.array([25, 25, 23, 29, 25])
    assert np.median(np.abs(counts - np.median(counts))) == 0
    assert 4 / (np.sqrt(np.pi / 2) * np.mean(np.abs(counts - 25))) < 3
    assert flags(counts) == [""] * 5
    # values as far below as above the shared one get the same flag
    got = flags([25, 25, 25, 25, 25, 25, 15, 35])
    scale = np.sqrt(np.pi / 2) * np.mean(np.abs(np.array([25] * 6 + [15, 35]) - 25))
    assert 10 / scale > 3 and got[:6] == [""] * 6
    assert got[6] == f"objects 15 far from the median 25 ({10 / scale:.1f} scaled mean absolute deviations; " \
                     "the MAD is 0)"
    assert got[7] == got[6].replace("objects 15", "objects 35")
    assert flags([25, 25, 25, 25, 60])[4].startswith("objects 60 far from the median 25")
    assert flags([25, 25, 25, 25, 25]) == [""] * 5  # all alike: nothing is far


def test_quality_flags_compare_thresholds_within_one_bit_depth(tmp_path):
    # a mixed folder: seven 16-bit fields and three 8-bit ones; the 8-bit thresholds are far from the
    # batch's median (about 30,000) only because they are on another scale, so none is flagged for it
    folder = tmp_path / "plate"
    folder.mkdir()
    for i in range(7):
        tifffile.imwrite(folder / f"wide{i}.tif", nuclei(i, count=30).astype(np.uint16) * 257)
    for i in range(3):
        (folder / f"narrow{i}.png").write_bytes(seg.encode_png(nuclei(10 + i, count=30)))
    done = run_cli("watershed", "plate", "--out", "out", "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = summary(tmp_path / "out")
    assert {name: row["bit_depth"] for name, row in rows.items()} == {
        **{f"wide{i}.tif": "16-bit" for i in range(7)}, **{f"narrow{i}.png": "8-bit" for i in range(3)}}
    assert min(float(rows[f"wide{i}.tif"]["thresholds"]) for i in range(7)) > 100 * max(
        float(rows[f"narrow{i}.png"]["thresholds"]) for i in range(3))
    assert not any("threshold" in row["flags"] for row in rows.values()), {n: r["flags"] for n, r in rows.items()}

    # within one bit depth an odd threshold is still flagged, and the flag names the group it is compared with
    def row(depth, threshold):
        return {"status": "ok", "bit_depth": depth, "thresholds": str(threshold), "objects": "30",
                "foreground_fraction": "0.1"}

    rows = [row("16-bit", t) for t in (30000, 30100, 29900, 30050, 29950, 45000)]
    rows += [row("8-bit", t) for t in (120, 118, 122, 200)]
    flag_outliers(rows)
    flagged = [(r["thresholds"], r["flags"]) for r in rows if r["flags"]]
    assert [t for t, _ in flagged] == ["45000", "200"], flagged
    assert "far from the median 30025 of the 16-bit images" in flagged[0][1]
    assert "far from the median 121 of the 8-bit images" in flagged[1][1]
    # one bit depth: the flag reads as before
    rows = [row("8-bit", t) for t in (120, 118, 122, 200)]
    flag_outliers(rows)
    assert rows[3]["flags"].startswith("threshold 200 far from the median 121 (")


def test_a_batch_whose_workers_are_all_gone_says_so_once_and_again_when_one_is_back(tmp_path, monkeypatch, capsys):
    # the scheduler runs, no worker: the batch waits, says so after NO_WORKERS s (lowered here), and says once
    # more when a worker connects; the images are then segmented as usual
    remote = importlib.import_module("segmentation.batch._dask")
    cli = importlib.import_module("segmentation.batch._cli")
    monkeypatch.setattr(remote, "NO_WORKERS", 1.5, raising=False)
    monkeypatch.setattr(remote, "_WATCH_STEP", 0.2, raising=False)
    names = write_plate(tmp_path / "plate", 2, size=96)
    tasks = cli._tasks([tmp_path / "plate" / n for n in names], seg.ThresholdRecipe(), tmp_path / "out")
    (tmp_path / "out").mkdir()
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes = [Cluster._start("scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0")]
    try:
        wait_for_scheduler(port)
        with Client(address, timeout=30, set_as_default=False) as client:
            rows = remote.map_dask(client, remote.segment_task, tasks, _died)
            time.sleep(3)  # the generator starts on the first next(): nothing is said before
            assert "has had no workers" not in capsys.readouterr().err
            started = time.monotonic()
            worker = threading.Thread(target=lambda: (time.sleep(4), processes.append(Cluster._start(
                "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-nanny", "--host", "127.0.0.1",
                "--dashboard-address", ":0"))))
            worker.start()
            done = dict(rows)
            worker.join()
        assert time.monotonic() - started > 4
        assert sorted(row["status"] for row in done.values()) == ["ok", "ok"], done
        err = capsys.readouterr().err
        said = (f"the Dask scheduler at {address} has had no workers for 1.5 s (they stopped or died); the batch "
                f"waits for one: start one with 'dask worker {address}'")
        assert err.count(said) == 1, err
        assert err.count(f"1 worker connected again to the scheduler at {address}; the batch goes on") == 1, err
        assert err.index(said) < err.index("connected again")
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def test_dasks_raw_line_about_a_lost_result_is_not_shown(caplog):
    """#14 review: "distributed.client - WARNING - Couldn't gather 1 keys, rescheduling" leaked between the batch's
    own messages after a worker was killed (the batch reruns the image and says so); Dask's other lines stay."""
    import importlib
    import logging

    importlib.import_module("segmentation.batch._dask")  # loaded on demand by a cluster batch
    client_log = logging.getLogger("distributed.client")
    with caplog.at_level(logging.WARNING, logger="distributed.client"):
        client_log.warning("Couldn't gather %s keys, rescheduling %s", 1, {"process_image-1": ()})
        client_log.warning("another line")
    assert [record.getMessage() for record in caplog.records] == ["another line"]
