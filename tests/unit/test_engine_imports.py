"""The engine's modules import each other without a cycle.

Before, ``actions``, ``game`` and ``saves`` imported each other at run time, and eight
imports inside functions dodged the cycle. Now a module that needs ``Game`` only for its
annotations imports it under ``TYPE_CHECKING``; these tests keep it that way.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ENGINE = REPO / "textgamegen" / "engine"
MODULES = sorted(path.stem for path in ENGINE.glob("*.py") if path.stem != "__init__")


def run_time_imports(path: Path) -> tuple[set[str], list[str]]:
    """The engine modules a file imports when it runs (``TYPE_CHECKING`` blocks left out),
    and the imports it makes inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    local: list[str] = []

    def engine_module(node: ast.ImportFrom) -> str | None:
        name = node.module or ""
        return name.split(".")[2] if name.startswith("textgamegen.engine.") else None

    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.ImportFrom) and (module := engine_module(inner)):
                found.add(module)
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            local += [
                f"{path.name}:{inner.lineno} {ast.unparse(inner)}"
                for inner in ast.walk(node)
                if isinstance(inner, (ast.Import, ast.ImportFrom))
            ]
    return found, local


def test_no_import_cycle_and_no_imports_inside_functions() -> None:
    graph: dict[str, set[str]] = {}
    local: list[str] = []
    for name in MODULES:
        graph[name], inside = run_time_imports(ENGINE / f"{name}.py")
        local += inside
    assert local == [], "an import inside a function hides a cycle or a slow import"

    def cycle_from(start: str, path: list[str]) -> list[str] | None:
        for nxt in sorted(graph.get(path[-1], ())):
            if nxt == start:
                return [*path, nxt]
            if nxt not in path and (found := cycle_from(start, [*path, nxt])):
                return found
        return None

    cycles = [cycle for name in MODULES if (cycle := cycle_from(name, [name]))]
    assert cycles == [], " -> ".join(cycles[0]) if cycles else ""


@pytest.mark.parametrize("module", MODULES)
def test_each_engine_module_imports_alone(module: str) -> None:
    """In a fresh interpreter, so no earlier import can hide an order-dependent cycle."""
    done = subprocess.run(
        [sys.executable, "-c", f"import textgamegen.engine.{module}"],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
