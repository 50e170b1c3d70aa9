"""Every channel of one plane of a multi-channel TIFF, for showing the channels together (a colour composite)."""

from __future__ import annotations

import os
from typing import BinaryIO, Union

import numpy as np

from .._errors import ImageLoadError, ParameterError
from ._read import ImageInfo, load_image

__all__ = ["load_channels"]

Source = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]


def load_channels(source: Source, *, plane: int | None = None, timepoint: int | None = None,
                  projection: str | None = "auto", series: int = 0, pages: str = "planes",
                  max_pixels: int = 64_000_000, max_channels: int = 16) -> tuple[tuple[np.ndarray, ...], ImageInfo]:
    """Each channel of one plane (or one projection) of a multi-channel microscopy file.

    Parameters
    ----------
    source : str, os.PathLike, bytes, bytearray, memoryview or binary file object
        The file, as :func:`segmentation.load_image` takes it (a path is read in place).
    plane : int, optional
        The z-plane (or page) from 0; default 0. Read when ``projection`` is ``"none"`` (or ``"auto"`` on a file
        without a z-stack).
    timepoint : int, optional
        The time point from 0; default 0.
    projection : {"auto", "none", "max", "mean", "sum"} or None, optional
        Combine the z-planes of each channel, as :func:`segmentation.load_image` does; default ``"auto"`` (also
        None): the maximum of a z-stack, as the recipes, the app and the command line read it. ``"none"``: one
        ``plane``.
    series : int, optional
        The image series of a multi-series file.
    pages : {"planes", "channels", "timepoints"}, optional
        What the pages of a plain multi-page TIFF are, as :func:`segmentation.load_image` takes it.
    max_pixels : int, optional
        Largest accepted width × height of one plane, checked from the header before decoding.
    max_channels : int, optional
        Most channels read, >= 1; a file with more is refused (a composite of dozens of channels says
        nothing, and each channel is one more plane decoded).

    Returns
    -------
    channels : tuple of ndarray
        One (H, W) array per channel of the file's ``C`` axis, in the file's order, each exactly what
        ``load_image(source, channel=i, plane=..., timepoint=..., projection=...)`` returns (uint8, uint16 or
        float32); a file without channels gives one array. Only the pages of that plane are decoded,
        one channel at a time.
    info : ImageInfo
        The file's :class:`~segmentation.ImageInfo` (channel names, sizes, pixel size), as read for channel 0.

    Raises
    ------
    ImageLoadError
        The file cannot be read, a plane or time point beyond the file's is asked for, a channel's pixels
        are RGB (channels of colour pixels are not composited), or the file has more than ``max_channels``.
    ParameterError
        ``max_channels`` is not a whole number >= 1, or another argument is refused by ``load_image``.

    References
    ----------
    tifffile (C. Gohlke) reads the TIFF structure; OME-TIFF: Goldberg et al., Genome Biology 6:R47 (2005),
    doi:10.1186/gb-2005-6-5-r47.

    Examples
    --------
    >>> import io, tifffile
    >>> stack = np.arange(2 * 3 * 4 * 5, dtype=np.uint16).reshape(2, 3, 4, 5)  # C, Z, Y, X
    >>> buffer = io.BytesIO(); tifffile.imwrite(buffer, stack, metadata={"axes": "CZYX"})
    >>> channels, info = load_channels(buffer.getvalue(), plane=2)
    >>> len(channels), info.n_channels, bool((channels[1] == stack[1, 2]).all())
    (2, 2, True)
    """
    if isinstance(max_channels, bool) or not isinstance(max_channels, int) or max_channels < 1:
        raise ParameterError(f"max_channels must be a whole number of at least 1; got {max_channels!r}")
    if hasattr(source, "read") and not isinstance(source, (str, os.PathLike)):
        if getattr(source, "seekable", lambda: False)():
            source.seek(0)
        source = bytes(source.read())  # read once: each channel reads the same bytes
    ask = {"plane": plane, "timepoint": timepoint, "projection": projection, "series": series, "pages": pages,
           "max_pixels": max_pixels}
    first, info = load_image(source, with_info=True, channel=0, **ask)
    if info.n_channels > max_channels:
        raise ImageLoadError(f"this file has {info.n_channels} channels; at most {max_channels} are read together")
    channels = [first] + [load_image(source, channel=c, **ask) for c in range(1, info.n_channels)]
    if any(channel.ndim != 2 for channel in channels):
        raise ImageLoadError("this file's channels hold RGB pixels; only single-valued channels are read together")
    return tuple(channels), info
