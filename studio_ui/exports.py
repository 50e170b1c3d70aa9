"""Downloads: full-resolution results computed only when the user clicks, plus the recipe files."""

from __future__ import annotations

from typing import Callable

import numpy as np
import streamlit as st

import segmentation as seg
from segmentation import label_objects, to_python

from .views import download_row


def export_section(*, stem: str, full_segmentation: Callable[[], np.ndarray], image: np.ndarray, recipe,
                   measurements_csv: Callable[[], str], style: tuple, labels: bool) -> None:
    """Download buttons for mask, labels, overlay, measurements, recipe JSON and Python script.

    The image files are computed at full resolution on click (``data`` callables), not on every rerun.
    """
    color, thickness, opacity = style

    def mask_png() -> bytes:
        return seg.encode_png(full_segmentation() > 0)

    def labels_file(fmt: str) -> Callable[[], bytes]:
        def build() -> bytes:
            segmentation = full_segmentation()
            label_image = segmentation if labels else label_objects(segmentation)
            return seg.encode_labels(label_image, format=fmt)
        return build

    def overlay_png() -> bytes:
        return seg.encode_png(seg.boundary_overlay(image, full_segmentation(), color=color,
                                                   thickness=thickness, fill_opacity=opacity))

    st.markdown("**Images and table** (full resolution, computed when you click)")
    download_row([
        ("Mask PNG", f"{stem}_mask.png", mask_png, "image/png"),
        ("Labels PNG (16-bit)", f"{stem}_labels.png", labels_file("png"), "image/png"),
        ("Labels TIFF", f"{stem}_labels.tif", labels_file("tiff"), "image/tiff"),
        ("Overlay PNG", f"{stem}_overlay.png", overlay_png, "image/png"),
        ("Measurements CSV", f"{stem}_measurements.csv", lambda: measurements_csv().encode(), "text/csv"),
    ])
    script = to_python(recipe)
    st.markdown("**Recipe** — reproduce this result in the command line (`python -m segmentation apply "
                "--recipe recipe.json IMAGES --out DIR`) or in a standalone script")
    download_row([
        ("Recipe JSON", f"{stem}_recipe.json", recipe.to_json(), "application/json"),
        ("Python script", f"{stem}_segment.py", script, "text/x-python"),
    ])
    with st.expander("The recipe as a Python script (OpenCV, scikit-image and numpy only)"):
        st.code(script, language="python", line_numbers=False)
