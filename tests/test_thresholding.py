"""Thresholding: every method against the library that computes it, the mask rule, pre-processing and clean-up.

Reference values come from OpenCV and scikit-image called directly on the same arrays, or from published
values (scikit-image's own test suite, docs/NOTES: Otsu(camera) == 102, IsoData(camera) == 102,
Minimum(camera) == 85, Otsu(coins × 257) == 27499 in both libraries).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import color, data, draw, filters
from skimage.segmentation import clear_border

import segmentation as seg
from segmentation import SegmentationError

ROOT = Path(__file__).resolve().parent.parent

CAMERA = data.camera()
COINS = data.coins()
MOON = data.moon()
TEXT = data.text()
PAGE = data.page()
ASTRONAUT = data.astronaut()
SAMPLES = {"camera": CAMERA, "coins": COINS, "moon": MOON, "text": TEXT}

SKIMAGE_GLOBAL = {
    "li": filters.threshold_li,
    "yen": filters.threshold_yen,
    "isodata": filters.threshold_isodata,
    "mean": filters.threshold_mean,
    "minimum": filters.threshold_minimum,
}


def expected_mask(image, t, polarity):
    return image > t if polarity == "bright" else image <= t


def ellipse(diameter):
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (diameter, diameter))


# ------------------------------------------------------------------------------------------ Otsu
def test_otsu_on_camera_is_102_and_equals_opencv():
    result = seg.threshold(CAMERA, "otsu", polarity="bright")
    cv_t, cv_mask = cv2.threshold(CAMERA, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    assert result.thresholds == (102.0,)
    assert cv_t == 102.0
    assert np.array_equal(result.mask, cv_mask > 0)
    assert np.array_equal(result.mask, CAMERA > 102)


@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("polarity", ["bright", "dark"])
def test_otsu_equals_opencv_and_scikit_image(name, polarity):
    image = SAMPLES[name]
    result = seg.threshold(image, "otsu", polarity=polarity)
    cv_t, _ = cv2.threshold(image, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    assert result.thresholds == (cv_t,)
    assert result.thresholds[0] == filters.threshold_otsu(image)  # the two libraries agree on 8-bit
    assert result.polarity == polarity
    assert np.array_equal(result.mask, expected_mask(image, cv_t, polarity))


# ------------------------------------------------------------------ scikit-image's global methods
@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("method", sorted(SKIMAGE_GLOBAL))
def test_global_method_equals_scikit_image(method, name):
    image = SAMPLES[name]
    try:
        reference = float(SKIMAGE_GLOBAL[method](image))
    except RuntimeError:  # scikit-image's Minimum finds no valley: ours must say so as a ValueError
        with pytest.raises(SegmentationError):
            seg.threshold(image, method)
        return
    for polarity in ("bright", "dark"):
        result = seg.threshold(image, method, polarity=polarity)
        assert result.thresholds == (reference,)
        assert np.array_equal(result.mask, expected_mask(image, reference, polarity))


@pytest.mark.parametrize("method, expected", [
    ("otsu", 102), ("isodata", 102), ("minimum", 85), ("yen", 146),  # scikit-image's published values
])
def test_published_reference_values_on_camera(method, expected):
    assert seg.threshold(CAMERA, method).thresholds == (float(expected),)


def test_li_published_reference_values():
    # docs/NOTES table (scikit-image 0.26): camera 78.91, coins 94.63, moon 71.50, text 100.17
    for name, expected in [("camera", 78.91), ("coins", 94.63), ("moon", 71.50), ("text", 100.17)]:
        assert seg.threshold(SAMPLES[name], "li").thresholds[0] == pytest.approx(expected, abs=0.006)


# ---------------------------------------------------------------------------------------- Triangle
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_triangle_equals_opencv_on_8bit(name):
    image = SAMPLES[name]
    cv_t, _ = cv2.threshold(image, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_TRIANGLE)
    result = seg.threshold(image, "triangle", polarity="bright")
    assert result.thresholds == (cv_t,)
    assert np.array_equal(result.mask, image > cv_t)
    assert result.notes == ()
    # and within the documented ±1 of scikit-image's implementation
    assert abs(cv_t - filters.threshold_triangle(image)) <= 1


def test_triangle_on_16bit_uses_the_documented_8bit_mapping():
    image = (CAMERA.astype(np.uint16) * 50 + 1000)
    low, high = float(image.min()), float(image.max())
    image8 = np.round((image - low) * 255.0 / (high - low)).astype(np.uint8)
    t8, _ = cv2.threshold(image8, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_TRIANGLE)
    result = seg.threshold(image, "triangle", polarity="bright")
    assert result.thresholds[0] == pytest.approx(low + t8 * (high - low) / 255.0)
    assert np.array_equal(result.mask, image > result.thresholds[0])
    assert any("8-bit" in note for note in result.notes)


# --------------------------------------------------------------------------------------- multi-Otsu
@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize("polarity", ["bright", "dark"])
def test_multiotsu_with_two_classes_equals_otsu(name, polarity):
    image = SAMPLES[name]
    otsu = seg.threshold(image, "otsu", polarity=polarity)
    multi = seg.threshold(image, "multiotsu", classes=2, polarity=polarity)
    assert multi.thresholds == otsu.thresholds
    assert np.array_equal(multi.mask, otsu.mask)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_multiotsu_three_classes_equals_scikit_image(name):
    image = SAMPLES[name]
    low, high = (float(v) for v in filters.threshold_multiotsu(image, classes=3))
    bright = seg.threshold(image, "multiotsu", classes=3, polarity="bright")
    assert bright.thresholds == (low, high)
    assert np.array_equal(bright.mask, image > high)  # brightest class
    dark = seg.threshold(image, "multiotsu", classes=3, polarity="dark")
    assert np.array_equal(dark.mask, image <= low)  # darkest class
    middle = seg.threshold(image, "multiotsu", classes=3, foreground_classes=(1,))
    assert np.array_equal(middle.mask, (image > low) & (image <= high))
    outer = seg.threshold(image, "multiotsu", classes=3, foreground_classes=(0, 2))
    assert np.array_equal(outer.mask, (image <= low) | (image > high))


def test_multiotsu_on_float_uses_the_input_units():
    image = (COINS / 255.0).astype(np.float32)
    expected = tuple(float(v) for v in filters.threshold_multiotsu(image, classes=3))
    assert seg.threshold(image, "multiotsu", classes=3).thresholds == expected


def test_multiotsu_too_few_levels_is_a_readable_value_error():
    image = np.zeros((20, 20), np.uint8)
    image[:10] = 200
    with pytest.raises(SegmentationError, match="classes") as info:
        seg.threshold(image, "multiotsu", classes=3)
    assert isinstance(info.value, ValueError)


# ------------------------------------------------------------------------------------- 16-bit, float
@pytest.mark.parametrize("method", ["yen", "isodata"])
def test_16bit_images_with_many_levels_use_256_bins(method):
    # Thousands of levels: the histogram methods see 16-bit images as float32 (256 bins over min..max, as
    # documented) instead of scikit-image's one bin per integer value.
    coins16 = COINS.astype(np.uint16) * 257 + np.random.default_rng(0).integers(0, 200, COINS.shape).astype(np.uint16)
    assert len(np.unique(coins16)) > 256
    reference = float(SKIMAGE_GLOBAL[method](coins16.astype(np.float32)))
    assert seg.threshold(coins16, method, polarity="bright").thresholds == (reference,)


def test_16bit_otsu_keeps_16bit_units_and_the_8bit_mask():
    coins16 = COINS.astype(np.uint16) * 257
    result = seg.threshold(coins16, "otsu", polarity="bright")
    cv_t, _ = cv2.threshold(coins16, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    assert result.thresholds == (27499.0,) == (cv_t,)
    assert filters.threshold_otsu(coins16) == 27499
    assert result.processed.dtype == np.uint16
    assert np.array_equal(result.mask, seg.threshold(COINS, "otsu", polarity="bright").mask)


@pytest.mark.parametrize("method", ["li", "yen", "isodata", "mean"])
def test_16bit_thresholds_equal_scikit_image_in_16bit_units(method):
    coins16 = COINS.astype(np.uint16) * 257
    # 256 distinct values: every method sees the exact integer array, as scikit-image does.
    reference = float(SKIMAGE_GLOBAL[method](coins16))
    result = seg.threshold(coins16, method, polarity="bright")
    assert result.thresholds == (reference,)
    assert reference > 255  # really in 16-bit units
    assert np.array_equal(result.mask, coins16 > reference)
    # the split of the picture is the same as on the 8-bit original (within a histogram bin)
    mask8 = seg.threshold(COINS, method, polarity="bright").mask
    if method in ("yen", "isodata"):
        assert seg.mask_agreement(result.mask, mask8)["iou"] > 0.97
    else:
        assert np.array_equal(result.mask, mask8)


def test_float32_input_works_in_its_own_units():
    image = (COINS / 255.0).astype(np.float32)
    result = seg.threshold(image, "otsu", polarity="bright")
    (t,) = result.thresholds
    assert t == pytest.approx(float(filters.threshold_otsu(image)))
    bin_width = (image.max() - image.min()) / 256
    assert abs(t - 107 / 255) < bin_width  # the 8-bit Otsu value, within one histogram bin
    assert np.array_equal(result.mask, image > t)
    # float64 is accepted and computed as float32
    result64 = seg.threshold(COINS / 255.0, "otsu", polarity="bright")
    assert result64.processed.dtype == np.float32
    assert result64.thresholds == result.thresholds



@pytest.mark.parametrize("exponent", [-110, -64, 40, 100, 127])
@pytest.mark.parametrize("method", [m for m in seg.METHODS if m != "manual"])
def test_float_images_of_any_magnitude_give_the_same_mask(method, exponent):
    """Scaling a float image by 2**e is exact, so every method must give the same mask and thresholds
    scaled by exactly 2**e. Unguarded, scikit-image's float32 arithmetic overflows (Otsu, Sauvola: wrong
    masks; IsoData: IndexError) or underflows (every method sees one grey level) at these magnitudes."""
    image = (COINS / 255.0).astype(np.float32)
    scaled = np.ldexp(image, exponent).astype(np.float32)
    assert np.array_equal(np.ldexp(scaled, -exponent), image)  # the scaling itself lost nothing
    reference = seg.threshold(image, method)
    result = seg.threshold(scaled, method)
    assert np.array_equal(result.mask, reference.mask)
    assert result.polarity == reference.polarity
    assert result.thresholds == tuple(np.ldexp(t, exponent) for t in reference.thresholds)


def test_float_image_at_the_float32_limit_is_segmented():
    image = np.full((40, 60), -3e38, np.float32)
    image[:, 45:] = 0  # a third grey level, for multi-Otsu's three classes
    image[10:30, 20:40] = np.float32(3e38)
    in_range = np.ldexp(image, -128).astype(np.float32)  # values ±0.88: what the library works on
    for method in [m for m in seg.METHODS if m not in ("manual", "minimum")]:
        result, reference = seg.threshold(image, method), seg.threshold(in_range, method)
        assert result.mask.any() and not result.mask.all(), method
        assert np.array_equal(result.mask, reference.mask), method
        assert result.thresholds == tuple(np.ldexp(t, 128) for t in reference.thresholds), method
        assert all(np.isfinite(result.thresholds)), method
        assert np.isfinite(result.processed).all(), method
    for seeds in ("h_maxima", "distance_peaks"):
        labels = seg.watershed(image, seeds=seeds).labels
        assert labels.max() >= 1 and np.array_equal(labels, seg.watershed(in_range, seeds=seeds).labels), seeds
    # The default top-hat makes values up to 6e38 here, which float32 can only hold as its limit, so the
    # bands (taken on that processed channel) need not match the in-range copy; they must still work.
    assert seg.watershed(image, seeds="intensity_bands").count >= 1


def _run_with_timeout(code, timeout):
    """Run ``code`` in a fresh interpreter (memory-capped) and return its stdout; fail on timeout."""
    def limit_memory():  # scikit-image tries a 65536² lookup table first; keep the test from swapping
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (3 * 1024 ** 3, 3 * 1024 ** 3))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                              timeout=timeout, env=env, cwd=ROOT, preexec_fn=limit_memory)
    except subprocess.TimeoutExpired:
        pytest.fail(f"did not finish within {timeout} s")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_minimum_on_16bit_is_fast_and_matches_8bit():
    out = _run_with_timeout("""
        import numpy as np, segmentation as seg
        from skimage import data
        r = seg.threshold(data.camera().astype(np.uint16) * 257, "minimum", polarity="bright")
        print(r.thresholds[0])
    """, timeout=8)
    assert abs(float(out) - 85 * 257) <= 257


def test_multiotsu_on_16bit_is_fast_and_matches_8bit():
    out = _run_with_timeout("""
        import numpy as np, segmentation as seg
        from skimage import data
        r = seg.threshold(data.coins().astype(np.uint16) * 257, "multiotsu", classes=3)
        print(*r.thresholds)
    """, timeout=8)
    low, high = (float(v) for v in out.split())
    assert abs(low - 77 * 257) <= 257 and abs(high - 139 * 257) <= 257


# ---------------------------------------------------------------------------------------- mask rule
def test_mask_rule_counts_pixels_exactly():
    # 10 pixels of each value 0..9
    image = np.repeat(np.arange(10, dtype=np.uint8), 10).reshape(10, 10)
    bright = seg.threshold(image, "manual", value=5, polarity="bright")
    dark = seg.threshold(image, "manual", value=5, polarity="dark")
    assert bright.mask.sum() == 40  # values 6, 7, 8, 9: a pixel equal to t is not foreground
    assert dark.mask.sum() == 60  # values 0..5: a pixel equal to t is foreground for dark objects
    assert np.array_equal(bright.mask, ~dark.mask)
    for dtype in (np.uint16, np.float32):
        assert seg.threshold(image.astype(dtype), "manual", value=5, polarity="bright").mask.sum() == 40
        assert seg.threshold(image.astype(dtype), "manual", value=5, polarity="dark").mask.sum() == 60


def test_mask_rule_with_otsu_on_two_levels():
    image = np.full((10, 10), 10, np.uint8)
    image[:3] = 200  # 30 bright pixels
    for dtype in (np.uint8, np.uint16, np.float32):
        result = seg.threshold(image.astype(dtype), "otsu", polarity="bright")
        (t,) = result.thresholds
        assert 10 <= t < 200
        assert result.mask.sum() == 30
        assert seg.threshold(image.astype(dtype), "otsu", polarity="dark").mask.sum() == 70


def test_manual_threshold_in_the_input_units():
    result = seg.threshold(CAMERA, "manual", value=100.5, polarity="bright")
    assert result.thresholds == (100.5,)
    assert np.array_equal(result.mask, CAMERA > 100.5)
    coins16 = COINS.astype(np.uint16) * 257
    result16 = seg.threshold(coins16, "manual", value=30000, polarity="dark")
    assert np.array_equal(result16.mask, coins16 <= 30000)
    assert np.array_equal(seg.threshold(CAMERA, "manual", value=-1, polarity="bright").mask, np.ones_like(CAMERA, bool))
    assert not seg.threshold(CAMERA, "manual", value=255, polarity="bright").mask.any()


# ------------------------------------------------------------------------------------------ polarity
def _discs_image():
    image = np.full((200, 200), 30, np.uint8)
    truth = np.zeros(image.shape, bool)
    for centre in [(40, 40), (40, 120), (120, 60), (150, 150), (100, 170)]:
        rr, cc = draw.disk(centre, 16, shape=image.shape)
        truth[rr, cc] = True
    image[truth] = 220
    return image, truth


def test_auto_polarity_chooses_the_minority_side():
    image, truth = _discs_image()
    assert 0.05 < truth.mean() < 0.15  # about 10% bright discs
    for method in ("otsu", "li", "yen", "mean", "triangle"):
        result = seg.threshold(image, method)
        assert result.polarity == "bright", method
        assert np.array_equal(result.mask, truth), method
    inverted = seg.threshold(255 - image, "otsu")
    assert inverted.polarity == "dark"
    assert np.array_equal(inverted.mask, truth)


def test_auto_polarity_on_real_images():
    assert seg.threshold(COINS, "otsu").polarity == "bright"  # coins on a dark background
    assert seg.threshold(PAGE, "otsu").polarity == "dark"  # ink on paper


# ------------------------------------------------------------------------------------- local methods
@pytest.mark.parametrize("method, cv_method", [("adaptive_mean", cv2.ADAPTIVE_THRESH_MEAN_C),
                                               ("adaptive_gaussian", cv2.ADAPTIVE_THRESH_GAUSSIAN_C)])
@pytest.mark.parametrize("block_size, offset", [(51, 20.0), (15, 5.0), (31, -3.0)])
def test_adaptive_equals_opencv_with_documented_sign(method, cv_method, block_size, offset):
    dark = seg.threshold(PAGE, method, block_size=block_size, offset=offset, polarity="dark")
    ref_dark = cv2.adaptiveThreshold(PAGE, 255, cv_method, cv2.THRESH_BINARY_INV, block_size, offset) > 0
    assert np.array_equal(dark.mask, ref_dark)
    bright = seg.threshold(PAGE, method, block_size=block_size, offset=offset, polarity="bright")
    ref_bright = cv2.adaptiveThreshold(PAGE, 255, cv_method, cv2.THRESH_BINARY, block_size, -offset) > 0
    assert np.array_equal(bright.mask, ref_bright)
    assert dark.thresholds == () and bright.thresholds == ()


@pytest.mark.parametrize("block_size, offset", [(51, 20), (15, 5), (15, -3)])
def test_adaptive_sign_means_standing_out_from_the_local_mean(block_size, offset):
    # independent of OpenCV's sign convention: bright objects exceed the local mean (box filter with
    # replicated borders, rounded to 8 bits as OpenCV does) by more than `offset`, dark ones lie at
    # least `offset` below it
    mean = np.round(cv2.blur(PAGE.astype(np.float64), (block_size, block_size), borderType=cv2.BORDER_REPLICATE))
    dark = seg.threshold(PAGE, "adaptive_mean", block_size=block_size, offset=offset, polarity="dark").mask
    bright = seg.threshold(PAGE, "adaptive_mean", block_size=block_size, offset=offset, polarity="bright").mask
    assert np.array_equal(dark, PAGE <= mean - offset)
    assert np.array_equal(bright, PAGE > mean + offset)
    if offset > 0:
        assert dark.mean() < 0.3  # the ink is a minority


def test_adaptive_on_16bit_uses_the_documented_8bit_mapping():
    # page spans 0..255, so ×257 maps back onto exactly the 8-bit picture
    page16 = PAGE.astype(np.uint16) * 257
    for method in ("adaptive_mean", "adaptive_gaussian"):
        r8 = seg.threshold(PAGE, method, block_size=31, offset=10, polarity="dark")
        r16 = seg.threshold(page16, method, block_size=31, offset=10, polarity="dark")
        assert np.array_equal(r8.mask, r16.mask)
        assert any("8-bit" in note for note in r16.notes)
        assert r8.notes == ()
    # general case: linear min..max -> 0..255, offset in those 8-bit levels
    image = COINS.astype(np.uint16) * 200 + 500
    low, high = float(image.min()), float(image.max())
    image8 = np.round((image - low) * 255.0 / (high - low)).astype(np.uint8)
    expected = cv2.adaptiveThreshold(image8, 1, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 51, -5) > 0
    result = seg.threshold(image, "adaptive_mean", block_size=51, offset=5, polarity="bright")
    assert np.array_equal(result.mask, expected)


LOCAL_IMAGES = {"page": PAGE, "text": TEXT, "coins": COINS, "camera": CAMERA, "moon": MOON}
LOCAL_CASES = [
    ("sauvola", "page", 15, 0.2), ("sauvola", "page", 51, 0.5), ("sauvola", "text", 31, -0.2),
    ("sauvola", "coins", 25, 0.2), ("sauvola", "camera", 15, 0.5), ("sauvola", "moon", 15, 0.2),
    ("niblack", "page", 15, 0.2), ("niblack", "page", 51, 0.5), ("niblack", "text", 31, -0.2),
    ("niblack", "coins", 25, 0.2), ("niblack", "text", 15, 0.5),
    # cases where the surface lands within float32 rounding of a grey level
    ("niblack", "page", 15, 0.5),
    ("niblack", "camera", 15, 0.2),
    ("niblack", "camera", 15, -0.2),
    ("niblack", "moon", 15, 0.5),
]


@pytest.mark.parametrize("method, name, window, k", LOCAL_CASES)
def test_sauvola_and_niblack_equal_scikit_image(method, name, window, k):
    image = LOCAL_IMAGES[name]
    reference = filters.threshold_sauvola if method == "sauvola" else filters.threshold_niblack
    surface = reference(image, window_size=window, k=k)
    bright = seg.threshold(image, method, window=window, k=k, polarity="bright")
    dark = seg.threshold(image, method, window=window, k=k, polarity="dark")
    assert bright.surface.shape == image.shape
    np.testing.assert_allclose(bright.surface, surface, rtol=1e-6, atol=1e-4)
    assert np.array_equal(bright.mask, image > surface)
    assert np.array_equal(dark.mask, image <= surface)


def test_sauvola_on_16bit_uses_half_the_image_range_as_r():
    image = COINS.astype(np.uint16) * 10 + 100  # 12-bit-like data in a 16-bit array
    r = 0.5 * float(image.max() - image.min())
    surface = filters.threshold_sauvola(image, window_size=25, k=0.2, r=r)
    result = seg.threshold(image, "sauvola", window=25, k=0.2, polarity="bright")
    np.testing.assert_allclose(result.surface, surface, rtol=1e-6)
    agreement = np.mean(result.mask == (image > surface))
    assert agreement > 0.9999
    explicit = seg.threshold(image, "sauvola", window=25, k=0.2, r=1000.0, polarity="bright")
    np.testing.assert_allclose(explicit.surface, filters.threshold_sauvola(image, window_size=25, k=0.2, r=1000.0),
                               rtol=1e-6)


# ----------------------------------------------------------------------------------- constant image
@pytest.mark.parametrize("method", [m for m in seg.METHODS if m != "manual"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_constant_image_gives_empty_mask_and_a_note(method, dtype):
    image = np.full((30, 40), 7, dtype)
    result = seg.threshold(image, method)
    assert result.mask.shape == (30, 40) and result.mask.dtype == bool
    assert not result.mask.any()
    assert any("constant" in note for note in result.notes)


def test_constant_image_with_manual_threshold_follows_the_rule():
    image = np.full((30, 40), 7, np.uint8)
    assert seg.threshold(image, "manual", value=3, polarity="bright").mask.all()
    assert not seg.threshold(image, "manual", value=7, polarity="bright").mask.any()
    assert seg.threshold(image, "manual", value=3, polarity="bright").notes == ()


# ------------------------------------------------------------------------------------------ Minimum
def test_minimum_on_unimodal_histogram_raises_a_readable_value_error():
    # a strictly unimodal histogram: 129 - |v - 128| pixels of every value v (a triangle peaking at 128)
    counts = 129 - np.abs(np.arange(256) - 128)
    values = np.repeat(np.arange(256, dtype=np.uint8), counts)
    image = np.random.default_rng(0).permutation(values).reshape(128, 130)
    with pytest.raises(RuntimeError):  # scikit-image agrees there is no valley
        filters.threshold_minimum(image)
    with pytest.raises(SegmentationError) as info:
        seg.threshold(image, "minimum")
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert "Minimum" in message and "bimodal" in message and "Traceback" not in message


# ------------------------------------------------------------------------------------------ channels
def _circular_difference(a, b, period):
    d = np.abs(a.astype(np.float64) - b.astype(np.float64)) % period
    return np.minimum(d, period - d)


def test_channels_of_an_rgb_image():
    rgb = ASTRONAUT
    hsv_full = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL)
    expected = {
        "luminance": cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY),
        "red": rgb[..., 0], "green": rgb[..., 1], "blue": rgb[..., 2],
        "hue": hsv_full[..., 0], "saturation": hsv_full[..., 1], "value": rgb.max(axis=2),
    }
    for channel, reference in expected.items():
        processed = seg.threshold(rgb, "otsu", channel=channel).processed
        assert processed.dtype == np.uint8, channel
        assert np.array_equal(processed, reference), channel
    # the astronaut's red and blue differ: a BGR mix-up would be caught
    assert not np.array_equal(rgb[..., 0], rgb[..., 2])
    # independent formulas: ITU-R BT.601 luminance and scikit-image's HSV
    lum = expected["luminance"].astype(np.float64)
    bt601 = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    assert np.abs(lum - bt601).max() <= 1
    sk_hsv = color.rgb2hsv(rgb)
    chroma = rgb.max(axis=2).astype(int) - rgb.min(axis=2)
    well_defined = chroma > 20  # hue is unstable for nearly grey pixels
    assert _circular_difference(expected["hue"], sk_hsv[..., 0] * 256, 256)[well_defined].max() <= 3
    assert np.abs(expected["saturation"] - sk_hsv[..., 1] * 255).max() <= 1
    assert np.abs(expected["value"] - sk_hsv[..., 2] * 255).max() < 1e-6


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_channels_of_16bit_and_float_rgb(dtype):
    rgb = ASTRONAUT.astype(np.uint16) * 257 if dtype == np.uint16 else (ASTRONAUT / 255.0).astype(np.float32)
    full = 65535.0 if dtype == np.uint16 else 1.0
    sk_hsv = color.rgb2hsv(ASTRONAUT)
    for index, channel in enumerate(("red", "green", "blue")):
        assert np.array_equal(seg.threshold(rgb, "otsu", channel=channel).processed, rgb[..., index])
    value = seg.threshold(rgb, "otsu", channel="value").processed
    assert value.dtype == dtype and np.array_equal(value, rgb.max(axis=2))
    hue = seg.threshold(rgb, "otsu", channel="hue").processed
    saturation = seg.threshold(rgb, "otsu", channel="saturation").processed
    assert hue.dtype == dtype and saturation.dtype == dtype
    chroma = ASTRONAUT.max(axis=2).astype(int) - ASTRONAUT.min(axis=2)
    assert _circular_difference(hue / full, sk_hsv[..., 0], 1.0)[chroma > 20].max() < 0.01
    assert np.abs(saturation / full - sk_hsv[..., 1]).max() < 0.01
    luminance = seg.threshold(rgb, "otsu", channel="luminance").processed
    assert np.array_equal(luminance, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))


def test_gray_image_ignores_the_channel_and_alpha_is_dropped():
    for channel in ("red", "hue", "value"):
        assert np.array_equal(seg.threshold(CAMERA, "otsu", channel=channel).processed, CAMERA)
    rgba = np.dstack([ASTRONAUT, np.full(ASTRONAUT.shape[:2], 17, np.uint8)])
    assert np.array_equal(seg.threshold(rgba, "otsu", channel="blue").processed, ASTRONAUT[..., 2])


# ----------------------------------------------------------------------------------------- smoothing
@pytest.mark.parametrize("sigma", [0.7, 1.5, 4.0])
def test_gaussian_smoothing_equals_opencv(sigma):
    result = seg.threshold(CAMERA, "otsu", smoothing="gaussian", sigma=sigma)
    assert np.array_equal(result.processed, cv2.GaussianBlur(CAMERA, (0, 0), sigmaX=sigma, sigmaY=sigma))
    coins16 = COINS.astype(np.uint16) * 257
    result16 = seg.threshold(coins16, "otsu", smoothing="gaussian", sigma=sigma)
    assert result16.processed.dtype == np.uint16
    assert np.array_equal(result16.processed, cv2.GaussianBlur(coins16, (0, 0), sigmaX=sigma, sigmaY=sigma))


@pytest.mark.parametrize("size", [3, 5, 9])
def test_median_smoothing_equals_opencv(size):
    result = seg.threshold(CAMERA, "otsu", smoothing="median", median_size=size)
    assert np.array_equal(result.processed, cv2.medianBlur(CAMERA, size))
    # 16-bit: OpenCV up to 5×5, SciPy beyond; the median commutes with ×257, so away from the border
    # the result is the 8-bit median ×257
    coins16 = COINS.astype(np.uint16) * 257
    result16 = seg.threshold(coins16, "otsu", smoothing="median", median_size=size).processed
    reference = cv2.medianBlur(COINS, size).astype(np.uint16) * 257
    m = size // 2
    assert result16.dtype == np.uint16
    assert np.array_equal(result16[m:-m, m:-m], reference[m:-m, m:-m])


def test_smoothing_changes_the_threshold_input_only():
    result = seg.threshold(CAMERA, "otsu", smoothing="gaussian", sigma=2.0, polarity="bright")
    blurred = cv2.GaussianBlur(CAMERA, (0, 0), 2.0)
    t, _ = cv2.threshold(blurred, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    assert result.thresholds == (t,)
    assert np.array_equal(result.mask, blurred > t)


# ------------------------------------------------------------------------------ background subtraction
@pytest.mark.parametrize("radius", [3, 7, 10])
def test_background_subtraction_equals_opencv_top_hat(radius):
    disc = ellipse(2 * radius + 1)
    bright = seg.threshold(COINS, "otsu", background_radius=radius, polarity="bright")
    assert np.array_equal(bright.processed, cv2.morphologyEx(COINS, cv2.MORPH_TOPHAT, disc))
    assert bright.polarity == "bright"
    dark = seg.threshold(TEXT, "otsu", background_radius=radius, polarity="dark")
    assert np.array_equal(dark.processed, cv2.morphologyEx(TEXT, cv2.MORPH_BLACKHAT, disc))
    assert dark.polarity == "bright"  # objects are bright after the black top-hat
    coins16 = COINS.astype(np.uint16) * 257
    bright16 = seg.threshold(coins16, "otsu", background_radius=radius, polarity="bright")
    assert np.array_equal(bright16.processed, cv2.morphologyEx(coins16, cv2.MORPH_TOPHAT, disc))


def test_large_radius_background_subtraction_approximates_the_top_hat():
    # radii above 10 px are computed on a shrunk copy (Fiji's rule); the foreground must stay the same
    radius = 50
    exact = cv2.morphologyEx(COINS, cv2.MORPH_TOPHAT, ellipse(2 * radius + 1))
    result = seg.threshold(COINS, "otsu", background_radius=radius, polarity="bright")
    assert result.processed.dtype == np.uint8 and result.processed.shape == COINS.shape
    t, _ = cv2.threshold(exact, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    reference = exact > t
    iou = np.logical_and(result.mask, reference).sum() / np.logical_or(result.mask, reference).sum()
    assert iou > 0.9


# ------------------------------------------------------------------------------------------ clean-up
def _clean(mask, **params):
    image = mask.astype(np.uint8) * 255
    result = seg.threshold(image, "manual", value=127, polarity="bright", **params)
    assert np.array_equal(result.raw_mask, mask)
    return result.mask


def _blobs(shape=(120, 160), seed=0):
    rng = np.random.default_rng(seed)
    noise = ndi.gaussian_filter(rng.random(shape), 3)
    mask = noise > np.percentile(noise, 60)
    mask |= rng.random(shape) > 0.985  # specks
    mask &= rng.random(shape) > 0.01  # pinholes
    return mask


@pytest.mark.parametrize("diameter", [3, 5, 9])
@pytest.mark.parametrize("iterations", [1, 2])
def test_opening_equals_opencv(diameter, iterations):
    mask = _blobs()
    expected = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, ellipse(diameter), iterations=iterations) > 0
    assert np.array_equal(_clean(mask, opening=diameter, iterations=iterations), expected)


@pytest.mark.parametrize("diameter", [3, 5, 9])
@pytest.mark.parametrize("iterations", [1, 2])
def test_closing_equals_closing_in_an_empty_surrounding(diameter, iterations):
    # reference: SciPy, on the mask embedded in a wide empty margin (nothing outside the image)
    mask = _blobs(seed=1)
    pad = diameter * iterations + 2
    padded = np.pad(mask, pad)
    structure = ellipse(diameter) > 0
    dilated = ndi.binary_dilation(padded, structure, iterations=iterations)
    closed = ndi.binary_erosion(dilated, structure, iterations=iterations, border_value=1)
    expected = closed[pad:-pad, pad:-pad]
    assert np.array_equal(_clean(mask, closing=diameter, iterations=iterations), expected)


def test_closing_does_not_glue_objects_to_the_border():
    mask = np.zeros((20, 20), bool)
    mask[2:8, 2:8] = True  # two pixels from the top and left edges
    closed = _clean(mask, closing=7)
    assert np.array_equal(closed, mask)


def test_fill_holes_equals_scipy():
    mask = _blobs(seed=2)
    mask[40:60, 40:60] = True
    mask[45:55, 45:55] = False  # a certain hole
    filled = _clean(mask, fill_holes=True)
    assert np.array_equal(filled, ndi.binary_fill_holes(mask))
    assert filled[50, 50]


@pytest.mark.parametrize("n", [2, 5, 12])
def test_min_size_removes_strictly_smaller_objects(n):
    mask = np.zeros((20, 60), bool)
    objects = {n - 1: (2, 2), n: (2, 22), n + 1: (2, 42)}
    for size, (row, col) in objects.items():
        pixels = [(row + i // 4, col + i % 4) for i in range(size)]  # a 4-wide block filled row by row
        for r, c in pixels:
            mask[r, c] = True
    labels, count = ndi.label(mask, structure=np.ones((3, 3)))
    assert sorted(np.bincount(labels.ravel())[1:]) == [n - 1, n, n + 1]
    cleaned = _clean(mask, min_size=n)
    kept = sorted(np.bincount(ndi.label(cleaned, structure=np.ones((3, 3)))[0].ravel())[1:])
    assert kept == [n, n + 1]  # the object of n - 1 pixels is gone, the one of exactly n stays


def test_min_size_counts_diagonal_neighbours_as_one_object():
    mask = np.zeros((10, 10), bool)
    mask[[1, 2, 3], [1, 2, 3]] = True  # 3 pixels, 8-connected
    assert np.array_equal(_clean(mask, min_size=3), mask)
    assert not _clean(mask, min_size=4).any()


def test_clear_border_equals_scikit_image():
    mask = _blobs(seed=3)
    cleared = _clean(mask, clear_border=True)
    assert np.array_equal(cleared, clear_border(mask))
    assert not cleared[0].any() and not cleared[-1].any() and not cleared[:, 0].any() and not cleared[:, -1].any()
    assert cleared.any()


def test_clean_up_steps_run_in_the_documented_order():
    mask = _blobs(seed=4)
    params = dict(opening=3, closing=5, iterations=1, fill_holes=True, min_size=30, clear_border=True)
    expected = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, ellipse(3)) > 0
    pad = 10
    expected = ndi.binary_erosion(ndi.binary_dilation(np.pad(expected, pad), ellipse(5) > 0),
                                  ellipse(5) > 0, border_value=1)[pad:-pad, pad:-pad]
    expected = ndi.binary_fill_holes(expected)
    labels, _ = ndi.label(expected, structure=np.ones((3, 3)))
    sizes = np.bincount(labels.ravel())
    expected = (sizes >= 30)[labels] & (labels > 0)
    expected = clear_border(expected)
    result = seg.threshold(mask.astype(np.uint8) * 255, "manual", value=127, polarity="bright", **params)
    assert np.array_equal(result.mask, expected)
    assert np.array_equal(result.raw_mask, mask)
