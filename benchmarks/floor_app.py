"""The least a Streamlit app can do per slider move: the floor the browser-latency benchmark compares with.

What makes it a floor, on purpose:

* the upload is decoded **once** (cached by content) and a display-sized preview (1024 px on the long side,
  ``cv2.INTER_AREA``) is kept; the original view is encoded once;
* each rerun does the segmentation on the preview (the same library call as the studio: a manual
  threshold, or the default watershed with the slider's h) and encodes the two views that changed itself
  (mask or labels as PNG, boundary overlay as JPEG quality 90), handing ``st.image`` bytes it shows as they are;
* nothing else: no histogram, no metrics, no notes, no tabs, no caches beyond the decoded image.

So the time from a slider move to the new views is one Streamlit rerun, one library call on the preview and
three images: what no app that shows the same three views can beat by much. The studio's pages are measured
against it (targets: thresholding within 1.3×, watershed within 2×).

Run: ``streamlit run benchmarks/floor_app.py`` and open ``/?mode=threshold`` (manual threshold slider) or
``/?mode=watershed`` (h slider), then upload an image.
"""

import hashlib

import cv2
import numpy as np
import streamlit as st

import segmentation as seg

PREVIEW_SIDE = 1024

st.set_page_config(page_title="Floor app (benchmark baseline)", layout="wide")
mode = st.query_params.get("mode", "threshold")


@st.cache_resource(max_entries=2, show_spinner=False)
def _decoded(digest: str, _data: bytes) -> tuple[np.ndarray, bytes]:
    """The preview (RGB or grey) and its JPEG, once per upload."""
    image = cv2.imdecode(np.frombuffer(_data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    scale = min(1.0, PREVIEW_SIDE / max(image.shape[:2]))
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    image = seg.to_uint8(image)[0] if image.dtype != np.uint8 else image
    return image, _jpeg(image)


def _jpeg(image: np.ndarray) -> bytes:
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def _png(image: np.ndarray) -> bytes:
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    return cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 1])[1].tobytes()


uploaded = st.sidebar.file_uploader("Image", key="upload")
if uploaded is None:
    st.info("Upload an image.")
    st.stop()
data = uploaded.getvalue()
preview, original_jpeg = _decoded(hashlib.blake2b(data, digest_size=16).hexdigest(), data)
st.caption(f"{uploaded.name} — preview {preview.shape[1]}×{preview.shape[0]} px")

if mode == "watershed":
    h = st.sidebar.slider("h (px)", 0.05, 10.0, 1.0, 0.05)
    result = seg.watershed(preview, h=h)
    segmentation = result.labels
    middle = seg.colorize_labels(segmentation)
    title = f"Labels ({result.count} objects)"
else:
    value = st.sidebar.slider("Threshold value", 0, 255, 128)
    result = seg.threshold(preview, "manual", value=float(value))
    segmentation = result.mask
    middle = segmentation.astype(np.uint8) * 255
    title = f"Mask ({result.polarity} objects)"

c1, c2, c3 = st.columns(3)
c1.image(original_jpeg, caption="Original", width="stretch")
c2.image(_png(middle), caption=title, width="stretch")
c3.image(_jpeg(seg.boundary_overlay(preview, segmentation)), caption="Boundaries on the original", width="stretch")
