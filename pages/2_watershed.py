"""Watershed page: foreground recipe -> seeds -> landscape -> labels, with every stage on view."""

import streamlit as st

import segmentation as seg
from segmentation import DEFAULT_SAMPLE_WATERSHED, SAMPLES
from studio_ui import compute, full_resolution, microscopy, seeds_ui, views
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
fg_defaults["value"], processed_limits = compute.manual_start(current.key, current.image, base.foreground.to_json())
sections = recipe_sections("Foreground")
fg_values = recipe_widgets(seg.ThresholdRecipe.specs(), fg_defaults, sections,
                           overrides={"value": manual_value_range(current.image, processed_limits)},
                           # the page draws its own pixel size and unit below (same URL keys)
                           skip=lambda spec, values: spec.name in ("pixel_size", "unit"))
st.sidebar.subheader("Seeds and landscape")
sections = {"Seeds": st.sidebar.container(), "Landscape": st.sidebar.expander("Landscape", expanded=True)}
ws_values = recipe_widgets(seg.WatershedRecipe.specs(), base.values(), {**sections, "Method": sections["Seeds"]})
measure_values, scale = microscopy.measurement_settings(current)  # pixel size and unit, from the file
fg_values.update(measure_values)
if fg_values["method"] != "manual":  # the manual value only places the slider: the recipe keeps the library's,
    fg_values["value"] = seg.WatershedRecipe().foreground.value  # as the command line writes it

# Library call on the display-sized copy, then the views; a failure is a plain message, never the error screen.
with plain_errors():
    ws_values = seeds_ui.usable_points(ws_values, current.image.shape)
    recipe = seg.WatershedRecipe(foreground=seg.ThresholdRecipe(**fg_values), **ws_values)
    seeds_ui.fit_button(sections["Seeds"], current.key, current.image, recipe)
    live = compute.live_recipe(current.key, recipe, current.image)  # a typical diameter "auto" fitted
    seeds_ui.fitted_caption(sections["Seeds"], recipe, live)
    timed = compute.run_watershed(current.key, factor, live.rescaled(factor).to_json(), preview,
                                  answers=recipe.to_json() if live is not recipe else None)
    result = timed.result

    # Preview numbers now (marked "≈"), full-resolution ones from a background job when ready.
    full_resolution.watershed_metrics(image_key=current.key, image=current.image, factor=factor, recipe=recipe,
                                      result=result, seconds=timed.seconds)
    notes = compute.full_resolution_notes(result.notes, image_key=current.key, image=current.image,
                                          channel=recipe.foreground.channel, factor=factor)  # whole image
    for note in views.result_notes(notes, result.threshold.processed):
        st.info(note, icon=":material/info:")

    original, stretched, original_caption = microscopy.original_view(current, side, factor, preview)
    middle, overlay = compute.result_views(current.key, factor, recipe.to_json(), style, preview, result.labels)
    if recipe.seeds == "points":
        seeds_ui.click_to_seed(preview, result, factor, style)
    elif seeds_ui.edit_toggle(recipe):
        seeds_ui.click_to_edit(preview, result, factor, style)
    else:
        # A downscaled preview's labels are not counted in the title: its count is not the answer (the Objects
        # metric becomes the full-resolution count, and the title stayed "2,031 objects" beside "1,396").
        title = (f"Labels (live preview at {factor:.0%})" if factor < 1
                 else f"Labels ({views.count_of(result.count, 'object')})")
        views.three_views(original, middle, overlay, middle_title=title, stretched=stretched, factor=factor,
                          original_caption=original_caption)

if st.toggle("Show the intermediate stages", key="stages", bind="query-params",
             help="Foreground, distance map and seeds, as the watershed saw them."):
    with plain_errors(stop=False):
        seeds_ui.stages(preview, result)


def full_timed():
    return compute.full_answer("watershed", current.key, recipe.to_json(), current.image)


def full_result():
    return full_timed().result


def full_labels():
    return full_result().labels


# Histogram first: measuring thousands of objects on every slider move would slow the live view down.
tab_hist, tab_objects, tab_zoom, tab_export, tab_share = st.tabs(
    ["Histogram", "Objects", "Look closer", "Export", "Share"], key="tab", on_change="rerun")
if tab_objects.open:
    with tab_objects, plain_errors():
        def preview_table():
            views.measurement_table(compute.measurements(current.key, factor, recipe.to_json(),
                                                         scale.size / factor if scale.size else None, scale.unit,
                                                         result.labels, preview))
            st.caption("≈ Measured on the live preview (lengths corrected for the scale); the full-resolution "
                       "table (the CSV under Export) replaces it when ready.")

        def full_table():
            views.measurement_table(compute.measurements(current.key, 1.0, recipe.to_json(), scale.size,
                                                         scale.unit, full_labels(), current.image))
            if factor < 1:
                st.caption("At full resolution, as in the CSV under Export.")

        full_resolution.when_ready("watershed", current.key, recipe.to_json(), factor, preview=preview_table,
                                   full=full_table)
if tab_hist.open:
    with tab_hist, plain_errors():
        log = st.toggle("Logarithmic counts", key="log", bind="query-params")
        fg = result.threshold
        st.vega_lite_chart(spec=views.histogram_spec(fg.processed, fg.thresholds, log=log), width="stretch")
        st.caption(views.histogram_caption(fg.thresholds, fg.polarity, fg.recipe.method, factor=factor))
if tab_zoom.open:
    with tab_zoom, plain_errors():
        views.look_closer(current.image, full_labels, labels=True, style=style)
if tab_export.open:
    with tab_export, plain_errors():
        export_section(stem=current.name.rsplit(".", 1)[0], full_answer=full_timed, image=current.image,
                       recipe=recipe, style=style, image_key=current.key, scale=scale)
if tab_share.open:
    with tab_share:
        views.share_link(is_upload=current.is_upload, sample_title=SAMPLES[current.sample].title)

remember_page_settings()  # this page's settings come back when the visitor returns to it
