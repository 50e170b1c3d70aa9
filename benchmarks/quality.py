"""Quality of the default recipes on real images with expert ground truth.

Reads the development data beside the project (``../shared/devdata``, never committed, see its README):

* DSB 2018 nuclei — object F1 at IoU 0.5 (averaged per image) of the default watershed, against
  Otsu + connected components (the baseline the data's README quotes) and the OpenCV tutorial's
  watershed (sure foreground at 0.7 × the maximum distance);
* H-DIBCO 2016 documents — F-measure on ink pixels of the default local recipes (Sauvola, adaptive)
  against Otsu.

Also scores the bundled synthetic nuclei sample against its truth (always available).

Run: ``python -m benchmarks.quality [--devdata PATH]``; writes ``benchmarks/results/quality.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from skimage.segmentation import relabel_sequential

import segmentation as seg
from segmentation import load_image, load_sample, mask_agreement, object_f1, sample_ground_truth

from .common import RESULTS, ROOT

DEFAULT_DEVDATA = ROOT.parent / "shared" / "devdata"


def otsu_components(image: np.ndarray) -> np.ndarray:
    mask = seg.threshold(image, "otsu").mask
    return cv2.connectedComponents(mask.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)[1]


def tutorial_watershed(image: np.ndarray) -> np.ndarray:
    """The OpenCV tutorial's pipeline (Otsu, opening, sure background by dilation, sure foreground at
    0.7 × max distance, cv2.watershed), with the int32-marker and 3-channel fixes it needs to run."""
    gray = seg.extract_channel(seg.as_image(image), "luminance")
    gray8, _, _ = seg.to_uint8(gray)
    polarity = seg.resolve_polarity(gray8, "auto")
    kind = cv2.THRESH_BINARY if polarity == "bright" else cv2.THRESH_BINARY_INV
    _, thresh = cv2.threshold(gray8, 0, 255, kind | cv2.THRESH_OTSU)
    kernel = np.ones((3, 3), np.uint8)
    opening = cv2.morphologyEx(thresh, cv2.MORPH_OPEN, kernel, iterations=2)
    sure_bg = cv2.dilate(opening, kernel, iterations=3)
    dist = cv2.distanceTransform(opening, cv2.DIST_L2, 5)
    _, sure_fg = cv2.threshold(dist, 0.7 * dist.max(), 255, 0)
    sure_fg = sure_fg.astype(np.uint8)
    unknown = cv2.subtract(sure_bg, sure_fg)
    _, markers = cv2.connectedComponents(sure_fg)
    markers = markers + 1
    markers[unknown == 255] = 0
    markers = cv2.watershed(cv2.cvtColor(gray8, cv2.COLOR_GRAY2BGR), markers.astype(np.int32))
    markers[markers <= 1] = 0
    return relabel_sequential(markers)[0].astype(np.int32)


def nuclei_report(devdata: Path) -> dict:
    folder = devdata / "dsb2018"
    methods = {
        "default watershed": lambda im: seg.watershed(im).labels,
        # The same images as a 12-bit camera would store them in a 16-bit TIFF (gray, values x 16).
        "default watershed on 12-bit-in-16-bit copies": lambda im: seg.watershed(
            seg.extract_channel(seg.as_image(im), "luminance").astype(np.uint16) * 16).labels,
        "Otsu + connected components": otsu_components,
        "OpenCV tutorial watershed": tutorial_watershed,
    }
    scores = {name: [] for name in methods}
    for path in sorted((folder / "images").glob("*.png")):
        image = load_image(path)
        truth = load_image(folder / "masks" / f"{path.stem}_labels.png").astype(np.int32)
        for name, method in methods.items():
            scores[name].append(object_f1(method(image), truth)["f1"])
    return {"images": len(scores["default watershed"]),
            "object_f1_at_iou_0.5": {name: round(float(np.mean(v)), 4) for name, v in scores.items()}}


def document_report(devdata: Path) -> dict:
    folder = devdata / "hdibco2016_partial"
    recipes = {
        "Otsu": seg.ThresholdRecipe(method="otsu", polarity="dark"),
        "Sauvola (window 51, k 0.2; default)": seg.ThresholdRecipe(method="sauvola", polarity="dark"),
        "Sauvola (window 51, k 0.15; page sample)": seg.ThresholdRecipe(method="sauvola", k=0.15, polarity="dark"),
        "Sauvola (window 25, k 0.2)": seg.ThresholdRecipe(method="sauvola", window=25, polarity="dark"),
        "Adaptive mean (block 51, offset 20; default)": seg.ThresholdRecipe(method="adaptive_mean", polarity="dark"),
        "Adaptive Gaussian (block 51, offset 20; default)": seg.ThresholdRecipe(method="adaptive_gaussian",
                                                                               polarity="dark"),
        "Niblack (window 51, k 0.2; default)": seg.ThresholdRecipe(method="niblack", polarity="dark"),
        "Sauvola, polarity auto": seg.ThresholdRecipe(method="sauvola"),
    }
    scores = {name: [] for name in recipes}
    for path in sorted((folder / "images").glob("*.png")):
        image = load_image(path)
        ink = load_image(folder / "masks" / f"{path.stem}_gt.png")
        ink = (ink if ink.ndim == 2 else ink[..., 0]) == 0
        for name, recipe in recipes.items():
            scores[name].append(100 * mask_agreement(seg.threshold(image, recipe).mask, ink)["dice"])
    return {"images": len(scores["Otsu"]),
            "ink_f_measure": {name: round(float(np.mean(v)), 2) for name, v in scores.items()}}


def synthetic_report() -> dict:
    image, truth = load_sample("nuclei"), sample_ground_truth("nuclei")
    start = time.perf_counter()
    labels = seg.watershed(image).labels
    seconds = time.perf_counter() - start
    f1 = object_f1(labels, truth)
    return {"true_nuclei": int(truth.max()), "found": int(labels.max()), "object_f1_at_iou_0.5": round(f1["f1"], 4),
            "otsu_components_f1": round(object_f1(otsu_components(image), truth)["f1"], 4),
            "seconds": round(seconds, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devdata", type=Path, default=DEFAULT_DEVDATA)
    args = parser.parse_args(argv)
    report: dict = {"synthetic_nuclei_sample": synthetic_report()}
    if args.devdata.is_dir():
        report["dsb2018_nuclei"] = nuclei_report(args.devdata)
        report["hdibco2016_documents"] = document_report(args.devdata)
    else:
        print(f"{args.devdata} not found: only the bundled synthetic sample is scored", file=sys.stderr)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "quality.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
