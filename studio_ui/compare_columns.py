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

import difflib
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote_plus, urlsplit

import streamlit as st

import segmentation as seg

from .microscopy import FILE_PARAMS
from .page import PAGE_SWITCH_KEY, STORE_KEY, sample_defaults
from .widgets import placed_params

KINDS = {"threshold": seg.ThresholdRecipe, "watershed": seg.WatershedRecipe}
PAGE_OF = {"threshold": ("app.py", "Thresholding"), "watershed": ("pages/2_watershed.py", "Watershed")}
#: The sample whose suggested settings a page's defaults follow while it shows an upload (its default sample).
UPLOAD_DEFAULTS_OF = {"threshold": seg.DEFAULT_SAMPLE_THRESHOLD, "watershed": seg.DEFAULT_SAMPLE_WATERSHED}

#: Recipes offered in the picker (any other text can be typed in).
PRESETS = (
    "watershed seeds=h_maxima h=1",
    "watershed seeds=h_maxima h=2",
    "watershed seeds=h_maxima h=3",
    "watershed seeds=distance_peaks",
    "watershed landscape=gradient",
    "threshold method=otsu",
)


def _names(*classes) -> list[str]:
    """The parameter names (and their earlier names, still read) of recipes of these classes."""
    specs = [spec for cls in classes for spec in cls.specs()]
    return [spec.name for spec in specs] + [alias for spec in specs for alias in spec.aliases]


_WATERSHED_NAMES = set(_names(seg.WatershedRecipe))
#: The names a column text of each kind takes (a watershed's foreground takes the thresholding names).
KNOWN_NAMES = {"threshold": _names(seg.ThresholdRecipe), "watershed": _names(seg.WatershedRecipe, seg.ThresholdRecipe)}
#: Seeds a column cannot have: placed by hand on the Watershed page, or a marker image from the Python API.
HAND_SEEDS = ("points", "marker_image")


@dataclass(frozen=True)
class Column:
    """One compared recipe: its key (for widgets and tables), its label, and the recipe."""

    key: str
    label: str
    recipe: seg.ThresholdRecipe | seg.WatershedRecipe

    @property
    def kind(self) -> str:
        return self.recipe.kind


def is_link(text: str) -> bool:
    """Whether a column text is a page's link or query string (rather than "kind name=value ...")."""
    text = text.strip()
    return "://" in text or text.startswith(("/", "?")) or "&" in text


def _unknown(name: str, kind: str, inferred: bool) -> str:
    """A plain message for a name that is not a parameter of ``kind``, with the closest known name."""
    close = difflib.get_close_matches(name, KNOWN_NAMES[kind], n=1, cutoff=0.5)
    if close:
        return f"{name} is not a {kind} parameter; did you mean {close[0]}?"
    other = "watershed" if kind == "threshold" else None
    close = difflib.get_close_matches(name, KNOWN_NAMES[other], n=1, cutoff=0.5) if other and inferred else []
    if close:
        return (f"{name} is not a {kind} parameter; did you mean {close[0]} (a watershed parameter: write "
                f"“watershed {close[0]}=…”)?")
    return f"{name} is not a {kind} parameter (its parameters: {', '.join(KNOWN_NAMES[kind][:12])}, …)"


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

    Raises ``ValueError`` in plain words (the parameter, its range and the value) for a bad text: a name that
    is no parameter of the recipe (with the closest one: "hh is not a watershed parameter; did you mean h?"),
    a bad value, or seeds that a column cannot have (placed by hand, a marker image). A page's link carries
    other things too (the sample, the display): there only the recipe's names are read.
    """
    words = text.strip()
    link = is_link(words)
    kind = None
    head, _, rest = words.partition(" ")
    if head.lower() in KINDS:
        kind, words = head.lower(), rest
    flat = {}
    for name, value in _pairs(words):
        flat[name] = value
    if kind is None and link and urlsplit(words).path.rstrip("/").endswith("/watershed"):
        kind = "watershed"  # the Watershed page's link, even with all its defaults
    inferred = kind is None
    if kind is None:
        kind = flat.get("kind") if flat.get("kind") in KINDS else (
            "watershed" if _WATERSHED_NAMES & set(flat) else "threshold")
    flat.pop("kind", None)
    known = set(KNOWN_NAMES[kind])
    if link:  # (its version, ``v``, changes only what a file is read with: a column works on the page's image)
        flat = {name: value for name, value in flat.items() if name in known}
    for name in flat:
        if name not in known:
            raise ValueError(f"{text.strip()}: {_unknown(name, kind, inferred)}")
    try:
        recipe = KINDS[kind].from_flat(flat)
    except ValueError as error:
        raise ValueError(f"{text.strip()}: {error}") from None
    if recipe.kind == "watershed" and recipe.seeds in HAND_SEEDS:
        raise ValueError(f"{text.strip()}: seeds={recipe.seeds} needs seeds placed by hand or a marker image, "
                         "which only the Watershed page (points) or the Python API (marker image) takes, not a "
                         "Compare column")
    return recipe


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
    return {"sample": sample, **params, "v": str(seg.RECIPE_VERSION)}  # the recipe version the link is read with


def open_target(recipe) -> tuple[str, str]:
    """(page file, page title) where a recipe of this kind opens."""
    return PAGE_OF[recipe.kind]


def with_page_selection(recipe):
    """``recipe`` reading what this page shows of the file: the channel, projection, plane, ... chosen next to
    the image (every column ran on that selection, whatever its own text says)."""
    selection = {name: value for name, value in placed_params().items() if name in FILE_PARAMS}
    if not selection:
        return recipe
    if recipe.kind == "watershed":
        return recipe.replace(foreground=recipe.foreground.replace(**selection))
    return recipe.replace(**selection)


def upload_link_params(recipe) -> dict[str, str]:
    """The URL parameters that open ``recipe`` on its own page while that page shows the session's upload.

    No ``sample`` (it would switch the page to that sample); the values are those that differ from what the
    page opens an upload with (its default sample's suggested settings).
    """
    params = page_link_params(recipe, UPLOAD_DEFAULTS_OF[recipe.kind])
    del params["sample"]
    return params


def open_in(container, recipe, *, sample: str | None, key: str, label: str = "Open in") -> None:
    """"Open in Thresholding/Watershed": the recipe on its own page, on the image this page shows.

    On a sample (``sample`` its name) a page link, which a new tab opens too. On an upload (``sample`` None) a
    button: an upload lives in this browser session only and is never put in a link, so the page opens in this
    tab, on the upload, with exactly the recipe (a page link would carry the sample a link falls back to).
    """
    recipe = with_page_selection(recipe)
    page, title = open_target(recipe)
    if sample is not None:
        container.page_link(page, label=f"{label} {title}", icon=":material/open_in_new:",
                            query_params=page_link_params(recipe, sample))
        return
    if container.button(f"{label} {title}", key=PAGE_SWITCH_KEY + key, icon=":material/open_in_new:",
                        help=f"Opens this recipe on the {title} page with your upload, in this tab: an upload stays "
                             "in this browser session and is never put in a link."):
        # Exactly this recipe: not the settings that page last had in this session (kept for a plain visit).
        st.session_state.get(STORE_KEY, {}).pop(title, None)
        st.switch_page(page, query_params=upload_link_params(recipe))
