"""The Batch page's helpers: uploads (images or zips) to files, the recipe to apply, the summary and the zip.

The pixels are all the library's: :func:`segmentation.batch.run_batch` runs the command line's own per-image
function (so every file equals ``python -m segmentation apply``'s), and the thumbnails are the overlays it
wrote, shrunk by :func:`segmentation.downscale`. What is here is files, names, limits and tables.

The limits of a hosted demo are settings read from the environment when the app starts:
``STUDIO_BATCH_MAX_FILES`` (images per batch, default 50) and ``STUDIO_BATCH_MAX_MB`` (megabytes of images per
batch, counted after unzipping, default 200). Streamlit's own ``server.maxUploadSize`` (``.streamlit/config.toml``)
bounds each uploaded file.
"""

from __future__ import annotations

import base64
import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

import pandas as pd

import segmentation as seg
from segmentation.batch import IMAGE_SUFFIXES, run_batch

from .page import sample_defaults, stored_page_values
from .widgets import CHOICE_LABELS


def _setting(name: str, default: int) -> int:
    """A positive whole number from the environment, else ``default``."""
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


#: Images per batch, and megabytes of images per batch (after unzipping): settings of the hosted demo.
MAX_FILES = _setting("STUDIO_BATCH_MAX_FILES", 50)
MAX_MEGABYTES = _setting("STUDIO_BATCH_MAX_MB", 200)

#: The recipe sources offered, in order: a page's current recipe, or a recipe file.
SOURCES = ("Thresholding", "Watershed", "Recipe file")

#: Long side of a thumbnail in the summary table, in pixels.
THUMBNAIL_SIDE = 96

ZIP_NAME = "segmentation-batch.zip"


def limits_text(max_files: int = MAX_FILES, max_megabytes: int = MAX_MEGABYTES) -> str:
    """The limits in words, for the page."""
    return (f"Up to {max_files} images and {max_megabytes} MB of images per batch (a zip counts by what it holds). "
            "For more, run the same recipe with the command line: `python -m segmentation apply --recipe "
            "recipe.json images/`.")


def beyond_limits(files: list[tuple[str, bytes]]) -> str | None:
    """What the limits will leave out of these uploads, in words (None: nothing), said before the run."""
    left = [name for name, reason in collect_uploads(files, read=False).refused if reason.startswith("not segmented")]
    if not left:
        return None
    shown = ", ".join(left[:3]) + (f" and {len(left) - 3} more" if len(left) > 3 else "")
    return (f"{len(left)} image{'s' * (len(left) != 1)} beyond this page's limits will not be segmented ({shown}): "
            f"{limits_text()}")


def upload_limit_text(per_file_megabytes: int) -> str:
    """The upload limit of one file (Streamlit's ``server.maxUploadSize``), said where files are dropped: a
    bigger file is refused by the uploader itself and never reaches the page, so no summary row can list it."""
    return (f"Each file (or zip) at most {per_file_megabytes} MB: a bigger one is refused by the uploader (marked "
            "in red there) and is not part of the batch. For bigger images, use the command line.")


# -- uploads -----------------------------------------------------------------------------------------
@dataclass
class Inputs:
    """The images to segment (``(name, bytes)``, names relative, ``/``-separated) and the files refused."""

    images: list[tuple[str, bytes]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (name, plain-words reason)
    notes: list[str] = field(default_factory=list)


def _safe_part(part: str) -> str:
    """One path part as a harmless file name (no separators, no leading dot)."""
    cleaned = re.sub(r"[\x00-\x1f/\\:*?\"<>|]", "_", part).strip().lstrip(".")
    return cleaned or "file"


def _safe_name(name: str) -> str:
    """A relative ``/``-separated path with only harmless parts (``..``, drive letters and roots dropped)."""
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("/", "..", ".")]
    return "/".join(_safe_part(p) for p in parts) or "file"


def _is_zip(name: str, data: bytes) -> bool:
    suffix = Path(name).suffix.lower()
    return suffix == ".zip" or (data[:4] == b"PK\x03\x04" and suffix not in IMAGE_SUFFIXES)


def collect_uploads(files: list[tuple[str, bytes]], *, max_files: int = MAX_FILES,
                    max_megabytes: int = MAX_MEGABYTES, read: bool = True) -> Inputs:
    """The uploads as a list of images: zips opened (their image files, as a folder's), limits applied.

    Any other uploaded file is kept (the batch says what is wrong with it, in its row). A zip that cannot be
    opened, and images beyond the limits, are refused with a reason each; the others go on. ``read=False``
    leaves the images' bytes empty (a zip's members are not decompressed): what the limits will refuse, said
    before the batch runs.
    """
    found = Inputs()
    total, budget, reading = 0, max_megabytes * 1_000_000, read

    def take(name: str, size: int, read: Callable[[], bytes]) -> None:
        nonlocal total
        if len(found.images) >= max_files:
            found.refused.append((name, f"not segmented: a batch here holds at most {max_files} images"))
        elif total + size > budget:
            found.refused.append((name, f"not segmented: a batch here holds at most {max_megabytes} MB of images"))
        else:
            total += size
            found.images.append((name, read() if reading else b""))

    for name, data in files:
        name = _safe_name(name)
        if not _is_zip(name, data):
            take(name, len(data), lambda data=data: data)
            continue
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            members = [m for m in archive.infolist() if not m.is_dir()]
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            found.refused.append((name, f"this zip cannot be opened ({error})"))
            continue
        with archive:
            skipped = 0
            for member in sorted(members, key=lambda m: m.filename):
                inner = _safe_name(member.filename)
                hidden = any(p.startswith((".", "__MACOSX")) for p in PurePosixPath(member.filename).parts
                             if p not in (".", ".."))
                if hidden or Path(inner).suffix.lower() not in IMAGE_SUFFIXES:
                    skipped += not hidden
                    continue

                def read(member=member, archive=archive) -> bytes:
                    return archive.read(member)

                try:
                    take(f"{name}/{inner}", member.file_size, read)
                except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError) as error:
                    found.refused.append((f"{name}/{inner}", f"cannot be read from the zip ({error})"))
            if skipped:
                what = "file that is not an image" if skipped == 1 else "files that are not images"
                found.notes.append(f"{name}: {skipped} {what} ({' '.join(IMAGE_SUFFIXES)}) left out")
    return found


def write_inputs(images: list[tuple[str, bytes]], folder: Path) -> list[Path]:
    """Write the images under ``folder`` by their names (a repeated name goes to a numbered subfolder)."""
    paths, used = [], set()
    for name, data in images:
        relative, n = name, 2
        while relative.casefold() in used:
            relative, n = f"{n}/{name}", n + 1
        used.add(relative.casefold())
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


# -- the recipe --------------------------------------------------------------------------------------
def _from_widget(spec, value):
    """A widget's stored value in the parameter's own type (the inverse of the pages' widget state)."""
    if spec.kind == "int_tuple":
        return tuple(sorted(value))
    if spec.kind == "points" and isinstance(value, str):
        return spec.from_text(value)
    return value


def _values(specs, defaults: dict, stored: dict, skip: tuple[str, ...] = ()) -> dict:
    values = dict(defaults)
    for spec in specs:
        if spec.name in stored and spec.name not in skip:
            values[spec.name] = _from_widget(spec, stored[spec.name])
    return values


def default_source(came_from: str | None, chosen: str | None = None) -> str:
    """The recipe source the Batch page shows on arrival: a recipe file if one was ``chosen`` on an earlier
    visit, else the page the visitor came from when it makes recipes, else the earlier choice, else the one of
    the two pages that holds this session's settings (Watershed when only it does), else Thresholding.

    A reviewer tuned h on Watershed, opened Batch and ran the Thresholding page's default recipe unawares.
    """
    if chosen == SOURCES[2]:
        return chosen
    if came_from in SOURCES[:2]:
        return came_from
    if chosen in SOURCES:
        return chosen
    if stored_page_values("Watershed") and not stored_page_values("Thresholding"):
        return "Watershed"
    return SOURCES[0]


def page_recipe(title: str, sample: str, stored: dict | None = None):
    """The recipe set on the Thresholding or Watershed page in this session, else that page's suggestion.

    ``stored`` is the page's widget values (default: what the session stored for it); the defaults are the
    page's own for ``sample``, as a fresh link to that page opens with. Raises ``ValueError`` (naming the
    parameter) when the stored values do not make a valid recipe.
    """
    stored = stored_page_values(title) if stored is None else stored
    if title == "Thresholding":
        base = sample_defaults(seg.ThresholdRecipe(), sample)
        return seg.ThresholdRecipe(**_values(seg.ThresholdRecipe.specs(), base.values(), stored))
    base = sample_defaults(seg.WatershedRecipe(), sample)
    # as the Watershed page builds it: its pixel size and unit are the measurements', not the foreground's
    foreground = _values(seg.ThresholdRecipe.specs(), base.foreground.values(), stored, skip=("pixel_size", "unit"))
    return seg.WatershedRecipe(foreground=seg.ThresholdRecipe(**foreground),
                               **_values(seg.WatershedRecipe.specs(), base.values(), stored))


def recipe_file(data: bytes):
    """A recipe from an uploaded JSON file; ``ValueError`` in plain words if it is not one."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("the recipe file is not a text file; upload a recipe JSON saved from a page's Export "
                         "tab or a batch's recipe.json") from None
    return seg.recipe_from_json(text)


def _param_words(spec, value) -> str:
    """One parameter as a person reads it: its label and value, in pixels where the label says px."""
    label, _, note = spec.label.partition(" (")
    notes = [n.strip() for n in note.rstrip(")").split(",") if n.strip()]
    zero = next((n.split("=", 1)[1].strip() for n in notes if n.replace(" ", "").startswith("0=")), None)
    if spec.kind == "bool":
        return f"{label}: {'yes' if value else 'no'}"
    if value is None:
        return f"{label}: auto"
    if zero is not None and value == 0:
        return f"{label}: {zero}"
    text = CHOICE_LABELS.get(spec.name, {}).get(value) or spec.to_text(value)
    text = "none" if text == "None" else text  # the choice "none" (smoothing), in words
    if "px" in notes:
        return f"{label}: {text} px"
    shown = label if all(n == "px" or n.startswith(("0=", "0 =")) or "auto" in n for n in notes) else spec.label
    return f"{shown}: {text}"


def _scale_words(pixel_size, unit: str) -> str:
    if pixel_size is None:
        return "pixel size from the file"
    if pixel_size == 0:
        return "measured in pixels"
    return f"pixel size {pixel_size:g} {unit}"


def recipe_words(recipe) -> str:
    """The recipe in words: its kind, the parameters that differ from the defaults (by their names on the
    pages, not their keys) and how objects are measured (the file's pixel size, a given one, or pixels)."""
    if recipe.kind == "watershed":
        groups = [(seg.ThresholdRecipe.specs(), recipe.foreground.values()), (type(recipe).specs(), recipe.values())]
        scale = recipe.foreground  # the watershed's measurements take the foreground's pixel size
    else:
        groups = [(type(recipe).specs(), recipe.values())]
        scale = recipe
    changed = set(recipe.to_flat())
    words = [_param_words(spec, values[spec.name]) for specs, values in groups for spec in specs
             if spec.name in changed and spec.name not in ("pixel_size", "unit") and spec.applies(values)]
    kind = "Watershed" if recipe.kind == "watershed" else "Threshold"
    head = f"{kind} recipe" + (f": {'; '.join(words)}" if words else " with the default parameters")
    return f"{head}; {_scale_words(scale.pixel_size, scale.unit)}"


# -- the run and its results -------------------------------------------------------------------------
@dataclass
class BatchResult:
    """What a finished batch shows: the table's rows, the zip, the refused files and notes."""

    rows: list[dict]
    zip_bytes: bytes
    thumbnails: dict[str, str]  # output stem -> PNG data URL
    refused: list[tuple[str, str]]
    notes: list[str]
    recipe_json: str


def run(inputs: Inputs, recipe, work: Path, on_row: Callable[[int, int, dict], None] | None = None) -> BatchResult:
    """Segment ``inputs`` with the library's batch into ``work``; thumbnails and the zip of every output."""
    paths = write_inputs(inputs.images, work / "inputs")
    results = work / "results"
    rows = run_batch(paths, recipe, results, displays=[name for name, _ in inputs.images], on_row=on_row)
    thumbnails = {row["output_stem"]: thumbnail(results / f"{row['output_stem']}_overlay.png") for row in rows
                  if row["status"] == "ok" and (results / f"{row['output_stem']}_overlay.png").is_file()}
    return BatchResult(rows, zip_folder(results), thumbnails, list(inputs.refused), list(inputs.notes),
                       recipe.to_json())


def thumbnail(path: Path, side: int = THUMBNAIL_SIDE) -> str:
    """A PNG data URL of the image file shrunk to ``side`` px (the overlay the batch wrote)."""
    small, _ = seg.downscale(seg.load_image(path), side)
    return "data:image/png;base64," + base64.b64encode(seg.encode_png_bytes(small)).decode("ascii")


def zip_folder(folder: Path) -> bytes:
    """Every file under ``folder`` (a tiled image's Zarr folder too), in one zip, in sorted order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


def _foreground_words(text: str) -> str:
    try:
        return f"{float(text):.1%}"
    except ValueError:
        return ""


def summary_table(result: BatchResult) -> pd.DataFrame:
    """One row per image (the refused ones too): thumbnail, file, status, count, threshold, foreground, flags.

    Every column is text, empty where an image has no value (a failed or refused one): the grid draws a
    missing value as "None", which reads like a result.
    """
    records = [{"overlay": result.thumbnails.get(row["output_stem"], ""), "file": row["file"],
                "status": row["status"], "objects": str(row["objects"] or ""), "threshold": row["thresholds"] or "",
                "foreground": _foreground_words(row["foreground_fraction"] or ""), "flags": row["flags"] or "",
                "message": row["message"] or ""} for row in result.rows]
    records += [{"overlay": "", "file": name, "status": "not segmented", "objects": "", "threshold": "",
                 "foreground": "", "flags": "", "message": reason} for name, reason in result.refused]
    return pd.DataFrame.from_records(records, columns=["overlay", "file", "status", "objects", "threshold",
                                                       "foreground", "flags", "message"]).astype(str)


def problem_lines(table: pd.DataFrame) -> list[str]:
    """One Markdown line per image with a message or flags, in full (the table's cells cut long text off)."""
    lines = []
    for _, row in table.iterrows():
        said = "; ".join(text for text in (row["message"], row["flags"]) if text)
        if said:
            lines.append(f"- **{_plain(row['file'])}** ({row['status']}): {_plain(said)}")
    return lines


def _plain(text: str) -> str:
    """``text`` shown as written in Markdown (a file name's ``*`` or ``_`` is not emphasis)."""
    return re.sub(r"([\\`*_\[\]<>#|~])", r"\\\1", text)


def table_height(rows: int, row_height: int, most: int = 12) -> int:
    """Pixels for a table showing ``rows`` rows (and its header) up to ``most`` of them, then scrolling."""
    return row_height * (min(rows, most) + 1) + 3


def status_words(result: BatchResult) -> str:
    """``3 images: 2 segmented, 1 failed`` (and the refused)."""
    ok = sum(row["status"] == "ok" for row in result.rows)
    failed = len(result.rows) - ok
    n = len(result.rows) + len(result.refused)
    words = f"{n} file{'s' * (n != 1)}: {ok} segmented, {failed} failed"
    if result.refused:
        words += f", {len(result.refused)} not segmented (limits or unreadable zips)"
    return words
