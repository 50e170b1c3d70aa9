"""Full resolution (12 megapixels): the library's slow stages against the bare library calls, in one run.

For each target of issue 15 that concerns the library, measured in turns with the bare call (ours, bare, ours,
bare ...; wall and CPU seconds, the median of ``--repeats`` turns) with its ratio to it:

* ``seed_every_object`` (the per-object maxima of the objects without a seed) against the same work done
  with ``scipy.ndimage.maximum_position`` (what the library called before), identity checked wherever the
  maxima are unique (scipy's unstable sort picks any pixel among tied maxima);
* ``flood_distance`` against one ``skimage.segmentation.watershed`` call on the whole image (timing; identity
  checked against scikit-image called on each object alone, its definition since issue 14, and the pixels unlike
  the one call counted: objects whose seed pixels tie);
* the full default ``segmentation.watershed`` against scikit-image's ``peak_local_max`` + ``watershed`` on
  the same foreground and distance map (targets: at most 2 s for both cases; at most 2× for the photo, the
  case the issue names. The discs' ratio is printed but is no target: the bare side is handed the foreground
  and distance map that ours computes (0.3 s of the default's 1.2 s there), and on round, separate discs its
  seeds and flood are at their cheapest (0.6–0.85 s), so the ratio measures the threshold, not the seeds. The
  discs are there for the 2 s: an iterated dilation needs one pass per pixel of the widest disc);
* ``segmentation.measure`` with 1,000 objects against ``skimage.measure.regionprops_table`` (target 0.3 s);
* 5-class multi-Otsu on a 16-bit image against scikit-image's ``threshold_multiotsu`` (target 1 s);
* the labels export (``segmentation.encode_labels``, PNG and TIFF) of the watershed's result;
* the clean-up's hole filling against ``scipy.ndimage.binary_fill_holes`` (identity checked);
* the photo's watershed with a typical diameter "auto" (fitted on its 1024-px copy) against the default's (no
  target: issue 16's option, printed so its cost is measured).

Each row prints ours, the bare call, their wall and CPU ratios and, for the rows of a target, whether it is met.
The machine is shared (2 cores, other jobs running): read the ratios, measured a moment apart, before the
absolute seconds, and note the load average printed per case.

Cases: ``discs`` (large touching discs, ``background_radius=0``) and ``photo`` (the RGB photo of
``library_overhead.py``), as in ``h_maxima.py``. Run: ``python -m benchmarks.full_resolution [--quick]
[--repeats N]``; writes ``benchmarks/results/full_resolution.json`` (``_quick`` with ``--quick``). Exit status
0 when every output is identical and every target met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage import filters, measure
from skimage import segmentation as sk_segmentation

import segmentation as seg

from .common import ROOT, make_image, table, write_results
from .h_maxima import discs_image, peaks_and_watershed, timed


def old_seed_every_object(seeds: np.ndarray, objects: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """``seed_every_object`` as it was: scipy's ``maximum_position`` (an argsort of every pixel)."""
    count = int(objects.max(initial=0))
    seeded = np.zeros(count + 1, bool)
    seeded[np.unique(objects[seeds != 0])] = True
    missing = np.flatnonzero(~seeded[1:]) + 1
    seeds = seeds.astype(np.int64)
    next_label = int(seeds.max(initial=0)) + 1
    for offset, (row, col) in enumerate(ndi.maximum_position(distance, objects, missing)):
        seeds[row, col] = next_label + offset
    return seeds


def skimage_per_object(distance: np.ndarray, seeds: np.ndarray, foreground: np.ndarray,
                       connectivity: int) -> np.ndarray:
    """``flood_distance``'s definition: scikit-image's watershed on each connected object alone (SciPy labels)."""
    objects, _ = ndi.label(foreground, ndi.generate_binary_structure(2, 1 if connectivity == 4 else 2))
    out = np.zeros(seeds.shape, np.int32)
    for k, box in enumerate(ndi.find_objects(objects), start=1):
        inside = objects[box] == k
        flooded = sk_segmentation.watershed(-distance[box], np.where(inside, seeds[box], 0), mask=inside,
                                            connectivity=1 if connectivity == 4 else 2)
        out[box][inside] = flooded[inside]
    return out


def objects_image(width: int, height: int, count: int = 1000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = np.zeros((height, width), np.int32)
    for k in range(1, count + 1):
        cv2.circle(labels, (int(rng.integers(0, width)), int(rng.integers(0, height))), int(rng.integers(5, 40)), k, -1)
    return labels


def run(width: int, height: int, repeats: int) -> dict:
    rows, report, identical, met = [], {}, {}, {}

    def pair(name, ours, bare, reps=repeats, *, seconds=None, ratio=None):
        """Time ``ours`` and ``bare`` in turns (ours, bare, ours, bare ...: the shared machine's load drifts
        over a minute), medians of ``reps``; with ``seconds``/``ratio``, the row's target is checked."""
        turns = [(timed(ours, 1), timed(bare, 1)) for _ in range(reps)]
        a, b = turns[-1][0][0], turns[-1][1][0]
        a_wall, a_cpu = (statistics.median(t[0][k] for t in turns) for k in (1, 2))
        b_wall, b_cpu = (statistics.median(t[1][k] for t in turns) for k in (1, 2))
        report[name] = {"ours_wall_s": a_wall, "ours_cpu_s": a_cpu, "bare_wall_s": b_wall, "bare_cpu_s": b_cpu}
        goals = []
        if seconds is not None:
            goals.append((f"<= {seconds:g} s", a_wall <= seconds))
        if ratio is not None:
            goals.append((f"<= {ratio:g}x bare", a_wall <= ratio * b_wall))
        for goal, ok in goals:
            met[f"{name}: {goal}"] = ok
        verdict = ", ".join(f"{goal}: {'met' if ok else 'MISSED'}" for goal, ok in goals) or "-"
        rows.append([name, f"{a_wall:.2f}", f"{b_wall:.2f}", f"{a_wall / b_wall:.2f}", f"{a_cpu / b_cpu:.2f}", verdict])
        print("   " + " | ".join(rows[-1]), flush=True)
        return a, b, a_wall

    for case, image, params in (("discs", discs_image(width, height), {"background_radius": 0}),
                                ("photo", make_image("rgb", width, height), {})):
        print(f"\n== {case} {width}×{height} (load average {os.getloadavg()[0]:.1f})", flush=True)
        result = seg.watershed(image, **params)
        fg, distance, recipe = result.foreground, result.distance, result.recipe
        objects = seg.label_objects(fg, recipe.connectivity)
        hmax = seg.h_maxima_seeds(distance, recipe.h)
        new, old, _ = pair(f"{case}: seed_every_object / ndi.maximum_position",
                           lambda: seg.seed_every_object(hmax, objects, distance),
                           lambda: old_seed_every_object(hmax, objects, distance))
        identical[f"{case}: seeds"] = bool(np.array_equal(new, old))
        seeds = result.markers
        a, b, _ = pair(f"{case}: flood_distance / skimage watershed",
                       lambda: seg.flood_distance(distance, seeds, fg, connectivity=recipe.connectivity),
                       lambda: sk_segmentation.watershed(-distance, seeds, mask=fg,
                                                         connectivity=1 if recipe.connectivity == 4 else 2))
        # Since issue 14 the library floods each object on its own: the reference is scikit-image called per object;
        # one whole-image call differs only in objects whose seed pixels tie (its heap breaks those ties by the
        # image's other entries), counted here.
        identical[f"{case}: flood = scikit-image per object"] = bool(np.array_equal(
            a, skimage_per_object(distance, seeds, fg, recipe.connectivity)))
        report[f"{case}: flood pixels unlike one whole-image call (tied seeds)"] = int(np.count_nonzero(a != b))
        print(f"   {case}: {np.count_nonzero(a != b)} pixels unlike one whole-image call (objects with tied seeds)")
        mask = seg.threshold(image, recipe.foreground).mask
        raw = mask.copy()
        raw[1:-1:7, 1:-1:7] = False  # holes to fill
        a, b, _ = pair(f"{case}: fill holes / ndi.binary_fill_holes", lambda: seg.clean_mask(raw, fill_holes=True),
                       lambda: ndi.binary_fill_holes(raw))
        identical[f"{case}: fill holes"] = bool(np.array_equal(a, b))
        a, b, _ = pair(f"{case}: default watershed / peak_local_max + watershed",
                       lambda: seg.watershed(image, **params), lambda: peaks_and_watershed(fg, distance),
                       seconds=2.0, ratio=2.0 if case == "photo" else None)
        identical[f"{case}: labels as before (watershed run before the timing)"] = bool(
            np.array_equal(a.labels, result.labels))
        if case == "photo":  # issue 16: a typical diameter "auto" fits on the 1024-px copy first (no target yet)
            pair(f"{case}: watershed diameter auto / default watershed", lambda: seg.watershed(image, diameter="auto"),
                 lambda: seg.watershed(image, **params))
        _, _, wall = pair(f"{case}: encode_labels png / cv2.imencode", lambda: seg.encode_labels(result.labels, "png"),
                          lambda: cv2.imencode(".png", result.labels.astype(np.uint16))[1], 1)
        met[f"{case}: labels export + watershed <= 3 s"] = wall + report[
            f"{case}: default watershed / peak_local_max + watershed"]["ours_wall_s"] <= 3.0

    labels = objects_image(width, height)
    # A 16-bit image of many levels (8-bit levels spread by noise): the 256-bin path; one of at most 256 levels
    # would take the exact few-level path, which scikit-image's 256 bins cannot match by design.
    noise = np.random.default_rng(1).integers(0, 257, (height, width), dtype=np.uint16)
    gray16 = make_image("gray", width, height).astype(np.uint16) * 256 + noise
    props = ["label", "area", "perimeter", "centroid", "bbox", "equivalent_diameter_area", "solidity"]
    a, b, _ = pair("measure (1,000 objects) / regionprops_table", lambda: seg.measure(labels),
                   lambda: measure.regionprops_table(labels, properties=props), seconds=0.3)
    identical["measure columns = regionprops_table"] = all(
        np.array_equal(a[ours], np.asarray(b[theirs], a[ours].dtype)) for ours, theirs in (
            ("label", "label"), ("area_px", "area"), ("perimeter_px", "perimeter"), ("centroid_row_px", "centroid-0"),
            ("centroid_col_px", "centroid-1"), ("bbox_max_col", "bbox-3"),
            ("equivalent_diameter_px", "equivalent_diameter_area"), ("solidity", "solidity")))
    a, b, _ = pair("multi-Otsu 5 classes 16-bit / threshold_multiotsu",
                   lambda: seg.multiotsu_thresholds(gray16, 5),
                   lambda: filters.threshold_multiotsu(gray16.astype(np.float32), classes=5), seconds=1.0)
    identical["multi-Otsu thresholds"] = bool(np.array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64)))

    print(table(rows, ["step (ours / bare)", "ours wall s", "bare wall s", "wall ratio", "CPU ratio", "target"]))
    print(table([[k, "yes" if v else "NO"] for k, v in identical.items()], ["identical", ""]))
    print(table([[k, "met" if v else "MISSED"] for k, v in met.items()], ["target", ""]))
    return {"times": report, "identical": identical, "targets_met": met, "load_average": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2000×1500 images, one repeat (a smoke run)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    width, height = (2000, 1500) if args.quick else (4000, 3000)
    payload = run(width, height, 1 if args.quick else args.repeats)
    path = write_results("full_resolution_quick" if args.quick else "full_resolution", payload)
    print(f"\nwritten {path.relative_to(ROOT)}")
    ok = all(payload["identical"].values()) and all(payload["targets_met"].values())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
