"""Tests for segmentation.io: the hostile-input corpus, sources, limits, writers, fuzzing."""

from __future__ import annotations

import dataclasses
import io
import os
import stat
import struct
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image, ImageFile, ImageOps

import segmentation as seg
from segmentation import ImageInfo, ImageLoadError, encode_labels, encode_png, load_image, write_bytes_atomic

try:
    from make_bad_inputs import Case, build_corpus, list_cases, pillow_bytes, png_by_hand, tiff_bytes
except ImportError:  # if tests/ ever becomes a package
    from tests.make_bad_inputs import Case, build_corpus, list_cases, pillow_bytes, png_by_hand, tiff_bytes

CASES = {case.name: case for case in list_cases()}
LOAD_CASES = [name for name, case in CASES.items() if case.expect == "load"]
ERROR_CASES = [name for name, case in CASES.items() if case.expect == "error"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    built = build_corpus(folder)
    assert [case.name for case in built] == list(CASES)
    return folder


def _check_probes(case: Case, array: np.ndarray) -> None:
    for (row, col), expected, tolerance in case.probes:
        got = array[row, col].astype(np.float64)
        assert np.allclose(got, expected, rtol=0, atol=tolerance), (case.name, (row, col), got, expected)


# --- the corpus ---------------------------------------------------------------------------


def test_corpus_covers_the_brief_and_stays_small(corpus):
    required = {"empty.png", "random_bytes.png", "notes_renamed.png", "truncated.png", "truncated.jpg",
                "bomb_30000x30000.png", "one_pixel.png", "row_1x100000.png", "gray16.png", "gray16.tif",
                "float32.tif", "cmyk.jpg", "palette_transparent.png", "rgba.png", "animated.gif",
                "exif_orientation_6.jpg", "multipage.tif", "drawing.svg", "png_named.jpg"}
    assert required <= set(CASES)
    for name in CASES:
        assert (corpus / name).stat().st_size <= 16_384, name
    assert len(CASES) == len(list_cases())  # names are unique


@pytest.mark.parametrize("name", LOAD_CASES)
def test_corpus_file_loads_as_expected(corpus, name):
    case = CASES[name]
    array, info = load_image(corpus / name, with_info=True)
    assert isinstance(array, np.ndarray)
    assert array.shape == case.shape
    assert array.dtype == np.dtype(case.dtype)
    assert array.flags.c_contiguous and array.flags.writeable
    assert (case.height, case.width, case.channels) == (
        array.shape[0], array.shape[1], 1 if array.ndim == 2 else array.shape[2])
    _check_probes(case, array)
    assert isinstance(info, ImageInfo)
    assert (info.height, info.width, info.dtype) == (case.height, case.width, case.dtype)
    if case.format:
        assert info.format == case.format
    assert info.format in {"PNG", "JPEG", "TIFF", "BMP", "WEBP", "GIF"}
    notes = " | ".join(info.notes)
    for word in case.words:
        assert word in notes, (name, word, info.notes)


@pytest.mark.parametrize("name", ERROR_CASES)
def test_corpus_file_is_refused_in_plain_words(corpus, name):
    case = CASES[name]
    with pytest.raises(ImageLoadError) as caught:
        load_image(corpus / name)
    message = str(caught.value)
    for word in case.words:
        assert word in message, (name, word, message)
    for jargon in ("Traceback", "cv2", "PIL", "BytesIO", "struct", "errno"):
        assert jargon not in message


@pytest.mark.parametrize("name", LOAD_CASES + ERROR_CASES)
def test_path_bytes_and_file_objects_agree(corpus, name):
    path = corpus / name
    data = path.read_bytes()

    class StreamOnly:  # a non-seekable stream: only read()
        def __init__(self, payload):
            self._payload = payload

        def read(self, size=-1):
            payload, self._payload = self._payload, b""
            return payload

    at_end = io.BytesIO(data)
    at_end.seek(0, io.SEEK_END)  # an already-read upload still loads from the start
    sources = [path, str(path), data, bytearray(data), memoryview(data), io.BytesIO(data), at_end, StreamOnly(data)]
    results = []
    for source in sources:
        try:
            results.append(load_image(source))
        except ImageLoadError as exc:
            results.append(str(exc))
    with open(path, "rb") as handle:
        try:
            results.append(load_image(handle))
        except ImageLoadError as exc:
            results.append(str(exc))
    first = results[0]
    for other in results[1:]:
        if isinstance(first, str):
            assert other == first
        else:
            assert isinstance(other, np.ndarray) and other.dtype == first.dtype
            assert np.array_equal(other, first, equal_nan=first.dtype.kind == "f")


# --- the pixel limit ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bomb_30000x30000.png", "bomb_30000x30000.jpg", "bomb_16383x16383.webp"])
def test_bomb_is_refused_from_the_header_without_decoding(corpus, name, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", forbidden)
    monkeypatch.setattr("cv2.imdecode", forbidden)
    data = (corpus / name).read_bytes()
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ImageLoadError, match=r"= \d+(\.\d+)? MP, over the 64 MP limit"):
            load_image(data)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 2_000_000  # numpy and Python allocations; a decoded bomb needs gigabytes


def test_max_pixels_is_inclusive_and_named_in_the_message():
    png = encode_png(np.zeros((100, 100), np.uint8))
    assert load_image(png, max_pixels=10_000).shape == (100, 100)
    with pytest.raises(ImageLoadError, match="100×100") as caught:
        load_image(png, max_pixels=9_999)
    assert "10,000 pixels" in str(caught.value) and "9,999" in str(caught.value)  # MP rounds equal
    with pytest.raises(ImageLoadError, match=r"0\.03 MP limit"):
        load_image(encode_png(np.zeros((200, 200), np.uint8)), max_pixels=30_000)
    for bad in (0, -5, 2.5, True, "64"):
        with pytest.raises(ValueError):
            load_image(png, max_pixels=bad)


@pytest.mark.parametrize("pillow_limit", [50, 400])
def test_our_limit_not_pillows_decides(monkeypatch, pillow_limit):
    # Pillow warns over MAX_IMAGE_PIXELS and refuses over twice that, before we can look: we must
    # stay quiet, reopen, and let max_pixels decide. The images below have 600 pixels.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pillow_limit)
    rgb = np.random.default_rng(3).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    for fmt in ("PNG", "BMP", "GIF", "TIFF"):
        data = pillow_bytes(Image.fromarray(rgb).convert("P") if fmt == "GIF" else Image.fromarray(rgb), fmt)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loaded, info = load_image(data, with_info=True)
        assert not caught and not any("damaged" in note for note in info.notes), fmt
        assert loaded.shape == (20, 30, 3), fmt
        if fmt != "GIF":  # GIF went through a 256-colour palette
            assert np.array_equal(loaded, rgb), fmt
        with pytest.raises(ImageLoadError, match="30×20 = 0 MP"):
            load_image(data, max_pixels=599)


# --- pixel values -------------------------------------------------------------------------


def test_rgb_order_is_red_green_blue():
    red = pillow_bytes(Image.new("RGB", (3, 2), (255, 0, 0)), "PNG")
    assert load_image(red)[1, 2].tolist() == [255, 0, 0]
    pixels = np.zeros((2, 3, 3), np.uint8)
    pixels[..., 0], pixels[..., 1], pixels[..., 2] = 10, 20, 30
    for fmt in ("PNG", "BMP", "TIFF", "WEBP"):
        options = {"lossless": True} if fmt == "WEBP" else {}
        assert load_image(pillow_bytes(Image.fromarray(pixels), fmt, **options))[0, 0].tolist() == [10, 20, 30], fmt


def test_every_16bit_value_survives_png_and_tiff():
    every = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    for data in (png_by_hand(every, 0, 16), tiff_bytes(every, photometric="minisblack"), encode_png(every)):
        loaded = load_image(data)
        assert loaded.dtype == np.uint16 and np.array_equal(loaded, every)
    rgb = np.stack([every, every[::-1], every.T], axis=-1)
    for data in (png_by_hand(rgb, 2, 16), tiff_bytes(rgb, photometric="rgb"), encode_png(rgb)):
        loaded = load_image(data)
        assert loaded.dtype == np.uint16 and np.array_equal(loaded, rgb)


def test_16bit_rgba_is_composited_on_white_at_full_precision():
    rgba = np.zeros((2, 2, 4), np.uint16)
    rgba[...] = (1001, 2002, 3003, 65535)
    rgba[1, 1] = (0, 0, 0, 0)
    rgba[0, 1] = (0, 0, 0, 32768)
    array, info = load_image(png_by_hand(rgba, 6, 16), with_info=True)
    assert array.dtype == np.uint16 and array.shape == (2, 2, 3)
    assert array[0, 0].tolist() == [1001, 2002, 3003]  # opaque: exact, not rounded through 8 bits
    assert array[1, 1].tolist() == [65535] * 3
    assert array[0, 1].tolist() == [32767] * 3  # 65535 * (1 - 32768/65535)
    assert any("white" in note for note in info.notes)


def test_float32_tiff_values_are_preserved_bit_for_bit():
    values = np.array([[-1e30, -1.5, 0.0, -0.0], [1e-38, 3.25, np.inf, np.nan]], np.float32)
    for photometric, array in (("minisblack", values), ("rgb", np.stack([values, -values, values * 2], -1))):
        loaded, info = load_image(tiff_bytes(array, photometric=photometric), with_info=True)
        assert loaded.dtype == np.float32
        assert np.array_equal(loaded.view(np.uint32), array.view(np.uint32))
        assert any("not finite" in note for note in info.notes)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(orientation):
    stored = np.arange(3 * 5 * 3, dtype=np.uint8).reshape(3, 5, 3) * 5
    image = Image.fromarray(stored)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = pillow_bytes(image, "PNG", exif=exif)  # lossless, so Pillow's answer must match exactly
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    loaded, info = load_image(data, with_info=True)
    assert loaded.shape == expected.shape and np.array_equal(loaded, expected)
    assert loaded.flags.c_contiguous
    assert any("EXIF orientation" in note for note in info.notes) == (orientation != 1)


def _with_orientation(stored: np.ndarray, orientation: int) -> Image.Image:
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = orientation
    image.info["exif"] = exif.tobytes()
    return image


_ORIENTED_WRITERS = {
    # Pillow decodes 8-bit TIFFs and turns them upright itself while decoding
    "8-bit (Pillow)": lambda a, o: tiff_bytes((a // 257).astype(np.uint8), photometric="minisblack",
                                             extratags=[(274, "H", 1, o, True)]),
    "16-bit (tifffile)": lambda a, o: tiff_bytes(a, photometric="minisblack", extratags=[(274, "H", 1, o, True)]),
    "float32 RGB (tifffile only)": lambda a, o: tiff_bytes(np.stack([a, a, a], -1).astype(np.float32),
                                                          photometric="rgb", extratags=[(274, "H", 1, o, True)]),
    # tifffile needs imagecodecs for LZW, so OpenCV decodes, and OpenCV applies the tag itself
    "16-bit LZW (OpenCV)": lambda a, o: pillow_bytes(Image.fromarray(a), "TIFF", compression="tiff_lzw",
                                                     tiffinfo={274: o}),
    "16-bit PNG (OpenCV)": lambda a, o: pillow_bytes(Image.fromarray(a), "PNG", exif=_exif(o)),
}


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


@pytest.mark.parametrize("writer", list(_ORIENTED_WRITERS))
@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_is_applied_exactly_once_by_every_decoder(writer, orientation):
    stored = (np.arange(2 * 3, dtype=np.uint16).reshape(2, 3) + 1) * 4000
    expected = np.asarray(ImageOps.exif_transpose(_with_orientation((stored // 257).astype(np.uint8), orientation)))
    loaded, info = load_image(_ORIENTED_WRITERS[writer](stored, orientation), with_info=True)
    gray = loaded[..., 0] if loaded.ndim == 3 else loaded
    assert gray.shape == expected.shape
    assert np.array_equal((gray // 257).astype(np.uint8) if gray.dtype != np.uint8 else gray, expected)
    assert any("EXIF orientation" in note for note in info.notes) == (orientation != 1)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_white_is_zero_tiff_is_inverted_so_bright_is_high(dtype):
    top = np.iinfo(dtype).max
    stored = np.array([[0, 10, top]], dtype)
    loaded, info = load_image(tiff_bytes(stored, photometric="miniswhite"), with_info=True)
    assert loaded.dtype == dtype and loaded.tolist() == [[top, top - 10, 0]]
    assert any("white-is-zero" in note for note in info.notes)


def test_image_info_is_frozen():
    _, info = load_image(encode_png(np.zeros((2, 3), np.uint8)), with_info=True)
    shown = (info.format, info.width, info.height, info.mode, info.dtype, info.n_frames)
    assert shown == ("PNG", 3, 2, "L", "uint8", 1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.width = 5


# --- sources and messages -----------------------------------------------------------------


def test_source_problems_are_explained(tmp_path):
    with pytest.raises(ImageLoadError, match="no file"):
        load_image(tmp_path / "missing.png")
    with pytest.raises(ImageLoadError, match="folder"):
        load_image(tmp_path)
    text = tmp_path / "t.txt"
    text.write_text("hello")
    with open(text) as handle, pytest.raises(ImageLoadError, match="binary"):
        load_image(handle)
    with pytest.raises(seg.ParameterError, match="^source"):
        load_image(12345)


@pytest.mark.parametrize(("data", "words"), [
    (b"\xef\xbb\xbf<svg xmlns='http://www.w3.org/2000/svg'/>", "SVG"),
    (b"<!DOCTYPE html><html><body>hi</body></html>", "web page"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC"),
    (b"8BPS\x00\x01" + bytes(40), "Photoshop"),
    (b"PK\x03\x04" + bytes(40), "ZIP"),
    ("Grüße, ça va? 日本語\n".encode() * 3, "text"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 10, "PNG file is truncated or damaged"),
    (b"GIF89a\x01", "GIF file is truncated or damaged"),
])
def test_non_images_get_a_plain_message(data, words):
    with pytest.raises(ImageLoadError, match=words) as caught:
        load_image(data)
    assert caught.value.__cause__ is not None  # the library's own exception is kept for debugging


def test_decoder_warnings_become_notes_not_console_output():
    rgb = np.random.default_rng(5).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    data = bytearray(pillow_bytes(Image.fromarray(rgb), "TIFF"))
    (ifd,) = struct.unpack("<I", data[4:8])
    (count,) = struct.unpack("<H", data[ifd: ifd + 2])
    last = ifd + 2 + 12 * (count - 1)
    assert struct.unpack("<H", data[last: last + 2]) == (284,)  # PlanarConfiguration, default anyway
    data[last: last + 12] = struct.pack("<HHII", 305, 2, 50, 5000)  # "Software" text far past the end
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded, info = load_image(bytes(data), with_info=True)
    assert not caught
    assert np.array_equal(loaded, rgb)
    assert any("slightly damaged" in note for note in info.notes)


def test_damage_keeps_the_original_exception_as_cause(corpus):
    with pytest.raises(ImageLoadError) as caught:
        load_image(corpus / "truncated.jpg")
    assert isinstance(caught.value.__cause__, Exception)
    assert not isinstance(caught.value.__cause__, ImageLoadError)


def test_io_module_does_not_import_streamlit():
    code = "import sys, segmentation.io; assert 'streamlit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])


# --- writers ------------------------------------------------------------------------------


def test_encode_png_round_trips():
    mask = np.zeros((5, 7), bool)
    mask[1:3, 2:6] = True
    loaded = load_image(encode_png(mask))
    assert loaded.dtype == np.uint8 and np.array_equal(loaded, mask * np.uint8(255))
    rgb = np.random.default_rng(4).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    assert np.array_equal(load_image(encode_png(rgb)), rgb)
    assert np.array_equal(load_image(encode_png(rgb[:, ::-1])), rgb[:, ::-1])  # non-contiguous input
    assert Image.open(io.BytesIO(encode_png(rgb))).getpixel((0, 0)) == tuple(rgb[0, 0])  # RGB, not BGR
    gray16 = np.array([[0, 1, 65535]], np.uint16)
    assert np.array_equal(load_image(encode_png(gray16)), gray16)


@pytest.mark.parametrize("bad", [np.zeros((2, 2), np.float32), np.zeros((2, 2, 4), np.uint8),
                                 np.zeros((0, 3), np.uint8), np.zeros(5, np.uint8), np.zeros((2, 2), np.int32)])
def test_encode_png_refuses_what_it_cannot_write(bad):
    with pytest.raises(ValueError):
        encode_png(bad)


def test_encode_labels_png_is_exact_16bit_and_refuses_more():
    labels = np.arange(12, dtype=np.int32).reshape(3, 4)
    labels[2, 3] = 65535
    loaded = load_image(encode_labels(labels))
    assert loaded.dtype == np.uint16 and np.array_equal(loaded, labels)
    labels[0, 0] = 65536
    with pytest.raises(ValueError, match="tiff"):
        encode_labels(labels, format="png")


def test_encode_labels_tiff_keeps_32bit():
    labels = np.array([[0, 1, 65536], [70_000, 2**24, 3]], np.int32)
    data = encode_labels(labels, format="tiff")
    assert tifffile.imread(io.BytesIO(data)).dtype == np.int32
    assert np.array_equal(tifffile.imread(io.BytesIO(data)), labels)
    loaded, info = load_image(data, with_info=True)
    assert loaded.dtype == np.float32 and np.array_equal(loaded, labels)
    assert info.format == "TIFF"


@pytest.mark.parametrize(("labels", "fmt"), [
    (np.array([[-1, 2]], np.int32), "png"), (np.array([[1.0]]), "png"), (np.zeros((2, 2, 2), np.int32), "png"),
    (np.zeros((2, 2), np.int32), "jpeg")])
def test_encode_labels_refuses_bad_input(labels, fmt):
    with pytest.raises(ValueError):
        encode_labels(labels, format=fmt)


def test_write_bytes_atomic_creates_replaces_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.png"
    old_umask = os.umask(0o022)
    try:
        write_bytes_atomic(target, b"first")
    finally:
        os.umask(old_umask)
    assert target.read_bytes() == b"first"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644  # like any new file, not mkstemp's 0o600
    target.chmod(0o640)
    write_bytes_atomic(str(target), bytearray(b"second, longer content"))
    assert target.read_bytes() == b"second, longer content"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640  # a replaced file keeps its permissions
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.png"]


def test_write_bytes_atomic_failure_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "labels.tif"
    target.write_bytes(b"old")

    def failing_replace(src, dst):
        assert Path(src).read_bytes() == b"new"  # the full content was written before the swap
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.tif"]


def test_write_bytes_atomic_into_missing_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_bytes_atomic(tmp_path / "nope" / "x.png", b"data")


# --- fuzzing ------------------------------------------------------------------------------

_MAGICS = [b"", b"\x89PNG\r\n\x1a\n", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"\xff\xd8\xff", b"II*\x00",
           b"MM\x00*", b"BM", b"GIF89a", b"RIFF\x00\x00\x00\x00WEBPVP8L", b"RIFF\x00\x00\x00\x00WEBPVP8X", b"<svg"]


def _valid_seeds() -> list[bytes]:
    rgb = np.random.default_rng(5).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0112] = 6
    return [pillow_bytes(image, "PNG"), pillow_bytes(image, "JPEG", exif=exif), pillow_bytes(image, "BMP"),
            pillow_bytes(image, "TIFF"), pillow_bytes(image.convert("P"), "GIF"),
            pillow_bytes(image, "WEBP", lossless=True), pillow_bytes(image, "WEBP", quality=50),
            png_by_hand(rgb.astype(np.uint16) * 257, 2, 16),
            tiff_bytes(rgb.astype(np.float32), photometric="rgb"),
            tiff_bytes(rgb[..., 0].astype(np.uint16), photometric="minisblack")]


_SEEDS = _valid_seeds()


def _load_or_refuse(data: bytes) -> None:
    try:
        array = load_image(data, max_pixels=4_000_000)
    except ImageLoadError as exc:
        assert str(exc)
        return
    assert array.dtype in (np.uint8, np.uint16, np.float32)
    assert array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 3)
    assert array.flags.c_contiguous and array.size > 0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=st.sampled_from(_MAGICS), body=st.binary(max_size=600))
def test_random_bytes_only_ever_raise_image_load_error(prefix, body):
    _load_or_refuse(prefix + body)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(_SEEDS), edits=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)),
                                                    max_size=6), cut=st.integers(1, 10_000))
def test_corrupted_real_files_only_ever_raise_image_load_error(seed, edits, cut):
    data = bytearray(seed[: max(1, len(seed) * cut // 10_000)] if cut < 9_000 else seed)
    for position, value in edits:
        if data:
            data[position % len(data)] = value
    _load_or_refuse(bytes(data))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.uint8, np.uint16, np.float32]), channels=st.sampled_from([1, 3]))
def test_random_arrays_round_trip(data, dtype, channels):
    shape = (data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12))) + ((3,) if channels == 3 else ())
    elements = st.floats(width=32, allow_nan=True, allow_infinity=True) if dtype == np.float32 else None
    array = data.draw(hnp.arrays(dtype, shape, elements=elements))
    if dtype == np.float32:
        encoded = tiff_bytes(array, photometric="rgb" if channels == 3 else "minisblack")
    else:
        encoded = encode_png(array)
    loaded = load_image(encoded)
    assert loaded.dtype == array.dtype and loaded.shape == array.shape
    view = np.uint32 if dtype == np.float32 else dtype
    assert np.array_equal(loaded.view(view), array.view(view))
