"""What every page shows: the three aligned views, the numbers, the histogram, the table, the exports,
the share link and a closer look at full resolution."""

from __future__ import annotations

import inspect
import re
from typing import Callable
from urllib.parse import urlencode

import cv2
import numpy as np
import streamlit as st

import segmentation as seg
from segmentation import MeasurementTable, encode_png_bytes, float_exponent

PREVIEW_SIDES = (512, 768, 1024, 1536, 2048)
DEFAULT_PREVIEW_SIDE = 1024


#: The outline colour the command line draws (``seg.boundary_overlay``'s default): with the page's default style
#: the overlay download is the CLI's ``_overlay.png`` (#10 review: (255, 32, 32) here, (255, 0, 0) there).
_OVERLAY_HEX = "#{:02X}{:02X}{:02X}".format(*inspect.signature(seg.boundary_overlay).parameters["color"].default)


def display_settings() -> tuple[int, tuple[tuple[int, int, int], int, float]]:
    """Sidebar controls for the preview size and the overlay style (all in the URL)."""
    with st.sidebar.expander("Display"):
        side = st.select_slider(
            "Live preview long side (px)", PREVIEW_SIDES, value=DEFAULT_PREVIEW_SIDE, key="preview",
            bind="query-params",
            help="The live view is computed on a copy this size, with pixel parameters scaled to match; "
                 "downloads are always computed at full resolution.")
        colour = st.color_picker("Outline colour", _OVERLAY_HEX, key="outline", bind="query-params")
        thickness = st.slider("Outline thickness (px)", 1, 5, 1, key="thickness", bind="query-params")
        opacity = st.slider("Fill opacity", 0.0, 1.0, 0.0, 0.05, key="fill", bind="query-params",
                            help="Tint each object with its label colour.")
    rgb = tuple(int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    return int(side), (rgb, int(thickness), float(opacity))


def three_views(original: bytes, middle: bytes, overlay: bytes, *, middle_title: str, stretched: bool,
                factor: float, original_caption: str | None = None) -> None:
    """Original, mask (or labels) and overlay, side by side at the same size.

    ``original_caption`` replaces the original's usual caption (a multi-channel file's colour composite says
    which colour is which channel).
    """
    left, centre, right = st.columns(3, gap="small")
    caption = original_caption or "Original" + (" (contrast stretched for display)" if stretched else "")
    left.image(original, caption=caption, width="stretch", output_format="JPEG")
    centre.image(middle, caption=middle_title, width="stretch", output_format="PNG")
    right.image(overlay, caption="Boundaries on the original", width="stretch", output_format="JPEG")
    if factor < 1:
        st.caption(f"Live preview at {factor:.0%} of full size (long side set under Display); "
                   "downloads and *Look closer* use full resolution.")


def _axis_format(edges: np.ndarray) -> str | None:
    """Exponent notation for huge or tiny values (3e-37, not a row of zeros); Vega's default otherwise (None)."""
    peak = float(np.max(np.abs(edges[[0, -1]])))
    return None if peak == 0 or 1e-3 <= peak < 1e6 else ".2~e"


def finite_values(array: np.ndarray) -> np.ndarray:
    """``array`` itself when every value is finite (integer arrays always), else its finite values (1-D).

    A float upload keeps its NaN and ±inf pixels ("no data"); a plain ``min``/``max`` of it would give NaN
    or infinity to a slider range or a histogram.
    """
    if array.dtype.kind != "f" or np.isfinite(array).all():
        return array
    return array[np.isfinite(array)]


def finite_limits(array: np.ndarray) -> tuple[float, float] | None:
    """The smallest and largest finite values of ``array``, or None when it holds none."""
    values = finite_values(array)
    if values.size == 0:
        return None
    return float(values.min()), float(values.max())


#: The Vega-Lite version Streamlit's chart element renders (``st.vega_lite_chart``).
_VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"


def histogram_spec(processed: np.ndarray, thresholds: tuple[float, ...], *, log: bool = False) -> dict:
    """Intensity histogram (256 bins, one filled step line) of the channel the method saw, with the threshold(s)
    as red rules: a Vega-Lite specification for ``st.vega_lite_chart``.

    NaN and ±inf pixels (a float image's "no data") have no place on the axis and are left out.

    Written as the plain dictionary Altair would produce (an area of the bins, a rule per threshold), not
    built with Altair: Altair's chart objects, their schema validation and Streamlit's conversion of their
    data frames took 55-62 ms of every slider rerun on a 12-megapixel photo, a third of the rerun
    (``python -m benchmarks.browser_latency --profile``); this takes about a millisecond. The tests validate
    it against Altair's Vega-Lite schema.
    """
    if processed.dtype == np.uint8:
        counts = cv2.calcHist([processed], [0], None, [256], [0, 256]).ravel()
        edges = np.arange(257, dtype=float)
    else:
        values = finite_values(processed)
        if values.dtype == np.float32 and values.size and float_exponent(values.reshape(1, -1)):
            values = values.astype(np.float64)  # numpy cannot bin a float32 range near ±3e38 or near 1e-38
        lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 1.0)
        counts, edges = np.histogram(values, bins=256, range=(lo, hi if hi > lo else lo + 1))
    thresholds = tuple(float(t) for t in thresholds if np.isfinite(t))
    # One filled step line, each bin's count held from its start to the next bin's: a row per bin edge, the last
    # edge repeating the last count so that the last bin has its width. The 256 rectangles of a bar chart, one
    # mark item each, cost the browser 14 ms of every slider move on a 12-MP photo (169 ms against 155 ms, floor
    # 125 ms; medians of 16 interleaved moves); one area is one item. Per-bin tooltips went with them.
    pixels = counts.astype(float).tolist()
    rows = [{"value": edge, "pixels": count} for edge, count in zip(edges.tolist(), pixels + pixels[-1:])]
    # The axis spans the bins exactly: Vega's "nice" domain ran an 8-bit histogram on to 260.
    x = {"field": "value", "type": "quantitative", "title": "intensity (image units)",
         "scale": {"domain": [float(edges[0]), float(edges[-1])], "nice": False}}
    if (axis_format := _axis_format(edges)) is not None:
        x["axis"] = {"format": axis_format}
    y = {"field": "pixels", "type": "quantitative", "title": "pixels"}
    if log:
        # Ticks at 0 and the powers of ten from 10 (1 sits too close to 0 to have room for a label), written out
        # with thousands separators: Vega's own symlog ticks were "0" and the largest count alone, with the grid
        # lines bunched at the top (issue 15's trial), and it writes "1e+3" whatever the axis' format says.
        top = max(pixels, default=0.0)
        decades = [0.0] + [10.0 ** k for k in range(1 if top >= 10 else 0, int(np.log10(top)) + 1 if top >= 1 else 0)]
        y["scale"] = {"type": "symlog"}
        y["axis"] = {"values": decades, "labelExpr": "format(datum.value, ',')"}
    layers = [{"data": {"name": "bins"}, "mark": {"type": "area", "color": "#7a8699", "interpolate": "step-after"},
               "encoding": {"x": x, "y": y}}]
    datasets = {"bins": rows}
    if thresholds:
        datasets["thresholds"] = [{"threshold": t} for t in thresholds]
        layers.append({"data": {"name": "thresholds"},
                       "mark": {"type": "rule", "color": "#d62728", "size": 2, "clip": True},
                       "encoding": {"x": {"field": "threshold", "type": "quantitative"},
                                    "tooltip": [{"field": "threshold", "type": "quantitative", "format": ".4g"}]}})
    # Named datasets: Streamlit sends them apart from the spec, which then stays the same while a slider moves
    # the threshold, so the browser updates the chart's data instead of drawing a new chart (inline values made
    # the spec differ at every move and the page slower in the browser than Altair's chart, measured).
    return {"$schema": _VEGA_LITE_SCHEMA, "height": 220, "datasets": datasets, "layer": layers}


def count_of(number: int, noun: str) -> str:
    """"1 object", "2,031 objects": a count with its noun in the right number (nouns with a plain -s plural)."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def format_ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:,.0f} ms"


def result_notes(notes: tuple[str, ...], processed: np.ndarray | int) -> list[str]:
    """A result's notes to show, less the one restating how many of its pixels are not finite.

    ``processed``: the result's processed channel, or its number of non-finite pixels.

    The line under the page title already says how many pixels of the image are NaN or infinite (the
    image's own notes, counted at full resolution), so it is said once; the result's count would be of the
    live preview. The note is recognised by that count of pixels ("20,000 pixels ..."), not by its wording.
    """
    if isinstance(processed, np.ndarray):
        count = int(np.count_nonzero(~np.isfinite(processed))) if processed.dtype.kind == "f" else 0
    else:
        count = int(processed)
    if not count:
        return list(notes)
    number = re.compile(rf"(?<![\d,.])(?:{count:,}|{count}) pixels?\b")
    return [note for note in notes if not number.search(note)]


def format_thresholds(thresholds: tuple[float, ...], dtype: np.dtype, method: str = "") -> str:
    """The threshold(s) in the image's units; a local method's are "per pixel", a constant image has none."""
    if not thresholds:
        return "none (constant image)" if method and method not in seg.LOCAL_METHODS else "per pixel"
    if np.issubdtype(dtype, np.integer):
        return ", ".join(f"{t:.2f}".rstrip("0").rstrip(".") for t in thresholds)
    return ", ".join(f"{t:.4g}" for t in thresholds)


#: Column names of :func:`segmentation.measure` that read better written out, without their unit.
_HEADER_WORDS = {"label": "Label", "bbox": "Bbox", "equivalent_diameter": "Equivalent diameter"}


def column_headers(table: MeasurementTable) -> dict[str, str]:
    """A readable header with its unit for each column of ``table`` (``area_um2`` -> "Area (µm²)").

    The headers are only what the page shows: the CSV download keeps the column names (``area_um2``).
    Lengths and areas take the table's unit (``px`` for pixels: an area in pixels is a pixel count); the
    bounding box is always in pixels; ratios and intensities have no unit.
    """
    unit = table.unit or "px"
    suffix = "px" if unit == "px" else seg.unit_suffix(unit)
    headers = {}
    for name in table.column_names:
        stem, shown = name, ""
        if name.startswith("bbox_"):
            shown = "px"
        elif suffix != "px" and name.endswith(f"_{suffix}2"):
            stem, shown = name[:-len(suffix) - 2], f"{unit}²"
        elif name.endswith(f"_{suffix}"):
            stem, shown = name[:-len(suffix) - 1], unit
        words = _HEADER_WORDS.get(stem) or " ".join("column" if w == "col" else w for w in stem.split("_")).capitalize()
        headers[name] = f"{words} ({shown})" if shown else words
    return headers


def measurement_table(table: MeasurementTable, *, height: int = 320) -> None:
    """The measurements, one row per object, under readable headers with their units (the CSV keeps the
    column names)."""
    if len(table) == 0:
        st.info("No objects to measure.")
        return
    config = {name: st.column_config.Column(header) for name, header in column_headers(table).items()}
    st.dataframe(table.columns, height=height, hide_index=True, width="stretch", column_config=config)


def download_row(files: list[tuple[str, str, Callable[[], bytes] | bytes | str, str] | str]) -> None:
    """One download button per (label, file name, data or callable, mime); a plain string instead of a
    tuple is a message shown under the buttons (a file that cannot hold this result).

    The buttons take their labels' width and wrap to a second line when the row is full: in equal columns, five
    of them cut their labels at a 1280-px window ("Labels PNG (16…", "Measurements…", #10 review).
    """
    row = st.container(horizontal=True, gap="small")
    for entry in files:
        if isinstance(entry, str):
            continue
        label, name, data, mime = entry
        row.download_button(label, data=data, file_name=name, mime=mime, width="content",
                            on_click="ignore", icon=":material/download:")
    for entry in files:
        if isinstance(entry, str):
            st.info(entry, icon=":material/info:")


def histogram_caption(thresholds: tuple[float, ...], polarity: str, method: str = "", *, factor: float = 1.0) -> str:
    """What the histogram shows. ``factor`` < 1: it is the live preview's, whose threshold may differ from the
    full-resolution one in the metrics (a watershed's default top-hat on a 12-MP photo: 35 here, 44 there, issue
    15's trial), so it says so."""
    what = ("Histogram of the channel the method saw (after pre-processing)" if factor >= 1 else
            f"Histogram of the channel the method saw on the live preview ({factor:.0%} of full size; the metrics "
            "give the full-resolution threshold)")
    if not thresholds and method and method not in seg.LOCAL_METHODS:
        return f"{what}. It holds one value, so there is nothing to separate and no threshold is drawn."
    if not thresholds:
        return f"{what}. A local method computes a threshold for every pixel, so none is drawn."
    side = "above" if polarity == "bright" else "at or below"
    return f"{what}. Red: the threshold(s); foreground is {side} it."


def current_query() -> dict[str, list[str]]:
    """The page's URL query as the widgets bound to it hold it right now."""
    from .page import address_follows_changes  # page imports the views' modules' neighbours; import when used

    address_follows_changes()  # a value the browser did not write to the address is in the link all the same
    return {key: st.query_params.get_all(key) for key in st.query_params}


def share_link(*, is_upload: bool, sample_title: str) -> None:
    """The link that reopens this view: the page's address with every bound widget's value."""
    base = st.context.url or ""
    query = urlencode(current_query(), doseq=True)
    link = f"{base}?{query}" if query else base
    st.code(link, language=None, wrap_lines=True)
    if is_upload:
        st.caption(f"Your uploaded image is **not** part of the link (nothing you upload leaves this session). "
                   f"Whoever opens it sees these parameters on the sample *{sample_title}*.")
    else:
        st.caption("The address bar always holds this link; the copy button is at the top right of the box.")


def look_closer(image: np.ndarray, segmentation_fn: Callable[[], np.ndarray], *, labels: bool,
                style: tuple) -> None:
    """A full-resolution crop of the original, the mask/labels and the overlay, magnified."""
    h, w = image.shape[:2]
    c1, c2, c3 = st.columns(3)
    zoom = c1.select_slider("Magnification", [1, 2, 4, 8], value=1, key="zoom", bind="query-params",
                            help="Screen pixels per image pixel (1 = full resolution, 1:1).")
    cx = c2.slider("Centre, across (%)", 0, 100, 50, key="zoom_x", bind="query-params")
    cy = c3.slider("Centre, down (%)", 0, 100, 50, key="zoom_y", bind="query-params")
    size = max(16, 480 // zoom)
    half = size // 2
    row = int(np.clip(cy / 100 * h, half, max(half, h - half)))
    col = int(np.clip(cx / 100 * w, half, max(half, w - half)))
    window = (slice(max(0, row - half), min(h, row + half)), slice(max(0, col - half), min(w, col + half)))
    with st.spinner("Computing at full resolution…"):
        segmentation = segmentation_fn()
    crop_image = image[window]
    crop_seg = segmentation[window]
    shown, _ = seg.display_image(crop_image)
    middle = seg.colorize_labels(crop_seg) if labels else seg.mask_image(crop_seg)
    color, thickness, opacity = style
    overlay = seg.boundary_overlay(crop_image, crop_seg, color=color, thickness=thickness, fill_opacity=opacity)
    views = [cv2.resize(v, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_NEAREST) if zoom > 1 else v
             for v in (shown, middle, overlay)]
    st.caption(f"Rows {window[0].start}–{window[0].stop}, columns {window[1].start}–{window[1].stop} of the "
               f"full-resolution {w}×{h} image, at {zoom}×.")
    for column, view in zip(st.columns(3, gap="small"), views):
        column.image(encode_png_bytes(view), width="content", output_format="PNG")
