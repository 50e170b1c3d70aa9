"""Batch page: many images (or a zip) -> the recipe of a page or a file -> the command line's batch -> one zip."""

import tempfile
from pathlib import Path

import streamlit as st

import segmentation as seg
from segmentation import DEFAULT_SAMPLE_THRESHOLD, SAMPLES
from studio_ui import batch_ui
from studio_ui.page import PAGE_KEY, plain_errors, remember_page_settings, start_page

RESULT_KEY = "studio_batch_result"  # the last finished batch (kept across reruns, e.g. the download's)
RUNNING_KEY = "studio_batch_running"  # set by the button: the run that follows does the batch, button disabled
FAILURE_KEY = "studio_batch_failure"  # an error that stopped the last batch, shown after its rerun


def _start_batch() -> None:
    """The button's callback: the rerun it starts draws the button disabled (a second click would restart the
    batch from the beginning) and runs the batch."""
    st.session_state[RUNNING_KEY] = True


came_from = st.session_state.get(PAGE_KEY)  # the page the visitor tuned a recipe on (read before start_page)
current = start_page("Batch", default_sample=DEFAULT_SAMPLE_THRESHOLD, icon=":material/dynamic_feed:",
                     base=seg.ThresholdRecipe())
st.markdown("Segment many images with one recipe, as the command line does, and download every result in one zip.")
st.caption(batch_ui.limits_text())

# The recipe: a page's current settings (or its suggestion for the sample), or a recipe file.
if came_from != "Batch":  # arriving: the recipe of the page just tuned (a recipe file chosen before stays)
    st.session_state["batch_recipe_source"] = batch_ui.default_source(
        came_from, st.session_state.get("batch_recipe_source"))
source = st.radio("Recipe", batch_ui.SOURCES, horizontal=True, key="batch_recipe_source",
                  format_func=lambda s: s if s == "Recipe file" else f"From the {s} page",
                  help="The recipe set on that page in this session; a page not opened yet gives its suggested "
                       f"settings for the sample in the sidebar ({SAMPLES[current.sample].title}).")
recipe = None
with plain_errors(stop=False):
    if source == "Recipe file":
        upload = st.file_uploader("Recipe JSON (Export tab of a page, or a batch's recipe.json)", type=["json"],
                                  key="batch_recipe_file")
        if upload is not None:
            recipe = batch_ui.recipe_file(upload.getvalue())
    else:
        recipe = batch_ui.page_recipe(source, current.sample)
if recipe is not None:
    st.caption(batch_ui.recipe_words(recipe))

per_file = st.get_option("server.maxUploadSize")  # Streamlit refuses a bigger file before the app sees it
files = st.file_uploader("Images, or zips of images", accept_multiple_files=True, key="batch_files",
                         help="PNG, JPEG, TIFF, BMP, WebP or GIF files, or .zip files holding them (their "
                              "image files are taken, as from a folder).")
st.caption(batch_ui.upload_limit_text(per_file))
if files and (beyond := batch_ui.beyond_limits([(f.name, f.getvalue()) for f in files])):
    st.warning(beyond, icon=":material/warning:")  # before the run, not only in its summary
running = bool(st.session_state.get(RUNNING_KEY))
ready = bool(files) and recipe is not None
# keyed: one widget whether enabled or not (a new identity would leave the old button on screen during the run)
st.button("Run the batch", type="primary", disabled=not ready or running, on_click=_start_batch, key="batch_run",
          help="A batch is running." if running else None if ready else "Needs images and a recipe.")

failure = st.session_state.pop(FAILURE_KEY, None)
if failure is not None:  # the last batch stopped on an error: said in plain words after the rerun below
    with plain_errors(stop=False):
        raise failure

if running and ready:
    try:
        inputs = batch_ui.collect_uploads([(f.name, f.getvalue()) for f in files])
        bar = st.progress(0.0, text=f"0 of {len(inputs.images)} images")

        def on_row(done: int, total: int, row: dict) -> None:
            bar.progress(done / total, text=f"{done} of {total} images: {row['file']}")

        with tempfile.TemporaryDirectory(prefix="studio-batch-") as work:
            st.session_state[RESULT_KEY] = batch_ui.run(inputs, recipe, Path(work), on_row)
    except Exception as error:  # noqa: BLE001 - shown in plain words by plain_errors after the rerun
        st.session_state[FAILURE_KEY] = error
    finally:  # also when a widget's change stops this run: the button must not stay disabled
        st.session_state[RUNNING_KEY] = False
    st.rerun()  # the button enabled again, the new summary below it
elif running:  # the images or the recipe went away before the batch started
    st.session_state[RUNNING_KEY] = False
    st.rerun()

result = st.session_state.get(RESULT_KEY)
if result is not None:
    with plain_errors(stop=False):
        st.subheader("Summary")
        st.write(batch_ui.status_words(result))
        for note in result.notes:
            st.info(note, icon=":material/info:")
        table = batch_ui.summary_table(result)
        row_height = batch_ui.THUMBNAIL_SIDE  # the thumbnails at their own size (they were 40 px, unreadable)
        st.dataframe(table, hide_index=True, width="stretch", row_height=row_height,
                     height=batch_ui.table_height(len(table), row_height), column_config={
            "overlay": st.column_config.ImageColumn("Objects", help="Outlines over the image (the overlay file)"),
            "file": st.column_config.TextColumn("File"),
            "status": st.column_config.TextColumn("Status"),
            "objects": st.column_config.TextColumn("Count", alignment="right"),
            "threshold": st.column_config.TextColumn("Threshold", help="In the image's own units"),
            "foreground": st.column_config.TextColumn("Foreground"),
            "flags": st.column_config.TextColumn("Flags", width="large", help="Threshold, foreground or count "
                                                 "far (3 scaled MADs) from the batch's median"),
            "message": st.column_config.TextColumn("Message", width="large"),
        })
        problems = batch_ui.problem_lines(table)
        if problems:  # in full: a cell cuts a sentence off ("threshold 14512 far from the med…")
            with st.expander(f"Messages and flags ({len(problems)})", expanded=True):
                st.markdown("\n".join(problems))
        st.download_button("Download every result (zip)", result.zip_bytes, file_name=batch_ui.ZIP_NAME,
                           mime="application/zip", icon=":material/download:", key="batch_download",
                           on_click="ignore",
                           help="Per image: mask, labels (watershed), overlay and measurements CSV; summary.csv "
                                "and recipe.json for the batch (python -m segmentation apply --recipe "
                                "recipe.json repeats it).")

remember_page_settings()
