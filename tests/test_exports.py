"""The public surface, both ways: `__all__` is one table's keys, every name in it resolves to
what its owner defines, and everything public that users reach is in it (as httpx's
tests/test_exported_members.py checks)."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import kling_nb
from kling_nb import _errors

INIT = Path(kling_nb.__file__)


def test_all_is_sorted_and_is_the_table() -> None:
    assert kling_nb.__all__ == sorted(kling_nb.__all__)
    assert set(kling_nb.__all__) == set(kling_nb._PUBLIC) | set(kling_nb._HERE)


def test_every_exported_name_resolves_to_its_owner() -> None:
    for name, module in kling_nb._PUBLIC.items():
        value = getattr(kling_nb, name)
        owner = importlib.import_module(f"kling_nb.{module}")
        assert getattr(owner, name) is value, name


def test_the_type_checking_imports_are_the_table() -> None:
    tree = ast.parse(INIT.read_text(encoding="utf-8"))
    block = next(n for n in tree.body if isinstance(n, ast.If))
    imported = {
        alias.name: (node.module or alias.name).lstrip(".")
        for node in ast.walk(block)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    imported = {k: ("panel" if v == "panel" else v) for k, v in imported.items()}
    assert imported == kling_nb._PUBLIC


def test_every_error_in_the_tree_is_exported_and_drawn() -> None:
    errors = {
        name
        for name, value in vars(_errors).items()
        if inspect.isclass(value) and issubclass(value, _errors.KlingError)
    }
    assert errors <= set(kling_nb.__all__)
    for name in errors:
        assert name in (_errors.__doc__ or ""), f"{name} is missing from the error tree"


def test_no_error_class_lives_outside_errors() -> None:
    package = Path(kling_nb.__file__).parent
    for path in sorted(package.rglob("*.py")):
        if path.name == "_errors.py" or "emulator" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                assert not any(b.startswith("Kling") and b.endswith("Error") for b in bases), (
                    f"{path.name}: {node.name} derives from a KlingError outside _errors.py"
                )


def test_what_a_user_reaches_on_public_classes_is_meant_to_be_public() -> None:
    accidental = {"send", "cache_output", "finish_edit", "cancel_as_error", "of", "from_output"}
    for name in ("Job", "EditResult"):
        public = {n for n in dir(getattr(kling_nb, name)) if not n.startswith("_")}
        assert not public & accidental, (name, public & accidental)


def test_private_modules_are_not_exported() -> None:
    assert not [n for n in kling_nb.__all__ if n.startswith("_") and n != "__version__"]
