"""The Compare page's columns: which recipes are compared, how each travels in the URL, and its page link.

A column is either one of the chosen thresholding *methods* (``?methods=otsu&methods=li``, sharing the
page's pre-processing and clean-up; each method's own parameters under ``?sauvola.window=31``: the links
made before any other kind of column existed) or a whole *recipe* of either kind, written compactly as
its kind followed by the recipe's flat form (the URL and command-line names, only the values that differ
from the library's defaults)::

    watershed seeds=h_maxima h=2
    watershed seeds=distance_peaks min_distance=12
    threshold method=otsu                       (Otsu + connected components)

Those texts are the items of one URL-bound multiselect (``?recipes=watershed+h%3D2&recipes=...``), which
also accepts a text typed or pasted in (a page's share link or its query string works too).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import segmentation as seg

from .page import sample_defaults

KINDS = {"threshold": seg.ThresholdRecipe, "watershed": seg.WatershedRecipe}
PAGE_OF = {"threshold": ("app.py", "Thresholding"), "watershed": ("pages/2_watershed.py", "Watershed")}

#: Recipes offered in the picker (any other text can be typed in).
PRESETS = (
    "watershed seeds=h_maxima h=1",
    "watershed seeds=h_maxima h=2",
    "watershed seeds=h_maxima h=3",
    "watershed seeds=distance_peaks",
    "watershed landscape=gradient",
    "threshold method=otsu",
)
_WATERSHED_NAMES = {spec.name for spec in seg.WatershedRecipe.specs()} | {
    alias for spec in seg.WatershedRecipe.specs() for alias in spec.aliases}


@dataclass(frozen=True)
class Column:
    """One compared recipe: its key (for widgets and tables), its label, and the recipe."""

    key: str
    label: str
    recipe: seg.ThresholdRecipe | seg.WatershedRecipe

    @property
    def kind(self) -> str:
        return self.recipe.kind


def _pairs(text: str) -> list[tuple[str, str]]:
    """``name=value`` pairs from "a=1 b=2", "a=1&b=2", "?a=1&b=2" or a whole link."""
    if "://" in text or text.startswith("/"):
        text = urlsplit(text).query
    text = text.lstrip("?")
    if "&" in text or "%" in text:
        return [(k, v) for k, v in parse_qsl(text, keep_blank_values=True)]
    pairs = []
    for word in text.split():
        name, sep, value = word.partition("=")
        if not sep:
            raise ValueError(f"“{word}” is not name=value (a recipe is its kind and name=value pairs, "
                             "e.g. “watershed seeds=h_maxima h=2”)")
        pairs.append((unquote_plus(name), unquote_plus(value)))
    return pairs


def parse_recipe(text: str) -> seg.ThresholdRecipe | seg.WatershedRecipe:
    """The recipe a column text names: "KIND name=value ..." (KIND optional: watershed names imply watershed).

    Raises ``ValueError`` in plain words (the parameter, its range and the value) for a bad text.
    """
    words = text.strip()
    kind = None
    head, _, rest = words.partition(" ")
    if head.lower() in KINDS:
        kind, words = head.lower(), rest
    flat = {}
    for name, value in _pairs(words):
        flat[name] = value
    if kind is None:
        kind = "watershed" if _WATERSHED_NAMES & set(flat) else "threshold"
    flat.pop("kind", None)
    try:
        return KINDS[kind].from_flat(flat)
    except ValueError as error:
        raise ValueError(f"{text.strip()}: {error}") from None


def recipe_text(recipe: seg.ThresholdRecipe | seg.WatershedRecipe) -> str:
    """The compact text of a recipe (its kind, then the values that differ from the library's defaults)."""
    flat = recipe.to_flat()
    return " ".join([recipe.kind, *(f"{name}={value}" for name, value in flat.items())])


def label_of(text: str) -> str:
    """A column's title: "Watershed · seeds=h_maxima h=2"."""
    head, _, rest = text.strip().partition(" ")
    if head.lower() in KINDS:
        return f"{head.capitalize()} · {rest.strip() or 'defaults'}"
    return f"Recipe · {text.strip()}"


def page_link_params(recipe, sample: str) -> dict[str, str]:
    """The URL parameters that open ``recipe`` on its own page with ``sample``.

    A page's defaults follow the sample (its suggested settings), so every value that differs from the
    defaults *that page* opens ``sample`` with is written, not only those that differ from the library's.
    """
    base = sample_defaults(type(recipe)(), sample)
    mine, theirs = recipe.to_flat(include_defaults=True), base.to_flat(include_defaults=True)
    params = {name: text for name, text in mine.items() if theirs.get(name) != text}
    if recipe.kind == "threshold" and recipe.method == "manual":
        params["value"] = mine["value"]  # the page's default manual value follows the image
    elif recipe.kind == "watershed" and recipe.foreground.method == "manual":
        params["value"] = mine["value"]
    return {"sample": sample, **params}


def open_target(recipe) -> tuple[str, str]:
    """(page file, page title) where a recipe of this kind opens."""
    return PAGE_OF[recipe.kind]
