"""The public API: every exported name resolves, and type checkers see each one with its type."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import grader


@pytest.mark.parametrize("name", grader.__all__)
def test_every_exported_name_resolves(name: str) -> None:
    assert getattr(grader, name) is not None


def test_type_checkers_see_the_names_the_runtime_exports() -> None:
    tree = ast.parse(Path(grader.__file__).read_text())
    checking = next(node for node in tree.body if isinstance(node, ast.If))
    seen = {
        (node.module, alias.name)
        for node in checking.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    exported = {(importlib.import_module(grader._PUBLIC[n]).__name__, n) for n in grader._PUBLIC}
    assert seen == exported


def test_the_package_ships_its_types() -> None:
    assert (Path(grader.__file__).parent / "py.typed").is_file()
