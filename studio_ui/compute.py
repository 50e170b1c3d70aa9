"""Cached library calls: keyed on content (image key + recipe text), bounded, timed.

``st.cache_resource`` hands every session the same read-only result object (no pickled copy per rerun);
the image arrays are passed as unhashed ``_arguments`` and identified by their content key, which sidesteps
``st.cache_data``'s sampled hashing of large arrays (two masks differing in a few pixels could collide).

Two kinds of segmentation results are kept, bounded differently:

* **Preview results** (``scale`` below 1: the display-sized copy the live view works on) sit in
  ``st.cache_resource`` caches bounded by their number of entries; a preview is at most a few megapixels, so
  a slider moved back and forth answers from the cache.
* **Full-resolution results** (``scale`` 1: the numbers' background job, the Objects table, Look closer, the
  downloads, Compare at full resolution) sit in :data:`FULL_RESULTS`, one server-wide LRU bounded in
  *bytes* (:data:`FULL_RESULTS_BUDGET`). A full-resolution watershed of a 12-megapixel photo holds about
  170 MB (labels, seeds, distance map, foreground, processed channel); kept by entry count, every slider stop
  added one (issue 10's review: 1.25 → 2.3 GB after ten stops). The newest result is always kept, whatever
  its size, so the current recipe's answer (what the page shows and the downloads hold) is computed once;
  older ones go first once the budget is exceeded and are recomputed if someone asks for them again.
  For an image no larger than its preview (scale 1 is then also the live view) the entries are small and
  many fit.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

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


def nbytes(value: Any, _seen: set[int] | None = None) -> int:
    """Bytes of the distinct array buffers reachable from ``value`` (through dataclass fields, tuples, lists,
    dicts), each buffer counted once (a view counts as its base)."""
    seen = set() if _seen is None else _seen
    if isinstance(value, np.ndarray):
        owner = value
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        if id(owner) in seen:
            return 0
        seen.add(id(owner))
        return owner.nbytes
    if id(value) in seen:
        return 0
    seen.add(id(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes(getattr(value, f.name), seen) for f in dataclasses.fields(value))
    if isinstance(value, (tuple, list)):
        return sum(nbytes(v, seen) for v in value)
    if isinstance(value, dict):
        return sum(nbytes(v, seen) for v in value.values())
    return 0


class BytesLRU:
    """A thread-safe LRU cache bounded in bytes (and entries), with one computation per key at a time.

    ``get(key, make)`` returns the cached value or ``make()``'s (stored; an exception is not). Entries are
    dropped, least recently used first, while the cache holds more than ``budget`` bytes or ``max_entries``
    entries, or when older than ``ttl`` seconds, but the newest entry always stays: the current answer is
    never computed twice because it is large. Two threads asking for the same missing key (the numbers' job
    and the Export tab) compute it once: the second waits for the first.
    """

    def __init__(self, budget: int, max_entries: int = 64, ttl: float = 1800.0) -> None:
        self.budget, self.max_entries, self.ttl = budget, max_entries, ttl
        self._entries: OrderedDict[tuple, tuple[Any, int, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[tuple, threading.Lock] = {}

    def _lookup(self, key: tuple) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is None or time.monotonic() - entry[2] > self.ttl:
            return False, None
        self._entries.move_to_end(key)
        return True, entry[0]

    def get(self, key: tuple, make: Callable[[], Any]) -> Any:
        with self._lock:
            found, value = self._lookup(key)
            if found:
                return value
            key_lock = self._computing.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                found, value = self._lookup(key)
                if found:
                    return value
            try:
                value = make()
                size = nbytes(value)
                with self._lock:
                    self._entries.pop(key, None)
                    self._entries[key] = (value, size, time.monotonic())
                    self._evict()
            finally:
                with self._lock:
                    if self._computing.get(key) is key_lock:
                        del self._computing[key]
        return value

    def _evict(self) -> None:
        now = time.monotonic()
        for key in [k for k, (_, _, t) in self._entries.items() if now - t > self.ttl]:
            del self._entries[key]
        while len(self._entries) > 1 and (len(self._entries) > self.max_entries or self.held() > self.budget):
            self._entries.popitem(last=False)

    def held(self) -> int:
        """Bytes held by the entries now."""
        return sum(size for _, size, _ in self._entries.values())

    def keys(self) -> list[tuple]:
        """The keys held, least recently used first (for tests and benchmarks)."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


#: Bytes of full-resolution results the server keeps (``STUDIO_FULL_RESULTS_MB``, default 256 MB: one
#: full-resolution watershed of a 12-megapixel photo, about 170 MB, plus its thresholding; the newest result
#: is kept even when it alone is larger).
FULL_RESULTS_BUDGET = int(float(os.environ.get("STUDIO_FULL_RESULTS_MB", "256")) * 2**20)
FULL_RESULTS = BytesLRU(FULL_RESULTS_BUDGET, max_entries=64, ttl=1800)


def _threshold(recipe_json: str, image: np.ndarray) -> Timed:
    recipe = seg.ThresholdRecipe.from_json(recipe_json)
    start = time.perf_counter()
    result = seg.threshold(image, recipe)
    return Timed(_freeze(result), time.perf_counter() - start)


def _watershed(recipe_json: str, image: np.ndarray) -> Timed:
    recipe = seg.WatershedRecipe.from_json(recipe_json)
    start = time.perf_counter()
    result = seg.watershed(image, recipe)
    _freeze(result.threshold)
    return Timed(_freeze(result), time.perf_counter() - start)


@st.cache_resource(max_entries=24, ttl=1800, show_spinner=False)
def _preview_threshold(image_key: str, scale: float, recipe_json: str, _image: np.ndarray) -> Timed:
    return _threshold(recipe_json, _image)


@st.cache_resource(max_entries=16, ttl=1800, show_spinner=False)
def _preview_watershed(image_key: str, scale: float, recipe_json: str, _image: np.ndarray) -> Timed:
    return _watershed(recipe_json, _image)


def run_threshold(image_key: str, scale: float, recipe_json: str, _image: np.ndarray) -> Timed:
    """Threshold ``_image`` (identified by ``image_key`` and ``scale``) with the recipe in ``recipe_json``.

    A preview (``scale`` < 1) is cached by entries, a full-resolution result in :data:`FULL_RESULTS`.
    """
    if scale >= 1:
        return FULL_RESULTS.get(("threshold", image_key, recipe_json), lambda: _threshold(recipe_json, _image))
    return _preview_threshold(image_key, scale, recipe_json, _image)


def run_watershed(image_key: str, scale: float, recipe_json: str, _image: np.ndarray) -> Timed:
    """Watershed of ``_image`` (identified by ``image_key`` and ``scale``) with the recipe in ``recipe_json``.

    A preview (``scale`` < 1) is cached by entries, a full-resolution result in :data:`FULL_RESULTS`.
    """
    if scale >= 1:
        return FULL_RESULTS.get(("watershed", image_key, recipe_json), lambda: _watershed(recipe_json, _image))
    return _preview_watershed(image_key, scale, recipe_json, _image)


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
def manual_start(image_key: str, _image: np.ndarray,
                 preprocessing: str | None = None) -> tuple[float, tuple[float, float] | None]:
    """The manual threshold's starting value and the finite limits of the channel it is compared with.

    The value is Otsu's threshold of that channel (like Fiji's dialog). ``preprocessing``: a threshold recipe's
    JSON whose channel, smoothing and background subtraction come first (the Watershed page's foreground
    subtracts the background by default: Otsu of the raw image, 118 on its sample, lay above every processed
    pixel and Manual gave 0 % foreground; on a float image the processed values even leave the raw image's
    range, 0.19 against a smallest raw value of 0.28, so the slider must span the processed channel too).

    Computed by the library's pipeline, which takes the image as it comes (a float upload keeps its NaN and
    ±inf pixels; the thresholds come from the finite ones). This only places a slider, so it never stops
    the page: when there is no threshold (a constant image) or the library refuses the image, the slider
    starts in the middle of the image's finite values (a constant image's value) and the limits are None.
    """
    try:
        if preprocessing is None:
            recipe = seg.ThresholdRecipe(method="otsu", channel="luminance", polarity="bright")
        else:
            recipe = seg.ThresholdRecipe.from_json(preprocessing).replace(method="otsu")
        result = seg.threshold(_image, recipe)
        thresholds, limits = result.thresholds, finite_limits(result.processed)
    except Exception:  # noqa: BLE001 - a starting position must never break the page
        thresholds, limits = (), None
    if thresholds and np.isfinite(thresholds[0]):
        return float(round(thresholds[0], 4)), limits
    lo, hi = finite_limits(_image) or (0.0, 1.0)  # (a constant image: its value)
    return float(round(lo / 2 + hi / 2, 4)), limits


def default_manual_value(image_key: str, _image: np.ndarray, preprocessing: str | None = None) -> float:
    """The manual threshold's starting value (:func:`manual_start`)."""
    return manual_start(image_key, _image, preprocessing)[0]


#: The library's note on NaN / ±inf pixels starts with their count: "3 pixels not finite (1 NaN, 2 +inf)".
_NONFINITE_COUNT = re.compile(r"^[\d,]+ pixels? not finite \([^)]*\)")


@st.cache_data(max_entries=16, ttl=3600, show_spinner=False)
def nonfinite_counts(image_key: str, channel: str, _image: np.ndarray) -> tuple[int, int, int]:
    """(NaN, +inf, -inf) pixel counts of the full-resolution channel the library thresholds (counted once per
    image and channel, as :func:`segmentation.threshold` counts them: on ``extract_channel`` of the image)."""
    image = seg.as_image(_image)
    if image.dtype.kind != "f":
        return 0, 0, 0
    extracted = seg.extract_channel(image, channel)
    return (int(np.count_nonzero(np.isnan(extracted))), int(np.count_nonzero(extracted == np.inf)),
            int(np.count_nonzero(extracted == -np.inf)))


def full_resolution_notes(notes: tuple[str, ...], *, image_key: str, image: np.ndarray, channel: str,
                          factor: float) -> tuple[str, ...]:
    """A preview result's notes with the non-finite pixel count of the whole image, as the library gives it.

    The live view thresholds a downscaled copy, whose averaging spreads or merges NaN and ±inf pixels (values
    near the float32 limit even overflow to +inf): its count is not the image's. The note is the library's,
    with the count of the full-resolution channel (what the downloads and the command line report).
    """
    if factor >= 1 or not any(_NONFINITE_COUNT.match(note) for note in notes):
        return notes
    nan, plus, minus = nonfinite_counts(image_key, channel, image)
    total = nan + plus + minus
    parts = [f"{n:,} {word}" for n, word in ((nan, "NaN"), (plus, "+inf"), (minus, "-inf")) if n]
    words = f"{total:,} pixel{'s' if total != 1 else ''} not finite ({', '.join(parts)})"
    out = []
    for note in notes:
        if _NONFINITE_COUNT.match(note):
            if not total:  # the preview's overflow only: the image itself is finite
                continue
            note = _NONFINITE_COUNT.sub(words, note, count=1)
        out.append(note)
    return tuple(out)
