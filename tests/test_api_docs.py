"""Every public function and class of ``segmentation`` is documented the numpydoc way.

Functions: a summary, ``Parameters`` (when they take any), ``Returns`` (or ``Yields``), and ``Raises``
(every public function checks its inputs). The functions that implement a published method also cite
it under ``References``. Classes: a summary and their ``Attributes`` or ``Parameters``.
"""

from __future__ import annotations

import inspect
import re

import pytest

import segmentation as seg

FUNCTIONS = sorted(name for name in seg.__all__ if inspect.isfunction(getattr(seg, name)))
CLASSES = sorted(name for name in seg.__all__ if inspect.isclass(getattr(seg, name))
                 and not issubclass(getattr(seg, name), Exception))

#: Functions that implement a method from the literature (or a library's documented algorithm): they cite it.
METHOD_FUNCTIONS = (
    "otsu_threshold", "triangle_threshold", "li_threshold", "yen_threshold", "isodata_threshold",
    "mean_threshold", "minimum_threshold", "multiotsu_thresholds", "adaptive_threshold_mask", "sauvola_surface",
    "niblack_surface", "subtract_background", "threshold", "watershed", "distance_map", "h_maxima_seeds",
    "distance_peak_seeds", "flood_distance", "flood_gradient", "object_f1", "mask_agreement", "measure",
    "score_overlay",
)


def _sections(doc: str) -> set[str]:
    return set(re.findall(r"^\s*([A-Z][A-Za-z ]+)\n\s*-{3,}\s*$", doc, flags=re.M))


def test_the_lists_are_not_empty():
    assert len(FUNCTIONS) > 40 and len(CLASSES) >= 6
    assert set(METHOD_FUNCTIONS) <= set(FUNCTIONS)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_function_docstring_has_the_numpydoc_sections(name):
    func = getattr(seg, name)
    doc = inspect.getdoc(func) or ""
    assert doc.strip(), f"{name} has no docstring"
    sections = _sections(doc)
    params = [p for p in inspect.signature(func).parameters.values()
              if p.kind not in (p.VAR_POSITIONAL,) and p.name != "self"]
    needed = {"Returns", "Raises"} | ({"Parameters"} if params else set())
    assert needed <= sections, f"{name} lacks {sorted(needed - sections)}"
    documented = set(re.findall(r"^(\*{0,2}\w+)(?:, (\w+))*\s*:", doc.split("Parameters", 1)[-1], flags=re.M))
    names = {n.lstrip("*") for pair in documented for n in pair if n}
    missing = [p.name for p in params if p.name not in names]
    assert not missing, f"{name}: parameters not described under Parameters: {missing}"


@pytest.mark.parametrize("name", METHOD_FUNCTIONS)
def test_method_cites_its_source(name):
    doc = inspect.getdoc(getattr(seg, name)) or ""
    assert "References" in _sections(doc), f"{name} cites no source under References"
    references = doc.split("References", 1)[1]
    assert re.search(r"\d{4}", references), f"{name}: a reference needs at least its year"


@pytest.mark.parametrize("name", CLASSES)
def test_class_docstring(name):
    doc = inspect.getdoc(getattr(seg, name)) or ""
    assert doc.strip(), f"{name} has no docstring"
    assert _sections(doc) & {"Attributes", "Parameters"}, f"{name} describes neither Attributes nor Parameters"
