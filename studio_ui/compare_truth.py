"""The Compare page's ground truth: upload, mask-or-labels detection, the inverted-mask fix, object scores, errors."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

import segmentation as seg
from segmentation import load_image, mask_agreement, score_objects
from segmentation.batch import objects_of, objects_warning

from .views import count_of

#: Above this share of foreground a binary mask probably has object and background swapped.
INVERTED_FRACTION = 0.5
PIXEL_SCORES = ("dice", "iou", "precision", "recall")
OBJECT_COLUMNS = ("F1@0.5", "AP@0.5", "mean AP 0.5–0.95", "precision", "recall", "TP", "FP", "FN", "merges",
                  "splits", "mean matched IoU")
_HIGHER_BETTER = ("F1@0.5", "AP@0.5", "mean AP 0.5–0.95", "precision", "recall", "TP", "mean matched IoU")
_LOWER_BETTER = ("FP", "FN", "merges", "splits")
#: What each column of the object score table means (its header's tooltip).
OBJECT_HELP = {
    "F1@0.5": "2·TP / (2·TP + FP + FN) with objects matched at IoU ≥ 0.5.",
    "AP@0.5": "TP / (TP + FP + FN) at IoU 0.5 (the DSB 2018 'average precision' of one threshold).",
    "mean AP 0.5–0.95": "AP averaged over the IoU thresholds 0.5, 0.55, …, 0.95 (the DSB 2018 score).",
    "precision": "TP / (TP + FP) at IoU 0.5: the share of found objects that are true ones.",
    "recall": "TP / (TP + FN) at IoU 0.5: the share of true objects that were found.",
    "TP": "True positives: true objects matched one-to-one to a found object with IoU ≥ 0.5.",
    "FP": "False positives: found objects matched to no true object at IoU 0.5.",
    "FN": "False negatives: true objects matched to no found object at IoU 0.5 (missed).",
    "merges": "Found objects that each hold more than half of two or more true objects.",
    "splits": "True objects that each hold more than half of two or more found objects.",
    "mean matched IoU": "The mean IoU of the pairs matched at IoU 0.5 (how well the matched objects fit).",
}
SHORT = {"mean matched IoU": "matched IoU", "mean AP 0.5–0.95": "mAP"}
#: The recipe column's width (px) in the object score table; a longer name wraps (:data:`WRAPPING_ROW_HEIGHT`).
RECIPE_COLUMN_WIDTH = 150
#: Rows this tall (px) let a cell's text wrap (Streamlit wraps above 4 rem): up to three lines of a recipe's name.
WRAPPING_ROW_HEIGHT = 66
DEFINITIONS = ("AP = TP / (TP + FP + FN) at each IoU threshold (the DSB 2018 definition, not COCO's area under the "
               "precision-recall curve); mAP is AP averaged over the IoU thresholds 0.5, 0.55, …, 0.95; a merge is a "
               "predicted object covering two or more true ones, a split a true object covered by two or more "
               "predicted ones.")
ERROR_WORDS = {"matched": "matched", "missed": "missed (false negative)", "false": "false (false positive)",
               "merge": "merge (covers 2+ true objects)", "split": "split (covered by 2+ objects)"}


@dataclass(frozen=True, eq=False)
class Truth:
    """The uploaded truth at full resolution: ``kind`` "labels" or "mask", the objects and the mask."""

    digest: str
    kind: str               # "labels" (instance labels) or "mask" (binary)
    labels: np.ndarray      # int labels (a mask's 8-connected components)
    mask: np.ndarray        # bool foreground
    inverted: bool
    warning: str = ""       # why it may not be objects at all (objects_warning), or ""

    @property
    def count(self) -> int:
        return int(len(np.unique(self.labels[self.labels > 0])))


@st.cache_resource(max_entries=4, ttl=1800, show_spinner=False)
def _decode(digest: str, _data: bytes) -> tuple[str, np.ndarray, str]:
    """(kind, objects, warning) of an uploaded truth file: the library reads it, tells a mask from a label image
    and says when it does not look like objects (an intensity image, nothing at all)."""
    labels, kind = objects_of(load_image(_data, projection="none"))  # a projection would merge labels
    labels.setflags(write=False)
    return kind, labels, objects_warning(labels, kind)


#: The truth file (name, bytes) kept for the session: an uploader's file does not survive a page switch, so
#: leaving Compare for a column's own page and coming back would otherwise lose it. ``studio_`` keys are kept.
KEPT_KEY = "studio_compare_truth"


def _invert(on: bool) -> None:
    st.session_state["truth_invert"] = on


def _invert_box(where) -> bool:
    return where.checkbox("Foreground is zero in the truth (e.g. ink = black)", key="truth_invert",
                          bind="query-params", help="Swaps a binary mask's object and background.")


def _uploaded() -> None:
    """The uploader changed: keep the new file, or forget the kept one when the visitor removed it."""
    uploaded = st.session_state.get("truth")
    if uploaded is None:
        st.session_state.pop(KEPT_KEY, None)
    else:
        st.session_state[KEPT_KEY] = (uploaded.name, uploaded.getvalue())


def _forget() -> None:
    st.session_state.pop(KEPT_KEY, None)


def truth_upload(shape: tuple[int, int]) -> Truth | None:
    """An optional ground truth of the image's size: a binary mask or an instance label image (said which)."""
    with st.sidebar.expander("Ground truth (optional)",
                             expanded=st.session_state.get("truth") is not None or KEPT_KEY in st.session_state):
        uploaded = st.file_uploader(
            "Ground-truth mask or label image", key="truth", on_change=_uploaded,
            help="The image's size. A binary mask (one non-zero value = object) or an instance label image "
                 "(0 = background, one id per object; 16-bit PNG or TIFF), told apart automatically.")
        option = st.container()  # the inversion box: for a mask only (a label image has nothing to swap)
        message = st.container()
    kept = uploaded is None and st.session_state.get(KEPT_KEY)
    if uploaded is not None:
        name, data = uploaded.name, uploaded.getvalue()
    elif kept:
        name, data = kept
        message.caption(f"Using **{name}**, uploaded earlier in this session.")
        message.button("Forget this truth", key="truth_forget", on_click=_forget, width="stretch")
    else:
        _invert_box(option)
        return None
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    try:
        kind, labels, warning = _decode(digest, data)
    except ValueError as error:  # ImageLoadError, or a colour / fractional image
        message.error(f"{name}: {error}")
        return None
    except Exception as error:  # noqa: BLE001 - a visitor's file must never crash the page
        message.error(f"{name}: could not be read ({type(error).__name__})")
        return None
    if labels.shape != tuple(shape) and kept:  # kept from another image: not an error of this upload
        message.caption(f"{name} is {labels.shape[1]}×{labels.shape[0]}, not this image's size; it is not used.")
        return None
    if labels.shape != tuple(shape):
        message.error(f"The ground truth is {labels.shape[1]}×{labels.shape[0]} but the image is "
                      f"{shape[1]}×{shape[0]}; it is ignored.")
        return None
    mask = labels > 0
    if warning:
        message.warning(f"{name}: {warning}.", icon=":material/warning:")
    if kind == "labels":
        truth = Truth(digest, "labels", labels, mask, False, warning)
        words = f"{name}: instance labels, {count_of(truth.count, 'object')}"
        if warning:  # read, but maybe not objects: no check mark under the warning (#10 review)
            message.caption(words)
        else:
            message.success(words, icon=":material/check:")
        return truth
    invert = _invert_box(option)
    if invert:
        mask = ~mask
        labels = seg.label_objects(mask)
    truth = Truth(digest, "mask", labels, mask, invert, warning)
    fraction = float(mask.mean()) if mask.size else 0.0
    words = f"{name}: binary mask, {fraction:.1%} foreground" + (" (inverted)" if invert else "")
    if warning:  # read, but maybe not objects: no check mark under the warning
        message.caption(words)
    else:
        message.info(words, icon=":material/check:")
    if fraction > INVERTED_FRACTION:
        message.warning(f"The mask's foreground covers {fraction:.0%} of the image: objects and background look "
                        "swapped.", icon=":material/warning:")
        if not invert:
            message.button("Invert the mask", key="truth_fix", on_click=_invert, args=(True,), width="stretch",
                           help="Treat the zero pixels as the objects (ticks the box above).")
        else:  # the box stays ticked for the next file: this one may have been drawn the right way round
            message.button("Undo the inversion", key="truth_unfix", on_click=_invert, args=(False,),
                           width="stretch", help="Take the non-zero pixels as the objects again (unticks the box "
                                                 "above).")
    return truth


def at_shape(truth: Truth, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, mask) of the truth at the working image's shape (nearest pixel when it is the preview)."""
    if truth.labels.shape == tuple(shape):
        return truth.labels, truth.mask
    side = max(shape)
    labels, _ = seg.downscale(truth.labels, side, kind="labels")
    mask, _ = seg.downscale(truth.mask, side, kind="mask")
    if labels.shape != tuple(shape):  # never expected: the preview is made with the same rule
        raise ValueError(f"the truth could not be brought to the preview's size {shape[1]}×{shape[0]}")
    return labels, mask


def pixel_scores(rows: list[dict], masks: dict, truth_mask: np.ndarray) -> None:
    """Add Dice, IoU, precision and recall of each column's foreground against the truth's to its row."""
    for row in rows:
        if row["key"] in masks:
            row.update(mask_agreement(masks[row["key"]], truth_mask))


@st.cache_resource(max_entries=64, ttl=1800, show_spinner=False)
def _score(image_key: str, scale: float, recipe_json: str, truth_digest: str, _truth: np.ndarray,
           _objects: np.ndarray):
    # Keyed by content (image, scale, recipe, truth file): a rerun that changes nothing else scores nothing again.
    return score_objects(_truth, _objects)


def object_scores(image_key: str, scale: float, truth_digest: str, objects: dict, recipes: dict,
                  truth_labels: np.ndarray) -> dict:
    """Each column's :class:`ObjectScores` against the true objects (a mask column's 8-connected objects)."""
    return {key: _score(image_key, scale, recipes[key], truth_digest, truth_labels, objects[key])
            for key in objects if key in recipes}


def object_table(scores: dict, labels: dict, estimate: bool) -> None:
    """One row per recipe: F1 and AP at IoU 0.5, mean AP over 0.5–0.95, counts, merges, splits; best highlighted."""
    rows = []
    for key, s in scores.items():
        rows.append({"recipe": labels[key], "F1@0.5": s.f1[0], "AP@0.5": s.ap[0], "mean AP 0.5–0.95": s.mean_ap,
                     "precision": s.precision[0], "recall": s.recall[0], "TP": s.tp[0], "FP": s.fp[0],
                     "FN": s.fn[0], "merges": s.merges, "splits": s.splits,
                     "mean matched IoU": s.mean_matched_iou[0]})
    frame = pd.DataFrame(rows).set_index("recipe")
    floats = ("F1@0.5", "AP@0.5", "mean AP 0.5–0.95", "precision", "recall", "mean matched IoU")
    mark = "≈ " if estimate else ""  # a preview estimate: every number marked until the full-resolution ones are in
    formats = {c: mark + "{:.3f}" for c in floats}
    formats.update({c: mark + "{:,.0f}" for c in ("TP", "FP", "FN", "merges", "splits")})  # 13,331, as elsewhere
    styler = frame.style.format(formats, na_rep="—")
    if len(frame) > 1:
        styler = styler.highlight_max(subset=list(_HIGHER_BETTER), color="#c6efce")
        styler = styler.highlight_min(subset=list(_LOWER_BETTER), color="#c6efce")
    best = frame["F1@0.5"].idxmax()
    # The eleven numbers and the recipe fit a 1280-px window with no horizontal scrolling (#10 review: the last
    # column was scrolled out of sight): shorter headers for the widest two (the help says it all), and the
    # recipe's name in a column of its own width, wrapped (a name the visitor typed can be any length).
    config = {name: st.column_config.NumberColumn(SHORT.get(name, name), help=text)
              for name, text in OBJECT_HELP.items()}
    config["_index"] = st.column_config.Column(width=RECIPE_COLUMN_WIDTH,
                                               help="The compared column: a thresholding method or a whole recipe.")
    st.dataframe(styler, width="stretch", key="object_scores", column_config=config, row_height=WRAPPING_ROW_HEIGHT)
    st.caption(DEFINITIONS)
    # Whether these are preview estimates or the full-resolution scores is said once, by the line under this
    # section (the page's ``follow``): said here too, it was said twice (#10 review).
    st.caption(f"Objects matched one-to-one by IoU (optimal assignment, as in the DSB 2018 and StarDist "
               f"evaluations). Best F1 at IoU 0.5: **{best}**. A threshold column's objects are its 8-connected "
               "components. The best value of each column is highlighted.")


def legend(scores, colors: dict = seg.SCORE_COLORS, estimate: bool = False) -> str:
    """HTML legend: a colour swatch and the count of each error kind (marked "≈" on the preview)."""
    counts = {"matched": len(scores.matched), "missed": len(scores.missed_ids), "false": len(scores.false_ids),
              "merge": scores.merges, "split": scores.splits}
    items = []
    for kind, (r, g, b) in colors.items():
        swatch = (f"<span style='display:inline-block;width:0.9em;height:0.9em;background:rgb({r},{g},{b});"
                  "border:1px solid #666;vertical-align:middle;margin-right:0.3em'></span>")
        items.append(f"<span style='margin-right:1.2em;white-space:nowrap' data-error='{kind}'>{swatch}"
                     f"{ERROR_WORDS[kind]}: <b>{'≈ ' if estimate else ''}{counts[kind]}</b></span>")
    return "<div>" + "".join(items) + "</div>"
