"""The batch command line, ``python -m segmentation``: options generated from the recipe specs.

:func:`main` takes the argument list (``main(["threshold", "images/", "--method", "li"])``) and returns the
exit code: 0 when every image succeeded, 1 when some failed, 2 on a usage error.
"""

import importlib

from ._cli import COLUMNS, main, run_batch
from ._options import DEFAULT_OUT, IMAGE_SUFFIXES, build_parser, default_memory_budget, option_name
from ._score import objects_of, objects_warning
from ._tune import best_row, search, search_space

__all__ = ["main", "build_parser", "option_name", "COLUMNS", "DEFAULT_OUT", "IMAGE_SUFFIXES",
           # the tune search and the truth reader, for the app's Compare page
           "objects_of", "objects_warning", "search", "search_space", "best_row",
           # the command line's batch in this process, for the app's Batch page
           "run_batch", "default_memory_budget",
           # big images in tiles (dask, zarr): loaded on first use, see __getattr__
           "segment_tiled", "open_image", "otsu_of_counts", "TiledResult", "TiledError"]

#: Names served by a module that imports dask and zarr, loaded on first use only: importing them costs about
#: 0.8 s (python -X importtime: distributed, dask.array, zarr) that every other use of the library would pay.
_LAZY = {"segment_tiled": "._tiles", "open_image": "._tiles", "otsu_of_counts": "._tiles", "TiledResult": "._tiles",
         "TiledError": "._tiles"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
