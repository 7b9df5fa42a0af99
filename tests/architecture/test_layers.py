"""The structure drawn from the imports: no cycle, and each folder imports only the folders
below it.

From the bottom up: the shared helpers (``atomic``, ``checksum``, ``safe_text``, ``paths``,
``endpoint``); the ``engine`` and the ``config``; ``text``, the narrator's language;
``narration``, the narrators; ``models``, loading them; ``feedback`` and ``hosting``; ``play``,
one game with a narrator; and at the top the front ends, ``ui`` and ``commands``. ``training``
sits beside ``play``: it uses the model layers and never a front end or a game session.
"""

from __future__ import annotations

from collections import defaultdict

import pytest
from import_graph import REPO, Edge, cycles, edges, layer_of, module_edges, modules

BASE = {"textgamegen", "atomic", "checksum", "safe_text", "paths", "endpoint"}
ALLOWED: dict[str, set[str]] = {
    "atomic": {"safe_text"},
    "checksum": set(),
    "safe_text": set(),
    "paths": set(),
    "endpoint": set(),
    "engine": BASE,
    "config": BASE,
    "text": BASE | {"engine"},
    "narration": BASE | {"engine", "config", "text"},
    "models": BASE | {"engine", "config", "text", "narration"},
    "feedback": BASE | {"engine", "config", "models"},
    "hosting": BASE | {"engine", "config", "text", "narration", "models"},
    "play": BASE | {"engine", "config", "text", "narration", "feedback"},
    "training": BASE | {"engine", "config", "text", "narration", "models"},
    "ui": BASE | {"engine", "config", "text", "narration", "models", "feedback", "play"},
    "commands": BASE
    | {"engine", "config", "text", "narration", "models", "feedback", "hosting", "play", "ui"},
    "__main__": {"textgamegen", "commands", "training"},
}

EDGES = edges()


def test_the_graph_is_read() -> None:
    layers = {layer_of(edge.source) for edge in EDGES}
    assert {"engine", "text", "narration", "models", "play", "ui", "training"} <= layers
    # A lazy import (inside a function) is an edge too: the loader imports hf in a worker.
    assert any(
        edge.source == "textgamegen.models.loader"
        and edge.target == "textgamegen.models.hf"
        and not edge.at_import
        for edge in EDGES
    )


def import_time_graph(found: list[Edge]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in found:
        if edge.at_import:
            graph[edge.source].add(edge.target)
    return graph


def test_no_module_imports_itself_back_as_it_is_imported() -> None:
    assert cycles(import_time_graph(EDGES)) == []


def test_an_added_cycle_would_be_caught() -> None:
    # rerank imports canon as it is imported; canon importing rerank back closes a loop.
    back = Edge("textgamegen.text.canon", "textgamegen.narration.rerank", 1, True)
    found = cycles(import_time_graph([*EDGES, back]))
    assert any({back.source, back.target} <= set(group) for group in found)


def test_relative_and_type_only_imports_are_read() -> None:
    known = modules()
    text = (
        "from typing import TYPE_CHECKING\n"
        "from . import canon\n"
        "from ..narration.rerank import rerank\n"
        "if TYPE_CHECKING:\n"
        "    from textgamegen.play.session import PlaySession\n"
        "def later():\n"
        "    from textgamegen.models import loader\n"
    )
    path = REPO / "textgamegen" / "text" / "example.py"
    found = {
        (edge.target, edge.at_import)
        for edge in module_edges("textgamegen.text.example", path, text, known)
    }
    assert found == {
        ("textgamegen.text.canon", True),
        ("textgamegen.narration.rerank", True),
        ("textgamegen.play.session", False),
        ("textgamegen.models.loader", False),
    }


def test_no_cycle_between_folders_even_through_lazy_imports() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for edge in EDGES:
        source, target = layer_of(edge.source), layer_of(edge.target)
        if source != target and source not in ("__main__", "textgamegen"):
            graph[source].add(target)
    assert cycles(graph) == []


def _breaches() -> list[Edge]:
    found = []
    for edge in EDGES:
        source, target = layer_of(edge.source), layer_of(edge.target)
        if source != target and target not in ALLOWED.get(source, set()):
            found.append(edge)
    return found


def test_each_folder_imports_only_the_folders_below_it() -> None:
    assert set(ALLOWED) >= {layer_of(edge.source) for edge in EDGES} - {"textgamegen"}
    breaches = [f"{e.source}:{e.line} imports {e.target}" for e in _breaches()]
    assert breaches == []


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("textgamegen.text.canon", "textgamegen.narration.rerank"),
        ("textgamegen.engine.game", "textgamegen.play.narration_queue"),
        ("training.corpus", "textgamegen.ui.app"),
        ("training.corpus", "textgamegen.play.narration_queue"),
        ("textgamegen.narration.remote", "textgamegen.models.loader"),
    ],
)
def test_a_breach_would_be_caught(source: str, target: str) -> None:
    edge = Edge(source, target, 1, True)
    assert layer_of(target) not in ALLOWED[layer_of(source)], edge
