"""to_python() on data as it really comes: the generated scripts follow the library's rules bit for bit.

Float images with NaN "no data" areas and ±inf pixels, and 16-bit images with few grey levels
(``real_data_inputs``): thresholds come from the finite pixels, filters see a non-finite pixel as its
nearest finite one, NaN is never foreground, and a 16-bit image of few levels is histogrammed one bin per
value. Every threshold method with every polarity, with and without smoothing and background subtraction,
and the default and gradient-landscape watersheds: the script's mask / labels equal the library's.

One script is generated per recipe and run on every input (imported as a module, ``segment()`` called).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import real_data_inputs as rd
from test_codegen import _check_source, _library, _load_module

import segmentation as seg
from segmentation import METHODS, ThresholdRecipe, WatershedRecipe, extract_channel, threshold, to_python

T, W = ThresholdRecipe, WatershedRecipe


def _levels_uint16(levels: int, top: int) -> np.ndarray:
    """32 rows of uint16 with ``levels`` distinct values spread over 0..top, each two columns wide."""
    values = np.linspace(0, top, levels).round().astype(np.uint16)
    return np.tile(np.repeat(values, 2), (32, 1))


INPUTS = {
    "nan_half": rd.nan_half(),
    "nan_stripe_dark": rd.nan_stripe_dark(),
    **{f"regions_{kind}": rd.nonfinite_regions(kind) for kind in ("nan", "inf", "-inf", "mixed")},
    "few_levels_uint16": rd.few_levels_uint16(),
}


def _nan_balanced() -> np.ndarray:
    """:func:`real_data_inputs.nan_half` with the top 110 rows of its finite half raised to the objects' level:
    more finite pixels above Otsu's threshold than at or below it (11,800 to 8,200), but fewer than those
    below and the 20,000 NaN pixels together, so the automatic polarity depends on NaN being on neither side."""
    image = rd.nan_half()
    image[:110, :100] += np.float32(0.4)
    return image


# For the histogram rule's other branches: 16-bit, at most 256 levels over a wide range (multi-Otsu: 256 bins,
# Yen / IsoData: one bin per value), and more than 256 levels (256 bins for every method).
LEVELS = {"levels_wide": _levels_uint16(40, 60000), "levels_many": _levels_uint16(300, 3000)}

# Parameters that suit these small images; the offset and the manual value suit 0..1 floats and 16-bit alike.
PARAMS = {"manual": dict(value=0.5), "adaptive_mean": dict(block_size=21, offset=5.0),
          "adaptive_gaussian": dict(block_size=15, offset=-3.0), "sauvola": dict(window=25),
          "niblack": dict(window=25, k=-0.2)}
PREPROCESSING = {
    "plain": {},
    "gaussian": dict(smoothing="gaussian", sigma=2.0),
    "median-background": dict(smoothing="median", median_size=5, background_radius=8),  # OpenCV's; no shrink
    "background-shrunk": dict(background_radius=25),  # the background estimated on a copy shrunk 2×
}


def _compare(recipe, inputs: dict[str, np.ndarray], tmp_path) -> list[str]:
    """Run the recipe's script on every input; return the inputs the library gave a result on."""
    source = to_python(recipe)
    _check_source(source)
    path = tmp_path / "generated.py"
    path.write_text(source, encoding="utf-8")
    segment = _load_module(path).segment
    done = []
    for name, array in inputs.items():
        try:
            expected = _library(recipe, array)
        except ValueError:  # e.g. Minimum without two histogram peaks: the script must refuse it too
            with pytest.raises(ValueError):
                segment(array)
            continue
        result = segment(array)
        assert result.dtype == expected.dtype and result.shape == expected.shape, name
        assert np.array_equal(result, expected), (
            f"{name}: {np.count_nonzero(result != expected)} pixels differ from the library's")
        if array.dtype == np.float32 and expected.dtype == bool:
            channel = extract_channel(array, recipe.channel) if array.ndim == 3 else array
            assert not expected[np.isnan(channel)].any(), f"{name}: a NaN pixel is foreground"
        done.append(name)
    return done


@pytest.mark.parametrize("prep", PREPROCESSING)
@pytest.mark.parametrize("polarity", ["bright", "dark", "auto"])
@pytest.mark.parametrize("method", METHODS)
def test_threshold_script_matches_library_on_real_data(tmp_path, method, polarity, prep):
    recipe = T(method=method, polarity=polarity, **PARAMS.get(method, {}), **PREPROCESSING[prep])
    done = _compare(recipe, INPUTS, tmp_path)
    if method != "minimum":  # (Minimum needs two histogram peaks, which smoothing can merge)
        assert len(done) >= len(INPUTS) - 1, f"the library refused too many inputs: only {done}"


@pytest.mark.parametrize("method, polarity", [("otsu", "auto"), ("li", "dark"), ("adaptive_mean", "auto"),
                                              ("sauvola", "bright")])
def test_scipy_median_script_matches_library_on_real_data(tmp_path, method, polarity):
    # Medians wider than 5×5 of 16-bit and float images are SciPy's (OpenCV's stop at 5×5).
    recipe = T(method=method, polarity=polarity, smoothing="median", median_size=7, **PARAMS.get(method, {}))
    assert len(_compare(recipe, INPUTS, tmp_path)) == len(INPUTS)


@pytest.mark.parametrize("prep", ["plain", "background-shrunk"])
@pytest.mark.parametrize("method", ["otsu", "triangle", "multiotsu", "adaptive_gaussian", "niblack"])
def test_auto_polarity_counts_nan_on_neither_side(tmp_path, method, prep):
    image = _nan_balanced()
    assert threshold(image, T(polarity="auto")).polarity == "dark"  # 11,800 above, 8,200 at or below
    recipe = T(method=method, polarity="auto", **PARAMS.get(method, {}), **PREPROCESSING[prep])
    assert _compare(recipe, {"nan_balanced": image}, tmp_path) == ["nan_balanced"]


@pytest.mark.parametrize("method, classes", [("yen", 3), ("isodata", 3), ("minimum", 3), ("multiotsu", 3),
                                             ("multiotsu", 2), ("otsu", 3), ("triangle", 3)])
def test_histogram_methods_on_few_level_16bit_images(tmp_path, method, classes):
    recipe = T(method=method, classes=classes, polarity="bright")
    inputs = {"few_levels_uint16": INPUTS["few_levels_uint16"], **LEVELS}
    done = _compare(recipe, inputs, tmp_path)
    assert "levels_many" in done or method == "minimum"


def test_multiotsu_keeps_the_three_levels_of_a_few_level_16bit_image(tmp_path):
    # The report: 0, 100 and 65535 in 256 bins over 0..65535 merged 0 and 100; one bin per value keeps them.
    image = rd.few_levels_uint16()
    recipe = T(method="multiotsu", classes=3, foreground_classes=(1,))
    done = _compare(recipe, {"few_levels_uint16": image}, tmp_path)
    assert done == ["few_levels_uint16"]
    path = tmp_path / "generated.py"
    assert np.array_equal(_load_module(path).segment(image), image == 100)


WATERSHEDS = {
    "default": W(),
    "gradient": W(landscape="gradient"),
    "bands-gradient": W(seeds="intensity_bands", landscape="gradient"),
}
# (Not here: distance-peak seeds on the nonfinite_regions images. OpenCV 5.0's precise distanceTransform
# gives values one float32 ulp apart depending on the output buffer's address (64-byte aligned or not), which
# moves one pixel of those labels between runs of the library itself; see the report.)


@pytest.mark.parametrize("name", WATERSHEDS)
def test_watershed_script_matches_library_on_real_data(tmp_path, name):
    mixed = rd.nonfinite_regions("mixed")
    inputs = {**INPUTS, "nan_balanced": _nan_balanced(),
              "regions_mixed_rgb": np.dstack([mixed, mixed * np.float32(0.5), mixed[::-1]])}
    done = _compare(WATERSHEDS[name], inputs, tmp_path)
    assert len(done) >= len(inputs) - 1, f"the library refused too many inputs: only {done}"


def test_the_cases_cover_every_input_kind():
    kinds = {name: (array.dtype, bool(np.isnan(array).any()) if array.dtype == np.float32 else False,
                    bool(np.isinf(array).any()) if array.dtype == np.float32 else False)
             for name, array in itertools.chain(INPUTS.items(), LEVELS.items())}
    assert kinds["regions_nan"][1] and kinds["regions_inf"][2] and kinds["regions_-inf"][2]
    assert kinds["regions_mixed"][1:] == (True, True)
    assert all(kinds[name][0] == np.uint16 for name in ("few_levels_uint16", *LEVELS))
    assert len(np.unique(LEVELS["levels_wide"])) <= 256 < len(np.unique(LEVELS["levels_many"]))


def test_script_keeps_a_nan_hole_out_after_clean_up(tmp_path):
    image = rd.nan_half()
    image[25:30, 25:30] = np.nan  # a "no data" hole inside the first object
    for recipe in (ThresholdRecipe(fill_holes=True), ThresholdRecipe(closing=5), WatershedRecipe()):
        assert _compare(recipe, {"nan_hole": image}, tmp_path) == ["nan_hole"]
        assert not np.asarray(_library(recipe, image))[np.isnan(image)].any()


@pytest.mark.parametrize("classes", [2, 3, 4])
def test_multiotsu_script_on_few_16bit_levels_over_a_wide_range(tmp_path, classes):
    rng = np.random.default_rng(classes)
    levels = np.array([0, 100, 200, 300, 9000, 9100, 65535], np.uint16)
    image = levels[rng.integers(0, len(levels), (40, 50))]
    inputs = {"wide_few_levels": image}
    assert _compare(ThresholdRecipe(method="multiotsu", classes=classes, polarity="bright"), inputs, tmp_path)
    assert _compare(WatershedRecipe.from_params(seeds="intensity_bands", method="otsu"), inputs, tmp_path)


@pytest.mark.parametrize("recipe", [ThresholdRecipe(), WatershedRecipe()], ids=["threshold", "watershed"])
def test_script_says_in_one_line_why_it_cannot_use_an_image(tmp_path, recipe):
    import subprocess
    import sys

    import tifffile

    tifffile.imwrite(tmp_path / "all_nan.tif", np.full((30, 30), np.nan, np.float32))
    (tmp_path / "not_an_image.png").write_bytes(b"this is text")
    script = tmp_path / "generated.py"
    script.write_text(to_python(recipe), encoding="utf-8")
    for name, words in (("all_nan.tif", ": the image holds no finite values"), ("not_an_image.png", "not an image")):
        done = subprocess.run([sys.executable, str(script), str(tmp_path / name), str(tmp_path / "out")],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1
        assert "Traceback" not in done.stderr and done.stderr.startswith(f"error: {tmp_path / name}")
        assert words in done.stderr


@pytest.mark.parametrize("channel", ["hue", "saturation", "value", "luminance"])
def test_script_keeps_a_pixel_with_a_nonfinite_channel_out(tmp_path, channel):
    image = np.full((40, 40, 3), 0.5, np.float32)
    image[30:, 30:] = (0.9, 0.1, 0.1)
    image[:10, :10, 0], image[10:20, 10:20, 1], image[20:30, 20:30, 2] = np.nan, np.inf, -np.inf
    for polarity in ("bright", "dark"):
        recipe = ThresholdRecipe(method="otsu", channel=channel, polarity=polarity)
        assert _compare(recipe, {"rgb_nonfinite": image}, tmp_path) == ["rgb_nonfinite"]


# --- float images of extreme magnitude --------------------------------------------------------------------
# The library scales a float channel whose largest finite magnitude lies beyond 2**20 or below 2**-20 by an
# exact power of two before its steps (segmentation.float_exponent / in_float_range), and again inside a
# scikit-image method when the values it gets are still out of that range; the scripts do the same.
def _extreme_inputs() -> dict[str, np.ndarray]:
    half, mixed = rd.nan_half(), rd.nonfinite_regions("mixed")
    with np.errstate(over="ignore"):
        return {
            "nan_half_x1e30": half * np.float32(1e30),
            "nan_half_x1e-30": half * np.float32(1e-30),
            "regions_mixed_x1e25": mixed * np.float32(1e25),
            "regions_mixed_x-1e-22": mixed * np.float32(-1e-22),  # negative and tiny
            "near_float32_max": (half * np.float32(3e38)).astype(np.float32),  # a top-hat would overflow
        }


EXTREME = _extreme_inputs()
EXTREME_PARAMS = {**PARAMS, "manual": dict(value=0.5e30)}  # a value in the 1e30 image's units


@pytest.mark.parametrize("prep", ["plain", "median-background"])
@pytest.mark.parametrize("method", METHODS)
def test_threshold_script_matches_library_on_extreme_floats(tmp_path, method, prep):
    recipe = T(method=method, polarity="auto", **EXTREME_PARAMS.get(method, {}), **PREPROCESSING[prep])
    done = _compare(recipe, EXTREME, tmp_path)
    if method != "minimum":
        assert len(done) >= len(EXTREME) - 1, f"the library refused too many inputs: only {done}"


@pytest.mark.parametrize("method", ["manual", "otsu", "sauvola"])
def test_manual_and_local_scripts_on_extreme_floats_each_polarity(tmp_path, method):
    for polarity in ("bright", "dark"):
        recipe = T(method=method, polarity=polarity, **EXTREME_PARAMS.get(method, {}), smoothing="gaussian",
                   sigma=2.0)
        assert len(_compare(recipe, EXTREME, tmp_path)) == len(EXTREME)


@pytest.mark.parametrize("name", ["default", "bands-gradient"])
def test_watershed_script_matches_library_on_extreme_floats(tmp_path, name):
    done = _compare(WATERSHEDS[name], EXTREME, tmp_path)
    # (automatic bands need three grey levels: the library, and the script, refuse the nonfinite_regions ones)
    expected = {"nan_half_x1e30", "nan_half_x1e-30", "near_float32_max"}
    assert expected <= set(done), f"the library refused too many inputs: only {done}"


def test_extreme_inputs_are_scaled_by_the_library():
    from segmentation import float_exponent

    assert all(float_exponent(array) != 0 for array in EXTREME.values())


def test_script_writes_a_32_bit_tiff_beyond_65535_objects(tmp_path):
    # 90,000 isolated one-pixel objects: each its own seed; a 16-bit PNG cannot hold their labels.
    import subprocess
    import sys

    image = np.zeros((600, 600), np.uint8)
    image[::2, ::2] = 200
    recipe = WatershedRecipe.from_params(min_size=0, fill_holes=False, background_radius=0, smoothing="none",
                                         polarity="bright")
    library = seg.watershed(image, recipe).labels
    assert library.max() == 90_000
    (tmp_path / "dots.png").write_bytes(seg.encode_png(image))
    script = tmp_path / "generated.py"
    script.write_text(to_python(recipe), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script), str(tmp_path / "dots.png"), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "90000 objects" in done.stdout
    written = tmp_path / "out" / "dots_labels.tif"
    assert written.read_bytes() == seg.encode_labels(library, format="tiff")  # the app's "Labels TIFF"
    assert (tmp_path / "out" / "dots_areas.csv").exists() and not (tmp_path / "out" / "dots_labels.png").exists()
