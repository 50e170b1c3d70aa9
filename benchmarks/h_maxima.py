"""H-maxima seeds at 12 megapixels: the old iteration, the new reconstruction, scikit-image, and the watershed.

Two 12-megapixel cases (4000×3000), each measured in one run, a moment apart:

* ``discs``: 40 large touching discs (radius 100–600 px) drawn on a dark canvas; the full default watershed
  runs with ``background_radius=0`` (the default 50-px background subtraction would hollow discs that
  large), so its foreground is the discs, and its distance map (``segmentation.distance_map``, σ = 1)
  feeds every seed method below;
* ``photo``: the RGB photo of ``library_overhead.py`` (``skimage.data.astronaut()`` tiled), full defaults.

For each: the old h-maxima seeds (the 3×3 dilation iterated until stable, copied here), the new
``segmentation.h_maxima_seeds``, scikit-image's ``h_maxima`` (float32, the same arithmetic), scikit-image's
``peak_local_max`` + ``watershed`` on the same foreground and distance map, and the full default
``segmentation.watershed``; times (wall and CPU seconds) and ratios. The seeds must be identical to the
old ones (labels) and to scikit-image's (pixels), and the full watershed's markers and labels identical
to the same pipeline run on the old seeds. Targets: the full default watershed in at most 2 s (wall) and
within 2× of ``peak_local_max`` + ``watershed``; the latter is also checked stage for stage: the default
watershed's seeds and flood (h-maxima seeds, a seed for every object left without, the flood) against
``peak_local_max`` + ``watershed``, both given the same foreground and distance map (the full watershed
also thresholds the image and computes the distance map, which the scikit-image side is handed).

Then, when ``../shared/devdata/dsb2018`` is present (never copied here), the same identity checks on the
dev nuclei (default watershed, and seeds for h = 0.5, 1, 2).

With ``--sweep``, the new seeds are also timed against scikit-image's ``h_maxima`` (identity checked) on the
discs for other distance blurs (0 to 50 px) and heights (h up to 200 px); the old iteration is left out
there (minutes each).

Run: ``python -m benchmarks.h_maxima [--quick] [--sweep] [--repeats N] [--devdata PATH]``; writes
``benchmarks/results/h_maxima.json`` (``h_maxima_quick.json`` with ``--quick``). Exit status 0 when every
result is identical and every target met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import feature, morphology
from skimage import segmentation as sk_segmentation

import segmentation as seg

from .common import ROOT, make_image, table, write_results

DEFAULT_DEVDATA = ROOT.parent / "shared" / "devdata"
TARGET_SECONDS = 2.0
TARGET_RATIO = 2.0


# -- the reference: h-maxima seeds as the library computed them before -------------------------
def old_reconstruct_by_dilation(seed: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The old reconstruction (copied): OpenCV's 3×3 dilation clipped by the mask until nothing changes."""
    kernel = np.ones((3, 3), np.uint8)
    current = cv2.min(seed, mask)
    while True:
        previous = current
        for _ in range(8):
            current = cv2.min(cv2.dilate(current, kernel), mask)
        if np.array_equal(current, previous):
            return current


def old_h_maxima_seeds(distance: np.ndarray, h: float) -> np.ndarray:
    """``segmentation.h_maxima_seeds`` as it was (same arithmetic) on the old reconstruction."""
    distance = np.asarray(distance, dtype=np.float32)
    if h > float(distance.max(initial=0) - distance.min(initial=0)):
        return np.zeros(distance.shape, np.int32)
    resolution = 2 * np.finfo(np.float32).resolution * np.abs(distance)
    residue = distance - old_reconstruct_by_dilation(distance - h - resolution, distance)
    return seg.label_objects(residue >= h)


def old_pipeline(result: seg.WatershedResult, seeds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The default watershed's markers and labels from its own stages, with ``seeds`` as the h-maxima seeds."""
    recipe = result.recipe
    objects = seg.label_objects(result.foreground, recipe.connectivity)
    markers = seg.seed_every_object(seeds, objects, result.distance)
    labels = seg.flood_distance(result.distance, markers, result.foreground, compactness=recipe.compactness,
                                connectivity=recipe.connectivity, watershed_line=recipe.watershed_line)
    return markers.astype(np.int32), sk_segmentation.relabel_sequential(labels)[0].astype(np.int32)


def peaks_and_watershed(foreground: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """scikit-image's usual recipe on the same foreground and distance map: peak_local_max + watershed."""
    objects = seg.label_objects(foreground)
    peaks = feature.peak_local_max(distance, min_distance=7, labels=objects, exclude_border=False)
    markers = np.zeros(distance.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    return sk_segmentation.watershed(-distance, markers, mask=foreground)


def seeds_and_flood(result: seg.WatershedResult) -> np.ndarray:
    """The default watershed's work after its distance map, as it does it: h-maxima seeds, one seed for every
    object left without, the flood (the part that peak_local_max + watershed does on the other side)."""
    recipe, distance, foreground = result.recipe, result.distance, result.foreground
    objects = seg.label_objects(foreground, recipe.connectivity)
    seeds = seg.seed_every_object(seg.h_maxima_seeds(distance, recipe.h), objects, distance)
    return seg.flood_distance(distance, seeds, foreground, compactness=recipe.compactness,
                              connectivity=recipe.connectivity, watershed_line=recipe.watershed_line)


def skimage_h_maxima_seeds(distance: np.ndarray, h: float) -> np.ndarray:
    return seg.label_objects(morphology.h_maxima(distance, h) > 0)


# -- the cases ------------------------------------------------------------------------------------
def discs_image(width: int, height: int, *, count: int = 40, radii: tuple[int, int] = (100, 600),
                seed: int = 0) -> np.ndarray:
    """Large touching discs (value 200) on a dark canvas (30), 8-bit gray."""
    rng = np.random.default_rng(seed)
    scale = min(width / 4000, height / 3000)
    image = np.full((height, width), 30, np.uint8)
    for _ in range(count):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        cv2.circle(image, centre, max(1, round(int(rng.integers(radii[0], radii[1] + 1)) * scale)), 200, -1)
    return image


def timed(fn, repeats: int = 1) -> tuple[object, float, float]:
    """``fn()``'s result and its median wall and CPU seconds over ``repeats`` calls."""
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        result = None
        cpu, wall = time.process_time(), time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return result, statistics.median(walls), statistics.median(cpus)


def run_case(name: str, image: np.ndarray, params: dict, h: float, repeats: int) -> dict:
    print(f"\n== {name}: {image.shape[1]}×{image.shape[0]} {'RGB' if image.ndim == 3 else 'gray'}, "
          f"watershed parameters {params or 'all default'} (load average {os.getloadavg()[0]:.1f})", flush=True)
    result, ws_wall, ws_cpu = timed(lambda: seg.watershed(image, **params), repeats)
    foreground, distance = result.foreground, result.distance
    print(f"   foreground {foreground.mean():.1%} of the pixels, largest distance {float(distance.max()):.0f} px, "
          f"{result.count} objects", flush=True)
    rows, times = [], {}

    def measure(label, fn, reps):
        out, wall, cpu = timed(fn, reps)
        times[label] = {"wall_s": wall, "cpu_s": cpu}
        print(f"   {label}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
        return out

    times["default watershed (full)"] = {"wall_s": ws_wall, "cpu_s": ws_cpu}
    print(f"   default watershed (full): {ws_wall:.2f} s wall, {ws_cpu:.2f} s CPU", flush=True)
    new = measure("h-maxima seeds, new", lambda: seg.h_maxima_seeds(distance, h), repeats)
    old = measure("h-maxima seeds, old iteration", lambda: old_h_maxima_seeds(distance, h), 1)
    sk = measure("scikit-image h_maxima", lambda: skimage_h_maxima_seeds(distance, h), 1)
    objects = seg.label_objects(foreground)
    measure("scikit-image peak_local_max", lambda: feature.peak_local_max(
        distance, min_distance=7, labels=objects, exclude_border=False), repeats)
    measure("peak_local_max + watershed", lambda: peaks_and_watershed(foreground, distance), repeats)
    measure("flooding alone (flood_distance)", lambda: seg.flood_distance(distance, new, foreground), repeats)
    fg_objects = seg.label_objects(foreground, result.recipe.connectivity)
    measure("seed_every_object alone", lambda: seg.seed_every_object(new, fg_objects, distance), repeats)
    measure("h-maxima seeds + seed_every_object + flood", lambda: seeds_and_flood(result), repeats)

    markers, labels = old_pipeline(result, old)
    identical = {
        "seeds == old seeds": bool(np.array_equal(new, old)),
        "seeds == scikit-image h_maxima": bool(np.array_equal(new > 0, sk > 0)),
        "watershed markers == old": bool(np.array_equal(result.markers, markers)),
        "watershed labels == old": bool(np.array_equal(result.labels, labels)),
    }
    wall = {k: v["wall_s"] for k, v in times.items()}
    cpu = {k: v["cpu_s"] for k, v in times.items()}
    ratios = {
        "old iteration / new": (wall["h-maxima seeds, old iteration"] / wall["h-maxima seeds, new"],
                                cpu["h-maxima seeds, old iteration"] / cpu["h-maxima seeds, new"]),
        "scikit-image h_maxima / new": (wall["scikit-image h_maxima"] / wall["h-maxima seeds, new"],
                                        cpu["scikit-image h_maxima"] / cpu["h-maxima seeds, new"]),
        "new seeds / peak_local_max": (wall["h-maxima seeds, new"] / wall["scikit-image peak_local_max"],
                                       cpu["h-maxima seeds, new"] / cpu["scikit-image peak_local_max"]),
        "(h-maxima seeds + seed_every_object + flood) / (peak_local_max + watershed)": (
            wall["h-maxima seeds + seed_every_object + flood"] / wall["peak_local_max + watershed"],
            cpu["h-maxima seeds + seed_every_object + flood"] / cpu["peak_local_max + watershed"]),
        "full watershed / (peak_local_max + watershed)": (
            wall["default watershed (full)"] / wall["peak_local_max + watershed"],
            cpu["default watershed (full)"] / cpu["peak_local_max + watershed"]),
    }
    for label, t in times.items():
        rows.append([label, f"{t['wall_s']:.2f}", f"{t['cpu_s']:.2f}"])
    print(table(rows, ["step", "wall s", "CPU s"]))
    print(table([[k, f"{w:.2f}", f"{c:.2f}"] for k, (w, c) in ratios.items()], ["ratio", "wall", "CPU"]))
    print(table([[k, "yes" if v else "NO"] for k, v in identical.items()], ["identical", ""]))
    met = {
        f"full watershed <= {TARGET_SECONDS:g} s wall": ws_wall <= TARGET_SECONDS,
        f"full watershed <= {TARGET_RATIO:g}x peak_local_max + watershed (wall)":
            ratios["full watershed / (peak_local_max + watershed)"][0] <= TARGET_RATIO,
        f"seeds and flood <= {TARGET_RATIO:g}x peak_local_max + watershed (wall)":
            ratios["(h-maxima seeds + seed_every_object + flood) / (peak_local_max + watershed)"][0] <= TARGET_RATIO,
    }
    for k, v in met.items():
        print(f"   target {k}: {'met' if v else 'MISSED'}")
    return {"shape": list(image.shape), "params": params, "h": h, "objects": result.count,
            "times": times, "ratios": {k: {"wall": w, "cpu": c} for k, (w, c) in ratios.items()},
            "identical": identical, "targets_met": met, "load_average": os.getloadavg()[0]}


def parameter_sweep(image: np.ndarray) -> dict:
    """New seeds against scikit-image's h_maxima on the discs' foreground for other blurs and heights."""
    print("\n== discs, other distance blurs and h: new seeds against scikit-image's h_maxima", flush=True)
    foreground = seg.threshold(image, seg.WatershedRecipe.from_params(background_radius=0).foreground).mask
    rows, report = [], {}
    for sigma, h in ((0.0, 1.0), (5.0, 1.0), (20.0, 1.0), (50.0, 1.0), (1.0, 10.0), (1.0, 50.0), (1.0, 200.0)):
        distance = seg.distance_map(foreground, sigma=sigma)
        new, new_wall, new_cpu = timed(lambda: seg.h_maxima_seeds(distance, h))
        sk, sk_wall, sk_cpu = timed(lambda: skimage_h_maxima_seeds(distance, h))
        same = bool(np.array_equal(new > 0, sk > 0))
        report[f"sigma={sigma:g} h={h:g}"] = {"new_cpu_s": new_cpu, "skimage_cpu_s": sk_cpu, "identical": same}
        rows.append([f"{sigma:g}", f"{h:g}", f"{new_wall:.2f}", f"{new_cpu:.2f}", f"{sk_wall:.2f}", f"{sk_cpu:.2f}",
                     f"{sk_cpu / new_cpu:.1f}", "yes" if same else "NO"])
        print("   " + " | ".join(rows[-1]), flush=True)
    print(table(rows, ["sigma", "h", "new wall s", "new CPU s", "skimage wall s", "skimage CPU s", "CPU ratio",
                       "identical"]))
    return report


def devdata_identity(devdata: Path) -> dict | None:
    folder = devdata / "dsb2018" / "images"
    if not folder.is_dir():
        print(f"\n== dev nuclei: {folder} not found, identity on the dev nuclei skipped")
        return None
    print(f"\n== dev nuclei ({folder}): default watershed and h-maxima seeds, new against old", flush=True)
    rows, report, old_total, new_total = [], {}, 0.0, 0.0
    for path in sorted(folder.glob("*.png")):
        image = seg.load_image(path)
        result = seg.watershed(image)
        checks = {}
        for h in (0.5, 1.0, 2.0):
            cpu = time.process_time()
            new = seg.h_maxima_seeds(result.distance, h)
            middle = time.process_time()
            old = old_h_maxima_seeds(result.distance, h)
            old_total, new_total = old_total + time.process_time() - middle, new_total + middle - cpu
            checks[f"h={h:g}"] = bool(np.array_equal(new, old)) and bool(
                np.array_equal(new > 0, morphology.h_maxima(result.distance, h) > 0))
        markers, labels = old_pipeline(result, old_h_maxima_seeds(result.distance, result.recipe.h))
        checks["watershed"] = bool(np.array_equal(result.markers, markers) and np.array_equal(result.labels, labels))
        report[path.stem] = checks
        rows.append([path.stem[:12], f"{image.shape[1]}×{image.shape[0]}", str(result.count),
                     *("yes" if v else "NO" for v in checks.values())])
    print(table(rows, ["image", "size", "objects", "seeds h=0.5", "seeds h=1", "seeds h=2", "watershed"]))
    print(f"   seeds, CPU summed over the images and h values: old iteration {old_total:.2f} s, new {new_total:.2f} s")
    return {"images": report, "old_cpu_s": old_total, "new_cpu_s": new_total}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2000×1500 images, one repeat (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the fast steps (median; default 3)")
    parser.add_argument("--devdata", type=Path, default=DEFAULT_DEVDATA)
    parser.add_argument("--sweep", action="store_true",
                        help="also time other distance blurs and h on the discs (new against scikit-image only)")
    args = parser.parse_args(argv)
    width, height = (2000, 1500) if args.quick else (4000, 3000)
    repeats = 1 if args.quick else args.repeats
    h = seg.WatershedRecipe().h
    cases = {
        "discs": run_case("discs", discs_image(width, height), {"background_radius": 0}, h, repeats),
        "photo": run_case("photo", make_image("rgb", width, height), {}, h, repeats),
    }
    sweep = parameter_sweep(discs_image(width, height)) if args.sweep else None
    nuclei = devdata_identity(args.devdata)
    payload = {"cases": cases, "sweep": sweep, "dev_nuclei": nuclei}
    path = write_results("h_maxima_quick" if args.quick else "h_maxima", payload)
    print(f"\nwritten {path.relative_to(ROOT)}")
    identical = all(all(c["identical"].values()) for c in cases.values()) and (
        nuclei is None or all(all(v.values()) for v in nuclei["images"].values())) and (
        sweep is None or all(v["identical"] for v in sweep.values()))
    met = all(all(c["targets_met"].values()) for c in cases.values())
    print(f"identical everywhere: {'yes' if identical else 'NO'}; targets: {'met' if met else 'MISSED'}")
    return 0 if identical and met else 1


if __name__ == "__main__":
    sys.exit(main())
