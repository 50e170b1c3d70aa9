"""Object-level scores of the default watershed on the DSB 2018 nuclei, checked against a second implementation.

Reads the development data beside the project (``../shared/devdata/dsb2018``, never copied into the repo,
see its README), runs ``segmentation.watershed`` with its defaults on each image, and prints
``segmentation.score_objects``' table per image (IoU 0.5–0.95), the means over the images, and how far
the scores lie from an independent re-implementation of StarDist's ``matching`` (a dense contingency
table built with ``np.add.at``, a dense IoU matrix and one ``linear_sum_assignment`` on StarDist's cost
``-(IoU >= t) - IoU / (2 n)`` per threshold).

Run: ``python -m benchmarks.score_check [--devdata PATH]`` (a script, not a test: prints, writes nothing).
Exit status 0 when every count agrees and every score is within 1e-9; 1 otherwise; 2 without the data.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

import segmentation as seg

DEFAULT_DEVDATA = Path(__file__).resolve().parent.parent.parent / "shared" / "devdata"
THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
FIELDS = ("precision", "recall", "f1", "ap", "mean_matched_iou")


def stardist_like(truth: np.ndarray, pred: np.ndarray, thresholds=THRESHOLDS) -> dict:
    """StarDist's matching, rewritten densely: every id renumbered 1..N, an (N+1)×(M+1) overlap table."""
    t_ids, t = np.unique(truth, return_inverse=True)
    p_ids, p = np.unique(pred, return_inverse=True)
    t = t.reshape(truth.shape) + (0 if t_ids[0] == 0 else 1)  # 0 stays the background
    p = p.reshape(pred.shape) + (0 if p_ids[0] == 0 else 1)
    overlap = np.zeros((t.max() + 1, p.max() + 1), np.int64)
    np.add.at(overlap, (t.ravel(), p.ravel()), 1)
    true_area, pred_area = overlap.sum(axis=1, keepdims=True), overlap.sum(axis=0, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = (overlap / (true_area + pred_area - overlap))[1:, 1:]
    scores = np.nan_to_num(scores)
    n_true, n_pred = scores.shape
    n_matched = min(n_true, n_pred)
    out = {name: [] for name in ("tp", *FIELDS)}
    for thr in thresholds:
        tp, matched_sum = 0, 0.0
        if n_matched:
            costs = -(scores >= thr).astype(float) - scores / (2 * n_matched)
            rows, cols = linear_sum_assignment(costs)
            ok = scores[rows, cols] >= thr
            tp, matched_sum = int(np.count_nonzero(ok)), float(scores[rows, cols][ok].sum())
        fp, fn = n_pred - tp, n_true - tp
        out["tp"].append(tp)
        out["precision"].append(tp / (tp + fp) if tp else 0.0)
        out["recall"].append(tp / (tp + fn) if tp else 0.0)
        out["f1"].append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
        out["ap"].append(tp / (tp + fp + fn) if tp else 0.0)
        out["mean_matched_iou"].append(matched_sum / tp if tp else 0.0)
    inside = overlap[1:, 1:]
    out["merges"] = int(np.count_nonzero((2 * inside > true_area[1:]).sum(axis=0) >= 2))
    out["splits"] = int(np.count_nonzero((2 * inside > pred_area[:, 1:]).sum(axis=1) >= 2))
    return out


def table(result: seg.ObjectScores) -> str:
    head = f"{'IoU':>5} {'TP':>4} {'FP':>4} {'FN':>4} {'prec':>6} {'recall':>6} {'F1':>6} {'AP':>6} {'mIoU':>6}"
    lines = [head]
    for r in result.to_records():
        lines.append(f"{r['threshold']:5.2f} {r['tp']:4d} {r['fp']:4d} {r['fn']:4d} {r['precision']:6.3f} "
                     f"{r['recall']:6.3f} {r['f1']:6.3f} {r['ap']:6.3f} {r['mean_matched_iou']:6.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devdata", type=Path, default=DEFAULT_DEVDATA)
    args = parser.parse_args(argv)
    folder = args.devdata / "dsb2018"
    paths = sorted((folder / "images").glob("*.png"))
    if not paths:
        print(f"no DSB 2018 images under {folder}: nothing to score", file=sys.stderr)
        return 2

    results, worst, counts_agree, seconds = [], 0.0, True, [0.0, 0.0]
    for path in paths:
        image = seg.load_image(path)
        truth = seg.load_image(folder / "masks" / f"{path.stem}_labels.png").astype(np.int32)
        labels = seg.watershed(image).labels
        start = time.perf_counter()
        result = seg.score_objects(truth, labels)
        seconds[0] += time.perf_counter() - start
        start = time.perf_counter()
        reference = stardist_like(truth, labels)
        seconds[1] += time.perf_counter() - start
        results.append(result)

        counts_agree &= list(result.tp) == reference["tp"]
        counts_agree &= (result.merges, result.splits) == (reference["merges"], reference["splits"])
        for name in FIELDS:
            ours = [0.0 if math.isnan(v) else v for v in getattr(result, name)]  # StarDist's 0 for "no match"
            worst = max(worst, max(abs(a - b) for a, b in zip(ours, reference[name])))
        f1_strict = seg.object_f1(labels, truth)["f1"]
        print(f"\n{path.stem[:16]}  true {result.n_true}, found {result.n_pred}, merges {result.merges}, "
              f"splits {result.splits}; mean AP (DSB score) {result.mean_ap:.3f}, mean F1 {result.mean_f1:.3f}; "
              f"object_f1 at 0.5 {f1_strict:.3f}")
        print(table(result))

    print(f"\nmean over {len(results)} images (each image weighs the same):")
    print(f"{'IoU':>5} {'prec':>6} {'recall':>6} {'F1':>6} {'AP':>6} {'mIoU':>6}")
    for i, threshold in enumerate(THRESHOLDS):
        means = [np.mean([getattr(r, name)[i] for r in results]) for name in ("precision", "recall", "f1", "ap")]
        matched = [r.mean_matched_iou[i] for r in results if r.tp[i]]
        miou = float(np.mean(matched)) if matched else math.nan
        print(f"{threshold:5.2f} " + " ".join(f"{m:6.3f}" for m in means) + f" {miou:6.3f}")
    print(f"mean AP over 0.5-0.95 (DSB 2018 score): {np.mean([r.mean_ap for r in results]):.4f}")
    print(f"mean F1 over 0.5-0.95: {np.mean([r.mean_f1 for r in results]):.4f}; "
          f"F1 at 0.5: {np.mean([r.f1[0] for r in results]):.4f}")
    print(f"merges {sum(r.merges for r in results)}, splits {sum(r.splits for r in results)} in all")
    print(f"\nagreement with the dense StarDist-style re-implementation: counts (TP per threshold, merges, splits) "
          f"{'identical' if counts_agree else 'DIFFER'}; largest |difference| of {', '.join(FIELDS)}: {worst:.3g}")
    print(f"time for all images: score_objects {seconds[0]:.3f} s, dense reference {seconds[1]:.3f} s")
    return 0 if counts_agree and worst <= 1e-9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
