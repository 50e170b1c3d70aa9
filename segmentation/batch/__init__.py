"""The batch command line, ``python -m segmentation``: options generated from the recipe specs.

:func:`main` takes the argument list (``main(["threshold", "images/", "--method", "li"])``) and returns the
exit code: 0 when every image succeeded, 1 when some failed, 2 on a usage error.
"""

from ._cli import COLUMNS, main
from ._options import DEFAULT_OUT, IMAGE_SUFFIXES, build_parser, option_name

__all__ = ["main", "build_parser", "option_name", "COLUMNS", "DEFAULT_OUT", "IMAGE_SUFFIXES"]
