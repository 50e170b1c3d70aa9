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
    assert any(c.startswith("Click beside a seed to add one") and "(1 added, 1 removed, 0 merged, 0 split)" in c
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


def _object_click_script():
    import numpy as np
    import streamlit as st

    from studio_ui import seeds_ui

    labels = np.zeros((50, 100), np.int32)
    labels[5:45, 5:45], labels[5:45, 55:95] = 1, 2
    st.session_state[seeds_ui._MODE_KEY] = st.session_state.get("mode", "seeds")
    click = st.session_state.pop("click", None)
    if click is not None:
        st.session_state["seed_edit_click"] = click
        seeds_ui._edit_click((100, 200), (labels > 0).astype(np.int32), labels > 0, labels)
    if st.session_state.pop("undo", False):
        seeds_ui._undo_edit()
    st.text(st.session_state.get("merge_points", ""))
    st.text(st.session_state.get("split_points", ""))
    message = st.session_state.pop(seeds_ui.EDIT_MESSAGE_KEY, None)
    st.text(message[1] if message else "")


def test_merge_takes_two_clicks_split_one_and_undo_goes_back_in_order():
    at = AppTest.from_function(_object_click_script)
    at.session_state["mode"] = "merge"
    at.run()
    merge, split, message = _click(at, 40, 50)  # preview (25, 20) on object 1 -> full (50, 40)
    assert merge == "" and "now click the object to merge it with" in message
    merge, split, message = _click(at, 60, 50)  # object 1 again
    assert merge == "" and "same object" in message
    merge, split, message = _click(at, 40, 50)
    merge, split, message = _click(at, 150, 50)  # object 2
    assert merge == "50,40;50,150" and message == "Merged the objects at (50, 40) and (50, 150)."
    at.session_state["mode"] = "split"
    merge, split, message = _click(at, 100, 50)  # the gap between the objects
    assert split == "" and "on the background" in message
    merge, split, message = _click(at, 30, 30)
    assert split == "30,30" and message.startswith("Split the object at (30, 30)")
    at.session_state["undo"] = True
    merge, split, _ = _click(at, 100, 50)  # (a background click, then the undo): the split goes first
    assert (merge, split) == ("50,40;50,150", "")
    at.session_state["undo"] = True
    merge, split, _ = _click(at, 100, 50)
    assert (merge, split) == ("", "")  # a merge is undone as its pair


def test_merge_and_split_links_open_the_library_result(reference):
    first, second = _seed_centre(reference, 1), _seed_centre(reference, 2)
    third = _seed_centre(reference, 3)
    expected = seg.watershed(COINS, merge_points=(first, second), split_points=(third,))
    assert expected.count == reference.count - 1 + 1
    assert expected.labels[first] == expected.labels[second] != 0
    assert expected.labels[third] != 0 and len(np.unique(expected.labels[reference.labels == 3])) == 2
    query = {"merge_points": f"{first[0]},{first[1]};{second[0]},{second[1]}",
             "split_points": f"{third[0]},{third[1]}", "edit_seeds": "true"}
    at = run("watershed", query=query)
    assert_ok(at)
    assert metrics(at)["Objects"] == str(expected.count)
    assert any("(0 added, 0 removed, 1 merged, 1 split)" in c for c in captions(at)), captions(at)


def test_a_link_point_outside_the_image_is_left_out_with_a_notice_and_the_page_works(reference):
    """Issue 15's trial: ``?add_seeds=99999999,99999999`` stopped the page with the library's refusal (naming the
    preview's size), no views and no metrics. The point is left out, said; the rest of the link still applies."""
    row, col = _seed_centre(reference, 1)
    at = run("watershed", query={"add_seeds": f"99999999,99999999;{row},{col + 6}", "merge_points": "5,5;2,400"})
    assert_ok(at)
    assert metrics(at)["Objects"] == str(seg.watershed(COINS, add_seeds=((row, col + 6),)).count) == "25"
    warnings = [w.value for w in at.warning]
    assert any("(99999999, 99999999)" in w and f"{COINS.shape[1]}×{COINS.shape[0]}" in w and "merge_points" in w
               and "(2, 400)" in w for w in warnings), warnings
    assert not at.error


def test_an_odd_number_of_merge_points_in_a_link_keeps_the_pairs_and_the_page(reference):
    """Issue 15's second trial: ``merge_points=a;b;c`` stopped the page ("must come in pairs"). The pair a, b is
    merged as the library merges it; c, which has no pair, is left out and named."""
    a, b = _seed_centre(reference, 1), _seed_centre(reference, 2)
    expected = seg.watershed(COINS, merge_points=(a, b))
    assert expected.count == reference.count - 1
    at = run("watershed", query={"merge_points": f"{a[0]},{a[1]};{b[0]},{b[1]};200,200"})
    assert_ok(at)
    assert metrics(at)["Objects"] == str(expected.count)
    assert [w.value for w in at.warning] == [
        f"Left out of the recipe, in this {COINS.shape[1]}×{COINS.shape[0]} image (points are row, col in image "
        "pixels; a merge pair goes whole): merge_points' last point (200, 200), which has no pair to merge with."]


def test_bad_point_text_in_a_link_is_said_once_under_its_box():
    """Said twice before (the box's own error and the page's link notice): the box says it, as long as it holds it."""
    at = run("watershed", query={"remove_seeds": "-5,-5"})
    assert not at.exception and metrics(at)["Objects"] == "24"
    said = [e.value for e in at.error] + [w.value for w in at.warning]
    assert len(said) == 1 and said[0].startswith("remove_seeds (removed seeds (row,col;...)) must be"), said
