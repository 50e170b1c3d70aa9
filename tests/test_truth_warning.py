"""A supposed label image that is not one (a grey photo, noise) or holds nothing is said so in plain words:
by the library (:func:`segmentation.batch.objects_warning`), the CLI ``score`` (per file) and the Compare page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from app_helpers import png_bytes, run, tiff_bytes, upload
from cli_helpers import run_cli_in_process
from test_cli_score_tune import read_csv, write_png

import segmentation as seg
from segmentation.batch import objects_of, objects_warning

NOISE = np.random.default_rng(0).integers(0, 256, (768, 768), dtype=np.uint8)


def test_uniform_noise_is_an_intensity_image_not_labels():
    objects, kind = objects_of(NOISE)
    assert kind == "labels"  # many values: taken for labels, hence the warning
    from skimage.measure import label
    pieces = label(NOISE, background=0, connectivity=2).max()
    ids = len(np.unique(NOISE[NOISE > 0]))
    assert ids == 255 and pieces > 100_000
    assert objects_warning(objects, kind) == (
        f"this looks like an intensity image, not labels ({ids} values in {pieces:,} separate pieces); upload a "
        "label image (one id per object) or a mask")


def test_a_camera_photo_is_not_labels_either():
    assert "intensity image" in objects_warning(*objects_of(seg.load_sample("camera")))


def test_real_label_images_and_masks_do_not_warn():
    labels = seg.load_image(Path(__file__).parents[1] / "samples" / "nuclei_labels.tif")
    assert objects_warning(*objects_of(labels)) == ""
    assert objects_warning(*objects_of(seg.sample_ground_truth("nuclei"))) == ""
    assert objects_warning(*objects_of(seg.threshold(seg.load_sample("coins")).mask)) == ""  # a mask
    # Touching objects of different ids, one ragged object in 3 pieces: still labels.
    few = np.zeros((40, 40), np.uint16)
    few[2:20, 2:20], few[2:20, 20:38], few[25:27, 2:4], few[30:32, 2:4], few[35:37, 2:4] = 1, 2, 3, 3, 3
    assert objects_warning(*objects_of(few)) == ""


def test_an_empty_truth_has_no_objects():
    objects, kind = objects_of(np.zeros((30, 40), np.uint8))
    assert kind == "empty"
    assert objects_warning(objects, kind) == "the truth has no objects (every pixel is 0)"


def test_the_cli_prints_the_warning_per_file_and_keeps_it_in_the_table(tmp_path, monkeypatch, capsys):
    noise = NOISE[:60, :80]
    write_png(tmp_path / "truth" / "n.png", noise)
    write_png(tmp_path / "truth" / "e.png", np.zeros((60, 80), np.uint8))
    good = np.zeros((60, 80), np.uint16)
    good[5:20, 5:20], good[30:50, 30:60] = 1, 2
    write_png(tmp_path / "truth" / "g.png", good)
    for stem in ("n", "e", "g"):
        write_png(tmp_path / "pred" / f"{stem}_labels.png", good)
    # the default --jobs: a process pool started from this long-lived test process (see tests/test_pools.py)
    done = run_cli_in_process("score", "--truth", "truth", "pred", "--out", "out", cwd=tmp_path,
                              monkeypatch=monkeypatch, capsys=capsys)
    assert done.returncode == 0, done.stderr  # a warning, not a failure
    assert "n_labels.png: warning: the truth file n.png: this looks like an intensity image, not labels" in done.stderr
    assert "e_labels.png: warning: the truth file e.png: the truth has no objects" in done.stderr
    assert "g_labels.png: warning" not in done.stderr
    rows = {row["prediction"].split("/")[-1]: row for row in read_csv(tmp_path / "out" / "scores.csv")}
    assert "intensity image" in rows["n_labels.png"]["message"] and rows["n_labels.png"]["status"] == "ok"
    assert rows["g_labels.png"]["message"] == ""


def test_the_page_warns_about_noise_and_an_empty_truth_but_not_real_labels():
    at = run("compare", query={"sample": "nuclei", "methods": ["otsu"]})
    at = upload(at, "noise.png", png_bytes(NOISE), key="truth", mime="image/png")
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("noise.png: this looks like an intensity image, not labels (255 values in")
               for w in warnings), warnings
    assert any("the scores below are not meaningful" in w for w in warnings), warnings
    # what was read is said, without the check mark of a good truth under the warning
    assert not at.success and not [i for i in at.info if i.value.startswith("noise.png")]
    assert any(c.value.startswith("noise.png: instance labels, ") for c in at.caption)
    at = upload(at, "empty.png", png_bytes(np.zeros(NOISE.shape, np.uint8)), key="truth", mime="image/png")
    assert [w.value for w in at.warning] == ["empty.png: the truth has no objects (every pixel is 0)."]
    truth = seg.sample_ground_truth("nuclei").astype(np.uint16)
    at = upload(at, "labels.tif", tiff_bytes(truth), key="truth", mime="image/tiff")
    assert not at.exception and not at.warning
    assert [s.value for s in at.success] == ["labels.tif: instance labels, 100 objects"]


def test_a_mask_never_warns():
    mask = np.zeros((30, 40), np.uint8)
    mask[3:9, 3:9] = 255
    assert objects_warning(*objects_of(mask)) == ""
