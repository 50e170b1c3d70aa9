"""``python -m segmentation``: segment a batch of images with the same recipes as the app.

Commands: ``threshold`` and ``watershed`` (every recipe parameter is an option, generated from the
parameter specs by ``_options``) and ``apply --recipe FILE`` (a recipe saved from
the app). Each image gives ``<stem>_mask.png``, ``<stem>_labels.png|.tif`` (watershed),
``<stem>_overlay.png`` and ``<stem>_measurements.csv`` in ``--out``; the batch gives ``summary.csv`` and
``recipe.json``. Exit status: 0 all images segmented, 1 some failed or no input found, 2 usage error.
``score`` and ``tune`` (object-by-object scores against ground truth) run in ``_score`` and ``_tune``.
"""

from __future__ import annotations

import argparse
import csv
import functools
import importlib
import io
import os
import shutil
import signal
import stat
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image
from tqdm import tqdm

from ..display import boundary_overlay
from ..export import encode_geojson, encode_labels, encode_png, encode_roi_zip, write_bytes_atomic, write_ome_zarr
from ..io import load_image, resolve_pixel_size
from ..measurement import measure, unit_suffix
from ..recipes import ThresholdRecipe, WatershedRecipe, file_selection, recipe_from_json
from ..regions import as_labels, watershed
from ..thresholding import threshold
from ._options import (
    AUTO_TILE,
    TIFF_SUFFIXES,
    UsageError,
    auto_tile,
    build_parser,
    collect_inputs,
    default_memory_budget,
    is_zarr_store,
    recipe_from_args,
)
from ._plate import (
    JOURNAL,
    append_journal,
    bit_depth,
    channel_histogram,
    check_pooled,
    flag_outliers,
    map_local,
    pooled_recipe,
    provenance,
    read_rows,
    remove_stale_temporaries,
    run_pool,
    stamp,
    worker_failure,
)
from ._score import run_score
from ._tune import run_tune

__all__ = ["main", "COLUMNS", "run_batch", "decoded_bytes", "SUMMARY", "RECIPE"]

SUMMARY, RECIPE = "summary.csv", "recipe.json"
COLUMNS = ("file", "status", "message", "width", "height", "bit_depth", "objects", "foreground_fraction", "thresholds",
           "seconds", "output_stem", "flags", "recipe_sha256", "versions")


# -- output names ----------------------------------------------------------------------------------
def _stem_and_suffix(path: Path) -> tuple[str, str]:
    """A file's stem and extension, an OME file's stem without its ``.ome`` (as Fiji and Bio-Formats name it).

    ``cells.ome.tif`` -> ``("cells", ".ome.tif")``, ``plate.ome.zarr`` -> ``("plate", ".ome.zarr")``,
    ``a.png`` -> ``("a", ".png")``.
    """
    stem, suffix = path.stem, path.suffix
    if stem.casefold().endswith(".ome") and len(stem) > 4:
        stem, suffix = stem[:-4], stem[-4:] + suffix
    return stem, suffix


def output_stems(paths: list[Path]) -> list[str]:
    """One distinct name stem per input: the file's stem (an OME file's without ``.ome``), longer where stems clash.

    Clashes are case-blind: ``a.ome.tif`` and ``a.tif`` in one folder give ``a_ome_tif`` and ``a_tif``.
    """
    stems = [_stem_and_suffix(Path(p))[0] for p in paths]
    groups: dict[str, list[int]] = {}
    for i, stem in enumerate(stems):
        groups.setdefault(stem.casefold(), []).append(i)
    for members in (m for m in groups.values() if len(m) > 1):
        absolute = [Path(os.path.abspath(paths[i])) for i in members]
        common = os.path.commonpath([str(a.parent) for a in absolute])
        parts = [Path(os.path.relpath(a.parent, common)).parts for a in absolute]
        parts = [tuple(p for p in ps if p not in (".", "..")) for ps in parts]
        names = ["_".join(ps + (_stem_and_suffix(a)[0],)) for ps, a in zip(parts, absolute)]
        clashing = [sum(m.casefold() == n.casefold() for m in names) > 1 for n in names]
        names = [n + "_" + _stem_and_suffix(a)[1].lstrip(".").replace(".", "_") if c else n
                 for n, c, a in zip(names, clashing, absolute)]
        for i, name in zip(members, names):
            stems[i] = name
    seen: set[str] = set()
    for i, stem in enumerate(stems):  # any clash left (a.PNG and a.png, or a_b.png vs a/b.png) gets a number
        name, n = stem, 2
        while name.casefold() in seen:
            name, n = f"{stem}-{n}", n + 1
        seen.add(name.casefold())
        stems[i] = name
    return stems


def output_names(stem: str, recipe, labels_format: str, exports: tuple[str, ...] = ()) -> dict[str, str]:
    names = {"mask": f"{stem}_mask.png"}
    if isinstance(recipe, WatershedRecipe):
        names["labels"] = f"{stem}_labels." + ("png" if labels_format == "png" else "tif")
    names.update(overlay=f"{stem}_overlay.png", measurements=f"{stem}_measurements.csv")
    exported = {"roi": f"{stem}_rois.zip", "geojson": f"{stem}.geojson",
                "ome-zarr": f"{stem.removesuffix('.ome')}.ome.zarr"}  # cells.ome.tif -> cells.ome.zarr
    names.update({kind: exported[kind] for kind in exports})
    return names


# -- one image (runs in a worker process) ----------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _recipe(text: str):
    return recipe_from_json(text)


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled once, by the main process
    cv2.setNumThreads(1)  # one image per core already keeps every core busy


def _number(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def process_image(task: dict) -> dict:
    """Segment one image and write its results; never raises: failures become the row's message."""
    start = time.perf_counter()
    row = dict.fromkeys(COLUMNS, "") | {"file": task["display"], "status": "ok", "output_stem": task["stem"]}
    row.update(stamp(task["recipe"]))  # the recipe and the versions of the process that computes the row
    if task.get("tile"):  # a big image, tile by tile (dask and zarr, loaded only then)
        return importlib.import_module("._tiled_output", __package__).process_tiled(task, row, start)
    try:
        recipe = _recipe(task["recipe"])
        fg = recipe if isinstance(recipe, ThresholdRecipe) else recipe.foreground
        image, info = load_image(task["path"], with_info=True, **file_selection(fg))
        row.update(width=info.width, height=info.height, bit_depth=bit_depth(image.dtype))
        if isinstance(recipe, ThresholdRecipe):
            result = found = threshold(image, recipe)
            objects = mask = result.mask
        else:
            result = watershed(image, recipe)
            found, objects, mask = result.threshold, result.labels, result.labels > 0
        files = {"mask": encode_png(mask)}
        if isinstance(recipe, WatershedRecipe):
            if task["labels_format"] == "png" and result.count > 65535:
                raise ValueError(f"{result.count} objects are more than a 16-bit PNG holds (65535); "
                                 "use --labels-format tiff")
            files["labels"] = encode_labels(result.labels, task["labels_format"])
        files["overlay"] = encode_png(boundary_overlay(image, objects))
        given = task.get("pixel_size")  # apply --pixel-size overrides the recipe's
        scale = resolve_pixel_size(fg.pixel_size if given is None else given, task.get("unit") or fg.unit, info)
        table = measure(objects, image, pixel_size=scale.size, unit=scale.unit)
        files["measurements"] = table.to_csv(recipe_json=task["recipe"]).encode("utf-8")  # as the app writes it
        labels = as_labels(objects) if task.get("exports") else None  # the objects numbered as in the CSV
        if "roi" in task.get("exports", ()):
            files["roi"] = encode_roi_zip(labels)
        if "geojson" in task.get("exports", ()):
            files["geojson"] = encode_geojson(labels, table.columns)
        for role, data in files.items():
            write_bytes_atomic(Path(task["out_dir"], task["names"][role]), data)
        if "ome-zarr" in task.get("exports", ()):
            _write_ome_zarr(Path(task["out_dir"], task["names"]["ome-zarr"]), image, labels, scale,
                            provenance(task["recipe"]))
        row.update(objects=len(table), foreground_fraction=f"{np.count_nonzero(mask) / mask.size:.6f}",
                   thresholds=" ".join(_number(t) for t in found.thresholds),
                   message="; ".join(_notes(info.notes, result.notes)))
    except MemoryError:
        row.update(status="error", message="there is not enough memory to segment this image")
    except OSError as error:
        where = f" {error.filename}" if error.filename else ""
        row.update(status="error", message=f"could not write{where}: {error.strerror or error}")
    except ValueError as error:  # ImageLoadError, SegmentationError and bad combinations: plain words
        row.update(status="error", message=str(error) or type(error).__name__)
    except Exception as error:  # a bug, reported as this file's error so the batch goes on
        row.update(status="error", message=f"unexpected error ({type(error).__name__}: {error})")
    row["seconds"] = f"{time.perf_counter() - start:.3f}"
    return row


def _write_ome_zarr(target: Path, image: np.ndarray, labels: np.ndarray, scale, stamped: dict) -> None:
    """The OME-Zarr folder, written beside its place and then moved there (no half-written folder)."""
    staging = Path(tempfile.mkdtemp(prefix=".ome-zarr-", dir=target.parent))
    try:
        write_ome_zarr(staging / target.name, image, labels, pixel_size=scale.size,
                       unit=scale.unit if scale.size else "µm", name=target.name.removesuffix(".ome.zarr"),
                       provenance=stamped)
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging / target.name, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# -- the batch -------------------------------------------------------------------------------------
def _load_recipe(args: argparse.Namespace):
    if args.command != "apply":
        return recipe_from_args(args.command, args)
    try:
        text = Path(args.recipe).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "it is not a text file"
        raise UsageError(f"cannot read the recipe file {args.recipe}: {reason}") from None
    try:
        return recipe_from_json(text)
    except ValueError as error:
        raise UsageError(f"{args.recipe}: {error}") from None


#: Bytes per pixel of each Pillow mode once decoded (a palette image becomes RGB).
_MODE_BYTES = {"1": 1, "L": 1, "P": 3, "PA": 4, "LA": 2, "RGB": 3, "RGBA": 4, "CMYK": 4, "YCbCr": 3, "LAB": 3,
               "HSV": 3, "I": 4, "F": 4, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}


def decoded_bytes(path: str | os.PathLike) -> int | None:
    """Bytes one plane of the image file takes once decoded, read from its header only (None: unreadable).

    A TIFF's first page (width x height x samples x bytes per sample, through ``tifffile``), any other
    file's size and mode through Pillow (which decodes nothing until asked).
    """
    header = _header(path)
    return None if header is None else header[0]


def _header(path: str | os.PathLike) -> tuple[int, int] | None:
    """``(decoded bytes, pixels)`` of one plane, from the file's header (None: unreadable); see decoded_bytes."""
    try:
        if Path(path).suffix.lower() in TIFF_SUFFIXES:
            with tifffile.TiffFile(path) as tif:
                page = tif.pages.first
                pixels = int(page.imagewidth * page.imagelength)
                return pixels * int(page.samplesperpixel * np.dtype(page.dtype).itemsize), pixels
        with Image.open(path) as im:
            return int(im.width * im.height * _MODE_BYTES.get(im.mode, 4)), int(im.width * im.height)
    except Exception:  # noqa: BLE001 - an unreadable header: the whole-image path reports the file's problem
        return None


def _size_words(n: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


#: The most pixels a whole image may have (segmentation.load_image's default max_pixels); above, a TIFF is tiled
#: (the formats read a region at a time; a bigger PNG or JPEG stays refused by load_image in words).
MAX_WHOLE_PIXELS = 64_000_000


def _tasks(paths: list[Path], recipe, out_dir: Path, *, labels_format: str = "png", exports: tuple[str, ...] = (),
           pixel_size=None, unit=None, tile: int | None = None, memory_budget: int | None = None,
           displays: list[str] | None = None, recorded: dict[str, str] | None = None) -> list[dict]:
    """One task per image for :func:`process_image`; tiled (``tile``, or over ``memory_budget``) or whole.

    ``recorded`` (a resumed batch): the output stem an earlier batch gave each input (by its real path), kept so
    that resuming a part of that batch finds its results (``x/b.png`` was ``x_b`` beside ``y/b.png``, alone ``b``).
    """
    stems = output_stems(paths)
    if recorded:
        kept = [recorded.get(os.path.realpath(p), stem) for p, stem in zip(paths, stems)]
        stems = kept if len(set(kept)) == len(kept) else stems
    tasks = [dict(path=str(p), display=str(p) if displays is None else displays[i], stem=stem,
                  names=output_names(stem, recipe, labels_format, exports), labels_format=labels_format,
                  out_dir=str(out_dir), recipe=recipe.to_json(), pixel_size=pixel_size, unit=unit, exports=exports)
             for i, (p, stem) in enumerate(zip(paths, stems))]
    for task in tasks:
        # a header read per image: 0.3 ms for a PNG, 0.8 ms for a TIFF (200 files of 256 x 256, measured here)
        zarr_store = is_zarr_store(task["path"])
        size, pixels = (None if tile or zarr_store else _header(task["path"])) or (None, None)
        # the tile side without --tile: 2048 px, or smaller where such a tile's decoded pixels are over the budget
        if tile or memory_budget is None:
            side = tile or AUTO_TILE
        else:
            side = auto_tile(memory_budget, _pixel_bytes(task["path"], size, pixels, zarr_store))
        if zarr_store and not tile:  # only the tiled path reads Zarr (a region at a time)
            task["tiled_because"] = f"a Zarr image is read a region at a time, in tiles of {side} px"
        elif pixels is not None and pixels > MAX_WHOLE_PIXELS and Path(task["path"]).suffix.lower() in TIFF_SUFFIXES:
            task["tiled_because"] = (f"it has {pixels / 1e6:.1f} MP, more than a whole image may have "
                                     f"({MAX_WHOLE_PIXELS // 1_000_000} MP), so it is segmented in tiles of "
                                     f"{side} px (as with --tile {side})")
            task["whole_hint"] = f" (a whole image may have at most {MAX_WHOLE_PIXELS // 1_000_000} MP)"
        elif memory_budget is not None and size is not None and size > memory_budget:
            task["tiled_because"] = (f"its decoded size, {_size_words(size)}, is over the memory budget of "
                                     f"{_size_words(memory_budget)} (--memory-budget), so it is segmented in tiles "
                                     f"of {side} px")
            task["whole_hint"] = " (with a larger --memory-budget)"
        if tile or task.get("tiled_because"):
            # in tiles (_tiled_output): the OME-Zarr labels, the measurements, the exports, and one Zarr folder
            # of the mask and labels; no overlay image. The budget goes with the task: segment_tiled caps a
            # watershed's halo by it (in the worker, local or on a cluster)
            task.update(tile=side, memory_budget=memory_budget, names={"tiles": f"{task['stem']}_tiles.zarr"} | {
                role: name for role, name in task["names"].items() if role in ("measurements", *exports)})
            task["names"]["ome-zarr"] = output_names(task["stem"], recipe, labels_format, ("ome-zarr",))["ome-zarr"]
    return tasks


def _pixel_bytes(path: str, size: int | None, pixels: int | None, zarr_store: bool) -> int:
    """Decoded bytes per pixel of an image (from its header, or a Zarr image's dtype); 2 when it cannot be told."""
    if size is not None and pixels:
        return max(1, size // pixels)
    if zarr_store:
        try:
            array = importlib.import_module("._tiles", __package__).open_image(path)
            return int(np.dtype(array.dtype).itemsize) * (3 if len(array.shape) == 3 else 1)
        except Exception:  # noqa: BLE001 - an unreadable Zarr image: the tiled path reports the problem
            return 2
    return 2


def _plan(args, recipe) -> tuple[list[dict], list[str], Path]:
    out_dir = Path(os.path.expanduser(args.out))
    resolved_out = out_dir.resolve()
    paths, warnings = collect_inputs(args.inputs, args.recursive, resolved_out)
    identities = {}
    for path in paths:
        try:
            st = path.stat()
            identities[(st.st_dev, st.st_ino)] = path
        except OSError:
            pass
    if out_dir.exists() and not out_dir.is_dir():
        what = "one of the input images" if resolved_out in {p.resolve() for p in paths} else "a file"
        raise UsageError(f"--out {args.out} is {what}, not a folder")
    labels_format = getattr(args, "labels_format", "png")
    exports = tuple(getattr(args, "export", ()) or ())
    given = getattr(args, "memory_budget", None)
    budget = given or default_memory_budget(args.jobs)
    # A resumed batch knows each earlier input by its real path (the path as typed then, from this folder): its
    # row (skipped images keep their numbers; the journal holds the rows of a killed batch) and its stem.
    previous = {}
    if args.skip_existing:
        for row in read_rows(out_dir / SUMMARY) + read_rows(out_dir / JOURNAL):
            if row.get("status") in ("ok", "skipped") and row.get("file"):
                previous[os.path.realpath(row["file"])] = row
    tasks = _tasks(paths, recipe, out_dir, labels_format=labels_format, exports=exports,
                   pixel_size=getattr(args, "pixel_size", None), unit=getattr(args, "unit", None),
                   tile=getattr(args, "tile", None), memory_budget=budget,
                   recorded={real: row.get("output_stem") or "" for real, row in previous.items()
                             if row.get("output_stem")})
    if not given and getattr(args, "scheduler", None):
        for task in tasks:  # no --memory-budget: each Dask worker caps the halo by its own machine's default
            if "memory_budget" in task:
                task["memory_budget"] = None
    existing, empty = [], set()
    for name in [SUMMARY, RECIPE] + [n for t in tasks for n in t["names"].values()]:
        target = out_dir / name
        try:
            st = target.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in identities:
            raise UsageError(f"the result {target} would replace the input image {identities[st.st_dev, st.st_ino]}; "
                             "choose another --out")
        existing.append(name)
        if stat.S_ISREG(st.st_mode) and st.st_size == 0:  # no output is ever empty: a crashed copy, a full disk
            empty.add(name)
    if existing and not (args.overwrite or args.skip_existing):
        shown = ", ".join(existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        raise UsageError(f"{out_dir} already holds results ({shown}); choose another --out, or add --overwrite "
                         "to replace them or --skip-existing to process only the images without results")
    if args.skip_existing and RECIPE in existing:
        try:
            same = recipe_from_json((out_dir / RECIPE).read_text(encoding="utf-8")) == recipe
        except (OSError, ValueError):
            same = False
        if not same:
            if getattr(args, "scheduler", None):  # a cluster batch resumes into its folder on its own
                raise UsageError(f"{out_dir} holds the results of a different recipe ({RECIPE}); a batch with "
                                 "--scheduler resumes the images already done there, which would mix the results "
                                 "of two recipes: choose another --out, or add --overwrite to redo every image")
            raise UsageError(f"{out_dir} holds the results of a different recipe ({RECIPE}); --skip-existing would "
                             "mix the results of two recipes: choose another --out, or use --overwrite instead")
    if args.skip_existing:
        _refuse_stem_clashes(tasks, previous, existing, out_dir)
    current = stamp(recipe.to_json())
    for task in tasks:
        # an image is done when all its outputs exist, none of them empty (0 bytes: redone), and its row says the
        # same recipe and library versions
        before = previous.get(os.path.realpath(task["path"]), {})
        task["skip"] = (args.skip_existing and all(n in existing and n not in empty for n in task["names"].values())
                        and all(before.get(key) == value for key, value in current.items()))
        task["previous"] = {k: before.get(k) or "" for k in COLUMNS}
    return tasks, warnings, out_dir


def _refuse_stem_clashes(tasks: list[dict], previous: dict[str, dict], existing: list[str], out_dir: Path) -> None:
    """Refuse a resumed batch (``--skip-existing``, ``--scheduler``) that writes over another input's results.

    ``a.ome.tif`` after ``a.tif`` (both ``a_*``), ``y/a.png`` after ``x/a.png``. A batch's own inputs get distinct
    stems (:func:`output_stems`), but an earlier batch's are only known from its summary: ``previous`` holds its
    rows by the real path of their input (the path as typed then, read from this folder). An input is the same
    only when the real paths are: a row whose path leads elsewhere from here (a batch run in another folder) is
    another input's, and refused rather than guessed (#14 review: a guess by file name overwrote y/b.png's
    results with x/b.png's).
    """
    owners = {row.get("output_stem"): (real, row.get("file") or "") for real, row in previous.items()}
    clashes = []
    for task in tasks:
        real, owner = owners.get(task["stem"], (None, ""))
        if owner and any(n in existing for n in task["names"].values()) and real != os.path.realpath(task["path"]):
            clashes.append(f"{task['display']} would replace the results of {owner} ({task['stem']}_*)")
    if clashes:
        shown = "; ".join(clashes[:3]) + (f"; and {len(clashes) - 3} more" if len(clashes) > 3 else "")
        raise UsageError(f"{out_dir} holds the results of other images under the same names: {shown}. Choose "
                         "another --out, or add --overwrite to replace them")


def _died(task: dict, error: BaseException) -> dict:
    """The row of an image whose worker stopped (killed, out of memory) or could not run it.

    The message says it in plain words and then the real error (:func:`worker_failure`: the first sentence of
    ``error`` and of each error that caused it, prefixed by "Dask" or by the error's type).
    """
    message = worker_failure(error, "this image")
    return dict.fromkeys(COLUMNS, "") | stamp(task["recipe"]) | {
        "file": task["display"], "status": "error", "output_stem": task["stem"], "message": message}


def _run(tasks: list[dict], jobs: int, progress: bool, client=None, out_dir: Path | None = None) -> list[dict]:
    """Every task's row: on ``client`` (a Dask cluster) if given, else on ``jobs`` local processes.

    Each finished row is appended to the journal in ``out_dir`` (when given) as it arrives.
    """
    rows: list[dict | None] = [None] * len(tasks)
    todo = []
    for i, task in enumerate(tasks):
        if task["skip"]:
            rows[i] = task["previous"] | {"file": task["display"], "status": "skipped", "output_stem": task["stem"],
                                          "message": "its results were already in the output folder"}
        else:
            todo.append(i)
    bar = tqdm(total=len(todo), unit="image", file=sys.stderr, disable=not progress, dynamic_ncols=True)

    def done(i: int, row: dict) -> None:
        rows[i] = row
        if out_dir is not None:
            append_journal(out_dir, row, COLUMNS)
        if row["status"] == "error":
            bar.write(f"{row['file']}: {row['message']}", file=sys.stderr)
        bar.update()

    with bar:
        if client is not None and todo:  # the same per-image function, run by the cluster's workers
            remote = importlib.import_module("._dask", __package__)
            for k, row in remote.map_dask(client, remote.segment_task, [tasks[i] for i in todo], _died):
                done(todo[k], row)
        elif min(jobs, len(todo)) <= 1:
            for i in todo:
                done(i, process_image(tasks[i]))
        else:  # never forked from here (pool_context); a worker that dies is replaced, and only the image
            # that took it down alone is reported (run_pool); Ctrl-C stops the pool at once (writes are atomic)
            for k, result in run_pool(process_image, [tasks[i] for i in todo], min(jobs, len(todo)),
                                      initializer=_init_worker):
                done(todo[k], _died(tasks[todo[k]], result) if isinstance(result, BaseException) else result)
    return rows  # type: ignore[return-value]


def _summary_csv(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8", "surrogateescape")  # file names as the file system spells them


def _histogram_failed(item: dict, error: BaseException) -> dict:
    """Pass 1's result where the worker failed: said on stderr (the image is left out of the pooled histogram)."""
    message = worker_failure(error, "this image's histogram")
    print(f"{item['path']}: {message}; left out of the pooled histogram", file=sys.stderr)
    return {"error": message}


def _pooled(args: argparse.Namespace, recipe, client):
    """Pass 1 of ``--pooled-threshold``: every image's channel histogram, pooled into one manual threshold.

    Locally and on a cluster alike, the histograms are pooled by :func:`pooled_recipe`, which refuses (a usage
    error, before pass 2) a method without a histogram form, a plate of which no image could be read and one
    that mixes bit depths.
    """
    try:
        check_pooled(recipe)
    except ValueError as error:
        raise UsageError(str(error)) from None
    paths, _ = collect_inputs(args.inputs, args.recursive, Path(os.path.expanduser(args.out)).resolve())
    items = [{"path": str(p), "recipe": recipe.to_json()} for p in paths]
    if not items:
        return recipe
    if client is not None:
        remote = importlib.import_module("._dask", __package__)
        found = remote.map_dask(client, channel_histogram, items, _histogram_failed)
    else:
        found = map_local(channel_histogram, items, args.jobs, _histogram_failed)
    # each with its file as the user gave it (the Dask tasks hold absolute paths), for check_bit_depths' examples;
    # in the inputs' order, so that the example of each bit depth is its first file whichever finished first
    histograms = [result | {"file": items[i]["path"]} for i, result in sorted(found, key=lambda pair: pair[0])]
    try:
        pooled = pooled_recipe(recipe, histograms)
    except ValueError as error:
        raise UsageError(str(error)) from None
    used = sum("counts" in h for h in histograms)
    value = (pooled.foreground if isinstance(pooled, WatershedRecipe) else pooled).value
    print(f"pooled threshold {_number(value)} from the histogram of {used} image{'s' * (used != 1)}")
    return pooled


#: The option that turns each refused step off (tile_refusals names the parameter).
_TILE_FIXES = {"fill_holes": "--no-fill-holes", "min_size": "--min-size 0", "clear_border": "--no-clear-border",
               "background_radius": "--background-radius 0", "method": "--method otsu or a local method",
               "diameter": "--diameter N (the typical object diameter in pixels) or --diameter 0",
               "seeds": "--seeds h_maxima", "landscape": "--landscape distance",
               "add_seeds": "--add-seeds '' --remove-seeds '' --merge-points '' --split-points ''",
               "channel": "--channel luminance --plane 0 --timepoint 0 --series 0 --pages planes --projection auto"}


def _check_tiles(recipe) -> None:
    """``--tile`` with a recipe that tiles cannot follow exactly: a usage error naming each parameter."""
    refused = importlib.import_module("._tiles", __package__).tile_refusals(recipe)
    if refused:
        fixes = ", ".join(_TILE_FIXES[name] for name, _ in refused)
        raise UsageError("--tile cannot follow this recipe exactly: " + "; ".join(reason for _, reason in refused)
                         + f". Change {'it' if len(refused) == 1 else 'them'} ({fixes}), or leave out --tile")


def run_batch(paths: list[str | os.PathLike], recipe, out_dir: str | os.PathLike, *,
              displays: list[str] | None = None, labels_format: str = "png",
              memory_budget: int | None = None, on_row=None) -> list[dict]:
    """Segment images with the command line's own per-image code and write the command line's outputs.

    What ``python -m segmentation apply --recipe recipe.json PATHS --out OUT_DIR --jobs 1`` does, in this
    process and one image at a time: the same per-image function, file names, ``recipe.json``, quality flags
    and ``summary.csv``, so each image's files are byte-identical to the command line's. For callers that
    show their own progress (the app's Batch page).

    Parameters
    ----------
    paths : list of str or os.PathLike
        Image files (any format :func:`segmentation.load_image` reads). Output names follow the command
        line's rule (the file's stem, made longer where stems clash).
    recipe : ThresholdRecipe or WatershedRecipe
        The recipe for every image.
    out_dir : str or os.PathLike
        Folder for the results, created if needed; existing results of the same names are replaced.
    displays : list of str, optional
        The ``file`` column of each image's summary row (default: the path as given).
    labels_format : {"png", "tiff"}
        Watershed labels as 16-bit PNG or 32-bit TIFF.
    memory_budget : int, optional
        Bytes; an image whose decoded pixels take more (or a TIFF of more than 64 megapixels) is segmented in
        tiles as the command line does (``<stem>.ome.zarr``, ``<stem>_measurements.csv`` and
        ``<stem>_tiles.zarr``). Default: :func:`default_memory_budget` for one process.
    on_row : callable, optional
        Called as ``on_row(done, total, row)`` after each image.

    Returns
    -------
    list of dict
        One summary row per image (keys :data:`COLUMNS`, all strings), in the order of ``paths``; a bad
        image has status ``"error"`` and a plain-words message, and the others go on.

    Raises
    ------
    OSError
        ``out_dir`` cannot be created or written.
    ValueError
        ``labels_format`` is not png or tiff.

    References
    ----------
    The quality flags: P. J. Rousseeuw and C. Croux, "Alternatives to the median absolute deviation",
    J. Am. Stat. Assoc. 88(424):1273–1283, 1993. :DOI:`10.1080/01621459.1993.10476408`

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from segmentation import ThresholdRecipe, load_sample, encode_png
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(f"{folder}/coins.png", "wb").write(encode_png(load_sample("coins")))
    >>> rows = run_batch([f"{folder}/coins.png"], ThresholdRecipe(), f"{folder}/out")
    >>> rows[0]["status"], sorted(os.listdir(f"{folder}/out"))[:2]
    ('ok', ['coins_mask.png', 'coins_measurements.csv'])
    """
    if labels_format not in ("png", "tiff"):
        raise ValueError(f"labels_format must be png or tiff; got {labels_format!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in paths]
    budget = default_memory_budget(1) if memory_budget is None else memory_budget
    tasks = _tasks(paths, recipe, out_dir, labels_format=labels_format, memory_budget=budget, displays=displays)
    write_bytes_atomic(out_dir / RECIPE, recipe.to_json().encode("utf-8"))
    rows = []
    for task in tasks:
        rows.append(process_image(task))
        if on_row is not None:
            on_row(len(rows), len(tasks), rows[-1])
    flag_outliers(rows)
    write_bytes_atomic(out_dir / SUMMARY, _summary_csv(rows))
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (argparse exits with 2 on its own errors)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("score", "tune"):
        try:
            return (run_score if args.command == "score" else run_tune)(args)
        except UsageError as error:
            args.parser.error(str(error))
    started = time.perf_counter()
    client = None
    try:
        try:
            recipe = _load_recipe(args)
            fg = recipe if isinstance(recipe, ThresholdRecipe) else recipe.foreground
            unit_suffix(getattr(args, "unit", None) or fg.unit)
        except ValueError as error:
            raise UsageError(str(error)) from None
        if isinstance(recipe, WatershedRecipe) and recipe.seeds == "marker_image":
            raise UsageError("seeds marker_image needs a marker image, which only the Python API accepts; "
                             "choose other seeds")
        scheduler = getattr(args, "scheduler", None)
        if scheduler:
            args.skip_existing = not args.overwrite  # a cluster batch resumes: images done with this recipe stay
            client = importlib.import_module("._dask", __package__).connect(scheduler, wait=args.wait_workers)
        if getattr(args, "pooled_threshold", False):
            recipe = _pooled(args, recipe, client)
        if getattr(args, "tile", None):  # refused before any image is read, naming what to change
            _check_tiles(recipe)
        tasks, warnings, out_dir = _plan(args, recipe)
        for warning in warnings:
            print(warning, file=sys.stderr)
        if not tasks:
            print("no input images found", file=sys.stderr)
            return 1
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            if not args.skip_existing:  # a journal left by an earlier batch is kept only to resume it
                (out_dir / JOURNAL).unlink(missing_ok=True)
            remove_stale_temporaries(out_dir, [SUMMARY, RECIPE, *(n for t in tasks for n in t["names"].values())])
            write_bytes_atomic(out_dir / RECIPE, recipe.to_json().encode("utf-8"))
        except OSError as error:
            raise UsageError(f"cannot write to the output folder {out_dir}: {error.strerror or error}") from None
    except UsageError as error:
        if client is not None:
            client.close()
        args.parser.error(str(error))
    try:
        rows = _run(tasks, args.jobs, progress=not args.no_progress and sys.stderr.isatty(), client=client,
                    out_dir=out_dir)
    except KeyboardInterrupt:
        print("interrupted: summary.csv was not written (rerun with --skip-existing to resume)", file=sys.stderr)
        return 130
    finally:
        if client is not None:
            client.close()
    # a worker killed while writing leaves its temporary file; the image itself was redone by another worker
    remove_stale_temporaries(out_dir, [n for t in tasks for n in t["names"].values()])
    flag_outliers(rows)
    try:
        write_bytes_atomic(out_dir / SUMMARY, _summary_csv(rows))
        (out_dir / JOURNAL).unlink(missing_ok=True)
    except OSError as error:
        print(f"{out_dir / SUMMARY}: could not write: {error.strerror or error}", file=sys.stderr)
        return 1
    counts = {status: sum(r["status"] == status for r in rows) for status in ("ok", "error", "skipped")}
    skipped = f", {counts['skipped']} skipped" if counts["skipped"] else ""
    print(f"{len(rows)} image{'s' * (len(rows) != 1)}: {counts['ok']} segmented, {counts['error']} failed{skipped} "
          f"in {time.perf_counter() - started:.1f} s; results in {out_dir}"
          + (f" (see {SUMMARY})" if counts["error"] else ""))
    return 1 if counts["error"] else 0


def _notes(read: tuple[str, ...], computed: tuple[str, ...]) -> list[str]:
    """The reader's and the segmentation's notes once each (the count of non-finite pixels is in both)."""
    said = any("not finite" in note for note in computed)
    return list(dict.fromkeys([*(n for n in read if not (said and "not finite" in n)), *computed]))
