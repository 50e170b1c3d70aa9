"""Tune one compared recipe to the uploaded truth: the CLI's ``tune`` search, run here with progress and a stop button.

The search is :func:`segmentation.batch.search` (the seeded random search of ``python -m segmentation tune``:
the start recipe first, then draws over the ranges of the recipe's specs), on the full-resolution image and
truth, so its scores are exact. Every finished evaluation is kept in the session, so pressing *Stop* (which
ends the running script) keeps the best recipe found so far.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

import segmentation as seg
from segmentation.batch import best_row, search

from .compare_columns import open_in, recipe_text

#: The last search, kept for the session: ``studio_`` keys survive page switches (studio_ui.source
#: forget_widget_values), so "Open the best recipe in Watershed" and Back still shows it.
#: {"recipes": [recipe JSON, in evaluation order], "rows": [...], "total": n, "truth": digest}
STATE = "studio_compare_tune"
#: The search table's columns as the page shows them (the CSV of ``tune`` keeps the library's names).
SHOWN = {"evaluation": "evaluation", "f1_iou50": "F1@0.5", "mean_ap": "mean AP 0.5–0.95", "seconds": "time (s)",
         "failed_images": "failed images", "message": "message", "recipe": "recipe"}


def _add_column(text: str) -> None:
    chosen = list(st.session_state.get("recipes") or [])
    if text not in chosen:
        st.session_state["recipes"] = chosen + [text]


def tune_section(columns: list, truth, image, sample: str | None, best: str | None = None) -> None:
    """Pick a column, a budget and a seed; run the search with a progress bar; show and offer the best recipe."""
    st.subheader("Tune a recipe to this truth")
    by_key = {c.key: c for c in columns}
    c1, c2, c3 = st.columns([3, 1, 1])
    keys = list(by_key)
    key = c1.selectbox("Recipe to start from", keys, index=keys.index(best) if best in by_key else 0,
                       format_func=lambda k: by_key[k].label,
                       key="tune_column", help="Its parameters are searched (the ranges of `python -m segmentation "
                                               "tune`); the start recipe itself is evaluation 0.")
    budget = c2.number_input("Evaluations", 2, 500, 24, step=1, key="tune_budget",
                             help="How many recipes are tried (about 0.2 s each on a 768×768 image).")
    seed = c3.number_input("Seed", 0, 2**31 - 1, 0, step=1, key="tune_seed",
                           help="The same seed, start recipe and budget always try the same recipes.")
    if key is None:
        return
    start = by_key[key].recipe
    run = st.button("Tune", key="tune_start", icon=":material/tune:", type="primary",
                    help="Maximises the object F1 at IoU 0.5 against the uploaded truth, at full resolution.")
    if run:
        _run(start, truth, image, int(budget), int(seed))
    _show(st.session_state.get(STATE), truth, sample)


def _run(start, truth, image, budget: int, seed: int) -> None:
    # The recipes are drawn first (seeded, no evaluation) and kept, so a stopped search can still name its best.
    drawn, _, _ = search(start, [], budget, seed, keep_going=lambda: False)
    state = {"rows": [], "recipes": [r.to_json() for r in drawn], "total": len(drawn), "truth": truth.digest}
    st.session_state[STATE] = state
    st.button("Stop", key="tune_stop", icon=":material/stop:",
              help="Ends the search; the best recipe found so far is kept.")
    bar = st.progress(0.0, text="Tuning…")

    def on_row(row: dict, done: int, total: int) -> None:
        state["rows"].append(row)
        best = best_row(state["rows"])
        bar.progress(done / total, text=f"{done} of {total} recipes · best F1@0.5 {best['f1_iou50']:.3f}")

    search(start, [("image", image, truth.labels)], budget, seed, on_row=on_row)
    bar.empty()


def search_table(state: dict) -> pd.DataFrame:
    """The evaluations, best first, under the names the page shows; columns with nothing in them are left out."""
    frame = pd.DataFrame([{**row, "recipe": recipe_text(seg.recipe_from_json(state["recipes"][row["evaluation"]]))}
                          for row in state["rows"]])
    frame = frame.sort_values(["f1_iou50", "mean_ap"], ascending=False)
    if "message" in frame and not frame["message"].astype(str).str.strip().any():
        frame = frame.drop(columns="message")
    return frame.rename(columns=SHOWN).set_index("evaluation")


def _show(state: dict | None, truth, sample: str | None) -> None:
    if not state or not state["rows"]:
        return
    if state.get("truth") != truth.digest:
        st.caption("The last search was on another truth file; run it again for this one.")
        return
    rows = state["rows"]
    best = best_row(rows)
    first = next((r for r in rows if r["evaluation"] == 0), None)
    recipe = seg.recipe_from_json(state["recipes"][best["evaluation"]])
    done = f"{len(rows)} of {state['total']} evaluations" + (" (stopped)" if len(rows) < state["total"] else "")
    versus = f" (start recipe {first['f1_iou50']:.3f})" if first else ""
    st.success(f"{done}. Best: evaluation {best['evaluation']}, F1@0.5 **{best['f1_iou50']:.3f}**{versus}, mean AP "
               f"0.5–0.95 {best['mean_ap']:.3f}, at full resolution.", icon=":material/emoji_events:")
    text = recipe_text(recipe)
    st.code(text, language=None)
    # One row, both actions the same height on one line (a page link and a button side by side in columns
    # sat at different heights).
    actions = st.container(horizontal=True, gap="small", vertical_alignment="center")
    open_in(actions, recipe, sample=sample, key="tune_open", label="Open the best recipe in")
    actions.button("Add it as a column", key="tune_add", on_click=_add_column, args=(text,), icon=":material/add:")
    st.dataframe(search_table(state), width="stretch", height=220, key="tune_table",
                 column_config={"mean AP 0.5–0.95": st.column_config.NumberColumn(format="%.3f"),
                                "F1@0.5": st.column_config.NumberColumn(format="%.3f"),
                                "time (s)": st.column_config.NumberColumn(format="%.2f")})
    st.caption("Tuned and scored on this one image: a recipe fitted to one image can do worse on others. To tune on "
               "several annotated images and check on held-out ones, use `python -m segmentation tune`.")
