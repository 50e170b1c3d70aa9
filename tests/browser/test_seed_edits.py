"""Editing the automatic watershed seeds by clicking, in a real browser, and the share link on a fresh server.

Expected counts come from the library run on the recipe the URL carries (``skimage.data.coins()``: 24 coins).
"""

from __future__ import annotations

import numpy as np

import segmentation as seg
from segmentation import load_sample

from .conftest import assert_no_exception, wait_idle
from .test_browser import metrics, open_page, query


def _centre(result: seg.WatershedResult, label: int) -> tuple[float, float]:
    row, col = np.argwhere(result.markers == label).mean(axis=0)
    return float(row), float(col)


def _recipe_of(page) -> seg.WatershedRecipe:
    return seg.WatershedRecipe.from_flat({key: values[0] for key, values in query(page).items()})


def test_clicks_split_and_merge_and_the_link_reopens_them(server, server_factory, page):
    coins = load_sample("coins")
    reference = seg.watershed(coins)
    height, width = reference.labels.shape
    open_page(page, server.base_url + "/watershed?sample=coins&edit_seeds=true")
    assert metrics(page)["Objects"] == "24"
    frame = page.locator("iframe").first  # the seeds image (streamlit-image-coordinates)
    box = frame.bounding_box()

    def click(row: float, col: float) -> None:
        page.mouse.click(box["x"] + box["width"] * (col + 0.5) / width,
                         box["y"] + box["height"] * (row + 0.5) / height)

    # Beside coin 1's seed (12 px away, beyond the 8 px that count as "on the seed"): a new seed splits it.
    row, col = _centre(reference, 1)
    click(row, col + 12)
    page.wait_for_function("() => new URL(location.href).searchParams.get('add_seeds')")
    wait_idle(page)
    recipe = _recipe_of(page)
    assert len(recipe.add_seeds) == 1 and abs(recipe.add_seeds[0][1] - (col + 12)) <= 2
    assert metrics(page)["Objects"] == str(seg.watershed(coins, recipe).count) == "25"

    # On coin 5's seed: it is removed, and that isolated coin goes with it.
    row, col = _centre(reference, 5)
    click(row, col)
    page.wait_for_function("() => new URL(location.href).searchParams.get('remove_seeds')")
    wait_idle(page)
    recipe = _recipe_of(page)
    edited = seg.watershed(coins, recipe)
    assert edited.notes == () and metrics(page)["Objects"] == str(edited.count) == "24"

    # On the background: nothing changes, and the page says why.
    click(2, 2)
    wait_idle(page)
    assert page.get_by_text("is on the background").count() == 1
    assert _recipe_of(page) == recipe
    assert_no_exception(page)

    # The share link on a freshly started server reopens the edited result.
    link = page.url
    fresh = server_factory()
    page.goto(link.replace(server.base_url, fresh.base_url))
    wait_idle(page)
    assert _recipe_of(page) == recipe
    assert metrics(page)["Objects"] == str(edited.count)
    assert_no_exception(page)


def test_merge_two_objects_and_split_one_by_clicking(server, page):
    coins = load_sample("coins")
    reference = seg.watershed(coins)
    height, width = reference.labels.shape
    open_page(page, server.base_url + "/watershed?sample=coins&edit_seeds=true")
    frame = page.locator("iframe").first
    box = frame.bounding_box()

    def click(row: float, col: float) -> None:
        page.mouse.click(box["x"] + box["width"] * (col + 0.5) / width,
                         box["y"] + box["height"] * (row + 0.5) / height)

    page.locator("[data-testid=stButtonGroup] button", has_text="Merge").click()
    wait_idle(page)
    click(*_centre(reference, 2))
    wait_idle(page)
    assert page.get_by_text("now click the object to merge it with").count() == 1
    click(*_centre(reference, 3))
    page.wait_for_function("() => new URL(location.href).searchParams.get('merge_points')")
    wait_idle(page)
    recipe = _recipe_of(page)
    assert len(recipe.merge_points) == 2
    merged = seg.watershed(coins, recipe)
    assert metrics(page)["Objects"] == str(merged.count) == "23"

    page.locator("[data-testid=stButtonGroup] button", has_text="Split").click()
    wait_idle(page)
    click(*_centre(reference, 6))
    page.wait_for_function("() => new URL(location.href).searchParams.get('split_points')")
    wait_idle(page)
    recipe = _recipe_of(page)
    split = seg.watershed(coins, recipe)
    assert len(recipe.split_points) == 1 and metrics(page)["Objects"] == str(split.count) == "24"
    page.get_by_role("button", name="Undo last edit").click()
    page.wait_for_function("() => !new URL(location.href).searchParams.get('split_points')")
    wait_idle(page)
    assert metrics(page)["Objects"] == "23"
    assert_no_exception(page)
