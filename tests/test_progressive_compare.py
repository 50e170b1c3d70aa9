"""Compare's numbers are progressive (#10 review, finding 1): the preview's first, marked "≈", then the library's at
full resolution, replaced automatically as on the other pages.

A synthetic scanned document (1500×2025, dark strokes on paper, with its ink mask as the truth) is uploaded; the
live view works on a 51 % preview, where Otsu's and Triangle's thresholds, foregrounds and Dice differ from the
full-resolution ones. The test parks the pool's only worker to see the page before the job has run (every number of
the result table marked), then reruns until the job is in (as the fragment's timer would) and compares every number
with ``segmentation`` on the whole image.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pytest

import segmentation as seg
from tests.app_helpers import assert_ok, captions, png_bytes, run, tiff_bytes, upload
from tests.test_progressive import wait_for_jobs, worker_parked

METHODS = ["otsu", "triangle"]
LABELS = {"otsu": "Otsu", "triangle": "Triangle"}


def make_document(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(1500 wide × 2025 high uint8 scan, its ink mask): lines of thin dark strokes on bright noisy paper."""
    rng = np.random.default_rng(seed)
    h, w = 2025, 1500
    truth = np.zeros((h, w), bool)
    for top in range(120, h - 120, 48):
        x = 100
        while x < w - 160:
            for _ in range(int(rng.integers(3, 9))):
                cw = int(rng.integers(8, 16))
                truth[top:top + int(rng.integers(16, 26)), x:x + 2] = True
                truth[top:top + 2, x:x + cw] = True
                truth[top + 10:top + 12, x:x + cw] = True
                x += cw + 4
            x += int(rng.integers(14, 30))
    doc = np.where(truth, 40, 245).astype(np.float32) + rng.normal(0, 6, (h, w))
    return np.clip(doc, 0, 255).astype(np.uint8), truth


DOC, INK = make_document()


def shown(at, index: int = 0):
    """The table as displayed (the Styler's display values: "≈ 0.912"), indexed like the data."""
    proto = at.dataframe[index].proto.arrow_data
    frame = pa.ipc.open_stream(proto.styler.display_values).read_all().to_pandas()
    return frame.set_axis(at.dataframe[index].value.index)


def doc_page(full: bool = False):
    at = run("compare", query={"methods": METHODS, **({"full": "true"} if full else {})})
    at = upload(at, "doc.png", png_bytes(DOC), mime="image/png")
    return upload(at, "doc_mask.png", png_bytes(INK.astype(np.uint8) * 255), key="truth", mime="image/png")


def expected_rows() -> dict[str, dict]:
    rows = {}
    for method in METHODS:
        result = seg.threshold(DOC, seg.ThresholdRecipe(method=method))
        rows[LABELS[method]] = {"threshold": result.thresholds[0], "fg": 100 * float(result.mask.mean()),
                                "objects": int(seg.label_objects(result.mask).max()),
                                **seg.mask_agreement(result.mask, INK)}
    return rows


def rerun_until_final(at, tries: int = 200):
    for _ in range(tries):
        wait_for_jobs()
        at.run()
        if not any(str(v).startswith("≈") for v in shown(at)["dice"]):
            return at
    raise AssertionError(f"still preview estimates: {shown(at)}")


def test_compare_numbers_are_marked_then_replaced_by_the_full_resolution_ones():
    expected = expected_rows()
    preview, _ = seg.downscale(DOC, 1024)
    preview_triangle = seg.threshold(preview, seg.ThresholdRecipe(method="triangle"))
    assert preview_triangle.thresholds[0] != expected["Triangle"]["threshold"]  # the preview's differ
    with worker_parked():
        at = doc_page()
        assert_ok(at)
        table = shown(at)
        for column in ("threshold", "foreground %", "objects", "dice", "iou", "precision", "recall"):
            assert all(str(v).startswith("≈ ") for v in table[column]), (column, table[column])
        assert table.loc["Triangle", "threshold"] == f"≈ {preview_triangle.thresholds[0]:.0f}"
        assert any("computing at full resolution" in c for c in captions(at)), captions(at)
        assert any(c.startswith("Triangle — ≈ ") for c in captions(at)), captions(at)  # the grid's count too
        assert chart(at)[1]["title"].startswith("≈ ")  # the agreement matrix of the preview, marked
    at = rerun_until_final(at)
    assert_ok(at)
    data, table = at.dataframe[0].value, shown(at)
    for name, want in expected.items():
        assert table.loc[name, "threshold"] == f"{want['threshold']:.0f}"
        assert data.loc[name, "foreground %"] == pytest.approx(want["fg"])
        assert data.loc[name, "objects"] == want["objects"]
        for score in ("dice", "iou", "precision", "recall"):
            assert data.loc[name, score] == pytest.approx(want[score]), (name, score)
            assert not str(table.loc[name, score]).startswith("≈")
    assert any(c == "At full resolution." for c in captions(at))
    # Each column's caption under the grid gives the full-resolution count and threshold, unmarked (#10 review:
    # they kept the preview's "≈ 632 objects, t ≈ 229")
    for name, want in expected.items():
        grid = [c for c in captions(at) if c.startswith(f"{name} — ")]
        assert len(grid) == 1 and "≈" not in grid[0], captions(at)
        assert grid[0].startswith(f"{name} — {want['objects']:,} object"), grid
        assert grid[0].endswith(f", t = {table.loc[name, 'threshold']}"), grid
    # The agreement matrix at full resolution: the pixel IoU of the two full masks, unmarked.
    frame, spec = chart(at)
    otsu, triangle = (seg.threshold(DOC, seg.ThresholdRecipe(method=m)).mask for m in METHODS)
    iou = float(np.logical_and(otsu, triangle).sum() / np.logical_or(otsu, triangle).sum())
    assert frame.loc[(frame.a == "Otsu") & (frame.b == "Triangle"), "IoU"].item() == pytest.approx(iou)
    assert "title" not in spec


def chart(at):
    """(data, spec) of the page's agreement heatmap."""
    proto = at.get("vega_lite_chart")[0].proto
    return pa.ipc.open_stream(proto.datasets[0].data.data).read_all().to_pandas(), json.loads(proto.spec)


def test_compare_final_numbers_equal_the_full_resolution_toggle():
    """The automatic numbers and the "compute everything at full resolution now" toggle agree exactly."""
    auto = rerun_until_final(doc_page())
    full = doc_page(full=True)
    assert_ok(full)
    assert shown(auto).drop(columns=["time (ms)"]).equals(shown(full).drop(columns=["time (ms)"]))


def test_object_scores_and_agreement_follow_to_full_resolution():
    """With instance labels as the truth, the object score table is marked, then the library's at full size."""
    nuclei = seg.load_sample("nuclei")
    truth = seg.sample_ground_truth("nuclei")
    with worker_parked():
        at = run("compare", query={"sample": "nuclei", "preview": "512", "methods": ["otsu", "li"],
                                   "agreement": "Objects (F1 at IoU 0.5)"})
        at = upload(at, "labels.tif", tiff_bytes(truth.astype(np.uint16)), key="truth", mime="image/tiff")
        assert_ok(at)
        scores = shown(at, 1)
        assert all(str(v).startswith("≈ ") for v in scores["F1@0.5"]), scores
        assert any("preview estimates" in c for c in captions(at))
    at = rerun_until_final(at)
    assert_ok(at)
    data = at.dataframe[1].value
    for method, label in (("otsu", "Otsu"), ("li", "Li (minimum cross-entropy)")):
        s = seg.score_objects(truth, seg.threshold(nuclei, method).mask)
        assert data.loc[label, "F1@0.5"] == pytest.approx(s.f1[0])
        assert (data.loc[label, "TP"], data.loc[label, "FP"], data.loc[label, "FN"]) == (s.tp[0], s.fp[0], s.fn[0])
        assert not str(shown(at, 1).loc[label, "F1@0.5"]).startswith("≈")
    # The agreement matrix the link asked for (objects) is the full-resolution one too, unmarked.
    frame, spec = chart(at)
    assert "title" not in spec and spec["layer"][0]["encoding"]["color"]["field"] == "F1"
    otsu, li = (seg.threshold(nuclei, m).mask for m in ("otsu", "li"))
    f1 = seg.score_objects(seg.label_objects(otsu), seg.label_objects(li), thresholds=(0.5,)).f1[0]
    assert frame.loc[(frame.a == "Otsu") & (frame.b == "Li"), "F1"].item() == pytest.approx(f1)


def test_doc_helpers_are_images_of_the_right_size():
    assert DOC.shape == (2025, 1500) and INK.shape == DOC.shape
    assert seg.load_image(io.BytesIO(png_bytes(DOC)).getvalue()).shape == DOC.shape


def test_the_error_legend_follows_to_full_resolution():
    """The error overlay's legend counts become the full-resolution ones, as the object table's do (a reviewer
    saw "missed ≈ 934" beside a full-resolution table saying FN 0)."""
    import re

    nuclei = seg.load_sample("nuclei")
    truth = seg.sample_ground_truth("nuclei")
    at = run("compare", query={"sample": "nuclei", "preview": "512", "methods": ["otsu", "li"]})
    at = upload(at, "labels.tif", tiff_bytes(truth.astype(np.uint16)), key="truth", mime="image/tiff")
    at = rerun_until_final(at)
    assert_ok(at)
    legends = [e.proto.body for e in at.get("html") if "data-error='missed'" in e.proto.body]
    assert len(legends) == 1 and "≈" not in legends[0], legends
    # Said once under each view of its own: the results table, the agreement chart, the object scores (the
    # legend's counts are the object table's, and a second "At full resolution." under them read as a stutter).
    assert captions(at).count("At full resolution.") == 3, captions(at)
    chosen = at.selectbox(key="errors_of").value
    mask = seg.threshold(nuclei, "otsu" if "otsu" in chosen else "li").mask
    s = seg.score_objects(truth, mask)
    missed = int(re.search(r"data-error='missed'>.*?<b>(\d+)</b>", legends[0]).group(1))
    matched = int(re.search(r"data-error='matched'>.*?<b>(\d+)</b>", legends[0]).group(1))
    assert (matched, missed) == (len(s.matched), len(s.missed_ids))
