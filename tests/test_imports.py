"""The private modules form a layered graph: no import cycle, lazy imports included."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import kling_nb

PACKAGE = Path(kling_nb.__file__).parent
PRIVATE = sorted(p.stem for p in PACKAGE.glob("_*.py") if p.stem != "__init__")
# Edges a cycle may use, each a known exception: none (prices live in _price, below _config).
ALLOWED_EDGES: set[tuple[str, str]] = set()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.AST, known: set[str]) -> set[str]:
    """Sibling modules in `known` that `node` imports, at any depth, not TYPE_CHECKING-only."""
    found: set[str] = set()
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                found |= _imported(other, known)
            continue
        if isinstance(child, ast.ImportFrom):
            found |= _targets(child)
        elif isinstance(child, ast.Import):
            for alias in child.names:
                parts = alias.name.split(".")
                if parts[0] == "kling_nb" and len(parts) > 1:
                    found.add(parts[1])
        found |= _imported(child, known)
    return found & known


def _targets(node: ast.ImportFrom) -> set[str]:
    if node.level == 1 and node.module:
        return {node.module.split(".")[0]}
    if node.level == 1:  # from . import _config
        return {alias.name for alias in node.names}
    if node.level == 0 and node.module and node.module.startswith("kling_nb."):
        return {node.module.split(".")[1]}
    return set()


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name in PRIVATE:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
        graph[name] = _imported(tree, set(PRIVATE)) - {name}
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
