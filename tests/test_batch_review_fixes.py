"""Review findings of the batch command line, each pinned by a test that failed before its fix.

1. ``--pooled-threshold`` on a plate mixing 8- and 16-bit images pooled them on one scale (a threshold of 13402:
   no object in any 8-bit image); it is refused now, naming how many images have each depth and one of each.
2. ``--scheduler http://...`` (the dashboard's address) said the right thing, then hung 40 s and printed
   "Exception ignored in Client.__del__ ... TimeoutError"; a ``tcp://`` address on a port where something
   listens without speaking Dask's protocol (the dashboard's) hung for good. Both are refused at once now, and
   a client that fails to start closes itself.
3. Resuming skipped an image whose outputs existed even when one of them was a 0-byte file (a crashed copy, a
   full disk); such an image is redone now.
"""

from __future__ import annotations

import csv
import importlib
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile
from cli_helpers import REPO, run_cli, run_cli_in_process

import segmentation as seg

# Private pieces tested directly (test_architecture: tests import the public packages; these are reached by name).
_plate = importlib.import_module("segmentation.batch._plate")
_options = importlib.import_module("segmentation.batch._options")


@pytest.fixture
def cli(monkeypatch, capsys):
    """The command run in this process (faster): a CompletedProcess with returncode, stdout and stderr."""
    return lambda *args, cwd: run_cli_in_process(*args, cwd=cwd, monkeypatch=monkeypatch, capsys=capsys)


def field(seed: int, top: float, dtype, size: int = 96) -> np.ndarray:
    """Bright round nuclei (radius 5-8 px) on a dim noisy background, peaking near ``top``."""
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size), np.float32)
    for _ in range(8):
        row, col = rng.integers(10, size - 10, 2)
        cv2.circle(image, (int(col), int(row)), int(rng.integers(5, 9)), top, -1)
    image = cv2.GaussianBlur(image, (0, 0), 1.5) + rng.normal(0.1 * top, 0.03 * top, image.shape)
    return np.clip(image, 0, np.iinfo(dtype).max).astype(dtype)


def summary(out: Path) -> dict[str, dict]:
    with open(out / "summary.csv", newline="", encoding="utf-8") as handle:
        return {Path(row["file"]).name: row for row in csv.DictReader(handle)}


def listener() -> socket.socket:
    """A TCP port on 127.0.0.1 that accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


# -- 1. a pooled threshold over mixed bit depths ---------------------------------------------------
def test_pooled_threshold_refuses_a_plate_mixing_bit_depths(tmp_path, cli):
    plate = tmp_path / "plate"
    plate.mkdir()
    for i in range(3):
        (plate / f"a{i}.png").write_bytes(seg.encode_png(field(i, 200, np.uint8)))
    for i in range(2):
        tifffile.imwrite(plate / f"b{i}.tif", field(10 + i, 40000, np.uint16))
    done = cli("threshold", "plate", "--out", "out", "--pooled-threshold", "--jobs", "1", "--no-progress",
               cwd=tmp_path)
    # a usage error before pass 2: nothing segmented, nothing written
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--pooled-threshold needs images of one bit depth" in done.stderr
    assert (f"3 are 8-bit (such as {Path('plate', 'a0.png')}) and 2 are 16-bit (such as {Path('plate', 'b0.tif')})"
            in done.stderr), done.stderr
    assert "Run each bit depth as its own batch" in done.stderr and "leave out --pooled-threshold" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out").exists()
    # each depth alone is pooled as before
    for depth, pattern in (("8", "a*.png"), ("16", "b*.tif")):
        alone = cli("threshold", str(plate / pattern), "--out", f"out{depth}", "--pooled-threshold", "--jobs", "1",
                    "--no-progress", cwd=tmp_path)
        assert alone.returncode == 0, alone.stderr
        rows = summary(tmp_path / f"out{depth}")
        assert len({row["thresholds"] for row in rows.values()}) == 1
        assert all(int(row["objects"]) > 0 for row in rows.values()), rows


def test_the_histograms_say_their_dtype_and_pooling_checks_it(tmp_path):
    """The one place both paths pool (locally and on Dask): pooled_recipe, from channel_histogram's results."""
    recipe = seg.ThresholdRecipe()
    paths = {"uint8": tmp_path / "a.png", "uint16": tmp_path / "b.tif"}
    paths["uint8"].write_bytes(seg.encode_png(field(0, 200, np.uint8)))
    tifffile.imwrite(paths["uint16"], field(1, 40000, np.uint16))
    found = {dtype: _plate.channel_histogram({"path": str(path), "recipe": recipe.to_json()})
             for dtype, path in paths.items()}
    assert {dtype: h["dtype"] for dtype, h in found.items()} == {"uint8": "uint8", "uint16": "uint16"}
    with pytest.raises(ValueError, match=r"1 is 8-bit \(such as a\.png\) and 2 are 16-bit \(such as b\.tif\)"):
        _plate.pooled_recipe(recipe, [found["uint8"] | {"file": "a.png"}, found["uint16"] | {"file": "b.tif"},
                                      found["uint16"] | {"file": "c.tif"}])
    # one depth: pooled; an image that could not be read is left out, as before
    pooled = _plate.pooled_recipe(recipe, [found["uint16"], found["uint16"], {"error": "unreadable"}])
    assert pooled.method == "manual" and pooled.value > 255


# -- 2. the scheduler's address ------------------------------------------------------------------
def test_a_web_address_as_scheduler_is_refused_at_once(tmp_path):
    (tmp_path / "a.png").write_bytes(seg.encode_png(field(0, 200, np.uint8)))
    with listener() as port:  # something listens there, as a dashboard would
        address = f"http://127.0.0.1:{port.getsockname()[1]}"
        started = time.monotonic()
        done = run_cli("threshold", "a.png", "--scheduler", address, "--no-progress", cwd=tmp_path, timeout=120)
        seconds = time.monotonic() - started
    # run_cli has checked there is no traceback; before the fix: 40 s more and "Exception ignored in Client.__del__"
    assert done.returncode == 2 and seconds < 15, (seconds, done.stderr)
    assert "Exception ignored" not in done.stderr
    assert f"argument --scheduler: must be the Dask scheduler's address, not a web address such as its dashboard's; " \
           f"got '{address}'. Use tcp://HOST:PORT with the scheduler's port" in done.stderr, done.stderr
    assert "not the dashboard's (8787)" in done.stderr


@pytest.mark.parametrize("address, words", [("HTTPS://cluster.example.org:8787/status", "not a web address"),
                                             ("tpc://127.0.0.1:8786", "whose scheme tpc:// Dask does not know")])
def test_other_bad_schemes_are_refused_in_words(tmp_path, cli, address, words):
    done = cli("watershed", "images", "--scheduler", address, cwd=tmp_path)
    assert done.returncode == 2 and "argument --scheduler: must be the Dask scheduler's address" in done.stderr
    assert words in done.stderr and f"got '{address}'" in done.stderr


def test_the_accepted_schemes_are_dasks():
    registry = importlib.import_module("distributed.comm.registry")
    assert set(_options.SCHEDULER_SCHEMES) == set(registry.backends)
    for address in ("tcp://10.0.0.5:8786", "10.0.0.5:8786", "scheduler:8786", "[::1]:8786", "tls://h:8786",
                    "inproc://10.0.0.5/1/2", "ucx://h:13337", "ws://h:8786", "wss://h:8786", "TCP://h:8786"):
        assert _options.scheduler_problem(address) is None, address
    for address in ("http://h:8787", "https://h:8787/status", "tpc://h:8786"):
        assert _options.scheduler_problem(address), address


def _python(code: str, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)
    return done, time.monotonic() - started


def test_a_tcp_address_where_no_scheduler_answers_gives_up(tmp_path):
    # before the fix, distributed waited for the handshake forever (the subprocess' timeout ended the test)
    with listener() as port:
        address = f"tcp://127.0.0.1:{port.getsockname()[1]}"
        done, seconds = _python(f"""
            import importlib
            dask = importlib.import_module("segmentation.batch._dask")
            try:
                dask.connect({address!r}, timeout=2, wait=1)
            except dask.DaskError as error:
                print(error)
            """, timeout=60)
    assert done.returncode == 0 and seconds < 30, done.stderr
    assert done.stdout.strip() == (f"no Dask scheduler answered at {address} in 2 s: something listens there but does "
                                   "not speak Dask's protocol (the dashboard's port?); give tcp://HOST:PORT with the "
                                   "scheduler's port (8786 unless started with another --port), not the dashboard's "
                                   "(8787)")
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr


def test_a_client_that_fails_to_start_closes_itself():
    # distributed's Client closes itself after an OSError only; after this ValueError (a scheme it does not know)
    # it stayed half-open and, collected at exit, spent 2 x timeout closing, then printed "Exception ignored"
    done, seconds = _python("""
        import importlib
        dask = importlib.import_module("segmentation.batch._dask")
        try:
            dask.BatchClient("http://127.0.0.1:9", timeout=10, set_as_default=False)
        except ValueError as error:
            print("refused:", error)
        """, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("refused: unknown address scheme 'http'"), done.stderr
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr
    assert seconds < 15  # 20 s (2 x timeout) of closing before the fix


# -- 3. resuming over an empty output file -------------------------------------------------------
def test_an_empty_output_file_is_redone_on_resume(tmp_path, cli):
    plate = tmp_path / "plate"
    plate.mkdir()
    for i in range(3):
        (plate / f"f{i}.png").write_bytes(seg.encode_png(field(i, 200, np.uint8)))
    first = cli("watershed", "plate", "--out", "out", "--jobs", "1", "--no-progress", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    out = tmp_path / "out"
    good = {p.name: p.read_bytes() for p in out.iterdir() if p.name.startswith("f")}
    (out / "f1_labels.png").write_bytes(b"")  # a crashed copy, a full disk
    kept = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name.startswith(("f0", "f2"))}
    again = cli("watershed", "plate", "--out", "out", "--skip-existing", "--jobs", "1", "--no-progress",
                cwd=tmp_path)
    assert again.returncode == 0 and "1 segmented, 0 failed, 2 skipped" in again.stdout, again.stdout + again.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name.startswith("f")} == good
    assert kept == {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name.startswith(("f0", "f2"))}
    rows = summary(out)
    assert [rows[f"f{i}.png"]["status"] for i in range(3)] == ["skipped", "ok", "skipped"]
    # nothing empty any more: all skipped
    last = cli("watershed", "plate", "--out", "out", "--skip-existing", "--jobs", "1", "--no-progress", cwd=tmp_path)
    assert "0 segmented, 0 failed, 3 skipped" in last.stdout, last.stdout + last.stderr
