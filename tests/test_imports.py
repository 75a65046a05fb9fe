"""The private modules form a layered graph: no import cycle, lazy imports included."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import kling_nb

PACKAGE = Path(kling_nb.__file__).parent
# Private modules, and private subpackages (one node each: `_transport/` is one seam).
PRIVATE = sorted(
    [p.stem for p in PACKAGE.glob("_*.py") if p.stem != "__init__"]
    + [p.name for p in PACKAGE.glob("_*") if p.is_dir() and (p / "__init__.py").is_file()]
)
# The servers kling_nb ships speak HTTP themselves; the client talks through one seam.
SERVERS = ("emulator", "classroom")
SEAM = "_transport"
# Edges a cycle may use, each a known exception: none (prices live in _price, below _config).
ALLOWED_EDGES: set[tuple[str, str]] = set()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.AST, known: set[str], depth: int = 1) -> set[str]:
    """Sibling modules in `known` that `node` imports, at any depth, not TYPE_CHECKING-only."""
    found: set[str] = set()
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                found |= _imported(other, known, depth)
            continue
        if isinstance(child, ast.ImportFrom):
            found |= _targets(child, depth)
        elif isinstance(child, ast.Import):
            for alias in child.names:
                parts = alias.name.split(".")
                if parts[0] == "kling_nb" and len(parts) > 1:
                    found.add(parts[1])
        found |= _imported(child, known, depth)
    return found & known


def _targets(node: ast.ImportFrom, depth: int = 1) -> set[str]:
    """Sibling modules an import names; `depth` is 2 inside a private subpackage."""
    if node.level == depth and node.module:
        return {node.module.split(".")[0]}
    if node.level == depth:  # from . import _config
        return {alias.name for alias in node.names}
    if node.level == 0 and node.module and node.module.startswith("kling_nb."):
        return {node.module.split(".")[1]}
    return set()


def _sources(name: str) -> list[tuple[ast.AST, int]]:
    """The parsed files of a private module or subpackage, with their import depth."""
    folder = PACKAGE / name
    if folder.is_dir():
        return [(ast.parse(p.read_text(encoding="utf-8")), 2) for p in sorted(folder.glob("*.py"))]
    return [(ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8")), 1)]


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name in PRIVATE:
        found: set[str] = set()
        for tree, depth in _sources(name):
            found |= _imported(tree, set(PRIVATE), depth)
        graph[name] = found - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for target in sorted(graph[name]):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name)):
            return found
    return None


@pytest.mark.parametrize("name", PRIVATE)
def test_each_private_module_imports(name: str) -> None:
    assert importlib.import_module(f"kling_nb.{name}").__name__ == f"kling_nb.{name}"


def test_no_import_cycle_among_private_modules() -> None:
    graph = _graph()
    for source, target in ALLOWED_EDGES:
        graph[source].discard(target)
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_the_cycle_finder_sees_lazy_imports_and_skips_type_checking() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from ._b import x\n"
        "if TYPE_CHECKING:\n    from ._c import y\n"
        "def f():\n    from . import _d\n"
    )
    assert _imported(ast.parse(source), {"_b", "_c", "_d"}) == {"_b", "_d"}
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_messages_and_errors_sit_at_the_bottom() -> None:
    graph = _graph()
    assert graph["_i18n"] == set()
    assert graph["_errors"] <= {"_i18n", "_secrets"}


def _third_party(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_transport_seam_imports_fal_client_or_httpx() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).parts
        if relative[0] in (SEAM, *SERVERS):
            continue
        used = _third_party(ast.parse(path.read_text(encoding="utf-8")))
        offenders += [f"{'/'.join(relative)}: {n}" for n in used & {"httpx", "fal_client"}]
    assert offenders == []
