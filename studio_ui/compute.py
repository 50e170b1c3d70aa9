"""Cached library calls: keyed on content (image key + recipe text), bounded, timed.

``st.cache_resource`` hands every session the same read-only result object (no pickled copy per rerun);
the image arrays are passed as unhashed ``_arguments`` and identified by their content key, which sidesteps
``st.cache_data``'s sampled hashing of large arrays (two masks differing in a few pixels could collide).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

import segmentation as seg
from segmentation import MeasurementTable, encode_jpeg_bytes, encode_png_bytes, label_objects, measure

from .views import finite_limits


@dataclass(frozen=True, eq=False)
class Timed:
    result: Any
    seconds: float


def _freeze(result: Any) -> Any:
    for value in vars(result).values():
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return result


@st.cache_resource(max_entries=24, ttl=1800, show_spinner=False)
def run_threshold(image_key: str, scale: float, recipe_json: str, _image: np.ndarray) -> Timed:
    """Threshold ``_image`` (identified by ``image_key`` and ``scale``) with the recipe in ``recipe_json``."""
    recipe = seg.ThresholdRecipe.from_json(recipe_json)
    start = time.perf_counter()
    result = seg.threshold(_image, recipe)
    return Timed(_freeze(result), time.perf_counter() - start)


@st.cache_resource(max_entries=16, ttl=1800, show_spinner=False)
def run_watershed(image_key: str, scale: float, recipe_json: str, _image: np.ndarray) -> Timed:
    recipe = seg.WatershedRecipe.from_json(recipe_json)
    start = time.perf_counter()
    result = seg.watershed(_image, recipe)
    _freeze(result.threshold)
    return Timed(_freeze(result), time.perf_counter() - start)


@st.cache_data(max_entries=32, ttl=1800, show_spinner=False)
def count_objects(image_key: str, scale: float, recipe_json: str, _mask: np.ndarray) -> int:
    """Number of 8-connected objects in a threshold mask."""
    return int(label_objects(_mask).max(initial=0))


@st.cache_resource(max_entries=16, ttl=1800, show_spinner=False)
def measurements(image_key: str, scale: float, recipe_json: str, pixel_size: float | None, unit: str,
                 _labels: np.ndarray, _image: np.ndarray) -> MeasurementTable:
    return measure(_labels, _image, pixel_size=pixel_size, unit=unit)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def original_view(image_key: str, scale: float, _image: np.ndarray) -> tuple[bytes, bool]:
    """The preview of the original as JPEG bytes, and whether it was contrast-stretched."""
    shown, stretched = seg.display_image(_image)
    return encode_jpeg_bytes(shown, quality=90), stretched


@st.cache_data(max_entries=48, ttl=1800, show_spinner=False)
def result_views(image_key: str, scale: float, recipe_json: str, style: tuple, _image: np.ndarray,
                 _segmentation: np.ndarray) -> tuple[bytes, bytes]:
    """(mask or colourised labels as PNG, boundary overlay as JPEG) for one result and overlay style."""
    color, thickness, opacity = style
    if _segmentation.dtype == bool:
        middle = encode_png_bytes(seg.mask_image(_segmentation))
    else:
        middle = encode_png_bytes(seg.colorize_labels(_segmentation))
    overlay = seg.boundary_overlay(_image, _segmentation, color=color, thickness=thickness, fill_opacity=opacity)
    return middle, encode_jpeg_bytes(overlay, quality=90)


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def default_manual_value(image_key: str, _image: np.ndarray) -> float:
    """The manual threshold's starting value: Otsu's threshold of the luminance (like Fiji's dialog).

    Computed by the library's pipeline, which takes the image as it comes (a float upload keeps its NaN and
    ±inf pixels; the thresholds come from the finite ones). This only places a slider, so it never stops
    the page: when there is no threshold (a constant image) or the library refuses the image, the slider
    starts in the middle of the image's finite values (a constant image's value).
    """
    try:
        recipe = seg.ThresholdRecipe(method="otsu", channel="luminance", polarity="bright")
        thresholds = seg.threshold(_image, recipe).thresholds
    except Exception:  # noqa: BLE001 - a starting position must never break the page
        thresholds = ()
    if thresholds and np.isfinite(thresholds[0]):
        return float(round(thresholds[0], 4))
    lo, hi = finite_limits(_image) or (0.0, 1.0)  # (a constant image: its value)
    return float(round(lo / 2 + hi / 2, 4))


@st.cache_data(max_entries=8, ttl=1800, show_spinner=False)
def full_measurements_csv(image_key: str, recipe_json: str, _segmentation: np.ndarray, _image: np.ndarray,
                          pixel_size: float | None = None, unit: str = "px") -> str:
    labels = _segmentation if _segmentation.dtype != bool else label_objects(_segmentation)
    return measure(labels, _image, pixel_size=pixel_size, unit=unit).to_csv()
