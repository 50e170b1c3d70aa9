"""Errors a person can cause, with messages a person can read.

Both are ``ValueError`` subclasses so callers that only know the standard library can still catch them.
"""


class ImageLoadError(ValueError):
    """The input could not be read as an image (not an image, truncated, too large, unsupported)."""


class SegmentationError(ValueError):
    """A method could not produce a result on this image (for example no histogram valley for Minimum)."""


class ParameterError(ValueError):
    """A parameter or an input array breaks the function's contract; the message names the parameter.

    For example a polarity of ``"brigth"``, a connectivity of 6 for a 2-D image, or an ``int32`` array given
    to a method that takes ``uint8``, ``uint16`` or ``float32`` single-channel images.
    """
