"""A generated script prints its results and nothing else, also on images of very few grey levels.

On a 16-bit image of 2 or 3 grey levels, scikit-image's multi-Otsu failed with advice about its ``nbins``
argument (which the script does not offer) and the Minimum method's message was shorter than the library's.
The reference is the library (``seg.threshold``, ``seg.watershed``): the same mask or labels when it succeeds,
its own message (``error: FILE: message``, exit status 1) when it refuses the image.
"""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tifffile

import segmentation as seg
from segmentation.export import to_python

#: Background 0, a 20 x 30 object 1 and a 15 x 25 object 2 (level indices).
_LAYOUT = np.zeros((60, 80), np.uint8)
_LAYOUT[10:30, 10:40] = 1
_LAYOUT[40:55, 50:75] = 2

IMAGES = {
    "three_wide": (1000, 30000, 60000),  # 16-bit, 3 levels far apart
    "three_close": (100, 101, 102),  # 3 adjacent levels
    "three_merged": (7, 8, 40000),  # 3 levels, two of which 256 bins over the range would merge
    "two": (1000, 30000, 30000),  # 2 levels
}
RECIPES = {
    "minimum": seg.ThresholdRecipe(method="minimum", polarity="bright"),
    "triangle": seg.ThresholdRecipe(method="triangle", polarity="bright"),
    "multiotsu3": seg.ThresholdRecipe(method="multiotsu", classes=3, polarity="bright"),
    "multiotsu4": seg.ThresholdRecipe(method="multiotsu", classes=4, polarity="bright"),
}
CASES = [(image, recipe, kind) for image in IMAGES for recipe in RECIPES for kind in ("threshold", "watershed")]


def _recipe(name: str, kind: str):
    foreground = RECIPES[name]
    if kind == "threshold":
        return foreground
    return seg.WatershedRecipe(foreground=foreground.replace(background_radius=0))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("quiet")
    for name, levels in IMAGES.items():
        tifffile.imwrite(folder / f"{name}.tif", np.array(levels, np.uint16)[_LAYOUT])

    def run(case):
        image, recipe, kind = case
        script = folder / f"{recipe}_{kind}_{image}.py"
        script.write_text(to_python(_recipe(recipe, kind)), encoding="utf-8")
        done = subprocess.run([sys.executable, str(script), str(folder / f"{image}.tif"), str(folder / script.stem)],
                              capture_output=True, text=True, timeout=120, cwd=folder)
        return case, done

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        return folder, dict(pool.map(run, CASES))


def test_the_cases_include_results_and_refusals(runs):
    _, done = runs
    codes = {d.returncode for d in done.values()}
    assert codes == {0, 1}  # both paths are exercised


@pytest.mark.parametrize(("image", "recipe", "kind"), CASES, ids=["-".join(case) for case in CASES])
def test_the_script_prints_the_librarys_result_and_nothing_else(runs, image, recipe, kind):
    folder, done = runs
    done = done[image, recipe, kind]
    pixels = np.array(IMAGES[image], np.uint16)[_LAYOUT]
    path = folder / f"{image}.tif"
    try:
        if kind == "threshold":
            expected = seg.threshold(pixels, _recipe(recipe, kind)).mask
            count = cv2.connectedComponents(expected.view(np.uint8), connectivity=8)[0] - 1
        else:
            expected = seg.watershed(pixels, _recipe(recipe, kind)).labels
            count = int(expected.max())
    except seg.SegmentationError as error:
        assert done.returncode == 1
        assert done.stdout == ""
        assert done.stderr == f"error: {path}: {error}\n"  # the library's words, no scikit-image advice
        return
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.startswith(f"{count} objects") and len(done.stdout.splitlines()) == 1
    out = folder / f"{recipe}_{kind}_{image}"
    if kind == "threshold":
        written = cv2.imread(str(out / f"{image}_mask.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(written == 255, expected)
    else:
        written = cv2.imread(str(out / f"{image}_labels.png"), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(written.astype(np.int32), expected)
