"""Watershed extras: placing seeds by clicking, and the intermediate stages."""

from __future__ import annotations

from functools import partial

import cv2
import numpy as np
import streamlit as st
from streamlit_image_coordinates import streamlit_image_coordinates

import segmentation as seg
from segmentation import WatershedRecipe, encode_jpeg_bytes, encode_png_bytes, specs_of

from .views import count_of

_POINTS = {spec.name: spec for spec in specs_of(WatershedRecipe)}["points"]


def _points() -> tuple:
    try:
        return _POINTS.from_text(st.session_state.get("points", ""))
    except ValueError:
        return ()


def _add_click(shape_full: tuple[int, int]) -> None:
    """Callback: turn the click (in displayed pixels) into a full-resolution seed point."""
    click = st.session_state.get("seed_click")
    if not click or not click.get("width"):
        return
    row = int(click["y"] / click["height"] * shape_full[0])
    col = int(click["x"] / click["width"] * shape_full[1])
    row, col = min(max(row, 0), shape_full[0] - 1), min(max(col, 0), shape_full[1] - 1)
    st.session_state["points"] = _POINTS.to_text(_points() + ((row, col),))


def _undo() -> None:
    st.session_state["points"] = _POINTS.to_text(_points()[:-1])


def _clear() -> None:
    st.session_state["points"] = ""


def _seeds_over(image: np.ndarray, markers: np.ndarray, radius: int = 4) -> np.ndarray:
    """The image with each seed drawn as a dot in its label colour."""
    shown, _ = seg.display_image(image)
    # OpenCV morphology has no int32 path; float32 holds label ids exactly up to 2**24.
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    dots = cv2.dilate(markers.astype(np.float32), disc).astype(np.int32)
    colours = seg.colorize_labels(dots)
    return np.where((dots > 0)[..., None], colours, (shown * 0.6).astype(np.uint8))


def click_to_seed(preview: np.ndarray, result, factor: float, style: tuple) -> None:
    """Click on the image to add a seed; the labels and overlay update beside it."""
    full_shape = (round(preview.shape[0] / factor), round(preview.shape[1] / factor))
    left, centre, right = st.columns(3, gap="small")
    with left:
        streamlit_image_coordinates(_seeds_over(preview, result.markers), key="seed_click", width="stretch",
                                    on_click=partial(_add_click, full_shape), cursor="crosshair")
        st.caption(f"Click to place a seed ({len(_points())} placed)")
        b1, b2 = st.columns(2)
        b1.button("Undo last seed", on_click=_undo, width="stretch")
        b2.button("Clear seeds", on_click=_clear, width="stretch")
    color, thickness, opacity = style
    centre.image(encode_png_bytes(seg.colorize_labels(result.labels)), width="stretch",
                 caption=f"Labels ({count_of(result.count, 'object')})", output_format="PNG")
    right.image(encode_jpeg_bytes(seg.boundary_overlay(preview, result.labels, color=color,
                                                       thickness=thickness, fill_opacity=opacity)),
                width="stretch", caption="Boundaries on the original", output_format="JPEG")


def stages(preview: np.ndarray, result) -> None:
    """Foreground, distance map and seeds side by side."""
    columns = st.columns(3, gap="small")
    columns[0].image(encode_png_bytes(seg.mask_image(result.foreground)), width="stretch",
                     caption="Foreground (threshold + clean-up)", output_format="PNG")
    if result.distance is not None:
        distance, _ = seg.display_image(result.distance, stretch="always")
        columns[1].image(encode_png_bytes(distance), width="stretch",
                         caption="Distance to background (brighter = deeper)", output_format="PNG")
    else:
        columns[1].info("The gradient landscape with these seeds uses no distance map.")
    columns[2].image(encode_png_bytes(_seeds_over(preview, result.markers)), width="stretch",
                     caption=f"Seeds ({int(result.markers.max(initial=0))})", output_format="PNG")
