"""One answer whatever the machine: results do not depend on OpenCV's thread count or on ``--jobs``.

The batch's worker processes run OpenCV on one thread each; the app and ``--jobs 1`` on all cores. Both
must give the same bytes. The images are touching nuclei made here (no files from outside the tests).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_helpers import run_cli
from scipy import ndimage as ndi

import segmentation as seg


def touching_nuclei(seed: int, size: int = 256, count: int = 40) -> np.ndarray:
    """A 16-bit fluorescence-like field of touching, slightly elliptical nuclei with noise."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:size, :size]
    image = np.full((size, size), 300.0)
    for _ in range(count):
        r, c = rng.uniform(10, size - 10, 2)
        a, b = rng.uniform(6, 14, 2)
        angle = rng.uniform(0, np.pi)
        y, x = rows - r, cols - c
        u, v = x * np.cos(angle) + y * np.sin(angle), -x * np.sin(angle) + y * np.cos(angle)
        inside = (u / a) ** 2 + (v / b) ** 2 <= 1
        image[inside] = np.maximum(image[inside], rng.uniform(1500, 3000))
    image = ndi.gaussian_filter(image, 1.0) + rng.normal(0, 40, image.shape)
    return np.clip(image, 0, 65535).astype(np.uint16)


@pytest.fixture
def restore_threads():
    threads = cv2.getNumThreads()
    yield
    cv2.setNumThreads(threads)


@pytest.mark.parametrize("seed", range(4))
def test_distance_map_is_the_exact_transform_on_any_thread_count(seed, restore_threads):
    foreground = seg.threshold(touching_nuclei(seed), "otsu", polarity="bright").mask
    exact = ndi.distance_transform_edt(foreground).astype(np.float32)  # float64 roots, correctly rounded
    for threads in (1, 2, 4):
        cv2.setNumThreads(threads)
        assert np.array_equal(seg.distance_map(foreground), exact), threads


def test_distance_map_of_huge_objects_is_exact_too():
    foreground = np.ones((3003, 3003), bool)  # a square whose centre lies 1,501 px from the background
    foreground[[0, -1], :] = False
    foreground[:, [0, -1]] = False
    distance = seg.distance_map(foreground)
    assert distance.max() == 1501.0
    sample = (slice(1400, 1600, 7), slice(1400, 1600, 7))  # the part beyond 1,400 px, checked by hand
    rows, cols = np.mgrid[sample]
    expected = np.minimum.reduce([rows, cols, 3002 - rows, 3002 - cols]).astype(np.float32)
    assert np.array_equal(distance[sample], expected)


@pytest.mark.parametrize("seeds", ["h_maxima", "distance_peaks"])
def test_watershed_labels_do_not_depend_on_opencv_threads(seeds, restore_threads):
    images = [touching_nuclei(seed) for seed in range(6)] + [seg.load_sample("nuclei")]
    for image in images:
        results = []
        for threads in (1, 2, 4):
            cv2.setNumThreads(threads)
            results.append(seg.watershed(image, seeds=seeds))
        for other in results[1:]:
            assert np.array_equal(results[0].labels, other.labels)
            assert np.array_equal(results[0].distance, other.distance)


def _run(*args: str, cwd: Path):
    done = run_cli(*args, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return done


def test_cli_jobs_1_and_2_write_the_same_bytes_as_the_library(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    fields = {f"field{seed}.png": touching_nuclei(seed, size=320, count=70) for seed in range(6)}
    for name, image in fields.items():
        (images / name).write_bytes(seg.encode_png(image))
    _run("watershed", "images", "--jobs", "1", "--out", "one", cwd=tmp_path)
    _run("watershed", "images", "--jobs", "2", "--out", "two", cwd=tmp_path)
    for name, image in fields.items():
        stem = Path(name).stem
        one = (tmp_path / "one" / f"{stem}_labels.png").read_bytes()
        assert one == (tmp_path / "two" / f"{stem}_labels.png").read_bytes(), name
        library = seg.watershed(seg.load_image(images / name)).labels
        assert np.array_equal(seg.load_image(tmp_path / "one" / f"{stem}_labels.png"), library), name
        for table in ("measurements.csv",):
            assert ((tmp_path / "one" / f"{stem}_{table}").read_bytes()
                    == (tmp_path / "two" / f"{stem}_{table}").read_bytes()), name


def test_generated_script_gives_the_same_labels_on_any_thread_count(tmp_path, restore_threads):
    path = tmp_path / "segment_nuclei.py"
    path.write_text(seg.to_python(seg.WatershedRecipe()), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("segment_nuclei", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for seed in range(4):
        image = touching_nuclei(seed)
        cv2.setNumThreads(4)
        library = seg.watershed(image).labels
        for threads in (1, 2):
            cv2.setNumThreads(threads)
            assert np.array_equal(script.segment(image), library), (seed, threads)


@pytest.mark.parametrize("recipe", [seg.WatershedRecipe(), seg.ThresholdRecipe()], ids=["labels", "mask"])
def test_generated_script_writes_the_apps_and_the_clis_bytes(tmp_path, recipe):
    """The script's labels (mask) PNG is the file the app's download and the command line write, byte for byte
    (#10 review: the same pixels, other bytes, as the script used OpenCV's default PNG level)."""
    name = "field.png"
    (tmp_path / name).write_bytes(seg.encode_png(touching_nuclei(7)))
    script = tmp_path / "segment.py"
    script.write_text(seg.to_python(recipe), encoding="utf-8")
    (tmp_path / "script").mkdir()
    done = subprocess.run([sys.executable, str(script), name, "script"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    kind = recipe.kind
    _run(kind, name, "--out", "cli", cwd=tmp_path)
    image = seg.load_image(tmp_path / name)
    if kind == "watershed":
        written, app = "field_labels.png", seg.encode_labels(seg.watershed(image, recipe).labels)
    else:
        written, app = "field_mask.png", seg.encode_png(seg.threshold(image, recipe).mask)
    assert (tmp_path / "script" / written).read_bytes() == app
    assert (tmp_path / "cli" / written).read_bytes() == app


def test_objects_flooded_in_threads_give_the_same_labels_as_one_by_one(restore_threads):
    """Objects with several seeds are flooded in threads on large images (scikit-image releases the GIL); the
    labels do not depend on the number of threads, and are one scikit-image call's where no seeds tie."""
    from skimage import segmentation as sk_segmentation

    # about 3 megapixels, 440,000 of them in objects with several seeds: the threaded path
    image = np.tile(np.hstack([touching_nuclei(seed, size=200, count=45) for seed in range(3)]), (8, 3))
    results = []
    for threads in (1, 2, 4):
        cv2.setNumThreads(threads)
        results.append(seg.watershed(image))
    assert all(np.array_equal(results[0].labels, other.labels) for other in results[1:])
    result = results[0]
    one_call = sk_segmentation.watershed(-result.distance, result.markers, mask=result.foreground,
                                         connectivity=1 if result.recipe.connectivity == 4 else 2)
    assert result.count > 1000 and np.array_equal(result.labels, sk_segmentation.relabel_sequential(one_call)[0])


def test_generated_script_names_an_ome_files_outputs_as_the_command_line_does(tmp_path):
    """cells.ome.tif: the script writes cells_labels.png, the name the command line gives (not cells.ome_labels)."""
    import tifffile

    tifffile.imwrite(tmp_path / "cells.ome.tif", touching_nuclei(3))
    script = tmp_path / "segment.py"
    script.write_text(seg.to_python(seg.WatershedRecipe()), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), "cells.ome.tif", "script"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    _run("watershed", "cells.ome.tif", "--out", "cli", cwd=tmp_path)
    written = (tmp_path / "script" / "cells_labels.png").read_bytes()
    assert written == (tmp_path / "cli" / "cells_labels.png").read_bytes()
