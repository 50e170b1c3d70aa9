"""The image every page works on: a bundled sample or the user's upload, kept across pages.

The current image lives in a plain ``st.session_state`` key (widget state does not survive a page switch
in a ``pages/`` app). Decoded images sit in a bounded, content-keyed ``st.cache_resource`` (no pickled
copy on every rerun; the arrays are read-only so no session can change another's). An upload is decoded
once per content digest, never on every rerun, and never enters the URL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st

import segmentation as seg
from segmentation import SAMPLES, ImageInfo, downscale, load_image, sample_path

SOURCE_KEY = "studio_source"        # {"kind": "sample"|"upload", "name": ..., "digest": ...}
UPLOAD_BYTES_KEY = "studio_upload"  # (digest, bytes) of the current upload, to re-decode after eviction
SEEN_UPLOAD_KEY = "studio_seen_upload"  # file_id of the last upload handled, and its error if any

UPLOAD_HELP = ("PNG, JPEG, TIFF (8/16-bit, float; first page), BMP, WebP or GIF (first frame), up to the "
               "upload limit. Uploads stay in this browser session only and are never put in a link.")


@dataclass(frozen=True)
class CurrentImage:
    """The image a page segments, with what the page needs to say about it."""

    key: str            # content key for caches: "sample:<name>" or the upload's digest
    name: str           # file name shown to the user
    image: np.ndarray   # full resolution, read-only
    info: ImageInfo
    is_upload: bool
    sample: str         # the bundled sample a shared link opens (the URL's ``sample``)

    @property
    def description(self) -> str:
        h, w = self.image.shape[:2]
        name = self.image.dtype.name
        depth = {"uint8": "8-bit", "uint16": "16-bit", "float32": "32-bit float"}.get(name, name)
        colour = "RGB" if self.image.ndim == 3 else "grayscale"
        return f"{self.name} — {w}×{h} px, {depth} {colour}"


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@st.cache_resource(max_entries=len(SAMPLES), show_spinner=False)
def _load_sample(name: str) -> tuple[np.ndarray, ImageInfo]:
    image, info = load_image(sample_path(name), with_info=True)
    return _readonly(image), info


@st.cache_resource(max_entries=6, ttl=3600, show_spinner=False)
def _decode_upload(digest: str, _data: bytes) -> tuple[np.ndarray, ImageInfo]:
    # Keyed by the content digest only: the bytes themselves are not hashed on every rerun.
    image, info = load_image(_data, with_info=True)
    seg.as_image(image)  # refuses, in plain words, an image no method can use (not one finite pixel)
    return _readonly(image), info


@st.cache_resource(max_entries=12, ttl=3600, show_spinner=False)
def preview_of(key: str, max_side: int, _image: np.ndarray) -> tuple[np.ndarray, float]:
    """The image downscaled to ``max_side`` on its long side (read-only), and the factor used."""
    small, factor = downscale(_image, max_side, kind="image")
    if small is _image:
        return _image, 1.0
    return _readonly(small), factor


# Session keys that outlive a page or a sample: the image source and the display settings.
SHARED_KEYS = {"sample", "upload", "preview", "outline", "thickness", "fill"}


def forget_widget_values() -> None:
    """Drop every page widget's value, so the widgets restart at their (page's, sample's) defaults."""
    for key in list(st.session_state):
        if not (key in SHARED_KEYS or str(key).startswith("studio_")):
            del st.session_state[key]


def _choose_sample(default_sample: str, on_sample_change) -> None:
    """A new sample opens with its suggested settings, exactly as a link naming it does."""
    name = st.session_state.get("sample", default_sample)
    st.session_state[SOURCE_KEY] = {"kind": "sample", "name": name}
    if on_sample_change is not None:
        on_sample_change(name)


def _handle_upload() -> None:
    """Called when the uploader changes: decode the new file, or remember why it failed."""
    uploaded = st.session_state.get("upload")
    if uploaded is None:
        return
    data = uploaded.getvalue()
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    try:
        _decode_upload(digest, data)
    except ValueError as error:  # ImageLoadError, or ParameterError for pixels no method can use
        st.session_state[SEEN_UPLOAD_KEY] = (uploaded.file_id, f"{uploaded.name}: {error}")
        return
    except Exception as error:  # noqa: BLE001 - a visitor's file must never crash the page
        message = f"{uploaded.name}: could not be read ({type(error).__name__})"
        st.session_state[SEEN_UPLOAD_KEY] = (uploaded.file_id, message)
        return
    st.session_state[SEEN_UPLOAD_KEY] = (uploaded.file_id, None)
    st.session_state[UPLOAD_BYTES_KEY] = (digest, data)
    st.session_state[SOURCE_KEY] = {"kind": "upload", "name": uploaded.name, "digest": digest}


def image_source(default_sample: str, on_sample_change=None) -> CurrentImage:
    """Draw the image-source controls in the sidebar and return the current image.

    A bad upload shows the library's plain-words message and the previous image stays.
    """
    names = list(SAMPLES)
    sidebar = st.sidebar
    sidebar.subheader("Image")
    sample = sidebar.selectbox(
        "Sample image", names, index=names.index(default_sample), key="sample", bind="query-params",
        on_change=_choose_sample, args=(default_sample, on_sample_change),
        help="A bundled image. A shared link always opens this sample with the same parameters.")
    sidebar.caption(f"{SAMPLES[sample].title}: {SAMPLES[sample].description}")
    sidebar.file_uploader("…or upload your own", key="upload", on_change=_handle_upload, help=UPLOAD_HELP)
    # One fixed slot for the upload's message, so the sections below keep their place (and stay open).
    message = sidebar.container()
    seen = st.session_state.get(SEEN_UPLOAD_KEY)
    if seen and seen[1] and st.session_state.get("upload") is not None:
        message.error(f"{seen[1]}. The previous image is still shown.", icon=":material/error:")

    source = st.session_state.get(SOURCE_KEY) or {"kind": "sample", "name": sample}
    if source["kind"] == "upload":
        stored = st.session_state.get(UPLOAD_BYTES_KEY)
        if stored and stored[0] == source["digest"]:
            image, info = _decode_upload(*stored)
            message.caption(f"Showing your upload **{source['name']}**. Pick a sample above to switch back.")
            return CurrentImage(stored[0], source["name"], image, info, True, sample)
        source = {"kind": "sample", "name": sample}
    if source["name"] != sample:  # the URL (or another page) named a different sample
        source = {"kind": "sample", "name": sample}
    st.session_state[SOURCE_KEY] = source
    image, info = _load_sample(sample)
    return CurrentImage(f"sample:{sample}", SAMPLES[sample].filename, image, info, False, sample)
