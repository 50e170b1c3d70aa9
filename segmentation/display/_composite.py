"""Several channels of a microscopy image as one colour picture, one channel brought forward."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .._errors import ParameterError
from ._render import display_image

__all__ = ["channel_composite", "CHANNEL_COLORS"]

#: Colours of channels 1, 2, 3, ... in a composite: ImageJ's default composite LUTs, in its order (red, green,
#: blue, gray, cyan, magenta, yellow; ij/CompositeImage.java).
CHANNEL_COLORS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (0, 255, 255), (255, 0, 255),
                  (255, 255, 0))


def channel_composite(channels: Sequence[np.ndarray], highlight: int | None = None, *,
                      colors: Sequence[tuple[int, int, int]] | None = None, dim: float = 0.35) -> np.ndarray:
    """Channels of one plane as one RGB picture, each in its colour, the chosen one at full strength.

    Parameters
    ----------
    channels : sequence of (H, W) ndarray
        One plane per channel (uint8, uint16 or float; the same shape), as
        :func:`segmentation.load_channels` gives them. NaN pixels count as black.
    highlight : int, optional
        The index of the channel brought forward: it keeps its full brightness and the others are
        multiplied by ``dim``. None: every channel at full brightness.
    colors : sequence of (r, g, b), optional
        One colour (0..255 each) per channel; default :data:`CHANNEL_COLORS` in order (ImageJ's).
    dim : float
        Brightness of the channels that are not highlighted, 0 (hidden) .. 1 (as bright as the highlighted one).

    Returns
    -------
    (H, W, 3) ndarray of uint8
        Each channel contrast-stretched on its own (percentiles 0.5 and 99.5, as
        :func:`segmentation.display_image` with ``stretch="always"``), tinted with its colour, and the
        channels added (additive mixing, clipped at 255, as ImageJ shows a composite). A channel holding
        one value only adds nothing.

    Raises
    ------
    ParameterError
        No channels, channels that are not 2-D or differ in shape, more channels than colours, a colour
        that is not three values in 0..255, ``highlight`` outside the channels, or ``dim`` outside 0..1.

    References
    ----------
    ImageJ's composite display of multi-channel images (W. Rasband, ImageJ, NIH; ij/CompositeImage.java);
    Schneider, Rasband & Eliceiri, Nature Methods 9:671–675, 2012, doi:10.1038/nmeth.2089.

    Examples
    --------
    >>> nuclei = np.zeros((2, 2), np.uint16); nuclei[0, 0] = 1000
    >>> marker = np.zeros((2, 2), np.uint16); marker[1, 1] = 500
    >>> rgb = channel_composite([nuclei, marker], highlight=0, colors=[(0, 0, 255), (0, 255, 0)], dim=0.5)
    >>> rgb[0, 0].tolist(), rgb[1, 1].tolist(), rgb[0, 1].tolist()
    ([0, 0, 255], [0, 128, 0], [0, 0, 0])
    """
    planes = [np.asarray(c) for c in channels] if isinstance(channels, (list, tuple)) else None
    if not planes:
        raise ParameterError("channels must be a non-empty list of (H, W) arrays")
    shape = planes[0].shape
    if any(p.ndim != 2 or p.shape != shape or p.size == 0 for p in planes):
        raise ParameterError(f"channels must all be non-empty (H, W) arrays of one shape; got shapes "
                             f"{[p.shape for p in planes]}")
    colours = list(CHANNEL_COLORS if colors is None else colors)
    if len(colours) < len(planes):
        raise ParameterError(f"colors must give one colour per channel: {len(planes)} channels, {len(colours)} "
                             "colours")
    table = np.asarray(colours[:len(planes)], dtype=np.float64)
    if table.shape != (len(planes), 3) or not np.all((table >= 0) & (table <= 255)):
        raise ParameterError(f"colors must be (r, g, b) triples of numbers from 0 to 255; got {colours!r}")
    if highlight is not None and (isinstance(highlight, bool) or not isinstance(highlight, (int, np.integer))
                                  or not 0 <= highlight < len(planes)):
        raise ParameterError(f"highlight must be a channel index from 0 to {len(planes) - 1} or None; "
                             f"got {highlight!r}")
    if isinstance(dim, bool) or not isinstance(dim, (int, float)) or not 0 <= dim <= 1:
        raise ParameterError(f"dim must be a number from 0 to 1; got {dim!r}")
    total = np.zeros((*shape, 3), np.float32)
    for index, plane in enumerate(planes):
        if plane.dtype.kind == "f" and not np.isfinite(plane).all():
            plane = np.where(np.isfinite(plane), plane, np.nan).astype(np.float32)
        finite = plane[np.isfinite(plane)] if plane.dtype.kind == "f" else plane
        if finite.size == 0 or finite.min() == finite.max():
            continue  # a channel without contrast (empty, or one value) adds nothing, not a grey haze
        grey = display_image(plane, stretch="always")[0][..., 0].astype(np.float32) / 255
        if plane.dtype.kind == "f":
            grey[np.isnan(plane)] = 0
        weight = 1.0 if highlight is None or index == highlight else float(dim)
        total += grey[..., None] * (table[index] * weight).astype(np.float32)
    return np.clip(np.rint(total), 0, 255).astype(np.uint8)
