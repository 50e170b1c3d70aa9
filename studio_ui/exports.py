"""Downloads: full-resolution results encoded only when the user clicks, plus the recipe files.

A download button's ``data`` callable runs after the page has been drawn, where an exception can no longer
be shown: the browser only says "Failed to generate file for download". So everything that can fail (the
full-resolution computation, a file format that cannot hold the result) is done or checked while the
section is drawn, inside the page's error handling; the callables only encode arrays already computed.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import streamlit as st

import segmentation as seg
from segmentation import MeasurementTable, PixelSize, as_labels, measure, to_python

from .compute import Timed
from .views import count_of, download_row, format_ms

#: The highest label a 16-bit PNG holds.
PNG_LABELS_MAX = 65535


def png_labels_refusal(objects: int) -> str | None:
    """Why a 16-bit labels PNG cannot hold ``objects`` objects (labels 1..N), or None when it can."""
    if objects <= PNG_LABELS_MAX:
        return None
    return (f"**No labels PNG**: {objects:,} objects, and a 16-bit PNG holds at most {PNG_LABELS_MAX:,} labels. "
            "The **Labels TIFF** (32-bit) holds them all.")


#: The exports for the next tool: (format, button label, file suffix, mime, what opens it, stage words).
INTEROP = (
    ("roi", "ROI set (Fiji)", "_rois.zip", "application/zip",
     "Fiji: drop the zip on the ROI Manager (or *More › Open…*) — one traced polygon per object, named by its label.",
     "Writing ROI set…"),
    ("geojson", "GeoJSON (QuPath)", ".geojson", "application/geo+json",
     "QuPath: *File › Import objects from file* — one polygon per object with its measurements.",
     "Writing GeoJSON…"),
    ("ome-zarr", "OME-Zarr (napari)", ".ome.zarr.zip", "application/zip",
     "napari (napari-ome-zarr) or Fiji (MoBIE): unzip, then open the .ome.zarr folder — the image and its "
     "labels/objects, with the pixel size as the scale.",
     "Writing OME-Zarr…"),
)
_PREPARED_KEY = "studio_prepared_exports"  # the interop files this session made (shown as downloads on reruns)


@st.cache_resource(max_entries=8, ttl=1800, show_spinner=False)
def full_table(image_key: str, recipe_json: str, pixel_size: float | None, unit: str, _segmentation: np.ndarray,
               _image: np.ndarray) -> MeasurementTable:
    """The full-resolution measurements, as the command line makes them (``measure`` of the mask or labels)."""
    return measure(_segmentation, _image, pixel_size=pixel_size, unit=unit)


@st.cache_resource(max_entries=6, ttl=1800, show_spinner=False)
def interop_file(fmt: str, image_key: str, recipe_json: str, pixel_size: float | None, unit: str, name: str,
                 _labels: np.ndarray, _image: np.ndarray, _table: MeasurementTable | None) -> bytes:
    """One export for the next tool, as the command line's ``--export`` writes it."""
    if fmt == "roi":
        return seg.encode_roi_zip(_labels)
    if fmt == "geojson":
        return seg.encode_geojson(_labels, _table.columns if _table is not None else None)
    return seg.encode_ome_zarr_zip(_image, _labels, pixel_size=pixel_size, unit=unit if pixel_size else "µm",
                                   name=name)


def export_section(*, stem: str, full_answer: Callable[[], Timed], image: np.ndarray, recipe, style: tuple,
                   image_key: str = "",
                   scale: PixelSize | None = None) -> None:
    """Download buttons for mask, labels, overlay, measurements, recipe JSON and Python script, and the files
    for Fiji, QuPath and napari.

    ``full_answer()`` gives the full-resolution answer (a watershed's labels or a thresholding's mask, and its
    number of objects) with its library time, cached, so it costs nothing once the page's numbers are in; the
    buttons' callables keep that slim answer, not a decoded copy of its labels. A status line names each stage as
    it runs, and the answer's count and library time, as the metrics row shows them.
    Images and the table are encoded on click; the ROI set, GeoJSON and OME-Zarr are made when asked for
    (their stages shown), then offered for download. Measurements use ``scale`` (the recipe's pixel size and
    unit, or the file's; None: pixels), exactly as the command line does, after a comment line naming the
    recipe's version, kind and SHA-256.
    """
    color, thickness, opacity = style
    recipe_json = recipe.to_json()
    scale = scale if scale is not None else PixelSize(None, "px", "")
    with st.status("Segmenting at full resolution…", expanded=False) as status:
        timed = full_answer()
        answer = timed.result
        # The library's time, as the Time metric says it (#10 review: this line said the wait, "2.3 s", beside
        # "Time 1,602 ms"; and "0.0 s" when the answer was ready).
        status.update(label=f"Full-resolution result: {count_of(answer.count, 'object')} · library time "
                            f"{format_ms(timed.seconds)}", state="complete")

    def segmentation() -> np.ndarray:
        """The full-resolution labels (or mask), decoded from the slim answer when asked for."""
        return answer.labels if answer.kind == "watershed" else answer.mask

    def table() -> MeasurementTable:
        return full_table(image_key, recipe_json, scale.size, scale.unit, segmentation(), image)

    def csv_bytes() -> bytes:
        return table().to_csv(recipe_json=recipe_json).encode()  # names the recipe's version, as the CLI does

    def mask_png() -> bytes:
        return seg.encode_png(segmentation() > 0)

    def labels_file(fmt: str) -> Callable[[], bytes]:
        def build() -> bytes:
            label_image = answer.labels  # a thresholding's: its mask's 8-connected components
            return seg.encode_labels(label_image, format=fmt)
        return build

    def overlay_png() -> bytes:
        return seg.encode_png(seg.boundary_overlay(image, segmentation(), color=color, thickness=thickness,
                                                   fill_opacity=opacity))

    png_refusal = png_labels_refusal(answer.count)
    st.markdown("**Images and table** (full resolution, computed when you click)")
    download_row([
        ("Mask PNG", f"{stem}_mask.png", mask_png, "image/png"),
        png_refusal or ("Labels PNG (16-bit)", f"{stem}_labels.png", labels_file("png"), "image/png"),
        ("Labels TIFF", f"{stem}_labels.tif", labels_file("tiff"), "image/tiff"),
        ("Overlay PNG", f"{stem}_overlay.png", overlay_png, "image/png"),
        ("Measurements CSV", f"{stem}_measurements.csv", csv_bytes, "text/csv"),
    ])
    if scale.size:
        st.caption(f"Measurements in {scale.unit}: {scale.size:g} {scale.unit} per pixel, from {scale.source}.")
    interop_section(stem=stem, segmentation=segmentation, image=image, image_key=image_key,
                    recipe_json=recipe_json, scale=scale, table=table)
    script = to_python(recipe)
    st.markdown("**Recipe** — reproduce this result in the command line (`python -m segmentation apply "
                "--recipe recipe.json IMAGES --out DIR`) or in a standalone script")
    download_row([
        ("Recipe JSON", f"{stem}_recipe.json", recipe.to_json(), "application/json"),
        ("Python script", f"{stem}_segment.py", script, "text/x-python"),
    ])
    with st.expander("The recipe as a Python script (OpenCV, scikit-image and numpy only)"):
        st.code(script, language="python", line_numbers=False)


def _name_of(fmt: str, stem: str) -> str:
    """The name an export takes, as the command line's ``--export`` names it: the OME-Zarr of ``cells.ome.tif``
    is ``cells.ome.zarr`` (not ``cells.ome.ome.zarr``); the others keep the whole stem (``cells.ome_rois.zip``)."""
    return stem.removesuffix(".ome") if fmt == "ome-zarr" else stem


def file_size_text(size: int) -> str:
    """A file's size for people: bytes below 1 KB, then KB, then MB (decimal units, as browsers show them)."""
    if size < 1000:
        return f"{size:,} bytes" if size != 1 else "1 byte"
    if size < 1_000_000:
        return f"{size / 1000:.1f} KB"
    return f"{size / 1e6:.2f} MB"


def _ask_for(prepared: list, key: tuple) -> None:
    prepared[:] = (prepared + [key])[-12:]


def interop_section(*, stem: str, segmentation: Callable[[], np.ndarray], image: np.ndarray, image_key: str,
                    recipe_json: str, scale: PixelSize, table: Callable[[], MeasurementTable]) -> None:
    """The ROI set, GeoJSON and OME-Zarr: a button makes each (its stages named as they run), then its download.

    The files are those ``python -m segmentation ... --export roi,geojson,ome-zarr`` writes for this recipe:
    the objects numbered as in the CSV, the GeoJSON with the CSV's measurements, the OME-Zarr with the pixel
    size as its scale.
    """
    st.markdown("**For the next tool** — Fiji, QuPath, napari (full resolution, made when you ask)")
    prepared = st.session_state.setdefault(_PREPARED_KEY, [])
    for column, (fmt, label, suffix, mime, opens, stage) in zip(st.columns(len(INTEROP)), INTEROP):
        key = (fmt, image_key, recipe_json, scale.size, scale.unit)
        with column:
            if key not in prepared:  # the click's callback marks it asked for before this rerun draws the column
                st.button(f"Make {label}", key=f"make_{fmt}", width="stretch", icon=":material/build:", help=opens,
                          on_click=_ask_for, args=(prepared, key))
                st.caption(opens)
                continue
            with st.status("Labelling…", expanded=False) as status:
                start = time.perf_counter()
                labels = as_labels(segmentation())
                measured = None
                if fmt == "geojson":
                    status.update(label="Measuring…")
                    measured = table()
                status.update(label=stage)
                data = interop_file(fmt, image_key, recipe_json, scale.size, scale.unit, _name_of(fmt, stem),
                                    labels, image, measured)
                status.update(label=f"{label}: {file_size_text(len(data))}, {time.perf_counter() - start:.1f} s",
                              state="complete")
            st.download_button(label, data=data, file_name=f"{_name_of(fmt, stem)}{suffix}", mime=mime,
                               width="stretch", on_click="ignore", icon=":material/download:", key=f"get_{fmt}")
            st.caption(opens)
