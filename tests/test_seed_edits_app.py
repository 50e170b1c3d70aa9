"""The Watershed page's seed edits: widgets and share links -> recipe -> objects, and what a click does.

Expected counts come from the library on the same image (``skimage.data.coins()``, the default sample):
24 coins; a seed added beside a coin's seed splits that coin (25), a removed seed removes that isolated coin (23).
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from app_helpers import assert_ok, captions, main_images, metrics, run, set_widget
from streamlit.testing.v1 import AppTest

import segmentation as seg

COINS = skimage.data.coins()


@pytest.fixture(scope="module")
def reference() -> seg.WatershedResult:
    return seg.watershed(COINS)


def _seed_centre(result: seg.WatershedResult, label: int) -> tuple[int, int]:
    row, col = np.argwhere(result.markers == label).mean(axis=0).round().astype(int)
    return int(row), int(col)


def test_typed_edits_reach_the_recipe(reference):
    row, col = _seed_centre(reference, 1)
    added = seg.watershed(COINS, add_seeds=((row, col + 6),))
    removed = seg.watershed(COINS, remove_seeds=((row, col),))
    assert (reference.count, added.count, removed.count) == (24, 25, 23)
    at = run("watershed")
    at = set_widget(at, "add_seeds", f"{row},{col + 6}")
    assert_ok(at)
    assert metrics(at)["Objects"] == str(added.count)
    at = set_widget(set_widget(at, "add_seeds", ""), "remove_seeds", f"{row},{col}")
    assert_ok(at)
    assert metrics(at)["Objects"] == str(removed.count)


def test_a_share_link_reopens_the_edits_in_editing_mode(reference):
    row, col = _seed_centre(reference, 5)
    expected = seg.watershed(COINS, add_seeds=((row, col + 6),), remove_seeds=(_seed_centre(reference, 1),))
    r1, c1 = _seed_centre(reference, 1)
    at = run("watershed", query={"add_seeds": f"{row},{col + 6}", "remove_seeds": f"{r1},{c1}",
                                 "edit_seeds": "true"})
    assert_ok(at)
    assert metrics(at)["Objects"] == str(expected.count) == "24"  # one split, one removed
    assert any(c.startswith("Click beside a seed to add one") and "(1 added, 1 removed)" in c
               for c in captions(at)), captions(at)
    assert len(main_images(at)) == 2  # labels and overlay beside the clickable seeds (a component)


def test_the_toggle_is_not_offered_for_seed_points():
    at = set_widget(run("watershed"), "seeds", "points")
    assert_ok(at)
    assert not [t for t in at.toggle if t.key == "edit_seeds"]


def _click_script():
    import numpy as np
    import streamlit as st

    from studio_ui import seeds_ui

    markers = np.zeros((50, 100), np.int32)
    markers[25, 20] = 1
    foreground = np.zeros((50, 100), bool)
    foreground[5:45, 5:95] = True
    click = st.session_state.pop("click", None)
    if click is not None:
        st.session_state["seed_edit_click"] = click
        seeds_ui._edit_click((100, 200), markers, foreground)  # the preview is half the full size
    st.text(st.session_state.get("add_seeds", ""))
    st.text(st.session_state.get("remove_seeds", ""))
    message = st.session_state.pop(seeds_ui.EDIT_MESSAGE_KEY, None)
    st.text(message[1] if message else "")


def _click(at: AppTest, x: float, y: float, width: int = 200, height: int = 100) -> tuple[str, str, str]:
    at.session_state["click"] = {"x": x, "y": y, "width": width, "height": height}
    at.run()
    assert not at.exception, at.exception
    return tuple(t.value for t in at.text)


def test_a_click_adds_removes_takes_back_or_says_why():
    at = AppTest.from_function(_click_script).run()
    # displayed at 200×100, twice the 100×50 preview: a display pixel is half a preview pixel
    add, remove, message = _click(at, 160, 50)  # far from the seed, in the foreground
    assert (add, remove) == ("50,160", "") and message.startswith("Added a seed at (50, 160)")
    add, remove, message = _click(at, 44, 54)  # 5 display px from the seed at preview (25, 20)
    assert (add, remove) == ("50,160", "51,41") and message.startswith("Removed the seed at (51, 41)")
    add, remove, message = _click(at, 44, 54)
    assert remove == "51,41" and message == "The seed at (51, 41) is already removed."
    add, remove, message = _click(at, 163, 52)  # on the added seed: taken back
    assert add == "" and message == "Took back the added seed at (50, 160)."
    add, remove, message = _click(at, 4, 4)  # on the background
    assert add == "" and "on the background" in message and "Nothing changed" in message
