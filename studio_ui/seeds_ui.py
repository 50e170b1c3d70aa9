"""Watershed extras: placing seeds by clicking, and the intermediate stages."""

from __future__ import annotations

from functools import partial

import cv2
import numpy as np
import streamlit as st
from streamlit_image_coordinates import streamlit_image_coordinates

import segmentation as seg
from segmentation import WatershedRecipe, encode_jpeg_bytes, encode_png_bytes, specs_of

from .page import apply_settings, settings_items
from .views import count_of

_POINTS = {spec.name: spec for spec in specs_of(WatershedRecipe)}["points"]


def _points() -> tuple:
    try:
        return _POINTS.from_text(st.session_state.get("points", ""))
    except ValueError:
        return ()


def _add_click(shape_full: tuple[int, int]) -> None:
    """Callback: turn the click (in displayed pixels) into a full-resolution seed point."""
    click = st.session_state.get("seed_click")
    if not click or not click.get("width"):
        return
    row = int(click["y"] / click["height"] * shape_full[0])
    col = int(click["x"] / click["width"] * shape_full[1])
    row, col = min(max(row, 0), shape_full[0] - 1), min(max(col, 0), shape_full[1] - 1)
    st.session_state["points"] = _POINTS.to_text(_points() + ((row, col),))


def _undo() -> None:
    st.session_state["points"] = _POINTS.to_text(_points()[:-1])


def _clear() -> None:
    st.session_state["points"] = ""


def _seeds_over(image: np.ndarray, markers: np.ndarray, radius: int = 4) -> np.ndarray:
    """The image with each seed drawn as a dot in its label colour."""
    shown, _ = seg.display_image(image)
    # OpenCV morphology has no int32 path; float32 holds label ids exactly up to 2**24.
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
    dots = cv2.dilate(markers.astype(np.float32), disc).astype(np.int32)
    colours = seg.colorize_labels(dots)
    return np.where((dots > 0)[..., None], colours, (shown * 0.6).astype(np.uint8))


def click_to_seed(preview: np.ndarray, result, factor: float, style: tuple) -> None:
    """Click on the image to add a seed; the labels and overlay update beside it."""
    full_shape = (round(preview.shape[0] / factor), round(preview.shape[1] / factor))
    left, centre, right = st.columns(3, gap="small")
    with left:
        streamlit_image_coordinates(_seeds_over(preview, result.markers), key="seed_click", width="stretch",
                                    on_click=partial(_add_click, full_shape), cursor="crosshair")
        st.caption(f"Click to place a seed ({len(_points())} placed)")
        b1, b2 = st.columns(2)
        b1.button("Undo last seed", on_click=_undo, width="stretch")
        b2.button("Clear seeds", on_click=_clear, width="stretch")
    color, thickness, opacity = style
    centre.image(encode_png_bytes(seg.colorize_labels(result.labels)), width="stretch",
                 caption=f"Labels ({count_of(result.count, 'object')})", output_format="PNG")
    right.image(encode_jpeg_bytes(seg.boundary_overlay(preview, result.labels, color=color,
                                                       thickness=thickness, fill_opacity=opacity)),
                width="stretch", caption="Boundaries on the original", output_format="JPEG")


# -- editing by clicking: seeds (add_seeds / remove_seeds, segmentation.edit_seeds) and objects (merge_points /
# split_points, segmentation.merge_objects / split_objects)

_SPECS = {spec.name: spec for spec in specs_of(WatershedRecipe)}
EDIT_MESSAGE_KEY = "studio_seed_edit_message"
#: A click this close (displayed pixels) to a drawn seed removes it; seeds are drawn at least 6 px wide.
_HIT_DISPLAY_PX, _DOT_DISPLAY_PX = 8, 6


def _edit_points(name: str) -> tuple:
    try:
        return _SPECS[name].from_text(st.session_state.get(name, ""))
    except ValueError:
        return ()


def _set_points(name: str, points: tuple) -> None:
    st.session_state[name] = _SPECS[name].to_text(points)


def _nearest(points, row: float, col: float, reach: float):
    """Index of the point nearest (row, col) within ``reach``, or None."""
    best, best_d = None, reach * reach
    for index, (r, c) in enumerate(points):
        d = (r - row) ** 2 + (c - col) ** 2
        if d <= best_d:
            best, best_d = index, d
    return best


#: The edit lists in the order the buttons take them back when no history is kept (an older session).
_EDIT_LISTS = ("add_seeds", "remove_seeds", "merge_points", "split_points")
#: What a click does on the seeds image (UI state, not in the recipe or the link).
CLICK_MODES = {"seeds": "Seeds", "merge": "Merge", "split": "Split"}
_MODE_KEY, _PENDING_KEY, _HISTORY_KEY = "studio_click_mode", "studio_merge_first", "studio_edit_history"


def _record(name: str, points: tuple) -> None:
    """Set one edit list and remember which list changed last (for "Undo last edit")."""
    _set_points(name, points)
    st.session_state.setdefault(_HISTORY_KEY, []).append(name)


def usable_points(values: dict, shape: tuple[int, int]) -> dict:
    """The watershed's widget values without the points (seeds and edits) that cannot apply to an image of
    ``shape``, and a notice naming them.

    The points come from a link or from another image (edits survive a change of image only where they still
    fall on it). One outside the image stopped the whole page with the library's refusal, which named the
    preview's size (issue 15's trial: ``?add_seeds=99999999,99999999`` left "point ... lies outside the 384×303
    image" and nothing else); so did an odd number of merge points (``merge_points=1,1;2,2;3,3``: "must come in
    pairs"). The recipe the page runs, exports and shares leaves them out: a merge pair with a point outside goes
    whole, and a last point without its pair goes.
    """
    height, width = shape[:2]

    def inside(point) -> bool:
        return 0 <= point[0] < height and 0 <= point[1] < width

    values, words = dict(values), []
    for name in ("points", *_EDIT_LISTS):
        points = tuple(values.get(name) or ())
        step = 2 if name == "merge_points" else 1  # merge points come in pairs: a pair goes whole
        groups = [points[i:i + step] for i in range(0, len(points), step)]
        kept = tuple(p for group in groups if len(group) == step and all(map(inside, group)) for p in group)
        if len(kept) == len(points):
            continue
        values[name] = kept
        outside = [f"({r}, {c})" for r, c in points if not inside((r, c))]
        if outside:
            words.append(f"{name} {', '.join(outside[:3])}" + (f" and {len(outside) - 3} more" if len(outside) > 3
                                                                else "") + " (outside this image)")
        if len(points) % step:
            words.append(f"{name}' last point ({points[-1][0]}, {points[-1][1]}), which has no pair to merge with")
    if words:
        st.warning(f"Left out of the recipe, in this {width}×{height} image (points are row, col in image pixels; "
                   "a merge pair goes whole): " + "; ".join(words) + ".", icon=":material/link_off:")
    return values


def _edit_click(full_shape: tuple[int, int], markers: np.ndarray, foreground: np.ndarray,
                labels: np.ndarray | None = None) -> None:
    """Callback: a click on the seeds image, read in the chosen mode (seeds, merge or split)."""
    click = st.session_state.get("seed_edit_click")
    if not click or not click.get("width") or not click.get("height"):
        return
    height, width = markers.shape
    per_display = width / click["width"]  # preview pixels per displayed pixel
    prow = min(max(click["y"] * height / click["height"], 0), height - 1)
    pcol = min(max(click["x"] * width / click["width"], 0), width - 1)
    to_full = (full_shape[0] / height, full_shape[1] / width)
    point = (min(int(prow * to_full[0]), full_shape[0] - 1), min(int(pcol * to_full[1]), full_shape[1] - 1))
    mode = st.session_state.get(_MODE_KEY, "seeds")
    if mode in ("merge", "split") and labels is not None:
        _object_click(mode, point, int(labels[int(prow), int(pcol)]))
        return
    reach = _HIT_DISPLAY_PX * per_display
    added = _edit_points("add_seeds")
    # An added seed clicked again is taken back (its point leaves add_seeds).
    in_preview = [(r / to_full[0], c / to_full[1]) for r, c in added]
    taken = _nearest(in_preview, prow, pcol, reach)
    if taken is not None:
        _record("add_seeds", added[:taken] + added[taken + 1:])
        st.session_state[_HISTORY_KEY].pop()  # taking back is not itself an edit to undo
        st.session_state[EDIT_MESSAGE_KEY] = ("info", f"Took back the added seed at {added[taken]}.")
        return
    rows, cols = np.nonzero(markers)
    if rows.size:
        near = (rows - prow) ** 2 + (cols - pcol) ** 2
        best = int(np.argmin(near))
        if near[best] <= reach * reach:
            # The removed point sits on the seed pixel itself (its centre, in full-image pixels).
            on_seed = (min(int((rows[best] + 0.5) * to_full[0]), full_shape[0] - 1),
                       min(int((cols[best] + 0.5) * to_full[1]), full_shape[1] - 1))
            removed = _edit_points("remove_seeds")
            if on_seed in removed:
                st.session_state[EDIT_MESSAGE_KEY] = ("warning", f"The seed at {on_seed} is already removed.")
                return
            _record("remove_seeds", removed + (on_seed,))
            st.session_state[EDIT_MESSAGE_KEY] = ("info", f"Removed the seed at {on_seed}: its object merges "
                                                          "with a neighbour (or disappears if it had no other).")
            return
    if not foreground[int(prow), int(pcol)]:
        st.session_state[EDIT_MESSAGE_KEY] = ("warning", f"Nothing changed: {point} is on the background, and "
                                                         "seeds grow only inside the foreground.")
        return
    _record("add_seeds", added + (point,))
    st.session_state[EDIT_MESSAGE_KEY] = ("info", f"Added a seed at {point}: its object splits there.")


def _object_click(mode: str, point: tuple[int, int], label: int) -> None:
    """A click in merge mode (first and second object) or split mode (the object to cut)."""
    if label <= 0:
        st.session_state[EDIT_MESSAGE_KEY] = ("warning", f"Nothing changed: {point} is on the background; click "
                                                         f"inside an object to {mode} it.")
        return
    if mode == "split":
        _record("split_points", _edit_points("split_points") + (point,))
        st.session_state[EDIT_MESSAGE_KEY] = ("info", f"Split the object at {point} across its long axis, "
                                                      "along its narrowest neck.")
        return
    first = st.session_state.pop(_PENDING_KEY, None)
    if first is None:
        st.session_state[_PENDING_KEY] = (point, label)
        st.session_state[EDIT_MESSAGE_KEY] = ("info", f"Object at {point} chosen: now click the object to merge "
                                                      "it with.")
        return
    if first[1] == label:
        st.session_state[EDIT_MESSAGE_KEY] = ("warning", f"Nothing changed: {first[0]} and {point} are on the "
                                                         "same object. Click two different objects.")
        return
    _record("merge_points", _edit_points("merge_points") + (first[0], point))
    st.session_state[EDIT_MESSAGE_KEY] = ("info", f"Merged the objects at {first[0]} and {point}.")


def _undo_edit() -> None:
    history = st.session_state.get(_HISTORY_KEY) or []
    while history:  # the last edit whose list still holds it (a list may have been edited in its box since)
        name = history.pop()
        points = _edit_points(name)
        if points:
            _set_points(name, points[:-2] if name == "merge_points" else points[:-1])
            return
    for name in _EDIT_LISTS:
        points = _edit_points(name)
        if points:
            _set_points(name, points[:-2] if name == "merge_points" else points[:-1])
            return


def _clear_edits() -> None:
    for name in _EDIT_LISTS:
        _set_points(name, ())
    st.session_state.pop(_HISTORY_KEY, None)
    st.session_state.pop(_PENDING_KEY, None)


def edit_toggle(recipe: WatershedRecipe) -> bool:
    """The "Edit seeds by clicking" switch, for the automatic seeds methods (URL-bound)."""
    if recipe.seeds in ("points", "marker_image"):
        return False
    return st.toggle("Edit seeds by clicking", key="edit_seeds", bind="query-params",
                     help="Click beside a seed to add one (splits a merged object); click a seed to remove it "
                          "(merges); or merge two objects, or split one across its neck. The edits are the "
                          "recipe's add_seeds, remove_seeds, merge_points and split_points, in the share link.")


def click_to_edit(preview: np.ndarray, result, factor: float, style: tuple) -> None:
    """The preview with its seeds drawn large; clicks add or remove seeds; labels and overlay beside it."""
    full_shape = (round(preview.shape[0] / factor), round(preview.shape[1] / factor))
    # Drawn at least _DOT_DISPLAY_PX displayed pixels wide for a column of about 400 px.
    radius = max(_DOT_DISPLAY_PX, int(np.ceil(_DOT_DISPLAY_PX * preview.shape[1] / 400)))
    left, centre, right = st.columns(3, gap="small")
    with left:
        mode = st.segmented_control("A click edits", list(CLICK_MODES), format_func=CLICK_MODES.get,
                                    key=_MODE_KEY, default="seeds",
                                    on_change=lambda: st.session_state.pop(_PENDING_KEY, None),
                                    help="Seeds: add a seed (splits its object) or remove one (merges). Merge: "
                                         "click two objects to make them one. Split: click an object to cut "
                                         "it in two across its narrowest neck.")
        streamlit_image_coordinates(_seeds_over(preview, result.markers, radius=radius), key="seed_edit_click",
                                    width="stretch", cursor="crosshair",
                                    on_click=partial(_edit_click, full_shape, result.markers, result.foreground,
                                                     result.labels))
        edits = {name: _edit_points(name) for name in _EDIT_LISTS}
        st.caption({"seeds": "Click beside a seed to add one, on a seed to remove it",
                    "merge": "Click two objects, one after the other, to merge them",
                    "split": "Click an object to cut it in two across its neck"}.get(mode or "seeds", "")
                   + f" ({len(edits['add_seeds'])} added, {len(edits['remove_seeds'])} removed, "
                     f"{len(edits['merge_points']) // 2} merged, {len(edits['split_points'])} split)")
        b1, b2 = st.columns(2)
        b1.button("Undo last edit", on_click=_undo_edit, width="stretch", disabled=not any(edits.values()))
        b2.button("Clear edits", on_click=_clear_edits, width="stretch", disabled=not any(edits.values()))
        message = st.session_state.pop(EDIT_MESSAGE_KEY, None)
        if message:
            (st.warning if message[0] == "warning" else st.info)(message[1])
    color, thickness, opacity = style
    centre.image(encode_png_bytes(seg.colorize_labels(result.labels)), width="stretch",
                 caption=f"Labels ({count_of(result.count, 'object')})", output_format="PNG")
    right.image(encode_jpeg_bytes(seg.boundary_overlay(preview, result.labels, color=color,
                                                       thickness=thickness, fill_opacity=opacity)),
                width="stretch", caption="Boundaries on the original", output_format="JPEG")


def stages(preview: np.ndarray, result) -> None:
    """Foreground, distance map and seeds side by side."""
    columns = st.columns(3, gap="small")
    columns[0].image(encode_png_bytes(seg.mask_image(result.foreground)), width="stretch",
                     caption="Foreground (threshold + clean-up)", output_format="PNG")
    if result.distance is not None:
        distance, _ = seg.display_image(result.distance, stretch="always")
        columns[1].image(encode_png_bytes(distance), width="stretch",
                         caption="Distance to background (brighter = deeper)", output_format="PNG")
    else:
        columns[1].info("The gradient landscape with these seeds uses no distance map.")
    columns[2].image(encode_png_bytes(_seeds_over(preview, result.markers)), width="stretch",
                     caption=f"Seeds ({int(result.markers.max(initial=0))})", output_format="PNG")


def fitted_caption(container, recipe: WatershedRecipe, fitted: WatershedRecipe) -> None:
    """Under the seeds: what a typical diameter "auto" was fitted to on this image (nothing for a number)."""
    if recipe.diameter is not None:
        return
    fg = fitted.foreground
    classes = (f"multi-Otsu classes {', '.join(map(str, fg.foreground_classes))} of {fg.classes}"
               if fg.method == "multiotsu" and fg.foreground_classes else seg.METHODS[fg.method].label)
    sized = fitted.sized()
    background = (f"background radius {sized.foreground.background_radius} px, "
                  if sized.foreground.background_radius else "")
    largest = " (the largest it takes)" if fitted.diameter >= 1000 else ""
    what = (f"**{fitted.diameter:.1f} px** fitted to this image{largest}: {background}smallest object "
            f"{sized.foreground.min_size} px, h {sized.h:.3g} px, seed distance {sized.min_distance} px (in place of "
            "the boxes' values)" if fitted.diameter
            else "no diameter kept for this image: the boxes' sizes apply")
    container.caption(f"Typical diameter *auto*: {what}; foreground {classes}. A number fixes it, 0 turns it off.")


FIT_MESSAGE_KEY = "studio_fit_message"


def _apply_fit(image_key: str, image: np.ndarray, recipe: WatershedRecipe) -> None:
    """Callback: fit the recipe to this image of nuclei and put the fitted values into the widgets."""
    try:
        fitted = _fitted(image_key, recipe.to_json(), image)
    except ValueError as error:
        st.session_state[FIT_MESSAGE_KEY] = ("error", f"Could not fit: {error}")
        return
    now = {spec.name: value for spec, value in settings_items(recipe)}
    changed = [(spec, value) for spec, value in settings_items(fitted) if now.get(spec.name) != value]
    apply_settings(changed)
    words = ", ".join(f"{spec.name}={spec.to_text(value)}" for spec, value in changed) or "nothing to change"
    st.session_state[FIT_MESSAGE_KEY] = ("info", f"Fitted to this image: {words}. A typical nucleus is "
                                                 f"{fitted.diameter:g} px across." if fitted.diameter else
                                                 f"Fitted to this image: {words}.")


@st.cache_resource(max_entries=8, show_spinner="Fitting the recipe to this image…")
def _fitted(image_key: str, recipe_json: str, _image: np.ndarray) -> WatershedRecipe:
    return seg.fit_nuclei_recipe(_image, seg.recipe_from_json(recipe_json))


def fit_button(container, image_key: str, image: np.ndarray, recipe: WatershedRecipe) -> None:
    """"Fit to this image": foreground and sizes chosen for this image of nuclei (seg.fit_nuclei_recipe)."""
    container.button("Fit to this image (nuclei)", on_click=_apply_fit, args=(image_key, image, recipe),
                     width="stretch", icon=":material/auto_fix_high:",
                     help="Chooses the foreground (the threshold or the darker/brighter classes of a 3-class "
                          "split, whichever gives the most convex objects) and derives the sizes (background "
                          "radius, smallest object, h, seed distance) from the typical nucleus diameter "
                          "estimated on this image. Scored in docs/DEFAULTS.md; a starting point, not a verdict.")
    message = st.session_state.pop(FIT_MESSAGE_KEY, None)
    if message:
        (container.error if message[0] == "error" else container.info)(message[1])
