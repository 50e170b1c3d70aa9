"""The exported thresholding building blocks check their own contract and handle degenerate images.

Every public function refuses a wrong array (int32, RGB where one channel is expected, 4-D, empty, not an
array) and a wrong word or number with a :class:`segmentation.ParameterError` (a ``ValueError``) whose
message starts with the parameter's name. A constant image's threshold is its value for every method that
returns one threshold (scikit-image's rule: its ``threshold_otsu``, ``threshold_li``, ``threshold_mean`` and,
for integer images, ``threshold_yen`` and ``threshold_isodata`` return it); Minimum and multi-Otsu refuse a
constant image with a :class:`segmentation.SegmentationError`, as scikit-image raises too. The pipeline's
own results are covered by ``test_thresholding.py``; a few are repeated here next to the constant rule.
"""

from __future__ import annotations

import math
import warnings

import cv2
import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage import data, filters

import segmentation as seg
from segmentation import ParameterError, SegmentationError

GRAY = data.camera()[::8, ::8].copy()  # 64×64 uint8
RGB = data.astronaut()[::8, ::8].copy()  # 64×64×3 uint8

#: Every function that takes one single-channel image first, called with otherwise valid arguments.
CHANNEL_FUNCTIONS = {
    "otsu_threshold": seg.otsu_threshold,
    "triangle_threshold": seg.triangle_threshold,
    "li_threshold": seg.li_threshold,
    "yen_threshold": seg.yen_threshold,
    "isodata_threshold": seg.isodata_threshold,
    "mean_threshold": seg.mean_threshold,
    "minimum_threshold": seg.minimum_threshold,
    "multiotsu_thresholds": lambda image: seg.multiotsu_thresholds(image, 3),
    "multiotsu_mask": lambda image: seg.multiotsu_mask(image, (50.0, 150.0), (2,)),
    "manual_threshold": lambda image: seg.manual_threshold(image, 100.0),
    "binarize": lambda image: seg.binarize(image, 100.0, "bright"),
    "adaptive_threshold_mask": lambda image: seg.adaptive_threshold_mask(image, block_size=11),
    "sauvola_surface": lambda image: seg.sauvola_surface(image, window=11),
    "niblack_surface": lambda image: seg.niblack_surface(image, window=11),
    "smooth": lambda image: seg.smooth(image, "gaussian", sigma=1.0),
    "resolve_polarity": lambda image: seg.resolve_polarity(image, "auto"),
    "subtract_background": lambda image: seg.subtract_background(image, 5),
}
#: Functions that take a grayscale or an RGB image.
IMAGE_FUNCTIONS = {
    "extract_channel": lambda image: seg.extract_channel(image, "luminance"),
    "prepare": lambda image: seg.prepare(image, seg.ThresholdRecipe()),
}
#: Generic numeric helpers: any shape, but an ndarray of uint8, uint16 or float32.
NUMERIC_FUNCTIONS = {
    "to_uint8": seg.to_uint8,
    "is_constant": seg.is_constant,
    "float_exponent": seg.float_exponent,
    "in_float_range": lambda image: seg.in_float_range(image, 0),
}
GLOBAL_SINGLE = ("otsu", "triangle", "li", "yen", "isodata", "mean")


def _raises_naming(name, func, *args, **kwargs) -> ParameterError:
    with pytest.raises(ParameterError) as info:
        func(*args, **kwargs)
    assert isinstance(info.value, ValueError)
    assert str(info.value).startswith(name), f"the message does not start with {name!r}: {info.value}"
    return info.value


# --------------------------------------------------------------------------------------- the arrays
def test_every_exported_function_is_listed():
    listed = set(CHANNEL_FUNCTIONS) | set(IMAGE_FUNCTIONS) | set(NUMERIC_FUNCTIONS)
    building_blocks = set(seg.thresholding.__all__) - {"threshold", "ThresholdResult", "Prepared", "clean_mask",
                                                       "remove_small_objects", "background_shrink_factor"}
    assert building_blocks <= listed


@pytest.mark.parametrize("name", sorted(CHANNEL_FUNCTIONS))
@pytest.mark.parametrize("bad", ["int32", "float64", "rgb", "4-D", "1-D", "empty", "list"])
def test_single_channel_functions_refuse_other_arrays_naming_image(name, bad):
    image = {
        "int32": GRAY.astype(np.int32),
        "float64": GRAY.astype(np.float64),
        "rgb": RGB,
        "4-D": GRAY.reshape(1, 64, 64, 1),
        "1-D": GRAY.ravel(),
        "empty": np.zeros((0, 5), np.uint8),
        "list": GRAY.tolist(),
    }[bad]
    error = _raises_naming("image", CHANNEL_FUNCTIONS[name], image)
    if bad in ("int32", "rgb", "4-D"):
        assert "as_image" in str(error) or bad == "4-D"  # says how to convert


@pytest.mark.parametrize("name", sorted(CHANNEL_FUNCTIONS))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_single_channel_functions_take_the_three_dtypes(name, dtype):
    image = GRAY.astype(dtype) * (257 if dtype == np.uint16 else 1)
    try:
        CHANNEL_FUNCTIONS[name](image)
    except SegmentationError:  # Minimum needs a bimodal histogram; the contract holds
        assert name == "minimum_threshold"


@pytest.mark.parametrize("name", sorted(IMAGE_FUNCTIONS))
@pytest.mark.parametrize("bad", ["int32", "rgba", "4-D", "empty", "none"])
def test_image_functions_refuse_other_arrays_naming_image(name, bad):
    image = {
        "int32": RGB.astype(np.int32),
        "rgba": np.dstack([RGB, RGB[:, :, :1]]),
        "4-D": RGB[None],
        "empty": np.zeros((0, 4, 3), np.uint8),
        "none": None,
    }[bad]
    _raises_naming("image", IMAGE_FUNCTIONS[name], image)


@pytest.mark.parametrize("name", sorted(IMAGE_FUNCTIONS))
@pytest.mark.parametrize("image", [GRAY, RGB, RGB.astype(np.uint16), RGB.astype(np.float32) / 255])
def test_image_functions_take_gray_and_rgb(name, image):
    IMAGE_FUNCTIONS[name](image)


@pytest.mark.parametrize("name", sorted(NUMERIC_FUNCTIONS))
@pytest.mark.parametrize("bad", ["int32", "float64", "bool", "empty", "scalar", "list"])
def test_numeric_helpers_refuse_other_arrays_naming_image(name, bad):
    image = {
        "int32": GRAY.astype(np.int32),
        "float64": GRAY.astype(np.float64),
        "bool": GRAY > 100,
        "empty": np.zeros((0, 3), np.float32),
        "scalar": np.float32(1.0),
        "list": [[1, 2]],
    }[bad]
    _raises_naming("image", NUMERIC_FUNCTIONS[name], image)


@pytest.mark.parametrize("name", sorted(NUMERIC_FUNCTIONS))
def test_numeric_helpers_take_colour_images(name):
    NUMERIC_FUNCTIONS[name](RGB.astype(np.float32))


def test_in_float_range_wants_a_whole_exponent():
    _raises_naming("exponent", seg.in_float_range, GRAY.astype(np.float32), 1.5)


@pytest.mark.parametrize(("image", "words"), [
    (np.zeros((2, 2, 2, 2), np.uint8), "shape"),
    (np.zeros((0, 3), np.uint8), "empty"),
    (np.ones((3, 3), np.complex64), "unsupported"),
    (np.array([["a", "b"]]), "unsupported"),
    (np.full((3, 3), np.nan, np.float32), "finite"),
])
def test_as_image_raises_a_parameter_error_naming_image(image, words):
    error = _raises_naming("image", seg.as_image, image)
    assert words in str(error)


def test_threshold_names_an_unknown_parameter():
    error = _raises_naming("unknown threshold parameter", seg.threshold, GRAY, "otsu", sigam=2)
    assert "sigam" in str(error)


# -------------------------------------------------------------------------------- words and numbers
@pytest.mark.parametrize("word", ["brigth", "Bright", "BRIGHT", "auto", "", None, 1])
def test_binarize_refuses_a_polarity_that_is_not_bright_or_dark(word):
    error = _raises_naming("polarity", seg.binarize, GRAY, 100, word)
    assert "bright" in str(error) and "dark" in str(error)


@pytest.mark.parametrize("word", ["Bright", "brigth", "auto"])
def test_adaptive_refuses_a_polarity_that_is_not_bright_or_dark(word):
    _raises_naming("polarity", seg.adaptive_threshold_mask, GRAY, polarity=word)


def test_the_issue_examples_no_longer_return_the_dark_mask():
    dark = seg.binarize(GRAY, 100, "dark")
    assert np.array_equal(dark, GRAY <= 100)
    for call in (lambda: seg.binarize(GRAY, 100, "brigth"),
                 lambda: seg.adaptive_threshold_mask(GRAY, polarity="Bright")):
        with pytest.raises(ValueError, match="polarity"):
            call()


@pytest.mark.parametrize(("name", "call"), [
    ("t", lambda: seg.binarize(GRAY, float("nan"))),
    ("t", lambda: seg.binarize(GRAY, "100")),
    ("value", lambda: seg.manual_threshold(GRAY, math.inf)),
    ("classes", lambda: seg.multiotsu_thresholds(GRAY, 1)),
    ("classes", lambda: seg.multiotsu_thresholds(GRAY, 2.5)),
    ("classes", lambda: seg.multiotsu_thresholds(GRAY, True)),
    ("thresholds", lambda: seg.multiotsu_mask(GRAY, (), ())),
    ("thresholds", lambda: seg.multiotsu_mask(GRAY, (150.0, 50.0), (1,))),
    ("thresholds", lambda: seg.multiotsu_mask(GRAY, 100.0, (1,))),
    ("foreground_classes", lambda: seg.multiotsu_mask(GRAY, (50.0, 150.0), (3,))),
    ("foreground_classes", lambda: seg.multiotsu_mask(GRAY, (50.0, 150.0), (-1,))),
    ("foreground_classes", lambda: seg.multiotsu_mask(GRAY, (50.0, 150.0), 1)),
    ("block_size", lambda: seg.adaptive_threshold_mask(GRAY, block_size=4)),
    ("block_size", lambda: seg.adaptive_threshold_mask(GRAY, block_size=1)),
    ("offset", lambda: seg.adaptive_threshold_mask(GRAY, offset=math.inf)),
    ("gaussian", lambda: seg.adaptive_threshold_mask(GRAY, gaussian="yes")),
    ("window", lambda: seg.sauvola_surface(GRAY, window=10)),
    ("k", lambda: seg.sauvola_surface(GRAY, k=math.nan)),
    ("r", lambda: seg.sauvola_surface(GRAY, r=-1.0)),
    ("window", lambda: seg.niblack_surface(GRAY, window=1)),
    ("channel", lambda: seg.extract_channel(RGB, "lum")),
    ("channel", lambda: seg.extract_channel(GRAY, "")),
    ("method", lambda: seg.smooth(GRAY, "gausian")),
    ("sigma", lambda: seg.smooth(GRAY, "gaussian", sigma=0)),
    ("sigma", lambda: seg.smooth(GRAY, "gaussian", sigma=-1.0)),
    ("size", lambda: seg.smooth(GRAY, "median", size=4)),
    ("size", lambda: seg.smooth(GRAY, "median", size=1)),
    ("size", lambda: seg.smooth(GRAY, "median", size=5.5)),
    ("polarity", lambda: seg.resolve_polarity(GRAY, "Auto")),
    ("radius", lambda: seg.subtract_background(GRAY, -1)),
    ("radius", lambda: seg.subtract_background(GRAY, 2.5)),
    ("polarity", lambda: seg.subtract_background(GRAY, 5, polarity="auto")),
    ("radius", lambda: seg.background_shrink_factor(-3)),
    ("recipe", lambda: seg.prepare(GRAY, {"method": "otsu"})),
    ("mask", lambda: seg.clean_mask(GRAY)),
    ("mask", lambda: seg.clean_mask(np.zeros((2, 2, 2), bool))),
    ("opening", lambda: seg.clean_mask(GRAY > 0, opening=-1)),
    ("closing", lambda: seg.clean_mask(GRAY > 0, closing=2.5)),
    ("iterations", lambda: seg.clean_mask(GRAY > 0, iterations=0)),
    ("fill_holes", lambda: seg.clean_mask(GRAY > 0, fill_holes=1)),
    ("min_size", lambda: seg.clean_mask(GRAY > 0, min_size=-5)),
    ("clear_border", lambda: seg.clean_mask(GRAY > 0, clear_border="no")),
    ("mask", lambda: seg.remove_small_objects(GRAY, 5)),
    ("min_size", lambda: seg.remove_small_objects(GRAY > 0, -1)),
])
def test_bad_words_and_numbers_raise_naming_the_parameter(name, call):
    _raises_naming(name, call)


def test_valid_edge_values_are_accepted():
    assert seg.smooth(GRAY, "median", size=3).shape == GRAY.shape
    assert seg.smooth(GRAY, "none", sigma=0.1, size=99) is GRAY
    assert seg.subtract_background(GRAY, 0) is GRAY
    assert seg.background_shrink_factor(0) == 1
    assert seg.adaptive_threshold_mask(GRAY, block_size=3, offset=-5.0, gaussian=np.True_).shape == GRAY.shape
    assert seg.multiotsu_mask(GRAY, [100.0], []).sum() == 0
    assert seg.clean_mask(GRAY > 100, opening=0, closing=0, min_size=0).shape == GRAY.shape
    assert seg.extract_channel(GRAY, "hue") is GRAY  # a gray image has one channel, whatever the word


# ----------------------------------------------------------------------------------- constant images
CONSTANTS = [
    (np.uint8, 0), (np.uint8, 1), (np.uint8, 77), (np.uint8, 254), (np.uint8, 255),
    (np.uint16, 0), (np.uint16, 3000), (np.uint16, 65535),
    (np.float32, 0.0), (np.float32, 0.3), (np.float32, -2.5), (np.float32, 1e30), (np.float32, 1e-30),
]


def _constant(dtype, value, shape=(30, 40)):
    return np.full(shape, value, dtype)


@pytest.mark.parametrize("method", GLOBAL_SINGLE)
@pytest.mark.parametrize(("dtype", "value"), CONSTANTS)
def test_a_constant_image_threshold_is_the_constant(method, dtype, value):
    image = _constant(dtype, value)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by zero on the way
        t = getattr(seg, f"{method}_threshold")(image)
    assert t == float(image[0, 0]) and type(t) is float
    assert not seg.binarize(image, t, "bright").any()  # so "value > t" selects nothing
    assert seg.binarize(image, t, "dark").all()


def _skimage_defines(method, dtype, value):
    """Where scikit-image 0.26 returns the constant itself (see the module docstring for the others)."""
    if method in ("yen", "isodata"):  # a float image makes them divide by zero (yen) or fail (isodata)
        return dtype != np.float32
    # A constant of 1e30: Otsu and Li return it; Mean's float32 sum rounds it down, Triangle has too many bins.
    return method in ("otsu", "li") or not (dtype == np.float32 and abs(value) > 1e20)


CONSTANT_CASES = [(m, d, v) for m in GLOBAL_SINGLE for d, v in CONSTANTS]
SKIMAGE_DEFINED = [case for case in CONSTANT_CASES if _skimage_defines(*case)]
SKIMAGE_DEVIATES = [case for case in CONSTANT_CASES if not _skimage_defines(*case)]


@pytest.mark.parametrize(("method", "dtype", "value"), SKIMAGE_DEFINED)
def test_the_constant_rule_is_scikit_images(method, dtype, value):
    image = _constant(dtype, value)
    reference = float(getattr(filters, f"threshold_{method}")(image))
    assert getattr(seg, f"{method}_threshold")(image) == reference == float(image[0, 0])


@pytest.mark.parametrize(("method", "dtype", "value"), SKIMAGE_DEVIATES)
def test_where_scikit_image_has_no_usable_answer_the_library_still_returns_the_constant(method, dtype, value):
    """Yen and IsoData on float images, and huge float constants: scikit-image fails or misses the constant."""
    image = _constant(dtype, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-image's division by zero, on the way to its unusable answer
        try:
            reference = float(getattr(filters, f"threshold_{method}")(image))
        except (IndexError, ValueError, RuntimeError):
            reference = None
    assert reference is None or reference != float(image[0, 0]) or not np.isfinite(reference)
    assert getattr(seg, f"{method}_threshold")(image) == float(image[0, 0])


@pytest.mark.parametrize("value", [0, 1, 77, 255])
def test_opencv_on_a_constant_image_would_select_every_pixel(value):
    # What the library corrects: OpenCV's Otsu returns 0 and its triangle the level minus one.
    image = _constant(np.uint8, value)
    otsu, _ = cv2.threshold(image, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    triangle, _ = cv2.threshold(image, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_TRIANGLE)
    assert otsu == 0 and triangle != value
    assert seg.otsu_threshold(image) == seg.triangle_threshold(image) == value


@pytest.mark.parametrize(("dtype", "value"), CONSTANTS)
def test_minimum_refuses_a_constant_image_like_scikit_image(dtype, value):
    image = _constant(dtype, value)
    with pytest.raises(SegmentationError, match="constant") as info:
        seg.minimum_threshold(image)
    assert "Minimum" in str(info.value) and "bimodal" in str(info.value)
    if abs(value) < 1e20:
        with pytest.raises(RuntimeError):
            filters.threshold_minimum(image)


@pytest.mark.parametrize(("dtype", "value"), CONSTANTS)
@pytest.mark.parametrize("classes", [2, 3])
def test_multiotsu_refuses_a_constant_image_like_scikit_image(dtype, value, classes):
    image = _constant(dtype, value)
    with pytest.raises(SegmentationError, match="classes"):
        seg.multiotsu_thresholds(image, classes)
    with pytest.raises(ValueError):
        filters.threshold_multiotsu(image, classes)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (5, 1)])
@pytest.mark.parametrize("method", GLOBAL_SINGLE)
def test_a_single_pixel_or_line_is_a_constant_image_too(method, shape):
    image = _constant(np.uint8, 9, shape)
    assert getattr(seg, f"{method}_threshold")(image) == 9.0


def test_local_methods_on_a_constant_image():
    image = _constant(np.uint16, 3000)
    assert not seg.adaptive_threshold_mask(image, offset=0).any()
    assert np.array_equal(seg.niblack_surface(image, window=5), np.full(image.shape, 3000.0))
    np.testing.assert_allclose(seg.sauvola_surface(_constant(np.uint8, 100), window=5, k=0.2), 80.0)


# ---------------------------------------------------------- near-constant images keep their methods' values
def test_otsu_of_two_levels_is_still_opencvs():
    # OpenCV's Otsu returns 0 on a two-level 0/1 image too: that is its real threshold, not the constant case.
    image = np.zeros((20, 20), np.uint8)
    image[::3] = 1
    image[0, 0] = 1  # a non-zero first pixel reaches the constant check, which must say "not constant"
    assert seg.otsu_threshold(image) == cv2.threshold(image, 0, 1, cv2.THRESH_OTSU)[0] == 0.0


@pytest.mark.parametrize("value", [0, 1, 2, 100, 254, 255])
@pytest.mark.parametrize("step", [1, 3])
def test_triangle_of_an_almost_constant_image_is_still_opencvs(value, step):
    image = _constant(np.uint8, value)
    image[5:9, 5:9] = (value + step) % 256
    expected, _ = cv2.threshold(image, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_TRIANGLE)
    assert seg.triangle_threshold(image) == expected


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_the_pipeline_keeps_its_own_constant_image_rule(dtype):
    image = _constant(dtype, 7)
    for method in ("otsu", "triangle", "li", "minimum", "multiotsu", "sauvola"):
        result = seg.threshold(image, method)
        assert result.thresholds == () and not result.mask.any()
        assert any("constant" in note for note in result.notes)


# -------------------------------------------------------------------- the methods' values are unchanged
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_per_method_functions_give_the_pipelines_thresholds(dtype):
    image = data.coins().astype(dtype) * (257 if dtype == np.uint16 else 1)
    for method in ("otsu", "triangle", "li", "yen", "isodata", "mean", "minimum"):
        expected = seg.threshold(image, method, polarity="bright")
        t = getattr(seg, f"{method}_threshold")(image)
        assert expected.thresholds == (t,)
        assert np.array_equal(expected.raw_mask, seg.binarize(image, t, "bright"))
    assert seg.threshold(image, "multiotsu", classes=3).thresholds == seg.multiotsu_thresholds(image, 3)


def test_otsu_on_real_images_equals_opencv_and_scikit_image():
    for image in (data.camera(), data.coins(), data.moon()):
        t = seg.otsu_threshold(image)
        assert t == cv2.threshold(image, 0, 1, cv2.THRESH_OTSU)[0] == filters.threshold_otsu(image)


# ------------------------------------------------------------------ thresholds far outside the image's range
#: Thresholds OpenCV's 8-bit code would overflow (it floors them into a C int) and ordinary ones around it.
FAR_THRESHOLDS = [-1e10, -1, 0, 254.5, 255, 1e10, 3e9, 2**31]


def _every_level(dtype):
    """An image of every 8-bit level, plus values around 255 and far beyond for the wider dtypes."""
    if dtype == np.uint8:
        return np.arange(256, dtype=np.uint8).reshape(16, 16)
    extra = [256, 1000, 65535] if dtype == np.uint16 else [-2.5, 255.5, 1e9, 4e9, -5e9, 3e38]
    values = np.concatenate([np.arange(256), extra, np.zeros(512 - 256 - len(extra))])
    return values.astype(dtype).reshape(16, 32)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("t", FAR_THRESHOLDS)
def test_binarize_is_numpys_comparison_whatever_the_threshold(dtype, t):
    image = _every_level(dtype)
    assert np.array_equal(seg.binarize(image, t, "bright"), image > t)
    assert np.array_equal(seg.binarize(image, t, "dark"), image <= t)


def test_the_issue_examples_of_huge_thresholds():
    image = np.arange(256, dtype=np.uint8).reshape(16, 16)
    for t in (3e9, 1e10, 2**31):
        assert seg.binarize(image, t, "bright").sum() == 0
        assert seg.binarize(image, -t, "dark").sum() == 0
    assert seg.threshold(image, "manual", value=3e9).foreground_fraction == 0.0
    assert seg.threshold(image, "manual", value=-3e9, polarity="bright").foreground_fraction == 1.0


@pytest.mark.parametrize("offset", [256, 1000, 3e9, 2**31, 1e10])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_adaptive_offsets_beyond_the_8_bit_range_select_all_or_nothing(offset, dtype):
    image = GRAY.astype(dtype)
    for sign in (1, -1):
        for polarity in ("bright", "dark"):
            mask = seg.adaptive_threshold_mask(image, block_size=11, offset=sign * offset, polarity=polarity)
            # bright: value > mean + offset; dark: value <= mean - offset (8-bit values differ by <= 255)
            assert mask.all() if sign < 0 else not mask.any(), (sign, polarity)
            assert np.array_equal(mask, seg.adaptive_threshold_mask(image, block_size=11, offset=sign * 256,
                                                                     polarity=polarity))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
@pytest.mark.parametrize("thresholds", [(3e9, 1e10), (-1e10, 2**31), (-1, 254.5), (0, 255), (10**30, 10**31)])
def test_multiotsu_mask_is_numpys_class_count_whatever_the_thresholds(dtype, thresholds):
    image = _every_level(dtype)
    classes = sum((image > t).astype(int) for t in thresholds)  # thresholds strictly below the value
    for chosen in [(0,), (1,), (2,), (0, 2)]:
        assert np.array_equal(seg.multiotsu_mask(image, thresholds, chosen), np.isin(classes, chosen))


# ------------------------------------------------------------------------------ NaN and ±inf float pixels
#: Every function that computes a threshold from the pixels' histogram or statistics: from the finite ones.
THRESHOLD_FUNCTIONS = {name: CHANNEL_FUNCTIONS[name] for name in (
    "otsu_threshold", "triangle_threshold", "li_threshold", "yen_threshold", "isodata_threshold",
    "mean_threshold", "minimum_threshold", "multiotsu_thresholds")}
#: Every function that filters or looks at neighbourhoods: "no data" counts as its nearest finite pixel.
FILTER_FUNCTIONS = {
    **{name: CHANNEL_FUNCTIONS[name] for name in ("adaptive_threshold_mask", "sauvola_surface", "niblack_surface",
                                                 "subtract_background")},
    "smooth gaussian": CHANNEL_FUNCTIONS["smooth"],
    "smooth median": lambda image: seg.smooth(image, "median", size=7),
}
#: Every function that reads the pixels, with the helpers resolve_polarity and to_uint8.
NON_FINITE_ALLOWED = {**THRESHOLD_FUNCTIONS, **FILTER_FUNCTIONS,
                      "resolve_polarity": CHANNEL_FUNCTIONS["resolve_polarity"], "to_uint8": seg.to_uint8}
NON_FINITE_CASES = [
    ((np.nan,), (0,)), ((np.inf,), (2000,)), ((-np.inf,), (4095,)), ((np.nan, np.inf, -np.inf), (7, 8, 9)),
]


def _with(values, positions, image=None):
    image = (GRAY.astype(np.float32) / 255) if image is None else image.copy()
    for value, position in zip(values, positions):
        image.flat[position] = value
    return image


def _nearest_fill(image):
    """Every non-finite pixel given the value of the nearest finite one (SciPy's exact distance transform,
    whose choice among equally near pixels the library shares)."""
    indices = ndi.distance_transform_edt(~np.isfinite(image), return_distances=False, return_indices=True)
    return image[tuple(indices)]


def test_every_statistics_function_is_listed():
    functions = set(seg.thresholding.__all__) - {"threshold", "ThresholdResult", "Prepared", "prepare", "clean_mask",
                                                 "remove_small_objects", "background_shrink_factor", "binarize",
                                                 "manual_threshold", "multiotsu_mask", "extract_channel", "smooth"}
    assert functions <= set(NON_FINITE_ALLOWED)


@pytest.mark.parametrize("name", sorted(THRESHOLD_FUNCTIONS))
@pytest.mark.parametrize(("values", "positions"), NON_FINITE_CASES)
def test_thresholds_come_from_the_finite_pixels(name, values, positions):
    image = _with(values, positions)
    finite_row = image[np.isfinite(image)][np.newaxis]
    try:
        expected = THRESHOLD_FUNCTIONS[name](finite_row)
    except SegmentationError:
        with pytest.raises(SegmentationError):
            THRESHOLD_FUNCTIONS[name](image)
        return
    assert THRESHOLD_FUNCTIONS[name](image) == expected


@pytest.mark.parametrize(("values", "positions"), NON_FINITE_CASES)
def test_scikit_image_thresholds_of_the_finite_pixels(values, positions):
    image = _with(values, positions)
    finite = image[np.isfinite(image)]
    assert seg.otsu_threshold(image) == pytest.approx(float(filters.threshold_otsu(finite)))
    assert seg.li_threshold(image) == pytest.approx(float(filters.threshold_li(finite)))
    assert seg.yen_threshold(image) == pytest.approx(float(filters.threshold_yen(finite)))
    assert seg.mean_threshold(image) == pytest.approx(float(filters.threshold_mean(finite)))
    assert seg.multiotsu_thresholds(image, 3) == pytest.approx(tuple(filters.threshold_multiotsu(finite, 3)))


@pytest.mark.parametrize("name", sorted(FILTER_FUNCTIONS))
@pytest.mark.parametrize(("values", "positions"), NON_FINITE_CASES)
def test_filters_see_no_data_as_the_nearest_finite_pixel(name, values, positions):
    image = _with(values, positions)
    nonfinite = ~np.isfinite(image)
    result = np.asarray(FILTER_FUNCTIONS[name](image))
    reference = np.asarray(FILTER_FUNCTIONS[name](_nearest_fill(image)))
    assert np.array_equal(result[~nonfinite], reference[~nonfinite])
    original = image[nonfinite]
    if name.startswith("smooth"):
        assert np.array_equal(result[nonfinite], original, equal_nan=True)  # "no data" stays as it was
    elif name == "subtract_background":  # bright objects: +inf stays above everything, -inf is background 0
        assert np.array_equal(result[nonfinite], np.where(original == -np.inf, 0, original), equal_nan=True)
    elif name == "adaptive_threshold_mask":  # IEEE: NaN never, +inf bright
        assert np.array_equal(result[nonfinite], original == np.inf)


def test_background_subtraction_of_dark_objects_turns_their_infinity_bright():
    image = _with((np.nan, np.inf, -np.inf), (7, 8, 9))
    flat = seg.subtract_background(image, 5, polarity="dark")
    assert np.isnan(flat.flat[7]) and flat.flat[8] == 0 and flat.flat[9] == np.inf


@pytest.mark.parametrize(("values", "positions"), NON_FINITE_CASES)
def test_automatic_polarity_counts_the_sides_by_ieee_rules(values, positions):
    image = _with(values, positions)
    t = seg.otsu_threshold(image)
    above, below = np.count_nonzero(image > t), np.count_nonzero(image <= t)
    assert seg.resolve_polarity(image) == ("bright" if above <= below else "dark")


def test_to_uint8_maps_the_finite_range_and_orders_infinities():
    image = np.array([[np.nan, np.inf, -np.inf, 10.0, 20.0, 15.0]], np.float32)
    image8, low, high = seg.to_uint8(image)
    assert (low, high) == (10.0, 20.0)
    assert image8.tolist() == [[0, 255, 0, 0, 255, 128]]
    assert seg.to_uint8(np.full((2, 2), np.nan, np.float32))[0].tolist() == [[0, 0], [0, 0]]


@pytest.mark.parametrize("name", sorted(NON_FINITE_ALLOWED))
def test_an_image_without_a_finite_pixel_is_refused_naming_image(name):
    image = np.full((20, 30), np.nan, np.float32)
    image[0, :3] = (np.inf, -np.inf, np.nan)
    if name == "resolve_polarity":  # nothing to decide: a constant image counts as bright
        assert seg.resolve_polarity(image) == "bright"
        return
    if name == "to_uint8":  # display helper: every pixel by the IEEE rule
        assert seg.to_uint8(image)[0].sum() == 255 and seg.to_uint8(image)[0][0, 0] == 255
        return
    error = _raises_naming("image", NON_FINITE_ALLOWED[name], image)
    assert "no finite values" in str(error)


@pytest.mark.parametrize("name", ["resolve_polarity", "otsu_threshold", "li_threshold", "mean_threshold"])
def test_a_nan_in_an_otherwise_constant_image_is_a_constant_image(name):
    image = _with((np.nan,), (100,), np.full((20, 30), 5.0, np.float32))
    assert seg.is_constant(image)
    result = NON_FINITE_ALLOWED[name](image)
    assert result == ("bright" if name == "resolve_polarity" else 5.0)
    assert seg.threshold(image, name.split("_")[0] if name != "resolve_polarity" else "otsu").mask.sum() == 0


def test_binarize_never_selects_nan_and_orders_infinities():
    image = _with((np.nan, np.inf, -np.inf), (0, 1, 2))
    for t in (-1e10, 0.5, 1e10):
        bright, dark = seg.binarize(image, t, "bright"), seg.binarize(image, t, "dark")
        assert np.array_equal(bright, image > t) and np.array_equal(dark, image <= t)
        assert not bright.flat[0] and not dark.flat[0]  # NaN: never foreground
        assert bright.flat[1] and dark.flat[2]  # +inf is bright, -inf dark


def test_multiotsu_mask_never_selects_nan():
    image = _with((np.nan, np.inf, -np.inf), (0, 1, 2))
    for chosen in [(0,), (2,), (0, 1, 2)]:
        mask = seg.multiotsu_mask(image, (0.3, 0.6), chosen)
        assert not mask.flat[0]
        finite = np.isfinite(image)
        classes = (image > np.float64(0.3)).astype(int) + (image > np.float64(0.6))  # compared in float64
        assert np.array_equal(mask[finite], np.isin(classes, chosen)[finite])
    assert mask.flat[1] and mask.flat[2]


def test_functions_that_do_not_read_the_pixels_take_non_finite_ones():
    image = _with((np.nan,), (0,))
    assert seg.manual_threshold(image, 0.5) == 0.5
    assert seg.smooth(image, "none") is image
    assert seg.subtract_background(image, 0) is image
    assert seg.resolve_polarity(image, "dark") == "dark"


def test_integer_images_are_not_scanned_for_non_finite_values():
    assert seg.otsu_threshold(GRAY) == seg.otsu_threshold(GRAY.astype(np.uint16))


# --------------------------------------------------------------- size parameters: the recipe's own ranges
T_SPECS = {spec.name: spec for spec in seg.ThresholdRecipe.specs()}
FLAT = np.zeros((6, 7), np.uint8)

#: (parameter in the message, the recipe parameter it implements, function, call with a value)
SIZE_BOUNDS = [
    ("sigma", "sigma", seg.smooth, lambda v: seg.smooth(GRAY, "gaussian", sigma=v)),
    ("size", "median_size", seg.smooth, lambda v: seg.smooth(GRAY, "median", size=v)),
    ("block_size", "block_size", seg.adaptive_threshold_mask,
     lambda v: seg.adaptive_threshold_mask(FLAT, block_size=v)),
    ("window", "window", seg.sauvola_surface, lambda v: seg.sauvola_surface(FLAT, window=v)),
    ("window", "window", seg.niblack_surface, lambda v: seg.niblack_surface(FLAT, window=v)),
    ("radius", "background_radius", seg.subtract_background, lambda v: seg.subtract_background(GRAY, v)),
    ("radius", "background_radius", seg.background_shrink_factor, lambda v: seg.background_shrink_factor(v)),
    ("opening", "opening", seg.clean_mask, lambda v: seg.clean_mask(GRAY > 100, opening=v)),
    ("closing", "closing", seg.clean_mask, lambda v: seg.clean_mask(GRAY > 100, closing=v)),
    ("iterations", "iterations", seg.clean_mask, lambda v: seg.clean_mask(GRAY > 100, opening=3, iterations=v)),
    ("min_size", "min_size", seg.clean_mask, lambda v: seg.clean_mask(GRAY > 100, min_size=v)),
    ("min_size", "min_size", seg.remove_small_objects, lambda v: seg.remove_small_objects(GRAY > 100, v)),
    ("classes", "classes", seg.multiotsu_thresholds,
     lambda v: seg.multiotsu_thresholds(np.arange(42, dtype=np.uint8).reshape(6, 7) % 7, v)),
]


def _step(spec):
    return 2 if spec.odd else 1 if spec.kind == "int" else 1e-6 * spec.max


@pytest.mark.parametrize(("name", "recipe_name", "function", "call"), SIZE_BOUNDS,
                         ids=[f"{case[2].__name__}-{case[0]}" for case in SIZE_BOUNDS])
def test_size_parameters_have_the_recipes_upper_bound(name, recipe_name, function, call):
    spec = T_SPECS[recipe_name]
    call(spec.max)  # the recipe's largest value works
    error = _raises_naming(name, call, spec.max + _step(spec))
    assert "at most" in str(error)
    for huge in (10**9 + 1, 10**30, 1e30):
        _raises_naming(name, call, huge)
    forms = {str(int(spec.max)), f"10**{round(math.log10(spec.max))}" if spec.max >= 1e6 else "?"}
    assert any(form in function.__doc__ for form in forms), f"the docstring does not give {spec.max:g}"


def test_the_issue_examples_of_huge_sizes_are_refused_at_once():
    for name, call in [
        ("sigma", lambda: seg.smooth(GRAY, "gaussian", sigma=1e30)),
        ("sigma", lambda: seg.smooth(GRAY, "gaussian", sigma=1e6)),
        ("size", lambda: seg.smooth(GRAY, "median", size=10**6 + 1)),
        ("block_size", lambda: seg.adaptive_threshold_mask(GRAY, block_size=10**9 + 1)),
        ("window", lambda: seg.sauvola_surface(GRAY, window=10**9 + 1)),
        ("radius", lambda: seg.subtract_background(GRAY, 10**9)),
        ("opening", lambda: seg.clean_mask(GRAY > 0, opening=10**9)),
        ("closing", lambda: seg.clean_mask(GRAY > 0, closing=10**5)),
        ("classes", lambda: seg.multiotsu_thresholds(GRAY, 6)),
    ]:
        _raises_naming(name, call)


# ------------------------------------------------------------------------- the checked value is the one used
def test_whole_floats_and_numpy_scalars_work_like_ints():
    image = np.arange(42, dtype=np.uint8).reshape(6, 7) % 7
    assert seg.multiotsu_thresholds(image, classes=3.0) == seg.multiotsu_thresholds(image, classes=3)
    assert seg.multiotsu_thresholds(image, classes=np.int64(3)) == seg.multiotsu_thresholds(image, 3)
    mask = GRAY > 100
    for kwargs in ({"opening": 3.0, "closing": 3.0, "iterations": 2.0}, {"min_size": 5.0},
                   {"opening": np.int32(3), "iterations": np.float64(2), "fill_holes": np.True_}):
        expected = seg.clean_mask(mask, **{k: (bool(v) if isinstance(v, np.bool_) else int(v))
                                           for k, v in kwargs.items()})
        assert np.array_equal(seg.clean_mask(mask, **kwargs), expected)
    assert np.array_equal(seg.remove_small_objects(mask, 5.0), seg.remove_small_objects(mask, 5))
    assert np.array_equal(seg.smooth(GRAY, "median", size=7.0), seg.smooth(GRAY, "median", size=7))
    assert np.array_equal(seg.smooth(GRAY.astype(np.float32), "median", size=np.float32(7)),
                          seg.smooth(GRAY.astype(np.float32), "median", size=7))
    assert np.array_equal(seg.subtract_background(GRAY, 15.0), seg.subtract_background(GRAY, 15))
    assert np.array_equal(seg.adaptive_threshold_mask(GRAY, block_size=11.0, offset=np.int64(5)),
                          seg.adaptive_threshold_mask(GRAY, block_size=11, offset=5))
    assert np.array_equal(seg.sauvola_surface(GRAY, window=11.0, k=np.float32(0.25)),
                          seg.sauvola_surface(GRAY, window=11, k=float(np.float32(0.25))))
    assert np.array_equal(seg.niblack_surface(GRAY, window=np.int16(11)), seg.niblack_surface(GRAY, window=11))
    assert seg.background_shrink_factor(50.0) == 4
    assert np.array_equal(seg.multiotsu_mask(GRAY, [np.float32(50), 150], [1.0, np.int8(2)]),
                          seg.multiotsu_mask(GRAY, (50.0, 150.0), (1, 2)))
    image32 = GRAY.astype(np.float32)
    assert np.array_equal(seg.in_float_range(image32, 3.0), seg.in_float_range(image32, 3))
    _raises_naming("exponent", seg.in_float_range, image32, 10**6)


# ------------------------------------------------------------------- the numeric helpers take images only
@pytest.mark.parametrize("name", sorted(NUMERIC_FUNCTIONS))
@pytest.mark.parametrize("shape", [(7,), (2, 3, 4, 1), (1, 2, 3, 4, 5)])
def test_numeric_helpers_refuse_1d_and_4d_arrays(name, shape):
    for dtype in (np.uint8, np.uint16, np.float32):
        error = _raises_naming("image", NUMERIC_FUNCTIONS[name], np.ones(shape, dtype))
        assert f"{len(shape)}-D" in str(error)


@pytest.mark.parametrize("name", sorted(NUMERIC_FUNCTIONS))
@pytest.mark.parametrize("channels", [1, 2, 4])
def test_numeric_helpers_take_any_number_of_channels(name, channels):
    NUMERIC_FUNCTIONS[name](np.ones((4, 5, channels), np.float32))


# ---------------------------------------------------------------------------- huge integers and NaN numbers
def test_a_float_parameter_given_an_integer_beyond_float_is_not_a_finite_number():
    for call, name in [(lambda v: seg.binarize(GRAY, v), "t"), (lambda v: seg.manual_threshold(GRAY, v), "value"),
                       (lambda v: seg.sauvola_surface(GRAY, k=v), "k")]:
        for value in (10**400, -(10**400), 10**5000):
            error = _raises_naming(name, call, value)
            assert "finite number" in str(error)
    assert seg.manual_threshold(GRAY, 10**300) == 1e300  # within float's range: taken


def test_integers_are_whole_numbers_whatever_their_size():
    error = _raises_naming("min_size", seg.remove_small_objects, GRAY > 0, 10**30)
    assert "whole" not in str(error) and "at most 1000000000" in str(error)
    for huge in (2**53 + 1, np.uint64(2**64 - 1), 1e30, 10**400):
        error = _raises_naming("min_size", seg.remove_small_objects, GRAY > 0, huge)
        assert "at most" in str(error)
    assert seg.remove_small_objects(GRAY > 0, 10**9).sum() == 0  # the largest value: exact, not rounded
    _raises_naming("min_size", seg.remove_small_objects, GRAY > 0, 10**9 + 1)


@pytest.mark.parametrize(("name", "call"), [
    ("t", lambda v: seg.binarize(GRAY, v)),
    ("value", lambda v: seg.manual_threshold(GRAY, v)),
    ("min_size", lambda v: seg.remove_small_objects(GRAY > 0, v)),
    ("sigma", lambda v: seg.smooth(GRAY, "gaussian", sigma=v)),
    ("classes", lambda v: seg.multiotsu_thresholds(GRAY, v)),
    ("thresholds", lambda v: seg.multiotsu_mask(GRAY, (v,), ())),
    ("offset", lambda v: seg.adaptive_threshold_mask(GRAY, offset=v)),
])
@pytest.mark.parametrize("nan", [math.nan, np.float32("nan"), np.float64("nan"), np.float16("nan")])
def test_nan_numbers_are_refused_naming_the_parameter(name, call, nan):
    error = _raises_naming(name, call, nan)
    assert "finite number" in str(error)


# ------------------------------------------------------------------ multi-Otsu words a constant image alike
@pytest.mark.parametrize("classes", [2, 3, 5])
def test_multiotsu_says_constant_for_every_dtype(classes):
    messages = set()
    for dtype in (np.uint8, np.uint16, np.float32):
        with pytest.raises(SegmentationError) as info:
            seg.multiotsu_thresholds(_constant(dtype, 7), classes)
        messages.add(str(info.value))
    assert len(messages) == 1
    (message,) = messages
    assert "constant" in message and "every pixel is 7" in message and f"({classes})" in message


def test_multiotsu_too_few_levels_is_not_called_constant():
    two_levels = np.zeros((10, 10), np.uint8)
    two_levels[5:] = 200
    with pytest.raises(SegmentationError, match="too few distinct grey levels") as info:
        seg.multiotsu_thresholds(two_levels, 4)
    assert "constant" not in str(info.value)
