"""The sample images bundled in ``samples/``, by name (and only those).

Origins and licences are listed in ``samples/SOURCES.md``. Only registered names resolve to a
file: a name is looked up in :data:`SAMPLES`, never joined onto a path, so user input cannot
reach any other file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal, Mapping

import numpy as np
import tifffile

from .._errors import ImageLoadError, ParameterError
from ._read import load_image

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "samples"


@dataclass(frozen=True)
class Sample:
    """One bundled image.

    ``recipe`` holds suggested parameters as strings (the flat URL form of a recipe); an empty
    recipe means "the defaults". Treat it as read-only: copy it with ``dict(sample.recipe)``.

    Attributes
    ----------
    name : str
        The registered name, the key in :data:`SAMPLES` (``"coins"``).
    title : str
        A short human title (``"Coins"``).
    filename : str
        The image file in ``samples/``.
    description : str
        One or two sentences on what the image shows and what it is good for.
    best_for : {"threshold", "watershed"}
        The page the sample suits.
    recipe : dict of str to str
        Suggested parameters in the flat URL form; empty for the defaults.
    truth_filename : str or None
        The file of true instance labels in ``samples/``, if the sample has them.
    """

    name: str
    title: str
    filename: str
    description: str
    best_for: Literal["threshold", "watershed"]
    recipe: dict[str, str] = field(default_factory=dict, hash=False)
    truth_filename: str | None = None


def _registry(*samples: Sample) -> Mapping[str, Sample]:
    return MappingProxyType({s.name: s for s in samples})


SAMPLES: Mapping[str, Sample] = _registry(
    Sample(
        name="coins",
        title="Coins",
        filename="coins.png",
        description="Greek coins from Pompeii on a grey background whose levels overlap the "
        "coins', a classic test for separating touching objects with watershed.",
        best_for="watershed",
        recipe={},
    ),
    Sample(
        name="camera",
        title="Cameraman",
        filename="camera.png",
        description="A photographer with a camera on a tripod against a bright sky, a classic "
        "test image for global thresholds.",
        best_for="threshold",
        recipe={"method": "otsu"},
    ),
    Sample(
        name="page",
        title="Scanned page",
        filename="page.png",
        description="A scanned page of printed text with uneven illumination that defeats a "
        "single global threshold but suits a local one.",
        best_for="threshold",
        recipe={"method": "sauvola", "window": "51", "k": "0.15", "polarity": "dark"},
    ),
    Sample(
        name="text",
        title="Handwritten formula",
        filename="text.png",
        description="A photograph of handwriting on paper with shading, defocus and faint "
        "ruled lines, a harder case for local thresholds.",
        best_for="threshold",
        recipe={"method": "sauvola", "window": "51", "k": "0.15", "polarity": "dark"},
    ),
    Sample(
        name="nuclei",
        title="Fluorescent nuclei (synthetic)",
        filename="nuclei.tif",
        description="A synthetic 12-bit fluorescence image of about a hundred cell nuclei, many "
        "in touching clumps, on an unevenly lit background, with exact ground-truth labels.",
        best_for="watershed",
        recipe={},
        truth_filename="nuclei_labels.tif",
    ),
)

DEFAULT_SAMPLE_THRESHOLD = "camera"
DEFAULT_SAMPLE_WATERSHED = "coins"


def _lookup(name: object) -> Sample:
    sample = SAMPLES.get(name) if isinstance(name, str) else None
    if sample is None:
        raise ParameterError(f"name: unknown sample {name!r}; choose one of: {', '.join(SAMPLES)}")
    return sample


def sample_path(name: str) -> Path:
    """The file of the registered sample ``name``; any other name raises ``ParameterError``.

    The name is looked up in :data:`SAMPLES`, never joined onto a path, so no other file can be reached.

    Parameters
    ----------
    name : str
        A key of :data:`SAMPLES`, exactly (``"coins"``, ``"camera"``, ``"page"``, ``"text"``, ``"nuclei"``).

    Returns
    -------
    pathlib.Path
        The image file in ``samples/`` (it is not opened; it may be missing from a broken install).

    Raises
    ------
    ParameterError
        ``name`` is not a registered sample name (any other string, a path, or not a string).

    Examples
    --------
    >>> sample_path("coins").name
    'coins.png'
    """
    return SAMPLES_DIR / _lookup(name).filename


def _read(path: Path) -> np.ndarray:
    """Read a bundled file: RGB or grayscale, dtype as stored (uint8 or uint16)."""
    if not path.is_file():
        raise ImageLoadError(f"bundled sample file is missing: {path.name} (expected in {SAMPLES_DIR})")
    return load_image(path)


def load_sample(name: str) -> np.ndarray:
    """The pixels of the registered sample ``name`` (grayscale ``H×W``, uint8 or uint16).

    Parameters
    ----------
    name : str
        A key of :data:`SAMPLES`, exactly.

    Returns
    -------
    (H, W) ndarray of uint8 or uint16
        The image as stored (the nuclei sample is 12-bit data in uint16).

    Raises
    ------
    ParameterError
        ``name`` is not a registered sample name.
    ImageLoadError
        The bundled file is missing or cannot be read.

    Examples
    --------
    >>> image = load_sample("coins")
    >>> image.shape, image.dtype.name
    ((303, 384), 'uint8')
    """
    return _read(sample_path(name))


def sample_ground_truth(name: str) -> np.ndarray | None:
    """True instance labels (``int32``, 0 = background, 1..N) if the sample has them, else ``None``.

    Parameters
    ----------
    name : str
        A key of :data:`SAMPLES`, exactly.

    Returns
    -------
    (H, W) ndarray of int32 or None
        The labels, of the image's shape; ``None`` for a sample without ground truth.

    Raises
    ------
    ParameterError
        ``name`` is not a registered sample name.
    ImageLoadError
        The bundled ground-truth file is missing.

    Examples
    --------
    >>> sample_ground_truth("coins") is None, sample_ground_truth("nuclei").dtype.name
    (True, 'int32')
    """
    sample = _lookup(name)
    if sample.truth_filename is None:
        return None
    path = SAMPLES_DIR / sample.truth_filename
    if not path.is_file():
        raise ImageLoadError(f"bundled ground-truth file is missing: {path.name} (expected in {SAMPLES_DIR})")
    return np.ascontiguousarray(tifffile.imread(path)).astype(np.int32)
