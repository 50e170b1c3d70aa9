"""A minimal Streamlit app written "the usual way": the baseline the browser-latency benchmark compares with.

What makes it "usual" (and slow on big images), on purpose:

* the image is decoded on **every** rerun (``cv2.imdecode`` of the uploaded bytes, no cache);
* segmentation runs at **full resolution** on every slider move (the same library call as the studio);
* the three full-resolution numpy arrays (original, mask or labels, overlay) go to ``st.image``,
  which encodes each with PIL (JPEG quality 100) and, being wider than 1460 px, decodes, resizes and
  re-encodes it.

The views are drawn with the studio's own render helpers (``seg.colorize_labels``,
``seg.boundary_overlay``), so the comparison measures the app's structure, not different drawing code.

Run: ``streamlit run benchmarks/naive_app.py`` and open ``/?mode=threshold`` (manual threshold slider)
or ``/?mode=watershed`` (h slider). The image comes from the file uploader, or from the path in the
``NAIVE_IMAGE`` environment variable or the ``path`` query parameter (local files only; a benchmark
tool, never deploy it).
"""

import os
from pathlib import Path

import cv2
import numpy as np
import streamlit as st

import segmentation as seg

st.set_page_config(page_title="Naive app (benchmark baseline)", layout="wide")
mode = st.query_params.get("mode", "threshold")
st.title(f"Naive {mode}")

uploaded = st.sidebar.file_uploader("Image", key="upload")
path = os.environ.get("NAIVE_IMAGE") or st.query_params.get("path")
if uploaded is not None:
    name, data = uploaded.name, uploaded.getvalue()
elif path:
    name, data = Path(path).name, Path(path).read_bytes()
else:
    st.info("Upload an image.")
    st.stop()

# Decoded on every rerun, as most tutorials do.
image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
if image.ndim == 3:
    image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
st.caption(f"{name} — {image.shape[1]}×{image.shape[0]} px")

if mode == "watershed":
    h = st.sidebar.slider("h (px)", 0.05, 10.0, 1.0, 0.05)
    result = seg.watershed(image, h=h)                      # full resolution, every rerun
    segmentation = result.labels
    middle = seg.colorize_labels(segmentation)
    title = f"Labels ({result.count} objects)"
else:
    value = st.sidebar.slider("Threshold value", 0, 255, 128)
    result = seg.threshold(image, "manual", value=float(value))  # full resolution, every rerun
    segmentation = result.mask
    middle = segmentation.astype(np.uint8) * 255
    title = f"Mask ({result.polarity} objects)"

overlay = seg.boundary_overlay(image, segmentation)
c1, c2, c3 = st.columns(3)
c1.image(image, caption="Original", width="stretch")
c2.image(middle, caption=title, width="stretch")
c3.image(overlay, caption="Boundaries on the original", width="stretch")
