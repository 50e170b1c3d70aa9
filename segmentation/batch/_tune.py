"""``python -m segmentation tune``: a random search of a recipe's parameters for the best object F1 against the truth.

The objective is the mean over the images of the object F1 at IoU 0.5 (:func:`segmentation.score_objects`,
one-to-one matches, IoU >= 0.5); ties go to the higher mean AP over IoU 0.5-0.95 (the DSB 2018 score), then
to the earlier evaluation. An image a recipe cannot segment (a ``SegmentationError``) scores 0 there.

The search
----------
Evaluation 0 is the start recipe itself, so the best recipe is never worse than it on the tuning images.
Every other evaluation draws each tuned parameter independently at random (``numpy.random.default_rng(seed)``,
all draws made up front in evaluation order, so a seed, start recipe and budget always give the same
recipes, with any ``--jobs``); a recipe drawn twice is drawn again. Parameters that do not apply to a
drawn recipe (sigma without Gaussian smoothing, window with a global method) are reset to the start
recipe's values. Random search, not a grid: with five or more parameters it covers each one's range far
better for the same budget (Bergstra & Bengio, JMLR 13:281-305, 2012).

The search space
----------------
Ranges come from each parameter's :class:`~segmentation.ParamSpec` (``min``, ``max``, ``choices``, ``step``:
floats are rounded to the spec's step, window sizes kept odd); where the spec's range is huge it is
narrowed to the sub-range below, then widened to include the start recipe's value (so a recipe made for
large objects still searches around its own scale), and always kept within the spec.

=================  ==================================  ===========================  ==========================
parameter          used when                           searched                     spec range
=================  ==================================  ===========================  ==========================
method             a global or local method            the same family: otsu, li,   all methods
                                                       triangle, yen, isodata,
                                                       mean, minimum (not manual,
                                                       multiotsu) or the 4 local
sigma              smoothing gaussian                  0.5-4, log-uniform           0.1-50
median_size        smoothing median                    3-11, odd                    3-99
block_size         adaptive_mean/gaussian              7-201, odd, log-uniform      3-1001
offset             adaptive_mean/gaussian              -10-40                       -255-255
window             sauvola, niblack                    7-201, odd, log-uniform      3-1001
k                  sauvola, niblack                    -0.5-0.5                     -2-2
opening, closing   threshold recipes only              0-7                          0-201
fill_holes         threshold recipes only              false, true                  false, true
min_size           always                              1-500, log-uniform           0-10^9
h                  seeds h_maxima                      0.25-8, log-uniform          0.05-1000
min_distance       seeds distance_peaks                2-40, log-uniform            1-1000
peak_fraction      seeds distance_peaks                the spec's range             0-0.99
distance_sigma     distance seeds or landscape         0-3                          0-50
connectivity       landscape distance                  4, 8                         4, 8
=================  ==================================  ===========================  ==========================

A watershed recipe's foreground is searched over method, sigma (or median_size, or the local method's
window/block size and k/offset) and min_size; its seed method, landscape, compactness, watershed lines,
polarity, channel, background subtraction and clean-up stay as in the start recipe (they describe the
images and the wanted output more than they trade errors against each other). Manual and multi-Otsu
thresholds are kept as they are: their values depend on the images' intensities, not on a range.
"""

from __future__ import annotations

import csv
import io
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..export import write_bytes_atomic
from ..io import load_image
from ..measurement import score_objects
from ..recipes import (
    GLOBAL_METHODS,
    LOCAL_METHODS,
    ParamSpec,
    ThresholdRecipe,
    WatershedRecipe,
    file_selection,
    recipe_from_json,
)
from ._options import DSB_THRESHOLDS, UsageError, collect_inputs
from ._plate import worker_failure
from ._score import (
    TruthIndex,
    check_out,
    no_truth_message,
    predict,
    progress_bar,
    read_objects,
    read_recipe,
    run_parallel,
    truth_folder,
)

__all__ = ["run_tune", "Dimension", "search_space", "draw_recipes", "evaluate", "score_recipe", "search", "best_row",
           "TABLE_COLUMNS"]

BEST, TABLE = "best_recipe.json", "search.csv"
TABLE_COLUMNS = ("evaluation", "f1_iou50", "mean_ap", "seconds", "failed_images", "message")

#: Searched methods: the automatic global ones (manual needs a value, multi-Otsu its classes) or the local ones.
_GLOBAL = tuple(m for m in GLOBAL_METHODS if m not in ("manual", "multiotsu"))
_FAMILIES = (_GLOBAL, LOCAL_METHODS)
#: Sub-ranges (low, high, log-uniform) where a spec's range is huge; a parameter not listed uses its spec's range.
_SUB_RANGES: dict[str, tuple[float, float, bool]] = {
    "sigma": (0.5, 4.0, True), "median_size": (3, 11, False), "block_size": (7, 201, True),
    "offset": (-10.0, 40.0, False), "window": (7, 201, True), "k": (-0.5, 0.5, False), "opening": (0, 7, False),
    "closing": (0, 7, False), "min_size": (1, 500, True), "h": (0.25, 8.0, True), "min_distance": (2, 40, True),
    "distance_sigma": (0.0, 3.0, False),
}
_THRESHOLD_TUNED = ("method", "sigma", "median_size", "block_size", "offset", "window", "k", "opening", "closing",
                    "fill_holes", "min_size")
_FOREGROUND_TUNED = ("method", "sigma", "median_size", "block_size", "offset", "window", "k", "min_size")
_WATERSHED_TUNED = ("h", "min_distance", "peak_fraction", "distance_sigma", "connectivity")
_DRAWS_PER_RECIPE = 50  # a space too small for the budget ends the search after this many repeats in a row


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: its spec, where it lives, and the values or range it is drawn from."""

    spec: ParamSpec
    foreground: bool = False  # a parameter of a watershed recipe's foreground
    choices: tuple = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    def draw(self, rng: np.random.Generator) -> Any:
        """One random value (choices uniformly; numbers uniformly or log-uniformly, on the spec's grid)."""
        if self.choices:
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        spec = self.spec
        if spec.kind == "int":
            number = min(max(int(round(value)), math.ceil(self.low)), math.floor(self.high))
            if spec.odd and number % 2 == 0:
                number += 1 if number + 1 <= self.high else -1
            return number
        step = spec.step or 10 ** (math.floor(math.log10(max(abs(value), 1e-12))) - 2)  # 3 significant digits
        return min(max(round(round(value / step) * step, 10), self.low), self.high)


def _dimension(spec: ParamSpec, start: Any, foreground: bool, methods: tuple[str, ...]) -> Dimension:
    if spec.name == "method":
        return Dimension(spec, foreground, choices=methods)
    if spec.kind in ("choice", "int_choice"):
        return Dimension(spec, foreground, choices=tuple(spec.choices))
    if spec.kind == "bool":
        return Dimension(spec, foreground, choices=(False, True))
    low, high, log = _SUB_RANGES.get(spec.name, (spec.min, spec.max, False))
    if start is not None and (not log or start > 0):  # the start value is always inside the searched range
        low, high = min(low, start), max(high, start)
    low = max(low, spec.min) if spec.min is not None else low
    high = min(high, spec.max) if spec.max is not None else high
    return Dimension(spec, foreground, low=low, high=high, log=log and low > 0)


def _threshold_dimensions(recipe: ThresholdRecipe, names: tuple[str, ...], foreground: bool) -> list[Dimension]:
    family = next((f for f in _FAMILIES if recipe.method in f), ())
    methods = family or (recipe.method,)
    values = recipe.values()
    dimensions = []
    for spec in ThresholdRecipe.specs():
        if spec.name not in names or (spec.name == "method" and not family):
            continue
        if any(spec.applies(values | {"method": m}) for m in methods):
            dimensions.append(_dimension(spec, values[spec.name], foreground, methods))
    return dimensions


def search_space(recipe: ThresholdRecipe | WatershedRecipe) -> list[Dimension]:
    """The parameters searched for this start recipe, each with its values or range (see the module's table)."""
    if isinstance(recipe, ThresholdRecipe):
        return _threshold_dimensions(recipe, _THRESHOLD_TUNED, False)
    dimensions = _threshold_dimensions(recipe.foreground, _FOREGROUND_TUNED, True)
    values = recipe.values()
    for spec in WatershedRecipe.specs():
        if spec.name not in _WATERSHED_TUNED or not spec.applies(values):
            continue
        if spec.name == "distance_sigma" and not recipe.uses_distance:
            continue
        dimensions.append(_dimension(spec, values[spec.name], False, ()))
    return dimensions


def _applicable(recipe: ThresholdRecipe, start: ThresholdRecipe, dimensions: list[Dimension]) -> ThresholdRecipe:
    values = recipe.values()
    resets = {d.name: getattr(start, d.name) for d in dimensions if not d.spec.applies(values)}
    return recipe.replace(**resets) if resets else recipe


def _with(start, dimensions: list[Dimension], values: dict[tuple[bool, str], Any]):
    """The start recipe with the drawn values, those that do not apply reset to the start's."""
    own = {name: v for (fg, name), v in values.items() if not fg}
    if isinstance(start, ThresholdRecipe):
        return _applicable(start.replace(**own), start, dimensions)
    fg_dims = [d for d in dimensions if d.foreground]
    foreground = start.foreground.replace(**{name: v for (fg, name), v in values.items() if fg})
    recipe = start.replace(foreground=_applicable(foreground, start.foreground, fg_dims), **own)
    own_values = recipe.values()
    resets = {d.name: getattr(start, d.name) for d in dimensions if not d.foreground and not d.spec.applies(own_values)}
    return recipe.replace(**resets) if resets else recipe


def draw_recipes(start, budget: int, seed: int) -> tuple[list, list[Dimension]]:
    """``budget`` distinct recipes, the start recipe first, then random draws (fewer if the space runs out)."""
    dimensions = search_space(start)
    rng = np.random.default_rng(seed)
    recipes, seen = [start], {start.to_json()}
    while len(recipes) < budget and dimensions:
        for _ in range(_DRAWS_PER_RECIPE):
            recipe = _with(start, dimensions, {(d.foreground, d.name): d.draw(rng) for d in dimensions})
            if recipe.to_json() not in seen:
                break
        else:
            break  # the space holds no new recipe (a few choices only)
        seen.add(recipe.to_json())
        recipes.append(recipe)
    return recipes, dimensions


def _parameter_cells(recipe, dimensions: list[Dimension]) -> dict[str, str]:
    cells = {}
    for d in dimensions:
        holder = recipe.foreground if d.foreground else recipe
        applies = d.spec.applies(holder.values())
        cells[d.name] = d.spec.to_text(getattr(holder, d.name)) if applies else ""
    return cells


# -- evaluation (runs in a worker process) ---------------------------------------------------------
_DATA: list[tuple[str, np.ndarray, np.ndarray]] = []


def _set_data(data: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
    _DATA[:] = data


def evaluate(task: tuple[int, str]) -> dict:
    """Mean F1 at IoU 0.5 and mean AP over 0.5-0.95 of one recipe over the loaded images; never raises."""
    index, text = task
    return score_recipe(index, recipe_from_json(text), _DATA)


def score_recipe(index: int, recipe, data: list[tuple[str, np.ndarray, np.ndarray]]) -> dict:
    """One row of the search table: ``recipe``'s mean F1 at IoU 0.5 and mean AP over ``data``; never raises.

    ``data`` holds ``(name, image, true labels)``; an image the recipe cannot segment scores 0 and is named in
    the row's ``message``.
    """
    start = time.perf_counter()
    f1, ap, problems = [], [], []
    for name, image, truth in data:
        try:
            predicted, _ = predict(image, recipe)
            scores = score_objects(truth, predicted, thresholds=DSB_THRESHOLDS)
        except MemoryError:
            problems.append(f"{name}: not enough memory")
        except ValueError as error:  # SegmentationError: this recipe cannot segment this image
            problems.append(f"{name}: {error}")
        except Exception as error:  # a bug: reported in the table, and the image scores 0
            problems.append(f"{name}: unexpected error ({type(error).__name__}: {error})")
        else:
            f1.append(scores.f1[0])  # DSB_THRESHOLDS[0] is 0.5
            ap.append(scores.mean_ap)
    count = max(len(data), 1)  # an image that failed counts as 0
    return {"evaluation": index, "f1_iou50": math.fsum(f1) / count, "mean_ap": math.fsum(ap) / count,
            "seconds": time.perf_counter() - start, "failed_images": len(problems),
            "message": "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")}


def search(start, data: list[tuple[str, np.ndarray, np.ndarray]], budget: int, seed: int = 0, *,
           on_row: Callable[[dict, int, int], None] | None = None,
           keep_going: Callable[[], bool] | None = None) -> tuple[list, list[Dimension], list[dict]]:
    """The same search as ``tune``, in this process: (recipes drawn, dimensions, rows evaluated so far).

    For a caller that shows its own progress (the app): ``on_row(row, done, total)`` after each evaluation;
    the search ends early when ``keep_going()`` turns false. :func:`best_row` picks the winner.
    """
    recipes, dimensions = draw_recipes(start, budget, seed)
    rows: list[dict] = []
    for index, recipe in enumerate(recipes):
        if keep_going is not None and not keep_going():
            break
        rows.append(score_recipe(index, recipe, data))
        if on_row is not None:
            on_row(rows[-1], len(rows), len(recipes))
    return recipes, dimensions, rows


def best_row(rows: list[dict]) -> dict:
    """The best evaluation: the highest F1 at IoU 0.5, then the highest mean AP, then the earliest."""
    return _best(rows)


# -- the command -----------------------------------------------------------------------------------
def _load(args, out_dir: Path, start) -> tuple[list[tuple[str, np.ndarray, np.ndarray]], int]:
    """The images with their true objects, and how many images or truth files could not be read.

    Each image is read as the start recipe reads it (its channel, plane, time point and projection: the search
    does not vary what is read).
    """
    truth_dir = truth_folder(args.truth)
    truths = TruthIndex(truth_dir, "truth")
    paths, warnings = collect_inputs(args.inputs, args.recursive, out_dir.resolve())
    for warning in warnings:
        print(warning, file=sys.stderr)
    truth_files = {p.resolve() for p in truths.files}
    paths = [p for p in paths if p.resolve() not in truth_files]
    data, no_truth, failed = [], [], 0
    for path in paths:
        truth, problem = truths.find(path.stem)
        if truth is None and not problem:
            no_truth.append(path.name)
            continue
        try:
            if problem:
                raise ValueError(problem)
            try:
                image = load_image(path, **file_selection(start))
            except ValueError as error:
                raise ValueError(f"the image: {error}") from None
            objects, _ = read_objects(truth, "truth file")
            if objects.shape != image.shape[:2]:
                raise ValueError(f"the truth {truth.name} is {objects.shape[1]}×{objects.shape[0]} pixels but the "
                                 f"image {image.shape[1]}×{image.shape[0]}")
        except ValueError as error:
            print(f"{path}: {error}; left out", file=sys.stderr)
            failed += 1
            continue
        data.append((path.name, image, objects))
    if no_truth:
        print(no_truth_message(no_truth, truth_dir).replace("not scored", "left out"), file=sys.stderr)
    return data, failed


def _table(rows: list[dict], recipes: list, dimensions: list[Dimension]) -> bytes:
    columns = TABLE_COLUMNS + tuple(d.name for d in dimensions)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: r["evaluation"]):
        writer.writerow(row | {"f1_iou50": f"{row['f1_iou50']:.10g}", "mean_ap": f"{row['mean_ap']:.10g}",
                               "seconds": f"{row['seconds']:.3f}"} | _parameter_cells(recipes[row["evaluation"]],
                                                                                       dimensions))
    return buffer.getvalue().encode("utf-8")


def _best(rows: list[dict]) -> dict:
    return min(rows, key=lambda r: (-r["f1_iou50"], -r["mean_ap"], r["evaluation"]))


def run_tune(args) -> int:
    """Run ``tune``; returns the exit status (raises ``UsageError`` before anything is written)."""
    started = time.perf_counter()
    out_dir = Path(os.path.expanduser(args.out))
    start = read_recipe(args.recipe)
    check_out(out_dir, (BEST, TABLE), args.overwrite)
    data, failed = _load(args, out_dir, start)
    if not data:
        print("no image with a truth file could be used: nothing to tune on" if failed or args.inputs
              else "no input images found", file=sys.stderr)
        return 1
    recipes, dimensions = draw_recipes(start, args.budget, args.seed)
    if not dimensions:
        print(f"{args.recipe}: this recipe has no parameter the search tunes; only evaluating it", file=sys.stderr)
    elif len(recipes) < args.budget:
        print(f"the search space holds only {len(recipes)} distinct recipes; evaluating those", file=sys.stderr)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot write to the output folder {out_dir}: {error.strerror or error}") from None

    deadline = None if args.seconds is None else time.perf_counter() + args.seconds
    rows: list[dict] = []
    bar = progress_bar(len(recipes), "recipe", not args.no_progress and sys.stderr.isatty())
    interrupted, lost = False, 0  # lost: evaluations whose worker failed (reported, scored 0, exit status 1)
    with bar:
        tasks = [(i, recipe.to_json()) for i, recipe in enumerate(recipes)]
        results = run_parallel(evaluate, tasks, args.jobs, setup=_set_data, setup_args=(data,),
                               keep_going=lambda: deadline is None or time.perf_counter() < deadline)
        try:
            for i, row in results:
                if isinstance(row, BaseException):  # the real error, in words (worker_failure)
                    message = worker_failure(row, "this recipe")
                    lost += 1
                    bar.write(f"evaluation {i}: {message}", file=sys.stderr)
                    row = {"evaluation": i, "f1_iou50": 0.0, "mean_ap": 0.0, "seconds": 0.0, "failed_images": len(data),
                           "message": message}
                rows.append(row)
                bar.set_postfix_str(f"best F1 {_best(rows)['f1_iou50']:.3f}", refresh=False)
                bar.update()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            results.close()
            _set_data([])
    if not rows:
        print("interrupted before any evaluation finished: nothing was written", file=sys.stderr)
        return 130
    best = _best(rows)
    try:
        write_bytes_atomic(out_dir / BEST, recipes[best["evaluation"]].to_json().encode("utf-8"))
        write_bytes_atomic(out_dir / TABLE, _table(rows, recipes, dimensions))
    except OSError as error:
        print(f"{out_dir}: could not write the results: {error.strerror or error}", file=sys.stderr)
        return 1
    first = next((r for r in rows if r["evaluation"] == 0), None)
    versus = f" (start recipe {first['f1_iou50']:.4f})" if first else ""
    stopped = (" (interrupted)" if interrupted else " (time limit)" if len(rows) < len(recipes) else "")
    print(f"{len(rows)} evaluation{'s' * (len(rows) != 1)}{stopped} on {len(data)} image{'s' * (len(data) != 1)} "
          f"in {time.perf_counter() - started:.1f} s; best: evaluation {best['evaluation']}, mean F1@0.5 "
          f"{best['f1_iou50']:.4f}{versus}, mean AP 0.5-0.95 {best['mean_ap']:.4f}; {BEST} and {TABLE} in {out_dir}")
    if failed:
        print(f"{failed} image{'s' * (failed != 1)} could not be used (see above)", file=sys.stderr)
    if lost:
        print(f"{lost} evaluation{'s' * (lost != 1)} failed in {'their workers' if lost != 1 else 'its worker'} "
              f"and scored 0 (see above and {TABLE})", file=sys.stderr)
    return 130 if interrupted else 1 if failed or lost else 0
