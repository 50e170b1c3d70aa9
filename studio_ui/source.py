"""The image every page works on: a bundled sample or the user's upload, kept across pages.

The current image lives in a plain ``st.session_state`` key (widget state does not survive a page switch
in a ``pages/`` app). Decoded images sit in a bounded, content-keyed ``st.cache_resource`` (no pickled
copy on every rerun; the arrays are read-only so no session can change another's). An upload is decoded
once per content digest, never on every rerun, and never enters the URL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import unquote

import numpy as np
import streamlit as st
from streamlit.runtime.state import get_session_state

import segmentation as seg
from segmentation import SAMPLES, ImageInfo, downscale, load_image, sample_path

from .microscopy import follow_selection
from .widgets import say_dropped

SOURCE_KEY = "studio_source"        # {"kind": "sample"|"upload", "name": ..., "digest": ...}
UPLOAD_BYTES_KEY = "studio_upload"  # (digest, bytes) of the current upload, to re-decode after eviction
SEEN_UPLOAD_KEY = "studio_seen_upload"  # file_id of the last upload handled, and its error if any
UPLOADER_GENERATION_KEY = "studio_uploader_generation"  # bumped to empty the uploader (see uploader_key)
LOST_UPLOAD_KEY = "studio_lost_upload"  # (digest, name) of an upload shown before the browser reloaded the page
#: Cookie the page's script sets as the browser leaves a page that shows an upload (a reload starts a new session
#: with nothing in it): "<digest>:<name>", for a minute. See :func:`upload_marker` and ``page._HISTORY_JS``.
LOST_UPLOAD_COOKIE = "studio_upload"
#: The key of the container of the notice about it (class ``st-key-...``), and the attribute the page's script puts
#: on ``<html>`` when the browser reloaded the page or came back to it with Back or Forward (``page._HISTORY_JS``).
LOST_UPLOAD_NOTICE = "studio_lost_upload_notice"
RETURNED_ATTRIBUTE = "data-studio-returned"
# The cookie is also sent by a tab opened afresh within the minute (the address typed again, a new tab), which is
# no reload: only the browser knows how it came to the page, so the notice is hidden unless its script says so.
_NOTICE_CSS = f"<style>html:not([{RETURNED_ATTRIBUTE}]) .st-key-{LOST_UPLOAD_NOTICE} {{ display: none; }}</style>"

UPLOAD_HELP = ("PNG, JPEG, TIFF (8/16-bit, float), OME-TIFF and ImageJ hyperstacks (choose the channel, z-plane or "
               "projection and time point below), BMP, WebP or GIF (first frame), up to the upload limit. Uploads "
               "stay in this browser session only and are never put in a link.")


@dataclass(frozen=True)
class CurrentImage:
    """The image a page segments, with what the page needs to say about it."""

    key: str            # content key for caches: "sample:<name>" or the upload's digest
    name: str           # file name shown to the user
    image: np.ndarray   # full resolution, read-only
    info: ImageInfo
    is_upload: bool
    sample: str         # the bundled sample a shared link opens (the URL's ``sample``)
    # A stack's file (bytes or path, None once only its first plane is held), the key and info of the file as it
    # opens; ``key``, ``image`` and ``info`` are those of the channel and plane chosen (studio_ui.microscopy).
    source: object = field(default=None, compare=False, repr=False)
    base_key: str = ""
    base_info: ImageInfo | None = field(default=None, compare=False, repr=False)

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


# Session keys that outlive a page or a sample: the image source and the display settings (and the image
# uploader's, whatever its generation: see uploader_key).
SHARED_KEYS = {"sample", "upload", "preview", "outline", "thickness", "fill"}


def forget_widget_values() -> None:
    """Drop every page widget's value, so the widgets restart at their (page's, sample's) defaults."""
    for key in list(st.session_state):
        if not (key in SHARED_KEYS or str(key).startswith(("studio_", "upload_"))):
            del st.session_state[key]


def uploader_key() -> str:
    """The image uploader's widget key: ``"upload"``, then ``"upload_<n>"`` each time it was emptied.

    Streamlit cannot set a file uploader's value, and its browser side does not send the same file twice: a file
    left in the box after the visitor picked a sample could not be dropped again (the bad file's message never
    came back, an earlier upload could not be brought back by dropping it). A new key draws an empty box.
    """
    generation = st.session_state.get(UPLOADER_GENERATION_KEY, 0)
    return "upload" if not generation else f"upload_{generation}"


def _empty_uploader() -> None:
    if st.session_state.get(uploader_key()) is not None:
        st.session_state.pop(uploader_key(), None)
        st.session_state[UPLOADER_GENERATION_KEY] = st.session_state.get(UPLOADER_GENERATION_KEY, 0) + 1


def _choose_sample(default_sample: str, on_sample_change) -> None:
    """A new sample opens with its suggested settings, exactly as a link naming it does.

    Any message about an earlier upload goes: its cause (that file) is no longer on screen. So does the file
    in the uploader's box (#10 review: a bad file stayed listed, and dropping it again said nothing).
    """
    name = st.session_state.get("sample") or default_sample
    st.session_state[SOURCE_KEY] = {"kind": "sample", "name": name}
    _forget_file_selection()  # a file's projection or plane (or an old link's projection=none) is not a sample's
    _clear_upload_messages()
    _empty_uploader()
    if on_sample_change is not None:
        on_sample_change(name)


def _clear_upload_messages() -> None:
    seen = st.session_state.get(SEEN_UPLOAD_KEY)
    if seen and seen[1]:
        st.session_state[SEEN_UPLOAD_KEY] = (seen[0], None)
    st.session_state.pop(LOST_UPLOAD_KEY, None)


def _show_upload(digest: str, name: str, data: bytes | None) -> None:
    """Make an upload the current image. The sample box goes blank (so picking any sample, the one it showed
    before included, switches back to it)."""
    st.session_state[UPLOAD_BYTES_KEY] = (digest, data)
    st.session_state[SOURCE_KEY] = {"kind": "upload", "name": name, "digest": digest}
    st.session_state["sample"] = None
    _clear_upload_messages()


def _kept_upload(digest: str) -> tuple[np.ndarray, ImageInfo] | None:
    """The decoded upload with this digest if the server still holds it (bounded cache), else None."""
    try:
        return _decode_upload(digest, b"")  # a hit returns the cached image; a miss fails to decode b""
    except Exception:  # noqa: BLE001 - not held any more
        return None


def _use_lost_upload() -> None:
    lost = st.session_state.get(LOST_UPLOAD_KEY)
    if lost and _kept_upload(lost[0]) is not None:
        _show_upload(lost[0], lost[1], None)


def _note_lost_upload() -> None:
    """On a session's first run: if the browser left a page showing an upload (a reload), say so.

    The cookie does not tell a reload from a tab opened afresh within its minute; the notice is drawn for both
    and shown by the browser only after a reload or Back/Forward (see ``_NOTICE_CSS``).
    """
    if SOURCE_KEY in st.session_state or LOST_UPLOAD_KEY in st.session_state:
        return
    cookie = unquote(st.context.cookies.get(LOST_UPLOAD_COOKIE) or "")
    st.session_state[LOST_UPLOAD_KEY] = None
    if ":" not in cookie:
        return
    digest, name = cookie.split(":", 1)
    if len(digest) == 32 and all(c in "0123456789abcdef" for c in digest):
        st.session_state[LOST_UPLOAD_KEY] = (digest, name[:200])


def upload_marker(current: CurrentImage) -> str:
    """``"<digest>:<name>"`` while an upload is shown (what the reload cookie keeps), else ``""``.

    While the page offers back an upload a reload lost, that upload: a second reload offers it again (#10 review:
    it left the sample shown with no word). Picking a sample or another upload ends the offer.
    """
    if current.is_upload:
        return f"{current.key}:{current.name}"
    lost = st.session_state.get(LOST_UPLOAD_KEY)
    return f"{lost[0]}:{lost[1]}" if lost else ""


def _handle_upload() -> None:
    """Called when the uploader changes: decode the new file, or remember why it failed."""
    uploaded = st.session_state.get(uploader_key())
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
    shown = st.session_state.get(SOURCE_KEY) or {}
    if shown.get("kind") == "upload" and shown.get("digest") != digest:
        _forget_file_selection()
    _show_upload(digest, uploaded.name, data)


#: What is read of a file (besides its channel, whose box is keyed by the file's channels): widget and URL keys.
FILE_SELECTION_KEYS = ("series", "pages", "projection", "plane", "timepoint")


def _forget_file_selection() -> None:
    """A file that replaces another upload opens as files open (the maximum of a z-stack, plane 0, ...), not with
    the projection or plane chosen for the one before (#13 review: a sum chosen for one stack carried over to the
    next file), nor does a sample keep one in its address (#10 review: an old link's ``projection=none`` stuck
    to every later view and copied link). A link's selection, waiting for the first upload of a session, is
    kept until the visitor picks another image.
    """
    with get_session_state().query_params() as query:
        for key in FILE_SELECTION_KEYS:
            st.session_state.pop(key, None)
            # ``del st.query_params[key]`` refuses a parameter bound to a widget (these are, once the file's
            # widgets are drawn); the widget's value goes back to its default with it, so drop it as Streamlit's
            # own binding does (one address change per key).
            query.remove_param(key)


def image_source(default_sample: str, on_sample_change=None) -> CurrentImage:
    """Draw the image-source controls in the sidebar and return the current image.

    A bad upload shows the library's plain-words message and the previous image stays. While an upload is
    shown the sample box is blank, so choosing any sample switches back. After a reload (a new session, with
    nothing uploaded) the page says that the upload was not kept and, while the server still holds it, offers
    it back.
    """
    _note_lost_upload()
    names = list(SAMPLES)
    sidebar = st.sidebar
    sidebar.subheader("Image")
    asked = st.query_params.get("sample")
    if asked and asked not in SAMPLES:  # the box falls back to the page's sample: said, not silently (#10 review)
        say_dropped(sidebar, "sample", [asked])
    chosen = sidebar.selectbox(
        "Sample image", names, index=names.index(default_sample), key="sample", bind="query-params",
        on_change=_choose_sample, args=(default_sample, on_sample_change), placeholder="your upload (pick a sample)",
        help="A bundled image. A shared link always opens this sample with the same parameters.")
    sample = chosen or default_sample
    if chosen:
        sidebar.caption(f"{SAMPLES[sample].title}: {SAMPLES[sample].description}")
    sidebar.file_uploader("…or upload your own", key=uploader_key(), on_change=_handle_upload, help=UPLOAD_HELP)
    # One fixed slot for the upload's message, so the sections below keep their place (and stay open).
    message = sidebar.container()
    seen = st.session_state.get(SEEN_UPLOAD_KEY)
    if seen and seen[1] and st.session_state.get(uploader_key()) is not None:
        # How it goes is said: picking the sample already shown changes nothing, so it cannot clear it (#10 review).
        message.error(f"{seen[1]}. The previous image is still shown; remove the file (×) or pick another image "
                      "to clear this message.", icon=":material/error:")

    source = st.session_state.get(SOURCE_KEY) or {"kind": "sample", "name": sample}
    if source["kind"] == "upload":
        stored = st.session_state.get(UPLOAD_BYTES_KEY)
        decoded = None
        if stored and stored[0] == source["digest"]:
            decoded = _decode_upload(*stored) if stored[1] is not None else _kept_upload(stored[0])
        if decoded is not None and not chosen:
            message.caption(f"Showing your upload **{source['name']}**. Pick a sample above to switch back.")
            return follow_selection(CurrentImage(stored[0], source["name"], decoded[0], decoded[1], True, sample),
                                    stored[1])
        source = {"kind": "sample", "name": sample}
    if source["name"] != sample:  # the URL (or another page) named a different sample
        source = {"kind": "sample", "name": sample}
    st.session_state[SOURCE_KEY] = source
    lost = st.session_state.get(LOST_UPLOAD_KEY)
    if lost:
        message.html(_NOTICE_CSS)  # style only: no room taken, and sent before the notice it hides
        with message.container(key=LOST_UPLOAD_NOTICE):
            st.info(f"Reloading (or coming back to) the page started a new session: your upload **{lost[1]}** was "
                    "not kept (an upload lives in its session only and never enters a link). The sample is shown.",
                    icon=":material/info:")
            if _kept_upload(lost[0]) is not None:
                st.button(f"Use {lost[1]} again", on_click=_use_lost_upload, width="stretch",
                          icon=":material/restore_page:")
            else:  # the server's bounded cache of uploads let it go (other uploads came after it, or an hour)
                st.caption(f"The server no longer holds **{lost[1]}**: upload it again to go on with it.")
    image, info = _load_sample(sample)
    return follow_selection(CurrentImage(f"sample:{sample}", SAMPLES[sample].filename, image, info, False, sample),
                            sample_path(sample))
