"""``python -m segmentation score``: predictions, or a recipe's results, scored object by object against the truth.

Files are matched by name (the stem rule): the truth for image ``x.*`` is ``TRUTH_DIR/x_labels.*``, else
``x.*``, else ``x_mask.*``; predictions ``x_labels.*``, ``x.*`` and ``x_mask.*`` (in that order) belong to
image ``x``. A truth or prediction file is a label image (0 = background, each other value one object) or a
mask (a single non-zero value: its 8-connected components are the objects); :func:`objects_of` tells which.

Each image is scored by :func:`segmentation.score_objects` at the ``--thresholds`` (and at IoU 0.5, which the
summary always reports). ``scores.csv`` holds one row per image and threshold (the long form: it filters
and pivots easily, and a new threshold is a new row, never a new column); ``scores_summary.csv`` holds the
means over the scored images. The process pool of :func:`run_parallel` is shared with ``tune``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import numpy as np
from skimage.measure import label as label_pieces
from tqdm import tqdm

from ..export import write_bytes_atomic
from ..io import load_image
from ..measurement import score_objects
from ..recipes import ThresholdRecipe, WatershedRecipe, file_selection, recipe_from_json
from ..regions import label_objects, watershed
from ..thresholding import threshold
from ._options import DSB_THRESHOLDS, UsageError, collect_inputs, is_image
from ._plate import run_pool, worker_failure

__all__ = ["run_score", "run_parallel", "progress_bar", "TruthIndex", "read_recipe", "read_objects", "objects_of",
           "objects_warning",
           "predict", "summarise", "listed", "no_truth_message", "check_out", "truth_folder", "SCORE_COLUMNS",
           "SUMMARY_COLUMNS"]

SCORES, SCORES_SUMMARY = "scores.csv", "scores_summary.csv"
SCORE_COLUMNS = ("file", "truth", "prediction", "truth_kind", "prediction_kind", "status", "message", "threshold",
                 "tp", "fp", "fn", "precision", "recall", "f1", "ap", "mean_matched_iou", "n_true", "n_pred",
                 "merges", "splits", "mean_ap", "seconds")
SUMMARY_COLUMNS = ("images", "scored", "failed", "no_truth", "thresholds", "f1_iou50", "ap_iou50", "precision_iou50",
                   "recall_iou50", "mean_ap", "merges", "splits", "tp_iou50", "fp_iou50", "fn_iou50", "n_true",
                   "n_pred")

#: Name endings that tie a file to the image ``x``, with their rank (lower is preferred; the bare ``x`` is 1).
_ENDINGS = (("_labels", 0), ("_mask", 2))
#: Files the segmentation commands write next to their predictions that are never predictions.
_DRAWINGS = ("_overlay",)
_MOST_LISTED = 20


# -- matching files by name ------------------------------------------------------------------------
def _keys(stem: str) -> list[tuple[str, int]]:
    """``(image stem, rank)`` for every image a file named ``stem`` can belong to (letter case ignored)."""
    folded = stem.casefold()
    keys = [(folded, 1)]
    keys += [(folded[: -len(ending)], rank) for ending, rank in _ENDINGS
             if folded.endswith(ending) and len(folded) > len(ending)]
    return keys


def _primary(stem: str) -> str:
    """The image stem a prediction file belongs to (``x_labels`` and ``x_mask`` -> ``x``)."""
    keys = _keys(stem)
    return keys[-1][0]  # the name without its ending, if it has one


class TruthIndex:
    """The image files of one folder, found by image stem under the stem rule (truth or predictions)."""

    def __init__(self, folder: Path, what: str, *, skip_drawings: bool = False):
        self.folder, self.what = folder, what
        try:
            files = sorted((p for p in folder.iterdir() if p.is_file() and is_image(p)), key=lambda p: str(p))
        except OSError as error:
            raise UsageError(f"cannot list {folder}: {error.strerror or error}") from None
        if skip_drawings:
            files = [p for p in files if not p.stem.casefold().endswith(_DRAWINGS)]
        self.files = files
        self._by_key: dict[str, list[tuple[int, Path]]] = {}
        for path in files:
            for key, rank in _keys(path.stem):
                self._by_key.setdefault(key, []).append((rank, path))

    def find(self, stem: str) -> tuple[Path | None, str]:
        """The file for image ``stem`` and "", or None and why not ("" when there is simply none)."""
        entries = self._by_key.get(stem.casefold(), [])
        if not entries and stem.casefold().endswith(".ome") and len(stem) > 4:
            # cells.ome.tif: the batch names its outputs cells_*, as Fiji and Bio-Formats name the image
            entries = self._by_key.get(stem.casefold()[:-4], [])
        if not entries:
            return None, ""
        best = min(rank for rank, _ in entries)
        chosen = [path for rank, path in entries if rank == best]
        if len(chosen) > 1:
            return None, f"{len(chosen)} {self.what} files match it: " + ", ".join(p.name for p in chosen)
        return chosen[0], ""

    def stems(self) -> list[str]:
        """One image stem per group of files that belong together (``x_labels.png`` and ``x_mask.png``: ``x``)."""
        return sorted({_primary(path.stem) for path in self.files})


# -- objects from files ----------------------------------------------------------------------------
def objects_of(image: np.ndarray) -> tuple[np.ndarray, str]:
    """The objects an image holds and what it was: ``"labels"``, ``"mask"`` (one non-zero value) or ``"empty"``.

    A mask's objects are its 8-connected components; a label image is returned as integers. Raises
    ``ValueError`` in plain words for a colour image or values that cannot be object ids.
    """
    if image.ndim == 3:
        if (image != image[..., :1]).any():
            raise ValueError("it is a colour image, not a label image or a mask (a gray or 16-bit image)")
        image = image[..., 0]
    if image.dtype.kind == "f":  # a 32-bit TIFF, which load_image gives as float32
        if not np.isfinite(image).all() or (image < 0).any() or (image != np.round(image)).any():
            raise ValueError("it holds negative, fractional or non-finite values, so it is neither a label image "
                             "nor a mask")
        if image.size and image.max() > 2**24:
            raise ValueError("it holds values above 16777216, which this reader cannot tell apart exactly")
        image = image.astype(np.int32)
    nonzero = image[image != 0]
    if not nonzero.size:
        return np.zeros(image.shape, np.int32), "empty"
    if nonzero.min() == nonzero.max():
        return label_objects(image != 0), "mask"
    return image, "labels"


def objects_warning(objects: np.ndarray, kind: str, what: str = "truth") -> str:
    """A plain warning when an image read by :func:`objects_of` does not look like objects, else ``""``.

    Parameters
    ----------
    objects : ndarray of int, shape (H, W)
        The objects :func:`objects_of` returned.
    kind : {"labels", "mask", "empty"}
        What :func:`objects_of` said the image was.
    what : str
        The image's role in the message ("truth", "prediction").

    Returns
    -------
    str
        ``""``, or why the image is probably not what was meant: no object at all (``kind`` "empty"), or a
        "label image" whose ids each come in many separate pieces (more than twice as many 8-connected pieces
        of equal value as ids, and over 50 more): a grey intensity image (a photo, noise) rather than labels,
        where every object is one connected region of its own id.

    Notes
    -----
    The pieces are the connected regions of equal value (:func:`skimage.measure.label`, 8-connectivity):
    a label image of N objects has N pieces (a few more where an object's outline is ragged), an 8-bit photo
    holds each of its grey values in thousands of pieces (uniform 8-bit noise 768×768: 578,553 pieces).

    References
    ----------
    scikit-image, ``skimage.measure.label`` (connected regions of equal value); van der Walt et al., PeerJ 2:e453
    (2014), https://doi.org/10.7717/peerj.453.

    Examples
    --------
    >>> import numpy as np
    >>> objects_warning(np.zeros((4, 4), np.int32), "empty")
    'the truth has no objects (every pixel is 0)'
    """
    if kind == "empty":
        return f"the {what} has no objects (every pixel is 0)"
    if kind != "labels":
        return ""
    ids = int(np.unique(objects[objects != 0]).size)
    # Measured: 55 ms on 768×768 uniform noise, 4 ms on the nuclei labels.
    pieces = int(label_pieces(objects, background=0, connectivity=2).max())
    if pieces > 2 * ids and pieces > ids + 50:
        return (f"this looks like an intensity image, not labels ({ids:,} values in {pieces:,} separate pieces); "
                "upload a label image (one id per object) or a mask")
    return ""


def read_objects(path: str | Path, what: str) -> tuple[np.ndarray, str]:
    """:func:`objects_of` a file; a failure is a ``ValueError`` naming the file and its role (``what``)."""
    try:
        return objects_of(load_image(path, projection="none"))  # labels: a projection would merge them
    except ValueError as error:
        raise ValueError(f"the {what} {Path(path).name}: {error}") from None


def predict(image: np.ndarray, recipe) -> tuple[np.ndarray, str]:
    """A recipe's objects on an image: a threshold recipe's mask (its components are the objects) or labels."""
    if isinstance(recipe, ThresholdRecipe):
        return threshold(image, recipe).mask, "mask"
    return watershed(image, recipe).labels, "labels"


def read_recipe(file: str) -> ThresholdRecipe | WatershedRecipe:
    """A recipe file of either kind, or a ``UsageError`` saying plainly what is wrong with it."""
    try:
        text = Path(os.path.expanduser(file)).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or "it is not a text file"
        raise UsageError(f"cannot read the recipe file {file}: {reason}") from None
    try:
        recipe = recipe_from_json(text)
    except ValueError as error:
        raise UsageError(f"{file}: {error}") from None
    if isinstance(recipe, WatershedRecipe) and recipe.seeds == "marker_image":
        raise UsageError(f"{file}: seeds marker_image needs a marker image, which only the Python API accepts")
    return recipe


# -- a process pool shared with tune ---------------------------------------------------------------
def _worker_init(setup: Callable | None, setup_args: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled once, by the main process
    cv2.setNumThreads(1)  # one task per core already keeps every core busy
    if setup is not None:
        setup(*setup_args)


def run_parallel(function: Callable, tasks: list, jobs: int, *, setup: Callable | None = None,
                 setup_args: tuple = (), keep_going: Callable[[], bool] = lambda: True) -> Iterator[tuple[int, Any]]:
    """``(index, function(task))`` as tasks finish (the exception instead when a task raised or its worker died).

    Tasks start in order, at most ``2 * jobs`` at a time, and no new one once ``keep_going()`` is false
    (the first task always runs). ``setup(*setup_args)`` runs once in each worker (here, once) first.
    """
    if min(jobs, len(tasks)) <= 1:
        if setup is not None:
            setup(*setup_args)
        for i, task in enumerate(tasks):
            if i and not keep_going():
                return
            try:
                result = function(task)
            except Exception as error:  # noqa: BLE001 - as from a worker: reported for this task, the others go on
                result = error
            yield i, result
        return
    # a worker that dies is replaced, and the tasks it broke run again alone (run_pool): only the task that
    # kills its worker is reported, as its exception
    yield from run_pool(function, tasks, min(jobs, len(tasks)), initializer=_worker_init,
                        initargs=(setup, setup_args), window=2 * jobs, keep_going=keep_going)


def progress_bar(total: int, unit: str, enabled: bool) -> tqdm:
    """A one-line progress bar on stderr (off unless ``enabled``)."""
    return tqdm(total=total, unit=unit, file=sys.stderr, disable=not enabled, dynamic_ncols=True)


# -- one image (runs in a worker process) ----------------------------------------------------------
def _score_one(task: dict) -> dict:
    """Score one image; never raises: a failure becomes the result's message."""
    start = time.perf_counter()
    result = {"status": "ok", "message": "", "truth_kind": "", "prediction_kind": "", "scores": None, "warnings": []}
    try:
        truth, result["truth_kind"] = read_objects(task["truth"], "truth file")
        if warning := objects_warning(truth, result["truth_kind"]):
            result["warnings"].append(f"the truth file {Path(task['truth']).name}: {warning}")
        if task["recipe"] is not None:
            recipe = recipe_from_json(task["recipe"])
            try:
                image = load_image(task["image"], **file_selection(recipe))  # the recipe's channel / plane
            except ValueError as error:
                raise ValueError(f"the image: {error}") from None
            predicted, result["prediction_kind"] = predict(image, recipe)
        else:
            predicted, result["prediction_kind"] = read_objects(task["prediction"], "prediction")
            if result["prediction_kind"] == "labels" and (warning := objects_warning(predicted, "labels",
                                                                                     "prediction")):
                result["warnings"].append(f"the prediction {Path(task['prediction']).name}: {warning}")
        if truth.shape != predicted.shape:
            (th, tw), (ph, pw) = truth.shape, predicted.shape
            raise ValueError(f"the truth is {tw}×{th} pixels but the prediction {pw}×{ph}")
        result["scores"] = score_objects(truth, predicted, thresholds=task["thresholds"])
    except MemoryError:
        result.update(status="error", message="there is not enough memory to score this image")
    except ValueError as error:  # ImageLoadError, SegmentationError, unusable files: plain words
        result.update(status="error", message=str(error) or type(error).__name__)
    except Exception as error:  # a bug, reported as this image's error so the others go on
        result.update(status="error", message=f"unexpected error ({type(error).__name__}: {error})")
    if result["status"] == "ok":
        result["message"] = "; ".join(result["warnings"])
    result["seconds"] = time.perf_counter() - start
    return result


# -- tables ----------------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.10g}"
    return str(value)


def _csv(columns: tuple[str, ...], rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: _cell(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue().encode("utf-8", "surrogateescape")  # file names as the file system spells them


def _image_rows(item: dict, result: dict, thresholds: tuple[float, ...]) -> list[dict]:
    base = {key: item[key] for key in ("file", "truth", "prediction")} | {
        key: result.get(key, "") for key in ("truth_kind", "prediction_kind", "status", "message")}
    scores = result.get("scores")
    if scores is None:
        seconds = result.get("seconds")
        return [dict.fromkeys(SCORE_COLUMNS, "") | base | ({"seconds": f"{seconds:.3f}"} if seconds else {})]
    records = {record["threshold"]: record for record in scores.to_records()}
    mean_ap = math.fsum(records[t]["ap"] for t in thresholds) / len(thresholds)
    return [dict.fromkeys(SCORE_COLUMNS, "") | base | records[t] | {"mean_ap": mean_ap,
                                                                     "seconds": f"{result['seconds']:.3f}"}
            for t in thresholds]


def summarise(results: list[dict], thresholds: tuple[float, ...], no_truth: int) -> dict:
    """The summary row: means over the scored images at IoU 0.5 and over ``thresholds``, totals at 0.5."""
    scored = [r["scores"] for r in results if r.get("scores") is not None]
    row: dict[str, Any] = dict.fromkeys(SUMMARY_COLUMNS, "") | {
        "images": len(results) + no_truth, "scored": len(scored), "no_truth": no_truth,
        "failed": sum(r["status"] == "error" for r in results), "thresholds": " ".join(map(_cell, thresholds))}
    if not scored:
        return row

    def mean(values) -> float:
        values = list(values)
        return math.fsum(values) / len(values)

    at = [s.thresholds.index(0.5) for s in scored]
    per_image_ap = [mean(s.ap[s.thresholds.index(t)] for t in thresholds) for s in scored]
    row.update(f1_iou50=mean(s.f1[i] for s, i in zip(scored, at)), ap_iou50=mean(s.ap[i] for s, i in zip(scored, at)),
               precision_iou50=mean(s.precision[i] for s, i in zip(scored, at)),
               recall_iou50=mean(s.recall[i] for s, i in zip(scored, at)), mean_ap=mean(per_image_ap),
               merges=mean(float(s.merges) for s in scored), splits=mean(float(s.splits) for s in scored),
               tp_iou50=sum(s.tp[i] for s, i in zip(scored, at)), fp_iou50=sum(s.fp[i] for s, i in zip(scored, at)),
               fn_iou50=sum(s.fn[i] for s, i in zip(scored, at)), n_true=sum(s.n_true for s in scored),
               n_pred=sum(s.n_pred for s in scored))
    return row


def listed(names: list[str]) -> str:
    """Names joined with commas, the first few only ("and 12 more")."""
    shown = ", ".join(names[:_MOST_LISTED])
    return shown + (f" and {len(names) - _MOST_LISTED} more" if len(names) > _MOST_LISTED else "")


def no_truth_message(names: list[str], truth_dir: Path) -> str:
    """The plain sentence saying which images have no truth file."""
    count = len(names)
    return (f"{count} image{'s' * (count != 1)} {'have' if count != 1 else 'has'} no truth file in {truth_dir} "
            f"(looked for <stem>_labels.*, <stem>.*, <stem>_mask.*) and {'were' if count != 1 else 'was'} not "
            f"scored: {listed(names)}")


def check_out(out_dir: Path, names: tuple[str, ...], overwrite: bool, option: str = "--out") -> None:
    """Refuse an --out that is a file, or that holds these results already (unless ``overwrite``)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{option} {out_dir} is a file, not a folder")
    existing = [name for name in names if (out_dir / name).exists()]
    if existing and not overwrite:
        raise UsageError(f"{out_dir} already holds {', '.join(existing)}; choose another --out, or add --overwrite "
                         "to replace them")


def truth_folder(text: str) -> Path:
    """--truth as a folder, or a ``UsageError``."""
    folder = Path(os.path.expanduser(text))
    if not folder.is_dir():
        raise UsageError(f"--truth {text} is {'a file' if folder.exists() else 'missing'}: it must be the folder "
                         "of the true label images or masks")
    return folder


# -- the command -----------------------------------------------------------------------------------
def _plan(args) -> tuple[list[dict], list[str], Path, str | None]:
    """The images to score (with their truth and prediction files), those without truth, --out, the recipe."""
    out_dir = Path(os.path.expanduser(args.out))
    truth_dir = truth_folder(args.truth)
    source = Path(os.path.expanduser(args.source))
    recipe_text = None
    if source.is_dir():
        predictions = TruthIndex(source, "prediction", skip_drawings=True)
    elif source.exists() or source.suffix.lower() == ".json":
        recipe_text = read_recipe(args.source).to_json()
        predictions = None
        if not args.inputs:
            raise UsageError(f"{args.source} is a recipe: name the IMAGES to run it on")
    else:
        raise UsageError(f"{args.source}: there is no such folder of predictions or recipe file")
    truths = TruthIndex(truth_dir, "truth")
    if args.inputs:
        paths, warnings = collect_inputs(args.inputs, args.recursive, out_dir.resolve())
        for warning in warnings:
            print(warning, file=sys.stderr)
        truth_files = {p.resolve() for p in truths.files}
        given = [p for p in paths if p.resolve() not in truth_files]  # the truth folder named as an image folder
        if len(given) < len(paths):
            print(f"{len(paths) - len(given)} of the images are truth files in {truth_dir} and were left out",
                  file=sys.stderr)
        items = [dict(file=str(p), stem=p.stem, image=str(p)) for p in given]
    else:
        items = [dict(file="", stem=stem, image="") for stem in predictions.stems()]
        if not items:
            print(f"{args.source}: no prediction files in this folder", file=sys.stderr)
    tasks, no_truth = [], []
    for item in items:
        truth, problem = truths.find(item["stem"])
        item.update(truth=str(truth or ""), recipe=recipe_text, thresholds=tuple(sorted({*args.thresholds, 0.5})))
        if predictions is None:
            item.update(prediction=args.source)
        else:
            found, why = predictions.find(item["stem"])
            item.update(prediction=str(found or ""))
            if found is None:
                problem = problem or why or (f"no prediction for it in {source} (looked for <stem>_labels.*, "
                                             "<stem>.*, <stem>_mask.*)")
            item["file"] = item["file"] or str(found or "")
        if truth is None and not problem:
            no_truth.append(item)
            continue
        item["problem"] = problem
        tasks.append(item)
    return tasks, no_truth, out_dir, recipe_text


def run_score(args) -> int:
    """Run ``score``; returns the exit status (raises ``UsageError`` before anything is written)."""
    started = time.perf_counter()
    tasks, no_truth, out_dir, _ = _plan(args)
    if not tasks and not no_truth:
        print("no input images found", file=sys.stderr)
        return 1
    check_out(out_dir, (SCORES, SCORES_SUMMARY), args.overwrite)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot write to the output folder {out_dir}: {error.strerror or error}") from None
    if no_truth:
        print(no_truth_message([Path(item["file"]).name or item["stem"] for item in no_truth], Path(args.truth)),
              file=sys.stderr)

    results: list[dict | None] = [None] * len(tasks)
    todo = []
    for i, task in enumerate(tasks):
        if task["problem"]:
            results[i] = {"status": "error", "message": task["problem"]}
        else:
            todo.append(i)
    bar = progress_bar(len(tasks), "image", not args.no_progress and sys.stderr.isatty())
    bar.update(len(tasks) - len(todo))

    with bar:
        for i in (i for i in range(len(tasks)) if tasks[i]["problem"]):
            bar.write(f"{tasks[i]['file'] or tasks[i]['stem']}: {tasks[i]['problem']}", file=sys.stderr)
        try:
            for j, result in run_parallel(_score_one, [tasks[i] for i in todo], args.jobs):
                if isinstance(result, BaseException):  # the real error, in words (worker_failure)
                    result = {"status": "error", "message": worker_failure(result, "this image")}
                i = todo[j]
                results[i] = result
                if result["status"] == "error":
                    bar.write(f"{tasks[i]['file']}: {result['message']}", file=sys.stderr)
                for warning in result.get("warnings", ()):
                    bar.write(f"{tasks[i]['file']}: warning: {warning}", file=sys.stderr)
                bar.update()
        except KeyboardInterrupt:
            print(f"interrupted: {SCORES} was not written", file=sys.stderr)
            return 130

    thresholds = args.thresholds
    rows = [row for task, result in zip(tasks, results) for row in _image_rows(task, result, thresholds)]
    rows += [dict.fromkeys(SCORE_COLUMNS, "") | {"file": item["file"] or item["stem"], "truth": "",
                                                 "prediction": item["prediction"], "status": "no truth",
                                                 "message": f"no truth file in {args.truth}"} for item in no_truth]
    rows.sort(key=lambda row: (row["file"].casefold(), row["file"]))  # stable: the thresholds stay in order
    summary = summarise(results, thresholds, len(no_truth))
    try:
        write_bytes_atomic(out_dir / SCORES, _csv(SCORE_COLUMNS, rows))
        write_bytes_atomic(out_dir / SCORES_SUMMARY, _csv(SUMMARY_COLUMNS, [summary]))
    except OSError as error:
        print(f"{out_dir}: could not write the scores: {error.strerror or error}", file=sys.stderr)
        return 1
    print(_summary_line(summary, thresholds, time.perf_counter() - started, out_dir))
    return 1 if summary["failed"] or not summary["scored"] else 0


def _summary_line(summary: dict, thresholds: tuple[float, ...], seconds: float, out_dir: Path) -> str:
    scored = summary["scored"]
    counts = f"{scored} image{'s' * (scored != 1)} scored, {summary['failed']} failed"
    if summary["no_truth"]:
        counts += f", {summary['no_truth']} without truth"
    if not scored:
        return f"{counts} in {seconds:.1f} s; results in {out_dir}"
    over = "0.5-0.95" if thresholds == DSB_THRESHOLDS else " ".join(map(_cell, thresholds))
    return (f"{counts} in {seconds:.1f} s: mean F1@0.5 {summary['f1_iou50']:.4f}, AP@0.5 {summary['ap_iou50']:.4f}, "
            f"mean AP over IoU {over} {summary['mean_ap']:.4f}; results in {out_dir}")
