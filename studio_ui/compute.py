"""Cached library calls: keyed on content (image key + recipe text), bounded, timed.

``st.cache_resource`` hands every session the same read-only result object (no pickled copy per rerun);
the image arrays are passed as unhashed ``_arguments`` and identified by their content key, which sidesteps
``st.cache_data``'s sampled hashing of large arrays (two masks differing in a few pixels could collide).

Two kinds of segmentation results are kept, shared by every session:

* **Live results** (``st.cache_resource``, bounded by entries; the display-sized preview the live view works
  on, or the image itself when it is no larger than the preview) with every stage the page shows: the
  views, the histogram, the watershed's stages and seed editing read them. A slider moved back answers
  from here.
* **Full-resolution answers** (:data:`FULL_RESULTS`, a byte-bounded LRU whose newest entry always stays, so
  the current answer is never computed twice; the numbers' background job, the Objects tab, Look
  closer, the downloads, Compare at full resolution) keep only what those read: a :class:`FullAnswer`, the
  mask in bits or the labels in 16 bits, and the numbers. Whole results made one session with a 12-MP
  upload hold 4.8× (Thresholding) and 7.6× (Watershed) the decoded image after three slider stops (a
  watershed result alone was 171.7 MB, 5.0×: seeds, distance map, processed channel, raw mask; issue 15's
  target is 3×, ``python -m benchmarks.session_memory``). When the live view is the image itself, its answer
  is taken from the live result, not computed again.
"""

from __future__ import annotations

import dataclasses
import os
import re
import threading
import time
import weakref
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


#: Bytes of full-resolution answers the server keeps (``STUDIO_FULL_RESULTS_MB``, default 40 MB). An answer is
#: slim (:class:`FullAnswer`): a 12-megapixel watershed's is its labels in 16 bits (22.9 MB), a thresholding's
#: its mask in bits (1.4 MB); the newest is kept even when larger. With 40 MB one 12-MP watershed answer stays
#: besides the newest (two would make a session hold more than 3× its decoded upload, issue 15).
FULL_RESULTS_BUDGET = int(float(os.environ.get("STUDIO_FULL_RESULTS_MB", "40")) * 2**20)
FULL_RESULTS = BytesLRU(FULL_RESULTS_BUDGET, max_entries=64, ttl=1800)

#: Live results computed at full size (the image no larger than its preview), by (kind, image key, recipe JSON),
#: for :func:`full_answer` to take its answer from instead of computing it again; held weakly (the live cache
#: decides how long they live).
_LIVE_FULL_SIZE: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


@dataclass(frozen=True, eq=False)
class FullAnswer:
    """What is kept of a full-resolution result: the segmentation its readers use, and its numbers.

    The full-resolution readers (the metrics' job, the downloads, the Objects tab, Look closer, Compare at full
    resolution) read the mask or the labels and a few numbers; the stages and the histogram read the live
    result. Kept whole, a 12-MP watershed result held 171.7 MB (5.0× the decoded image: labels, seeds and
    distance map in 32 bits, foreground, processed channel, raw mask) and every slider stop added one
    (``python -m benchmarks.session_memory``). So the mask is kept in bits (``np.packbits``) and the labels in the
    narrowest unsigned type that holds their count; :attr:`mask` and :attr:`labels` give them back as the
    library returned them (bool; int32), equal bit for bit.
    """

    kind: str
    shape: tuple[int, ...]
    packed: np.ndarray
    count: int
    seeds: int | None
    thresholds: tuple[float, ...]
    dtype: np.dtype
    foreground_fraction: float
    notes: tuple[str, ...]
    nonfinite: int
    recipe: Any  # the foreground's ThresholdRecipe
    labels_dtype: np.dtype | None = None

    @classmethod
    def of(cls, result: seg.ThresholdResult | seg.WatershedResult) -> FullAnswer:
        if isinstance(result, seg.WatershedResult):
            fg, labels = result.threshold, result.labels
            count = result.count
            narrow = labels.astype(np.min_scalar_type(count)) if count else np.zeros(labels.shape, np.uint8)
            return cls("watershed", labels.shape, _readonly(narrow), count, int(result.markers.max(initial=0)),
                       tuple(fg.thresholds), fg.processed.dtype, fg.foreground_fraction, tuple(result.notes),
                       nonfinite_pixels(fg.processed), fg.recipe, labels.dtype)
        mask = result.mask
        count = int(label_objects(mask).max(initial=0))
        return cls("threshold", mask.shape, _readonly(np.packbits(mask, axis=None)), count, None,
                   tuple(result.thresholds), result.processed.dtype, result.foreground_fraction,
                   tuple(result.notes), nonfinite_pixels(result.processed), result.recipe)

    @property
    def mask(self) -> np.ndarray:
        """The foreground, (H, W) bool (a new array on each call)."""
        if self.kind == "watershed":
            return self.packed > 0
        size = int(np.prod(self.shape))
        return np.unpackbits(self.packed, count=size).view(bool).reshape(self.shape)

    @property
    def labels(self) -> np.ndarray:
        """The objects, (H, W) int32 with 0 = background (a thresholding's: its mask's 8-connected components)."""
        if self.kind == "watershed":
            return self.packed.astype(self.labels_dtype)
        return label_objects(self.mask)


def _readonly(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def nonfinite_pixels(processed: np.ndarray) -> int:
    """How many pixels of a processed channel are NaN or infinite (0 for an integer channel)."""
    return int(np.count_nonzero(~np.isfinite(processed))) if processed.dtype.kind == "f" else 0


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


_COMPUTE = {"threshold": _threshold, "watershed": _watershed}


def live_recipe(image_key: str, recipe, image: np.ndarray):
    """The recipe a downscaled live view runs, before ``.rescaled()``: a watershed's typical diameter "auto"
    fitted to the whole image (``image``, full resolution), as the full-resolution answer, the command line and
    the script fit it, so the preview shows the same choice scaled; any other recipe itself.

    The fit depends on the foreground settings only, so moving a seed or landscape widget does not fit again.
    """
    if recipe.kind != "watershed" or recipe.diameter is not None:
        return recipe
    diameter, method, classes, chosen = _fitted(image_key, recipe.foreground.to_json(), image)
    return recipe.replace(diameter=diameter, foreground=recipe.foreground.replace(
        method=method, classes=classes, foreground_classes=chosen))


@st.cache_resource(max_entries=8, ttl=1800, show_spinner="Fitting the typical diameter to this image…")
def _fitted(image_key: str, foreground_json: str, _image: np.ndarray) -> tuple:
    recipe = seg.WatershedRecipe(foreground=seg.ThresholdRecipe.from_json(foreground_json), diameter=None)
    fitted = seg.recipe_for_image(_image, recipe)
    fg = fitted.foreground
    return fitted.diameter, fg.method, fg.classes, fg.foreground_classes


# Live results hold every stage the page shows; a 1024-px preview's watershed result is 11.2 MB (seeds, distance
# map, processed channel, ...), its thresholding 1.5 MB. Bounded by entries: 2 watershed results keep a session
# with a 12-MP upload under 3× its decoded size with a margin (with one full-resolution answer: 2.54× in the
# in-process accounting of ``python -m benchmarks memory``; 3 gave 2.87× there and 2.91-3.14× of measured RSS in
# three runs on 2026-12-02, at the target), and a slider moved back a step answers from here. (A byte-bounded
# LRU of our own in place of st.cache_resource made the live slider slower while a full-resolution job ran,
# busy/off 1.5-1.9 against 1.0-1.3 in ``python -m benchmarks.progressive_latency``, for a reason not found.)
@st.cache_resource(max_entries=24, ttl=1800, show_spinner=False)
def _live_threshold(image_key: str, scale: float, recipe_json: str, _image: np.ndarray) -> Timed:
    return _threshold(recipe_json, _image)


@st.cache_resource(max_entries=2, ttl=1800, show_spinner=False)
def _live_watershed(image_key: str, scale: float, recipe_json: str, _image: np.ndarray) -> Timed:
    return _watershed(recipe_json, _image)


def run_threshold(image_key: str, scale: float, recipe_json: str, _image: np.ndarray) -> Timed:
    """The live result: threshold ``_image`` (``image_key`` at ``scale``) with the recipe in ``recipe_json``.

    Every stage is kept (the views, the histogram). For the full-resolution answer of a downscaled preview,
    see :func:`full_answer`.
    """
    timed = _live_threshold(image_key, scale, recipe_json, _image)
    if scale >= 1:
        _LIVE_FULL_SIZE[("threshold", image_key, recipe_json)] = timed
    return timed


def run_watershed(image_key: str, scale: float, recipe_json: str, _image: np.ndarray,
                  answers: str | None = None) -> Timed:
    """The live result: watershed of ``_image`` (``image_key`` at ``scale``) with the recipe in ``recipe_json``.

    Every stage is kept (the views, the stages, seed editing). ``answers``: the JSON of the recipe this one
    answers for at full size (a typical diameter "auto" whose fitted recipe this is: the same labels, as
    ``segmentation.watershed`` runs ``recipe_for_image(...).sized()``).
    """
    timed = _live_watershed(image_key, scale, recipe_json, _image)
    if scale >= 1:
        _LIVE_FULL_SIZE[("watershed", image_key, recipe_json)] = timed
        if answers is not None:
            _LIVE_FULL_SIZE[("watershed", image_key, answers)] = timed
    return timed


def full_answer(kind: str, image_key: str, recipe_json: str, _image: np.ndarray) -> Timed:
    """The full-resolution answer (a :class:`FullAnswer`) of ``kind`` ("threshold" or "watershed") for the
    image ``image_key`` at full size, with its library time; cached in :data:`FULL_RESULTS`.

    When the live view is the image itself (no preview: its scale-1 result was computed live), the answer is
    taken from it, not computed again.
    """
    def make() -> Timed:
        live = _LIVE_FULL_SIZE.get((kind, image_key, recipe_json))
        timed = live if live is not None else _COMPUTE[kind](recipe_json, _image)
        return Timed(FullAnswer.of(timed.result), timed.seconds)

    return FULL_RESULTS.get((kind, image_key, recipe_json), make)


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
