"""Make the synthetic fluorescence-nuclei sample and its ground-truth labels.

Writes two files next to this script (or into the folder given on the command line):

* ``nuclei.tif``        768 x 768, uint16 holding 12-bit data (0..4095), like a high-content
                        microscope camera: a DAPI-style nuclear stain.
* ``nuclei_labels.tif`` 768 x 768, uint16 instance labels, 0 = background, nuclei numbered
                        1..N; where two nuclei overlap a pixel belongs to the nearer centre.

The image model, in order:

1. Nuclei are slightly elliptical (axis ratio 1.1..1.5, random orientation), of varied size
   (mean radius 8..20 px) and brightness. Some are isolated; the others form clumps of 2..4
   nuclei that touch or overlap (each new member is placed so that the two ellipses overlap
   along the line joining their centres). Distinct groups never touch.
2. Each nucleus has a domed profile, a smooth chromatin texture and a few small bright
   chromatin spots. Where nuclei overlap the brighter one shows (maximum projection).
3. Uneven illumination: a smooth field (diagonal gradient plus vignetting, 0.55..1.0)
   multiplies the nuclear signal and a faint background fluorescence.
4. Optics: Gaussian blur (sigma 1.5 px).
5. Camera: Poisson shot noise (gain 1.5 ADU per electron), a 100 ADU offset and Gaussian
   read noise (sigma 6 ADU), clipped to 0..4095.

Everything is drawn from one ``numpy.random.default_rng(SEED)`` and computed with plain
numpy / scipy float64 code, so running the script again reproduces identical files:

    python samples/make_synthetic_nuclei.py            # rewrites samples/nuclei*.tif
    python samples/make_synthetic_nuclei.py /tmp/out   # writes into /tmp/out

The output is CC0 (public domain dedication), like this script.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage

SEED = 20240611
SIZE = 768
N_CLUMPS = 18            # groups of 2..4 touching/overlapping nuclei
N_SINGLES = 46           # isolated nuclei
RADIUS_RANGE = (8.0, 20.0)
AXIS_RATIO_RANGE = (1.1, 1.5)
GROUP_GAP = 6.0          # minimum free space (px) between separate groups
MAX_VALUE = 4095         # 12-bit camera
OFFSET = 100.0           # camera offset (ADU)
GAIN = 1.5               # ADU per photo-electron
READ_NOISE = 6.0         # ADU (standard deviation)
BACKGROUND = 260.0       # background fluorescence at full illumination (ADU above offset)
OPTICS_SIGMA = 1.5       # px

IMAGE_NAME = "nuclei.tif"
LABELS_NAME = "nuclei_labels.tif"


@dataclass(frozen=True)
class Nucleus:
    y: float
    x: float
    a: float          # semi-axis along the orientation
    b: float          # the other semi-axis
    theta: float      # orientation (radians)
    brightness: float

    @property
    def max_radius(self) -> float:
        return max(self.a, self.b)

    def radius_towards(self, angle: float) -> float:
        """Distance from the centre to the ellipse boundary in direction ``angle``."""
        phi = angle - self.theta
        return self.a * self.b / float(np.hypot(self.b * np.cos(phi), self.a * np.sin(phi)))


def _random_shape(rng: np.random.Generator, y: float, x: float) -> Nucleus:
    radius = rng.uniform(*RADIUS_RANGE)
    ratio = rng.uniform(*AXIS_RATIO_RANGE)
    return Nucleus(
        y=y,
        x=x,
        a=radius * np.sqrt(ratio),
        b=radius / np.sqrt(ratio),
        theta=rng.uniform(0.0, np.pi),
        brightness=rng.uniform(900.0, 2300.0),
    )


def _fits(group: list[Nucleus], placed: list[Nucleus]) -> bool:
    """The group lies (centres) inside the image and keeps its distance from other groups."""
    for n in group:
        if not (4.0 <= n.y <= SIZE - 5.0 and 4.0 <= n.x <= SIZE - 5.0):
            return False
        for m in placed:
            if np.hypot(n.y - m.y, n.x - m.x) < n.max_radius + m.max_radius + GROUP_GAP:
                return False
    return True


def _make_group(rng: np.random.Generator, size: int) -> list[Nucleus]:
    """One nucleus at a random position, then ``size - 1`` more overlapping earlier members."""
    group = [_random_shape(rng, rng.uniform(0, SIZE), rng.uniform(0, SIZE))]
    tries = 0
    while len(group) < size and tries < 200:
        tries += 1
        anchor = group[int(rng.integers(len(group)))]
        angle = rng.uniform(0.0, 2.0 * np.pi)
        new = _random_shape(rng, 0.0, 0.0)
        # Overlap along the joining line: 72..97 % of the sum of the directional radii.
        reach = anchor.radius_towards(angle) + new.radius_towards(angle + np.pi)
        distance = reach * rng.uniform(0.72, 0.97)
        new = Nucleus(
            y=anchor.y + distance * np.sin(angle),
            x=anchor.x + distance * np.cos(angle),
            a=new.a, b=new.b, theta=new.theta, brightness=new.brightness,
        )
        # Not stacked on another member: centres at least 70 % of the mean radii apart.
        if all(
            np.hypot(new.y - m.y, new.x - m.x) >= 0.7 * (np.sqrt(new.a * new.b) + np.sqrt(m.a * m.b))
            for m in group
        ):
            group.append(new)
    return group


def place_nuclei(rng: np.random.Generator) -> tuple[list[Nucleus], list[int]]:
    """Return the nuclei and, for each, the index of the group (clump or single) it belongs to."""
    sizes = [int(s) for s in rng.integers(2, 5, size=N_CLUMPS)] + [1] * N_SINGLES
    nuclei: list[Nucleus] = []
    group_of: list[int] = []
    for group_index, size in enumerate(sizes):
        for _ in range(500):
            group = _make_group(rng, size)
            if len(group) == size and _fits(group, nuclei):
                nuclei.extend(group)
                group_of.extend([group_index] * size)
                break
    return nuclei, group_of


def _box(n: Nucleus) -> tuple[slice, slice]:
    r = int(np.ceil(n.max_radius)) + 1
    y0, x0 = max(int(n.y) - r, 0), max(int(n.x) - r, 0)
    y1, x1 = min(int(n.y) + r + 2, SIZE), min(int(n.x) + r + 2, SIZE)
    return slice(y0, y1), slice(x0, x1)


def render(rng: np.random.Generator, nuclei: list[Nucleus]) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free nuclear signal (float64, before illumination) and the instance labels."""
    signal = np.zeros((SIZE, SIZE), np.float64)
    labels = np.zeros((SIZE, SIZE), np.int32)
    owner_distance = np.full((SIZE, SIZE), np.inf)
    for label, n in enumerate(nuclei, start=1):
        sy, sx = _box(n)
        yy, xx = np.mgrid[sy, sx].astype(np.float64)
        dy, dx = yy - n.y, xx - n.x
        cos_t, sin_t = np.cos(n.theta), np.sin(n.theta)
        u = dx * cos_t + dy * sin_t
        v = -dx * sin_t + dy * cos_t
        rho2 = (u / n.a) ** 2 + (v / n.b) ** 2
        inside = rho2 <= 1.0

        # Ground truth: inside this ellipse and nearer to this centre than to any earlier owner.
        distance = np.hypot(dy, dx)
        take = inside & (distance < owner_distance[sy, sx])
        labels[sy, sx][take] = label
        owner_distance[sy, sx][take] = distance[take]

        # Intensity: domed profile x smooth chromatin texture + small bright chromatin spots.
        profile = np.where(inside, np.clip(1.0 - rho2, 0.0, 1.0) ** 0.3, 0.0)
        texture = ndimage.gaussian_filter(rng.standard_normal(yy.shape), 2.0, mode="reflect")
        texture /= texture.std() + 1e-12
        value = profile * (1.0 + 0.12 * texture)
        for _ in range(int(rng.integers(3, 9))):
            r = np.sqrt(rng.uniform(0.0, 0.6))
            phi = rng.uniform(0.0, 2.0 * np.pi)
            su, sv = r * n.a * np.cos(phi), r * n.b * np.sin(phi)
            sigma = rng.uniform(0.8, 1.8)
            amplitude = rng.uniform(0.25, 0.6)
            value += inside * amplitude * np.exp(-((u - su) ** 2 + (v - sv) ** 2) / (2.0 * sigma**2))
        signal[sy, sx] = np.maximum(signal[sy, sx], n.brightness * value)
    return signal, labels


def illumination() -> np.ndarray:
    """Smooth excitation field in 0.55..1.0: a diagonal gradient times a vignette."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64) / (SIZE - 1)
    gradient = 1.0 - 0.35 * (0.6 * xx + 0.4 * yy)
    cy, cx = 0.42, 0.38
    vignette = 1.0 - 0.25 * ((yy - cy) ** 2 + (xx - cx) ** 2) / 0.5
    field = gradient * vignette
    lo, hi = field.min(), field.max()
    return 0.55 + 0.45 * (field - lo) / (hi - lo)


def synthesize(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(image uint16 0..4095, labels int32 0..N)``."""
    rng = np.random.default_rng(seed)
    nuclei, _ = place_nuclei(rng)
    signal, labels = render(rng, nuclei)
    expected = illumination() * (BACKGROUND + signal)
    expected = ndimage.gaussian_filter(expected, OPTICS_SIGMA, mode="reflect")
    electrons = rng.poisson(expected / GAIN)
    adu = electrons * GAIN + OFFSET + rng.normal(0.0, READ_NOISE, size=expected.shape)
    image = np.clip(np.rint(adu), 0, MAX_VALUE).astype(np.uint16)
    return image, labels


def _write_tiff(path: Path, array: np.ndarray) -> None:
    tifffile.imwrite(
        path,
        array,
        photometric="minisblack",
        compression="zlib",
        compressionargs={"level": 9},
        predictor=True,
        metadata=None,
        software=False,
    )


def make(out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``nuclei.tif`` and ``nuclei_labels.tif`` into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    image, labels = synthesize()
    if labels.max() > np.iinfo(np.uint16).max:
        raise ValueError("too many nuclei for 16-bit labels")
    image_path, labels_path = out / IMAGE_NAME, out / LABELS_NAME
    _write_tiff(image_path, image)
    _write_tiff(labels_path, labels.astype(np.uint16))
    return image_path, labels_path


if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent
    for written in make(target):
        print(written)
