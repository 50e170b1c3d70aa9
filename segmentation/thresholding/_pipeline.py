"""The threshold recipe pipeline: :func:`threshold` runs pre-processing, one method and clean-up."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

from .._checks import all_finite
from .._errors import ParameterError
from .._numeric import as_image, is_constant
from ..recipes import LOCAL_METHODS, ThresholdRecipe, canonical_names
from ._cleanup import clean_mask
from ._global import (
    binarize,
    isodata_threshold,
    li_threshold,
    manual_threshold,
    mean_threshold,
    minimum_threshold,
    multiotsu_mask,
    multiotsu_thresholds,
    otsu_threshold,
    triangle_threshold,
    yen_threshold,
)
from ._local import local_mask
from ._preprocess import extract_channel, prepare

__all__ = ["threshold", "ThresholdResult"]


def nonfinite_note(channel: np.ndarray) -> str:
    """The plain-words note for a channel holding NaN or ±inf pixels (library-internal)."""
    nan = int(np.count_nonzero(np.isnan(channel)))
    plus = int(np.count_nonzero(channel == np.inf))
    minus = int(np.count_nonzero(channel == -np.inf))
    parts = [f"{n:,} {word}" for n, word in ((nan, "NaN"), (plus, "+inf"), (minus, "-inf")) if n]
    total = nan + plus + minus
    return (f"{total:,} pixel{'s' if total != 1 else ''} not finite ({', '.join(parts)}): thresholds come from "
            f"the finite pixels; NaN is never foreground, +inf is above every threshold and -inf below")


_OPENCV_FLAGS = {"otsu": cv2.THRESH_OTSU, "triangle": cv2.THRESH_TRIANGLE}
_GLOBAL = {
    "otsu": otsu_threshold, "triangle": triangle_threshold, "li": li_threshold, "yen": yen_threshold,
    "isodata": isodata_threshold, "mean": mean_threshold, "minimum": minimum_threshold,
}


@dataclass(frozen=True, eq=False)
class ThresholdResult:
    """What :func:`threshold` computed.

    Attributes
    ----------
    mask : (H, W) ndarray of bool
        The foreground after clean-up.
    thresholds : tuple of float
        The value(s) used, in the input's units; empty for local methods and constant images.
    polarity : {"bright", "dark"}
        How the mask was taken (``auto`` resolved).
    recipe : ThresholdRecipe
        Every parameter.
    processed : (H, W) ndarray of uint8, uint16 or float32
        The single channel the method saw (after smoothing and background subtraction), in the input's units.
    raw_mask : (H, W) ndarray of bool
        The mask before clean-up.
    surface : (H, W) ndarray of float32, or None
        The per-pixel threshold of Sauvola and Niblack, in the input's units.
    notes : tuple of str
        Plain-words remarks (constant image, 8-bit mapping, ...).
    foreground_fraction : float
        The fraction of the image's pixels in ``mask``, 0 to 1.
    """

    mask: np.ndarray
    thresholds: tuple[float, ...]
    polarity: str
    recipe: ThresholdRecipe
    processed: np.ndarray
    raw_mask: np.ndarray
    surface: np.ndarray | None = None
    notes: tuple[str, ...] = ()

    @property
    def foreground_fraction(self) -> float:
        return float(np.count_nonzero(self.mask)) / self.mask.size


def _recipe_of(method: str, params: dict) -> ThresholdRecipe:
    """``ThresholdRecipe(method=method, **params)``, made once per distinct call (the recipes are frozen).

    Checking the 29 parameters took 40-65 µs of every call, a tenth of a 1-megapixel Otsu
    (``python -m benchmarks.library_overhead --quick``); a slider repeats the same few recipes. Keyed by each
    value's type as well (``True`` and ``1``, ``1`` and ``1.0`` hash alike but are checked differently);
    unhashable values (a list) are checked every time; an error is never cached (``lru_cache`` keeps returns
    only).
    """
    key = (method, tuple((name, type(value), value) for name, value in params.items()))
    try:
        return _cached_recipe(key)
    except TypeError:  # an unhashable value
        return ThresholdRecipe(method=method, **params)


@functools.lru_cache(maxsize=256)
def _cached_recipe(key: tuple) -> ThresholdRecipe:
    method, items = key
    return ThresholdRecipe(method=method, **{name: value for name, _, value in items})


def threshold(image: np.ndarray, method: str | ThresholdRecipe = "otsu", **params) -> ThresholdResult:
    """Segment ``image`` by thresholding: pre-processing, the method, then clean-up.

    The image is normalised (:func:`segmentation.as_image`), reduced to one channel, smoothed, its
    polarity decided and its background subtracted (:func:`prepare`); the method then gives a threshold
    (global methods, see the per-method functions such as :func:`otsu_threshold`) or a mask (local
    methods), and :func:`clean_mask` cleans the mask. A constant image (after pre-processing) gives an
    empty mask, no threshold and a note, whatever the method except ``manual``.

    Parameters
    ----------
    image : array_like, (H, W) or (H, W, 3)
        Grayscale or RGB, 8-bit, 16-bit or float (any array :func:`segmentation.as_image` accepts).
    method : str or ThresholdRecipe
        One of the names in :data:`segmentation.METHODS`, or a whole recipe.
    **params : ThresholdRecipe parameters
        Any :class:`ThresholdRecipe` parameter (``sigma=2``, ``window=31``, ``min_size=50`` ...).

    Returns
    -------
    ThresholdResult

    Raises
    ------
    ParameterError
        When a keyword is not a recipe parameter, or ``image`` is not an image :func:`segmentation.as_image`
        accepts (wrong shape, empty, unsupported dtype, no finite value).
    ValueError
        When a recipe parameter is out of its range or not one of its choices (from
        :class:`ThresholdRecipe`; the message names the parameter).
    SegmentationError
        When the method cannot produce a result on this image (Minimum without two histogram peaks,
        multi-Otsu with fewer grey levels than classes).

    Examples
    --------
    >>> from skimage import data
    >>> result = threshold(data.camera(), "otsu", polarity="bright")
    >>> result.thresholds
    (102.0,)

    References
    ----------
    Each method's own, listed under its function (:func:`otsu_threshold`, :func:`li_threshold`,
    :func:`sauvola_surface`, ...); the libraries that compute them:

    S. van der Walt, J. L. Schönberger, J. Nunez-Iglesias, F. Boulogne, J. D. Warner, N. Yager,
    E. Gouillart, T. Yu and the scikit-image contributors, "scikit-image: image processing in Python",
    PeerJ 2:e453, 2014. :DOI:`10.7717/peerj.453`

    G. Bradski, "The OpenCV Library", Dr. Dobb's Journal of Software Tools 25(11):120–125, 2000.
    """
    params = canonical_names(ThresholdRecipe.specs(), params)  # earlier names of renamed parameters
    known = {spec.name for spec in ThresholdRecipe.specs()}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ParameterError(f"unknown threshold parameter(s): {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(known))}")
    if isinstance(method, ThresholdRecipe):
        recipe = method.replace(**params) if params else method  # a recipe is checked when it is made
    else:
        recipe = _recipe_of(method, params)
    image = as_image(image)
    prepared = prepare(image, recipe)
    channel, polarity = prepared.image, prepared.polarity
    notes: list[str] = []
    if image.dtype == np.float32 and not all_finite(image):
        # Counted on the channel as extracted, before background subtraction turns an infinity on the
        # background's side into 0 (extract_channel of a gray image is the image itself: no copy).
        extracted = extract_channel(image, recipe.channel)
        if not all_finite(extracted):
            notes.append(nonfinite_note(extracted))
    nonfinite = channel.dtype == np.float32 and not all_finite(channel)
    surface = None

    if recipe.method != "manual" and is_constant(channel):
        # A constant image has no two populations to separate: every method would return the value
        # itself (or fail), and "value > value" is empty. Say so instead of inventing objects.
        raw = np.zeros(channel.shape, bool)
        thresholds: tuple[float, ...] = ()
        notes.append("the image is constant after pre-processing: there is nothing to separate")
    elif recipe.method in LOCAL_METHODS:
        raw, surface, local_notes = local_mask(channel, recipe, polarity)
        thresholds = ()
        notes.extend(local_notes)
    elif recipe.method == "multiotsu":
        thresholds = multiotsu_thresholds(channel, recipe.classes)
        chosen = recipe.foreground_classes or ((recipe.classes - 1,) if polarity == "bright" else (0,))
        raw = multiotsu_mask(channel, thresholds, chosen)
    elif recipe.method in _OPENCV_FLAGS and channel.dtype == np.uint8 and prepared.otsu is None:
        # One OpenCV call finds the threshold and writes the mask (the same mask binarize() would make).
        kind = cv2.THRESH_BINARY if polarity == "bright" else cv2.THRESH_BINARY_INV
        t, raw8 = cv2.threshold(channel, 0, 1, kind | _OPENCV_FLAGS[recipe.method])
        thresholds, raw = (float(t),), raw8.view(bool)
    else:
        if recipe.method == "manual":
            t = manual_threshold(channel, math.ldexp(recipe.value, -prepared.exponent))
        elif recipe.method == "otsu" and prepared.otsu is not None:
            t = prepared.otsu  # already computed to choose the automatic polarity
        else:
            t = _GLOBAL[recipe.method](channel)
        thresholds = (t,)
        raw = binarize(channel, t, polarity)
        if recipe.method == "triangle" and channel.dtype != np.uint8:
            notes.append("Triangle ran on an 8-bit copy mapped linearly from the image's min..max")

    mask = clean_mask(raw, opening=recipe.opening, closing=recipe.closing, iterations=recipe.iterations,
                      fill_holes=recipe.fill_holes, min_size=recipe.min_size, clear_border=recipe.clear_border)
    if nonfinite:
        # Closing and hole filling work on the mask alone and would cover a NaN "no data" hole inside an
        # object: NaN is never foreground, after clean-up too.
        mask &= ~np.isnan(channel)
    if prepared.exponent:  # back to the image's own units (exact: a power of two)
        thresholds = tuple(math.ldexp(t, prepared.exponent) for t in thresholds)
        with np.errstate(over="ignore"):  # a top-hat of ±3e38 data spans 6e38: float32 holds it as its limit
            channel = np.ldexp(channel, prepared.exponent)
        limit = np.finfo(np.float32).max
        np.clip(channel, -limit, limit, out=channel)
        surface = None if surface is None else np.ldexp(surface, prepared.exponent)
    return ThresholdResult(mask=mask, thresholds=thresholds, polarity=polarity, recipe=recipe,
                           processed=channel, raw_mask=raw, surface=surface, notes=tuple(notes))

