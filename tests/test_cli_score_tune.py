"""``python -m segmentation score`` and ``tune``: hand-computed scores, file matching, the search, usage errors.

All data is drawn here: rectangles whose IoUs are simple fractions, and small synthetic nuclei images.
"""

from __future__ import annotations

import csv
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import tifffile
from cli_helpers import run_cli as run
from cli_helpers import run_cli_in_process

import segmentation as seg


@pytest.fixture
def cli(monkeypatch, capsys):
    """The command run in this process (faster): returns (exit status, stdout, stderr)."""
    return lambda *args, cwd: run_cli_in_process(*args, cwd=cwd, monkeypatch=monkeypatch, capsys=capsys)


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def by_file(rows: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for row in rows:
        grouped.setdefault(Path(row["file"]).name, []).append(row)
    return grouped


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(seg.encode_labels(array, "png") if array.dtype != np.uint8 else seg.encode_png(array))


# -- hand-made truth and predictions ---------------------------------------------------------------------
# Image x (truth: a 16-bit label image): four 8×8 squares, B and C touching (so only labels keep them apart).
X_TRUTH = np.zeros((30, 40), np.uint16)
X_TRUTH[2:10, 2:10] = 1  # A
X_TRUTH[2:10, 12:20] = 2  # B
X_TRUTH[2:10, 20:28] = 3  # C, touching B
X_TRUTH[14:22, 2:10] = 4  # D
# Prediction: A one column short (IoU 56/64 = 0.875), B and C merged into one object reaching one column
# further (IoU 64/136 < 0.5 with each), D missed, one false object.
X_PRED = np.zeros((30, 40), np.uint16)
X_PRED[2:10, 2:9] = 1
X_PRED[2:10, 12:29] = 2
X_PRED[14:18, 20:24] = 3
# Image y (truth: a 0/255 mask): a 10×20 object and a 6×6 one. The prediction splits the big one 120 + 80 px
# (IoUs 0.6 and 0.4) and finds the small one exactly.
Y_TRUTH = np.zeros((30, 40), np.uint8)
Y_TRUTH[2:12, 2:22] = 255
Y_TRUTH[14:20, 2:8] = 255
Y_PRED = np.zeros((30, 40), np.int32)
Y_PRED[2:12, 2:14] = 5
Y_PRED[2:12, 14:22] = 9
Y_PRED[14:20, 2:8] = 7

DSB = [0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95]
# (tp, fp, fn) per threshold, by hand
X_COUNTS = {t: (1, 2, 3) if t <= 0.875 else (0, 3, 4) for t in DSB}
Y_COUNTS = {t: (2, 1, 0) if t <= 0.6 else (1, 2, 1) for t in DSB}


def ap(tp, fp, fn):
    return Fraction(tp, tp + fp + fn)


def make_folders(root: Path) -> None:
    write_png(root / "truth" / "x_labels.png", X_TRUTH)
    write_png(root / "truth" / "y_mask.png", Y_TRUTH)
    (root / "truth" / "README.txt").write_text("not an image: ignored")
    write_png(root / "pred" / "x_labels.png", X_PRED)
    write_png(root / "pred" / "x_mask.png", (X_PRED > 0).astype(np.uint8) * 255)  # labels are preferred
    write_png(root / "pred" / "x_overlay.png", np.full((30, 40, 3), 99, np.uint8))  # a drawing: ignored
    tifffile.imwrite(root / "pred" / "y_labels.tif", Y_PRED)
    write_png(root / "pred" / "z_labels.png", X_PRED)  # no truth for z


def test_score_a_prediction_folder_gives_the_hand_computed_values(tmp_path, cli):
    make_folders(tmp_path)
    done = cli("score", "--truth", "truth", "pred", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr  # an image without truth does not fail the run
    assert "1 image has no truth file" in done.stderr and "z_labels.png" in done.stderr
    assert "2 images scored, 0 failed, 1 without truth" in done.stdout

    rows = by_file(read_csv(tmp_path / "out" / "scores.csv"))
    assert sorted(rows) == ["x_labels.png", "y_labels.tif", "z_labels.png"]
    assert [r["status"] for r in rows["z_labels.png"]] == ["no truth"]
    for name, counts, kinds in (("x_labels.png", X_COUNTS, ("labels", "labels")),
                                ("y_labels.tif", Y_COUNTS, ("mask", "labels"))):
        image_rows = rows[name]
        assert [float(r["threshold"]) for r in image_rows] == DSB  # one row per threshold, in order
        assert {(r["truth_kind"], r["prediction_kind"], r["status"]) for r in image_rows} == {(*kinds, "ok")}
        for row in image_rows:
            tp, fp, fn = counts[float(row["threshold"])]
            assert (int(row["tp"]), int(row["fp"]), int(row["fn"])) == (tp, fp, fn)
            assert float(row["f1"]) == pytest.approx(float(Fraction(2 * tp, 2 * tp + fp + fn)))
            assert float(row["ap"]) == pytest.approx(float(ap(tp, fp, fn)))
        mean_ap = sum(ap(*counts[t]) for t in DSB) / len(DSB)
        assert float(image_rows[0]["mean_ap"]) == pytest.approx(float(mean_ap))
    x, y = rows["x_labels.png"][0], rows["y_labels.tif"][0]
    assert Path(x["truth"]).name == "x_labels.png" and Path(y["truth"]).name == "y_mask.png"
    assert float(x["mean_matched_iou"]) == pytest.approx(0.875) and float(y["mean_matched_iou"]) == pytest.approx(0.8)
    # B and C touch: as labels they are two true objects (a mask would have made them one)
    assert (x["n_true"], x["n_pred"], x["merges"], x["splits"]) == ("4", "3", "1", "0")
    assert (y["n_true"], y["n_pred"], y["merges"], y["splits"]) == ("2", "3", "0", "1")
    assert float(x["mean_ap"]) == pytest.approx(2 / 15) and float(y["mean_ap"]) == pytest.approx(0.375)

    [summary] = read_csv(tmp_path / "out" / "scores_summary.csv")
    expected = {"images": 3, "scored": 2, "failed": 0, "no_truth": 1, "f1_iou50": (2 / 7 + 4 / 5) / 2,
                "ap_iou50": (1 / 6 + 2 / 3) / 2, "precision_iou50": 0.5, "recall_iou50": 0.625,
                "mean_ap": (2 / 15 + 0.375) / 2, "merges": 0.5, "splits": 0.5, "tp_iou50": 3, "fp_iou50": 3,
                "fn_iou50": 3, "n_true": 6, "n_pred": 6}
    for key, value in expected.items():
        assert float(summary[key]) == pytest.approx(value), key
    assert summary["thresholds"] == " ".join(map(str, DSB))


def test_score_with_images_thresholds_and_a_missing_prediction(tmp_path, cli):
    make_folders(tmp_path)
    write_png(tmp_path / "truth" / "w.png", X_TRUTH)  # truth for w, but no prediction
    for stem in "xyzw":  # the images are only names here: their pixels are never read
        write_png(tmp_path / "images" / f"{stem}.png", np.zeros((30, 40), np.uint8))
    done = cli("score", "--truth", "truth", "pred", "images", "--thresholds", "0.5,0.9", "--out", "out",
               "--jobs", "1", cwd=tmp_path)
    assert done.returncode == 1  # w failed
    assert "w.png: no prediction for it in pred" in done.stderr
    assert "no truth file" in done.stderr and "z.png" in done.stderr
    rows = by_file(read_csv(tmp_path / "out" / "scores.csv"))
    assert [r["status"] for r in rows["w.png"]] == ["error"] and [r["status"] for r in rows["z.png"]] == ["no truth"]
    assert [(r["threshold"], r["tp"], r["fp"], r["fn"]) for r in rows["x.png"]] == [("0.5", "1", "2", "3"),
                                                                                    ("0.9", "0", "3", "4")]
    assert Path(rows["x.png"][0]["prediction"]).name == "x_labels.png"
    [summary] = read_csv(tmp_path / "out" / "scores_summary.csv")
    assert (summary["images"], summary["scored"], summary["failed"], summary["no_truth"]) == ("4", "2", "1", "1")
    assert float(summary["mean_ap"]) == pytest.approx(((1 / 6 + 0) / 2 + (2 / 3 + 1 / 4) / 2) / 2)

    # IoU 0.5 is always in the summary, even when not asked for in the per-image rows
    done = cli("score", "--truth", "truth", "pred", "images/x.png", "--thresholds", "0.9", "--out", "only09",
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [summary] = read_csv(tmp_path / "only09" / "scores_summary.csv")
    assert float(summary["f1_iou50"]) == pytest.approx(2 / 7) and float(summary["mean_ap"]) == 0
    assert [r["threshold"] for r in read_csv(tmp_path / "only09" / "scores.csv")] == ["0.9"]


def test_truth_kinds_and_unusable_truth_files(tmp_path, cli):
    empty = np.zeros((30, 40), np.uint8)
    write_png(tmp_path / "truth" / "e.png", empty)  # no object at all
    one = np.zeros((30, 40), np.uint16)
    one[3:9, 3:9] = 7
    one[20:25, 20:30] = 7  # a single non-zero value: a mask, two components
    write_png(tmp_path / "truth" / "m.png", one)
    colour = np.zeros((30, 40, 3), np.uint8)
    colour[2:5, 2:5] = (255, 0, 0)
    write_png(tmp_path / "truth" / "c.png", colour)
    write_png(tmp_path / "truth" / "d_labels.png", X_TRUTH)
    tifffile.imwrite(tmp_path / "truth" / "d_labels.tif", X_TRUTH)  # two truth files of the same rank
    pred = tmp_path / "pred"
    write_png(pred / "e_labels.png", empty)
    write_png(pred / "m_mask.png", (one > 0).astype(np.uint8) * 255)
    write_png(pred / "c_labels.png", X_PRED)
    write_png(pred / "d_labels.png", X_PRED)
    done = cli("score", "--truth", "truth", "pred", "--out", "out", cwd=tmp_path)
    assert done.returncode == 1
    rows = {name: r[0] for name, r in by_file(read_csv(tmp_path / "out" / "scores.csv")).items()}
    assert (rows["e_labels.png"]["truth_kind"], rows["e_labels.png"]["f1"]) == ("empty", "1")  # nothing to find
    assert (rows["m_mask.png"]["truth_kind"], rows["m_mask.png"]["prediction_kind"]) == ("mask", "mask")
    assert (rows["m_mask.png"]["n_true"], rows["m_mask.png"]["f1"]) == ("2", "1")
    assert rows["c_labels.png"]["status"] == "error" and "colour image" in rows["c_labels.png"]["message"]
    assert "2 truth files match it" in rows["d_labels.png"]["message"]
    assert "c_labels.png: the truth file c.png: it is a colour image" in done.stderr


def nuclei(seed: int, size: int = 72) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic fluorescence image of roundish nuclei, some touching, and its true labels."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:size, :size]
    truth = np.zeros((size, size), np.uint16)
    centres = [(18, 18), (18, 31), (50, 20), (45, 52), (22, 56), (58, 40)]
    for k, (r, c) in enumerate(centres, start=1):
        radius = rng.uniform(5.5, 8)
        truth[((rows - r) ** 2 + (cols - c) ** 2 <= radius ** 2) & (truth == 0)] = k
    image = np.where(truth > 0, 170.0, 30.0) + rng.normal(0, 12, truth.shape)
    return np.clip(image, 0, 255).astype(np.uint8), truth


def write_nuclei(root: Path, count: int) -> None:
    for i in range(count):
        image, truth = nuclei(i)
        write_png(root / "images" / f"n{i}.png", image)
        write_png(root / "truth" / f"n{i}_labels.png", truth)


def test_score_runs_a_recipe_of_either_kind(tmp_path, cli):
    write_nuclei(tmp_path, 2)
    recipes = {"t.json": seg.ThresholdRecipe(method="otsu", fill_holes=True, min_size=10),
               "w.json": seg.WatershedRecipe(h=1.0)}
    for file, recipe in recipes.items():
        (tmp_path / file).write_text(recipe.to_json(), encoding="utf-8")
        done = cli("score", "--truth", "truth", file, "images", "--out", file[0], "--jobs", "1", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        rows = by_file(read_csv(tmp_path / file[0] / "scores.csv"))
        for name in ("n0.png", "n1.png"):
            image = seg.load_image(tmp_path / "images" / name)
            truth = seg.load_image(tmp_path / "truth" / f"{Path(name).stem}_labels.png")
            found = seg.threshold(image, recipe).mask if file == "t.json" else seg.watershed(image, recipe).labels
            expected = seg.score_objects(truth, found)
            row = rows[name][0]
            assert row["prediction"] == file and row["prediction_kind"] == ("mask" if file == "t.json" else "labels")
            assert float(row["f1"]) == pytest.approx(expected.f1[0]) and int(row["tp"]) == expected.tp[0]
    # a subprocess, with the pool: the same numbers
    done = run("score", "--truth", "truth", "w.json", "images", "--out", "w2", "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert read_csv(tmp_path / "w2" / "scores_summary.csv") == read_csv(tmp_path / "w" / "scores_summary.csv")


def drop_seconds(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_tune_finds_a_recipe_at_least_as_good_and_is_deterministic(tmp_path, cli):
    write_nuclei(tmp_path, 3)
    start = seg.WatershedRecipe(h=6.0)  # merges touching nuclei: room to improve
    (tmp_path / "start.json").write_text(start.to_json(), encoding="utf-8")
    args = ("tune", "--truth", "truth", "images", "--recipe", "start.json", "--budget", "8", "--seed", "3")
    done = cli(*args, "--out", "a", "--jobs", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    table = read_csv(tmp_path / "a" / "search.csv")
    assert [int(r["evaluation"]) for r in table] == list(range(8))
    assert {"h", "distance_sigma", "method", "sigma", "min_size"} <= set(table[0])
    assert table[0]["h"] == "6" and table[0]["method"] == "otsu"  # evaluation 0 is the start recipe

    def mean_f1(recipe) -> float:
        scores = [seg.score_objects(seg.load_image(tmp_path / "truth" / f"n{i}_labels.png"),
                                    seg.watershed(seg.load_image(tmp_path / "images" / f"n{i}.png"), recipe).labels)
                  for i in range(3)]
        return sum(s.f1[0] for s in scores) / 3

    start_f1 = mean_f1(start)
    assert float(table[0]["f1_iou50"]) == pytest.approx(start_f1)
    best = seg.recipe_from_json((tmp_path / "a" / "best_recipe.json").read_text(encoding="utf-8"))
    best_f1 = mean_f1(best)
    assert best_f1 >= start_f1 and best_f1 == pytest.approx(max(float(r["f1_iou50"]) for r in table))
    assert "best: evaluation" in done.stdout

    # the same seed gives the same table, with a process pool too; another seed other recipes
    done = run(*args, "--out", "b", "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert drop_seconds(read_csv(tmp_path / "b" / "search.csv")) == drop_seconds(table)
    assert cli(*args[:-1], "4", "--out", "c", "--jobs", "1", cwd=tmp_path).returncode == 0
    other = read_csv(tmp_path / "c" / "search.csv")
    assert other[0] | {"seconds": ""} == table[0] | {"seconds": ""} and drop_seconds(other) != drop_seconds(table)


def test_tune_a_threshold_recipe_with_a_time_limit(tmp_path, cli):
    write_nuclei(tmp_path, 2)
    (tmp_path / "images" / "lonely.png").write_bytes((tmp_path / "images" / "n0.png").read_bytes())  # no truth
    (tmp_path / "t.json").write_text(seg.ThresholdRecipe(method="li").to_json(), encoding="utf-8")
    done = cli("tune", "--truth", "truth", "images", "--recipe", "t.json", "--budget", "50", "--seconds", "0.001",
               "--out", "out", "--jobs", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 image has no truth file" in done.stderr and "lonely.png" in done.stderr
    table = read_csv(tmp_path / "out" / "search.csv")
    assert len(table) == 1 and table[0]["method"] == "li"  # the start recipe is always evaluated
    assert {"method", "opening", "closing", "fill_holes", "min_size"} <= set(table[0])
    assert "(time limit)" in done.stdout


@pytest.mark.parametrize("arguments, words", [
    (["score", "pred"], "--truth"),
    (["score", "--truth", "nowhere", "pred"], "--truth nowhere is missing"),
    (["score", "--truth", "truth", "nothing-here"], "no such folder of predictions or recipe file"),
    (["score", "--truth", "truth", "start.json"], "name the IMAGES"),
    (["score", "--truth", "truth", "bad.json", "images"], "not a Segmentation Studio recipe"),
    (["score", "--truth", "truth", "pred", "--thresholds", "0:1:0.1"], "--thresholds"),
    (["score", "--truth", "truth", "pred", "--thresholds", "0.5,1.5"], "--thresholds"),
    (["score", "--truth", "truth", "pred", "--out", "taken"], "--overwrite"),
    (["tune", "--truth", "truth", "images", "--recipe", "start.json"], "--budget"),
    (["tune", "--truth", "truth", "images", "--recipe", "start.json", "--budget", "0"], "--budget"),
    (["tune", "--truth", "truth", "images", "--recipe", "missing.json", "--budget", "3"], "cannot read the recipe"),
    (["tune", "--truth", "truth", "images", "--recipe", "start.json", "--budget", "3", "--seconds", "-1"],
     "--seconds"),
    (["tune", "--truth", "truth", "--recipe", "start.json", "--budget", "3"], "IMAGE"),
])
def test_bad_arguments_are_plain_usage_errors(tmp_path, cli, arguments, words):
    make_folders(tmp_path)
    write_png(tmp_path / "images" / "x.png", np.zeros((30, 40), np.uint8))
    (tmp_path / "start.json").write_text(seg.WatershedRecipe().to_json(), encoding="utf-8")
    (tmp_path / "bad.json").write_text('{"format": "something else"}', encoding="utf-8")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "scores.csv").write_text("earlier results")
    done = cli(*arguments, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "usage:" in done.stderr and words in done.stderr, done.stderr
    assert (tmp_path / "taken" / "scores.csv").read_text() == "earlier results"
    assert not (tmp_path / "segmentation-out").exists()


def test_usage_errors_in_a_subprocess_have_no_traceback(tmp_path):
    make_folders(tmp_path)
    done = run("tune", "--truth", "truth", "pred", "--recipe", "nothing.json", "--budget", "2", cwd=tmp_path)
    assert done.returncode == 2 and "cannot read the recipe file nothing.json" in done.stderr
    done = run("score", "--help", cwd=tmp_path)
    assert done.returncode == 0 and "x_labels" in done.stdout and "scores_summary.csv" in done.stdout


def test_tune_reads_the_start_recipes_channel_of_a_stack(tmp_path, cli):
    # A two-channel ImageJ TIFF: the nuclei in the channel named DAPI (index 1), noise-free darkness in the other.
    image, truth = nuclei(0)
    gray = image if image.ndim == 2 else image[..., 0]
    stack = np.stack([np.zeros_like(gray), gray])
    (tmp_path / "images").mkdir()
    tifffile.imwrite(tmp_path / "images" / "n0.tif", stack, imagej=True,
                     metadata={"axes": "CYX", "Labels": ["GFP", "DAPI"]})
    write_png(tmp_path / "truth" / "n0_labels.png", truth)
    results = {}
    for channel in ("DAPI", "0"):
        start = seg.WatershedRecipe(foreground=seg.ThresholdRecipe(channel=channel))
        (tmp_path / f"{channel}.json").write_text(start.to_json(), encoding="utf-8")
        done = cli("tune", "--truth", "truth", "images", "--recipe", f"{channel}.json", "--budget", "1",
                   "--out", f"out_{channel}", "--jobs", "1", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        results[channel] = float(read_csv(tmp_path / f"out_{channel}" / "search.csv")[0]["f1_iou50"])
    expected = seg.score_objects(truth, seg.watershed(gray, seg.WatershedRecipe()).labels).f1[0]
    assert results["DAPI"] == pytest.approx(expected) and expected > 0.5
    assert results["0"] == 0.0  # the empty channel: nothing found, as asked


def test_an_ome_images_truth_is_found_under_the_name_the_batch_gives_it(tmp_path, cli):
    """cells.ome.tif: the batch writes cells_labels.png, so its truth named that way is found (and cells.ome_labels
    too, the name it had before)."""
    image, truth = nuclei(0)
    (tmp_path / "images").mkdir()
    tifffile.imwrite(tmp_path / "images" / "cells.ome.tif", image)
    tifffile.imwrite(tmp_path / "images" / "old.ome.tif", image)
    write_png(tmp_path / "truth" / "cells_labels.png", truth)
    write_png(tmp_path / "truth" / "old.ome_labels.png", truth)
    (tmp_path / "w.json").write_text(seg.WatershedRecipe(h=1.0).to_json(), encoding="utf-8")
    done = cli("score", "--truth", "truth", "w.json", "images", "--out", "out", "--jobs", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = by_file(read_csv(tmp_path / "out" / "scores.csv"))
    expected = seg.score_objects(truth, seg.watershed(image, seg.WatershedRecipe(h=1.0)).labels)
    for name in ("cells.ome.tif", "old.ome.tif"):
        assert float(rows[name][0]["f1"]) == pytest.approx(expected.f1[0]), name
