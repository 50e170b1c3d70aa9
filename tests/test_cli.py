"""``python -m segmentation`` end to end, in a subprocess: outputs, summary, exit codes, safety rules."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import tifffile
from cli_helpers import measurement_lines, run_cli_in_process
from cli_helpers import run_cli as run

import segmentation as seg
from segmentation import encode_png, load_image
from segmentation.batch import option_name

# The good test images: name -> pixels (small, so the whole module runs in seconds).
IMAGES = {
    "coins.png": skimage.data.coins()[:150, :200],
    "camera.png": skimage.data.camera()[::4, ::4],
    "astronaut.png": skimage.data.astronaut()[::4, ::4],  # RGB
    "deep.tif": skimage.data.coins()[100:200, 100:220].astype(np.uint16) * 257,  # 16-bit TIFF
}


@pytest.fixture
def cli(monkeypatch, capsys):
    """The same command run in this process (faster): returns (exit status, stdout, stderr)."""
    return lambda *args, cwd: run_cli_in_process(*args, cwd=cwd, monkeypatch=monkeypatch, capsys=capsys)


def write_images(folder: Path, names=tuple(IMAGES)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name.endswith(".tif"):
            tifffile.imwrite(folder / name, IMAGES[name])
        else:
            (folder / name).write_bytes(encode_png(IMAGES[name]))
    return folder


def summary(out: Path) -> dict[str, dict]:
    with open(out / "summary.csv", newline="", encoding="utf-8") as handle:
        return {Path(row["file"]).name: row for row in csv.DictReader(handle)}


def mask_of(path: Path) -> np.ndarray:
    png = load_image(path)
    assert png.dtype == np.uint8 and set(np.unique(png)) <= {0, 255}
    return png == 255


def test_threshold_folder_with_a_broken_file(tmp_path):
    images = write_images(tmp_path / "images")
    (images / "broken.png").write_bytes(b"this is not a picture\n")
    (images / "notes.txt").write_text("not an image extension: ignored in folders")
    done = run("threshold", "images", "--out", "out", "--method", "li", "--fill-holes", "--min-size", "20",
               "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    # one plain line for the broken file, no progress bar (stderr is not a terminal)
    assert done.stderr.strip().splitlines() == [f"{Path('images', 'broken.png')}: "
                                                "this file is not an image (it looks like text)"]
    assert "4 segmented, 1 failed" in done.stdout
    out = tmp_path / "out"
    recipe = seg.ThresholdRecipe(method="li", fill_holes=True, min_size=20)
    assert seg.recipe_from_json((out / "recipe.json").read_text(encoding="utf-8")) == recipe
    recipe_json = (out / "recipe.json").read_text(encoding="utf-8")
    rows = summary(out)
    assert set(rows) == {*IMAGES, "broken.png"}
    assert rows["broken.png"]["status"] == "error"
    assert rows["broken.png"]["message"] == "this file is not an image (it looks like text)"
    for name, pixels in IMAGES.items():
        stem = Path(name).stem
        expected = seg.threshold(load_image(images / name), recipe)
        assert np.array_equal(mask_of(out / f"{stem}_mask.png"), expected.mask), name
        overlay = load_image(out / f"{stem}_overlay.png")
        assert overlay.shape == (*pixels.shape[:2], 3)
        row = rows[name]
        assert row["status"] == "ok"
        assert (int(row["width"]), int(row["height"])) == (pixels.shape[1], pixels.shape[0])
        assert float(row["thresholds"]) == pytest.approx(expected.thresholds[0])
        assert float(row["foreground_fraction"]) == pytest.approx(expected.foreground_fraction, abs=1e-6)
        # the recipe's comment line (the summary's recipe_sha256 in it), then the header and one row per object
        text = (out / f"{stem}_measurements.csv").read_text(encoding="utf-8")
        lines = measurement_lines(text, recipe_json, "threshold")
        assert text.splitlines()[0].endswith(f" recipe_sha256 {row['recipe_sha256']}")
        assert lines[0].startswith("label,area_px,") and len(lines) - 1 == int(row["objects"]) > 0
    assert float(rows["deep.tif"]["thresholds"]) > 255  # 16-bit thresholds stay in 16-bit units
    assert not (out / "broken_mask.png").exists()


def test_watershed_jobs_1_and_2_give_identical_outputs(tmp_path):
    write_images(tmp_path / "images")
    options = ["--h", "2", "--pixel-size", "0.5", "--unit", "µm", "--no-progress"]
    first = run("watershed", "images", "--out", "one", "--jobs", "1", *options, cwd=tmp_path)
    second = run("watershed", "images", "--out", "two", "--jobs", "2", *options, cwd=tmp_path)
    assert first.returncode == second.returncode == 0, first.stderr + second.stderr
    assert first.stderr == second.stderr == ""
    one, two = tmp_path / "one", tmp_path / "two"
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in two.iterdir())
    assert len(names) == 4 * len(IMAGES) + 2  # mask, labels, overlay, measurements; summary, recipe
    for name in names:
        if name != "summary.csv":
            assert (one / name).read_bytes() == (two / name).read_bytes(), name
    def drop_seconds(rows):
        return {k: {c: v for c, v in r.items() if c != "seconds"} for k, r in rows.items()}

    assert drop_seconds(summary(one)) == drop_seconds(summary(two))
    recipe = seg.WatershedRecipe(h=2.0)
    for name in IMAGES:
        stem = Path(name).stem
        expected = seg.watershed(load_image(tmp_path / "images" / name), recipe)
        labels = load_image(one / f"{stem}_labels.png")
        assert labels.dtype == np.uint16 and np.array_equal(labels, expected.labels), name
        assert np.array_equal(mask_of(one / f"{stem}_mask.png"), expected.labels > 0)
        assert int(summary(one)[name]["objects"]) == expected.count
        text = (one / f"{stem}_measurements.csv").read_text(encoding="utf-8")
        header = measurement_lines(text, (one / "recipe.json").read_text(encoding="utf-8"), "watershed")[0]
        assert text.splitlines()[0].endswith(f" recipe_sha256 {summary(one)[name]['recipe_sha256']}")
        assert "area_um2" in header


def test_apply_recipe_files_of_both_kinds(tmp_path, cli):
    write_images(tmp_path / "images", ["coins.png", "deep.tif"])
    threshold_recipe = seg.ThresholdRecipe(method="sauvola", window=31, polarity="dark", opening=3)
    (tmp_path / "t.json").write_text(threshold_recipe.to_json(), encoding="utf-8")
    done = run("apply", "--recipe", "t.json", "images", "--out", "t", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("coins.png", "deep.tif"):
        expected = seg.threshold(load_image(tmp_path / "images" / name), threshold_recipe).mask
        assert np.array_equal(mask_of(tmp_path / "t" / f"{Path(name).stem}_mask.png"), expected)

    watershed_recipe = seg.WatershedRecipe(seeds="distance_peaks", min_distance=5,
                                           foreground=seg.ThresholdRecipe(method="otsu", fill_holes=True))
    (tmp_path / "w.json").write_text(watershed_recipe.to_json(), encoding="utf-8")
    done = run("apply", "--recipe", "w.json", "images/coins.png", "--out", "w", "--labels-format", "tiff",
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = seg.watershed(load_image(tmp_path / "images" / "coins.png"), watershed_recipe)
    assert np.array_equal(tifffile.imread(tmp_path / "w" / "coins_labels.tif"), expected.labels)
    # the batch's recipe.json repeats it exactly
    assert seg.recipe_from_json((tmp_path / "w" / "recipe.json").read_text(encoding="utf-8")) == watershed_recipe

    (tmp_path / "bad.json").write_text('{"format": "something else"}', encoding="utf-8")
    for recipe_file, words in (("bad.json", "not a Segmentation Studio recipe"), ("missing.json", "cannot read")):
        done = cli("apply", "--recipe", recipe_file, "images", "--out", "bad", cwd=tmp_path)
        assert done.returncode == 2 and words in done.stderr, done.stderr
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("options, named", [
    (["--window", "4"], "window"),
    (["--method", "sharpest"], "method"),
    (["--fill-holes=yes"], "--fill-holes"),
    (["--method", "multiotsu", "--classes", "2", "--foreground-classes", "3"], "foreground_classes"),
    (["--jobs", "0"], "--jobs"),
])
def test_bad_option_values_are_usage_errors(tmp_path, cli, options, named):
    write_images(tmp_path / "images", ["camera.png"])
    done = (run if named == "window" else cli)("threshold", "images", "--out", "out", *options, cwd=tmp_path)
    assert done.returncode == 2
    assert named in done.stderr and "usage:" in done.stderr
    assert not (tmp_path / "out").exists()


def test_glob_patterns_duplicates_and_missing_inputs(tmp_path, cli):
    write_images(tmp_path / "images")
    done = run("threshold", "images/*.png", "images/coins.png", "images/none-*.jpg", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "images/none-*.jpg: no image files match" in done.stderr
    assert sorted(summary(tmp_path / "out")) == ["astronaut.png", "camera.png", "coins.png"]

    done = cli("threshold", "nothing/*.png", "--out", "empty", cwd=tmp_path)
    assert done.returncode == 1 and "no input images found" in done.stderr
    done = cli("threshold", "images/coins.png", "images/gone.png", "--out", "missing", "--jobs", "1", cwd=tmp_path)
    assert done.returncode == 1
    assert summary(tmp_path / "missing")["gone.png"]["status"] == "error"


def test_same_stem_in_two_folders_does_not_collide(tmp_path):
    write_images(tmp_path / "a", ["coins.png"])
    write_images(tmp_path / "b", ["camera.png"])
    (tmp_path / "b" / "camera.png").rename(tmp_path / "b" / "coins.png")
    done = run("threshold", "a", "b", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for folder in ("a", "b"):
        expected = seg.threshold(load_image(tmp_path / folder / "coins.png")).mask
        assert np.array_equal(mask_of(tmp_path / "out" / f"{folder}_coins_mask.png"), expected)


def test_ome_inputs_drop_ome_from_their_stem_without_clashes(tmp_path, cli):
    # cells.ome.tif gives cells_*, as Fiji and Bio-Formats name it; a.ome.tif and a.tif beside it keep apart
    folder = tmp_path / "images"
    folder.mkdir()
    images = {"cells.ome.tif": IMAGES["deep.tif"], "a.ome.tif": IMAGES["coins.png"],
              "a.tif": IMAGES["camera.png"], "b.OME.TIFF": IMAGES["camera.png"][:60]}
    for name, pixels in images.items():
        tifffile.imwrite(folder / name, pixels)
    done = cli("threshold", "images", "--out", "out", "--jobs", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    stems = {name: row["output_stem"] for name, row in summary(tmp_path / "out").items()}
    assert stems == {"cells.ome.tif": "cells", "a.ome.tif": "a_ome_tif", "a.tif": "a_tif", "b.OME.TIFF": "b"}
    for name, stem in stems.items():
        expected = seg.threshold(load_image(folder / name)).mask
        assert np.array_equal(mask_of(tmp_path / "out" / f"{stem}_mask.png"), expected), name
        assert (tmp_path / "out" / f"{stem}_measurements.csv").is_file()
    assert not any(".ome" in p.name.casefold() for p in (tmp_path / "out").iterdir())


def test_outputs_never_replace_inputs_or_earlier_results(tmp_path, cli):
    folder = write_images(tmp_path / "images", ["coins.png", "camera.png"])
    (folder / "camera.png").rename(folder / "coins_mask.png")  # an input named like coins.png's mask
    before = (folder / "coins_mask.png").read_bytes()
    for command in (run, cli):
        done = command("threshold", "images", "--out", "images", "--overwrite", cwd=tmp_path)
        assert done.returncode == 2 and "would replace the input image" in done.stderr
    done = cli("threshold", "images/coins.png", "--out", "images/coins.png", cwd=tmp_path)
    assert done.returncode == 2 and "is one of the input images" in done.stderr
    assert (folder / "coins_mask.png").read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["coins.png", "coins_mask.png"]

    # results already in --out: refused, unless --overwrite or --skip-existing
    assert cli("threshold", "images/coins.png", "--out", "out", cwd=tmp_path).returncode == 0
    done = cli("threshold", "images/coins.png", "--out", "out", cwd=tmp_path)
    assert done.returncode == 2 and "--overwrite" in done.stderr
    assert cli("threshold", "images/coins.png", "--out", "out", "--overwrite", cwd=tmp_path).returncode == 0
    done = cli("threshold", "images", "--out", "out", "--skip-existing", "--jobs", "1", cwd=tmp_path)
    assert done.returncode == 0 and "1 skipped" in done.stdout
    assert summary(tmp_path / "out")["coins.png"]["status"] == "skipped"
    done = cli("threshold", "images", "--out", "out", "--skip-existing", "--method", "li", cwd=tmp_path)
    assert done.returncode == 2 and "different recipe" in done.stderr


def test_a_resumed_batch_never_writes_over_another_inputs_results(tmp_path, cli):
    """#14 review: a.tif's results, then a.ome.tif with --skip-existing into the same --out: both are named a_*, and
    the second batch replaced the first one's files with exit 0 (as ``--scheduler``, which resumes, did)."""
    for folder in ("coll", "x", "y"):
        (tmp_path / folder).mkdir()
    tifffile.imwrite(tmp_path / "coll" / "a.tif", IMAGES["coins.png"])
    tifffile.imwrite(tmp_path / "coll" / "a.ome.tif", IMAGES["camera.png"], ome=True)
    cv2.imwrite(str(tmp_path / "x" / "b.png"), IMAGES["coins.png"])
    cv2.imwrite(str(tmp_path / "y" / "b.png"), IMAGES["camera.png"])
    for first, second, stem in (("coll/a.tif", "coll/a.ome.tif", "a"), ("x/b.png", "y/b.png", "b")):
        out = tmp_path / f"out_{stem}"
        assert cli("threshold", first, "--out", out.name, "--jobs", "1", cwd=tmp_path).returncode == 0
        before = (out / f"{stem}_mask.png").read_bytes()
        done = cli("threshold", second, "--out", out.name, "--skip-existing", "--jobs", "1", cwd=tmp_path)
        assert done.returncode == 2, done.stdout
        assert f"{second} would replace the results of {first} ({stem}_*)" in done.stderr, done.stderr
        assert (out / f"{stem}_mask.png").read_bytes() == before
        assert summary(out)[Path(first).name]["file"] == first
    # The same image, spelled another way: resumed (skipped), not refused nor done again.
    (tmp_path / "link").symlink_to(tmp_path / "x")
    for spelling in ("./x/b.png", str(tmp_path / "x" / "b.png"), "x/../x/b.png", "x//b.png", "link/b.png"):
        done = cli("threshold", spelling, "--out", "out_b", "--skip-existing", "--jobs", "1", cwd=tmp_path)
        assert done.returncode == 0 and "1 skipped" in done.stdout, (spelling, done.stdout, done.stderr)
    # A batch run in another folder named its input "b.png": from here that is not y/b.png, so it is refused
    # (a guess by the file name overwrote x's results with y's).
    assert cli("threshold", "b.png", "--out", "../out_c", "--jobs", "1", cwd=tmp_path / "x").returncode == 0
    done = cli("threshold", "y/b.png", "--out", "out_c", "--skip-existing", "--jobs", "1", cwd=tmp_path)
    assert done.returncode == 2 and "y/b.png would replace the results of b.png (b_*)" in done.stderr, done.stderr
    # Resuming a part of a batch finds its results under the stems that batch gave them (x_b, y_b; alone: b).
    assert cli("threshold", "x/b.png", "y/b.png", "--out", "out_d", "--jobs", "1", cwd=tmp_path).returncode == 0
    done = cli("threshold", "y/b.png", "--out", "out_d", "--skip-existing", "--jobs", "1", cwd=tmp_path)
    assert done.returncode == 0 and "1 skipped" in done.stdout, (done.stdout, done.stderr)
    assert not (tmp_path / "out_d" / "b_mask.png").exists()
    # --overwrite says to replace them: done.
    done = cli("threshold", "y/b.png", "--out", "out_b", "--overwrite", "--jobs", "1", cwd=tmp_path)
    assert done.returncode == 0
    assert np.array_equal(mask_of(tmp_path / "out_b" / "b_mask.png"), seg.threshold(IMAGES["camera.png"]).mask)


def test_help_lists_every_recipe_parameter(tmp_path, cli):
    top = run("--help", cwd=tmp_path)
    assert top.returncode == 0 and "examples:" in top.stdout and "exit status" in top.stdout
    version = cli("--version", cwd=tmp_path)
    assert version.returncode == 0 and "Segmentation Studio" in version.stdout
    for command, recipe in (("threshold", seg.ThresholdRecipe), ("watershed", seg.WatershedRecipe)):
        text = " ".join(cli(command, "--help", cwd=tmp_path).stdout.split())
        assert "examples:" in text and "--out DIR" in text
        for spec in recipe.specs():
            assert option_name(spec.name) in text, spec.name
        assert "--no-fill-holes" in text and "Choices: manual, otsu" in text
    assert cli(cwd=tmp_path).returncode == 2


def test_every_hostile_corpus_file_gets_a_result_or_a_plain_message(tmp_path):
    """The whole corpus in one batch: each refused file gets its own plain-words line, the others are
    segmented, and the batch ends with exit status 1."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from make_bad_inputs import build_corpus

    cases = build_corpus(tmp_path / "corpus")
    files = [str(tmp_path / "corpus" / case.name) for case in cases]
    done = run("threshold", *files, "--out", str(tmp_path / "out"), "--no-progress", "--jobs", "2", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    with open(tmp_path / "out" / "summary.csv", newline="") as handle:
        rows = {Path(row["file"]).name: row for row in csv.DictReader(handle)}
    assert set(rows) == {case.name for case in cases}
    for case in cases:
        row = rows[case.name]
        if case.expect == "error":
            assert row["status"] == "error", (case.name, row)
            assert all(word in row["message"] for word in case.words), (case.name, row["message"])
            assert case.name in done.stderr  # one line per failed file, naming it
        else:
            assert row["status"] == "ok", (case.name, row)
            assert (int(row["height"]), int(row["width"])) == tuple(case.shape[:2]), case.name
