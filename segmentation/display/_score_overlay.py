"""The errors of a segmentation drawn over the image: missed, false, merged and split objects.

Colours are from the Okabe–Ito palette, chosen to stay distinct for the common colour-vision deficiencies.
"""

from __future__ import annotations

import numpy as np
from skimage.segmentation import find_boundaries

from .._checks import check_number
from .._errors import ParameterError
from ._render import _check_image, display_image

__all__ = ["score_overlay", "SCORE_COLORS"]

#: What each error kind is drawn in (RGB), from the Okabe–Ito palette (Okabe & Ito 2008; Wong 2011):
#: matched objects are outlined in bluish green; missed true objects, false predicted objects, merges
#: (predicted objects covering two or more true ones) and splits (true objects covering two or more
#: predicted ones) are tinted and outlined in vermillion, sky blue, yellow and reddish purple.
SCORE_COLORS: dict[str, tuple[int, int, int]] = {
    "matched": (0, 158, 115),     # bluish green
    "missed": (213, 94, 0),       # vermillion
    "false": (86, 180, 233),      # sky blue
    "merge": (240, 228, 66),      # yellow
    "split": (204, 121, 167),     # reddish purple
}

# The layers in drawing order: a later one covers an earlier one where they overlap (a merged prediction is
# usually also unmatched, and the true objects under it missed: the merge is the cause, so it is drawn on top).
_LAYERS = (("missed", "truth", "missed_ids"), ("false", "labels", "false_ids"),
           ("split", "truth", "split_ids"), ("merge", "labels", "merged_ids"))


def _check_labels(labels: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.dtype.kind not in "iu":
        raise ParameterError(f"{name} must be an integer H×W label image (0 = background), got {labels.dtype} "
                             f"of shape {labels.shape}; label a bool mask first (segmentation.label_objects)")
    if labels.shape != shape:
        raise ParameterError(f"{name} is {labels.shape[1]}×{labels.shape[0]} pixels but the image is "
                             f"{shape[1]}×{shape[0]}")
    if labels.size and labels.min() < 0:
        raise ParameterError(f"{name} holds negative values ({labels.min()}); labels are 0 (background) or ids > 0")
    return labels


def _ids_of(scores, name: str) -> np.ndarray:
    try:
        values = getattr(scores, name)
    except AttributeError:
        raise ParameterError(f"scores must be the ObjectScores of segmentation.score_objects (it has no {name})") \
            from None
    return np.asarray(tuple(values), dtype=np.int64)


def score_overlay(image: np.ndarray, truth: np.ndarray, labels: np.ndarray, scores, *, opacity: float = 0.45,
                  outline: bool = True) -> np.ndarray:
    """Draw a segmentation's object errors against the truth over the image.

    Four kinds of error are tinted (and outlined) in distinct colour-blind-safe colours
    (:data:`SCORE_COLORS`): **missed** true objects (no predicted object matches them), **false**
    predicted objects (they match no true object), **merges** (predicted objects that cover two or more
    true objects) and **splits** (true objects that cover two or more predicted objects). Matched
    predicted objects are outlined in green and not tinted. Where kinds overlap, merges are drawn over
    splits, splits over false objects, false objects over missed ones.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray of uint8, uint16 or float
        The image, gray or RGB; shown as :func:`display_image` shows it (``stretch="auto"``).
    truth : (H, W) ndarray of int
        The true objects, the label image given to :func:`score_objects` (0 = background).
    labels : (H, W) ndarray of int
        The predicted objects, the label image given to :func:`score_objects` (for a bool mask, its
        :func:`label_objects`, whose ids the scores use).
    scores : ObjectScores
        ``score_objects(truth, labels)``: its ``missed_ids``, ``false_ids`` (at its ``status_threshold``),
        ``merged_ids``, ``split_ids`` and ``matched`` pairs say what is drawn where.
    opacity : float
        0..1, how strongly errors are tinted (0 = outlines only, 1 = solid colour).
    outline : bool
        Outline every drawn object (the inner boundary, one pixel) in its colour, matched ones included.

    Returns
    -------
    (H, W, 3) ndarray of uint8
        RGB. A tinted pixel is ``round((1 - opacity) · shown + opacity · colour)`` per channel.

    Raises
    ------
    ParameterError
        ``image`` is not a gray or RGB image, ``truth`` or ``labels`` not integer label images of its
        height and width, ``opacity`` not in 0..1, or ``scores`` not an :class:`ObjectScores`.

    References
    ----------
    .. [1] M. Okabe and K. Ito, "Color Universal Design (CUD): how to make figures and presentations that
       are friendly to colorblind people", J*FLY, 2008. https://jfly.uni-koeln.de/color/
    .. [2] B. Wong, "Points of view: Color blindness", *Nature Methods* 8:441, 2011. doi:10.1038/nmeth.1618
    .. [3] J. C. Caicedo et al., "Evaluation of deep learning strategies for nucleus segmentation in
       fluorescence images", *Cytometry A* 95(9):952–965, 2019. doi:10.1002/cyto.a.23863 (merges and
       splits as the errors to look at)

    Examples
    --------
    >>> import segmentation as seg
    >>> truth = np.zeros((8, 12), np.int32); truth[1:7, 1:5] = 1; truth[1:7, 7:11] = 2
    >>> labels = np.zeros_like(truth); labels[1:7, 1:11] = 1          # the two objects merged into one
    >>> scores = seg.score_objects(truth, labels)
    >>> view = score_overlay(np.zeros((8, 12), np.uint8), truth, labels, scores, opacity=1.0, outline=False)
    >>> view[3, 3].tolist(), view[0, 0].tolist()                          # merge yellow, background black
    ([240, 228, 66], [0, 0, 0])
    """
    image = _check_image(image)
    shape = image.shape[:2]
    truth = _check_labels(truth, "truth", shape)
    labels = _check_labels(labels, "labels", shape)
    opacity = check_number("opacity", opacity, low=0, high=1)
    ids = {name: _ids_of(scores, name) for _, _, name in _LAYERS}
    matched = np.asarray([p for _, p in getattr(scores, "matched", ())], dtype=np.int64)

    shown, _ = display_image(image)
    out = shown if shown.ndim == 3 else np.repeat(shown[..., None], 3, axis=2)
    out = out.copy()
    sources = {"truth": truth, "labels": labels}
    edges = {}
    for kind, source, name in _LAYERS:
        if not ids[name].size:
            continue
        where = np.isin(sources[source], ids[name])
        color = np.asarray(SCORE_COLORS[kind], np.float64)
        if opacity > 0:
            blended = (1.0 - opacity) * out[where] + opacity * color
            out[where] = np.rint(blended).astype(np.uint8)
        if outline:
            edges[kind] = where & find_boundaries(sources[source], mode="inner")
    if outline:
        if matched.size:
            on = np.isin(labels, matched)
            out[on & find_boundaries(labels, mode="inner")] = SCORE_COLORS["matched"]
        for kind, edge in edges.items():  # in layer order, so the outlines stack like the tints
            out[edge] = SCORE_COLORS[kind]
    return out
