"""The pixel size measurements use: the recipe's when it sets one, else the file's, else pixels."""

from __future__ import annotations

import math
from typing import NamedTuple

from .._errors import ParameterError
from ._read import ImageInfo
from ._stack import normal_unit

__all__ = ["PixelSize", "resolve_pixel_size"]


class PixelSize(NamedTuple):
    """The scale measurements are reported in (:func:`resolve_pixel_size`).

    Attributes
    ----------
    size : float or None
        Size of one pixel in ``unit``; None = measurements in pixels.
    unit : str
        The length unit (``"µm"``), ``"px"`` when ``size`` is None.
    source : str
        Where the size came from, in words, for showing next to the measurements.
    """

    size: float | None
    unit: str
    source: str


def resolve_pixel_size(pixel_size: float | None, unit: str, info: ImageInfo | None = None) -> PixelSize:
    """The pixel size to measure with, from a recipe's ``pixel_size``/``unit`` and what the file says.

    Parameters
    ----------
    pixel_size : float or None
        The recipe's pixel size: None ("auto") takes the file's, 0 measures in pixels, a number > 0 is
        used as it is (in ``unit``).
    unit : str
        The recipe's unit, used with a ``pixel_size`` > 0: a length unit (µm, nm, mm, cm, m, Å, in any common
        spelling such as ``"um"`` or ``"micron"``; returned as ``"µm"``, ...).
    info : ImageInfo, optional
        What :func:`segmentation.load_image` found in the file (``pixel_size``, ``unit``,
        ``pixel_size_source``); None: the file is not known, so "auto" means pixels.

    Returns
    -------
    PixelSize
        ``(size, unit, source)``: pass ``size`` and ``unit`` to :func:`segmentation.measure` as its
        ``pixel_size`` and ``unit``.

    Raises
    ------
    ParameterError
        If ``pixel_size`` is negative or not a finite number, or ``unit`` is not a length unit.

    Examples
    --------
    >>> resolve_pixel_size(None, "µm").unit
    'px'
    >>> resolve_pixel_size(0.65, "µm")
    PixelSize(size=0.65, unit='µm', source='the recipe')
    """
    if pixel_size is not None and (isinstance(pixel_size, bool) or not isinstance(pixel_size, (int, float))
                                   or not math.isfinite(pixel_size) or pixel_size < 0):
        raise ParameterError(f"pixel_size must be None (from the file), 0 (pixels) or a number above 0; "
                             f"got {pixel_size!r}")
    length = normal_unit(unit)
    if length is None:
        raise ParameterError(f"unit must be a length unit: µm, nm, mm, cm, m or Å (also written um, micron, "
                             f"micrometer, ...); got {unit!r}")
    if pixel_size is None:
        if info is not None and info.pixel_size is not None and info.unit:
            return PixelSize(float(info.pixel_size), info.unit, f"the file ({info.pixel_size_source})")
        return PixelSize(None, "px", "pixels: the file gives no pixel size")
    if pixel_size == 0:
        return PixelSize(None, "px", "pixels (pixel size 0 in the recipe)")
    return PixelSize(float(pixel_size), length, "the recipe")
