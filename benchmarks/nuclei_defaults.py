"""Nuclei defaults on the dev set: each alternative watershed rule scored against expert ground truth.

Reads the ten DSB 2018 nuclei beside the project (``../shared/devdata/dsb2018``, never committed, see its
README) and scores, per image with :func:`segmentation.score_objects`: object F1 at IoU 0.5, AP averaged
over IoU 0.5–0.95, merges and splits. Also counts the objects on ``skimage.data.coins()`` (24 coins) and
scores the bundled synthetic nuclei sample (always available).

Alternatives: a typical diameter "auto" (the recipe fitted to each image, on the image itself when its long side
is at most ``FIT_SIDE`` px, as every dev image); the defaults, fixed sizes (``diameter=0``); Li instead of Otsu;
the foreground choice alone
(:func:`segmentation.choose_foreground`); the recipe fitted per image (:func:`segmentation.fit_nuclei_recipe`:
foreground choice, typical diameter, sizes from it), and the same with h capped at 1 px; CellProfiler's nuclei
pipeline (``segmentation.WATERSHED_PRESETS["cellprofiler_nuclei"]``); a Voronoi-Otsu-like prototype (seeds at the
maxima of the intensity blurred with sigma = 0.2 × the typical diameter, flooding the blurred intensity).

Held-out check of the fitted rule: its constants (background radius = k × D, smallest object = a fraction
of a disc of diameter D, h = a fraction of D) are chosen on one half of the images (even positions) and
scored on the other half (odd positions), and the other way round; the library's constants are reported
beside them.

Run: ``python -m benchmarks.nuclei_defaults [--devdata PATH] [--no-heldout]``; writes
``benchmarks/results/nuclei_defaults.json``. Exit status 2 when the dev data is missing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage import data as skdata
from skimage import feature
from skimage import segmentation as sk_segmentation

import segmentation as seg

from .common import RESULTS, ROOT

DEFAULT_DEVDATA = ROOT.parent / "shared" / "devdata"
#: The constants of WatershedRecipe.sized() (k, fraction of the disc area, h fraction) and the grid around them.
LIBRARY_CONSTANTS = (1.0, 0.2, 0.05)
GRID = list(itertools.product((0.75, 1.0, 1.25), (0.1, 0.2), (0.0, 0.05)))


def load_dsb(devdata: Path) -> list[tuple[str, np.ndarray, np.ndarray]]:
    folder = devdata / "dsb2018"
    return [(path.stem[:8], seg.load_image(path), seg.load_image(folder / "masks" / f"{path.stem}_labels.png"))
            for path in sorted((folder / "images").glob("*.png"))]


def sized_with(recipe: seg.WatershedRecipe, diameter: float, k: float, area_fraction: float,
               h_fraction: float, h_cap: float | None = None) -> seg.WatershedRecipe:
    """WatershedRecipe.sized() with other constants (for the held-out choice); h 1 px when h_fraction is 0,
    at most ``h_cap`` when given."""
    foreground = recipe.foreground.replace(min_size=int(round(area_fraction * math.pi * diameter ** 2 / 4)),
                                           background_radius=min(1000, max(1, int(round(k * diameter)))))
    h = max(0.5, h_fraction * diameter) if h_fraction else 1.0
    return recipe.replace(foreground=foreground, h=min(h, h_cap) if h_cap else h)


class Fitted:
    """:func:`segmentation.fit_nuclei_recipe` with any constants; the first choice is computed once per image."""

    def __init__(self) -> None:
        self._first: dict[int, tuple[seg.ThresholdRecipe, int, float]] = {}

    def recipe(self, key: int, image: np.ndarray, constants: tuple[float, float, float],
               h_cap: float | None = None) -> seg.WatershedRecipe:
        base = seg.WatershedRecipe(diameter=0.0)  # the sizes set here, not fitted by the library
        if key not in self._first:
            first, _ = seg.choose_foreground(image, base)
            mask = seg.threshold(image, first).mask
            self._first[key] = (first, seg.convex_object_count(mask), round(seg.typical_diameter(mask), 1))
        first, first_count, diameter = self._first[key]
        unsized = base.replace(foreground=first)
        if diameter <= 0:
            return unsized
        sized = sized_with(base, diameter, *constants, h_cap=h_cap)
        second, _ = seg.choose_foreground(image, sized)
        if seg.convex_object_count(seg.threshold(image, second).mask) < first_count:
            return unsized
        return sized.replace(foreground=second)


def voronoi_otsu(image: np.ndarray) -> np.ndarray:
    """Voronoi-Otsu-like labelling: the default foreground; seeds at the maxima of the processed channel
    blurred with sigma 0.2·D, at least 0.3·D apart (D: typical diameter); flooding of the blurred channel."""
    found = seg.threshold(image, seg.WATERSHED_FOREGROUND)
    diameter = seg.typical_diameter(found.mask) or 10.0
    channel = found.processed.astype(np.float32)
    if found.polarity == "dark":
        channel = -channel
    blurred = ndi.gaussian_filter(channel, max(0.5, 0.2 * diameter))
    objects = seg.label_objects(found.mask)
    peaks = feature.peak_local_max(blurred, min_distance=max(1, int(round(0.3 * diameter))), labels=objects,
                                   exclude_border=False)
    seeds = np.zeros(found.mask.shape, np.int32)
    seeds[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
    seeds = seg.seed_every_object(seeds, objects, seg.distance_map(found.mask, sigma=1.0))
    return sk_segmentation.watershed(-blurred, seeds, mask=found.mask, connectivity=2).astype(np.int32)


def by_recipe(recipe: seg.WatershedRecipe):
    return lambda image: seg.watershed(image, recipe).labels


def foreground_choice(image: np.ndarray) -> np.ndarray:
    chosen, _ = seg.choose_foreground(image)
    return seg.watershed(image, seg.WatershedRecipe(foreground=chosen, diameter=0.0)).labels


def fitted_labels(image: np.ndarray) -> np.ndarray:
    return seg.watershed(image, seg.fit_nuclei_recipe(image)).labels


def fitted_h_capped(image: np.ndarray) -> np.ndarray:
    """The fitted rule with h = 0.05·D capped at 1 px (it only lowers h, for diameters under 20 px)."""
    return seg.watershed(image, Fitted().recipe(0, image, LIBRARY_CONSTANTS, h_cap=1.0)).labels


FIXED = seg.WatershedRecipe(diameter=0.0)  # the defaults: the sizes as set, not fitted

ALTERNATIVES = {
    "typical diameter auto (fitted per image)": by_recipe(seg.WatershedRecipe(diameter=None)),
    "default, fixed sizes (Otsu, top-hat 50, h-maxima h 1)": by_recipe(FIXED),
    "Li instead of Otsu (fixed sizes)": by_recipe(FIXED.replace(foreground=FIXED.foreground.replace(method="li"))),
    "foreground choice only": foreground_choice,
    "fitted: seg.fit_nuclei_recipe": fitted_labels,
    "fitted, h capped at 1 px": fitted_h_capped,
    "CellProfiler nuclei preset": by_recipe(seg.WATERSHED_PRESETS["cellprofiler_nuclei"]),
    "Voronoi-Otsu-like (intensity seeds)": voronoi_otsu,
}


def score(images, labeller) -> dict:
    rows = []
    for name, image, truth in images:
        scores = seg.score_objects(truth, labeller(image))
        rows.append({"image": name, "f1": float(scores.f1[0]), "ap": float(np.mean(scores.ap)),
                     "merges": int(scores.merges), "splits": int(scores.splits)})
    return summarise(rows)


def summarise(rows: list[dict]) -> dict:
    odd = [row for i, row in enumerate(rows) if i % 2]
    return {"f1": float(np.mean([r["f1"] for r in rows])), "ap": float(np.mean([r["ap"] for r in rows])),
            "merges": sum(r["merges"] for r in rows), "splits": sum(r["splits"] for r in rows),
            "f1_odd": float(np.mean([r["f1"] for r in odd])), "per_image": rows}


def heldout(images) -> dict:
    """Choose the fitted rule's constants on one half, score them on the other (both ways)."""
    fitted = Fitted()
    table = {}
    for constants in GRID:
        table[constants] = [float(seg.score_objects(truth, seg.watershed(image, fitted.recipe(i, image, constants))
                                                    .labels).f1[0]) for i, (_, image, truth) in enumerate(images)]
    # The mirror above with the library's constants must give the library's labels.
    mirror = all(np.array_equal(seg.watershed(image, fitted.recipe(i, image, LIBRARY_CONSTANTS)).labels,
                                fitted_labels(image)) for i, (_, image, _) in enumerate(images))
    result: dict = {"mirror matches the library": mirror}
    for chosen_on, scored_on in (("even", "odd"), ("odd", "even")):
        pick = 0 if chosen_on == "even" else 1
        best = max(GRID, key=lambda c: np.mean(table[c][pick::2]))
        result[f"chosen on {chosen_on}"] = {"constants": best, f"f1 {chosen_on}": float(np.mean(table[best][pick::2])),
                                            f"f1 {scored_on} (held out)": float(np.mean(table[best][1 - pick::2]))}
    result["grid"] = {str(c): float(np.mean(v)) for c, v in table.items()}
    return result


def samples(labeller) -> dict:
    coins = int(labeller(skdata.coins()).max())
    nuclei = seg.load_sample("nuclei")
    synthetic = seg.score_objects(seg.sample_ground_truth("nuclei"), labeller(nuclei))
    return {"coins": coins, "synthetic_f1": float(synthetic.f1[0]), "synthetic_ap": float(np.mean(synthetic.ap))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devdata", type=Path, default=DEFAULT_DEVDATA)
    parser.add_argument("--no-heldout", action="store_true", help="skip the held-out choice of constants")
    args = parser.parse_args(argv)
    if not (args.devdata / "dsb2018" / "images").is_dir():
        print(f"no DSB 2018 dev data under {args.devdata}: nothing to score", file=sys.stderr)
        return 2
    images = load_dsb(args.devdata)
    report: dict = {"images": [name for name, _, _ in images], "alternatives": {}}
    print(f"{'alternative':46s} {'F1@0.5':>7s} {'AP':>6s} {'merges':>6s} {'splits':>6s} {'F1 odd':>7s} "
          f"{'coins':>5s} {'synth F1':>8s}  s")
    for name, labeller in ALTERNATIVES.items():
        start = time.perf_counter()
        row = {**score(images, labeller), **samples(labeller)}
        row["seconds"] = round(time.perf_counter() - start, 1)
        report["alternatives"][name] = row
        print(f"{name:46s} {row['f1']:7.3f} {row['ap']:6.3f} {row['merges']:6d} {row['splits']:6d} "
              f"{row['f1_odd']:7.3f} {row['coins']:5d} {row['synthetic_f1']:8.3f}  {row['seconds']:.0f}", flush=True)
        print("    per image F1:", " ".join(f"{r['f1']:.2f}" for r in row["per_image"]), flush=True)
    if not args.no_heldout:
        report["heldout"] = heldout(images)
        for key, value in report["heldout"].items():
            if key != "grid":
                print(f"held-out, {key}: {value}")
        print("grid (k, fraction of the disc area, h fraction) -> mean F1@0.5:",
              ", ".join(f"{key} {value:.3f}" for key, value in report["heldout"]["grid"].items()))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "nuclei_defaults.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
