"""Thresholding page (the app's entry point): widgets -> library call -> views."""

import streamlit as st

import segmentation as seg
from segmentation import DEFAULT_SAMPLE_THRESHOLD, SAMPLES, label_objects
from studio_ui import compute, full_resolution, microscopy, views
from studio_ui.exports import export_section
from studio_ui.page import (
    plain_errors,
    recipe_sections,
    remember_page_settings,
    sample_defaults,
    start_page,
    suggested_settings_button,
)
from studio_ui.source import preview_of
from studio_ui.widgets import manual_value_range, recipe_widgets

current = start_page("Thresholding", default_sample=DEFAULT_SAMPLE_THRESHOLD, icon=":material/contrast:",
                     base=seg.ThresholdRecipe())
side, style = views.display_settings()
with plain_errors():
    preview, factor = preview_of(current.key, side, current.image)

# Widgets: every parameter of the chosen method, defaults from the library and the sample.
suggested = sample_defaults(seg.ThresholdRecipe(), current.sample)
suggested_settings_button(suggested, current)
defaults = suggested.values()
defaults["value"] = compute.default_manual_value(current.key, current.image)
values = recipe_widgets(seg.ThresholdRecipe.specs(), defaults, recipe_sections(),
                        overrides={"value": manual_value_range(current.image)})
measure_values, scale = microscopy.measurement_settings(current)  # pixel size and unit, from the file
values.update(measure_values)
if values["method"] != "manual":  # the manual value only places the slider: the recipe keeps the library's, as
    values["value"] = seg.ThresholdRecipe().value  # the command line writes it (same JSON, same recipe_sha256)

# Library call, on the display-sized copy with pixel parameters scaled to match; then the views. Whatever
# the image or the link holds, a failure is a plain message (plain_errors), never the error screen.
with plain_errors():
    recipe = seg.ThresholdRecipe(**values)
    timed = compute.run_threshold(current.key, factor, recipe.rescaled(factor).to_json(), preview)
    result = timed.result
    objects = compute.count_objects(current.key, factor, recipe.to_json(), result.mask)

    # Preview numbers now (marked "≈"), full-resolution ones from a background job when ready.
    full_resolution.threshold_metrics(image_key=current.key, image=current.image, factor=factor, recipe=recipe,
                                      result=result, objects=objects, seconds=timed.seconds)
    notes = compute.full_resolution_notes(result.notes, image_key=current.key, image=current.image,
                                          channel=recipe.channel, factor=factor)  # counted on the whole image
    for note in views.result_notes(notes, result.processed):
        st.info(note, icon=":material/info:")

    original, stretched, original_caption = microscopy.original_view(current, side, factor, preview)
    middle, overlay = compute.result_views(current.key, factor, recipe.to_json(), style, preview, result.mask)
    views.three_views(original, middle, overlay, middle_title=f"Mask ({result.polarity} objects)",
                      stretched=stretched, factor=factor, original_caption=original_caption)


def full_timed():
    return compute.full_answer("threshold", current.key, recipe.to_json(), current.image)


def full_answer():
    return full_timed().result


def full_mask():
    return full_answer().mask


tab_hist, tab_objects, tab_zoom, tab_export, tab_share = st.tabs(
    ["Histogram", "Objects", "Look closer", "Export", "Share"], key="tab", on_change="rerun")
# Tabs that rerun on a change run lazily: only the open one computes anything. The open tab is not in
# the URL (a shared link opens the view, not the tab the sender was looking at); the page keeps it.
if tab_hist.open:
    with tab_hist, plain_errors():
        log = st.toggle("Logarithmic counts", key="log", bind="query-params")
        st.vega_lite_chart(spec=views.histogram_spec(result.processed, result.thresholds, log=log), width="stretch")
        st.caption(views.histogram_caption(result.thresholds, result.polarity, recipe.method, factor=factor))
if tab_objects.open:
    with tab_objects, plain_errors():
        def preview_table():
            views.measurement_table(compute.measurements(current.key, factor, recipe.to_json(),
                                                         scale.size / factor if scale.size else None, scale.unit,
                                                         label_objects(result.mask), preview))
            st.caption("≈ Measured on the live preview; the full-resolution table (the CSV under Export) "
                       "replaces it when ready.")

        def full_table():
            views.measurement_table(compute.measurements(current.key, 1.0, recipe.to_json(), scale.size,
                                                         scale.unit, full_answer().labels, current.image))
            if factor < 1:
                st.caption("At full resolution, as in the CSV under Export.")

        full_resolution.when_ready("threshold", current.key, recipe.to_json(), factor, preview=preview_table,
                                   full=full_table)
if tab_zoom.open:
    with tab_zoom, plain_errors():
        views.look_closer(current.image, full_mask, labels=False, style=style)
if tab_export.open:
    with tab_export, plain_errors():
        export_section(stem=current.name.rsplit(".", 1)[0], full_answer=full_timed, image=current.image,
                       recipe=recipe, style=style, image_key=current.key, scale=scale)
if tab_share.open:
    with tab_share:
        views.share_link(is_upload=current.is_upload, sample_title=SAMPLES[current.sample].title)

remember_page_settings()  # this page's settings come back when the visitor returns to it
