"""Compare page: thresholding methods and whole recipes (watershed too) side by side, scored against a truth."""

import streamlit as st

import segmentation as seg
from segmentation import DEFAULT_SAMPLE_THRESHOLD
from studio_ui import compare_truth, compare_ui, views
from studio_ui.page import plain_errors, remember_page_settings, start_page
from studio_ui.source import preview_of

current = start_page("Compare", default_sample=DEFAULT_SAMPLE_THRESHOLD, icon=":material/compare:",
                     base=seg.ThresholdRecipe())
side, style = views.display_settings()
with plain_errors():
    preview, factor = preview_of(current.key, side, current.image)

methods = compare_ui.method_picker()
recipe_columns = compare_ui.recipe_picker()
shared = compare_ui.shared_widgets(current)
columns = compare_ui.method_columns(methods, shared, current) + recipe_columns
truth = compare_truth.truth_upload(current.image.shape[:2])
full = st.sidebar.toggle("Full resolution", key="full", bind="query-params",
                         help="Compute every recipe (and every score) on the full image (slower; shows progress) "
                              "instead of the live preview.")
per_row = compare_ui.grid_settings(current.image.shape[:2])

if not columns:
    st.info("Choose at least one method or recipe in the sidebar.", icon=":material/arrow_back:")
    st.stop()

image, scale = (current.image, 1.0) if full else (preview, factor)
# Each recipe's failure is a note in its row; anything else is a plain message, never the error screen.
with plain_errors():
    rows, results = compare_ui.run_all(current.key, image, scale, columns)
    truth_labels = truth_mask = None
    if truth is not None:
        truth_labels, truth_mask = compare_truth.at_shape(truth, image.shape[:2])
        compare_truth.pixel_scores(rows, {k: mask for k, (mask, _) in results.items()}, truth_mask)

    st.subheader("Results")
    compare_ui.results_table(rows, truth is not None)
    if scale < 1.0:
        st.caption(f"Computed on the live preview at {scale:.0%} of full size; switch on *Full resolution* for "
                   "exact counts and scores.")
    compare_ui.result_grid(current.key, image, scale, columns, results, rows, style, current.sample, per_row)
    if len(results) > 1:
        st.subheader("Agreement between the columns")
        compare_ui.agreement_section(results, {c.key: c.label for c in columns}, current.key, scale,
                                     {c.key: c.recipe.to_json() for c in columns})
    if truth is not None and truth.kind == "labels":
        compare_ui.truth_sections(current, image, scale, columns, results, truth_labels, truth)
    elif truth is not None:
        st.caption("Object scores, the error overlay and tuning need an instance label image as the truth "
                   "(one id per object); a binary mask gives the pixel scores above.")

remember_page_settings()  # this page's settings come back when the visitor returns to it
