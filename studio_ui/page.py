"""Page scaffolding shared by the three pages: config, navigation, image source, recipe sections."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import streamlit as st

import segmentation as seg
from segmentation import SAMPLES

from .source import CurrentImage, forget_widget_values, image_source

_LOG = logging.getLogger(__name__)

PAGES = (
    ("app.py", "Thresholding", ":material/contrast:"),
    ("pages/2_watershed.py", "Watershed", ":material/water_drop:"),
    ("pages/3_compare.py", "Compare", ":material/compare:"),
)


def _forget_other_pages_widgets(title: str) -> None:
    """On arriving from another page, drop that page's widget values.

    The pages share parameter names (a watershed's foreground uses the thresholding names), and Streamlit
    keeps a widget's value under its key when the user follows a page link, so without this the watershed
    page would open with the thresholding page's clean-up instead of its own defaults.
    """
    previous = st.session_state.get("studio_page")
    if previous is not None and previous != title:
        forget_widget_values()
    st.session_state["studio_page"] = title


def _honour_earlier_names() -> None:
    """Honour a parameter given under an earlier name (a ParamSpec alias) in the URL.

    A share link made before a rename opens the same view: the value goes into the widget of the parameter's
    current name (through its state, as a sample's settings do; a bound widget's own URL key cannot be
    written) and the earlier name leaves the address bar. A bad value is dropped, like any bad URL value.
    """
    for spec in seg.ThresholdRecipe.specs() + seg.WatershedRecipe.specs():
        for alias in spec.aliases:
            if alias not in st.query_params:
                continue
            text = st.query_params[alias]
            del st.query_params[alias]
            if spec.name in st.query_params:
                continue  # the current name wins
            try:
                st.session_state[spec.name] = _widget_state(spec, spec.from_text(text))
            except ValueError:
                pass


def start_page(title: str, *, default_sample: str, icon: str, base) -> CurrentImage:
    """Set up a page: config, navigation (carrying the sample to the other pages) and the image.

    ``base`` is the page's default recipe; picking another sample puts that sample's suggested settings
    into the widgets, exactly what a link naming the sample opens with.
    """
    st.set_page_config(page_title=f"{title} · Segmentation Studio", page_icon=icon, layout="wide",
                       initial_sidebar_state="expanded")
    _forget_other_pages_widgets(title)
    _honour_earlier_names()
    nav = st.sidebar.container()
    current = image_source(default_sample, on_sample_change=lambda name: apply_settings(
        settings_items(sample_defaults(base, name))))
    with nav:
        st.markdown("### Segmentation Studio")
        for path, label, page_icon in PAGES:
            st.page_link(path, label=label, icon=page_icon, query_params={"sample": current.sample})
        st.divider()
    st.title(title)
    st.caption(current.description + ("" if not current.info.notes else " · " + "; ".join(current.info.notes)))
    return current


def recipe_sections(method_title: str = "Method") -> dict[str, object]:
    """Sidebar sections the recipe widgets are drawn into, keyed by parameter group."""
    sidebar = st.sidebar
    sidebar.subheader(method_title)
    method = sidebar.container()
    return {
        "Method": method,
        "Pre-processing": sidebar.expander("Pre-processing"),
        "Clean-up": sidebar.expander("Clean-up"),
    }


def _widget_state(spec, value):
    """A recipe value in the form its widget holds it."""
    if spec.kind == "int_tuple":
        return list(value)
    if spec.kind == "points":
        return spec.to_text(value)
    return value


def settings_items(recipe) -> list[tuple]:
    """(spec, value) for every widget-driven parameter of a recipe (the manual value follows the image)."""
    items = [(spec, getattr(recipe, spec.name)) for spec in recipe.specs() if spec.name != "value"]
    if recipe.kind == "watershed":
        items += [(spec, getattr(recipe.foreground, spec.name)) for spec in recipe.foreground.specs()
                  if spec.name != "value"]
    return items


def apply_settings(items: list[tuple]) -> None:
    """Put values into the widgets (through their state, so the screen and the URL follow)."""
    for spec, value in items:
        st.session_state[spec.name] = _widget_state(spec, value)


def suggested_settings_button(recipe, current: CurrentImage) -> None:
    """A button that puts the sample's suggested settings (the ones a fresh link opens with) in the widgets."""
    if current.is_upload:
        return
    st.sidebar.button(f"Reset to the settings suggested for {SAMPLES[current.sample].title}",
                      on_click=apply_settings, args=(settings_items(recipe),), width="stretch",
                      help="Puts back the parameters a fresh link to this sample opens with.")


def sample_defaults(base, sample: str):
    """The recipe defaults for this page: the library's, adjusted by the sample's suggested settings.

    Defaults depend only on the sample named in the URL, so a shared link (which carries only the
    values that differ from the defaults) reopens the same recipe.
    """
    suggested = SAMPLES[sample].recipe
    best_for = SAMPLES[sample].best_for
    if suggested and best_for == base.kind:
        return type(base).from_flat({**base.to_flat(), **suggested})
    return base


@contextmanager
def plain_errors(stop: bool = True) -> Iterator[None]:
    """Show a failure as a plain-words error box and keep the rest of the page (the sidebar) working.

    A library ``ValueError`` already says in plain words what is wrong with the image or a parameter. Any
    other exception is a fault, not the visitor's: it is logged with its traceback and shown briefly, never
    as Streamlit's error screen. With ``stop`` (the default) the script ends there, so nothing below runs
    on a result that does not exist.
    """
    try:
        yield
    except ValueError as error:
        st.error(f"{error}", icon=":material/error:")
    except Exception as error:  # noqa: BLE001 - a visitor's image or link must never show the error screen
        _LOG.exception("unexpected error while computing a view")
        detail = f": {error}" if str(error) else ""
        st.error(f"This could not be computed ({type(error).__name__}{detail}). Other settings or another image "
                 "may work.", icon=":material/error:")
    else:
        return
    if stop:
        st.stop()
