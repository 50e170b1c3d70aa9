"""Page scaffolding shared by the three pages: config, navigation, image source, recipe sections."""

from __future__ import annotations

import copy
import html
import json
import logging
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import parse_qs, urlencode

import streamlit as st
from streamlit.errors import StreamlitAPIException
from streamlit.runtime.scriptrunner import get_script_run_ctx
from streamlit.runtime.state import get_session_state
from streamlit.runtime.state.query_params import _coerce_value_for_query_url as coerce_value_for_query_url

import segmentation as seg
from segmentation import SAMPLES

from .source import FILE_SELECTION_KEYS, SHARED_KEYS, CurrentImage, forget_widget_values, image_source, upload_marker
from .widgets import LINK_PROBLEMS_KEY, arriving_at_page

_LOG = logging.getLogger(__name__)

PAGES = (
    ("app.py", "Thresholding", ":material/contrast:"),
    ("pages/2_watershed.py", "Watershed", ":material/water_drop:"),
    ("pages/3_compare.py", "Compare", ":material/compare:"),
    ("pages/4_batch.py", "Batch", ":material/dynamic_feed:"),
)


#: Session keys of the per-page store: the page the last run drew, and each page's widget values.
PAGE_KEY = "studio_page"
STORE_KEY = "studio_page_settings"
BOUND_KEY = "studio_bound_values"  # the URL-bound widget values as the page's last run ended
CHANGED_KEY = "studio_changed_this_run"  # those the visitor changed since
HELD_KEY = "studio_held_address"  # the address a session opened with and the one its first run meant
#: The key of a button that switches pages (``st.switch_page``) starts with this: the page's script treats its
#: click as a page link's (:data:`_HISTORY_JS`), so the page left keeps its own history entry.
PAGE_SWITCH_KEY = "page_switch_"

#: Widget value types the store keeps. A button's trigger, an uploaded file or a component's value cannot be put
#: back through ``st.session_state`` (Streamlit refuses a button's or an uploader's value set that way).
_RESTORABLE = {"bool_value", "int_value", "double_value", "string_value", "string_array_value",
               "double_array_value", "int_array_value"}


def _widget_metadata(key: str):
    """Streamlit's metadata of the widget last drawn under ``key`` (None for a plain session value).

    Read through the session's state object (``SessionState.get_widget_id_from_key`` and
    ``get_widget_metadata``, Streamlit 1.67): the public ``st.session_state`` does not say which keys are
    widgets, nor of which kind.
    """
    try:
        state = get_session_state()._state
        widget_id = state.get_widget_id_from_key(key)
        return state.get_widget_metadata(widget_id) if widget_id else None
    except (AttributeError, KeyError):  # pragma: no cover - a Streamlit without these accessors keeps nothing
        return None


def _url_text(key: str, value, metadata) -> str | list[str] | None:
    """What a URL-bound widget writes to the address bar for ``value`` (None: nothing, e.g. its default)."""
    if metadata is None or metadata.bind != "query-params":
        return None
    try:
        if value == metadata.deserializer(None):
            return None
        return coerce_value_for_query_url(metadata.serializer(value), metadata.value_type)
    except Exception:  # noqa: BLE001 - a value Streamlit cannot write stays out of the address bar
        _LOG.debug("the value of %s has no URL form", key, exc_info=True)
        return None


def page_widget_values() -> dict[str, dict]:
    """The page's restorable widget values now, and the URL text of the bound ones.

    ``{"values": {key: value}, "url": {key: text}}``, without the shared keys (image source, display), which
    every page shows alike. The URL text is taken now, while the widgets' metadata is at hand (Streamlit drops
    it when a page switch ends the widgets).
    """
    values, url = {}, {}
    for key in list(st.session_state):
        if key in SHARED_KEYS or str(key).startswith("studio_"):
            continue
        metadata = _widget_metadata(key)
        if metadata is None or metadata.value_type not in _RESTORABLE:
            continue
        values[key] = copy.deepcopy(st.session_state[key])
        text = _url_text(key, values[key], metadata)
        if text is not None:
            url[key] = text
    return {"values": values, "url": url}


def keep_page_settings(title: str) -> None:
    """Each page keeps its own settings for the session: leaving a page and coming back restores them.

    The pages share parameter names (a watershed's foreground uses the thresholding names), and on a page
    switch Streamlit either drops the previous page's widget values or (from the entry script's page) carries
    them over under the same keys. So each page's widget values are stored under the page's title at the start
    of every run on that page (callbacks have run) and as a run ends (:func:`remember_page_settings`). On
    arriving at a page, whatever the previous page left is dropped and the page's stored values are put back,
    except those the URL names (a link, or Back to an address that holds them, wins). Generic: any widget with
    a ``key`` on any page is kept this way, with no page-specific code.
    """
    previous = st.session_state.get(PAGE_KEY)
    store = st.session_state.setdefault(STORE_KEY, {})
    st.session_state[CHANGED_KEY] = set()
    if previous == title:
        _store_page_settings()
        before, now = st.session_state.get(BOUND_KEY, {}), _bound_values()
        st.session_state[CHANGED_KEY] = {key for key in now if key not in before or before[key] != now[key]}
    elif previous is not None:
        forget_widget_values()
        back = _address_decides()
        if not back:
            _keep_the_links_sample()
        arriving_at_page(title, back=back)
        stored = store.get(title) or {"values": {}, "url": {}}
        if not back:
            stored = _with_the_images_selection(stored, store.get(previous))
        restored = [key for key in stored["values"] if key not in st.query_params]
        for key in restored:
            st.session_state[key] = copy.deepcopy(stored["values"][key])
        if not back:
            _show_in_address_bar({key: stored["url"][key] for key in restored if key in stored["url"]})
    st.session_state[PAGE_KEY] = title


#: Widget keys of what is read of the image (the file's series, pages, channel, projection, plane, time point):
#: they belong to the image, which every page shows, not to a page's recipe.
IMAGE_SELECTION_KEYS = FILE_SELECTION_KEYS
IMAGE_SELECTION_PREFIXES = ("file_channel_",)  # the file's channel box, keyed by the file's channels


def _is_image_selection(key: str) -> bool:
    return key in IMAGE_SELECTION_KEYS or str(key).startswith(IMAGE_SELECTION_PREFIXES)


def _with_the_images_selection(stored: dict, left: dict | None) -> dict:
    """A page's stored settings with the image selection of the page just left (``left``, its stored settings).

    Which channel, plane or projection of a file is segmented follows the image from page to page, as the image
    itself does (#13 review: GFP, one plane, on Watershed; Thresholding then showed DAPI's maximum projection).
    """
    if not left or not any(_is_image_selection(key) for key in left["values"]):
        return stored  # a page without the image's selection (Batch), or an image without choices
    values = {k: v for k, v in stored["values"].items() if not _is_image_selection(k)}
    url = {k: v for k, v in stored["url"].items() if not _is_image_selection(k)}
    for key, value in left["values"].items():
        if _is_image_selection(key):
            values[key] = copy.deepcopy(value)
            if key in left["url"]:
                url[key] = left["url"][key]
    return {"values": values, "url": url}


def _address_decides() -> bool:
    """On Back or Forward, give the page every parameter of the address it returns to; True in that case.

    Streamlit drops from a page switch's query the parameters bound to a widget of the page being left (so
    one page's values do not leak into another's widgets of the same name), and on Back a bound widget whose
    parameter is missing returns to its default. The sample and every parameter both pages have (the
    foreground's threshold, clean-up, display) are bound on both, so Back to the watershed page would reopen
    it on its default sample. The address Back returns to is that page's own, so its parameters are put back
    for the widgets to read, and the address bar keeps them.
    """
    ctx = get_script_run_ctx()
    if ctx is None or not ctx.is_history_navigation:
        return False
    # The run's query string as the browser sent it (Streamlit filters its own copy, not this one).
    address = parse_qs(ctx.query_string or "", keep_blank_values=True)
    with get_session_state().query_params() as query:
        missing = {key: texts for key, texts in address.items() if not query.has_param(key)}
        for key, texts in missing.items():
            query.set_with_no_forward_msg(key, texts[0] if len(texts) == 1 else texts)
            query._initial_query_params[key] = list(texts)  # what bound widgets read as they register
        if missing:
            query._send_query_param_msg()  # Back replaces its entry: no new history entry
    return True


def _keep_the_links_sample() -> None:
    """After a page link, give the page the sample the link names.

    The browser sends a page link's query after the address it leaves (``sample=a&methods=...&sample=b``), and
    Streamlit drops from a page switch's query every parameter bound to a widget of the page being left. The
    sample box is bound on every page, so the link's ``sample`` went with the previous page's: a link from
    Compare to Thresholding (the entry page) opened the default sample. The sample is the one parameter every
    link carries (an upload cannot travel); the link's own value is the last one in the query.
    """
    ctx = get_script_run_ctx()
    if ctx is None or "sample" in st.query_params:
        return
    texts = parse_qs(ctx.query_string or "", keep_blank_values=True).get("sample")
    if not texts or texts[-1] not in SAMPLES:
        return
    with get_session_state().query_params() as query:
        query.set_with_no_forward_msg("sample", texts[-1])
        query._initial_query_params["sample"] = [texts[-1]]  # what the bound sample box reads as it registers
        query._send_query_param_msg()


def _show_in_address_bar(texts: dict[str, str | list[str]]) -> None:
    """Put the restored values of URL-bound widgets into the address bar, as the widgets themselves would.

    Streamlit writes a bound widget's value to the URL when the user changes it, or when it kept the value
    itself; a value put back through ``st.session_state`` after a page switch is shown but not written, so the
    address bar (and a link copied from it) would miss it. The texts are what the widgets wrote (recorded by
    :func:`page_widget_values`). One message for all of them (each message is one URL change).
    """
    if not texts:
        return
    with get_session_state().query_params() as query:
        for key, text in texts.items():
            query.set_with_no_forward_msg(key, text)
        query._send_query_param_msg()


def remember_page_settings() -> None:
    """Store the current page's widget values now (pages call this last; a stopped run calls it too).

    The start of the next run on the same page stores them again, but a page switch arrives with the previous
    page's values already dropped by Streamlit, so the values of a page's last run are stored as it ends. The
    address bar is checked against the values the visitor changed in this run (:func:`address_follows_changes`),
    and a session's first run writes the address it means (:func:`write_held_address`).
    """
    _store_page_settings()
    address_follows_changes()
    st.session_state[BOUND_KEY] = _bound_values()
    write_held_address()


def _bound_values() -> dict:
    """The values of the URL-bound widgets now (but the sample box, which an upload blanks on purpose)."""
    values = {}
    for key in list(st.session_state):
        if key in ("sample", "upload") or str(key).startswith(("studio_", "upload_")):
            continue
        metadata = _widget_metadata(key)
        if metadata is not None and metadata.bind == "query-params":
            values[key] = copy.deepcopy(st.session_state[key])
    return values


def _store_page_settings() -> None:
    title = st.session_state.get(PAGE_KEY)
    if title is not None:
        st.session_state.setdefault(STORE_KEY, {})[title] = page_widget_values()


def address_follows_changes() -> None:
    """Write to the address bar the URL-bound values the visitor changed in this run that it does not hold.

    The browser writes a bound widget's new value to the address itself, as the visitor moves it, and the run
    that follows reads that address. In about 3 of 16 sessions on a loaded machine the Watershed page's
    *Distance smoothing* slider was not written, from its first move on (issue 10's review: the share link then
    missed it, and a reload lost it; the cause is in Streamlit's front end: a widget writes the address only
    while its query binding is registered, and the binding can be dropped while the widget stays on screen).
    So each run compares the address it was started with (Streamlit's copy, which the run's own writes keep up
    to date) with the values changed since the last run on this page, and sends one correction when they
    differ: the address, and the share link built from it, always hold the page's values. Only the changed
    values are checked: everything else in the address is the page's own business (a link's values, an
    upload's blank sample box). Nothing is done on a page's first run or arrival (no change to compare).
    """
    ctx = get_script_run_ctx()
    changed = st.session_state.get(CHANGED_KEY)
    if ctx is None or not changed or ctx.fragment_ids_this_run:
        return
    corrections: dict[str, list[str] | None] = {}
    with get_session_state().query_params() as query:
        for key in changed:
            if key not in st.session_state:
                continue
            metadata = _widget_metadata(key)
            if metadata is None or metadata.bind != "query-params":
                continue
            text = _url_text(key, st.session_state[key], metadata)
            wanted = None if text is None else ([text] if isinstance(text, str) else list(text))
            held = query.get_all(key) if query.has_param(key) else None
            if wanted != held and not (wanted == [] and held == [""]):
                corrections[key] = wanted
        for key, wanted in corrections.items():
            if wanted is None:
                query.discard_param_no_forward_msg(key)
            else:  # an empty choice is the key with no value, as the browser writes it (``methods=``)
                query.set_with_no_forward_msg(key, wanted[0] if len(wanted) == 1 else (wanted or ""))
        if corrections:
            _LOG.info("the address missed %s: written", sorted(corrections))
            query._send_query_param_msg()
    st.session_state[CHANGED_KEY] = set()  # checked: a later call in the same run has nothing to do


def stored_page_values(title: str) -> dict:
    """Another page's widget values as this session last left them (``{}``: the page was not visited).

    A copy, ``{widget key: value}`` in the widgets' own form (a multiselect's list, a points text), as
    :func:`remember_page_settings` stored them; the Batch page reads the recipe set on Thresholding or Watershed.
    """
    stored = st.session_state.get(STORE_KEY, {}).get(title) or {}
    return copy.deepcopy(stored.get("values", {}))


def forget_other_pages_settings(title: str) -> None:
    """Drop the settings stored for the other pages (a new sample opens every page with its suggestions)."""
    store = st.session_state.get(STORE_KEY, {})
    for page in [page for page in store if page != title]:
        del store[page]


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


#: The URL key of the recipe version a link was written with (``v=3``). Links leave defaults out, so a link is
#: read with the defaults of its own version: one without ``v`` was made before versions were written (version 2).
VERSION_KEY = "v"
UNVERSIONED_LINK = 2


def link_version(opened: bool = True) -> int:
    """The recipe version of the address this run was opened with: its ``v``; 2 for a link with parameters but
    no ``v`` (written before this change); the current one for a bare address or a ``v`` this program does not
    read (the page then writes the current one).

    ``opened``: whether the address is a link this session was opened with (its first run). Every later run's
    address is the app's own, of the current version, with or without ``v``: a page switch after an upload
    carries no ``v`` but the page's restored settings, and was read as an old link (the screen showed the
    maximum projection of a z-stack while the share link and the recipe said ``projection=none``).
    """
    if not opened:
        return seg.RECIPE_VERSION
    text = st.query_params.get(VERSION_KEY)
    if text is None:
        return UNVERSIONED_LINK if any(key != VERSION_KEY for key in st.query_params) else seg.RECIPE_VERSION
    try:
        version = int(text)
    except ValueError:
        return seg.RECIPE_VERSION
    return version if 1 <= version <= seg.RECIPE_VERSION else seg.RECIPE_VERSION




def _link_version_problems(opened: bool) -> list[str]:
    """A link of a recipe version this program does not read, said (#10 review: ``?v=99&method=li`` opened as
    version 3 without a word, where the command line refuses a version-99 recipe)."""
    text = st.query_params.get(VERSION_KEY)
    if not opened or text is None:
        return []
    try:
        version = int(text)
    except ValueError:
        version = None
    if version is not None and 1 <= version <= seg.RECIPE_VERSION:
        return []
    return [f"The link's recipe version `v={text[:20]}` is not one this program reads (versions 1 to "
            f"{seg.RECIPE_VERSION}; a newer program may have written it): its values are read as version "
            f"{seg.RECIPE_VERSION}'s, which may not give the same result."]


def _link_value_problems(base) -> list[str]:
    """What is wrong with the link's recipe values, once per value in a session (issue 10's review: ``?h=-5``
    or ``?method=sauvola&window=4`` silently showed the default).

    A bound widget does not take a value outside its range; the page says which value of the link was not used
    and why (the library's message: the parameter, its range and the value) instead of changing it unseen.
    """
    specs = {spec.name: spec for spec in base.specs()}
    if base.kind == "watershed":
        specs.update({spec.name: spec for spec in base.foreground.specs() if spec.name not in specs})
    reported = st.session_state.setdefault(LINK_PROBLEMS_KEY, set())
    problems = []
    for name, spec in specs.items():
        text = st.query_params.get(name)
        if text is None or (name, text) in reported or spec.kind == "points":
            continue  # a points box says what is wrong with its text itself, under the box, for as long as it holds it
        try:
            spec.from_text(text)
        except ValueError as error:
            reported.add((name, text))
            problems.append(f"The link's `{name}={text[:20]}` was ignored: {error}.")
    return problems


def _read_link_version(opened: bool) -> None:
    """Open a link of an earlier recipe version as that version did, then write the current version.

    The values a default change needs (``segmentation.upgrade_params``: version 2 read one plane of a z-stack,
    so ``projection=none``) go into the address before any widget reads it, unless the link sets them itself;
    the address then says ``v=3`` and means what it meant. A link of the current version is left alone.

    A bare address, which means the current version, is left bare on the first run (later runs write ``v``);
    an older link's additions go in one change, which the first run holds back from the browser
    (:func:`hold_address_changes`).
    """
    if opened and not any(True for _ in st.query_params):
        return
    version = link_version(opened)
    additions: dict[str, str] = {}
    if version < seg.RECIPE_VERSION:
        specs = {spec.name: spec for spec in seg.ThresholdRecipe.specs() + seg.WatershedRecipe.specs()}
        for name, value in seg.upgrade_params({}, version).items():
            if name not in st.query_params and name in specs:
                additions[name] = specs[name].to_text(value)
    if st.query_params.get(VERSION_KEY) != str(seg.RECIPE_VERSION):
        additions[VERSION_KEY] = str(seg.RECIPE_VERSION)
    if additions:
        with get_session_state().query_params() as query:  # one message: one address change
            for name, text in additions.items():
                query.set_with_no_forward_msg(name, text)
                query._initial_query_params[name] = [text]  # what bound widgets read as they register
            query._send_query_param_msg()


def _session_query_params():
    """The session's query parameters (Streamlit's ``QueryParams``: one object for the session's life)."""
    with get_session_state().query_params() as query:
        return query


def hold_address_changes() -> None:
    """On a session's first run, keep every change of the address from the browser until the run ends.

    Streamlit's front end pushes each address change of a session's first run as a history entry of its own, before
    the page's script (which makes such changes replacements) has run: opening an old link took two presses of
    Back or more to leave (#10 review): the link's upgrade (``v`` and what version 2 meant, a retired ``tab``
    dropped) was one entry, and Streamlit's own corrections of a bound widget's value (a default dropped, a value
    clamped) more. So during the first run such changes are made on the server only: the widgets, the share link
    and Streamlit's copy of the address (``ctx.query_string``) read them, and the run's end writes the address it
    means in place of the one opened (:func:`write_held_address`). The message is Streamlit's
    ``QueryParams._send_query_param_msg``, replaced on the session's object for the run (every run's start puts it
    back: :func:`_release_address_changes`).
    """
    query = _session_query_params()
    ctx = get_script_run_ctx()
    if ctx is None:
        return
    st.session_state[HELD_KEY] = (ctx.query_string or "", None)
    this_run = getattr(ctx, "parallel_coordinator", None)  # a new object every run (ScriptRunContext.reset)

    def held() -> None:  # what Streamlit's method does, but the message
        run = get_script_run_ctx()
        if run is None:
            return
        if run.fragment_ids_this_run or getattr(run, "parallel_coordinator", None) is not this_run:
            type(query)._send_query_param_msg(query)  # a later run's change, when the first one did not finish
            return
        run.query_string = urlencode(query._query_params, doseq=True)

    query._send_query_param_msg = held


def _release_address_changes() -> bool:
    """Address changes go to the browser again; True when they were held."""
    return _session_query_params().__dict__.pop("_send_query_param_msg", None) is not None


# Written at the end of a first run that changed its address: the address it means, in place of the one the browser
# opened, unless the browser's address has changed since (by a message sent before the changes were held).
_HELD_ADDRESS_JS = """<script>
(() => {{
  const opened = {opened}, meant = {meant};
  if (location.search.slice(1) === opened)
    history.replaceState(history.state, '', location.pathname + (meant ? '?' + meant : '') + location.hash);
}})();
</script>"""


def write_held_address() -> None:
    """At the end of a session's first run: the address it means replaces the one opened, in the browser.

    The browser's address is replaced in place by the page's script, with no new history entry. Streamlit's front
    end keeps the address it opened with (and sends it with the next run) until it is told: the next run tells it
    (:func:`_send_held_address`).
    """
    if not _release_address_changes():
        return
    ctx = get_script_run_ctx()
    opened = (st.session_state.get(HELD_KEY) or ("", None))[0]
    meant = urlencode(_session_query_params()._query_params, doseq=True)  # as Streamlit writes it
    if ctx is None or parse_qs(meant, keep_blank_values=True) == parse_qs(opened, keep_blank_values=True):
        st.session_state.pop(HELD_KEY, None)
        return
    st.session_state[HELD_KEY] = (opened, meant)
    texts = {name: json.dumps(text).replace("<", "\\u003c") for name, text in (("opened", opened), ("meant", meant))}
    st.sidebar.html(_HELD_ADDRESS_JS.format(**texts), unsafe_allow_javascript=True)


def _send_held_address(opened: bool) -> None:
    """At the start of every run: changes of the address go to the browser again; and on the run after a first run
    that held them (:func:`hold_address_changes`), if Streamlit's front end still sends the address the session
    opened with (nothing has written the address since: no page switch, no Back, no widget the browser wrote),
    the address the first run meant is put back and sent (one message, of the address the page already shows)."""
    _release_address_changes()
    held = None if opened else st.session_state.pop(HELD_KEY, None)
    ctx = get_script_run_ctx()
    if held is None or held[1] is None or ctx is None or (ctx.query_string or "") != held[0]:
        return
    meant = parse_qs(held[1], keep_blank_values=True)
    query = _session_query_params()
    for key in [key for key in query._query_params if key not in meant]:
        query.discard_param_no_forward_msg(key)
        query._initial_query_params.pop(key, None)
    for key, texts in meant.items():
        query.set_with_no_forward_msg(key, texts[0] if len(texts) == 1 else texts)
        query._initial_query_params[key] = list(texts)
    query._send_query_param_msg()


def _open_tab_from_link() -> None:
    """A link from before this version may name the open tab (``tab=Export``): that tab opens, and the name
    leaves the address bar. The open tab is the visitor's own view, not part of what a link shares."""
    if "tab" not in st.query_params:
        return
    text = st.query_params["tab"]
    try:
        del st.query_params["tab"]
    except StreamlitAPIException:  # a page that binds a widget to ``tab`` itself keeps it
        return
    st.session_state["tab"] = text


# A metric's value is cut to one line with an ellipsis: at 1280 px wide, five metrics side by side showed
# "Multi-O…" and "46, 100,…" (Multi-Otsu with five classes). Values wrap instead, whole.
# While a rerun runs, the previous run's elements stay on screen until the new ones replace them (Streamlit marks
# them ``data-stale``): a number of the previous image or recipe next to the new run's would pass for the new
# one (issue 10's review: "Objects 24", the sample's, beside the upload's "Seeds ≈ 1,908"). A stale metric's
# value is hidden and reads "≈ …" instead, after 0.3 s (a fragment's own quick reruns never flicker); a stale
# results table fades out. A stale download button cannot be clicked, and is hidden after 0.3 s (hidden, it cannot
# be reached with the keyboard either): it holds the previous run's file (issue 15's trial: "Labels PNG" clicked
# while a new upload's run waited for its full-resolution job downloaded coins_labels.png, the sample's).
_PAGE_CSS = """
[data-testid="stMetricValue"], [data-testid="stMetricValue"] * {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  overflow-wrap: break-word; line-height: 1.15;
}
[data-testid="stMetricValue"] { position: relative; }
[data-testid="stMetricValue"] > * { transition: visibility 0s; }
[data-testid="stElementContainer"][data-stale="true"] [data-testid="stMetricValue"] > * {
  visibility: hidden; transition: visibility 0s linear 0.3s;
}
[data-testid="stMetricValue"]::before {
  content: "≈ …"; position: absolute; left: 0; top: 0; opacity: 0; pointer-events: none; transition: opacity 0s;
}
[data-testid="stElementContainer"][data-stale="true"] [data-testid="stMetricValue"]::before {
  opacity: 1; transition: opacity 0s linear 0.3s;
}
[data-testid="stElementContainer"][data-stale="true"] [data-testid="stDataFrame"] {
  opacity: 0.15; transition: opacity 0s linear 0.3s;
}
[data-testid="stDownloadButton"] { transition: visibility 0s; }
[data-testid="stElementContainer"][data-stale="true"] [data-testid="stDownloadButton"] {
  pointer-events: none; visibility: hidden; transition: visibility 0s linear 0.3s;
}
"""

# The style sheet goes into the document's head once per browser tab, by a script, not as a <style> in the page's
# element: that element is drawn again at every rerun, and a style sheet drawn again makes the browser restyle the
# whole page. A slider move on the Thresholding page at 12 MP took 167 ms against 188 ms with the <style> (medians
# of 16 moves each, the two copies served side by side and moved in turn; the floor app 134 ms).
_STYLE_JS = ("<script>(() => { if (document.getElementById('studio-style')) return; "
             "const sheet = document.createElement('style'); sheet.id = 'studio-style'; sheet.textContent = "
             + json.dumps(_PAGE_CSS).replace("<", "\\u003c") + "; document.head.appendChild(sheet); })();</script>")

# Streamlit's page links add three browser-history entries per page switch (measured: Thresholding with
# Sauvola -> Compare -> Thresholding went 6 -> 9 entries), so Back needed three presses. The front end
# *pushes* an entry for every URL change the server sends (``page_info_changed``), and a switch sends
# several before the new path is pushed: the old page's parameters removed, then values written back.
# Only the new path is a new place to go back to. This script (run once per browser tab) makes a page-link
# click push exactly one entry: until the path changes, the server's query-only URL changes leave the old
# page's entry as it was (the push of the new path carries the latest query); outside a switch they replace
# the entry, as a widget's own URL change does.
_HISTORY_JS = """<script>
(() => {
  if (window.__studioHistory) return;
  window.__studioHistory = true;
  const push = history.pushState.bind(history);
  let switching = 0;
  document.addEventListener('click', (event) => {
    if (event.button !== 0) return;
    // A button that switches pages (st.switch_page: "Open in" on an upload) is a page link too. The switch first
    // writes the new page's query on this page's address: written here, Compare's entry lost its columns, and
    // Back showed the default ones.
    const target = event.target.closest ? event.target : null;
    if (target && target.closest('[class*="st-key-%(switch)s"] button')) {
      switching = Date.now();
      return;
    }
    const link = target && target.closest('a[data-testid=stPageLink-NavLink]');
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const href = link.getAttribute('href') || '';
    // The entry page's link is a bare query ("?sample=coins"), or empty after an upload (no sample to carry):
    // it leads to the app's root, not here.
    const next = new URL(href === '' || href.startsWith('?') ? './' + href : href, document.baseURI);
    if (next.pathname !== location.pathname) switching = Date.now();
  }, true);
  // A reload starts a new session, with nothing uploaded: leaving a page that shows an upload leaves its
  // name (and content digest) in a cookie for a minute, so the reloaded page can say so and offer it back.
  const cookie = 'studio_upload';
  document.cookie = `${cookie}=; max-age=0; path=/; SameSite=Strict`;
  // The cookie also reaches a tab opened afresh within that minute (a new tab, the address typed again): the
  // notice shows only when the browser reloaded this page or came back to it with Back or Forward.
  const arrival = performance.getEntriesByType('navigation')[0];
  if (arrival && (arrival.type === 'reload' || arrival.type === 'back_forward'))
    document.documentElement.setAttribute('data-studio-returned', '');
  window.addEventListener('pagehide', () => {
    const marker = document.querySelector('[data-studio-upload]');
    const upload = marker ? marker.getAttribute('data-studio-upload') : '';
    if (upload) document.cookie = `${cookie}=${encodeURIComponent(upload)}; max-age=60; path=/; SameSite=Strict`;
  });
  // Between a page link's click and the new page's entry, a change of this address belongs to the page being
  // opened (its restored settings): written here, it overwrote the page left's entry, and Back to that page
  // brought the other page's settings (#10 review: Watershed came back with Thresholding's Sauvola).
  const replace = history.replaceState.bind(history);
  const arriving = () => switching && Date.now() - switching < 30000;
  history.replaceState = function (state, title, url) {
    const next = new URL(url, location.href);
    if (next.pathname === location.pathname && arriving()) return undefined;
    if (next.pathname !== location.pathname) switching = 0;  // the new page's entry: the switch is over
    return replace(state, title, url);
  };
  history.pushState = function (state, title, url) {
    const next = new URL(url, location.href);
    if (next.pathname !== location.pathname) {
      switching = 0;
      return push(state, title, url);
    }
    if (arriving()) return undefined;
    return replace(state, title, url);
  };
})();
</script>""".replace("%(switch)s", PAGE_SWITCH_KEY)


def start_page(title: str, *, default_sample: str, icon: str, base) -> CurrentImage:
    """Set up a page: config, navigation (carrying the sample to the other pages) and the image.

    ``base`` is the page's default recipe; picking another sample puts that sample's suggested settings
    into the widgets, exactly what a link naming the sample opens with.
    """
    st.set_page_config(page_title=f"{title} · Segmentation Studio", page_icon=icon, layout="wide",
                       initial_sidebar_state="expanded")
    opened = PAGE_KEY not in st.session_state  # this session's first run: the address is a link (or a bare one)
    _send_held_address(opened)
    if opened:
        hold_address_changes()
    keep_page_settings(title)
    _honour_earlier_names()
    link_problems = _link_version_problems(opened) + _link_value_problems(base)
    _read_link_version(opened)
    _open_tab_from_link()
    nav = st.sidebar.container()

    def on_sample_change(name: str) -> None:
        forget_other_pages_settings(title)
        apply_settings(settings_items(sample_defaults(base, name)))

    current = image_source(default_sample, on_sample_change=on_sample_change)
    with nav:
        st.markdown("### Segmentation Studio")
        # The links carry the sample (a link opened in a new tab is a new session); an upload cannot travel.
        link_query = None if current.is_upload else {"sample": current.sample, VERSION_KEY: str(seg.RECIPE_VERSION)}
        for path, label, page_icon in PAGES:
            st.page_link(path, label=label, icon=page_icon, query_params=link_query)
        # The divider carries the page's script (an element of its own would leave an empty gap) and the name
        # of the upload on show, which the script keeps through a reload.
        marker = html.escape(upload_marker(current), quote=True)
        st.html(f'{_STYLE_JS}{_HISTORY_JS}<hr data-studio-upload="{marker}" style="margin: 0.5rem 0 0.75rem 0">',
                unsafe_allow_javascript=True)
    st.title(title)
    for problem in link_problems:
        st.warning(problem, icon=":material/link_off:")
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
        if spec.kind == "int_tuple":
            # Streamlit's URL binding of a multiselect follows a click, not a state set here (trial of issue 16:
            # "Fit to this image" chose multi-Otsu classes 1, 2 and the share link lost them: 60 objects, not 84)
            if value:
                st.query_params[spec.name] = [str(v) for v in value]
            elif spec.name in st.query_params:
                del st.query_params[spec.name]


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
        remember_page_settings()
        st.stop()
