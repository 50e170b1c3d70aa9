"""The inputs of the "data as it really comes" reports, made from code (nothing binary is committed).

Each function returns the array (and, where a file is what the report used, the file's bytes) that a
user really sent: float images with NaN "no data" areas and infinities, 16-bit images with few grey
levels, a label image with more objects than a 16-bit PNG holds, marker images with huge ids, TIFFs
with extra channels that are not alpha. The right answers are not stored here: tests compute them from
the published definitions and from scikit-image on the finite pixels.

Like ``make_bad_inputs``, this module does not import ``segmentation``: the inputs must not be produced
by the code they test.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import tifffile

#: Where the six objects of :func:`nan_half` sit (top-left corners; 20×20 each, all in the finite half).
NAN_HALF_OBJECTS = [(20, 20), (20, 60), (90, 30), (90, 70), (150, 20), (150, 60)]
#: Where the three dark objects of :func:`nan_stripe_dark` sit (top-left corners; 20×20 each).
DARK_OBJECTS = [(20, 20), (20, 110), (120, 60)]


def tiff_bytes(array: np.ndarray, **options) -> bytes:
    """``array`` written by tifffile (its defaults unless ``options`` say otherwise)."""
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **options)
    return buffer.getvalue()


def png_bytes(array: np.ndarray) -> bytes:
    """``array`` (gray uint8/uint16, or RGB) written as PNG by OpenCV."""
    data = array if array.ndim == 2 else cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", data)
    assert ok
    return encoded.tobytes()


def nan_half(seed: int = 0) -> np.ndarray:
    """200×200 float32: the right half NaN, six 20×20 objects within ±0.02 of 0.7 on a background within ±0.02 of 0.3.

    The report: Otsu 0.2157 and 48 % foreground (NaN replaced by the minimum); right: Otsu of the finite
    pixels (the report's image gave 0.4964; this one's noise gives less) and the six objects only (2,400 px, 6 %).
    """
    rng = np.random.default_rng(seed)
    image = (0.3 + rng.uniform(-0.02, 0.02, (200, 200))).astype(np.float32)
    for top, left in NAN_HALF_OBJECTS:
        image[top:top + 20, left:left + 20] = (0.7 + rng.uniform(-0.02, 0.02, (20, 20))).astype(np.float32)
    image[:, 100:] = np.nan
    return image


def nan_stripe_dark(seed: int = 1) -> np.ndarray:
    """160×160 float32: a bright background near 0.8, three dark 20×20 objects at 0.2, a 16-px NaN stripe.

    The report: every dark-polarity mask held the 2,560 NaN pixels (3,760 px), the default watershed found 4
    objects; right: 1,200 px and 3 objects (NaN is never foreground).
    """
    rng = np.random.default_rng(seed)
    image = (0.8 + rng.uniform(-0.02, 0.02, (160, 160))).astype(np.float32)
    for top, left in DARK_OBJECTS:
        image[top:top + 20, left:left + 20] = 0.2  # flat: every method's threshold falls between the two
    image[70:86, :] = np.nan  # rows 70..85: 16 × 160 = 2,560 pixels, touching no object
    return image


def nonfinite_regions(kind: str, seed: int = 2) -> np.ndarray:
    """120×120 float32 with four bright 16×16 objects (near 0.7, background near 0.3) and a 20×20 block of
    ``kind`` ("nan", "inf", "-inf" or "mixed": one third each) in a corner away from the objects."""
    rng = np.random.default_rng(seed)
    image = (0.3 + rng.uniform(-0.02, 0.02, (120, 120))).astype(np.float32)
    for top, left in [(10, 10), (10, 60), (60, 10), (60, 60)]:
        image[top:top + 16, left:left + 16] = (0.7 + rng.uniform(-0.02, 0.02, (16, 16))).astype(np.float32)
    block = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}
    if kind == "mixed":
        image[95:115, 95:102] = np.nan
        image[95:115, 102:108] = np.inf
        image[95:115, 108:115] = -np.inf
    else:
        image[95:115, 95:115] = block[kind]
    return image


def few_levels_uint16() -> np.ndarray:
    """64×64 uint16 holding only 0, 100 and 65535 (scikit-image's 3-class multi-Otsu: [0, 100])."""
    image = np.zeros((64, 64), np.uint16)
    image[:, 20:40] = 100
    image[:, 40:] = 65535
    return image


def many_objects(per_side: int = 265) -> np.ndarray:
    """A uint8 image of ``per_side**2`` separate 2×2 bright squares on a period of 3 px (70,225 by default)."""
    side = 3 * per_side
    image = np.zeros((side, side), np.uint8)
    grid = np.zeros((3, 3), np.uint8)
    grid[:2, :2] = 255
    image[:] = np.tile(grid, (per_side, per_side))
    return image


def touching_discs() -> tuple[np.ndarray, list[tuple[int, int]]]:
    """An 8-bit image of two touching bright discs (radius 20) and their centres (row, col)."""
    rows, cols = np.mgrid[:80, :120]
    centres = [(40, 40), (40, 76)]
    inside = np.zeros((80, 120), bool)
    for r, c in centres:
        inside |= (rows - r) ** 2 + (cols - c) ** 2 <= 20 ** 2
    return np.where(inside, 200, 20).astype(np.uint8), centres


def disc_markers(ids: tuple[int, int], dtype) -> np.ndarray:
    """The marker image of :func:`touching_discs`: a 3×3 seed of each id at each centre, of ``dtype``."""
    _, centres = touching_discs()
    markers = np.zeros((80, 120), dtype)
    for (r, c), value in zip(centres, ids):
        markers[r - 1:r + 2, c - 1:c + 2] = value
    return markers


def gray_with_unspecified_extra(dtype=np.uint16) -> tuple[np.ndarray, bytes]:
    """A 2-channel image (channel 1 is not alpha) and the TIFF tifffile writes by default (ExtraSamples 0).

    Channel 0's rows read [1000, 1000, 5000, 5000, ...] (scaled into 8 bits for uint8).
    """
    row = np.tile(np.array([1000, 1000, 5000, 5000], np.float64), 16)
    channel0 = np.tile(row, (32, 1))
    channel1 = np.tile(np.linspace(0, 40000, 64), (32, 1))
    if dtype == np.uint8:
        channel0, channel1 = channel0 / 5000 * 200, channel1 / 40000 * 255
    array = np.stack([channel0, channel1], axis=-1).astype(dtype)
    return array, tiff_bytes(array, planarconfig="contig")  # one page, 2 samples (tifffile: ExtraSamples 0)


def rgb_nir(dtype=np.uint16) -> tuple[np.ndarray, bytes]:
    """An RGB + near-infrared image whose NIR channel is 0 on its left half, and its TIFF (4 samples, the
    fourth marked unspecified, ExtraSamples 0, as multispectral cameras write it)."""
    top = 255 if dtype == np.uint8 else 65535
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, top // 2, (32, 64, 3))
    nir = np.zeros((32, 64, 1))
    nir[:, 32:] = top
    array = np.concatenate([rgb, nir], axis=-1).astype(dtype)
    return array, tiff_bytes(array, photometric="rgb", extrasamples=["unspecified"])
