"""Errors a person can cause, with messages a person can read.

Both are ``ValueError`` subclasses so callers that only know the standard library can still catch them.
"""


class ImageLoadError(ValueError):
    """The input could not be read as an image (not an image, truncated, too large, unsupported)."""


class SegmentationError(ValueError):
    """A method could not produce a result on this image (for example no histogram valley for Minimum)."""
