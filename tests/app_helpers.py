"""Shared helpers for the Streamlit AppTest suites (test_app_pages.py, test_app_urls.py).

Every page is run through the entry script, as a browser session would: ``AppTest.from_file("app.py")``
and ``switch_page("pages/...")`` before the first ``run()`` (running a page file directly breaks
``st.page_link``). Widgets are found by their key (the recipe parameter's name).

``media`` is a fixture (import it into a test module) that records the media file manager of every run,
so a test can read the pixels of a shown image or the bytes of a download, deferred ones included.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

import cv2
import numpy as np
import pytest
import tifffile
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
TIMEOUT = 120

#: page name -> the file ``switch_page`` takes (None = the entry script, the thresholding page).
PAGES: dict[str, str | None] = {
    "threshold": None,
    "watershed": "pages/2_watershed.py",
    "compare": "pages/3_compare.py",
}


# --- running pages ------------------------------------------------------------------------------
def app(page: str = "threshold", *, query: Mapping[str, Any] | None = None,
        state: Mapping[str, Any] | None = None, context: Mapping[str, Any] | None = None,
        timeout: float = TIMEOUT) -> AppTest:
    """A fresh session on ``page`` (not run yet), with URL query, session state and context seeded."""
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    if PAGES[page] is not None:
        at.switch_page(PAGES[page])
    for key, value in (query or {}).items():
        at.query_params[key] = value
    for key, value in (state or {}).items():
        at.session_state[key] = value
    for key, value in (context or {}).items():
        at.context[key] = value
    return at


def run(page: str = "threshold", **kwargs: Any) -> AppTest:
    return app(page, **kwargs).run()


def exceptions(at: AppTest) -> list[str]:
    return [e.message for e in at.exception]


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def assert_ok(at: AppTest) -> None:
    """The run raised nothing and showed no error box."""
    assert exceptions(at) == [], exceptions(at)
    assert errors(at) == [], errors(at)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def captions(at: AppTest) -> list[str]:
    return [c.value for c in at.caption]


def main_images(at: AppTest) -> list:
    return list(at.main.image)


def image_captions(at: AppTest) -> list[str]:
    return [img.proto.imgs[0].caption for img in main_images(at)]


def widget(at: AppTest, key: str):
    """The widget with this key (sidebar or main), or None when the page did not draw it."""
    for block in (at.sidebar, at.main):
        for node in block:
            if getattr(node, "key", None) == key:
                return node
    return None


def widget_keys(at: AppTest) -> set[str]:
    return {node.key for block in (at.sidebar, at.main) for node in block if getattr(node, "key", None)}


def set_widget(at: AppTest, key: str, value: Any) -> AppTest:
    """Set a widget by key and rerun."""
    node = widget(at, key)
    assert node is not None, f"no widget with key {key!r}; have {sorted(widget_keys(at))}"
    node.set_value(value)
    return at.run()


def upload(at: AppTest, name: str, data: bytes, *, key: str | None = None,
           mime: str = "application/octet-stream") -> AppTest:
    """Drop a file on the uploader ``key`` (by default the image uploader: "upload", or "upload_<n>" once
    choosing a sample emptied it)."""
    if key is None:
        keys = [node.key for node in at.file_uploader if node.key == "upload" or node.key.startswith("upload_")]
        assert len(keys) == 1, f"image uploaders: {keys}"
        key = keys[0]
    at.file_uploader(key=key).set_value((name, data, mime))
    return at.run()


def results_frame(at: AppTest):
    """The compare page's results table (a pandas DataFrame indexed by method label)."""
    assert at.dataframe, "no results table"
    return at.dataframe[0].value


# --- expected values --------------------------------------------------------------------------
def percent(fraction: float) -> str:
    return f"{fraction:.1%}"


def objects_in(mask: np.ndarray) -> int:
    """8-connected objects of a bool mask (what the Objects metric counts)."""
    return int(cv2.connectedComponents(mask.view(np.uint8), connectivity=8)[0]) - 1


def thresholds_of(text: str) -> tuple[float, ...]:
    """The numbers in a Threshold metric ("102", "87, 176", "78.91")."""
    return tuple(float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text.replace(",", " ")))


def assert_thresholds_shown(text: str, expected: Iterable[float], *, integer: bool = True) -> None:
    expected = tuple(expected)
    if not expected:
        assert text == "per pixel", text
        return
    shown = thresholds_of(text)
    assert len(shown) == len(expected), (text, expected)
    for s, e in zip(shown, expected):
        # integer images: two decimals; float images: 4 significant digits
        assert abs(s - e) <= (0.005 + 1e-9 if integer else abs(e) * 5e-4 + 1e-9), (text, expected)


def method_title(method: str) -> str:
    """What the Method metric shows for a method (its label without the parenthesis)."""
    from segmentation import METHODS

    return METHODS[method][0].split(" (")[0]


# --- files ------------------------------------------------------------------------------------
def png_bytes(array: np.ndarray) -> bytes:
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".png", array)
    assert ok
    return buffer.tobytes()


def tiff_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array)
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    """PNG/JPEG/TIFF bytes to an array (RGB order for colour)."""
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return tifffile.imread(io.BytesIO(data))
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image is not None, "undecodable image bytes"
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


# --- media (shown images and downloads) -------------------------------------------------------
class MediaRecorder:
    """Keeps the MediaFileManager AppTest creates for each run, to read files back by URL."""

    def __init__(self) -> None:
        self.managers: list = []

    @property
    def manager(self):
        assert self.managers, "no AppTest run recorded"
        return self.managers[-1]

    def file(self, url: str) -> bytes:
        found = self.manager.read_file(url.rsplit("/", 1)[-1])
        assert found is not None, f"no media file for {url}"
        return found.content

    def image(self, element) -> np.ndarray:
        return decode(self.file(element.proto.imgs[0].url))

    def download(self, at: AppTest, label: str) -> bytes:
        buttons = {b.label: b for b in at.get("download_button")}
        assert label in buttons, f"no download button {label!r}; have {sorted(buttons)}"
        proto = buttons[label].proto
        url = self.manager.execute_deferred(proto.deferred_file_id) if proto.deferred_file_id else proto.url
        return self.file(url)


@pytest.fixture
def media(monkeypatch) -> MediaRecorder:
    import streamlit.testing.v1.app_test as app_test_module
    from streamlit.runtime.media_file_manager import MediaFileManager

    recorder = MediaRecorder()

    class RecordingMediaFileManager(MediaFileManager):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            recorder.managers.append(self)

    monkeypatch.setattr(app_test_module, "MediaFileManager", RecordingMediaFileManager)
    return recorder
