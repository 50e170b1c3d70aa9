"""Watershed page: foreground recipe -> seeds -> landscape -> labels, with every stage on view."""

import streamlit as st

import segmentation as seg
from segmentation import DEFAULT_SAMPLE_WATERSHED, SAMPLES, unit_suffix
from studio_ui import compute, seeds_ui, views
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

current = start_page("Watershed", default_sample=DEFAULT_SAMPLE_WATERSHED, icon=":material/water_drop:",
                     base=seg.WatershedRecipe())
side, style = views.display_settings()
with plain_errors():
    preview, factor = preview_of(current.key, side, current.image)

# Widgets: the foreground's threshold recipe, then seeds and landscape.
base = sample_defaults(seg.WatershedRecipe(), current.sample)
suggested_settings_button(base, current)
fg_defaults = base.foreground.values()
fg_defaults["value"] = compute.default_manual_value(current.key, current.image)
sections = recipe_sections("Foreground")
fg_values = recipe_widgets(seg.ThresholdRecipe.specs(), fg_defaults, sections,
                           overrides={"value": manual_value_range(current.image)},
                           # the page draws its own pixel size and unit below (same URL keys)
                           skip=lambda spec, values: spec.name in ("pixel_size", "unit"))
st.sidebar.subheader("Seeds and landscape")
sections = {"Seeds": st.sidebar.container(), "Landscape": st.sidebar.expander("Landscape", expanded=True)}
ws_values = recipe_widgets(seg.WatershedRecipe.specs(), base.values(), {**sections, "Method": sections["Seeds"]})
with st.sidebar.expander("Measurements"):
    pixel_size = st.number_input("Pixel size (0 = pixels)", 0.0, 1e6, 0.0, format="%g", key="pixel_size",
                                 bind="query-params", help="Size of one pixel; areas and lengths are then "
                                                           "reported in this unit.")
    unit = st.text_input("Unit", "µm", key="unit", bind="query-params", max_chars=8)
    try:
        unit_suffix(unit)
    except ValueError as error:
        st.warning(f"{error}; using µm.")
        unit = "µm"

# Library call on the display-sized copy, then the views; a failure is a plain message, never the error screen.
with plain_errors():
    recipe = seg.WatershedRecipe(foreground=seg.ThresholdRecipe(**fg_values), **ws_values)
    timed = compute.run_watershed(current.key, factor, recipe.rescaled(factor).to_json(), preview)
    result = timed.result

    shown_threshold = views.format_thresholds(result.threshold.thresholds, result.threshold.processed.dtype,
                                              recipe.foreground.method)
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Objects", f"{result.count:,}")
    c2.metric("Seeds", f"{int(result.markers.max(initial=0)):,}")
    c3.metric("Foreground", f"{result.threshold.foreground_fraction:.1%}",
              help=f"{seg.METHODS[recipe.foreground.method].label} threshold {shown_threshold}")
    c4.metric("Threshold", shown_threshold)
    c5.metric("Time", views.format_ms(timed.seconds), help="Library time for the live preview.")
    for note in views.result_notes(result.notes, result.threshold.processed):
        st.info(note, icon=":material/info:")

    original, stretched = compute.original_view(current.key, factor, preview)
    middle, overlay = compute.result_views(current.key, factor, recipe.to_json(), style, preview, result.labels)
    if recipe.seeds == "points":
        seeds_ui.click_to_seed(preview, result, factor, style)
    else:
        title = f"Labels ({views.count_of(result.count, 'object')})"
        views.three_views(original, middle, overlay, middle_title=title, stretched=stretched, factor=factor)

if st.toggle("Show the intermediate stages", key="stages", bind="query-params",
             help="Foreground, distance map and seeds, as the watershed saw them."):
    with plain_errors(stop=False):
        seeds_ui.stages(preview, result)


def full_result():
    return compute.run_watershed(current.key, 1.0, recipe.to_json(), current.image).result


def full_labels():
    return full_result().labels


physical = pixel_size if pixel_size else None  # 0 or empty (None, the recipe's 'auto'): pixels
# Histogram first: measuring thousands of objects on every slider move would slow the live view down.
tab_hist, tab_objects, tab_zoom, tab_export, tab_share = st.tabs(
    ["Histogram", "Objects", "Look closer", "Export", "Share"], key="tab", on_change="rerun")
if tab_objects.open:
    with tab_objects, plain_errors():
        table = compute.measurements(current.key, factor, recipe.to_json(),
                                     physical / factor if physical else None, unit if physical else "px",
                                     result.labels, preview)
        views.measurement_table(table)
        if factor < 1:
            st.caption("Measured on the live preview (lengths corrected for the scale); the CSV under Export is "
                       "measured at full resolution.")
if tab_hist.open:
    with tab_hist, plain_errors():
        log = st.toggle("Logarithmic counts", key="log", bind="query-params")
        fg = result.threshold
        st.altair_chart(views.histogram_chart(fg.processed, fg.thresholds, log=log), width="stretch")
        st.caption(views.histogram_caption(fg.thresholds, fg.polarity, fg.recipe.method))
if tab_zoom.open:
    with tab_zoom, plain_errors():
        views.look_closer(current.image, full_labels, labels=True, style=style)
if tab_export.open:
    with tab_export, plain_errors():
        export_section(stem=current.name.rsplit(".", 1)[0], full_segmentation=full_labels, image=current.image,
                       full_objects=lambda: full_result().count, recipe=recipe, style=style, labels=True,
                       measurements_csv=lambda labels: compute.full_measurements_csv(
                           current.key, recipe.to_json(), labels, current.image, physical,
                           unit if physical else "px"))
if tab_share.open:
    with tab_share:
        views.share_link(is_upload=current.is_upload, sample_title=SAMPLES[current.sample].title)

remember_page_settings()  # this page's settings come back when the visitor returns to it
