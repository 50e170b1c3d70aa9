"""Microscopy files the tests write themselves: an OME-TIFF z-stack with two named channels, an ImageJ hyperstack.

The nuclei are discs in the DAPI channel (index 1, so only its name can make it the default), each sharp in one
z-plane only: a max projection shows all of them, one plane only some. The GFP channel holds three squares.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from cli_helpers import run_cli_in_process as run_cli  # noqa: F401 - the tests import it from here
from skimage.draw import disk

SIZE = (128, 160)
#: (row, col, z-plane) of each nucleus, radius 9 px.
NUCLEI = ((20, 25, 0), (25, 80, 1), (30, 130, 2), (80, 30, 3), (90, 85, 4), (100, 135, 0))
SQUARES = ((10, 10), (60, 60), (90, 110))
PIXEL_SIZE = 0.325


def ome_stack() -> np.ndarray:
    """(C=2, Z=5, Y, X) uint16: channel 0 GFP (three squares in every plane), channel 1 DAPI (the nuclei)."""
    stack = np.full((2, 5, *SIZE), 100, np.uint16)
    for r, c in SQUARES:
        stack[0, :, r:r + 25, c:c + 25] = 2500
    for r, c, z in NUCLEI:
        rows, cols = disk((r, c), 9, shape=SIZE)
        stack[1, z, rows, cols] = 3000 + 100 * z
        for other in range(5):  # out of focus elsewhere: faint
            if other != z:
                stack[1, other, rows, cols] = np.maximum(stack[1, other, rows, cols], 300)
    return stack


def write_ome_tiff(path: Path, **metadata) -> np.ndarray:
    stack = ome_stack()
    meta = {"axes": "CZYX", "Channel": {"Name": ["GFP", "DAPI"]}, "PhysicalSizeX": PIXEL_SIZE,
            "PhysicalSizeXUnit": "µm", "PhysicalSizeY": PIXEL_SIZE, "PhysicalSizeYUnit": "µm", **metadata}
    tifffile.imwrite(path, stack, ome=True, metadata=meta)
    return stack


def write_imagej_hyperstack(path: Path, pixel_size: float = 0.5) -> np.ndarray:
    """(T=3, Z=4, C=2, Y, X) uint8 with distinct values per plane: value = 10 t + 3 z + c + 1 in a block."""
    data = np.zeros((3, 4, 2, 40, 50), np.uint8)
    for t in range(3):
        for z in range(4):
            for c in range(2):
                data[t, z, c, 5:15, 5:25] = 10 * t + 3 * z + c + 1
    tifffile.imwrite(path, data, imagej=True, resolution=(1 / pixel_size, 1 / pixel_size),
                     metadata={"axes": "TZCYX", "unit": "um"})
    return data
