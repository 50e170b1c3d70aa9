"""Widgets drawn from the library's parameter specifications, bound to the URL.

Each recipe parameter becomes one widget whose ``key`` is the parameter's name, so the address bar
holds exactly the names the recipe, the JSON file and the command line use. Parameters that do not
apply to the chosen method or seeds are not drawn (and so leave the URL).

A choice box shows names ("Multi-Otsu", "h-maxima of the distance map") while the URL holds the recipe's
own (``multiotsu``, ``h_maxima``). Streamlit's URL binding writes a box's *shown* text, so choices are not
bound; :func:`_choice_from_url` and :func:`_choice_to_url` keep them in the address bar instead.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np
import streamlit as st

from segmentation import METHODS, ParamSpec

from .views import finite_limits

# Slider ranges for the screen (the library accepts wider values from the API, the CLI and JSON).
SLIDERS: dict[str, tuple[float, float, float]] = {
    "sigma": (0.1, 10.0, 0.1),
    "median_size": (3, 31, 2),
    "background_radius": (0, 200, 5),
    "classes": (2, 5, 1),
    "block_size": (3, 301, 2),
    "offset": (-50.0, 80.0, 1.0),
    "window": (3, 301, 2),
    "k": (-1.0, 1.0, 0.01),
    "opening": (0, 31, 1),
    "closing": (0, 31, 1),
    "iterations": (1, 10, 1),
    "h": (0.05, 10.0, 0.05),
    "min_distance": (1, 100, 1),
    "peak_fraction": (0.0, 0.95, 0.01),
    "distance_sigma": (0.0, 5.0, 0.1),
}

CHOICE_LABELS = {
    "channel": {"luminance": "Luminance", "red": "Red", "green": "Green", "blue": "Blue", "hue": "HSV hue",
                "saturation": "HSV saturation", "value": "HSV value"},
    "smoothing": {"none": "None", "gaussian": "Gaussian", "median": "Median"},
    "polarity": {"auto": "Auto (the minority side)", "bright": "Bright on dark", "dark": "Dark on bright"},
    "seeds": {"h_maxima": "h-maxima of the distance map", "distance_peaks": "Distance-map peaks",
              "intensity_bands": "Intensity bands", "points": "Points I click", "marker_image": "Marker image"},
    "landscape": {"distance": "Distance map (shape)", "gradient": "Gradient (edges)"},  # whole at 1280 px
    "method": {name: info.label for name, info in METHODS.items()},
    "projection": {"auto": "Auto (maximum of z-planes)", "none": "None (one plane)", "max": "Maximum", "mean": "Mean",
                   "sum": "Sum"},
    "pages": {"planes": "planes (z or pages)", "channels": "channels", "timepoints": "time points"},
}

#: Session key of the parameters the image source and the measurement section draw (or hide) themselves.
PLACED_KEY = "studio_placed_params"


def place_params(values: Mapping[str, Any]) -> None:
    """Parameters drawn elsewhere this run (or hidden): :func:`recipe_widgets` takes these values without
    drawing a widget.

    The image source draws a multi-channel file's channel and a stack's projection, plane and time point next to
    the image (and hides them for a plain image); the measurement section draws the pixel size and unit. Every
    page's image source calls this on every run, before any recipe widget is drawn, so the values are this run's.
    """
    st.session_state[PLACED_KEY] = dict(values)


def placed_params() -> dict[str, Any]:
    """The values :func:`place_params` recorded this run (``{}`` when none)."""
    return dict(st.session_state.get(PLACED_KEY) or {})


def choice_box(container, key: str, label: str, options: list[str], default: str, *,
               format_func: Callable[[str], str] = str, help: str = "", bind: bool = True,
               widget_key: str | None = None) -> str:
    """A choice box that shows ``format_func(option)`` while the URL (``key``) holds the option itself, as the
    recipe's choice boxes do; a held value that is not an option goes back to ``default``.

    ``widget_key`` (default ``key``) is the box's own key. Streamlit identifies a keyed box by its key alone and
    the browser keeps the text it last showed, so a box whose options change with the file (a file's channels)
    takes a key of its own per set of options.
    """
    widget_key = widget_key or key
    default = default if default in options else options[0]
    dropped = _choice_from_url(key, options, default, state_key=widget_key) if bind else []
    if widget_key in st.session_state and st.session_state[widget_key] not in options:
        del st.session_state[widget_key]
    value = container.selectbox(label, options, index=options.index(default), format_func=format_func,
                                key=widget_key, help=help or None)
    if bind:
        _choice_to_url(key, value, default)
    say_dropped(container, key, dropped)
    return value


def method_credit(method: str) -> str:
    """" — computed by LIBRARY · after SOURCE (DOI link)": who computes a method and where it comes from."""
    info = METHODS[method]
    doi = f" [doi:{info.doi}](https://doi.org/{info.doi})" if info.doi else ""
    return f" — computed by {info.library} · after {info.source}{doi}"


def _label(spec: ParamSpec, value: Any) -> str:
    return CHOICE_LABELS.get(spec.name, {}).get(value, str(value))


#: What an empty points box says: how its points are given (the click modes of *Edit seeds by clicking*).
_POINTS_PLACEHOLDERS = {"add_seeds": "click the image to add seeds", "remove_seeds": "click a seed to remove it",
                        "merge_points": "click two objects to merge them",
                        "split_points": "click an object to split it"}


def spec_widget(spec: ParamSpec, default: Any, *, container=st, key: str | None = None,
                overrides: Mapping[str, Any] | None = None, choices: tuple | None = None,
                bind: bool = True) -> Any:
    """One widget for one parameter; returns its value in the parameter's own type.

    ``overrides`` may give ``min``, ``max``, ``step`` and ``format`` for data-dependent ranges (the
    manual threshold's slider spans the image's own values).
    """
    key = key or spec.name
    o = dict(overrides or {})
    common: dict[str, Any] = {"key": key, "help": spec.help}
    if bind:
        common["bind"] = "query-params"
    label = o.pop("label", spec.label)
    if spec.kind == "choice":
        # Names on screen ("HSV value"), the recipe's words in the URL (``channel=value``); an open choice's
        # other options (a name the file defines) show as themselves.
        options = _choice_options(spec, choices)
        default = default if default in options else options[0]
        common.pop("bind", None)
        dropped = _choice_from_url(key, options, default) if bind else []
        value = container.selectbox(label, options, index=options.index(default),
                                    format_func=lambda name: _label(spec, name), **common)
        if bind:
            _choice_to_url(key, value, default)
        say_dropped(container, key, dropped)
        if spec.name == "method":  # the box shows the name; the caption says who computes it, after whom
            credit = method_credit(value).removeprefix(" — ")
            container.caption(credit[:1].upper() + credit[1:])
        return value
    if spec.kind == "int_choice":
        options = list(spec.choices)
        return container.radio(label, options, index=options.index(default), horizontal=True, **common)
    if spec.kind == "bool":
        return container.checkbox(label, value=bool(default), **common)
    if spec.kind == "int_tuple":
        options = _tuple_options(spec, o)
        chosen = [v for v in default if v in options]
        picked = container.multiselect(label, options, default=chosen, **common, placeholder="automatic")
        return tuple(sorted(picked))
    if spec.kind == "points":
        text = container.text_input(label, value=spec.to_text(default), **common,
                                    placeholder=_POINTS_PLACEHOLDERS.get(spec.name, "row,col;..."))
        try:
            return spec.from_text(text)
        except ValueError as error:
            container.error(str(error))
            return ()
    if spec.kind == "optional_float":
        # Bound to the URL by hand, as the choice boxes: Streamlit's binding drops a link's "auto" (no number).
        dropped = []
        if common.pop("bind", None):
            dropped = _optional_from_url(spec, key, default)
        # The widget starts from its state, not from ``value``: a box given a number as ``value`` can never be
        # emptied again (Streamlit puts the number back), and an empty box is what "auto" is (trial of issue 16).
        if key not in st.session_state:
            st.session_state[key] = default
        value = container.number_input(label, value=None, placeholder="auto", format="%g",
                                       min_value=spec.min, max_value=spec.max, **common)
        if bind:  # the URL holds its text ("auto" or the number), or nothing at the default
            _choice_to_url(key, spec.to_text(value), spec.to_text(default))
        say_dropped(container, key, dropped)
        return value
    lo, hi, step = o.get("min"), o.get("max"), o.get("step")
    if spec.name in SLIDERS and lo is None:
        lo, hi, step = SLIDERS[spec.name]
    if spec.kind == "int":
        lo = int(lo if lo is not None else (spec.min if spec.min is not None else 0))
        hi = int(hi if hi is not None else (spec.max if spec.max is not None else 10**9))
        value = int(min(max(default, lo), hi))
        if spec.odd:
            # Only odd sizes are offered, so an even size from a hand-edited link is refused by the widget
            # itself (it falls back to the default) instead of stopping the page.
            options = list(range(lo + (1 - lo % 2), hi + 1, 2))
            value = value if value in options else options[0]
            return int(container.select_slider(label, options, value=value, **common))
        if bind:
            _say_link_value_outside(container, spec, key, lo, hi)
        if spec.name in SLIDERS or "slider" in o:
            return int(container.slider(label, lo, hi, value, int(step or 1), **common))
        if bind and _drop_bad_link_value(key, lo, hi):
            common.pop("bind", None)
        return int(container.number_input(label, lo, hi, value, int(step or 1), **common))
    lo = float(lo if lo is not None else (spec.min if spec.min is not None else -1e12))
    hi = float(hi if hi is not None else (spec.max if spec.max is not None else 1e12))
    value = float(min(max(default, lo), hi))
    fmt = o.get("format", "%g" if step is None or step >= 1 else None)
    if bind:
        _say_link_value_outside(container, spec, key, lo, hi)
    if spec.name in SLIDERS or o.get("slider"):
        _drop_value_outside(key, lo, hi)
        return float(container.slider(label, lo, hi, value, float(step or (hi - lo) / 200), format=fmt, **common))
    if bind and _drop_bad_link_value(key, lo, hi):
        common.pop("bind", None)
    return float(container.number_input(label, lo, hi, value, float(step) if step else None, format="%g", **common))


#: Per page, what the address bar holds for each choice parameter as this module last wrote or read it.
URL_CHOICES_KEY = "studio_url_choices"


def _choice_from_url(key: str, options: list, default: Any, *, many: bool = False,
                     state_key: str | None = None) -> list[str]:
    """Before a choice box is drawn: the value the URL gives, when the URL changed it (a link, Back).

    A choice box shows names ("Multi-Otsu") while the URL holds the recipe's names (``multiotsu``), which is
    not what Streamlit's URL binding writes (it writes the shown text), so choices are kept in the URL here:
    :func:`_choice_to_url` writes what the box holds; a URL that differs from what was last written (the
    first load of a link, Back or Forward to another address, a hand-edited address) gives the box its
    value, or its default when the parameter is absent; a name the box does not offer is dropped. With
    ``many`` the box is a multiselect: the URL repeats the key (``methods=otsu&methods=li``), and an empty
    choice is the key with no value (``methods=``). ``state_key`` is the box's widget key when it differs from
    the URL's (a file's channel box, keyed by the file's channels). Returns the names the URL gave that the box
    does not offer (dropped), for :func:`say_dropped`.
    """
    target = state_key or key
    page = st.session_state.get("studio_page")
    seen = st.session_state.setdefault(URL_CHOICES_KEY, {}).setdefault(page, {})
    text = (st.query_params.get_all(key) or None) if many else st.query_params.get(key)
    known = key in seen
    if known and seen[key] == text:
        return []
    seen[key] = text
    if many and text is not None:
        picked = list(dict.fromkeys(name for name in text if name in options))  # each once, in order
        named = [name for name in text if name]
        st.session_state[key] = picked if picked or not named else list(default)  # only unknown names: default
        if len(picked) < len(named):
            if picked:
                st.query_params[key] = picked
            else:
                del st.query_params[key]
            seen[key] = st.query_params.get_all(key) or None
            return [name for name in named if name not in options]
    elif text in options:
        st.session_state[target] = text
    elif text is not None:
        del st.query_params[key]
        seen[key] = None
        return [text]
    elif known or seen.get("*back"):
        st.session_state[target] = default
    return []


def _optional_from_url(spec: ParamSpec, key: str, default: Any) -> list[str]:
    """A number-or-auto box's value from the URL (``diameter=auto``, ``band_low=12.5``), as
    :func:`_choice_from_url` does for choices; returns the link's text when it is neither (dropped)."""
    seen = st.session_state.setdefault(URL_CHOICES_KEY, {}).setdefault(st.session_state.get("studio_page"), {})
    text = st.query_params.get(key)
    known = key in seen
    if known and seen[key] == text:
        return []
    seen[key] = text
    if text is not None:
        try:
            st.session_state[key] = spec.from_text(text)
        except ValueError:
            del st.query_params[key]
            seen[key] = None
            return [text]
    elif known or seen.get("*back"):
        st.session_state[key] = default
    return []


#: The session's ``(name, text)`` link values already said to be unusable (:func:`studio_ui.page.start_page`).
LINK_PROBLEMS_KEY = "_link_problems_reported"


def say_dropped(container, key: str, dropped: list[str]) -> None:
    """Say which names of the link a choice box left out (a channel this image lacks, an unknown method) instead
    of dropping them unseen (#13 review: ``channel=GFP`` opened on a sample vanished without a word); a value
    the page already named as unusable (an unknown method) is not said twice."""
    reported = st.session_state.setdefault(LINK_PROBLEMS_KEY, set())
    dropped = [name for name in dropped if (key, name) not in reported]
    reported.update((key, name) for name in dropped)
    if not dropped:
        return
    names = ", ".join(f"`{key}={name[:30]}`" for name in dropped)
    why = ("this image has no such channel (a link made on an upload names the file's channels: upload that file)"
           if key == "channel" else "not one of this box's choices")
    text = f"The link's {names} was left out: {why}."
    # next to the box, which may sit in a collapsed section (Pre-processing)
    container.warning(text, icon=":material/link_off:")
    st.toast(text, icon=":material/link_off:")  # so it is seen either way


def _choice_to_url(key: str, value: Any, default: Any, *, many: bool = False) -> None:
    """After a choice box is drawn: the URL holds its name(s), or nothing when it is the default."""
    if many:
        wanted = None if list(value) == list(default) else ([str(v) for v in value] or [""])
        if (st.query_params.get_all(key) or None) != wanted:
            if wanted is None:
                del st.query_params[key]
            else:
                st.query_params[key] = wanted
    else:
        wanted = None if value == default else str(value)
        if st.query_params.get(key) != wanted:
            if wanted is None:
                del st.query_params[key]
            else:
                st.query_params[key] = wanted
    st.session_state.setdefault(URL_CHOICES_KEY, {}).setdefault(st.session_state.get("studio_page"), {})[key] = wanted


def arriving_at_page(title: str, *, back: bool) -> None:
    """A page switch: what the URL held for the choices of this page's last visit no longer applies.

    After a link, the address holds no choice of this page yet (the page's stored values are put back and
    written); after Back or Forward, the address decides every choice, absent ones included.
    """
    st.session_state.setdefault(URL_CHOICES_KEY, {})[title] = {"*back": True} if back else {}


def _drop_bad_link_value(key: str, lo: float, hi: float) -> bool:
    """Whether the link holds a value this number box cannot take; if so it is dropped (the page says so).

    Streamlit seeds a URL-bound number box from the link as the session starts, inside the widget call and
    before any of the page's error handling: ``min_size=1e400`` made its integer conversion raise
    OverflowError, which showed the error screen. Such a box is drawn unbound for the rest of the session
    (the link keeps the other parameters), which is what the caller does when this returns True.
    """
    flag = f"_unbound_{key}"
    if st.session_state.get(flag):
        return True
    text = st.query_params.get(key)
    if text is None:
        return False
    try:
        number = float(text)
    except ValueError:
        number = math.nan
    if math.isfinite(number) and lo <= number <= hi:
        return False
    del st.query_params[key]
    st.session_state[flag] = True  # the page's warning names the value and why (page._link_value_problems)
    return True


def _say_link_value_outside(container, spec: ParamSpec, key: str, lo: float, hi: float) -> None:
    """Say, once a session, that the link's value is outside this widget's range here and is not used.

    A value the parameter's own range refuses is named by the page (page._link_value_problems); one it allows but
    this image's range does not (``?method=manual&value=1e308`` on an 8-bit image: the slider runs 0-255) was
    dropped by the bound slider without a word (issue 15's trial).
    """
    text = st.query_params.get(key)
    said = st.session_state.setdefault("studio_link_outside_said", set())
    if text is None or (key, text) in said:
        return
    try:
        number = float(spec.from_text(text))
    except (TypeError, ValueError):  # the page names a value its parameter refuses
        return
    if math.isfinite(number) and lo <= number <= hi:
        return
    said.add((key, text))
    container.warning(f"The link's `{key}={text[:20]}` was not used: here {spec.name} runs from {lo:g} to {hi:g}.",
                      icon=":material/link_off:")


def _drop_value_outside(key: str, lo: float, hi: float) -> None:
    """Forget a slider's value that lies outside its range, so the slider starts at its default.

    The manual threshold's range is the image's own: a value set on another image (8-bit 102 on a 0..1 float
    upload) would otherwise stay in the widget's state, outside the slider, and segment nothing.
    """
    held = st.session_state.get(key)
    if isinstance(held, (int, float)) and not lo <= held <= hi:
        del st.session_state[key]


def _choice_options(spec: ParamSpec, choices: tuple | None) -> list:
    options = list(choices or spec.choices)
    if spec.name == "seeds":
        options.remove("marker_image")  # a marker image can only come through the API
    return options


def _tuple_options(spec: ParamSpec, o: Mapping[str, Any]) -> list[int]:
    return list(range(int(o.get("max", spec.max or 0)) + 1))


def recipe_widgets(specs: tuple[ParamSpec, ...], defaults: Mapping[str, Any], containers: Mapping[str, Any], *,
                   overrides: Mapping[str, Mapping[str, Any]] | None = None,
                   skip: Callable[[ParamSpec, dict], bool] | None = None, key_prefix: str = "",
                   bind: bool = True) -> dict[str, Any]:
    """Draw every applicable parameter into the container of its group; return ``{name: value}``.

    Parameters are drawn in declaration order, so a parameter's applicability can depend on the ones
    before it (``window`` appears only when ``method`` is Sauvola or Niblack). Parameters not drawn keep
    their default value in the returned dict; parameters placed elsewhere this run (:func:`place_params`:
    the file's channel and plane next to the image, the pixel size in the measurement section) take the
    value placed.
    """
    values: dict[str, Any] = dict(defaults)
    overrides = overrides or {}
    placed = placed_params() if not key_prefix else {}
    for spec in specs:
        if spec.name in placed:  # drawn next to the image or in the measurement section (see place_params)
            values[spec.name] = placed[spec.name]
            continue
        if not spec.applies(values) or (skip and skip(spec, values)):
            continue
        container = containers.get(spec.group) or containers["Method"]
        override = dict(overrides.get(spec.name) or {})
        if spec.name == "foreground_classes":  # only the classes that exist can be foreground
            override["max"] = values["classes"] - 1
        values[spec.name] = spec_widget(spec, defaults[spec.name], container=container,
                                        key=key_prefix + spec.name, overrides=override, bind=bind)
    return values


def manual_value_range(image: np.ndarray, processed: tuple[float, float] | None = None) -> dict[str, Any]:
    """Slider range for the manual threshold: the dtype's range for integers, the data's for floats.

    ``processed``: the finite limits of the channel the threshold is compared with (after smoothing and
    background subtraction, :func:`studio_ui.compute.manual_start`); a float image's slider spans them too.
    """
    if image.dtype == np.uint8:
        return {"min": 0.0, "max": 255.0, "step": 1.0, "format": "%d", "slider": True}
    if image.dtype == np.uint16:
        return {"min": 0.0, "max": 65535.0, "step": 1.0, "format": "%d", "slider": True}
    lo, hi = finite_limits(image) or (0.0, 1.0)  # a float upload may hold NaN and ±inf pixels
    if processed is not None:
        lo, hi = min(lo, processed[0]), max(hi, processed[1])
    if hi <= lo:
        hi = lo + 1.0
    return {"min": lo, "max": hi, "step": (hi - lo) / 1000, "format": "%.4g", "slider": True}
