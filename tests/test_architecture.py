"""The library's layout, checked statically: one public API, no import cycles, no shadowed modules.

The import graph is read from the source with :mod:`ast` (every import statement, at any depth, so an
import hidden inside a function counts), not from ``sys.modules``, so a cycle cannot hide behind import order.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import segmentation as seg

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "segmentation"
SUBPACKAGES = ("batch", "display", "export", "io", "measurement", "recipes", "regions", "thresholding")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _library_modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(path: Path, name: str) -> list[tuple[str, ast.AST, bool]]:
    """``(imported module, node, inside a function)`` for every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    nested = {id(node) for func in ast.walk(tree) if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
              for node in ast.walk(func) if isinstance(node, (ast.Import, ast.ImportFrom))}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node, id(node) in nested) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if node.module or not node.level:  # "from . import x" runs x, not again its package
                found.append((module, node, id(node) in nested))
            # "from . import thresholding" imports a module, not a name
            found += [(f"{module}.{alias.name}", node, id(node) in nested) for alias in node.names]
    return found


def _graph() -> dict[str, set[str]]:
    modules = _library_modules()
    return {name: {target for target, _, _ in _imports(path, name) if target in modules and target != name}
            for name, path in modules.items()}


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_in_the_library():
    cycle = _find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


_LEAVES = {"_errors", "_checks", "_numeric"}
#: What each part may import (docs/ARCHITECTURE.md, "What may import what").
ALLOWED = {
    "_errors": set(),
    "_checks": {"_errors"},
    "_numeric": {"_checks", "_errors"},
    "recipes": {"_checks", "_errors"},
    "io": _LEAVES,
    "thresholding": {"recipes"} | _LEAVES,
    "regions": {"thresholding", "recipes"} | _LEAVES,
    "measurement": {"regions"} | _LEAVES,
    "display": _LEAVES,
    "export": {"recipes", "measurement"} | _LEAVES,
    "batch": set(SUBPACKAGES) - {"batch"} | _LEAVES,
    "__main__": {"batch"},
}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "segmentation"


def test_each_part_imports_only_what_the_architecture_allows():
    broken = sorted(f"{importer} imports {target}" for importer, targets in _graph().items() for target in targets
                    if _part(importer) != "segmentation" and _part(target) != _part(importer)
                    and _part(target) not in ALLOWED[_part(importer)])
    assert not broken


def test_the_cycle_finder_finds_cycles():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_imports_inside_functions_in_the_library():
    late = [f"{name}:{node.lineno} imports {target}" for name, path in _library_modules().items()
            for target, node, nested in _imports(path, name) if nested]
    assert not late


def test_no_module_is_named_like_an_exported_object():
    exported = set(seg.__all__) - set(SUBPACKAGES)
    clashes = [name for name in _library_modules() if name.rpartition(".")[2] in exported]
    assert not clashes


def test_private_modules_start_with_an_underscore():
    public = {"segmentation", "segmentation.__main__", *(f"segmentation.{p}" for p in SUBPACKAGES)}
    named_public = [name for name in _library_modules()
                    if name not in public and not name.rpartition(".")[2].startswith("_")]
    assert not named_public


@pytest.mark.parametrize("subpackage", SUBPACKAGES)
def test_every_subpackage_name_is_in_the_one_public_list(subpackage):
    module = importlib.import_module(f"segmentation.{subpackage}")
    missing = [name for name in module.__all__ if name not in seg.__all__ and subpackage != "batch"]
    assert not missing, f"segmentation.{subpackage} exports {missing}, which segmentation does not"
    for name in module.__all__:
        if name in seg.__all__:
            assert getattr(seg, name) is getattr(module, name), name


def test_every_public_name_resolves_and_is_unique():
    assert len(seg.__all__) == len(set(seg.__all__))
    for name in seg.__all__:
        assert hasattr(seg, name), name


def test_per_method_functions_are_on_the_top_namespace():
    code = "import segmentation as s; s.otsu_threshold; s.binarize; s.sauvola_surface; s.h_maxima_seeds"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _callers() -> list[Path]:
    files = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "studio_ui").glob("*.py"))]
    files += sorted((ROOT / "benchmarks").glob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    return files


def test_callers_use_only_the_public_api():
    """App, pages, studio_ui, benchmarks and tests import ``segmentation`` or a documented sub-package only."""
    allowed = {"segmentation", *(f"segmentation.{p}" for p in SUBPACKAGES)}
    bad = []
    for path in _callers():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for name in names:
                if name and name.split(".")[0] == "segmentation" and name not in allowed:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
                if isinstance(node, ast.ImportFrom) and name in allowed:
                    bad += [f"{path.relative_to(ROOT)}:{node.lineno} imports private {a.name}"
                            for a in node.names if a.name.startswith("_")]
    assert not bad


def test_library_never_imports_streamlit():
    code = "import sys, segmentation, segmentation.batch; assert 'streamlit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_public_functions_are_defined_in_private_modules():
    """A public function lives in one private module and is reached through the public namespaces only."""
    for name in seg.__all__:
        obj = getattr(seg, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            module = obj.__module__
            assert module.rpartition(".")[2].startswith("_"), f"{name} is defined in public module {module}"
