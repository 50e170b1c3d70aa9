"""``python -m benchmarks.nonfinite [--size MP]``: what "no data" pixels cost.

One run, ratios only (these machines are noisy): each common path on a float32 image of nuclei-like
blobs, and on the same image with a NaN "no data" band (10 % of the pixels) and a few ±inf pixels. The
non-finite image pays one nearest-finite fill (SciPy's exact distance transform) per filtering step and a
copy of its finite pixels per threshold; the finite image pays one float64 ``sumElems`` pass per check.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from scipy import ndimage as ndi

import segmentation as seg

PATHS = {
    "otsu": lambda image: seg.threshold(image, "otsu"),
    "gaussian + otsu": lambda image: seg.threshold(image, "otsu", smoothing="gaussian", sigma=2.0),
    "background + li": lambda image: seg.threshold(image, "li", background_radius=30),
    "sauvola": lambda image: seg.threshold(image, "sauvola", window=51),
    "multiotsu 3": lambda image: seg.threshold(image, "multiotsu", classes=3),
    "default watershed": lambda image: seg.watershed(image),
}


def blobs(megapixels: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    height = int(round((megapixels * 1e6 * 3 / 4) ** 0.5))
    width = int(round(height * 4 / 3))
    image = np.zeros((height, width), np.float32)
    rows, cols = rng.integers(0, height, 4000), rng.integers(0, width, 4000)
    image[rows, cols] = 1.0
    image = ndi.gaussian_filter(image, 6.0)
    image /= image.max()
    image += rng.normal(0, 0.02, image.shape).astype(np.float32)
    return image


def timed(function, image, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=float, default=12.0, help="megapixels (default 12)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    finite = blobs(args.size)
    nodata = finite.copy()
    nodata[:, : nodata.shape[1] // 10] = np.nan
    nodata[::997, ::991] = np.inf
    nodata[1::997, 1::991] = -np.inf
    print(f"{finite.shape[1]}×{finite.shape[0]} float32, {np.count_nonzero(~np.isfinite(nodata)):,} non-finite pixels")
    print(f"{'path':<20}{'finite s':>10}{'no-data s':>11}{'ratio':>8}")
    for name, function in PATHS.items():
        a, b = timed(function, finite, args.repeats), timed(function, nodata, args.repeats)
        print(f"{name:<20}{a:>10.3f}{b:>11.3f}{b / a:>8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
