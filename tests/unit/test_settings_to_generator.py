"""One way to read the settings (or fall back to the defaults) and one way to turn them
into a generator, used alike by the game's model worker, ``play --script`` and
``generate``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from textgamegen.config import Settings, settings_or_defaults
from textgamegen.narration.template import TemplateGenerator


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    monkeypatch.setenv("TEXTGAMEGEN_CONFIG", str(path))
    monkeypatch.setenv("TEXTGAMEGEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TEXTGAMEGEN_SAVES_DIR", str(tmp_path / "saves"))
    monkeypatch.setenv("TEXTGAMEGEN_MODELS_DIR", str(tmp_path / "models"))
    return path


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Settings, str | None]]:
    """Every call of the one settings -> generator function; it hands back templates."""
    from textgamegen.models import loader

    seen: list[tuple[Settings, str | None]] = []

    def load_from_settings(settings, model=None, progress=None):
        seen.append((settings, model))
        return TemplateGenerator()

    monkeypatch.setattr(loader, "load_from_settings", load_from_settings)
    return seen


def test_settings_or_defaults(config: Path) -> None:
    assert settings_or_defaults() == (Settings(), "")  # no file yet: the defaults, quietly
    config.write_text("threads = 2\n", encoding="utf-8")
    settings, notice = settings_or_defaults()
    assert settings.threads == 2 and notice == ""
    config.write_text("threads = \n", encoding="utf-8")
    settings, notice = settings_or_defaults()
    assert settings == Settings()
    assert notice.startswith("settings not read, using defaults") and str(config) in notice


def test_the_game_play_and_generate_load_through_one_function(
    config: Path, loads: list, capsys: pytest.CaptureFixture[str]
) -> None:
    from textgamegen.commands import generate, play
    from textgamegen.ui.app import load_generator_in_worker

    config.write_text('threads = 3\ndtype = "float32"\n', encoding="utf-8")
    settings, _ = settings_or_defaults()

    load_generator_in_worker("mine", "cpu", settings)
    play._generator("mine", "cpu")
    parser = argparse.ArgumentParser()
    generate.add_arguments(parser)
    args = parser.parse_args(["--model", "mine", "--device", "cpu", "-n", "2", "--json"])
    assert generate.run(args) == 0
    capsys.readouterr()

    assert [model for _, model in loads] == ["mine", "mine", "mine"]
    for used, _ in loads:
        assert used.device == "cpu" and used.threads == 3 and used.dtype == "float32"
    assert loads[2][0].sampling.num_candidates == 2  # generate's -n on top of the settings


def test_a_broken_settings_file_means_defaults_and_a_notice_everywhere(
    config: Path, loads: list, capsys: pytest.CaptureFixture[str]
) -> None:
    from textgamegen.commands import generate, play
    from textgamegen.ui.app import _launch_from_args

    config.write_text('device = "gpu"\n', encoding="utf-8")
    launch = _launch_from_args(argparse.Namespace(world=None, model=None, device=None))
    assert launch.settings == Settings()
    assert launch.notices and launch.notices[0].startswith("Settings not read, using defaults")

    play._generator("mine", None)
    assert "settings not read, using defaults" in capsys.readouterr().err

    parser = argparse.ArgumentParser()
    generate.add_arguments(parser)
    assert generate.run(parser.parse_args(["--model", "mine", "--json"])) == 0
    assert "settings not read, using defaults" in capsys.readouterr().err
    assert [used for used, _ in loads] == [Settings(), Settings()]
