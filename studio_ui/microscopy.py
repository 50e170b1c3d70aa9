"""Microscopy files on every page: the channel, plane and time point to segment, the pixel size, the composite.

A stack or multi-channel file (OME-TIFF, ImageJ hyperstack, multi-page TIFF) gets a *Channel and plane* section
right under the image source: the image series of a multi-series file, what the pages of a plain multi-page TIFF
are (planes, channels or time points), its channels by name (the nuclear stain chosen automatically), a z
projection ("auto": the maximum of a z-stack) or one plane, and the time point. They are the recipe's own
``series``, ``pages``, ``channel``, ``projection``, ``plane`` and ``timepoint`` (same URL keys, same values as the
command line), placed here instead of in the recipe's sections
(:func:`studio_ui.widgets.place_params`); a plain 2-D image shows none of them. The library reads only the
pages of the chosen plane; each selection is decoded once and kept in a bounded cache keyed by the file's
content and the selection.

The pixel size and unit live in a *Measurements* section, filled from the file (with where it came from)
and overridable; a recipe keeps "from the file" (``pixel_size`` None) while the box holds the file's value.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import numpy as np
import streamlit as st

import segmentation as seg
from segmentation import ImageInfo, PixelSize

from . import compute
from .widgets import CHOICE_LABELS, URL_CHOICES_KEY, choice_box, place_params, spec_widget

#: The recipe parameters that choose what is read of a file (drawn next to the image).
FILE_PARAMS = ("series", "pages", "channel", "projection", "plane", "timepoint")
#: The recipe parameters of the measurement section.
MEASURE_PARAMS = ("pixel_size", "unit")
#: What the pages of a plain multi-page TIFF are, as the box shows them.
PAGE_WORDS = CHOICE_LABELS["pages"]
#: Most channels shown as a colour composite (one colour each, ImageJ's seven).
MAX_COMPOSITE = len(seg.CHANNEL_COLORS)
_SPECS = {spec.name: spec for spec in seg.ThresholdRecipe.specs()}
_COLOUR_NAMES = {(255, 0, 0): "red", (0, 255, 0): "green", (0, 0, 255): "blue", (255, 255, 255): "grey",
                 (0, 255, 255): "cyan", (255, 0, 255): "magenta", (255, 255, 0): "yellow"}


_BLUE, _GREEN, _MAGENTA = (0, 0, 255), (0, 255, 0), (255, 0, 255)
#: Channel names that say their colour: green emitters (GFP, FITC, Alexa 488) and red ones (shown magenta, which
#: stays apart from green for colour-blind eyes).
_NAMED_COLOURS = ((("gfp", "fitc", "488", "green", "yfp"), _GREEN),
                  (("rfp", "mcherry", "cherry", "tritc", "cy3", "555", "561", "568", "594", "texas", "tomato",
                    "red"), _MAGENTA))


def composite_colours(info: ImageInfo) -> list[tuple[int, int, int]]:
    """A colour per channel: a nuclear stain blue (as microscopists show DAPI), a channel named like a green
    or red dye green or magenta, the others the unused ones of green, magenta, yellow, cyan, red, grey
    (ImageJ's composite colours, green and magenta first: they stay apart for colour-blind eyes)."""
    names = [name.lower() for name in info.channel_names] + [""] * info.n_channels
    colours: list = [None] * info.n_channels
    stain = next((i for i in range(info.n_channels) if names[i] and _is_stain(names[i])), None)
    if stain is not None:
        colours[stain] = _BLUE
    for words, colour in _NAMED_COLOURS:
        for i in range(info.n_channels):
            if colours[i] is None and colour not in colours and any(w in names[i] for w in words):
                colours[i] = colour
    spare = iter([c for c in (_GREEN, _MAGENTA, (255, 255, 0), (0, 255, 255), (255, 0, 0), (255, 255, 255), _BLUE)
                  if c not in colours])
    return [colour if colour is not None else next(spare) for colour in colours]


def is_stack(info: ImageInfo) -> bool:
    """Whether the file has channels, planes or time points to choose from."""
    return info.n_channels > 1 or info.n_planes > 1 or info.n_timepoints > 1


def _is_stain(name: str) -> bool:
    lowered = name.lower()
    return any(stain in lowered for stain in seg.NUCLEAR_STAINS)


def channel_options(info: ImageInfo) -> tuple[list[str], dict[str, str]]:
    """The channel box's options as the URL writes them, and what the box shows for each.

    ``"luminance"`` (the recipe's default) is the automatic choice: the nuclear stain, else channel 0, as the
    library and the command line choose. Each channel is then named by its name in the file (``DAPI``) when
    that name is a valid, unique recipe value, else by its index (``2``).
    """
    names = list(info.channel_names) + [""] * (info.n_channels - len(info.channel_names))
    auto = info.channel if info.channel is not None else 0
    # Short, so the sidebar's box shows it whole ("Automatic: DAPI (nuclear st…" was cut); the section's
    # caption says why (auto_channel_words).
    options, shown = ["luminance"], {"luminance": f"Auto: {names[auto] or f'channel {auto}'}"}
    for index, name in enumerate(names):
        text = str(index)
        if name and names.count(name) == 1 and not name.strip().isdigit():
            try:
                if _SPECS["channel"].from_text(name) == name and name not in seg.CHANNELS:
                    text = name
            except ValueError:
                pass
        options.append(text)
        shown[text] = f"{index}: {name}" if name else f"Channel {index}"
    return options, shown


def auto_channel_words(info: ImageInfo) -> str:
    """Why the automatic channel is the one it is: "Auto: DAPI, the nuclear stain." (for the section's caption)."""
    names = list(info.channel_names) + [""] * info.n_channels
    auto = info.channel if info.channel is not None else 0
    name = names[auto] or f"channel {auto}"
    if names[auto] and _is_stain(names[auto]):
        return f"Auto: {name}, the nuclear stain."
    return f"Auto: {name}, the first channel (no channel is named like a nuclear stain)."


def _normalise_channel_link(options: list[str], info: ImageInfo) -> None:
    """A link naming a channel by its index, or by its name in other letter case, opens that channel's option."""
    text = st.query_params.get("channel")
    if text is None or text in options:
        return
    names = [name.casefold() for name in info.channel_names]
    index = int(text) if text.strip().isdigit() else (names.index(text.casefold()) if text.casefold() in names
                                                      else None)
    if index is not None and 0 <= index < info.n_channels:
        st.query_params["channel"] = options[index + 1]


def _keep_in_range(key: str, high: int) -> None:
    held = st.session_state.get(key)
    if isinstance(held, int) and not 0 <= held <= high:
        del st.session_state[key]


def has_choices(info: ImageInfo) -> bool:
    """Whether the file gets a *Channel and plane* section: channels, planes, time points, series or pages."""
    return is_stack(info) or info.n_series > 1 or info.plain_pages


def resolved_projection(projection: str, info: ImageInfo) -> str:
    """What a recipe's ``projection`` does on this file: "auto" is the maximum of a file whose metadata has
    z-planes, one plane of pages without metadata (:func:`segmentation.load_image`)."""
    if projection != "auto":
        return projection
    return "max" if "Z" in info.axes and info.n_planes > 1 else "none"


def file_widgets(info: ImageInfo, box) -> dict[str, Any]:
    """The series (a multi-series file) and what the pages of a plain multi-page TIFF are; their recipe values.

    They come first: the file's channels, planes and time points (the other boxes) depend on them.
    """
    values: dict[str, Any] = {"series": 0, "pages": "planes"}
    if info.n_series > 1:
        _keep_in_range("series", info.n_series - 1)
        values["series"] = spec_widget(_SPECS["series"], 0, container=box,
                                       overrides={"min": 0, "max": info.n_series - 1})
    if info.plain_pages:
        values["pages"] = choice_box(box, "pages", "Pages are", list(seg.PAGES), "planes",
                                     format_func=PAGE_WORDS.get, help=_SPECS["pages"].help)
    return values


def selection_widgets(info: ImageInfo, box=None, head: dict[str, Any] | None = None) -> dict[str, Any]:
    """Draw the *Channel and plane* section's boxes for the channels, planes and time points of ``info`` (the
    series and pages chosen, ``head``); return the recipe values of :data:`FILE_PARAMS`.

    The channel is left out (the recipe's colour channel, in *Pre-processing*) when the file has one channel.
    """
    box = box if box is not None else st.sidebar.expander("Channel and plane", expanded=True)
    head = dict(head or {})
    values: dict[str, Any] = {"series": 0, "pages": "planes", **head, "projection": "auto", "plane": 0,
                              "timepoint": 0}
    parts = []
    if info.n_series > 1:
        parts.append(f"{info.n_series} image series")
    if info.n_channels > 1:
        options, shown = channel_options(info)
        _normalise_channel_link(options, info)
        spec = _SPECS["channel"]
        signature = hashlib.blake2b("\0".join(options).encode(), digest_size=6).hexdigest()
        text = choice_box(box, "channel", spec.label, options, "luminance", format_func=shown.get,
                          widget_key=f"file_channel_{signature}",
                          help=f"Which of the file's {info.n_channels} channels is segmented. Auto: the nuclear "
                               "stain (a channel named DAPI, Hoechst, DRAQ5, ...), else the first channel.")
        values["channel"] = spec.from_text(text)
        parts.append(f"{info.n_channels} channels")
    resolved = "none"
    if info.n_planes > 1:
        pages = "Z" not in info.axes
        auto = "Auto: one page" if pages else "Auto: maximum"
        words = {"auto": auto, **_PROJECTION_WORDS}
        values["projection"] = choice_box(box, "projection", _SPECS["projection"].label, list(seg.PROJECTIONS),
                                          "auto", format_func=words.get, help=_SPECS["projection"].help)
        resolved = resolved_projection(values["projection"], info)
        if resolved == "none":
            _keep_in_range("plane", info.n_planes - 1)
            label = "Page" if pages else _SPECS["plane"].label
            values["plane"] = spec_widget(_SPECS["plane"], 0, container=box,
                                          overrides={"min": 0, "max": info.n_planes - 1, "slider": True,
                                                     "label": label})
        parts.append(f"{info.n_planes} {'pages' if pages else 'z-planes'}")
    if info.n_timepoints > 1:
        _keep_in_range("timepoint", info.n_timepoints - 1)
        values["timepoint"] = spec_widget(_SPECS["timepoint"], 0, container=box,
                                          overrides={"min": 0, "max": info.n_timepoints - 1, "slider": True})
        parts.append(f"{info.n_timepoints} time points")
    if parts:
        read = ("only the chosen plane is read" if resolved == "none" or info.n_planes == 1 else
                f"the planes are read one at a time for the {resolved} projection")
        words = [f"This file holds {', '.join(parts)}; {read}."]
        if info.n_channels > 1:
            words.append(auto_channel_words(info))
        box.caption(" ".join(words))
    return values


_PROJECTION_WORDS = {"none": "None (one plane)", "max": "Maximum", "mean": "Mean", "sum": "Sum"}


def selection_of(values: dict[str, Any]) -> tuple:
    """(channel, plane, timepoint, projection, pages, series) as :func:`segmentation.file_selection` gives them."""
    recipe = seg.ThresholdRecipe(**{name: values[name] for name in FILE_PARAMS if name in values})
    chosen = seg.file_selection(recipe)
    return tuple(chosen[name] for name in ("channel", "plane", "timepoint", "projection", "pages", "series"))


def place(values: dict[str, Any]) -> None:
    """Record this run's file selection and hide the measurement parameters from the recipe sections."""
    placed = {name: _SPECS[name].default for name in FILE_PARAMS[:2] + ("projection", "plane", "timepoint")
              + MEASURE_PARAMS}
    placed.update(values)
    place_params(placed)


@st.cache_resource(max_entries=8, ttl=3600, show_spinner=False)
def decode_selection(key: str, selection: tuple, _source) -> tuple[np.ndarray, ImageInfo]:
    """One selection (:func:`selection_of`) of the file ``_source`` (bytes or a path).

    Keyed by the file's content key and the selection: each is decoded once (only its pages), read-only.
    """
    channel, plane, timepoint, projection, pages, series = selection
    image, info = seg.load_image(_source, with_info=True, channel=channel, plane=plane, timepoint=timepoint,
                                 projection=projection, pages=pages, series=series)
    seg.as_image(image)
    image.setflags(write=False)
    return image, info


def _is_first_read(selection: tuple, info: ImageInfo) -> bool:
    """Whether ``selection`` reads what the file opens with (``load_image`` without a selection).

    The file opens with the recipe's default projection, "auto" (the maximum of a z-stack): choosing one plane
    ("none") of a z-stack is another read, and so is a plane other than the first of what opens as one plane.
    """
    channel, plane, timepoint, projection, pages, series = selection
    opened, chosen = resolved_projection("auto", info), resolved_projection(projection, info)
    # "max" chosen by name reads the same pixels as "auto" on a z-stack, but the caption must not say "automatic"
    said_alike = projection == "auto" or chosen == "none" or info.n_planes <= 1
    return (channel == "luminance" and timepoint == 0 and pages == "planes" and series == 0 and chosen == opened
            and said_alike and (chosen != "none" or plane == 0))


def _opening_words(info: ImageInfo) -> str:
    """What a file opens with (``load_image`` without a selection), in words: "its first plane", or "the maximum
    projection of its z-planes" for a z-stack (the recipe's default projection, "auto")."""
    return ("the maximum projection of its z-planes" if resolved_projection("auto", info) == "max"
            else "its first plane")


def follow_selection(current, source) -> Any:
    """The current image as the *Channel and plane* section chooses it (a plain image: as it is).

    ``current`` is the file as it opens (:class:`studio_ui.source.CurrentImage`); ``source`` its bytes or path
    (None when only its default plane is still held, after a reload). The returned image has its own content
    key (the file's key and the selection), so every cache keyed by it follows the selection; its ``base_key``
    and ``base_info`` are those of the series (and pages reading) chosen, as it opens.
    """
    if not has_choices(current.info):
        place({})
        return current
    box = st.sidebar.expander("Channel and plane", expanded=True)
    head = file_widgets(current.info, box)
    base_key, base_info = current.key, current.info
    if head != {"series": 0, "pages": "planes"} and source is not None:
        try:
            _, base_info = decode_selection(current.key, ("luminance", 0, 0, "none", head["pages"], head["series"]),
                                            source)
            base_key = f"{current.key}|series {head['series']}|pages {head['pages']}"
        except Exception as error:  # noqa: BLE001 - drawn before the page's error handling
            words = str(error) if isinstance(error, ValueError) else f"could not be read ({type(error).__name__})"
            box.error(f"This series or page reading: {words}. The file's first series is shown.",
                      icon=":material/error:")
            head = {"series": 0, "pages": "planes"}
    values = selection_widgets(base_info, box, head)
    place(values)
    selection = selection_of({"channel": "luminance", **values})
    if _is_first_read(selection, current.info):
        return dataclasses.replace(current, source=source, base_key=current.key, base_info=current.info)
    if source is None:
        st.sidebar.info(f"This upload came back after a reload with {_opening_words(current.info)} only: upload the "
                        "file again to choose another channel, plane or projection.", icon=":material/info:")
        return dataclasses.replace(current, base_key=current.key, base_info=current.info)
    try:
        image, info = decode_selection(current.key, selection, source)
    except Exception as error:  # noqa: BLE001 - drawn before the page's error handling: never the error screen
        words = str(error) if isinstance(error, ValueError) else f"could not be read ({type(error).__name__})"
        st.sidebar.error(f"This channel or plane: {words}. The file is shown as it opens "
                         f"({_opening_words(current.info)}).", icon=":material/error:")
        return dataclasses.replace(current, source=source, base_key=current.key, base_info=current.info)
    text = "|".join(map(str, selection))
    return dataclasses.replace(current, key=f"{current.key}|{text}", image=image, info=info, source=source,
                               base_key=base_key, base_info=base_info)


# -- the original as a colour composite -----------------------------------------------------------------
@st.cache_resource(max_entries=4, ttl=1800, show_spinner=False)
def _channel_previews(base_key: str, plane: int, timepoint: int, projection: str, side: int,
                      _source, series: int = 0, pages: str = "planes") -> tuple[np.ndarray, ...]:
    """Every channel of one plane, each downscaled as the live preview is (read-only)."""
    channels, _ = seg.load_channels(_source, plane=plane, timepoint=timepoint, projection=projection,
                                    series=series, pages=pages, max_channels=MAX_COMPOSITE)
    small = []
    for channel in channels:
        shrunk, _ = seg.downscale(channel, side, kind="image")
        shrunk = np.array(shrunk) if shrunk is channel else shrunk
        shrunk.setflags(write=False)
        small.append(shrunk)
    return tuple(small)


@st.cache_data(max_entries=16, ttl=1800, show_spinner=False)
def _composite_jpeg(base_key: str, plane: int, timepoint: int, projection: str, side: int, highlight: int,
                    colours: tuple, _channels: tuple) -> bytes:
    return seg.encode_jpeg_bytes(seg.channel_composite(list(_channels), highlight, colors=colours), quality=90)


def original_view(current, side: int, factor: float, preview: np.ndarray) -> tuple[bytes, bool, str | None]:
    """The live view of the original: (JPEG bytes, whether stretched, its caption or None for the usual one).

    A file of 2 to 7 channels shows every channel in its colour (ImageJ's composite colours), the segmented
    channel at full strength and the others dimmed (:func:`composite_view`).
    """
    composite = composite_view(current, side, preview)
    if composite is not None:
        return composite[0], True, composite[1]
    data, stretched = compute.original_view(current.key, factor, preview)
    return data, stretched, None


def composite_view(current, side: int, preview: np.ndarray) -> tuple[bytes, str] | None:
    """A multi-channel file's colour composite at the live preview's size and its caption (a legend of the
    channels); None for any other image.

    Every channel in its colour (ImageJ's composite colours), the segmented channel at full strength and the
    others dimmed (:func:`segmentation.channel_composite`).
    """
    info = current.info
    source = getattr(current, "source", None)
    if not 1 < info.n_channels <= MAX_COMPOSITE or source is None or info.channel is None:
        return None
    plane = info.plane or 0
    try:
        channels = _channel_previews(current.base_key, plane, info.timepoint or 0, info.projection, side, source,
                                     info.series, info.pages)
    except ValueError:  # channels of RGB pixels, too many: the segmented channel alone
        return None
    if channels[0].shape != preview.shape[:2]:
        return None
    colours = tuple(composite_colours(info))
    data = _composite_jpeg(current.base_key, plane, info.timepoint or 0, info.projection, side, info.channel,
                           colours, channels)
    names = list(info.channel_names) + [""] * info.n_channels
    legend = ", ".join(
        (f"**{names[i] or f'channel {i}'}** ({_COLOUR_NAMES[colours[i]]}, segmented)" if i == info.channel
         else f"{names[i] or f'channel {i}'} ({_COLOUR_NAMES[colours[i]]}, dimmed)")
        for i in range(info.n_channels))
    return data, f"Original: all channels, each contrast stretched — {legend}"


# -- pixel size and unit --------------------------------------------------------------------------------
_MEASURE_FOR = "studio_measure_for"  # per page: the file the pixel size boxes were last filled from


def measurement_settings(current) -> tuple[dict[str, Any], PixelSize]:
    """The *Measurements* section: pixel size and unit, filled from the file and overridable.

    Returns the recipe's ``pixel_size`` and ``unit`` (``pixel_size`` None, "from the file", while the boxes hold
    what the file says, so the recipe carries the same meaning to other files and to the command line) and
    the scale measurements use (:func:`segmentation.resolve_pixel_size`).

    The address bar holds the pixel size (and its unit, unless µm) exactly when the recipe has one of its own:
    typed over the file's, 0 for pixels, or any size on an image that gives none. Streamlit's own URL binding
    cannot say this: it leaves out a box's default, and the default here is the file's pixel size, so 0.325
    typed with another unit over a file's 0.325 µm never reached the address (nor a share link). The boxes are
    kept in the URL here instead (:func:`_measure_from_url`, :func:`_measure_to_url`).
    """
    info = getattr(current, "base_info", None) or current.info
    spec_size, spec_unit = _SPECS["pixel_size"], _SPECS["unit"]
    file_unit = _unit_or_none(info.unit)
    file_size = float(info.pixel_size) if info.pixel_size and file_unit else None
    default_size, default_unit = file_size or 0.0, (file_unit if file_size else None) or spec_unit.default
    base_key = getattr(current, "base_key", None) or current.key
    page = st.session_state.get("studio_page")
    seen = st.session_state.setdefault(_MEASURE_FOR, {})
    if page in seen and seen[page] != base_key:  # another file: its own pixel size fills the boxes
        st.session_state["pixel_size"] = default_size
        st.session_state["unit"] = default_unit
    seen[page] = base_key
    box = st.sidebar.expander("Measurements", expanded=file_size is not None)
    _measure_from_url("pixel_size", default_size, lambda text: _size_or_none(text, spec_size.max), box)
    _measure_from_url("unit", default_unit, _unit_or_none, box)
    size = box.number_input(spec_size.label, 0.0, spec_size.max, default_size, format="%g", key="pixel_size",
                            help=spec_size.help + " Filled from the file when it says.")
    # A text box, not a closed list: "um", "micron" or "nanometre" are typed as often as µm and nm.
    typed = box.text_input(spec_unit.label, default_unit, key="unit", max_chars=16, help=spec_unit.help)
    unit = _unit_or_none(typed)
    if unit is None:
        box.warning(f"The unit {typed[:20]!r} is not a length unit ({', '.join(seg.UNITS)}); using µm.")
        unit = "µm"
    if size is None or (file_size is not None and size == file_size and unit == file_unit) \
            or (file_size is None and size == 0):
        recipe_size = None  # what the file says (or pixels when it says nothing): the recipe's "auto"
    else:
        recipe_size = float(size)
    _measure_to_url("pixel_size", None if recipe_size is None else repr(recipe_size))
    _measure_to_url("unit", None if recipe_size is None or unit == spec_unit.default else unit)
    scale = seg.resolve_pixel_size(recipe_size, unit, info)
    box.caption(scale_words(scale, info))
    return {"pixel_size": recipe_size, "unit": unit}, scale


def _unit_or_none(text) -> str | None:
    """A unit in any accepted spelling as one of :data:`segmentation.UNITS`, or None."""
    try:
        return seg.length_unit(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _size_or_none(text: str, high: float) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if 0 <= number <= high else None  # (NaN fails both)


def _measure_from_url(key: str, default: Any, parse, box) -> None:
    """Before the box is drawn: the value the URL gives as the page opens (a link, Back or Forward, a reload).

    Once this page has written the parameter (:func:`_measure_to_url`, on every run of this visit), the boxes
    decide and the address follows them: within a visit the address changes only through the page itself, so a
    different one is a stale echo (a change made while the previous run was still writing the address), which
    must not undo what was just typed. A parameter the address no longer names after Back puts the box back to
    its default (the file's value); a value the box cannot take is dropped, in words.
    """
    seen = st.session_state.setdefault(URL_CHOICES_KEY, {}).setdefault(st.session_state.get("studio_page"), {})
    text = st.query_params.get(key)
    if key in seen:
        return
    seen[key] = text
    if text is not None:
        value = parse(text)
        if value is not None:
            st.session_state[key] = value
            return
        del st.query_params[key]
        seen[key] = None
        box.caption(f"The link's {key}={text[:20]} was ignored: not a "
                    + (f"number from 0 to {_SPECS[key].max:g}." if key == "pixel_size"
                       else f"length unit ({', '.join(seg.UNITS)})."))
    elif seen.get("*back"):
        st.session_state[key] = default


def _measure_to_url(key: str, wanted: str | None) -> None:
    """After the box is drawn: the URL holds ``wanted`` (None: nothing)."""
    if st.query_params.get(key) != wanted:
        if wanted is None:
            del st.query_params[key]
        else:
            st.query_params[key] = wanted
    st.session_state.setdefault(URL_CHOICES_KEY, {}).setdefault(st.session_state.get("studio_page"), {})[key] = wanted


def scale_words(scale: PixelSize, info: ImageInfo) -> str:
    """Where the measurement scale comes from, in words (for under the pixel size boxes)."""
    said = (f"the file says {info.pixel_size:g} {info.unit} per pixel, in its {info.pixel_size_source}"
            if info.pixel_size and info.unit else "")
    if scale.size is None:
        return "Measured in pixels: " + (f"the pixel size is set to 0 ({said})." if said else
                                         "the file gives no pixel size (type one in to measure in its unit).")
    if scale.source == "the recipe":
        return f"Measured in {scale.unit}: {scale.size:g} {scale.unit} per pixel, set here" + \
            (f" ({said})." if said else ".")
    return f"Measured in {scale.unit}: {scale.size:g} {scale.unit} per pixel, from the file ({info.pixel_size_source})."
