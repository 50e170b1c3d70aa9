"""A slide bigger than comfortable: a generated 20,000 × 20,000 16-bit nuclei image (0.8 GB) segmented in tiles.

``python -m benchmarks.slide [--size 20000] [--tile 2048] [--halo N] [--recipe default|plain]``

1. A child process writes the image as a tiled BigTIFF (512 × 512 TIFF tiles), tile by tile, never whole:
   nuclei on a jittered grid (one per 50 × 50 px cell, radius 7-13 px, so some touch), blurred, with noise.
   The number of nuclei is the generator's truth.
2. This process segments it with :func:`segmentation.batch.segment_tiled` with the watershed command's
   default recipe (``--recipe default``: smoothing, background subtraction of radius 50, Otsu from the
   whole-image histogram, closing, hole filling and the size filter on global labels, then the h-maxima
   watershed per tile with a halo as large as the largest object unless ``--halo`` is given), or
   ``--recipe plain`` (smoothing, Otsu and the watershed only, the recipe of the first runs), writing mask
   and labels to Zarr on disk, and reports the time, the peak resident memory (``getrusage``: the most this
   process ever held) and the object count against the truth. Target: peak memory under 2 GB.

Writes ``benchmarks/results/slide.json`` (``slide-<size>-<recipe>.json`` for another size or recipe). Not part
of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import tifffile

CELL = 50  # one nucleus per CELL × CELL cell
RADII = (7, 14)
MARGIN = RADII[1] + 8  # a disc's reach plus the blur kernel's (sigma 1.5 -> 6 px)


def _nuclei(size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centres (row, col), radii and brightness of the grid's nuclei: deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    cells = size // CELL
    rows, cols = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
    centres = np.stack([rows.ravel(), cols.ravel()], axis=1) * CELL + CELL // 2
    centres = centres + rng.integers(-10, 11, centres.shape)
    return centres, rng.integers(*RADII, len(centres)), rng.uniform(120, 200, len(centres))


def _tiles(size: int, tile: int, seed: int):
    centres, radii, brightness = _nuclei(size, seed)
    for r0 in range(0, size, tile):
        for c0 in range(0, size, tile):
            r1, c1 = min(r0 + tile, size), min(c0 + tile, size)
            canvas = np.zeros((r1 - r0 + 2 * MARGIN, c1 - c0 + 2 * MARGIN), np.float32)
            near = ((centres[:, 0] >= r0 - MARGIN) & (centres[:, 0] < r1 + MARGIN)
                    & (centres[:, 1] >= c0 - MARGIN) & (centres[:, 1] < c1 + MARGIN))
            for (row, col), radius, value in zip(centres[near], radii[near], brightness[near]):
                cv2.circle(canvas, (int(col - c0 + MARGIN), int(row - r0 + MARGIN)), int(radius), float(value), -1)
            canvas = cv2.GaussianBlur(canvas, (0, 0), 1.5)[MARGIN:-MARGIN, MARGIN:-MARGIN]
            noise = np.random.default_rng([seed, r0, c0]).normal(20, 6, canvas.shape)
            yield np.clip((canvas + noise) * 257, 0, 65535).astype(np.uint16)


def generate(path: Path, size: int, seed: int = 0) -> int:
    """Write the slide tile by tile; returns the number of nuclei (the truth)."""
    tifffile.imwrite(path, _tiles(size, 512, seed), shape=(size, size), dtype=np.uint16, tile=(512, 512),
                     bigtiff=True, photometric="minisblack")
    return len(_nuclei(size, seed)[0])


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=20000)
    parser.add_argument("--tile", type=int, default=2048)
    parser.add_argument("--halo", type=int, default=None, help="default: the largest object's extent")
    parser.add_argument("--recipe", choices=("default", "plain"), default="default",
                        help="the watershed command's default recipe, or smoothing + Otsu + watershed only")
    parser.add_argument("--generate", metavar="PATH", help=argparse.SUPPRESS)  # the child's job
    parser.add_argument("--keep", action="store_true", help="keep the generated slide and outputs")
    args = parser.parse_args(argv)
    if args.generate:
        print(generate(Path(args.generate), args.size))
        return 0

    import segmentation as seg
    from segmentation.batch import segment_tiled

    folder = Path(tempfile.mkdtemp(prefix="slide-bench-"))
    try:
        slide = folder / "slide.tif"
        started = time.perf_counter()
        child = subprocess.run([sys.executable, "-m", "benchmarks.slide", "--size", str(args.size), "--generate",
                                str(slide)], check=True, capture_output=True, text=True)
        truth = int(child.stdout.strip())
        generated = time.perf_counter() - started
        recipe = (seg.WatershedRecipe() if args.recipe == "default"
                  else seg.WatershedRecipe(foreground=seg.ThresholdRecipe(smoothing="gaussian", sigma=1.25)))
        before = _peak_mb()
        started = time.perf_counter()
        result = segment_tiled(slide, recipe, tile=args.tile, halo=args.halo, out=folder / "out")
        seconds = time.perf_counter() - started
        peak = _peak_mb()
        payload = {
            "size": [args.size, args.size], "dtype": "uint16", "file_gb": round(slide.stat().st_size / 1e9, 3),
            "tile": args.tile, "halo": result.halo, "recipe_name": args.recipe, "recipe": json.loads(recipe.to_json()),
            "generate_seconds": round(generated, 1), "segment_seconds": round(seconds, 1),
            "megapixels_per_second": round(args.size ** 2 / 1e6 / seconds, 2),
            "threshold": result.thresholds, "objects": result.count, "truth": truth,
            "objects_over_truth": round(result.count / truth, 4),
            "peak_rss_mb": round(peak, 1), "rss_before_segmenting_mb": round(before, 1),
            "target_peak_mb": 2048, "met": peak < 2048,
        }
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    try:
        from .common import environment, write_results
        payload["environment"] = environment()
        write_results("slide" if (args.size, args.recipe) == (20000, "default") else
                      f"slide-{args.size}-{args.recipe}", payload)
    except ImportError:  # run as a plain script
        pass
    print(json.dumps({k: v for k, v in payload.items() if k not in ("recipe", "environment")}, indent=1))
    return 0 if payload["met"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
