"""Tests for the display images (segmentation.display): stretch, masks, labels, overlays, resizing, encoding."""

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from segmentation import (
    boundary_overlay,
    colorize_labels,
    display_image,
    downscale,
    encode_jpeg_bytes,
    encode_png_bytes,
    label_palette,
    mask_image,
)

CROSS = ndimage.generate_binary_structure(2, 1)


def reference_boundary(segmentation, radius=1):
    """Independent reference: object pixels with a smaller value within `radius` (scipy, not OpenCV)."""
    values = segmentation.astype(np.int64)
    footprint = CROSS if radius == 1 else cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2) > 0
    eroded = ndimage.grey_erosion(values, footprint=footprint, mode="constant", cval=values.max() + 1)
    return eroded < values


# ----------------------------------------------------------------------------- display_image
def test_ordinary_uint8_passes_through_unchanged():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    out, stretched = display_image(img)
    assert not stretched
    assert np.array_equal(out, img)
    out[:] = 0  # a new array: drawing on it must not touch the caller's image
    assert img.any()


def test_gray_becomes_three_equal_channels():
    img = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out, _ = display_image(img)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    for c in range(3):
        assert np.array_equal(out[..., c], img)


def test_16bit_12bit_range_is_stretched_wide():
    rng = np.random.default_rng(1)
    img = rng.integers(100, 4001, (64, 64), dtype=np.uint16)
    out, stretched = display_image(img)
    assert stretched
    assert out.min() <= 2 and out.max() >= 253


def test_16bit_stretch_matches_percentile_reference():
    rng = np.random.default_rng(2)
    img = rng.integers(100, 4001, (80, 70), dtype=np.uint16)
    lo, hi = np.percentile(img, [0.5, 99.5], method="inverted_cdf")
    expected = np.clip((img.astype(np.float64) - lo) * 255.0 / (hi - lo), 0, 255)
    out, _ = display_image(img)
    assert np.abs(out[..., 0].astype(np.float64) - expected).max() <= 1.0


def test_low_contrast_uint8_is_stretched_and_never_keeps_it():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 21, (50, 50), dtype=np.uint8)
    out, stretched = display_image(img)
    assert stretched and out.max() == 255 and out.min() == 0
    out, stretched = display_image(img, stretch="never")
    assert not stretched and np.array_equal(out[..., 0], img)


def test_stretch_is_monotonic():
    rng = np.random.default_rng(4)
    img = rng.integers(0, 65536, (30, 30), dtype=np.uint16)
    out, _ = display_image(img)
    order = np.argsort(img.ravel(), kind="stable")
    assert np.all(np.diff(out[..., 0].ravel()[order].astype(int)) >= 0)


def test_never_maps_dtype_range():
    img = np.array([[0, 257, 65535]], np.uint16)
    out, stretched = display_image(img, stretch="never")
    assert not stretched and out[0, :, 0].tolist() == [0, 1, 255]
    f = np.array([[-1.0, 0.0, 0.5, 1.0, 3.0]], np.float32)
    assert display_image(f, stretch="never")[0][0, :, 0].tolist() == [0, 0, 128, 255, 255]


def test_always_stretches_uint8():
    img = np.full((10, 10), 100, np.uint8)
    img[5:] = 150
    out, stretched = display_image(img, stretch="always")
    assert stretched and set(np.unique(out).tolist()) == {0, 255}


def test_rgb_channels_share_one_stretch():
    img = np.zeros((10, 10, 3), np.uint16)
    img[..., 0] = 1000
    img[..., 1] = np.linspace(0, 2000, 100, dtype=np.uint16).reshape(10, 10)
    img[..., 2] = 1000
    out, _ = display_image(img)
    assert np.array_equal(out[..., 0], out[..., 2])  # equal values stay equal across channels
    assert out[..., 1].max() == 255 and out[..., 1].min() == 0


def test_float_with_nan_and_inf():
    img = np.linspace(0, 10, 100, dtype=np.float32).reshape(10, 10)
    img[0, 0], img[0, 1], img[0, 2] = np.nan, np.inf, -np.inf
    out, stretched = display_image(img)
    assert stretched and out.dtype == np.uint8
    assert out[0, 0, 0] == 0 and out[0, 1, 0] == 255 and out[0, 2, 0] == 0
    assert out[9, 9, 0] == 255 and out[1, 0, 0] < out[5, 0, 0] < out[8, 0, 0]


def test_float64_is_accepted():
    out, stretched = display_image(np.linspace(0, 1, 64).reshape(8, 8))
    assert stretched and out.shape == (8, 8, 3)


@pytest.mark.parametrize(
    "img, value",
    [
        (np.full((5, 5), 7, np.uint8), 7),  # 8-bit constant shown as it is
        (np.full((5, 5), 3000, np.uint16), 128),  # no contrast: mid-grey
        (np.full((5, 5), 0.25, np.float32), 128),
        (np.full((5, 5), np.nan, np.float32), 128),
    ],
)
def test_constant_images_do_not_divide_by_zero(img, value):
    with np.errstate(all="raise"):
        out, stretched = display_image(img)
    assert not stretched and np.all(out == value)


def test_sparse_bright_pixels_use_full_range():
    img = np.zeros((100, 100), np.uint16)
    img[0, 0] = 5000  # both percentiles are 0: fall back to min..max
    out, stretched = display_image(img)
    assert stretched and out[0, 0, 0] == 255 and out[50, 50, 0] == 0


def test_large_image_single_bright_pixel_outside_the_row_sample():
    img = np.zeros((3000, 1000), np.uint16)
    img[1, 1] = 5000  # row 1 is not in the percentile sample; the exact min/max fallback finds it
    out, stretched = display_image(img)
    assert stretched and out[1, 1, 0] == 255 and out[0, 0, 0] == 0


def test_large_image_percentiles_from_row_sample_are_close():
    rng = np.random.default_rng(8)
    img = rng.integers(100, 4001, (2000, 1500), dtype=np.uint16)
    out, _ = display_image(img)
    lo, hi = np.percentile(img, [0.5, 99.5])
    expected = np.clip((img.astype(np.float64) - lo) * 255.0 / (hi - lo), 0, 255)
    assert np.abs(out[..., 0] - expected).max() <= 2.0


@pytest.mark.parametrize(
    "bad, kwargs",
    [
        (np.zeros((4, 4, 4), np.uint8), {}),
        (np.zeros((4, 4), np.int32), {}),
        (np.zeros((4, 4), bool), {}),
        (np.zeros((0, 4), np.uint8), {}),
        (np.zeros((4, 4), np.uint8), {"stretch": "sometimes"}),
        (np.zeros((4, 4), np.uint8), {"percentiles": (99, 1)}),
    ],
)
def test_display_image_rejects_bad_input(bad, kwargs):
    with pytest.raises(ValueError):
        display_image(bad, **kwargs)


# ----------------------------------------------------------------------------- mask_image
def test_mask_image_colours():
    mask = np.zeros((6, 7), bool)
    mask[2:4, 1:5] = True
    out = mask_image(mask, color=(10, 20, 30), background=(1, 2, 3))
    assert out.shape == (6, 7, 3) and out.dtype == np.uint8
    assert np.all(out[mask] == (10, 20, 30)) and np.all(out[~mask] == (1, 2, 3))


def test_mask_image_rejects_non_bool_and_bad_colour():
    with pytest.raises(ValueError):
        mask_image(np.zeros((3, 3), np.uint8))
    with pytest.raises(ValueError):
        mask_image(np.zeros((3, 3), bool), color=(300, 0, 0))


# ----------------------------------------------------------------------------- colorize_labels
def test_colours_are_stable():
    a = np.zeros((10, 10), np.int32)
    a[1:3, 1:3] = 5
    a[6:8, 6:8] = 3
    b = np.where(a == 3, 0, a)  # label 3 removed
    c = a.copy()
    c[0, 9] = 500  # a much larger label added
    assert np.array_equal(colorize_labels(a)[1, 1], colorize_labels(b)[1, 1])
    assert np.array_equal(colorize_labels(a)[1, 1], colorize_labels(c)[1, 1])
    assert np.array_equal(colorize_labels(a)[1, 1], label_palette(6)[5])


def test_colours_are_distinct():
    palette = label_palette(256).astype(np.int64)
    consecutive = np.sqrt(((palette[2:] - palette[1:-1]) ** 2).sum(axis=1))
    assert consecutive.min() > 60  # neighbouring ids look clearly different
    assert len({tuple(c) for c in palette[1:101]}) == 100
    assert np.sqrt((palette[1:] ** 2).sum(axis=1)).min() > 100  # never close to the black background


def test_colorize_background_and_values():
    labels = np.array([[0, 1, 2], [2, 0, 1]], np.int32)
    out = colorize_labels(labels, background=(9, 9, 9))
    palette = label_palette(3)
    assert out[0, 0].tolist() == [9, 9, 9]
    assert np.array_equal(out[0, 1], palette[1]) and np.array_equal(out[1, 2], palette[1])
    assert np.array_equal(out[0, 2], palette[2])


def test_colorize_no_labels():
    out = colorize_labels(np.zeros((4, 5), np.int32))
    assert out.shape == (4, 5, 3) and not out.any()


def test_colorize_rejects_bad_labels():
    with pytest.raises(ValueError):
        colorize_labels(np.array([[-1, 0]], np.int32))
    with pytest.raises(ValueError):
        colorize_labels(np.zeros((3, 3), np.float32))


# ----------------------------------------------------------------------------- boundary_overlay
def test_overlay_mask_draws_exactly_the_boundary():
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    mask = np.zeros((40, 40), bool)
    mask[10:30, 5:25] = True
    mask[15:20, 10:15] = False  # a hole: its rim is a boundary too
    out = boundary_overlay(img, mask, color=(0, 255, 0))
    boundary = reference_boundary(mask)
    assert np.all(out[boundary] == (0, 255, 0))
    assert np.array_equal(out[~boundary], img[~boundary])


def test_overlay_labels_shows_boundary_between_touching_objects():
    img = np.full((30, 40), 80, np.uint8)
    labels = np.zeros((30, 40), np.int32)
    labels[5:25, 5:20] = 1
    labels[5:25, 20:35] = 2  # touches label 1 along column 19/20
    out = boundary_overlay(img, labels, color=(255, 0, 0))
    red = np.all(out == (255, 0, 0), axis=2)
    assert np.array_equal(red, reference_boundary(labels))
    assert red[10:20, 20].all()  # the interface line is drawn
    assert not red[10:20, 10].any() and np.all(out[0, 0] == 80)


def test_overlay_thickness():
    labels = np.zeros((40, 40), np.int32)
    labels[5:35, 5:35] = 1
    out = boundary_overlay(np.zeros((40, 40), np.uint8), labels, color=(255, 255, 255), thickness=3)
    drawn = out[..., 0] == 255
    assert np.array_equal(drawn, reference_boundary(labels, radius=3))
    assert drawn[20, 5:8].all() and not drawn[20, 8]


def test_overlay_fill_with_label_colours():
    img = np.full((20, 20, 3), 100, np.uint8)
    labels = np.zeros((20, 20), np.int32)
    labels[2:10, 2:10] = 4
    out = boundary_overlay(img, labels, fill_opacity=0.5)
    expected = np.round(0.5 * 100 + 0.5 * label_palette(5)[4].astype(float))
    assert np.all(np.abs(out[5, 5].astype(float) - expected) <= 1)
    assert np.all(out[15, 15] == 100)  # outside objects untouched


def test_overlay_fill_with_boundary_colour_for_masks():
    img = np.zeros((20, 20), np.uint8)
    mask = np.zeros((20, 20), bool)
    mask[4:16, 4:16] = True
    out = boundary_overlay(img, mask, color=(200, 0, 100), fill_opacity=1.0)
    assert np.all(out[mask] == (200, 0, 100)) and not out[~mask].any()


def test_overlay_converts_16bit_image_for_display():
    img = np.linspace(100, 4000, 400).reshape(20, 20).astype(np.uint16)
    mask = np.zeros((20, 20), bool)
    out = boundary_overlay(img, mask)
    assert np.array_equal(out, display_image(img)[0])


def test_overlay_large_label_values():
    labels = np.zeros((10, 10), np.int64)
    labels[2:8, 2:5] = 100_000
    labels[2:8, 5:8] = 30_000_000  # beyond float32's exact integers: renumbered internally
    red = np.all(boundary_overlay(np.zeros((10, 10), np.uint8), labels) == (255, 0, 0), axis=2)
    assert np.array_equal(red, reference_boundary(labels))


@pytest.mark.parametrize(
    "kwargs",
    [{"thickness": 0}, {"fill_opacity": 1.5}, {"fill_colors": "rainbow"}, {"color": (1, 2)}],
)
def test_overlay_rejects_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        boundary_overlay(np.zeros((5, 5), np.uint8), np.zeros((5, 5), bool), **kwargs)


def test_overlay_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        boundary_overlay(np.zeros((5, 5), np.uint8), np.zeros((5, 6), bool))


# ----------------------------------------------------------------------------- downscale
def test_downscale_image_long_side_and_scale():
    img = np.zeros((300, 400, 3), np.uint16)
    small, scale = downscale(img, 100)
    assert small.shape == (75, 100, 3) and small.dtype == np.uint16 and scale == 0.25


def test_downscale_never_upscales():
    img = np.zeros((30, 40), np.uint8)
    same, scale = downscale(img, 100)
    assert scale == 1.0 and same.shape == (30, 40)
    assert downscale(img, 40)[1] == 1.0


def test_downscale_image_averages_blocks():
    img = np.array([[0, 2, 10, 10], [2, 4, 10, 10]], np.float32)
    small, scale = downscale(img, 2)
    assert scale == 0.5 and np.allclose(small, [[2.0, 10.0]])


def test_downscale_labels_and_masks_keep_values():
    rng = np.random.default_rng(6)
    labels = cv2.resize(rng.integers(0, 50, (30, 40)).astype(np.int32), (400, 300), interpolation=cv2.INTER_NEAREST)
    labels[labels % 7 == 0] = 0
    small, scale = downscale(labels, 123, kind="labels")
    assert small.dtype == np.int32 and max(small.shape) == 123
    assert set(np.unique(small)) <= set(np.unique(labels))
    mask = labels > 20
    small_mask, _ = downscale(mask, 123, kind="mask")
    assert small_mask.dtype == bool and small_mask.shape == small.shape
    assert np.array_equal(small_mask, small > 20)  # the same nearest pixels are picked


def test_downscale_rejects_bad_input():
    with pytest.raises(ValueError):
        downscale(np.zeros((10, 10), np.uint8), 0)
    with pytest.raises(ValueError):
        downscale(np.zeros((10, 10), np.uint8), 5, kind="mask")  # not bool
    with pytest.raises(ValueError):
        downscale(np.zeros((10, 10), np.uint8), 5, kind="thumbnail")


# ----------------------------------------------------------------------------- encoding
def test_png_round_trip_is_lossless_and_rgb():
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    data = encode_png_bytes(rgb)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
    assert np.array_equal(decoded, rgb)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_gray_round_trip(dtype):
    gray = np.arange(200, dtype=dtype).reshape(10, 20) * (300 if dtype == np.uint16 else 1)
    decoded = cv2.imdecode(np.frombuffer(encode_png_bytes(gray), np.uint8), cv2.IMREAD_UNCHANGED)
    assert decoded.dtype == dtype and np.array_equal(decoded, gray)


def test_jpeg_encodes_rgb():
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[..., 0] = 255  # pure red must stay red (RGB->BGR at the call)
    data = encode_jpeg_bytes(rgb, quality=95)
    assert data[:2] == b"\xff\xd8"
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded[8, 8, 2] > 240 and decoded[8, 8, 0] < 15


def test_encoders_reject_bad_input():
    with pytest.raises(ValueError):
        encode_jpeg_bytes(np.zeros((4, 4, 3), np.uint8), quality=0)
    with pytest.raises(ValueError):
        encode_jpeg_bytes(np.zeros((4, 4, 3), np.uint16))
    with pytest.raises(ValueError):
        encode_png_bytes(np.zeros((4, 4, 3), np.float32))


# ----------------------------------------------------------------------------- properties
@settings(max_examples=60, deadline=None)
@given(
    image=st.sampled_from([np.uint8, np.uint16, np.float32]).flatmap(
        lambda dtype: arrays(
            dtype,
            st.tuples(st.integers(1, 9), st.integers(1, 9), st.sampled_from([1, 3])),
            elements=st.one_of(st.floats(-1e6, 1e6, width=32), st.sampled_from([np.nan, np.inf, -np.inf]))
            if dtype == np.float32
            else st.integers(0, np.iinfo(dtype).max),
        )
    ),
    stretch=st.sampled_from(["auto", "always", "never"]),
)
def test_any_image_displays(image, stretch):
    image = image[..., 0] if image.shape[2] == 1 else image
    out, stretched = display_image(image, stretch=stretch)
    assert out.shape == (*image.shape[:2], 3) and out.dtype == np.uint8
    assert isinstance(stretched, bool)


label_images = arrays(
    np.int32,
    st.tuples(st.integers(1, 24), st.integers(1, 24)),
    elements=st.integers(0, 12),
)


@settings(max_examples=40, deadline=None)
@given(labels=label_images, thickness=st.integers(1, 3), opacity=st.floats(0, 1))
def test_any_label_image_renders(labels, thickness, opacity):
    colours = colorize_labels(labels)
    assert colours.shape == (*labels.shape, 3) and colours.dtype == np.uint8
    image = np.zeros(labels.shape, np.uint16)
    out = boundary_overlay(image, labels, thickness=thickness, fill_opacity=opacity)
    assert out.shape == (*labels.shape, 3) and out.dtype == np.uint8
    out = boundary_overlay(np.zeros(labels.shape, np.uint8), labels, thickness=thickness)
    red = np.all(out == (255, 0, 0), axis=2)
    assert np.array_equal(red, reference_boundary(labels, thickness) & (labels > 0))


@pytest.mark.parametrize("exponent", [-110, 100, 127])
def test_float_images_of_any_magnitude_display_like_their_in_range_copy(exponent):
    image = np.linspace(0, 1, 64 * 48, dtype=np.float32).reshape(48, 64)
    scaled = np.ldexp(image, exponent).astype(np.float32)
    shown, stretched = display_image(scaled)
    assert stretched and np.array_equal(shown, display_image(image)[0])
    assert shown.min() == 0 and shown.max() == 255  # never a black square
