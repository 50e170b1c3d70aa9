"""The compare page's pieces: which columns, running them all, the legible grid, agreement, and truth scores.

Columns are thresholding methods (sharing the page's pre-processing and clean-up, each with its own
parameters) and whole recipes of either kind (see :mod:`studio_ui.compare_columns` for their URL form).
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from typing import Callable

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

import segmentation as seg
from segmentation import encode_png_bytes, label_objects, pairwise_iou, score_objects

from . import compute
from .compare_columns import (
    PRESETS,
    Column,
    is_link,
    label_of,
    open_in,
    parse_recipe,
    recipe_text,
)
from .compare_truth import legend, object_scores, object_table, pixel_scores
from .compare_tune import tune_section
from .full_resolution import PREVIEW_MARK
from .page import sample_defaults
from .views import count_of, format_ms, format_thresholds, result_notes
from .widgets import (
    CHOICE_LABELS,
    _choice_from_url,
    _choice_to_url,
    manual_value_range,
    recipe_widgets,
    say_dropped,
)

DEFAULT_METHODS = ["otsu", "li", "triangle", "sauvola"]
SCORES = ("dice", "iou", "precision", "recall")
#: Column headers of the results table where they differ from the row keys.
SHOWN = {"iou": "IoU", "dice": "Dice"}
PER_ROW_CHOICES = ("auto", 1, 2, 3, 4, 5, 6)
#: "All global": the automatic ones (a manual value, at its default Otsu's, would only repeat Otsu's column).
AUTOMATIC_GLOBAL = tuple(m for m in seg.GLOBAL_METHODS if m != "manual")
MAX_RECIPES = 12  # whole-recipe columns (a link could name hundreds; each watershed takes ~0.3 s on 768×768)
#: The tallest a view is shown (px): about 70 % of a 1000-px-high window, so a tall image fits on screen whole.
VIEW_HEIGHT = 700


def view_width(shape: tuple[int, int], height: int = VIEW_HEIGHT) -> int:
    """The display width (px) that keeps a view of ``shape`` (rows, columns) at most ``height`` px high.

    Streamlit shrinks an image wider than its column to the column's width, so a wide image still fills it.
    """
    rows, cols = shape[:2]
    return max(16, int(height * cols / max(rows, 1)))


def capped_image(where, data: bytes, shape: tuple[int, int], caption: str, output_format: str) -> None:
    """``data`` (an image of ``shape``) at most :data:`VIEW_HEIGHT` px high, full width when that allows it.

    The width goes to a container, not to ``st.image``: an image given a width in pixels is resampled by
    Streamlit to that width (bilinear, 1×), which smears one-pixel outlines and blurs on high-density screens.
    The caption goes under it at the cell's width (inside a narrow container it would wrap word by word).
    """
    where.container(width=view_width(shape)).image(data, width="stretch", output_format=output_format)
    if caption:
        where.caption(caption)


def _set_methods(names) -> None:
    st.session_state["methods"] = list(names)


def method_picker() -> list[str]:
    sidebar = st.sidebar
    sidebar.subheader("Thresholding methods")
    options = list(seg.METHODS)
    # Names on screen ("Multi-Otsu"), the library's keys in the URL (``methods=multiotsu``), as the choice boxes.
    dropped = _choice_from_url("methods", options, list(DEFAULT_METHODS), many=True)
    # A chip shows the method's name without its gloss ("Li", not "Li (minimum cross-…", cut at 1280 px); the
    # results table and the columns give the whole label.
    methods = sidebar.multiselect("Methods to compare", options, default=DEFAULT_METHODS, key="methods",
                                  format_func=lambda name: CHOICE_LABELS["method"][name].split(" (")[0],
                                  help="Each method gets its own parameters below; pre-processing and clean-up "
                                       "are shared so the comparison is fair.")
    say_dropped(sidebar, "methods", dropped)
    row = sidebar.container(horizontal=True, gap="small")  # wraps instead of truncating the labels
    row.button("All global", on_click=_set_methods, args=(AUTOMATIC_GLOBAL,),
               help="Every automatic global threshold (Fiji's Auto Threshold → Try all); the manual value is not "
                    "one (add *Manual value* to the box above).")
    row.button("All local", on_click=_set_methods, args=(seg.LOCAL_METHODS,),
               help="Every local (adaptive) threshold.")
    row.button("All methods", on_click=_set_methods, args=(tuple(seg.METHODS),))
    _choice_to_url("methods", methods, list(DEFAULT_METHODS), many=True)
    return methods


def _add_typed_recipe() -> None:
    text = (st.session_state.get("recipe_add") or "").strip()
    if not text:
        return
    try:
        recipe = parse_recipe(text)
    except ValueError as error:
        st.session_state["compare_add_error"] = str(error)
        return
    st.session_state.pop("compare_add_error", None)
    if is_link(text):  # a pasted page link is labelled by its recipe, not by its address
        text = recipe_text(recipe)
    chosen = list(st.session_state.get("recipes") or [])
    if text not in chosen:
        st.session_state["recipes"] = chosen + [text]
    st.session_state["recipe_add"] = ""


def recipe_picker() -> list[Column]:
    """Whole recipes of either kind as extra columns (watershed recipes, Otsu + connected components, ...)."""
    sidebar = st.sidebar
    sidebar.subheader("Recipes")
    chosen = st.session_state.get("recipes") or []
    options = list(PRESETS) + [t for t in chosen if t not in PRESETS]
    texts = sidebar.multiselect(
        "Watershed and other recipes", options, default=[], key="recipes", bind="query-params",
        accept_new_options=True,
        help="Each item is a whole recipe: its kind, then name=value for what differs from the library's defaults "
             "(the names of the URL and the command line). Type one in, or paste a page's share link.")
    sidebar.text_input("Add a recipe (text or a page's link)", key="recipe_add", on_change=_add_typed_recipe,
                       placeholder="watershed seeds=distance_peaks min_distance=12",
                       help="For example `watershed h=2`, `threshold method=li smoothing=gaussian sigma=2`, or the "
                            "address of the Watershed page with its settings.")
    if st.session_state.get("compare_add_error"):
        sidebar.error(st.session_state["compare_add_error"])
    columns, seen = [], set()
    texts = [t for t in texts if t.strip()]
    if len(texts) > MAX_RECIPES:
        sidebar.warning(f"{len(texts)} recipes were asked for; the first {MAX_RECIPES} are compared.")
        texts = texts[:MAX_RECIPES]
    for text in texts:
        try:
            recipe = parse_recipe(text)
        except ValueError as error:
            sidebar.error(f"{error}; this column is left out.")
            continue
        if recipe.to_json() in seen:
            continue
        seen.add(recipe.to_json())
        columns.append(Column(text, label_of(text), recipe))
    return columns


def shared_widgets(current) -> dict:
    """Pre-processing and clean-up, shared by every method on the page."""
    defaults = sample_defaults(seg.ThresholdRecipe(), current.sample).values()
    sections = {"Pre-processing": st.sidebar.expander("Pre-processing (all methods)"),
                "Clean-up": st.sidebar.expander("Clean-up (all methods)")}
    values = recipe_widgets(seg.ThresholdRecipe.specs(), defaults, {**sections, "Method": sections["Pre-processing"]},
                            skip=lambda spec, _: spec.group == "Method")
    return {name: value for name, value in values.items() if name != "method"}


def method_columns(methods: list[str], shared: dict, current) -> list[Column]:
    """One column per chosen method; each method's own parameters live in a sidebar expander."""
    defaults = seg.ThresholdRecipe().values()
    defaults["value"] = compute.default_manual_value(current.key, current.image)
    columns = []
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
            columns.append(Column(method, seg.METHODS[method].label, seg.ThresholdRecipe(method=method, **params)))
        except ValueError as error:
            st.sidebar.error(f"{seg.METHODS[method].label}: {error}")
    return columns


def run_column(image_key: str, image: np.ndarray, scale: float, column: Column,
               full_image: np.ndarray | None = None) -> tuple[dict, tuple | None]:
    """One column's table row and ``(foreground mask, objects)`` (None when its recipe failed: the row says why).

    A threshold's objects are its mask (8-connected components), a watershed's its labels. No Streamlit
    element is drawn: the full-resolution job (:func:`full_numbers`) runs this off the script thread.
    """
    recipe = column.recipe
    row = {"method": column.label, "key": column.key}
    try:
        if scale >= 1.0:  # the full-resolution answer (the mask or labels and the numbers; no stages)
            timed = compute.full_answer(recipe.kind, image_key, recipe.to_json(), image)
            answer = timed.result
            mask, count = answer.mask, answer.count
            objects = mask if recipe.kind == "threshold" else answer.labels
            thresholds, dtype, method = answer.thresholds, answer.dtype, answer.recipe.method
            notes, nonfinite, channel = answer.notes, answer.nonfinite, answer.recipe.channel
        else:
            if recipe.kind == "threshold":
                timed = compute.run_threshold(image_key, scale, recipe.rescaled(scale).to_json(), image)
                fg, mask = timed.result, timed.result.mask
                objects, count = mask, compute.count_objects(image_key, scale, recipe.to_json(), mask)
                notes = fg.notes
            else:
                live = compute.live_recipe(image_key, recipe, full_image if full_image is not None else image)
                timed = compute.run_watershed(image_key, scale, live.rescaled(scale).to_json(), image)
                fg, objects, count = timed.result.threshold, timed.result.labels, timed.result.count
                mask, notes = objects > 0, timed.result.notes
            thresholds, dtype, method = fg.thresholds, fg.processed.dtype, fg.recipe.method
            nonfinite, channel = compute.nonfinite_pixels(fg.processed), fg.recipe.channel
    except ValueError as error:
        row.update({"threshold": "—", "note": str(error)})
        return row, None
    except Exception as error:  # noqa: BLE001 - one recipe's fault must not hide the others' results
        row.update({"threshold": "—", "note": f"could not be computed ({type(error).__name__})"})
        return row, None
    if scale < 1.0 and full_image is not None:  # the non-finite count of the whole image, not of the preview
        notes = compute.full_resolution_notes(tuple(notes), image_key=image_key, image=full_image,
                                              channel=channel, factor=scale)
    row.update({
        "threshold": format_thresholds(thresholds, dtype, method),
        "foreground %": 100 * float(mask.mean()) if mask.size else 0.0,
        "objects": int(count),
        "time (ms)": 1000 * timed.seconds,
        "note": "; ".join(result_notes(notes, nonfinite)),
    })
    return row, (mask, objects)


def run_all(image_key: str, image: np.ndarray, scale: float, columns: list[Column],
            full_image: np.ndarray | None = None) -> tuple[list[dict], dict]:
    """Run every column's recipe (cached), with a progress bar when it may take a while.

    Returns the table rows and, per column key, ``(foreground mask, objects)``: a threshold's objects are its
    mask (8-connected components), a watershed's its labels.
    """
    rows, results = [], {}
    progress = st.progress(0.0, text="Running the recipes…") if (len(columns) > 3 or scale == 1.0) else None
    for index, column in enumerate(columns):
        row, result = run_column(image_key, image, scale, column, full_image)
        if result is not None:
            results[column.key] = result
        rows.append(row)
        if progress is not None:
            progress.progress((index + 1) / len(columns), text=f"{row['method']} done")
    if progress is not None:
        progress.empty()
    return rows, results


# --- the full-resolution numbers (issue 10: the preview's are estimates, replaced when these are in) -------------
PIXELS, OBJECTS = "Pixels (IoU)", "Objects (F1 at IoU 0.5)"


@dataclass(frozen=True, eq=False)
class FullNumbers:
    """Every number of the page at full resolution: the table rows (with the pixel scores), the agreement
    matrices computed (kind -> (column keys, matrix)) and the object scores (column key -> ObjectScores)."""

    rows: list[dict]
    agreement: dict
    scores: dict


def numbers_key(columns: list[Column], truth, agreement: str) -> str:
    """What the full-resolution numbers depend on besides the image: the columns' recipes, the truth (file and
    inversion) and the agreement kind shown."""
    return json.dumps({"columns": [[c.key, c.label, c.recipe.to_json()] for c in columns],
                       "truth": None if truth is None else [truth.digest, truth.kind, truth.inverted],
                       "agreement": agreement})


def full_numbers(image_key: str, image: np.ndarray, columns: list[Column], truth, agreement: str) -> FullNumbers:
    """The page's numbers on the whole image, as the library gives them (run in the background pool)."""
    rows, masks, objects = [], {}, {}
    for column in columns:
        row, result = run_column(image_key, image, 1.0, column)
        rows.append(row)
        if result is not None:
            masks[column.key], objects[column.key] = result
    if truth is not None:
        pixel_scores(rows, masks, truth.mask)
    matrices = {}
    if len(masks) > 1:
        matrices[PIXELS] = pairwise_iou(dict(masks))
        if agreement == OBJECTS:
            recipes = {c.key: c.recipe.to_json() for c in columns}
            matrices[OBJECTS] = object_agreement(
                objects, lambda a, b: _pair_f1(image_key, 1.0, recipes[a], recipes[b], objects[a], objects[b]))
    scores = {}
    if truth is not None and truth.kind == "labels":
        scores = object_scores(image_key, 1.0, truth.digest, {k: labelled(o) for k, o in objects.items()},
                               {c.key: c.recipe.to_json() for c in columns}, truth.labels)
    return FullNumbers(rows, matrices, scores)


def results_table(rows: list[dict], with_truth: bool, estimate: bool = False) -> None:
    """The results table; with ``estimate`` every number of the result (not the time) is marked "≈"."""
    frame = pd.DataFrame(rows).drop(columns=["key"]).set_index("method")
    # A note is a sentence: said under the table, whole (a column cut it at 1280 px, "Triangle ran on an 8…").
    notes = {}
    if "note" in frame:
        notes = {method: str(note) for method, note in frame["note"].items() if str(note).strip()}
        frame = frame.drop(columns=["note"])
    mark = PREVIEW_MARK if estimate else ""
    if estimate and "threshold" in frame:
        frame["threshold"] = [t if t == "—" or not any(ch.isdigit() for ch in str(t)) else mark + str(t)
                              for t in frame["threshold"]]
    formats = {"foreground %": mark + "{:.1f}", "time (ms)": "{:.0f}", "objects": mark + "{:,.0f}",
               **{s: mark + "{:.3f}" for s in SCORES}}
    styler = frame.style.format({k: v for k, v in formats.items() if k in frame.columns}, na_rep="—")
    if with_truth:
        styler = styler.highlight_max(subset=[s for s in SCORES if s in frame.columns], color="#c6efce")
        st.caption("Pixel scores of each foreground against the ground truth's; the best per score is highlighted.")
    config = {name: st.column_config.Column(SHOWN[name]) for name in frame.columns if name in SHOWN}
    st.dataframe(styler, width="stretch", column_config=config)
    for method, note in notes.items():  # named first, unless the note starts with it ("Triangle ran on ...")
        st.caption(note if note.startswith(method.split(" (")[0]) else f"**{method}**: {note}")


def per_row(shape: tuple[int, int], choice) -> int:
    """Views per grid row: ``choice``, or from the image's aspect ratio so each view stays readable.

    A square image gets three views a row; a wide document (3:1) one; a tall image (1:2) four; a very tall one
    (1:3 and taller) six, each view then being narrow since its height is capped (:data:`VIEW_HEIGHT`).
    """
    if choice != "auto":
        return int(choice)
    height, width = shape
    aspect = width / max(height, 1)
    most = 6 if aspect < 0.4 else 4
    return max(1, min(most, math.floor(3.2 / max(aspect, 0.1))))


def grid_settings(shape: tuple[int, int]) -> int:
    # The options' labels are what the address holds (a bound selectbox writes the label): they must not depend
    # on the image ("auto (3 for this image)" went into the address after a page switch, and a link with it
    # meant nothing on another image). The automatic count is said in the caption below instead.
    choice = st.sidebar.selectbox("Views per row", PER_ROW_CHOICES, key="per_row", bind="query-params",
                                  help="Auto follows the image's shape: fewer, larger views for a wide document.")
    if choice == "auto":
        st.sidebar.caption(f"Auto: {per_row(shape, 'auto')} a row for this image.")
    return per_row(shape, choice)


def _enlarge(title: str, overlay: bytes, middle: bytes, caption: str, shape: tuple[int, int]) -> None:
    @st.dialog(title, width="large")
    def show() -> None:
        capped_image(st, overlay, shape, "Boundaries on the image", "JPEG")
        capped_image(st, middle, shape, caption, "PNG")
    show()


def _column_caption(column: Column, row: dict, mark: str) -> str:
    """"Label — 1,048 objects, 35 ms, t = 118": a column's numbers, ``mark`` ("≈ ") before a preview's."""
    what = f"t {'≈' if mark else '='} {row['threshold']}" if column.kind == "threshold" else "watershed"
    return f"{column.label} — {mark}{count_of(row['objects'], 'object')}, {format_ms(row['time (ms)'] / 1000)}, {what}"


def result_grid(image_key: str, image: np.ndarray, scale: float, columns: list[Column], results: dict,
                rows: list[dict], style: tuple, sample: str | None, n: int,
                original: tuple[bytes, str] | None = None,
                follow: Callable[[Callable[[], None], Callable[[object], None]], None] | None = None) -> None:
    """Each column's boundary overlay with its count and time, an Enlarge button and an Open-in-page link
    (``sample`` None: the page shows an upload, see :func:`studio_ui.compare_columns.open_in`).

    ``original`` (JPEG bytes, caption): a multi-channel file's colour composite, shown first as the other pages
    show it, so the columns' channel is seen among the others.

    ``follow(preview, full)`` (the page's, on a preview smaller than the image): draws ``preview()`` until the
    full-resolution numbers are in, then ``full(numbers)``; each column's caption then gives the full-resolution
    count and threshold, unmarked, as the results table does (#10 review: the captions kept "≈ 632 objects").
    """
    by_key = {row["key"]: row for row in rows}
    shown = ([None] if original else []) + [c for c in columns if c.key in results]
    for start in range(0, len(shown), n):
        for cell, column in zip(st.columns(n, gap="small"), shown[start:start + n]):
            if column is None:
                capped_image(cell, original[0], image.shape, original[1], "JPEG")
                continue
            mask, objects = results[column.key]
            segmentation = objects if column.kind == "watershed" else mask
            middle, overlay = compute.result_views(image_key, scale, column.recipe.to_json(), style, image,
                                                   segmentation)
            row = by_key[column.key]
            mark = PREVIEW_MARK if scale < 1.0 else ""
            if follow is None or not mark:
                capped_image(cell, overlay, image.shape, _column_caption(column, row, mark), "JPEG")
            else:
                capped_image(cell, overlay, image.shape, "", "JPEG")

                def full(numbers, column=column, row=row) -> None:
                    final = {r["key"]: r for r in numbers.rows}.get(column.key)
                    st.caption(_column_caption(column, row, PREVIEW_MARK) if final is None else
                               _column_caption(column, final, ""))

                with cell:  # a fragment draws where it is called: in this column
                    follow(lambda column=column, row=row: st.caption(_column_caption(column, row, PREVIEW_MARK)),
                           full)
            actions = cell.container(horizontal=True, gap="small", vertical_alignment="center")
            index = columns.index(column)
            if actions.button("Enlarge", key=f"enlarge.{index}", icon=":material/zoom_in:"):
                _enlarge(column.label, overlay, middle, "Labels" if column.kind == "watershed" else "Mask",
                         image.shape[:2])
            open_in(actions, column.recipe, sample=sample, key=f"open.{index}")


def _short(label: str) -> str:
    return label.split(" (")[0]


def _heatmap(names: list[str], matrix: np.ndarray, title: str) -> alt.Chart:
    labels = [_short(n) for n in names]
    frame = pd.DataFrame([{"a": labels[i], "b": labels[j], title: matrix[i, j]}
                          for i in range(len(names)) for j in range(len(names))])
    base = alt.Chart(frame).encode(
        x=alt.X("a:N", title=None, sort=labels,
                axis=alt.Axis(labelLimit=160, labelAngle=-35, labelAlign="right", labelOverlap=False)),
        y=alt.Y("b:N", title=None, sort=labels, axis=alt.Axis(labelLimit=200)))
    cells = base.mark_rect().encode(color=alt.Color(f"{title}:Q", scale=alt.Scale(domain=[0, 1], scheme="blues")))
    step = cell_step(len(names))
    text = base.mark_text(fontSize=12 if step >= 40 else 10 if step >= 30 else 8).encode(
        text=alt.Text(f"{title}:Q", format=".2f"),
        color=alt.condition(f"datum['{title}'] > 0.6", alt.value("white"), alt.value("black")))
    # A step per cell (not a total width): long column names then take room of their own.
    return (cells + text).properties(width=alt.Step(step), height=alt.Step(min(40, step)))


def cell_step(n: int, room: int = 640) -> int:
    """Pixels per agreement cell: 64 for a few columns, fewer for many, so ``n`` cells fit in about ``room`` px
    (with the row names, the main column's ~940 px at a 1400-px window: 14 columns take 45 px each), never under
    24 (a "0.94" in 8-px text; all 29 possible columns then take 696 px)."""
    return max(24, min(64, room // max(n, 1)))


def iou_heatmap(masks: dict, labels: dict | None = None) -> alt.Chart:
    """Pixel IoU of every pair of foreground masks."""
    names, matrix = pairwise_iou(dict(masks))
    labels = labels or {n: seg.METHODS[n].label if n in seg.METHODS else n for n in names}
    return _heatmap([labels[n] for n in names], matrix, "IoU")


def object_agreement(objects: dict, pair_f1=None) -> tuple[list[str], np.ndarray]:
    """Object F1 at IoU 0.5 of every pair of columns (symmetric: swapping the two swaps FP and FN)."""
    names = list(objects)
    matrix = np.eye(len(names))
    for i, j in itertools.combinations(range(len(names)), 2):
        f1 = pair_f1(names[i], names[j]) if pair_f1 else _f1(objects[names[i]], objects[names[j]])
        matrix[i, j] = matrix[j, i] = f1
    return names, matrix


def _f1(a: np.ndarray, b: np.ndarray) -> float:
    return score_objects(a, b, thresholds=(0.5,)).f1[0]


@st.cache_data(max_entries=256, ttl=1800, show_spinner=False)
def _pair_f1(image_key: str, scale: float, json_a: str, json_b: str, _a: np.ndarray, _b: np.ndarray) -> float:
    return _f1(_a, _b)


def agreement_kind() -> str:
    """The agreement control: pixel IoU of the foregrounds, or object F1 at IoU 0.5."""
    return st.segmented_control("Agreement", [PIXELS, OBJECTS], default=PIXELS, key="agreement",
                                bind="query-params",
                                help="Pixels: IoU of the foreground masks. Objects: one-to-one matches by IoU "
                                     "≥ 0.5 (a threshold column's objects are its 8-connected components).") or PIXELS


def agreement_matrix(kind: str, results: dict, image_key: str = "", scale: float = 1.0,
                     recipes: dict | None = None) -> tuple[list[str], np.ndarray]:
    """(column keys, matrix) of ``kind`` for the columns' ``results`` (``{key: (mask, objects)}``)."""
    if kind == OBJECTS:
        objects = {k: obj for k, (_, obj) in results.items()}
        cached = None
        if recipes is not None:
            def cached(a: str, b: str) -> float:
                return _pair_f1(image_key, scale, recipes[a], recipes[b], objects[a], objects[b])
        return object_agreement(objects, cached)
    return pairwise_iou({k: mask for k, (mask, _) in results.items()})


def agreement_chart(kind: str, names: list[str], matrix: np.ndarray, labels: dict, estimate: bool = False) -> None:
    """The agreement heatmap; a preview estimate's title and caption say so."""
    title = "F1" if kind == OBJECTS else "IoU"
    chart = _heatmap([labels[n] for n in names], matrix, title)
    if estimate:
        chart = chart.properties(title=f"{PREVIEW_MARK}{title} on the preview (estimates)")
    st.altair_chart(chart, width="content")


def agreement_section(results: dict, labels: dict, image_key: str = "", scale: float = 1.0,
                      recipes: dict | None = None) -> None:
    """The pairwise agreement matrix: pixel IoU of the foregrounds, or object F1 at IoU 0.5."""
    kind = agreement_kind()
    names, matrix = agreement_matrix(kind, results, image_key, scale, recipes)
    agreement_chart(kind, names, matrix, labels)


@st.cache_data(max_entries=16, ttl=1800, show_spinner=False)
def error_view(image_key: str, scale: float, recipe_json: str, truth_digest: str, _image: np.ndarray,
               _truth: np.ndarray, _objects: np.ndarray, _scores) -> bytes:
    """The error overlay (missed, false, merged, split objects) as PNG bytes.

    PNG, not JPEG: JPEG's halved colour resolution turns one-pixel coloured outlines into grey smears.
    """
    return encode_png_bytes(seg.score_overlay(_image, _truth, _objects, _scores))


def labelled(objects: np.ndarray) -> np.ndarray:
    """A column's objects as labels (a mask's 8-connected components, numbered as score_objects numbers them)."""
    return label_objects(objects) if objects.dtype == bool else objects


def truth_sections(current, image: np.ndarray, scale: float, columns: list[Column], results: dict,
                   truth_labels: np.ndarray, truth, follow=None) -> None:
    """With instance labels as the truth: the object score table, the error overlay and tuning.

    ``follow(draw, preview_value, pick, say=True)`` (the page's): draws the preview's scores marked "≈", then the
    full-resolution ones when they are in; without it (the page works at full resolution) they are final.
    """
    labels = {c.key: c.label for c in columns}
    objects = {key: labelled(obj) for key, (_, obj) in results.items()}
    estimate = scale < 1.0
    st.subheader("Object scores against the truth")
    if truth.warning:
        st.warning(f"The truth: {truth.warning}; the scores below are not meaningful.", icon=":material/warning:")
    scores = object_scores(current.key, scale, truth.digest, objects,
                           {c.key: c.recipe.to_json() for c in columns}, truth_labels)
    if not scores:
        return
    if follow is None or not estimate:
        object_table(scores, labels, estimate)
    else:
        follow(lambda value, marked: object_table(value, labels, marked), scores, lambda numbers: numbers.scores)

    st.subheader("Where the errors are")
    keys = list(scores)
    best = max(keys, key=lambda k: (scores[k].f1[0], scores[k].mean_ap))
    choice = st.selectbox("Recipe", keys, index=keys.index(best), format_func=lambda k: labels[k], key="errors_of",
                          help="Missed and false objects at IoU 0.5, merges and splits, in colour-blind-safe "
                               "colours (Okabe–Ito).")
    column = next(c for c in columns if c.key == choice)
    view = error_view(current.key, scale, column.recipe.to_json(), truth.digest, image, truth_labels,
                      objects[choice], scores[choice])
    if follow is None or not estimate:
        st.html(legend(scores[choice], estimate=estimate))
    else:  # the counts follow the table's full-resolution scores (they contradicted it, "missed ≈ 934" by 0)
        # The legend's counts are the table's: one "At full resolution." under the table says it for both.
        follow(lambda value, marked: st.html(legend(value, estimate=marked)), scores[choice],
               lambda numbers: (numbers.scores or {}).get(choice), say=False)
    capped_image(st, view, image.shape, f"Errors of {labels[choice]} against the truth"
                 + (" (drawn on the live preview)" if estimate else ""), "PNG")
    tune_section(columns, truth, current.image, None if current.is_upload else current.sample, best)
