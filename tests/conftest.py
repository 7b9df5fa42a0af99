"""Shared fixtures: the shipped world, a tiny test world, fresh games, a throwaway saves dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from textgamegen.engine.game import Game
from textgamegen.engine.world import World, load_world
from textgamegen.engine.worlds import DEFAULT_WORLD, find_world

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent


@pytest.fixture(autouse=True)
def _isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests never read or write the real player's saves, settings or models."""
    home = tmp_path_factory.mktemp("user")
    monkeypatch.setenv("TEXTGAMEGEN_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("TEXTGAMEGEN_SAVES_DIR", str(home / "saves"))
    monkeypatch.setenv("TEXTGAMEGEN_CONFIG", str(home / "config.toml"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def shipped_world() -> World:
    return load_world(find_world(DEFAULT_WORLD))


@pytest.fixture(scope="session")
def tiny_world() -> World:
    return load_world(FIXTURES / "worlds" / "tiny.toml")


@pytest.fixture
def tiny_game(tiny_world: World) -> Game:
    return Game.new(tiny_world, seed=0)
