"""Every example in the library's docstrings runs and prints what it says."""

import doctest
import importlib
import pkgutil

import pytest

import segmentation

MODULES = sorted(name for _, name, _ in pkgutil.walk_packages(segmentation.__path__, "segmentation.")
                 if name != "segmentation.__main__")


@pytest.mark.parametrize("name", ["segmentation", *MODULES])
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
