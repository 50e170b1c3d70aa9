"""Page scaffolding shared by the three pages: config, navigation, image source, recipe sections."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import streamlit as st

from segmentation.samples import SAMPLES

from .source import CurrentImage, image_source

PAGES = (
    ("app.py", "Thresholding", ":material/contrast:"),
    ("pages/2_watershed.py", "Watershed", ":material/water_drop:"),
    ("pages/3_compare.py", "Compare", ":material/compare:"),
)


def start_page(title: str, *, default_sample: str, icon: str) -> CurrentImage:
    """Set up a page: config, navigation (carrying the sample to the other pages) and the image."""
    st.set_page_config(page_title=f"{title} · Segmentation Studio", page_icon=icon, layout="wide",
                       initial_sidebar_state="expanded")
    nav = st.sidebar.container()
    current = image_source(default_sample)
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


def sample_defaults(base, current: CurrentImage):
    """The recipe defaults for this page: the library's, adjusted by the sample's suggested settings.

    Defaults depend only on the sample named in the URL, so a shared link (which carries only the
    values that differ from the defaults) reopens the same recipe.
    """
    suggested = SAMPLES[current.sample].recipe
    best_for = SAMPLES[current.sample].best_for
    if suggested and best_for == base.kind:
        return type(base).from_flat({**base.to_flat(), **suggested})
    return base


@contextmanager
def plain_errors() -> Iterator[None]:
    """Show a library ``ValueError`` as a plain-words error box and keep the rest of the page working."""
    try:
        yield
    except ValueError as error:
        st.error(f"{error}", icon=":material/error:")
        st.stop()
