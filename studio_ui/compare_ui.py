"""The compare page's pieces: method choice, per-method parameters, running them all, scoring."""

from __future__ import annotations

import hashlib

import altair as alt
import cv2
import numpy as np
import pandas as pd
import streamlit as st

import segmentation as seg
from segmentation import as_image, extract_channel, load_image, mask_agreement, pairwise_iou

from . import compute
from .page import sample_defaults
from .views import format_thresholds, result_notes
from .widgets import manual_value_range, recipe_widgets

DEFAULT_METHODS = ["otsu", "li", "triangle", "sauvola"]
SCORES = ("dice", "iou", "precision", "recall")


def _set_methods(names) -> None:
    st.session_state["methods"] = list(names)


def method_picker() -> list[str]:
    sidebar = st.sidebar
    sidebar.subheader("Methods")
    methods = sidebar.multiselect("Methods to compare", list(seg.METHODS), default=DEFAULT_METHODS, key="methods",
                                  bind="query-params",
                                  help="Each method gets its own parameters below; pre-processing and clean-up "
                                       "are shared so the comparison is fair.")
    b1, b2 = sidebar.columns(2)
    b1.button("All global", on_click=_set_methods, args=(seg.GLOBAL_METHODS,), width="stretch",
              help="Every global threshold (Fiji's Auto Threshold → Try all).")
    b2.button("All methods", on_click=_set_methods, args=(tuple(seg.METHODS),), width="stretch")
    return methods


def shared_widgets(current) -> dict:
    """Pre-processing and clean-up, shared by every method on the page."""
    defaults = sample_defaults(seg.ThresholdRecipe(), current.sample).values()
    sections = {"Pre-processing": st.sidebar.expander("Pre-processing (all methods)"),
                "Clean-up": st.sidebar.expander("Clean-up (all methods)")}
    values = recipe_widgets(seg.ThresholdRecipe.specs(), defaults, {**sections, "Method": sections["Pre-processing"]},
                            skip=lambda spec, _: spec.group == "Method")
    return {name: value for name, value in values.items() if name != "method"}


def method_recipes(methods: list[str], shared: dict, current) -> dict[str, seg.ThresholdRecipe]:
    """One recipe per chosen method; each method's own parameters live in a sidebar expander."""
    defaults = seg.ThresholdRecipe().values()
    defaults["value"] = compute.default_manual_value(current.key, current.image)
    recipes = {}
    for method in methods:
        own = [spec for spec in seg.ThresholdRecipe.specs()
               if spec.group == "Method" and spec.name != "method" and spec.applies({"method": method})]
        values = {}
        if own:
            with st.sidebar.expander(f"{seg.METHODS[method].label} parameters"):
                values = recipe_widgets(tuple(own), {**defaults, "method": method}, {"Method": st.container()},
                                        key_prefix=f"{method}.", overrides={"value": manual_value_range(current.image)})
        params = {**shared, **{spec.name: values[spec.name] for spec in own}}
        try:
            recipes[method] = seg.ThresholdRecipe(method=method, **params)
        except ValueError as error:
            st.sidebar.error(f"{seg.METHODS[method].label}: {error}")
    return recipes


@st.cache_resource(max_entries=4, ttl=1800, show_spinner=False)
def _decode_truth(digest: str, _data: bytes) -> np.ndarray:
    image = as_image(load_image(_data))
    mask = extract_channel(image, "luminance") > 0
    mask.setflags(write=False)
    return mask


def truth_upload(shape: tuple[int, int]) -> np.ndarray | None:
    """An optional ground-truth mask (non-zero = foreground) of the same size as the image."""
    with st.sidebar.expander("Ground truth (optional)"):
        uploaded = st.file_uploader("Ground-truth mask", key="truth",
                                    help="A mask image the same size as the image; non-zero pixels are foreground.")
        invert = st.checkbox("Foreground is zero in the truth (e.g. ink = black)", key="truth_invert",
                             bind="query-params")
    if uploaded is None:
        return None
    data = uploaded.getvalue()
    try:
        mask = _decode_truth(hashlib.blake2b(data, digest_size=16).hexdigest(), data)
    except ValueError as error:  # ImageLoadError, or ParameterError for pixels no method can use
        st.sidebar.error(f"{uploaded.name}: {error}")
        return None
    except Exception as error:  # noqa: BLE001 - a visitor's file must never crash the page
        st.sidebar.error(f"{uploaded.name}: could not be read ({type(error).__name__})")
        return None
    if mask.shape != tuple(shape):
        st.sidebar.error(f"The ground truth is {mask.shape[1]}×{mask.shape[0]} but the image is "
                         f"{shape[1]}×{shape[0]}; it is ignored.")
        return None
    return ~mask if invert else mask


def run_all(image_key: str, image: np.ndarray, scale: float, recipes: dict) -> tuple[list[dict], dict]:
    """Run every recipe (cached), with a progress bar when it may take a while."""
    rows, masks = [], {}
    progress = st.progress(0.0, text="Running the methods…") if (len(recipes) > 3 or scale == 1.0) else None
    for index, (method, recipe) in enumerate(recipes.items()):
        row = {"method": seg.METHODS[method].label}
        try:
            timed = compute.run_threshold(image_key, scale, recipe.rescaled(scale).to_json(), image)
        except ValueError as error:
            row.update({"threshold": "—", "note": str(error)})
        except Exception as error:  # noqa: BLE001 - one method's fault must not hide the others' results
            row.update({"threshold": "—", "note": f"could not be computed ({type(error).__name__})"})
        else:
            result = timed.result
            masks[method] = result.mask
            row.update({
                "threshold": format_thresholds(result.thresholds, result.processed.dtype),
                "foreground %": 100 * result.foreground_fraction,
                "objects": compute.count_objects(image_key, scale, recipe.to_json(), result.mask),
                "time (ms)": 1000 * timed.seconds,
                "note": "; ".join(result_notes(result.notes, result.processed)),
            })
        row["key"] = method
        rows.append(row)
        if progress is not None:
            progress.progress((index + 1) / len(recipes), text=f"{row['method']} done")
    if progress is not None:
        progress.empty()
    return rows, masks


def add_truth_scores(rows: list[dict], masks: dict, truth: np.ndarray, shape: tuple[int, int]) -> None:
    if truth.shape != tuple(shape):
        truth = cv2.resize(truth.view(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST_EXACT).view(bool)
    for row in rows:
        if row["key"] in masks:
            row.update(mask_agreement(masks[row["key"]], truth))


def results_table(rows: list[dict], with_truth: bool) -> None:
    frame = pd.DataFrame(rows).drop(columns=["key"]).set_index("method")
    formats = {"foreground %": "{:.1f}", "time (ms)": "{:.0f}", **{s: "{:.3f}" for s in SCORES}}
    styler = frame.style.format({k: v for k, v in formats.items() if k in frame.columns}, na_rep="—")
    if with_truth:
        styler = styler.highlight_max(subset=[s for s in SCORES if s in frame.columns], color="#c6efce")
        st.caption("Scores against the ground truth; the best method per score is highlighted.")
    st.dataframe(styler, width="stretch")


def result_grid(image_key: str, image: np.ndarray, scale: float, recipes: dict, masks: dict, rows: list[dict],
                style: tuple, per_row: int = 3) -> None:
    """Each method's boundary overlay, three to a row."""
    by_key = {row["key"]: row for row in rows}
    methods = [m for m in recipes if m in masks]
    for start in range(0, len(methods), per_row):
        for column, method in zip(st.columns(per_row, gap="small"), methods[start:start + per_row]):
            _, overlay = compute.result_views(image_key, scale, recipes[method].to_json(), style, image, masks[method])
            row = by_key[method]
            column.image(overlay, width="stretch", output_format="JPEG",
                         caption=f"{row['method']} — t = {row['threshold']}, {row['foreground %']:.1f}% foreground")


def iou_heatmap(masks: dict) -> alt.Chart:
    names, matrix = pairwise_iou(dict(masks))
    labels = [seg.METHODS[n].label.split(" (")[0] for n in names]
    frame = pd.DataFrame([{"a": labels[i], "b": labels[j], "IoU": matrix[i, j]}
                          for i in range(len(names)) for j in range(len(names))])
    base = alt.Chart(frame).encode(x=alt.X("a:N", title=None, sort=labels), y=alt.Y("b:N", title=None, sort=labels))
    cells = base.mark_rect().encode(color=alt.Color("IoU:Q", scale=alt.Scale(domain=[0, 1], scheme="blues")))
    text = base.mark_text(fontSize=12).encode(
        text=alt.Text("IoU:Q", format=".2f"),
        color=alt.condition(alt.datum.IoU > 0.6, alt.value("white"), alt.value("black")))
    size = 60 * len(labels) + 60
    return (cells + text).properties(width=size, height=size)
