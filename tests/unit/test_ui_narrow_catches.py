"""The UI catches only the faults it expects (an unreadable folder), so a bug in pure
code shows up instead of silently becoming "no autosave" or "no models"."""

from __future__ import annotations

from pathlib import Path

import pytest

from textgamegen.config import Settings


class Bug(Exception):
    """Stands for a programming error in code the UI calls."""


def _app(tmp_path: Path):
    from textgamegen.engine.world import load_world
    from textgamegen.engine.worlds import DEFAULT_WORLD, find_world
    from textgamegen.ui.app import Launch, TextGameGenApp

    world = load_world(find_world(DEFAULT_WORLD))
    return TextGameGenApp(Launch(world, Settings(), tmp_path / "saves"))


def test_an_unreadable_saves_folder_means_no_autosave_but_a_bug_surfaces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textgamegen.engine import saves

    app = _app(tmp_path)

    def unreadable(_folder: Path, _world: str | None = None) -> None:
        raise PermissionError("no")

    monkeypatch.setattr(saves, "latest_autosave", unreadable)
    assert app._has_autosave() is False

    def broken(_folder: Path, _world: str | None = None) -> None:
        raise Bug("latest_autosave is broken")

    monkeypatch.setattr(saves, "latest_autosave", broken)
    with pytest.raises(Bug):
        app._has_autosave()


def test_an_unreadable_models_folder_leaves_the_template_but_a_bug_surfaces(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from textgamegen.models import registry
    from textgamegen.ui.screens.settings import model_choices

    def unreadable() -> list:
        raise PermissionError("no")

    monkeypatch.setattr(registry, "list_models", unreadable)
    assert [value for _, value in model_choices("template")] == ["template"]

    def broken() -> list:
        raise Bug("list_models is broken")

    monkeypatch.setattr(registry, "list_models", broken)
    with pytest.raises(Bug):
        model_choices("template")
