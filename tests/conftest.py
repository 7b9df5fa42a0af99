"""Shared fixtures: the player's folders kept in the test's own, the shipped world, a tiny
test world, fresh games. The fake generators are in ``fakes.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

from textgamegen.engine.game import Game
from textgamegen.engine.world import World, load_world
from textgamegen.engine.worlds import DEFAULT_WORLD, find_world

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent


@pytest.fixture(autouse=True)
def player_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Tests never read or write the real player's saves, settings or models.

    Every test gets its own player folder, returned here: ``saves/``, ``config.toml``,
    ``data/`` and ``models/`` (the user's registered models) under ``tmp_path``. The hub is
    offline, so nothing is downloaded.
    """
    monkeypatch.setenv("TEXTGAMEGEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TEXTGAMEGEN_SAVES_DIR", str(tmp_path / "saves"))
    monkeypatch.setenv("TEXTGAMEGEN_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("TEXTGAMEGEN_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


@pytest.fixture(scope="session")
def shipped_world() -> World:
    return load_world(find_world(DEFAULT_WORLD))


@pytest.fixture(scope="session")
def tiny_world() -> World:
    return load_world(FIXTURES / "worlds" / "tiny.toml")


@pytest.fixture
def tiny_game(tiny_world: World) -> Game:
    return Game.new(tiny_world, seed=0)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Name the test order even under -q (which hides pytest-randomly's header line), so a
    failure that depends on it can be run again in the same order."""
    seed = getattr(config.option, "randomly_seed", None)
    if isinstance(seed, int):
        terminalreporter.write_line(f"tests ran in random order: --randomly-seed={seed}")
