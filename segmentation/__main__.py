"""``python -m segmentation``: the batch command line (see :mod:`segmentation.cli`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
