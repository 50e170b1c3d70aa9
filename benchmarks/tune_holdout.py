"""Does a tuned recipe keep its gain on images the search did not see? The README's held-out figure.

Reads the DSB 2018 nuclei beside the project (``../shared/devdata/dsb2018``: ten images with expert instance
labels; never committed, see its README), sorted by file name: the first half is for tuning, the second half
is held out. The start recipe is the library's default :class:`segmentation.WatershedRecipe`; the search is
:func:`segmentation.batch.search`, the seeded random search of ``python -m segmentation tune`` (the start
recipe is evaluation 0, then ``--budget - 1`` draws over the ranges of the recipe's specs), maximising the mean
object F1 at IoU 0.5 over the tuning half. The default and the tuned recipe are then scored on both halves
(mean F1 at IoU 0.5 and mean AP over IoU 0.5-0.95, per image then averaged, by the
search itself with a budget of one, so exactly as ``tune`` scores) and printed as a table, one
row per seed.

Run: ``python -m benchmarks.tune_holdout [--budget 40] [--seeds 0 1 2] [--devdata PATH]``; also writes
``benchmarks/results/tune_holdout.json``. Exit status 2 when the dev data is missing. On this 2-core shared
machine one seed with budget 40 takes about two minutes (one process).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import segmentation as seg
from segmentation.batch import best_row, objects_of, search

from .common import RESULTS, ROOT

DEFAULT_DEVDATA = ROOT.parent / "shared" / "devdata"


def load_halves(devdata: Path) -> tuple[list, list]:
    """(tuning half, held-out half) of the dev nuclei: ``(name, image, true labels)``, sorted by file name."""
    folder = devdata / "dsb2018"
    data = []
    for path in sorted((folder / "images").glob("*.png")):
        truth, _ = objects_of(seg.load_image(folder / "masks" / f"{path.stem}_labels.png"))
        data.append((path.name, seg.load_image(path), truth))  # as the tune command reads them
    half = len(data) // 2
    return data[:half], data[half:]


def mean_scores(recipe, data: list) -> tuple[float, float]:
    """(mean object F1 at IoU 0.5, mean AP over IoU 0.5-0.95) of ``recipe`` over ``data``, as ``tune`` scores."""
    _, _, rows = search(recipe, data, 1)  # budget 1: the start recipe only, scored exactly as in the search
    return rows[0]["f1_iou50"], rows[0]["mean_ap"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devdata", type=Path, default=DEFAULT_DEVDATA)
    parser.add_argument("--budget", type=int, default=40, help="evaluations per search (default 40)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="search seeds (default 0)")
    args = parser.parse_args(argv)
    if not (args.devdata / "dsb2018" / "images").is_dir():
        print(f"no dev nuclei in {args.devdata / 'dsb2018'}; see ../shared/devdata/README.md", file=sys.stderr)
        return 2
    train, held = load_halves(args.devdata)
    print(f"tuning on {len(train)} images ({train[0][0][:8]}…–{train[-1][0][:8]}…), held out {len(held)} "
          f"({held[0][0][:8]}…–{held[-1][0][:8]}…); start: default WatershedRecipe; budget {args.budget}")
    default = seg.WatershedRecipe()
    default_train, default_held = mean_scores(default, train), mean_scores(default, held)
    results = []
    header = (f"{'seed':>4} | {'train F1 default':>16} {'tuned':>6} | {'held-out F1 default':>19} {'tuned':>6} | "
              f"{'held-out mean AP default':>24} {'tuned':>6} | tuned recipe")
    print(header)
    print("-" * len(header))
    for seed in args.seeds:
        started = time.perf_counter()
        recipes, _, rows = search(default, train, args.budget, seed)
        best = best_row(rows)
        tuned = recipes[best["evaluation"]]
        tuned_train = (best["f1_iou50"], best["mean_ap"])
        tuned_held = mean_scores(tuned, held)
        flat = " ".join(f"{k}={v}" for k, v in tuned.to_flat().items()) or "(the default)"
        print(f"{seed:>4} | {default_train[0]:>16.3f} {tuned_train[0]:>6.3f} | {default_held[0]:>19.3f} "
              f"{tuned_held[0]:>6.3f} | {default_held[1]:>24.3f} {tuned_held[1]:>6.3f} | {flat}", flush=True)
        results.append({"seed": seed, "budget": args.budget, "seconds": round(time.perf_counter() - started, 1),
                        "best_evaluation": best["evaluation"], "tuned_recipe": tuned.to_flat(),
                        "train_f1": {"default": default_train[0], "tuned": tuned_train[0]},
                        "train_mean_ap": {"default": default_train[1], "tuned": tuned_train[1]},
                        "heldout_f1": {"default": default_held[0], "tuned": tuned_held[0]},
                        "heldout_mean_ap": {"default": default_held[1], "tuned": tuned_held[1]}})
    gains = np.array([r["heldout_f1"]["tuned"] - r["heldout_f1"]["default"] for r in results])
    print(f"held-out F1 gain of the tuned recipe: {', '.join(f'{g:+.3f}' for g in gains)} "
          f"(seeds {', '.join(map(str, args.seeds))})")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tune_holdout.json").write_text(json.dumps(
        {"train": [name for name, _, _ in train], "heldout": [name for name, _, _ in held], "runs": results},
        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
