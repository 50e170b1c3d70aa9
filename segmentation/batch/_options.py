"""Command-line options generated from the recipe parameter specs (used by :mod:`segmentation.batch`).

Every recipe parameter becomes one option, named after the parameter with dashes for underscores
(``min_size`` -> ``--min-size``); booleans become ``--fill-holes`` / ``--no-fill-holes``. Help text,
choices, defaults and "only used with" notes come from the :class:`~segmentation.ParamSpec`, and
values are parsed with ``spec.from_text``, so an error names the parameter exactly as the app does.
Nothing here is hand-listed: a parameter added to a recipe appears on the command line by itself.
"""

from __future__ import annotations

import argparse
import glob
import importlib.metadata
import math
import os
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import cv2
import skimage

from ..export import EXPORT_FORMATS
from ..recipes import (
    RECIPE_FORMAT,
    RECIPE_VERSION,
    UNITS,
    WATERSHED_FOREGROUND,
    ParamSpec,
    ThresholdRecipe,
    WatershedRecipe,
    alias_table,
    length_unit,
)

__all__ = ["build_parser", "option_name", "add_recipe_options", "recipe_from_args", "IMAGE_SUFFIXES",
           "DEFAULT_OUT", "UsageError", "collect_inputs", "is_image", "DSB_THRESHOLDS", "default_memory_budget",
           "memory_size", "AUTO_TILE", "MIN_AUTO_TILE", "auto_tile", "is_zarr_store", "scheduler_problem",
           "SCHEDULER_SCHEMES"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")
DEFAULT_OUT = "segmentation-out"

#: argparse destinations of recipe parameters start with this, so they never clash with other options.
PREFIX = "recipe:"

#: The IoU thresholds of the 2018 Data Science Bowl, 0.5, 0.55, ..., 0.95, as decimal literals.
DSB_THRESHOLDS = (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)

#: Decoded bytes per byte of budget: whole-image watershed plus measurements peaked at 26.4 times the decoded
#: size of a 4096 x 4096 8-bit nuclei image and 10.6 times for 16-bit (resident set growth, ru_maxrss, on this
#: machine), so the default budget per process is the machine's memory divided by 32 and by --jobs.
MEMORY_FACTOR = 32

#: The tile side used when an image over the memory budget is tiled without --tile (px): large tiles keep
#: the number of chunks, which dominates dask-image's labelling cost, small (see _tiles.segment_tiled).
AUTO_TILE = 2048
#: The file name suffixes read as TIFF (BigTIFF's .btf and .tf8 too): the formats read a region at a time, so an
#: image above the whole-image limit is tiled rather than refused, and tiles are read from the file.
TIFF_SUFFIXES = (".tif", ".tiff", ".btf", ".tf8")
#: The smallest tile side an automatic plan uses (px), however small the budget: dask-image's labelling cost grows
#: with the number of chunks, and a tile's halo (smoothing, windows) would outweigh a smaller core.
MIN_AUTO_TILE = 256

_METAVARS = {"int": "N", "int_choice": "N", "float": "X", "optional_float": "X|auto",
             "int_tuple": "N,N,...", "points": "ROW,COL;..."}


class UsageError(Exception):
    """A mistake in the command line or its files: reported with the usage line, exit status 2."""


# -- inputs ------------------------------------------------------------------------------------------
def is_image(path: Path) -> bool:
    """Whether a file name has one of the image extensions (hidden files never count)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def is_zarr_store(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a Zarr folder (an OME-Zarr image): one image, never a folder of images.

    A folder named ``*.zarr``, or holding Zarr's metadata file (``.zgroup`` or ``.zarray`` for Zarr v2,
    ``zarr.json`` for v3).
    """
    path = Path(path)
    if path.name.startswith(".") or not path.is_dir():
        return False
    return path.suffix.lower() == ".zarr" or any((path / name).is_file() for name in (".zgroup", ".zarray",
                                                                                       "zarr.json"))


def _folder_images(folder: Path, recursive: bool, out_dir: Path) -> list[Path]:
    if not recursive:
        return [p for p in folder.iterdir() if (p.is_file() and is_image(p)) or is_zarr_store(p)]
    found = []
    for root, dirs, files in os.walk(folder):
        # never feed earlier results back in: skip hidden folders and the output folder
        dirs[:] = [d for d in dirs if not d.startswith(".") and Path(root, d).resolve() != out_dir]
        stores = [d for d in dirs if is_zarr_store(Path(root, d))]  # an image each, not walked into
        dirs[:] = [d for d in dirs if d not in stores]
        found += [Path(root, f) for f in files if is_image(Path(f))] + [Path(root, d) for d in stores]
    return found


def collect_inputs(arguments: list[str], recursive: bool, out_dir: Path) -> tuple[list[Path], list[str]]:
    """The images the arguments name (sorted, without duplicates) and a warning per empty argument."""
    paths, warnings = [], []
    for argument in arguments:
        text = os.path.expanduser(argument)
        path = Path(text)
        try:
            if glob.has_magic(text) and not path.exists():
                matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
                found = [m for m in matches if (m.is_file() and is_image(m)) or is_zarr_store(m)]
                for folder in (m for m in matches if m.is_dir() and not is_zarr_store(m)):
                    found += _folder_images(folder, recursive, out_dir)
            elif is_zarr_store(path):
                found = [path]  # an OME-Zarr image: one image, read a region at a time in tiles
            elif path.is_dir():
                found = _folder_images(path, recursive, out_dir)
            else:
                found = [path]  # a file, or a missing one: it is reported as that file's error
        except OSError as error:
            raise UsageError(f"cannot list {error.filename or argument}: {error.strerror or error}") from None
        if not found:
            warnings.append(f"{argument}: no image files " + ("match" if glob.has_magic(text) else "in this folder"))
        paths += found
    unique = {}
    for path in paths:
        unique.setdefault(os.path.realpath(path), path)
    return sorted(unique.values(), key=lambda p: (str(p).casefold(), str(p))), warnings


# -- recipe options ----------------------------------------------------------------------------------
def option_name(name: str) -> str:
    """``min_size`` -> ``--min-size``."""
    return "--" + name.replace("_", "-")


def _parser_for(spec: ParamSpec):
    def parse(text: str) -> Any:
        try:
            return spec.from_text(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    parse.__name__ = spec.name
    return parse


def _default_text(spec: ParamSpec, default: Any) -> str:
    if spec.kind == "bool":
        return option_name(spec.name) if default else "--no-" + option_name(spec.name)[2:]
    text = spec.to_text(default)
    return text if text else "none"


def _help(spec: ParamSpec, default: Any) -> str:
    parts = [spec.help.rstrip()]
    if spec.kind in ("choice", "int_choice"):
        parts.append("Choices: " + ", ".join(map(str, spec.choices)) + ".")
    for key, allowed in spec.when.items():
        parts.append(f"Used only with {option_name(key)} {' or '.join(sorted(map(str, allowed)))}.")
    parts.append(f"(default: {_default_text(spec, default)})")
    return " ".join(parts).replace("%", "%%")  # argparse %-formats help strings


def _add(group: argparse._ArgumentGroup, spec: ParamSpec, default: Any) -> None:
    # A parameter's earlier names stay accepted as (unlisted) options of their own, so old command lines work
    # and giving both names is refused like in every other input form (canonical_names, in recipe_from_args).
    for name in (spec.name, *spec.aliases):
        common = dict(dest=PREFIX + name, default=argparse.SUPPRESS,
                      help=_help(spec, default) if name == spec.name else argparse.SUPPRESS)
        if spec.kind == "bool":
            group.add_argument(option_name(name), action=argparse.BooleanOptionalAction, **common)
        else:
            metavar = spec.name.upper() if spec.kind == "choice" else _METAVARS.get(spec.kind, "VALUE")
            group.add_argument(option_name(name), type=_parser_for(spec), metavar=metavar, **common)


def add_recipe_options(parser: argparse.ArgumentParser, kind: str) -> None:
    """Add one option per parameter of a ``"threshold"`` or ``"watershed"`` recipe, grouped as in the app."""
    # An ambiguous earlier name would make argparse refuse the whole parser: say which one instead.
    alias_table(ThresholdRecipe.specs() + (WatershedRecipe.specs() if kind == "watershed" else ()))
    if kind == "threshold":
        sections = [("", ThresholdRecipe.specs(), ThresholdRecipe())]
    else:
        sections = [("foreground: ", ThresholdRecipe.specs(), WATERSHED_FOREGROUND),
                    ("", WatershedRecipe.specs(), None)]
    groups: dict[str, argparse._ArgumentGroup] = {}
    for prefix, specs, defaults in sections:
        for spec in specs:
            title = f"{prefix}{spec.group.lower()} options"
            if title not in groups:
                description = ("how the foreground is thresholded before it is split\n(the defaults "
                               "differ from the threshold command's)" if prefix and not groups else None)
                groups[title] = parser.add_argument_group(title, description)
            _add(groups[title], spec, spec.default if defaults is None else getattr(defaults, spec.name))


def recipe_from_args(kind: str, args: argparse.Namespace) -> ThresholdRecipe | WatershedRecipe:
    """The recipe the parsed options describe; raises ``ValueError`` naming a parameter if inconsistent."""
    values = {key[len(PREFIX):]: value for key, value in vars(args).items() if key.startswith(PREFIX)}
    if kind == "threshold":
        return ThresholdRecipe.from_params(**values)
    return WatershedRecipe.from_params(**values)


# -- the whole parser -------------------------------------------------------------------------------
_EPILOG = f"""\
inputs:
  image files, folders (their {' '.join(IMAGE_SUFFIXES)} files;
  subfolders too with --recursive) and glob patterns such as "data/*.tif" or "plates/**/*.png"
  (quote them: they are expanded here, the same way on every shell). Duplicates are removed and
  the images are processed in sorted order.

outputs (in --out, default ./{DEFAULT_OUT}):
  <stem>_mask.png            foreground (watershed: all objects' pixels), 0/255 8-bit PNG
  <stem>_labels.png|.tif     watershed objects, 16-bit PNG or 32-bit TIFF (0 = background)
  <stem>_overlay.png         object outlines drawn over the image
  <stem>_measurements.csv    one row per object (areas in unit² with a pixel size: --pixel-size, or the
                             file's OME / ImageJ / TIFF resolution metadata), after a '#' line naming
                             the recipe's version, kind and SHA-256 (pandas: read_csv(path, comment="#"))
  <stem>_rois.zip            with --export roi: Fiji ROI Manager set, one traced polygon per object
  <stem>.geojson             with --export geojson: QuPath objects (File > Import objects from file)
  <stem>.ome.zarr/           with --export ome-zarr: OME-NGFF image + labels/objects (napari-ome-zarr),
                             multiscale pyramids
  summary.csv                one row per image: status, message, size, objects, thresholds, seconds
  recipe.json                the recipe used: `apply --recipe recipe.json` repeats the batch
  A tiled image (--tile, --memory-budget, over 64 MP, or a .zarr input, which is one image) gets
  <stem>.ome.zarr/, <stem>_measurements.csv, the --export files and <stem>_tiles.zarr/ (mask, labels).
  <stem> drops an OME file's .ome (cells.ome.tif: cells_mask.png). Inputs sharing a stem (a/x.png,
  b/x.png; x.ome.tif, x.tif) get distinct names (a_x, b_x; x_ome_tif, x_tif). Existing results are
  never replaced unless --overwrite is given (--skip-existing resumes a batch), and no output may
  replace an input file.

exit status: 0 every image segmented, 1 some images failed or no input found, 2 usage error."""

_EXAMPLES = {
    None: """examples:
  python -m segmentation threshold images/ --method sauvola --window 31 --out results
  python -m segmentation watershed "plates/**/*.tif" --h 2 --pixel-size 0.65 --unit µm
  python -m segmentation apply --recipe recipe.json scan1.png scan2.png --jobs 4
  python -m segmentation score --truth truth/ segmentation-out/ --out scores
  python -m segmentation tune --truth truth/ images/ --recipe start.json --budget 40 --out tuned

Run 'python -m segmentation COMMAND --help' for all the options of a command.""",
    "threshold": """examples:
  python -m segmentation threshold images/ --out masks
  python -m segmentation threshold "scans/*.png" --method multiotsu --classes 3 --foreground-classes 1,2
  python -m segmentation threshold cells.tif --smoothing gaussian --sigma 2 --fill-holes --min-size 50""",
    "watershed": """examples:
  python -m segmentation watershed nuclei/ --h 2 --out nuclei-labels
  python -m segmentation watershed coins.png --seeds distance_peaks --min-distance 10 --labels-format tiff
  python -m segmentation watershed plate.png --seeds points --points "12,40;80,95\"""",
    "apply": """examples:
  python -m segmentation apply --recipe recipe.json images/ --out results
  python -m segmentation apply --recipe segmentation-out/recipe.json more-images/ --out more-results""",
    "score": """examples:
  python -m segmentation watershed images/ --out pred && python -m segmentation score --truth truth/ pred/
  python -m segmentation score --truth truth/ recipe.json images/ --out scores --thresholds 0.5,0.75
  python -m segmentation score --truth truth/ pred/ images/a.png images/b.png""",
    "tune": """examples:
  python -m segmentation tune --truth truth/ images/ --recipe recipe.json --budget 40 --out tuned
  python -m segmentation tune --truth truth/ "train/*.png" --recipe recipe.json --budget 200 --seconds 600
  python -m segmentation score --truth truth/ tuned/best_recipe.json test-images/   # then check it on others""",
}

def _matching(left_out: str) -> str:
    return f"""\
matching files by name (the stem rule):
  the truth for image x.* is, in this order of preference, TRUTH_DIR/x_labels.*, TRUTH_DIR/x.* or
  TRUTH_DIR/x_mask.* (any image extension: {' '.join(IMAGE_SUFFIXES)};
  letter case ignored; two files of the same rank are an error for that image). Predictions and
  truth files named x_labels.* or x_mask.* belong to image x. Images without a truth file are listed
  on stderr{left_out}; they do not make the run fail.

truth and predictions:
  a label image (16-bit PNG or TIFF; 0 = background, each other value one object) or a mask (a single
  non-zero value, any: its 8-connected components are the objects), detected per file."""


_SCORE_EPILOG = f"""\
{_matching(' and in scores.csv (status "no truth"), out of the means')} scores.csv says
  which (truth_kind, prediction_kind: labels, mask or empty).

SOURCE:
  a folder of predictions: for image x the first of PRED_DIR/x_labels.*, x.*, x_mask.* (the files
  the watershed and threshold commands write; *_overlay.* files are ignored). Without IMAGES every
  prediction in the folder is scored; with IMAGES only theirs (the images themselves are not read).
  Or a recipe file (either kind): it is run on IMAGES, at full resolution, and its results scored.

outputs (in --out, default ./{DEFAULT_OUT}):
  scores.csv          one row per image and IoU threshold: file, truth, prediction, truth_kind,
                      prediction_kind, status (ok, error, no truth), message, threshold, tp, fp, fn,
                      precision, recall, f1, ap = tp / (tp + fp + fn), mean_matched_iou, n_true, n_pred,
                      merges, splits (per image), mean_ap (the image's ap averaged over --thresholds),
                      seconds. A failed image or one without truth has one row, without scores.
  scores_summary.csv  one row: images, scored, failed, no_truth, thresholds; the mean over the scored
                      images of f1_iou50, ap_iou50, precision_iou50, recall_iou50 (at IoU 0.5, always
                      computed), mean_ap (over --thresholds: with the default, the DSB 2018 score),
                      merges, splits; and the totals tp_iou50, fp_iou50, fn_iou50, n_true, n_pred.
  A pair of objects matches at threshold t when its IoU is at least t, one to one, by an optimal
  assignment (segmentation.score_objects). Existing score files are replaced only with --overwrite.

exit status: 0 every image with a truth file scored, 1 some failed or none could be scored, 2 usage
error."""

_TUNE_EPILOG = f"""\
{_matching(" and left out")}

search:
  a random search, deterministic for a given --seed: evaluation 0 is the start recipe itself, so the
  result is never worse than it on these images; each other evaluation draws every tuned parameter
  at random, uniformly (log-uniformly for scales such as h, sigma, min_size, min_distance) within its
  parameter spec's range, narrowed to a sensible sub-range where the spec's range is huge and widened
  to include the start value. Tuned: the seed parameters of a watershed recipe (h, distance_sigma, or
  min_distance, peak_fraction, distance_sigma; connectivity) and its foreground's method (among
  the automatic global methods), smoothing sigma (or median size) and min_size; for a threshold recipe
  its method (within its family: global or local), smoothing sigma or median size, window or block
  size, k or offset, opening, closing, fill_holes and min_size. Everything else stays as in the start recipe. The best
  recipe has the highest mean object F1 at IoU 0.5 over the images (ties: the higher mean AP over IoU
  0.5-0.95, then the earlier evaluation). An image a recipe cannot segment scores 0 for it.

outputs (in --out, default ./{DEFAULT_OUT}):
  best_recipe.json  the best recipe (`apply --recipe` or `score --truth ... best_recipe.json` use it)
  search.csv        one row per evaluation: evaluation, f1_iou50, mean_ap, seconds, failed_images,
                    message, then the tuned parameters (empty where a parameter does not apply)
  Existing files are replaced only with --overwrite.

exit status: 0 done, 1 some images or truth files could not be read (the rest were used) or no image
has a truth file, 2 usage error."""


def _own_version() -> str:
    """The package's version: ``__version__``, the installed metadata, or the checkout's pyproject.toml."""
    own = getattr(sys.modules[__package__], "__version__", None)
    try:
        return own or importlib.metadata.version("segmentation-studio")
    except importlib.metadata.PackageNotFoundError:
        pass
    try:
        with open(os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "pyproject.toml"), "rb") as handle:
            return str(tomllib.load(handle)["project"]["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unreleased"


def _version() -> str:
    own = _own_version()
    return (f"Segmentation Studio {own} (recipe format {RECIPE_FORMAT} v{RECIPE_VERSION}); Python "
            f"{sys.version.split()[0]}, OpenCV {cv2.__version__}, scikit-image {skimage.__version__}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1; got '{text}'")
    return value


#: The address schemes a Dask scheduler can be reached by: distributed's comm backends (its
#: ``distributed.comm.registry.backends``; tests/test_batch_review_fixes.py checks they match). No scheme
#: (``HOST:PORT``) is Dask's default, tcp.
SCHEDULER_SCHEMES = ("tcp", "tls", "inproc", "ucx", "ws", "wss")


def scheduler_problem(address: str) -> str | None:
    """What is wrong with a ``--scheduler`` address, in plain words; None when Dask can take its scheme.

    Only the scheme is checked, before anything connects (distributed's Client, given a scheme it does not
    know, fails only after connecting and then hangs while it closes). ``http://`` and ``https://`` are the
    common slip: the dashboard's address, which Dask prints beside the scheduler's.

    >>> scheduler_problem("tcp://10.0.0.5:8786") is None, scheduler_problem("10.0.0.5:8786") is None
    (True, True)
    """
    scheme, sep, _ = address.strip().partition("://")
    scheme = scheme.lower()
    if not sep or scheme in SCHEDULER_SCHEMES:
        return None
    if scheme in ("http", "https"):
        return (f"must be the Dask scheduler's address, not a web address such as its dashboard's; got '{address}'. "
                "Use tcp://HOST:PORT with the scheduler's port (8786 unless it was started with another --port), "
                "not the dashboard's (8787)")
    return (f"must be the Dask scheduler's address, tcp://HOST:PORT or HOST:PORT (or with the scheme "
            f"{', '.join(s + '://' for s in SCHEDULER_SCHEMES[1:])}); got '{address}', whose scheme {scheme}:// "
            "Dask does not know")


def _scheduler_address(text: str) -> str:
    problem = scheduler_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text.strip()


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number; got '{text}'")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a number of at least 0 (0 = pixels); got '{text}'")
    return value


def _length_unit(text: str) -> str:
    try:
        return length_unit(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _exports(text: str) -> tuple[str, ...]:
    """``roi,geojson,ome-zarr`` (any subset, any order) -> the formats in EXPORT_FORMATS order."""
    asked = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [part for part in asked if part not in EXPORT_FORMATS]
    if unknown or not asked:
        raise argparse.ArgumentTypeError(f"must be a comma-separated list of {', '.join(EXPORT_FORMATS)}; "
                                         f"got '{text}'")
    return tuple(f for f in EXPORT_FORMATS if f in asked)


def _thresholds(text: str) -> tuple[float, ...]:
    """IoU thresholds: ``START:STOP:STEP`` (both ends included), ``A,B,...`` or one number, each in (0, 1]."""
    try:
        if ":" in text:
            start, stop, step = (float(part) for part in text.split(":"))
            if not (math.isfinite(start) and math.isfinite(stop) and math.isfinite(step) and step > 0
                    and stop >= start):
                raise ValueError
            count = math.floor((stop - start) / step + 1e-9) + 1
            if count > 1000:
                raise ValueError
            values = [round(start + i * step, 10) for i in range(count)]  # 0.6, not 0.6000000000000001
        else:
            values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or not all(math.isfinite(v) and 0 < v <= 1 for v in values):
        raise argparse.ArgumentTypeError("must be IoU thresholds in (0, 1] written START:STOP:STEP (such as "
                                         f"0.5:0.95:0.05) or A,B,... (such as 0.5,0.75); got '{text}'")
    return tuple(sorted(set(values)))


_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
               "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40,
               "tib": 1 << 40}


def memory_size(text: str) -> int:
    """``4G``, ``512M``, ``1.5GB``, ``300000`` -> bytes (K, M, G, T are powers of 1024; no unit: bytes)."""
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*", text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _SIZE_UNITS or not float(match.group(1)) * _SIZE_UNITS[unit] >= 1:
        raise argparse.ArgumentTypeError(f"must be a size such as 4G, 512M or 300000 (bytes); got '{text}'")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def default_memory_budget(jobs: int) -> int:
    """The default ``--memory-budget`` in bytes: the machine's physical memory / (32 x jobs), at least 1 MiB.

    Falls back to 8 GiB of memory where the operating system does not say (``os.sysconf`` is POSIX).
    """
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        total = 8 << 30
    return max(1 << 20, int(total) // (MEMORY_FACTOR * max(1, int(jobs))))


def auto_tile(budget: int, bytes_per_pixel: int) -> int:
    """The tile side (px) of an image tiled without ``--tile``: one whose decoded pixels fit in the memory budget.

    :data:`AUTO_TILE`, halved while a tile of that side (``side² × bytes_per_pixel``) is over ``budget``, down to
    :data:`MIN_AUTO_TILE` at least. Powers of two, so a tile is always a multiple of a background subtraction's
    shrink grid (1, 2, 4 or 8). The budget is counted per tile as a whole image's decoded size is
    (:data:`MEMORY_FACTOR`: the work on a tile takes about as many times its decoded size).

    >>> auto_tile(1 << 30, 2), auto_tile(2 << 20, 2), auto_tile(10_000, 1)
    (2048, 1024, 256)
    """
    tile = AUTO_TILE
    while tile > MIN_AUTO_TILE and tile * tile * max(1, int(bytes_per_pixel)) > budget:
        tile //= 2
    return tile


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 0; got '{text}'")
    return value


def _add_common(sub: argparse.ArgumentParser, what: str) -> argparse._ArgumentGroup:
    """The options every command shares: --out, --recursive, --jobs, --overwrite, --no-progress."""
    batch = sub.add_argument_group("input and output options")
    batch.add_argument("-o", "--out", default=DEFAULT_OUT, metavar="DIR",
                       help=f"folder for the results, created if needed (default: ./{DEFAULT_OUT})")
    batch.add_argument("-r", "--recursive", action="store_true", help="also take images in subfolders of folders")
    batch.add_argument("-j", "--jobs", type=_positive_int, default=os.cpu_count() or 1, metavar="N",
                       help=f"{what} processed in parallel (default: all cores, %(default)s here)")
    return batch


def _add_scoring_commands(commands) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    score = commands.add_parser(
        "score", help="score predictions or a recipe against the truth, object by object",
        description="Score predicted objects (a folder of label images or masks, or a recipe run on the images) "
                    "against true objects, image by image: one-to-one matches by IoU, precision, recall, F1, "
                    "AP per IoU threshold, merges and splits.",
        usage="%(prog)s --truth TRUTH_DIR [options] SOURCE [IMAGE ...]", formatter_class=fmt,
        allow_abbrev=False, epilog=_EXAMPLES["score"] + "\n\n" + _SCORE_EPILOG)
    score.set_defaults(parser=score)
    score.add_argument("source", metavar="SOURCE", help="a folder of predicted label images or masks, or a recipe "
                                                        "JSON file to run on the images")
    score.add_argument("inputs", nargs="*", metavar="IMAGE",
                       help="image files, folders or glob patterns (needed with a recipe; with a prediction "
                            "folder they choose which predictions are scored)")
    score.add_argument("--truth", required=True, metavar="TRUTH_DIR",
                       help="folder of the true label images or masks (matched by name: see below)")
    score.add_argument("--thresholds", type=_thresholds, default=DSB_THRESHOLDS, metavar="T",
                       help="IoU thresholds, START:STOP:STEP or A,B,... (default: 0.5:0.95:0.05, the DSB 2018 "
                            "set; IoU 0.5 is always computed for the summary)")
    batch = _add_common(score, "images")
    batch.add_argument("--overwrite", action="store_true",
                       help="replace score files already in --out (default: refuse to start)")
    batch.add_argument("--no-progress", action="store_true",
                       help="no progress bar (none when stderr is not a terminal)")

    tune = commands.add_parser(
        "tune", help="search a recipe's parameters for the best object F1 against the truth",
        description="Tune a recipe to the truth: a random search over its parameters for the best mean object "
                    "F1 at IoU 0.5 over the images, starting from (and never worse than) the given recipe.",
        usage="%(prog)s --truth TRUTH_DIR --recipe FILE --budget N [options] IMAGE [IMAGE ...]",
        formatter_class=fmt, allow_abbrev=False, epilog=_EXAMPLES["tune"] + "\n\n" + _TUNE_EPILOG)
    tune.set_defaults(parser=tune)
    tune.add_argument("inputs", nargs="+", metavar="IMAGE", help="image files, folders or glob patterns")
    tune.add_argument("--truth", required=True, metavar="TRUTH_DIR",
                      help="folder of the true label images or masks (matched by name: see below)")
    tune.add_argument("--recipe", required=True, metavar="FILE",
                      help="the start recipe (JSON, either kind): evaluation 0, and the values kept for every "
                           "parameter that is not tuned")
    search = tune.add_argument_group("search options")
    search.add_argument("--budget", type=_positive_int, required=True, metavar="N",
                        help="number of evaluations (recipes tried, the start recipe included)")
    search.add_argument("--seconds", type=_positive_float, metavar="S",
                        help="stop starting evaluations after S seconds (running ones finish; the start recipe "
                             "is always evaluated)")
    search.add_argument("--seed", type=_non_negative_int, default=0, metavar="K",
                        help="random seed: the same seed, recipe and budget try the same recipes (default: 0)")
    batch = _add_common(tune, "recipes")
    batch.add_argument("--overwrite", action="store_true",
                       help="replace best_recipe.json and search.csv already in --out (default: refuse to start)")
    batch.add_argument("--no-progress", action="store_true",
                       help="no progress bar (none when stderr is not a terminal)")


def _add_cluster_options(sub: argparse.ArgumentParser) -> None:
    """--scheduler and --pooled-threshold: a plate on a Dask cluster, one threshold for the whole plate."""
    plate = sub.add_argument_group("plate and cluster options")
    plate.add_argument("--scheduler", type=_scheduler_address, metavar="ADDRESS",
                       help="run the batch on the Dask cluster whose scheduler is at ADDRESS (tcp://HOST:8786, the "
                            "scheduler's port, not the dashboard's http:// address; start one with 'dask scheduler' "
                            "and 'dask worker ADDRESS'). Its workers must see the "
                            "images and --out under the same paths. Images already done with the same recipe and "
                            "library versions are skipped unless --overwrite (default: this machine's processes)")
    plate.add_argument("--wait-workers", type=_positive_float, default=60.0, metavar="SECONDS",
                       help="with --scheduler: how long to wait for a first worker to connect before giving up "
                            "(workers queued by Slurm or Kubernetes may take longer than the default 60 s)")
    plate.add_argument("--pooled-threshold", action="store_true",
                       help="one threshold for all the images, from their pooled histogram (two passes; methods "
                            "otsu, yen, isodata, minimum, mean on 8- or 16-bit channels); recipe.json then holds "
                            "it as a manual threshold (default: each image its own threshold)")
    plate.add_argument("--tile", type=_positive_int, metavar="SIZE",
                       help="segment each image in SIZE x SIZE tiles with overlapping halos, reading TIFF/BigTIFF "
                            "and OME-Zarr region by region, for images bigger than memory; the result is exactly "
                            "the whole image's, bit for bit. Writes <stem>.ome.zarr (image and labels, with "
                            "pyramids), "
                            "<stem>_measurements.csv, the --export files and <stem>_tiles.zarr (arrays mask and "
                            "labels) instead of the PNG files. Global methods otsu, mean, yen, isodata and manual "
                            "or a local method; watershed seeds h_maxima on the distance landscape (default: whole "
                            "images, tiles only above --memory-budget or 64 megapixels, and for Zarr inputs)")
    plate.add_argument("--memory-budget", type=memory_size, metavar="SIZE",
                       help="an image whose decoded pixels take more than SIZE (such as 4G or 512M; K, M, G are "
                            "powers of 1024) is segmented in tiles of 2048 px, or smaller ones (down to 256 px) "
                            "whose decoded pixels fit in SIZE, with the same limits on the recipe as --tile; a "
                            "watershed's flooding region per tile must fit in SIZE too (or in four tiles); whole-"
                            "image work peaks at about 26 times the decoded size (default: this machine's memory / "
                            "(32 x --jobs))")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="python -m segmentation", formatter_class=fmt, allow_abbrev=False,
        description="Segment a batch of images by thresholding or watershed, with the recipes of the "
                    "Segmentation Studio app; score the results against ground truth, or tune a recipe to it.",
        epilog=_EXAMPLES[None] + "\n\n" + _EPILOG)
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True, title="commands")
    helps = {"threshold": "threshold every image (one foreground mask each)",
             "watershed": "threshold, then split touching objects with a marker watershed (labels)",
             "apply": "run a recipe file saved from the app (either kind)"}
    for name, summary in helps.items():
        usage = "%(prog)s " + ("--recipe FILE " if name == "apply" else "") + "[options] INPUT [INPUT ...]"
        sub = commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".",
                                  usage=usage, formatter_class=fmt, allow_abbrev=False,
                                  epilog=_EXAMPLES[name] + "\n\n" + _EPILOG)
        sub.set_defaults(parser=sub)
        sub.add_argument("inputs", nargs="+", metavar="INPUT",
                         help="image files, folders or glob patterns (a .zarr folder is one OME-Zarr image)")
        if name == "apply":
            sub.add_argument("--recipe", required=True, metavar="FILE",
                             help="recipe JSON saved from the app (or recipe.json from an earlier batch)")
        batch = sub.add_argument_group("input and output options")
        batch.add_argument("-o", "--out", default=DEFAULT_OUT, metavar="DIR",
                           help=f"folder for the results, created if needed (default: ./{DEFAULT_OUT})")
        batch.add_argument("-r", "--recursive", action="store_true", help="also take images in subfolders of folders")
        batch.add_argument("-j", "--jobs", type=_positive_int, default=os.cpu_count() or 1, metavar="N",
                           help="images processed in parallel (default: all cores, %(default)s here)")
        existing = batch.add_mutually_exclusive_group()
        existing.add_argument("--overwrite", action="store_true",
                              help="replace results already in --out (default: refuse to start)")
        existing.add_argument("--skip-existing", action="store_true",
                              help="keep images whose results are all in --out and process the rest "
                                   "(the recipe must be the same as in its recipe.json)")
        batch.add_argument("--no-progress", action="store_true",
                           help="no progress bar (none when stderr is not a terminal)")
        _add_cluster_options(sub)
        batch.add_argument("--export", type=_exports, default=(), metavar="FORMATS",
                           help="also write the objects for the next tool, comma-separated, any of: roi (Fiji ROI "
                                "set <stem>_rois.zip), geojson (QuPath <stem>.geojson), ome-zarr (napari "
                                "<stem>.ome.zarr folder with labels)")
        if name == "apply":  # threshold and watershed have --pixel-size and --unit as recipe options
            measures = sub.add_argument_group("measurement options")
            measures.add_argument("--pixel-size", type=_non_negative_float, metavar="X",
                                  help="size of one pixel in --unit, instead of the recipe's (0 = pixels; default: "
                                       "the recipe's, whose 'auto' takes the file's)")
            measures.add_argument("--unit", type=_length_unit, metavar="UNIT",
                                  help="length unit of --pixel-size: " + ", ".join(UNITS) + " (um, micron and the "
                                       "full names are read as these; default: the recipe's)")
        if name != "threshold":
            batch.add_argument("--labels-format", choices=("png", "tiff"), default="png",
                               help="labels as 16-bit PNG (up to 65535 objects) or 32-bit TIFF (default: png)")
        if name != "apply":
            add_recipe_options(sub, name)
    _add_scoring_commands(commands)
    return parser
