"""Downloads: full-resolution results encoded only when the user clicks, plus the recipe files.

A download button's ``data`` callable runs after the page has been drawn, where an exception can no longer
be shown: the browser only says "Failed to generate file for download". So everything that can fail (the
full-resolution computation, a file format that cannot hold the result) is done or checked while the
section is drawn, inside the page's error handling; the callables only encode arrays already computed.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import streamlit as st

import segmentation as seg
from segmentation import label_objects, to_python

from .views import download_row

#: The highest label a 16-bit PNG holds.
PNG_LABELS_MAX = 65535


def png_labels_refusal(objects: int) -> str | None:
    """Why a 16-bit labels PNG cannot hold ``objects`` objects (labels 1..N), or None when it can."""
    if objects <= PNG_LABELS_MAX:
        return None
    return (f"**No labels PNG**: {objects:,} objects, and a 16-bit PNG holds at most {PNG_LABELS_MAX:,} labels. "
            "The **Labels TIFF** (32-bit) holds them all.")


def export_section(*, stem: str, full_segmentation: Callable[[], np.ndarray], full_objects: Callable[[], int],
                   image: np.ndarray, recipe, measurements_csv: Callable[[np.ndarray], str], style: tuple,
                   labels: bool) -> None:
    """Download buttons for mask, labels, overlay, measurements, recipe JSON and Python script.

    ``full_segmentation()`` gives the full-resolution mask (or labels, when ``labels``) and
    ``full_objects()`` its number of objects (the highest label); both are cached by the pages, so they
    cost nothing when the live preview is the full image. The files themselves are encoded on click.
    """
    color, thickness, opacity = style
    with st.spinner("Computing the result at full resolution…"):
        segmentation = full_segmentation()
        objects = int(full_objects())

    def mask_png() -> bytes:
        return seg.encode_png(segmentation > 0)

    def labels_file(fmt: str) -> Callable[[], bytes]:
        def build() -> bytes:
            label_image = segmentation if labels else label_objects(segmentation)
            return seg.encode_labels(label_image, format=fmt)
        return build

    def overlay_png() -> bytes:
        return seg.encode_png(seg.boundary_overlay(image, segmentation, color=color, thickness=thickness,
                                                   fill_opacity=opacity))

    png_refusal = png_labels_refusal(objects)
    st.markdown("**Images and table** (full resolution, computed when you click)")
    download_row([
        ("Mask PNG", f"{stem}_mask.png", mask_png, "image/png"),
        png_refusal or ("Labels PNG (16-bit)", f"{stem}_labels.png", labels_file("png"), "image/png"),
        ("Labels TIFF", f"{stem}_labels.tif", labels_file("tiff"), "image/tiff"),
        ("Overlay PNG", f"{stem}_overlay.png", overlay_png, "image/png"),
        ("Measurements CSV", f"{stem}_measurements.csv", lambda: measurements_csv(segmentation).encode(),
         "text/csv"),
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
