"""Compare page: several thresholding methods side by side on the same image, optionally against a truth."""

import streamlit as st

import segmentation as seg
from segmentation import DEFAULT_SAMPLE_THRESHOLD
from studio_ui import compare_ui, views
from studio_ui.page import plain_errors, start_page
from studio_ui.source import preview_of

current = start_page("Compare", default_sample=DEFAULT_SAMPLE_THRESHOLD, icon=":material/compare:",
                     base=seg.ThresholdRecipe())
side, style = views.display_settings()
with plain_errors():
    preview, factor = preview_of(current.key, side, current.image)

methods = compare_ui.method_picker()
shared = compare_ui.shared_widgets(current)
recipes = compare_ui.method_recipes(methods, shared, current)
truth = compare_ui.truth_upload(current.image.shape[:2])
full = st.sidebar.toggle("Full resolution", key="full", bind="query-params",
                         help="Compute every method on the full image (slower; shows progress) instead of "
                              "the live preview.")

if not recipes:
    st.info("Choose at least one method in the sidebar.", icon=":material/arrow_back:")
    st.stop()

image, scale = (current.image, 1.0) if full else (preview, factor)
# Each method's failure is a note in its row; anything else is a plain message, never the error screen.
with plain_errors():
    rows, masks = compare_ui.run_all(current.key, image, scale, recipes)
    if truth is not None:
        compare_ui.add_truth_scores(rows, masks, truth, image.shape[:2])

    st.subheader("Results")
    compare_ui.results_table(rows, truth is not None)
    compare_ui.result_grid(current.key, image, scale, recipes, masks, rows, style)
    if len(masks) > 1:
        st.subheader("Agreement between methods (IoU of the masks)")
        st.altair_chart(compare_ui.iou_heatmap(masks), width="content")
