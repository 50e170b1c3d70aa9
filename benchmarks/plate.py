"""A plate: images per second on 1 and 2 local workers, Dask against the process pool, same folder.

``python -m benchmarks.plate [--images 200] [--size 256] [--rounds 2]``

200 generated nuclei fields (256 × 256, 8-bit, about 33 nuclei each, some touching) are segmented with
the default watershed by ``python -m segmentation watershed`` four ways, alternately, ``--rounds`` times:
the process pool with ``--jobs 1`` and ``--jobs 2``, and a local Dask cluster (``LocalCluster``, one thread
per worker process) of 1 and 2 workers through ``--scheduler``. Each run's time is the batch's own (the
"in N s" of its last line: planning, the pool or the cluster's client, every image, the summary), so the
interpreter's start is left out; the best round counts. Reported: images per second, the speed-up from 1
to 2 workers, and the Dask path's time over the pool's for the same number of workers (its overhead).

Writes ``benchmarks/results/plate.json``. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _write_plate(folder: Path, count: int, size: int) -> None:
    """The fields, written by a child process (OpenCV is then never used here before the pool forks)."""
    code = f"""
import numpy as np, cv2
import segmentation as seg
from pathlib import Path
for i in range({count}):
    rng = np.random.default_rng(i)
    image = np.zeros(({size}, {size}), np.float32)
    for _ in range({size} * {size} // 2000):
        row, col = rng.integers(10, {size} - 10, 2)
        cv2.circle(image, (int(col), int(row)), int(rng.integers(5, 11)), float(rng.uniform(120, 200)), -1)
    image = np.clip(cv2.GaussianBlur(image, (0, 0), 1.5) + rng.normal(20, 6, image.shape), 0, 255).astype(np.uint8)
    Path({str(folder)!r}, f"field{{i:03d}}.png").write_bytes(seg.encode_png(image))
"""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _batch_seconds(args: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "segmentation", "watershed", *args, "--no-progress"], cwd=cwd,
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return float(re.search(r" in ([0-9.]+) s;", done.stdout).group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    from distributed import Client, LocalCluster

    folder = Path(tempfile.mkdtemp(prefix="plate-bench-"))
    best: dict[str, float] = {}
    try:
        _write_plate(folder / "plate", args.images, args.size)
        clusters = {n: LocalCluster(n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                                    dashboard_address=":0") for n in (1, 2)}
        try:
            for cluster in clusters.values():  # workers import the library once, before any timing
                with Client(cluster) as client:
                    client.run(importlib.import_module, "segmentation.batch._dask")
            for round_ in range(args.rounds):
                for n in (1, 2):
                    for kind in ("pool", "dask"):
                        out = folder / f"{kind}{n}-{round_}"
                        extra = ["--jobs", str(n)] if kind == "pool" else ["--scheduler", clusters[n].scheduler_address]
                        seconds = _batch_seconds(["plate", "--out", str(out), *extra], folder)
                        best[f"{kind}{n}"] = min(best.get(f"{kind}{n}", float("inf")), seconds)
                        shutil.rmtree(out)
        finally:
            for cluster in clusters.values():
                cluster.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rate = {key: round(args.images / seconds, 2) for key, seconds in best.items()}
    payload = {
        "images": args.images, "size": [args.size, args.size], "rounds": args.rounds,
        "seconds": {k: round(v, 2) for k, v in best.items()}, "images_per_second": rate,
        "speedup_1_to_2_workers": {"pool": round(best["pool1"] / best["pool2"], 2),
                                   "dask": round(best["dask1"] / best["dask2"], 2)},
        "dask_over_pool": {"1 worker": round(best["dask1"] / best["pool1"], 3),
                           "2 workers": round(best["dask2"] / best["pool2"], 3)},
    }
    try:
        from .common import write_results
        write_results("plate", payload)
    except ImportError:
        pass
    print(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
