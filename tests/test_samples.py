"""The bundled samples: registry, loading, refusal of other names, the synthetic generator."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import tifffile
from scipy import ndimage

from segmentation import (
    DEFAULT_SAMPLE_THRESHOLD,
    DEFAULT_SAMPLE_WATERSHED,
    SAMPLES,
    load_sample,
    sample_ground_truth,
    sample_path,
)

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "samples"
GENERATOR = SAMPLES_DIR / "make_synthetic_nuclei.py"


def _generator_module():
    spec = importlib.util.spec_from_file_location("make_synthetic_nuclei", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


# --- registry ---------------------------------------------------------------------------------

def test_registry_names_and_fields():
    assert list(SAMPLES)[:3] == ["coins", "camera", "page"]
    assert {"coins", "camera", "page", "nuclei"} <= set(SAMPLES)
    for name, sample in SAMPLES.items():
        assert sample.name == name
        assert name.isalpha() and name.islower()
        assert sample.best_for in ("threshold", "watershed")
        assert sample.title and sample.description.endswith(".")
        assert sample.description.count(". ") == 0, "description is one sentence"
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in sample.recipe.items())
        assert (SAMPLES_DIR / sample.filename).is_file()
    assert SAMPLES["camera"].recipe == {"method": "otsu"}
    assert SAMPLES["page"].recipe == {"method": "sauvola", "window": "51", "k": "0.15", "polarity": "dark"}
    assert SAMPLES["coins"].recipe == {} and SAMPLES["nuclei"].recipe == {}
    assert SAMPLES["coins"].best_for == "watershed" and SAMPLES["nuclei"].best_for == "watershed"
    assert SAMPLES[DEFAULT_SAMPLE_THRESHOLD].best_for == "threshold"
    assert SAMPLES[DEFAULT_SAMPLE_WATERSHED].best_for == "watershed"


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        SAMPLES["evil"] = SAMPLES["coins"]  # type: ignore[index]
    with pytest.raises(AttributeError):
        SAMPLES["coins"].filename = "../../etc/passwd"  # type: ignore[misc]
    hash(SAMPLES["page"])  # frozen samples stay hashable despite the recipe dict


def test_sample_path_resolves_inside_samples_folder():
    for name in SAMPLES:
        path = sample_path(name)
        assert path.parent == SAMPLES_DIR
        assert path.is_file()


# --- loading ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["coins", "camera", "page", "text"])
def test_scikit_image_samples_are_pixel_exact(name):
    if name not in SAMPLES:
        pytest.skip(f"{name} not bundled")
    expected = getattr(skimage.data, name)()
    image = load_sample(name)
    assert image.dtype == np.uint8
    assert image.shape == expected.shape
    assert np.array_equal(image, expected)


def test_known_shapes():
    assert load_sample("coins").shape == (303, 384)
    assert load_sample("camera").shape == (512, 512)
    assert load_sample("page").shape == (191, 384)


def test_nuclei_is_12_bit_in_uint16():
    image = load_sample("nuclei")
    module = _generator_module()
    assert image.dtype == np.uint16
    assert image.shape == (module.SIZE, module.SIZE) == (768, 768)
    assert image.max() <= 4095
    assert image.max() > 2000 and image.min() > 0  # uses the range, no clipping to zero
    assert np.array_equal(image, tifffile.imread(SAMPLES_DIR / "nuclei.tif"))


def test_ground_truth():
    assert sample_ground_truth("coins") is None
    assert sample_ground_truth("camera") is None
    labels = sample_ground_truth("nuclei")
    assert labels.dtype == np.int32 and labels.shape == (768, 768)
    n = int(labels.max())
    assert 60 <= n <= 120
    assert np.array_equal(np.unique(labels), np.arange(n + 1)), "labels are 0..N consecutive"
    for index, piece in enumerate(ndimage.find_objects(labels), start=1):
        _, count = ndimage.label(labels[piece] == index)
        assert count == 1, f"nucleus {index} is in one piece"
    # The labelled nuclei are where the image is bright: mean inside well above outside.
    image = load_sample("nuclei").astype(np.float64)
    assert image[labels > 0].mean() > 2 * image[labels == 0].mean()
    with pytest.raises(ValueError):
        sample_ground_truth("../nuclei_labels")


def _touching_pairs(labels: np.ndarray) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1, :], labels[1:, :])):
        edge = (a != b) & (a > 0) & (b > 0)
        for p, q in zip(a[edge].tolist(), b[edge].tolist()):
            pairs.add((min(p, q), max(p, q)))
    return pairs


def test_nuclei_form_clumps():
    labels = sample_ground_truth("nuclei")
    pairs = _touching_pairs(labels)
    assert len(pairs) >= 15, "many pairs of nuclei touch"
    components, n_components = ndimage.label(labels > 0)
    per_component = ndimage.labeled_comprehension(
        labels, components, np.arange(1, n_components + 1), lambda v: len(np.unique(v)), int, 0
    )
    assert (per_component >= 2).sum() >= 10, "at least ten clumps"
    assert per_component.max() >= 3, "some clumps of three or more"
    assert (per_component == 1).sum() >= 20, "and isolated nuclei too"


# --- refusing other names ---------------------------------------------------------------------

BAD_NAMES = [
    "../../etc/passwd", "/etc/passwd", "coins.png", "Coins ", "Coins", " coins", "coins/",
    "samples/coins", "..", ".", "", None, 3, "nuclei_labels", "nuclei.tif", "c:\\coins",
    "coins\x00", "make_synthetic_nuclei", "SOURCES.md", ["coins"],
]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_unknown_names_are_refused(name):
    for function in (sample_path, load_sample, sample_ground_truth):
        with pytest.raises(ValueError) as info:
            function(name)
        message = str(info.value)
        assert "unknown sample" in message and "choose one of: coins" in message


# --- generator and size -----------------------------------------------------------------------

def test_generator_is_deterministic(tmp_path):
    module = _generator_module()
    image_path, labels_path = module.make(tmp_path)
    for fresh, committed in ((image_path, "nuclei.tif"), (labels_path, "nuclei_labels.tif")):
        a = tifffile.imread(fresh)
        b = tifffile.imread(SAMPLES_DIR / committed)
        assert a.dtype == b.dtype == np.uint16
        assert a.shape == b.shape
        assert a.tobytes() == b.tobytes(), f"{committed} differs from a fresh run"
    assert tifffile.TiffFile(image_path).pages[0].compression != 1, "compressed TIFF"


def test_samples_folder_is_small():
    total = sum(p.stat().st_size for p in SAMPLES_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert total < 3 * 1024 * 1024


def test_library_never_mentions_streamlit():
    package = Path(__file__).resolve().parent.parent / "segmentation"
    assert not [p.name for p in package.rglob("*.py") if "streamlit" in p.read_text(encoding="utf-8")]


def test_recipes_are_valid_for_their_kind():
    from segmentation import recipes
    for sample in SAMPLES.values():
        kind = recipes.ThresholdRecipe if sample.best_for == "threshold" else recipes.WatershedRecipe
        recipe = kind.from_flat(sample.recipe, ignore_unknown=False)
        assert {**recipe.to_flat(include_defaults=True), **sample.recipe} == recipe.to_flat(include_defaults=True)
