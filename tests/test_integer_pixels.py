"""One rule for integer pixels of other types (int16, int32, int64, uint32 ...), whichever way they come in.

``seg.as_image`` (an array given to the API) and ``seg.load_image`` (a TIFF holding the same array, plain or
with an extra channel, or a page of a stack) keep them as uint8 when every value is in 0..255, as uint16 in
0..65535, and as float32 otherwise; the generated script's loader follows it too. So the same pixels give
the same dtype, values, thresholds and mask by every path. (Before, a TIFF of int16 values 0..255 became
float32, thresholded by scikit-image in 256 bins over min..max, while the same array became uint8,
thresholded by OpenCV one bin per level.)
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import tifffile

import segmentation as seg

RNG = np.random.default_rng(10)
# Two populations, so every method has something to separate.
_BASE = np.where(RNG.random((40, 50)) < 0.3, RNG.integers(150, 220, (40, 50)), RNG.integers(10, 90, (40, 50)))

CASES = {
    # name: (array, the dtype both paths must give)
    "int16_0_255": (_BASE.astype(np.int16), np.uint8),
    "int32_0_255": (_BASE.astype(np.int32), np.uint8),
    "uint32_0_255": (_BASE.astype(np.uint32), np.uint8),
    "int16_0_4095": ((_BASE * 16).astype(np.int16), np.uint16),
    "int32_0_65535": ((_BASE * 257).astype(np.int32), np.uint16),
    "int16_negative": ((_BASE - 100).astype(np.int16), np.float32),
    "int32_beyond_16_bits": ((_BASE * 1000).astype(np.int32), np.float32),
}


def _tiff(tmp_path, name: str, array: np.ndarray, **options):
    path = tmp_path / f"{name}.tif"
    tifffile.imwrite(path, array, **options)
    return path


def _loaded(path) -> np.ndarray:
    result = seg.load_image(path)
    return result[0] if isinstance(result, tuple) else result


@pytest.mark.parametrize("name", CASES)
def test_array_and_tiff_give_the_same_pixels_and_result(tmp_path, name):
    array, dtype = CASES[name]
    from_array = seg.as_image(array)
    from_file = _loaded(_tiff(tmp_path, name, array))
    assert from_array.dtype == from_file.dtype == dtype
    assert np.array_equal(from_array, array.astype(dtype))  # the values kept exactly
    assert np.array_equal(from_file, from_array)
    for method in ("otsu", "li", "triangle"):
        a, b = seg.threshold(from_array, method=method), seg.threshold(from_file, method=method)
        assert a.thresholds == b.thresholds, method
        assert np.array_equal(a.mask, b.mask), method
    # the raw array straight into the pipeline (as_image inside) agrees too
    assert np.array_equal(seg.threshold(array).mask, seg.threshold(from_file).mask)


def test_the_threshold_is_the_8_bit_one_for_int16_values_in_0_255(tmp_path):
    """OpenCV's Otsu on the 8-bit copy (one bin per level): the same threshold as on a uint8 array."""
    array, _ = CASES["int16_0_255"]
    from_file = _loaded(_tiff(tmp_path, "int16", array))
    assert seg.threshold(from_file).thresholds == seg.threshold(array.astype(np.uint8)).thresholds


@pytest.mark.parametrize("name", ["int16_0_255", "int16_0_4095", "int16_negative"])
def test_a_tiff_with_an_extra_channel_and_a_stack_page_follow_the_rule(tmp_path, name):
    array, dtype = CASES[name]
    extra = _tiff(tmp_path, f"{name}_extra", np.stack([array, array[::-1]], -1), photometric="minisblack",
                  extrasamples=["unspecified"])
    assert _loaded(extra).dtype == dtype and np.array_equal(_loaded(extra), seg.as_image(array))
    stack = _tiff(tmp_path, f"{name}_stack", np.stack([array, array]), photometric="minisblack")
    page = _loaded(stack)
    assert page.dtype == dtype and np.array_equal(page, seg.as_image(array))


@pytest.mark.parametrize("name", CASES)
def test_the_script_loader_follows_the_rule(tmp_path, name):
    path = tmp_path / "script.py"
    path.write_text(seg.to_python(seg.ThresholdRecipe()), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"generated_{name}", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    array, dtype = CASES[name]
    for file in (_tiff(tmp_path, name, array),
                 _tiff(tmp_path, f"{name}_extra", np.stack([array, array[::-1]], -1), photometric="minisblack",
                       extrasamples=["unspecified"])):
        ours, theirs = script.load_image(str(file)), _loaded(file)
        assert ours.dtype == theirs.dtype == dtype
        assert np.array_equal(ours, theirs)
        assert np.array_equal(script.segment(ours), seg.threshold(theirs).mask)
