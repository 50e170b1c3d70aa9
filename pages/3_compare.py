"""Compare page: thresholding methods and whole recipes (watershed too) side by side, scored against a truth."""

import streamlit as st

import segmentation as seg
from segmentation import DEFAULT_SAMPLE_THRESHOLD
from studio_ui import compare_truth, compare_ui, full_resolution, microscopy, views
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
                         help="The numbers always end at full resolution (the preview's come first, marked ≈, and "
                              "are replaced when the whole image is done). This computes everything on the full "
                              "image at once instead, the views and the error overlay included (slower; shows "
                              "progress).")
per_row = compare_ui.grid_settings(current.image.shape[:2])

if not columns:
    st.info("Choose at least one method or recipe in the sidebar.", icon=":material/arrow_back:")
    st.stop()

image, scale = (current.image, 1.0) if full else (preview, factor)
estimate = scale < 1.0
# Each recipe's failure is a note in its row; anything else is a plain message, never the error screen.
with plain_errors():
    rows, results = compare_ui.run_all(current.key, image, scale, columns, full_image=current.image)
    truth_labels = truth_mask = None
    if truth is not None:
        truth_labels, truth_mask = compare_truth.at_shape(truth, image.shape[:2])
        compare_truth.pixel_scores(rows, {k: mask for k, (mask, _) in results.items()}, truth_mask)

    # The preview's numbers now (marked "≈"), the full-resolution ones from a background job when ready.
    # The agreement control is drawn further down: its value now is the session's, or the link's on a first run.
    agreement = st.session_state.get("agreement") or st.query_params.get("agreement") or compare_ui.PIXELS
    numbers_key = compare_ui.numbers_key(columns, truth, agreement)
    full_resolution.start("compare", current.key, numbers_key, scale,
                          lambda: compare_ui.full_numbers(current.key, current.image, columns, truth, agreement))

    def follow(draw, preview_value, pick, *, say: bool = True):
        """``draw(value, marked)``: the preview's value marked now, ``pick(full numbers)`` unmarked when in.

        ``say=False``: no caption of its own (a view that belongs to the one above it, which says it).
        """
        if not estimate:
            with st.container():  # the block the estimate's fragment draws into (full_resolution._same_block)
                draw(preview_value, False)
            return

        def on_preview(note: str) -> None:
            draw(preview_value, True)
            if say:
                st.caption(note)

        def on_full(numbers) -> None:
            value = pick(numbers)
            if value is None:  # not among what the job computed (an agreement kind chosen meanwhile)
                on_preview(f"≈ preview estimates ({scale:.0%} scale)")
            else:
                draw(value, False)
                if say:
                    st.caption("At full resolution.")

        full_resolution.follow("compare", current.key, numbers_key, scale, preview=on_preview, full=on_full)

    def follow_caption(preview, full) -> None:
        """A column's caption: ``preview()`` (marked) until the full-resolution numbers are in, ``full(numbers)``."""
        full_resolution.follow("compare", current.key, numbers_key, scale, preview=lambda note: preview(), full=full)

    st.subheader("Results")
    follow(lambda value, marked: compare_ui.results_table(value, truth is not None, estimate=marked), rows,
           lambda numbers: numbers.rows)
    compare_ui.result_grid(current.key, image, scale, columns, results, rows, style,
                           None if current.is_upload else current.sample, per_row,
                           original=microscopy.composite_view(current, side, preview),  # a multi-channel file's
                           follow=follow_caption if estimate else None)
    if len(results) > 1:
        st.subheader("Agreement between the columns")
        kind = compare_ui.agreement_kind()
        labels = {c.key: c.label for c in columns}
        recipes = {c.key: c.recipe.to_json() for c in columns}
        follow(lambda value, marked: compare_ui.agreement_chart(kind, *value, labels, estimate=marked),
               compare_ui.agreement_matrix(kind, results, current.key, scale, recipes),
               lambda numbers: numbers.agreement.get(kind))
    if truth is not None and truth.kind == "labels":
        compare_ui.truth_sections(current, image, scale, columns, results, truth_labels, truth, follow=follow)
    elif truth is not None:
        st.caption("Object scores, the error overlay and tuning need an instance label image as the truth "
                   "(one id per object); a binary mask gives the pixel scores above.")

remember_page_settings()  # this page's settings come back when the visitor returns to it
