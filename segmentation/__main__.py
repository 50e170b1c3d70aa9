"""``python -m segmentation``: the batch command line (see :mod:`segmentation.batch`)."""

from .batch import main

if __name__ == "__main__":
    raise SystemExit(main())
