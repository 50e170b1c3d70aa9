"""to_python(): the generated standalone scripts reproduce the library's mask/labels bit for bit.

Every generated script is compiled and checked not to import ``segmentation``. A set of scripts is run
for real (``python script.py IMAGE OUT``, in parallel subprocesses) on image files; the rest are loaded
as modules and their ``segment()`` called on arrays (float32 images only exist as arrays here).
Either way the result must equal the library's exactly.
"""

from __future__ import annotations

import ast
import concurrent.futures
import importlib.util
import itertools
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data
import tifffile

import segmentation as seg
from segmentation import (
    LOCAL_METHODS,
    METHODS,
    ThresholdRecipe,
    WatershedRecipe,
    load_image,
    threshold,
    to_python,
    watershed,
)

T, W = ThresholdRecipe, WatershedRecipe


# -- test images ----------------------------------------------------------------------------------------

def _arrays() -> dict[str, np.ndarray]:
    camera = skimage.data.camera()[64:256:2, 96:352:2]  # 96×128, uint8
    coins = skimage.data.coins()[:160, :224]  # uint8, a dozen coins on an uneven background
    rgb = skimage.data.astronaut()[0:200:2, 60:300:2]  # 100×120×3
    return {
        "camera": camera, "coins": coins, "rgb": rgb,
        "coins16": coins.astype(np.uint16) * 257,
        "coins16_low": coins.astype(np.uint16) * 3 + 1000,  # 16-bit but a small range (see IMPORT_CASES)
        "rgb16": rgb.astype(np.uint16) * 257 + np.arange(120, dtype=np.uint16)[None, :, None],
        "camera_f": camera.astype(np.float32) / 255.0 + np.float32(0.25),
        "coins_f": (coins.astype(np.float32) - 40.0) * np.float32(1.5),
        "rgb_f": rgb.astype(np.float32) / 255.0,
    }


ARRAYS = _arrays()
FILES = ("camera", "coins", "rgb", "coins16", "rgb16")  # written as PNG (16-bit for *16)


def _write_png(path: Path, array: np.ndarray) -> None:
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), array)


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("images")
    for name in FILES:
        _write_png(folder / f"{name}.png", ARRAYS[name])
    return folder


# -- the cases ------------------------------------------------------------------------------------------

FG = WatershedRecipe().foreground  # the watershed's default foreground recipe
LOCAL_PARAMS = {"adaptive_mean": dict(block_size=21, offset=5.0), "adaptive_gaussian": dict(block_size=15, offset=-3.0),
                "sauvola": dict(window=25), "niblack": dict(window=25, k=-0.2)}


def _method(method: str, **extra) -> ThresholdRecipe:
    return T(method=method, **{**LOCAL_PARAMS.get(method, {}), **extra})


# Scripts run for real as `python script.py IMAGE OUT` on a PNG file: (id, recipe, image).
RUN_CASES = [
    ("otsu-auto-camera", T(), "camera"),
    ("triangle-16bit", T(method="triangle"), "coins16"),
    ("multiotsu-fg-classes", T(method="multiotsu", classes=4, foreground_classes=(1, 2)), "coins"),
    ("adaptive-dark-rgb", _method("adaptive_gaussian", polarity="dark", channel="green"), "rgb"),
    ("sauvola-auto-r-16bit", _method("sauvola", polarity="auto"), "coins16"),
    ("hue-rgb16-li", T(method="li", channel="hue"), "rgb16"),
    ("median7-16bit", T(smoothing="median", median_size=7, polarity="bright"), "coins16"),
    ("background-dark", T(background_radius=15, polarity="dark", method="yen"), "camera"),
    ("cleanup-all", T(opening=3, closing=5, iterations=2, fill_holes=True, min_size=30, clear_border=True), "coins"),
    ("ws-default", W(), "coins"),
    ("ws-default-16bit", W(), "coins16"),
    ("ws-peaks", W(seeds="distance_peaks", min_distance=9, peak_fraction=0.4), "coins"),
    ("ws-bands-gradient", W(seeds="intensity_bands", landscape="gradient"), "coins"),
    ("ws-points-gradient-rgb", W(seeds="points", points=((20, 30), (50, 60), (80, 100)), landscape="gradient",
                                 foreground=FG.replace(background_radius=0)), "rgb"),
    ("ws-compact-lines-8", W(compactness=0.05, watershed_line=True, connectivity=8), "coins"),
]

# Scripts loaded as modules, segment() called on an array: (id, recipe, image).
IMPORT_CASES = [
    *((f"{m}-{p}-camera", _method(m, polarity=p), "camera")
      for m, p in itertools.product(METHODS, ("bright", "dark", "auto"))),
    # Minimum and Multi-Otsu run on a 16-bit image of small range: scikit-image histograms integer images
    # with one bin per value from min to max, so on coins16 (range ~60000) Minimum's smoothing loop takes
    # minutes before failing and Multi-Otsu's lookup table needs gigabytes (a library problem, reported).
    *((f"{m}-auto-{img}", _method(m), img) for m, img in itertools.product(METHODS, ("coins16", "camera_f"))
      if m not in ("minimum", "multiotsu") or img != "coins16"),
    ("minimum-auto-16bit-small-range", T(method="minimum"), "coins16_low"),
    ("multiotsu-auto-16bit-small-range", T(method="multiotsu"), "coins16_low"),
    *((f"{c}-{img}", T(channel=c, method="otsu"), img)
      for c, img in itertools.product(("luminance", "red", "green", "blue", "hue", "saturation", "value"),
                                      ("rgb", "rgb16", "rgb_f"))),
    ("manual-16bit", T(method="manual", value=30000.0, polarity="bright"), "coins16"),
    ("manual-float-dark", T(method="manual", value=0.6, polarity="dark"), "camera_f"),
    ("gaussian-float", T(smoothing="gaussian", sigma=2.5), "coins_f"),
    ("median3-uint8", T(smoothing="median", median_size=3), "coins"),
    ("median5-float", T(smoothing="median", median_size=5), "coins_f"),
    ("median7-uint8", T(smoothing="median", median_size=7), "coins"),
    ("median9-float", T(smoothing="median", median_size=9), "coins_f"),
    *((f"background-{p}-{img}", T(background_radius=12, polarity=p, method="li"), img)
      for p, img in itertools.product(("bright", "dark", "auto"), ("coins", "coins16", "coins_f"))),
    ("background-adaptive-auto", _method("adaptive_mean", background_radius=10), "coins"),
    ("opening", T(opening=5), "coins"),
    ("opening-iter", T(opening=4, iterations=3), "camera"),
    ("closing", T(closing=7), "coins"),
    ("closing-iter", T(closing=3, iterations=2), "camera"),
    ("fill-holes", T(fill_holes=True, polarity="dark"), "camera"),
    ("min-size", T(min_size=25), "camera"),
    ("clear-border", T(clear_border=True), "coins"),
    ("multiotsu-dark", T(method="multiotsu", classes=3, polarity="dark"), "coins"),
    ("multiotsu-4-fg", T(method="multiotsu", classes=4, foreground_classes=(0, 3)), "coins"),
    ("multiotsu-16bit-fg", T(method="multiotsu", classes=3, foreground_classes=(0, 2)), "coins16_low"),
    ("multiotsu-float-fg", T(method="multiotsu", classes=3, foreground_classes=(1,)), "coins_f"),
    ("sauvola-r", _method("sauvola", r=64.0, k=0.3), "camera"),
    ("sauvola-auto-r-float", _method("sauvola"), "camera_f"),
    ("niblack-16bit", _method("niblack", polarity="dark"), "coins16"),
    ("adaptive-float", _method("adaptive_mean", offset=0.0), "coins_f"),
    ("ws-default-float", W(), "coins_f"),
    ("ws-hmax-gradient", W(landscape="gradient"), "coins"),
    ("ws-hmax-gradient-lines", W(landscape="gradient", watershed_line=True), "coins"),
    ("ws-hmax-h3-nosigma", W(h=3.0, distance_sigma=0.0), "coins"),
    ("ws-peaks-8-compact", W(seeds="distance_peaks", connectivity=8, compactness=0.5), "coins16"),
    ("ws-peaks-gradient-float", W(seeds="distance_peaks", landscape="gradient"), "coins_f"),
    ("ws-bands-auto", W(seeds="intensity_bands"), "coins"),
    ("ws-bands-fixed", W(seeds="intensity_bands", band_low=20.0, band_high=60.0), "coins"),
    ("ws-bands-half-auto", W(seeds="intensity_bands", band_high=50.0), "coins16_low"),
    ("ws-bands-dark-polarity", W(seeds="intensity_bands", landscape="gradient",
                                 foreground=T(polarity="dark", smoothing="gaussian")), "camera"),
    ("ws-bands-auto-polarity-float", W(seeds="intensity_bands", foreground=T(method="li")), "camera_f"),
    ("ws-points-distance", W(seeds="points", points=((51, 155), (55, 43), (56, 100), (0, 0))), "coins"),
    ("ws-points-lines-8", W(seeds="points", points=((51, 150), (51, 160), (124, 44)), watershed_line=True,
                            connectivity=8), "coins"),
    ("ws-gradient-rgb16", W(landscape="gradient", foreground=FG.replace(channel="saturation", background_radius=0)),
     "rgb16"),
    ("ws-gradient-rgb-float", W(landscape="gradient", foreground=T(channel="value")), "rgb_f"),
    ("ws-adaptive-fg", W(foreground=_method("adaptive_mean", fill_holes=True, min_size=20)), "coins"),
]


def _library(recipe, image: np.ndarray) -> np.ndarray:
    if isinstance(recipe, WatershedRecipe):
        return watershed(image, recipe).labels
    return threshold(image, recipe).mask


def _load_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"generated_{path.stem.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_source(source: str) -> None:
    """Compiles, does not import segmentation, imports and defines nothing unused, lines fit."""
    compile(source, "<generated>", "exec")
    tree = ast.parse(source)
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)} - {"main"}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            assert not any(m == "segmentation" or m.startswith("segmentation.") for m in modules), modules
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert defined <= used, f"unused imports or helpers: {defined - used}"
    assert max(len(line) for line in source.splitlines()) <= 110


# -- scripts run as programs ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def runs(image_dir, tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Write every RUN_CASES script and run them all, in parallel."""
    folder = tmp_path_factory.mktemp("run")

    def run(case):
        name, recipe, image = case
        script = folder / f"{name}.py"
        script.write_text(to_python(recipe), encoding="utf-8")
        out = folder / name
        done = subprocess.run([sys.executable, str(script), str(image_dir / f"{image}.png"), str(out)],
                              capture_output=True, text=True, timeout=120, cwd=folder)
        suffix = "labels" if isinstance(recipe, WatershedRecipe) else "mask"
        return name, (done, out / f"{image}_{suffix}.png")

    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        return dict(pool.map(run, RUN_CASES))


@pytest.mark.parametrize("name, recipe, image", RUN_CASES, ids=[c[0] for c in RUN_CASES])
def test_script_run_as_program_matches_library(runs, image_dir, name, recipe, image):
    done, out = runs[name]
    assert done.returncode == 0, done.stderr
    expected = _library(recipe, load_image(image_dir / f"{image}.png"))
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    if isinstance(recipe, WatershedRecipe):
        assert written.dtype == np.uint16
        assert np.array_equal(written.astype(np.int32), expected)
        count = int(expected.max())
        assert count > 0
    else:
        assert written.dtype == np.uint8 and set(np.unique(written)) <= {0, 255}
        assert np.array_equal(written == 255, expected)
        count = cv2.connectedComponents(expected.view(np.uint8), connectivity=8)[0] - 1
    assert done.stdout.startswith(f"{count} objects")


def test_script_writes_next_to_the_image_by_default(image_dir, tmp_path):
    script = tmp_path / "seg.py"
    script.write_text(to_python(T()), encoding="utf-8")
    image = tmp_path / "cells.png"
    image.write_bytes((image_dir / "camera.png").read_bytes())
    done = subprocess.run([sys.executable, str(script), str(image)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cells_mask.png").is_file()


# -- scripts imported as modules ----------------------------------------------------------------------------

@pytest.mark.parametrize("name, recipe, image", IMPORT_CASES, ids=[c[0] for c in IMPORT_CASES])
def test_script_segment_matches_library(tmp_path, name, recipe, image):
    source = to_python(recipe)
    _check_source(source)
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    array = ARRAYS[image]
    try:
        expected = _library(recipe, array)
    except ValueError as error:  # e.g. Minimum on a histogram without two peaks: the script must fail too
        with pytest.raises(ValueError):
            _load_module(path).segment(array)
        pytest.skip(f"the library refuses this case: {error}")
    if not name.startswith("manual-auto"):  # (the default manual value of 128 suits 8-bit images only)
        assert (expected.max() > 0 and not expected.all()) if expected.dtype == bool else expected.max() > 0
    result = _load_module(path).segment(array)
    assert result.dtype == expected.dtype and result.shape == expected.shape
    assert np.array_equal(result, expected)


def test_run_cases_compile_without_the_library():
    for _, recipe, _ in RUN_CASES:
        _check_source(to_python(recipe))


@pytest.mark.parametrize("array", [
    np.zeros((20, 30), np.uint8) + 7,  # constant: empty mask
    np.tile(np.arange(30, dtype=np.int32) * 1000 - 5, (20, 1)),  # negative int32: float32
    np.tile(np.arange(30, dtype=np.int64) * 2000, (20, 1)),  # fits in 16 bits
    np.eye(30, dtype=bool)[:20],
    np.where(np.eye(30)[:20] > 0, np.nan, np.linspace(0, 1, 600).reshape(20, 30)),  # float64 with NaN
    np.dstack([ARRAYS["rgb"][:20, :30], np.full((20, 30), 200, np.uint8)]),  # RGBA
    ARRAYS["camera"][:20, :30, None],  # H×W×1
], ids=["constant", "int32", "int64", "bool", "nan", "rgba", "hxwx1"])
@pytest.mark.parametrize("recipe", [T(), T(method="sauvola", window=7), W()], ids=["otsu", "sauvola", "watershed"])
def test_script_normalises_arrays_like_the_library(tmp_path, array, recipe):
    path = tmp_path / "seg.py"
    path.write_text(to_python(recipe), encoding="utf-8")
    assert np.array_equal(_load_module(path).segment(array), _library(recipe, array))


# -- the script's file loader -----------------------------------------------------------------------------

def test_script_loader_reads_png_and_tiff_like_the_library(tmp_path):
    module_path = tmp_path / "seg.py"
    module_path.write_text(to_python(T()), encoding="utf-8")
    module = _load_module(module_path)
    alpha = np.linspace(0, 255, 120, dtype=np.uint8)[None, :].repeat(100, axis=0)
    files = {
        "gray8.png": ARRAYS["camera"], "rgb8.png": ARRAYS["rgb"], "gray16.png": ARRAYS["coins16"],
        "rgb16.png": ARRAYS["rgb16"],
        "rgba8.png": np.dstack([ARRAYS["rgb"], alpha]),
        "rgba16.png": np.dstack([ARRAYS["rgb16"], alpha.astype(np.uint16) * 257]),
        "opaque.png": np.dstack([ARRAYS["rgb"], np.full(alpha.shape, 255, np.uint8)]),
    }
    for name, array in files.items():
        bgr = array if array.ndim == 2 else cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA if array.shape[2] == 4
                                                                else cv2.COLOR_RGB2BGR)
        assert cv2.imwrite(str(tmp_path / name), bgr)
    tifffile.imwrite(tmp_path / "float.tif", ARRAYS["camera_f"])
    tifffile.imwrite(tmp_path / "gray16.tif", ARRAYS["coins16"])
    tifffile.imwrite(tmp_path / "rgb16.tif", ARRAYS["rgb16"], photometric="rgb")
    for name in [*files, "float.tif", "gray16.tif", "rgb16.tif"]:
        ours, theirs = module.load_image(str(tmp_path / name)), load_image(tmp_path / name)
        assert ours.dtype == theirs.dtype and np.array_equal(ours, theirs), name


# -- the generated source ----------------------------------------------------------------------------------

def test_only_the_steps_the_recipe_uses_are_written():
    gaussian = to_python(T(smoothing="gaussian", sigma=1.5))
    assert "cv2.GaussianBlur(filled, (0, 0), sigmaX=1.5, sigmaY=1.5)" in gaussian
    assert "median" not in gaussian.split("def segment")[1]
    assert "morphologyEx" not in gaussian and "binary_fill_holes" not in gaussian
    assert "def histogram_input" not in gaussian and "def to_uint8" not in gaussian
    # NaN / ±inf handling: the finite pixels always (the dtype is known only at run time), the nearest-pixel
    # filling only for the steps that filter
    plain = to_python(T())
    assert "values = finite_pixels(channel)" in plain and "fill_nonfinite" not in plain
    assert "def fill_nonfinite" in gaussian and gaussian.count("def fill_nonfinite") == 1
    sauvola = to_python(T(method="sauvola", window=31, k=0.25, polarity="dark"))
    assert "filters.threshold_sauvola(scaled, window_size=31, k=0.25, r=r)" in sauvola
    # huge or tiny float values are scaled by a power of two first, as in the library (written always)
    assert "channel, exponent = in_float_range(channel)" in plain and plain.count("def in_float_range") == 1
    assert "channel <= surface" in sauvola and 'polarity == "bright"' not in sauvola
    assert "otsu" not in sauvola
    ws = to_python(W(seeds="points", points=((1, 2), (3, 4)), landscape="gradient"))
    assert "points = [(1, 2), (3, 4)]" in ws and "cv2.watershed(" in ws
    assert "h_maxima" not in ws.split("def segment")[1] and "distanceTransform" not in ws


def test_the_recipe_json_is_embedded():
    recipe = W(seeds="distance_peaks", min_distance=11, foreground=T(method="li", min_size=40))
    source = to_python(recipe)
    lines = source.split("# The recipe")[1].split("\n\n")[0].splitlines()[1:]
    embedded = "\n".join(line.removeprefix("#   ") for line in lines)
    assert W.from_json(embedded) == recipe
    assert "generated by Segmentation Studio" in source


def test_many_points_are_wrapped(tmp_path):
    points = tuple((r, c) for r in range(0, 150, 10) for c in range(0, 200, 25))
    recipe = W(seeds="points", points=points)
    source = to_python(recipe)
    _check_source(source)  # lines of at most 110 characters
    path = tmp_path / "seg.py"
    path.write_text(source, encoding="utf-8")
    assert np.array_equal(_load_module(path).segment(ARRAYS["coins"]), _library(recipe, ARRAYS["coins"]))


def test_marker_image_seeds_are_refused():
    with pytest.raises(ValueError, match="marker image"):
        to_python(W(seeds="marker_image"))


def test_other_objects_are_refused():
    with pytest.raises(seg.ParameterError, match="^recipe"):
        to_python({"method": "otsu"})


def test_every_method_is_covered():
    covered = {recipe.method for _, recipe, _ in IMPORT_CASES if isinstance(recipe, ThresholdRecipe)}
    assert covered == set(METHODS) and set(LOCAL_METHODS) <= covered
