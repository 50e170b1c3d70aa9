"""Float uploads with NaN or infinite pixels never stop a page (the building blocks refuse such pixels,
so the pages must hand them over through ``as_image``, as the pipeline does); an image with no finite pixel
at all is refused at upload in plain words, as an image and as a ground truth."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from app_helpers import app, assert_ok, errors, exceptions, tiff_bytes, upload


def _with_nonfinite() -> np.ndarray:
    image = skimage.data.coins().astype(np.float32) / 255
    image[10:40, 10:60] = np.nan
    image[100:120, 200:230] = np.inf
    image[200:220, 50:90] = -np.inf
    return image


@pytest.mark.parametrize("page", ["threshold", "watershed", "compare"])
def test_a_float_upload_with_nan_and_inf_shows_a_result(page):
    at = upload(app(page).run(), "nan.tif", tiff_bytes(_with_nonfinite()))
    assert_ok(at)
    assert not errors(at)


@pytest.mark.parametrize("page", ["threshold", "watershed", "compare"])
def test_an_upload_without_a_finite_pixel_is_refused_in_plain_words(page):
    at = upload(app(page).run(), "allnan.tif", tiff_bytes(np.full((40, 50), np.nan, np.float32)))
    assert not exceptions(at)
    assert any("allnan.tif" in e and "finite" in e for e in errors(at)), errors(at)


def test_a_ground_truth_without_a_finite_pixel_is_refused_in_plain_words():
    at = app("compare", query={"sample": "coins"}).run()
    at = upload(at, "truth.tif", tiff_bytes(np.full(skimage.data.coins().shape, np.nan, np.float32)), key="truth")
    assert not exceptions(at)
    assert any("truth.tif" in e and "finite" in e for e in errors(at)), errors(at)


@pytest.mark.parametrize("page", ["threshold", "watershed"])
def test_one_finite_value_shows_no_threshold_rather_than_per_pixel(page):
    # A global method on an image whose finite pixels hold one value has no threshold: not "per pixel".
    image = np.full((60, 80), np.nan, np.float32)
    image[:30] = 0.5
    at = upload(app(page).run(), "const_plus_nan.tif", tiff_bytes(image))
    assert not exceptions(at)
    threshold = next(m for m in at.metric if m.label == "Threshold")
    assert threshold.value == "none (constant image)"
    if page == "threshold":
        assert not any("per pixel" in c.value or "local method" in c.value for c in at.caption)
