"""TIFF extra samples (ExtraSamples, TIFF 6.0): alpha only where the file says so, the same rule for every decoder.

0 unspecified data: not alpha, the colour samples come back unchanged and a note names what was left out (the
samples of a gray pixel without alpha are channels instead, chosen by ``channel``).
1 associated alpha: the colour is already multiplied by alpha; on white it shows colour + (1 - alpha) × white.
2 unassociated alpha: (colour - white) × alpha + white. Every file is written here with tifffile, and read
from a path, from bytes and from a file object. 8-bit files are decoded by Pillow (RGB + associated alpha:
tifffile), deeper ones by tifffile, LZW ones (tifffile needs imagecodecs for LZW) by OpenCV.
"""

from __future__ import annotations

import importlib.util
import io

import cv2
import numpy as np
import pytest
import tifffile

from segmentation import ImageLoadError, load_image
from segmentation import load_channels as seg_load_channels

TOP = {np.uint8: 255, np.uint16: 65535}


def write(tmp_path, name: str, array: np.ndarray, **options):
    path = tmp_path / name
    tifffile.imwrite(path, array, **options)
    return path


def load_every_way(path):
    """load_image from the path, its bytes and a file object: the three must agree exactly."""
    data = path.read_bytes()
    results = [load_image(path, with_info=True), load_image(data, with_info=True),
               load_image(io.BytesIO(data), with_info=True)]
    array, info = results[0]
    for other, other_info in results[1:]:
        assert other.dtype == array.dtype and np.array_equal(other, array, equal_nan=True)
        assert other_info == info
    return array, info


def extra_samples(path) -> tuple[int, ...]:
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 1
        return tuple(int(value) for value in tif.pages[0].extrasamples)


def ramp(dtype, values, shape=(6, 8)) -> np.ndarray:
    """Rows repeating ``values`` (the issue's example row: 1000, 1000, 5000, 5000, ...)."""
    return np.resize(np.asarray(values), shape).astype(dtype)


def note_with(info, *words) -> str:
    found = [note for note in info.notes if all(word in note for word in words)]
    assert found, (words, info.notes)
    return found[0]


# --- unspecified extra samples are not alpha ---------------------------------------------------------------


GRAY_VALUES = {np.uint8: [10, 10, 50, 50], np.uint16: [1000, 1000, 5000, 5000],
               np.float32: [1000.0, 1000.0, -5.5, 2.0 ** -40]}


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_gray_with_an_unspecified_channel_is_two_channels_the_first_by_default(tmp_path, dtype):
    """Gray samples without alpha are channels (issue 13 review): sample 0 by default, sample 1 when asked."""
    gray = ramp(dtype, GRAY_VALUES[dtype])
    other = ramp(dtype, [3, 77, 200, 0, 9])  # anything: used as alpha, it made 1000 -> 16847 in the issue
    # What tifffile writes for a single-page H×W×2 image: ExtraSamples = 0 ("unspecified").
    path = write(tmp_path, "gray2.tif", np.stack([gray, other], -1), photometric="minisblack", planarconfig="contig")
    assert extra_samples(path) == (0,)
    array, info = load_every_way(path)
    assert array.dtype == dtype and array.shape == gray.shape
    assert np.array_equal(array, gray)
    assert array[0, :4].tolist() == GRAY_VALUES[dtype]
    assert info.axes == "YXC" and info.n_channels == 2 and info.channel == 0 and info.channel_names == ("", "")
    note_with(info, "channel 0 of 2", "sample 0 of the 2 samples")
    assert not any("white" in n or "alpha (" in n or "left out" in n for n in info.notes)
    for source in (path, path.read_bytes()):
        second, info = load_image(source, channel=1, with_info=True)
        assert second.dtype == dtype and np.array_equal(second, other) and info.channel == 1
        note_with(info, "channel 1 of 2", "sample 1 of the 2 samples")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_rgb_with_an_unspecified_nir_channel_is_rgb_unchanged(tmp_path, dtype):
    top = TOP.get(dtype, 1.0)
    rgb = np.stack([ramp(dtype, [10, 20, 30]), ramp(dtype, [40, 50, 60]), ramp(dtype, [70, 80, top])], -1)
    nir = ramp(dtype, [0, 0, top // 2 if dtype != np.float32 else 0.5])  # NIR 0 turned these pixels white
    path = write(tmp_path, "rgbn.tif", np.dstack([rgb, nir]), photometric="rgb", extrasamples=["unspecified"])
    assert extra_samples(path) == (0,)
    array, info = load_every_way(path)
    assert array.dtype == dtype and array.shape == rgb.shape
    assert np.array_equal(array, rgb)
    assert "channels 1–3 (RGB)" in note_with(info, "channel 4", "of 4", "left out", "not alpha")


def test_several_unspecified_channels_are_all_named(tmp_path):
    gray = ramp(np.uint16, [1000, 2000, 3000])
    planes = [gray, ramp(np.uint16, [5]), ramp(np.uint16, [0]), ramp(np.uint16, [65535])]
    path = write(tmp_path, "gray4.tif", np.stack(planes, -1), photometric="minisblack",
                 extrasamples=["unspecified"] * 3)
    array, info = load_every_way(path)
    assert np.array_equal(array, gray) and info.n_channels == 4
    note_with(info, "channel 0 of 4", "sample 0")
    channels, _ = seg_load_channels(path)
    assert len(channels) == 4 and all(np.array_equal(c, p) for c, p in zip(channels, planes))


# --- unassociated alpha: composited on white, as for PNG -----------------------------------------------------
# Alpha 0.2 (51/255, 13107/65535) and 0.6 (153/255, 39321/65535): exact fractions of both ranges.

UNASSOCIATED_CASES = {
    # colour, alpha (as a fraction), on white = (colour - white) * alpha + white, worked out by hand
    np.uint8: [(0, 0.2, 204), (0, 0.6, 102), (100, 0.2, 224), (55, 0.6, 135), (7, 0.0, 255), (7, 1.0, 7)],
    np.uint16: [(0, 0.2, 52428), (0, 0.6, 26214), (1000, 0.2, 52628), (5000, 0.6, 29214),
                (7, 0.0, 65535), (4321, 1.0, 4321)],
}


def _alpha_case(dtype, cases):
    top = TOP[dtype]
    colour = np.array([[c for c, _, _ in cases]] * 5, dtype)
    alpha = np.array([[round(a * top) for _, a, _ in cases]] * 5, dtype)
    expected = np.array([[e for _, _, e in cases]] * 5, dtype)
    return colour, alpha, expected


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gray_with_unassociated_alpha_is_composited_on_white(tmp_path, dtype):
    gray, alpha, expected = _alpha_case(dtype, UNASSOCIATED_CASES[dtype])
    path = write(tmp_path, "gray_alpha.tif", np.stack([gray, alpha], -1), photometric="minisblack",
                 extrasamples=["unassalpha"])
    assert extra_samples(path) == (2,)
    array, info = load_every_way(path)
    assert array.dtype == dtype and array.tolist() == expected.tolist()
    note_with(info, "unassociated alpha", "channel 2 of 2", "composited on white")


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rgb_with_unassociated_alpha_is_composited_on_white(tmp_path, dtype):
    red, alpha, expected = _alpha_case(dtype, UNASSOCIATED_CASES[dtype])
    top = TOP[dtype]
    green, blue = np.full_like(red, top), np.zeros_like(red)  # white stays white, black goes to 1 - alpha
    path = write(tmp_path, "rgba.tif", np.stack([red, green, blue, alpha], -1), photometric="rgb",
                 extrasamples=["unassalpha"])
    array, info = load_every_way(path)
    assert array.dtype == dtype and array.shape == (*red.shape, 3)
    assert array[..., 0].tolist() == expected.tolist()
    assert (array[..., 1] == top).all()
    fraction = alpha.astype(np.float64) / top
    assert np.array_equal(array[..., 2], np.rint((1 - fraction) * top).astype(dtype))
    note_with(info, "unassociated alpha", "channel 4 of 4", "composited on white")


def test_float_unassociated_alpha_is_dropped_with_the_values_kept(tmp_path):
    gray = ramp(np.float32, [1000.0, -3.25, 1e-7])
    path = write(tmp_path, "float_alpha.tif", np.stack([gray, ramp(np.float32, [0.0, 0.5, 1.0])], -1),
                 photometric="minisblack", extrasamples=["unassalpha"])
    array, info = load_every_way(path)
    assert array.dtype == np.float32 and np.array_equal(array, gray)
    note_with(info, "unassociated alpha", "dropped", "values kept")


# --- associated (premultiplied) alpha: colour + (1 - alpha) × white ---------------------------------------

ASSOCIATED_CASES = {
    # true colour, alpha; the file stores colour × alpha; on white: colour × alpha + (1 - alpha) × white
    np.uint8: [(100, 0.2, 20, 20 + 204), (255, 0.6, 153, 255), (0, 0.6, 0, 102), (0, 0.0, 0, 255), (77, 1.0, 77, 77)],
    np.uint16: [(5000, 0.2, 1000, 1000 + 52428), (65535, 0.6, 39321, 65535), (0, 0.6, 0, 26214),
                (0, 0.0, 0, 65535), (4321, 1.0, 4321, 4321)],
}


def _associated_case(dtype):
    top, cases = TOP[dtype], ASSOCIATED_CASES[dtype]
    stored = np.array([[s for _, _, s, _ in cases]] * 5, dtype)
    alpha = np.array([[round(a * top) for _, a, _, _ in cases]] * 5, dtype)
    expected = np.array([[e for _, _, _, e in cases]] * 5, dtype)
    for colour, fraction, premultiplied, _ in cases:  # the premultiplied definition, checked
        assert premultiplied == round(colour * fraction)
    return stored, alpha, expected


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_gray_with_associated_alpha_is_not_multiplied_twice(tmp_path, dtype):
    stored, alpha, expected = _associated_case(dtype)
    path = write(tmp_path, "gray_assoc.tif", np.stack([stored, alpha], -1), photometric="minisblack",
                 extrasamples=["assocalpha"])
    assert extra_samples(path) == (1,)
    array, info = load_every_way(path)
    assert array.dtype == dtype and array.tolist() == expected.tolist()
    # multiplied twice it would be (20 - 255) * 0.2 + 255 = 208 for the first 8-bit pixel
    note = note_with(info, "associated (premultiplied) alpha", "channel 2 of 2", "composited on white")
    assert "colour + (1 - alpha) × white" in note and "not multiplied again" in note


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rgb_with_associated_alpha_is_not_multiplied_twice(tmp_path, dtype):
    stored, alpha, expected = _associated_case(dtype)
    rgb = np.stack([stored, np.zeros_like(stored), alpha], -1)  # blue = alpha: full blue, premultiplied
    path = write(tmp_path, "rgb_assoc.tif", np.dstack([rgb, alpha]), photometric="rgb", extrasamples=["assocalpha"])
    array, info = load_every_way(path)
    assert array.dtype == dtype
    assert array[..., 0].tolist() == expected.tolist()
    assert np.array_equal(array[..., 1], TOP[dtype] - alpha)  # 0 + (1 - alpha) × white
    assert (array[..., 2] == TOP[dtype]).all()  # alpha + (1 - alpha) × white
    note_with(info, "associated (premultiplied) alpha", "channel 4 of 4", "not multiplied again")


def test_float_associated_alpha_is_divided_out(tmp_path):
    colour = ramp(np.float32, [1000.0, -8.0, 0.375, 0.0])
    alpha = ramp(np.float32, [0.25, 0.5, 1.0, 0.0])
    path = write(tmp_path, "float_assoc.tif", np.stack([colour * alpha, alpha], -1), photometric="minisblack",
                 extrasamples=["assocalpha"])
    array, info = load_every_way(path)
    assert array.dtype == np.float32 and np.array_equal(array, colour)  # powers of two: exact
    note_with(info, "associated (premultiplied) alpha", "divided by alpha")


# --- fully opaque alpha: the values exactly ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["assocalpha", "unassalpha"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_opaque_alpha_gives_the_values_exactly(tmp_path, dtype, kind):
    top = TOP.get(dtype, 1.0)
    rgb = np.stack([ramp(dtype, [0, 1, 2, 3]), ramp(dtype, [top, 7, 9]), ramp(dtype, [12, 250, 0, 5])], -1)
    if dtype == np.uint16:
        rgb[0, :3, 0] = [1001, 40000, 65534]
    if dtype == np.float32:
        rgb[0, :3, 0] = [1e-30, -7.5, 3e38]
    path = write(tmp_path, "opaque.tif", np.dstack([rgb, np.full(rgb.shape[:2], top, dtype)]), photometric="rgb",
                 extrasamples=[kind])
    array, info = load_every_way(path)
    assert array.dtype == dtype and np.array_equal(array, rgb)
    if dtype != np.float32:
        note_with(info, "dropped (the image is fully opaque)")


# --- more than one extra sample, planar files, white-is-zero, files without the tag -----------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_alpha_then_unspecified_channel(tmp_path, dtype):
    red, alpha, expected = _alpha_case(dtype, UNASSOCIATED_CASES[dtype])
    samples = np.stack([red, red, red, alpha, np.full_like(red, 3)], -1)
    path = write(tmp_path, "rgba_x.tif", samples, photometric="rgb", extrasamples=["unassalpha", "unspecified"])
    array, info = load_every_way(path)
    assert all(array[..., i].tolist() == expected.tolist() for i in range(3))
    note_with(info, "unassociated alpha", "channel 4 of 5")
    note_with(info, "channel 5", "of 5", "left out")


def test_planar_file_reads_like_the_contiguous_one(tmp_path):
    red, alpha, expected = _alpha_case(np.uint16, UNASSOCIATED_CASES[np.uint16])
    samples = np.stack([red, red, red, alpha], -1)
    contig = write(tmp_path, "contig.tif", samples, photometric="rgb", extrasamples=["unassalpha"])
    planar = write(tmp_path, "planar.tif", np.moveaxis(samples, -1, 0), photometric="rgb", planarconfig="separate",
                   extrasamples=["unassalpha"])
    assert np.array_equal(load_every_way(planar)[0], load_every_way(contig)[0])
    assert load_every_way(planar)[0][..., 0].tolist() == expected.tolist()


def test_white_is_zero_inverts_the_gray_not_the_extra_channel(tmp_path):
    stored, extra = ramp(np.uint16, [0, 10, 65535]), ramp(np.uint16, [0, 65535])
    path = write(tmp_path, "miniswhite.tif", np.stack([stored, extra], -1),
                 photometric="miniswhite", extrasamples=["unspecified"])
    array, info = load_every_way(path)
    assert np.array_equal(array, 65535 - stored)
    note_with(info, "white-is-zero")
    array, info = load_image(path, channel=1, with_info=True)
    assert np.array_equal(array, extra) and not any("white-is-zero" in n for n in info.notes)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_fourth_channel_the_file_does_not_describe_is_not_alpha(tmp_path, dtype):
    # OpenCV writes 4-channel TIFFs without the ExtraSamples tag (LZW): nothing says the 4th is alpha.
    rgb = np.stack([ramp(dtype, [10, 20]), ramp(dtype, [30, 40]), ramp(dtype, [50, 60])], -1)
    fourth = np.zeros(rgb.shape[:2], dtype)
    ok, encoded = cv2.imencode(".tif", np.dstack([rgb[..., ::-1], fourth]))
    assert ok
    path = tmp_path / "opencv_bgra.tif"
    path.write_bytes(encoded.tobytes())
    assert extra_samples(path) == ()
    array, info = load_every_way(path)
    assert array.dtype == dtype and np.array_equal(array, rgb)
    note_with(info, "channel 4", "of 4", "not described", "not taken as alpha")


# --- the OpenCV fallback (tifffile needs imagecodecs for LZW) follows the same rule --------------------------


def _lzw_literals(data, *args, **kwargs) -> bytes:
    """TIFF LZW made of literal codes only (a Clear code every 250 bytes keeps all codes 9 bits wide)."""
    raw = data.tobytes() if hasattr(data, "tobytes") else bytes(data)
    codes = []
    for start in range(0, len(raw), 250):
        codes += [256, *raw[start:start + 250]]
    bits = "".join(format(code, "09b") for code in [*codes, 257])
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big")


@pytest.fixture
def lzw(monkeypatch):
    """Let tifffile write LZW without imagecodecs (its reader still cannot decode it)."""
    codecs = getattr(tifffile.TIFF.COMPRESSORS, "_codecs", None)
    if not isinstance(codecs, dict):
        pytest.skip("this tifffile keeps its encoders elsewhere")
    monkeypatch.setitem(codecs, 5, _lzw_literals)


needs_no_imagecodecs = pytest.mark.skipif(importlib.util.find_spec("imagecodecs") is not None,
                                          reason="with imagecodecs tifffile decodes LZW itself")


@pytest.mark.parametrize("kind", ["unspecified", "unassalpha", "assocalpha"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_lzw_rgb_with_an_extra_sample_reads_like_the_uncompressed_file(tmp_path, lzw, dtype, kind):
    red, alpha, _ = _alpha_case(dtype, UNASSOCIATED_CASES[dtype])
    if kind == "assocalpha":
        red = (red.astype(np.float64) * alpha / TOP[dtype]).round().astype(dtype)
    samples = np.stack([red, np.full_like(red, 9), np.full_like(red, TOP[dtype]), alpha], -1)
    plain = write(tmp_path, "plain.tif", samples, photometric="rgb", extrasamples=[kind])
    packed = write(tmp_path, "lzw.tif", samples, photometric="rgb", extrasamples=[kind], compression="lzw")
    with tifffile.TiffFile(packed) as tif:
        assert tif.pages[0].compression == tifffile.COMPRESSION.LZW
    expected, expected_info = load_every_way(plain)
    array, info = load_every_way(packed)
    assert array.dtype == dtype and np.array_equal(array, expected)
    assert [n for n in info.notes if "TIFF channel" in n] == [n for n in expected_info.notes if "TIFF channel" in n]


@needs_no_imagecodecs
@pytest.mark.parametrize("kind", ["unspecified", "unassalpha"])
def test_lzw_16bit_gray_with_an_extra_sample_is_refused_in_words_not_misread(tmp_path, lzw, kind):
    # OpenCV reads these as garbage (8-bit zeros for gray + 1): refused instead.
    samples = np.stack([ramp(np.uint16, [1000, 5000]), ramp(np.uint16, [0, 65535])], -1)
    path = write(tmp_path, "gray2_lzw.tif", samples, photometric="minisblack", extrasamples=[kind],
                 compression="lzw")
    with pytest.raises(ImageLoadError, match="LZW compression.*uncompressed or with ZIP"):
        load_image(path)
