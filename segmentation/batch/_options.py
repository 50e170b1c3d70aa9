"""Command-line options generated from the recipe parameter specs (used by :mod:`segmentation.batch`).

Every recipe parameter becomes one option, named after the parameter with dashes for underscores
(``min_size`` -> ``--min-size``); booleans become ``--fill-holes`` / ``--no-fill-holes``. Help text,
choices, defaults and "only used with" notes come from the :class:`~segmentation.ParamSpec`, and
values are parsed with ``spec.from_text``, so an error names the parameter exactly as the app does.
Nothing here is hand-listed: a parameter added to a recipe appears on the command line by itself.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import os
import sys
import tomllib
from typing import Any

import cv2
import skimage

from ..recipes import RECIPE_FORMAT, WATERSHED_FOREGROUND, ParamSpec, ThresholdRecipe, WatershedRecipe, alias_table

__all__ = ["build_parser", "option_name", "add_recipe_options", "recipe_from_args", "IMAGE_SUFFIXES",
           "DEFAULT_OUT"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif")
DEFAULT_OUT = "segmentation-out"

#: argparse destinations of recipe parameters start with this, so they never clash with other options.
PREFIX = "recipe:"

_METAVARS = {"int": "N", "int_choice": "N", "float": "X", "optional_float": "X|auto",
             "int_tuple": "N,N,...", "points": "ROW,COL;..."}


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
  <stem>_measurements.csv    one row per object (areas in unit² with --pixel-size)
  summary.csv                one row per image: status, message, size, objects, thresholds, seconds
  recipe.json                the recipe used: `apply --recipe recipe.json` repeats the batch
  Inputs sharing a stem (a/x.png, b/x.png) get distinct names (a_x, b_x). Existing results are
  never replaced unless --overwrite is given (--skip-existing resumes a batch), and no output may
  replace an input file.

exit status: 0 every image segmented, 1 some images failed or no input found, 2 usage error."""

_EXAMPLES = {
    None: """examples:
  python -m segmentation threshold images/ --method sauvola --window 31 --out results
  python -m segmentation watershed "plates/**/*.tif" --h 2 --pixel-size 0.65 --unit µm
  python -m segmentation apply --recipe recipe.json scan1.png scan2.png --jobs 4

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
}


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
    return (f"Segmentation Studio {own} (recipe format {RECIPE_FORMAT} v1); Python "
            f"{sys.version.split()[0]}, OpenCV {cv2.__version__}, scikit-image {skimage.__version__}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1; got '{text}'")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number; got '{text}'")
    return value


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="python -m segmentation", formatter_class=fmt, allow_abbrev=False,
        description="Segment a batch of images by thresholding or watershed, with the recipes of the "
                    "Segmentation Studio app.",
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
        sub.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
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
        measures = sub.add_argument_group("measurement options")
        measures.add_argument("--pixel-size", type=_positive_float, metavar="X",
                              help="size of one pixel in --unit; measurements are in pixels without it")
        measures.add_argument("--unit", default="µm", help="length unit of --pixel-size (default: µm)")
        if name != "threshold":
            batch.add_argument("--labels-format", choices=("png", "tiff"), default="png",
                               help="labels as 16-bit PNG (up to 65535 objects) or 32-bit TIFF (default: png)")
        if name != "apply":
            add_recipe_options(sub, name)
    return parser
