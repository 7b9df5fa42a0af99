"""The import graph of textgamegen/ and training/, read from the source with ``ast``.

An import at module level (outside ``if TYPE_CHECKING:``) runs when the module is imported,
so those edges are the ones that can form a cycle. An import inside a function runs later,
but it is still a dependency, so the layer contracts count every import.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("textgamegen", "training")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    at_import: bool
    """True when the import runs as the module is imported (module level, not type-only)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    # "from textgamegen.text import canon" names a module; "from x.y import func" names x.y.
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _absolute(node: ast.ImportFrom, source: str, path: Path) -> str:
    """The module a ``from`` import names, a relative one (``from .x import y``) included."""
    if node.level == 0:
        return node.module or ""
    # A package's __init__ is its own package; a module's package is its parent.
    package = source if path.name == "__init__.py" else source.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def module_edges(source: str, path: Path, text: str, known: dict[str, Path]) -> list[Edge]:
    """The imports of one module (named ``source``, read from ``text``) that land in
    ``known``."""
    found: list[Edge] = []

    def visit(node: ast.AST, at_import: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, False)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for part in child.body:
                    visit(ast.Module(body=[part], type_ignores=[]), False)
                for part in child.orelse:
                    visit(ast.Module(body=[part], type_ignores=[]), at_import)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                names: list[str] = []
                if isinstance(child, ast.Import):
                    names = [alias.name for alias in child.names]
                else:
                    base = _absolute(child, source, path)
                    names = [f"{base}.{alias.name}" for alias in child.names]
                for name in names:
                    target = _resolve(name, known)
                    if target and target != source:
                        found.append(Edge(source, target, child.lineno, at_import))
            else:
                visit(child, at_import)

    visit(ast.parse(text, str(path)), True)
    return found


def edges() -> list[Edge]:
    known = modules()
    found: list[Edge] = []
    for source, path in known.items():
        found += module_edges(source, path, path.read_text(encoding="utf-8"), known)
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), as sorted lists."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return groups


def layer_of(module: str) -> str:
    """The folder a module belongs to: ``textgamegen.narration.remote`` -> ``narration``."""
    parts = module.split(".")
    if parts[0] == "training":
        return "training"
    return parts[1] if len(parts) > 1 else "textgamegen"
