"""The generated script's ``load_image`` reads files with the same pixels as ``segmentation.load_image``.

Above all TIFFs with extra channels (ExtraSamples, TIFF 6.0): only a channel the file marks as alpha is alpha
(associated: colour + (1 - alpha) × white; unassociated: composited on white; float: dropped, an associated one
divided out), any other one (unspecified, e.g. near-infrared, or not described) is left out. Every file is
written here with tifffile (or OpenCV), and the two readers must agree bit for bit, dtype included. PNG and
TIFF files without extra channels are read by OpenCV as before.
"""

from __future__ import annotations

import ast
import importlib.util

import cv2
import numpy as np
import pytest
import real_data_inputs as rd
import tifffile

from segmentation import ImageLoadError, ThresholdRecipe, load_image, to_python

TOP = {np.uint8: 255, np.uint16: 65535, np.float32: 1.0}
DTYPES = [np.uint8, np.uint16, np.float32]
RNG_SHAPE = (7, 9)


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("script") / "segment_threshold.py"
    path.write_text(to_python(ThresholdRecipe()), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("generated_script_loader", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def same_as_library(script, path) -> np.ndarray:
    ours, theirs = script.load_image(str(path)), load_image(path)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, (ours.dtype, theirs.dtype, ours.shape)
    assert np.array_equal(ours, theirs, equal_nan=True), path.name
    return ours


def write(tmp_path, name: str, array: np.ndarray, **options):
    path = tmp_path / name
    tifffile.imwrite(path, array, **options)
    return path


def extra_samples(path) -> tuple[int, ...]:
    with tifffile.TiffFile(path) as tif:
        return tuple(int(value) for value in tif.pages[0].extrasamples)


def random(dtype, shape=RNG_SHAPE, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        return rng.uniform(-2.0, 1000.0, shape).astype(np.float32)
    return rng.integers(0, TOP[dtype], shape, endpoint=True).astype(dtype)


def alpha_of(dtype, seed=1) -> np.ndarray:
    """Every kind of alpha: 0, full, and values between (0..1 for float)."""
    rng = np.random.default_rng(seed)
    alpha = rng.integers(0, TOP[dtype] if dtype != np.float32 else 8, RNG_SHAPE, endpoint=True)
    alpha = alpha.astype(np.float32) / 8 if dtype == np.float32 else alpha.astype(dtype)
    alpha[0, :2] = [0, TOP[dtype]]
    return alpha


# --- extra channels that are not alpha ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_gray_with_an_unspecified_channel(script, tmp_path, dtype):
    gray, other = random(dtype), random(dtype, seed=5)
    path = write(tmp_path, "gray2.tif", np.stack([gray, other], -1), photometric="minisblack", planarconfig="contig")
    assert extra_samples(path) == (0,)
    assert np.array_equal(same_as_library(script, path), gray)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rgb_with_an_unspecified_nir_channel(script, tmp_path, dtype):
    rgb, nir = random(dtype, (*RNG_SHAPE, 3)), np.zeros(RNG_SHAPE, dtype)  # NIR 0: "transparent" if taken as alpha
    path = write(tmp_path, "rgbn.tif", np.dstack([rgb, nir]), photometric="rgb", extrasamples=["unspecified"])
    assert extra_samples(path) == (0,)
    assert np.array_equal(same_as_library(script, path), rgb)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_the_real_data_generators(script, tmp_path, dtype):
    for name, (array, data) in {"gray2": rd.gray_with_unspecified_extra(dtype), "rgbn": rd.rgb_nir(dtype)}.items():
        path = tmp_path / f"{name}.tif"
        path.write_bytes(data)
        ours = same_as_library(script, path)
        assert np.array_equal(ours, array[..., 0] if name == "gray2" else array[..., :3])
    # the row: 1000, 1000, 5000, 5000 stays so (OpenCV's compositing made 1000 -> 16847)
    if dtype == np.uint16:
        assert script.load_image(str(tmp_path / "gray2.tif"))[0, :4].tolist() == [1000, 1000, 5000, 5000]


def test_several_unspecified_channels(script, tmp_path):
    planes = [random(np.uint16), random(np.uint16, seed=2), np.zeros(RNG_SHAPE, np.uint16), random(np.uint16, seed=3)]
    path = write(tmp_path, "gray4.tif", np.stack(planes, -1), photometric="minisblack",
                 extrasamples=["unspecified"] * 3)
    assert np.array_equal(same_as_library(script, path), planes[0])


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_a_fourth_channel_the_file_does_not_describe(script, tmp_path, dtype):
    rgb = random(dtype, (*RNG_SHAPE, 3))
    ok, encoded = cv2.imencode(".tif", np.dstack([rgb[..., ::-1], np.zeros(RNG_SHAPE, dtype)]))  # no ExtraSamples
    assert ok
    path = tmp_path / "opencv_bgra.tif"
    path.write_bytes(encoded.tobytes())
    assert extra_samples(path) == ()
    assert np.array_equal(same_as_library(script, path), rgb)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_white_is_zero_with_an_unspecified_channel(script, tmp_path, dtype):
    stored = random(dtype)
    path = write(tmp_path, "miniswhite.tif", np.stack([stored, random(dtype, seed=4)], -1),
                 photometric="miniswhite", extrasamples=["unspecified"])
    assert np.array_equal(same_as_library(script, path), TOP[dtype] - stored)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.float64])
def test_other_sample_types_become_float32(script, tmp_path, dtype):
    gray = np.random.default_rng(6).integers(-3000, 3000, RNG_SHAPE).astype(dtype)
    path = write(tmp_path, "other.tif", np.stack([gray, gray[::-1]], -1), photometric="minisblack",
                 extrasamples=["unspecified"])
    assert same_as_library(script, path).dtype == np.float32


# --- alpha -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["unassalpha", "assocalpha"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("photometric", ["minisblack", "rgb"])
def test_alpha(script, tmp_path, photometric, dtype, kind):
    alpha = alpha_of(dtype)
    colour = random(dtype, RNG_SHAPE if photometric == "minisblack" else (*RNG_SHAPE, 3))
    if kind == "assocalpha":  # the file stores colour × alpha
        weight = alpha / TOP[dtype] if photometric == "minisblack" else (alpha / TOP[dtype])[..., None]
        colour = (colour * weight).round().astype(dtype) if dtype != np.float32 else (colour * weight).astype(dtype)
    samples = np.dstack([colour, alpha])
    path = write(tmp_path, "alpha.tif", samples, photometric=photometric, extrasamples=[kind])
    assert extra_samples(path) == ({"assocalpha": 1, "unassalpha": 2}[kind],)
    ours = same_as_library(script, path)
    if dtype != np.float32:  # transparent pixels became white, opaque ones kept their colour
        assert (ours[alpha == 0] == TOP[dtype]).all()
        assert np.array_equal(ours[alpha == TOP[dtype]], colour[alpha == TOP[dtype]])


@pytest.mark.parametrize("kind", ["unassalpha", "assocalpha"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_opaque_alpha_gives_the_values_exactly(script, tmp_path, dtype, kind):
    rgb = random(dtype, (*RNG_SHAPE, 3))
    path = write(tmp_path, "opaque.tif", np.dstack([rgb, np.full(RNG_SHAPE, TOP[dtype], dtype)]), photometric="rgb",
                 extrasamples=[kind])
    assert np.array_equal(same_as_library(script, path), rgb)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_alpha_then_an_unspecified_channel(script, tmp_path, dtype):
    samples = np.dstack([random(dtype, (*RNG_SHAPE, 3)), alpha_of(dtype), random(dtype, seed=9)])
    for name, order, kinds in [("alpha_x.tif", [0, 1, 2, 3, 4], ["unassalpha", "unspecified"]),
                               ("x_alpha.tif", [0, 1, 2, 4, 3], ["unspecified", "assocalpha"])]:
        same_as_library(script, write(tmp_path, name, samples[..., order], photometric="rgb", extrasamples=kinds))


@pytest.mark.parametrize("n_extra", [1, 2])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_planar_files_read_like_contiguous_ones(script, tmp_path, dtype, n_extra):
    samples = np.dstack([random(dtype, (*RNG_SHAPE, 3)), alpha_of(dtype), random(dtype, seed=9)])[..., :3 + n_extra]
    kinds = ["unassalpha", "unspecified"][:n_extra]
    contig = write(tmp_path, "contig.tif", samples, photometric="rgb", extrasamples=kinds)
    planar = write(tmp_path, "planar.tif", np.moveaxis(samples, -1, 0), photometric="rgb", planarconfig="separate",
                   extrasamples=kinds)
    assert np.array_equal(same_as_library(script, planar), same_as_library(script, contig))


# --- LZW: tifffile needs imagecodecs, the script reads what OpenCV (libtiff) reads as the library does -------


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
    """Let tifffile write LZW without imagecodecs."""
    codecs = getattr(tifffile.TIFF.COMPRESSORS, "_codecs", None)
    if not isinstance(codecs, dict):
        pytest.skip("this tifffile keeps its encoders elsewhere")
    monkeypatch.setitem(codecs, 5, _lzw_literals)


@pytest.mark.parametrize("kind", ["unspecified", "unassalpha", "assocalpha"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_lzw_rgb_with_an_extra_channel(script, tmp_path, lzw, dtype, kind):
    alpha = alpha_of(dtype)
    rgb = random(dtype, (*RNG_SHAPE, 3))
    if kind == "assocalpha":
        rgb = (rgb * (alpha / TOP[dtype])[..., None]).round().astype(dtype)
    samples = np.dstack([rgb, alpha])
    plain = write(tmp_path, "plain.tif", samples, photometric="rgb", extrasamples=[kind])
    packed = write(tmp_path, "lzw.tif", samples, photometric="rgb", extrasamples=[kind], compression="lzw")
    assert np.array_equal(same_as_library(script, packed), same_as_library(script, plain))


@pytest.mark.parametrize("photometric", ["minisblack", "miniswhite"])
def test_lzw_8bit_gray_with_an_unspecified_channel(script, tmp_path, lzw, photometric):
    path = write(tmp_path, "gray2_lzw.tif", np.stack([random(np.uint8), random(np.uint8, seed=3)], -1),
                 photometric=photometric, extrasamples=["unspecified"], compression="lzw")
    same_as_library(script, path)


@pytest.mark.skipif(importlib.util.find_spec("imagecodecs") is not None,
                    reason="with imagecodecs tifffile decodes LZW itself")
@pytest.mark.parametrize("kind", ["unspecified", "unassalpha"])
def test_lzw_16bit_gray_with_an_extra_channel_is_refused_by_both(script, tmp_path, lzw, kind):
    path = write(tmp_path, "gray2_lzw.tif", np.stack([random(np.uint16), random(np.uint16, seed=3)], -1),
                 photometric="minisblack", extrasamples=[kind], compression="lzw")
    with pytest.raises(ImageLoadError):
        load_image(path)
    with pytest.raises(SystemExit, match="imagecodecs"):
        script.load_image(str(path))


# --- files without extra channels: as before ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_gray_rgb_rgba(script, tmp_path, dtype):
    rgb, alpha = random(dtype, (*RNG_SHAPE, 3)), alpha_of(dtype)
    files = {"gray.png": rgb[..., 0], "rgb.png": cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
             "rgba.png": cv2.cvtColor(np.dstack([rgb, alpha]), cv2.COLOR_RGBA2BGRA),
             "opaque.png": cv2.cvtColor(np.dstack([rgb, np.full_like(alpha, TOP[dtype])]), cv2.COLOR_RGBA2BGRA)}
    for name, array in files.items():
        assert cv2.imwrite(str(tmp_path / name), array)
        same_as_library(script, tmp_path / name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tiff_without_extra_channels(script, tmp_path, dtype):
    same_as_library(script, write(tmp_path, "gray.tif", random(dtype)))
    same_as_library(script, write(tmp_path, "rgb.tif", random(dtype, (*RNG_SHAPE, 3)), photometric="rgb"))


def test_the_script_imports_tifffile_only_inside_its_tiff_reader():
    tree = ast.parse(to_python(ThresholdRecipe()))
    top_level = {alias.name for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
                 for alias in node.names}
    assert "tifffile" not in top_level and not any(name.startswith("segmentation") for name in top_level)
    reader = next(node for node in tree.body if isinstance(node, ast.FunctionDef)
                  and node.name == "read_tiff_with_extra_channels")
    assert any(isinstance(node, ast.Import) and node.names[0].name == "tifffile" for node in ast.walk(reader))
