"""``play`` of a world that cannot be won says so before the game (issue 25): headless on
stderr, in the terminal UI on the title screen and at the start of the first game."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from textgamegen.__main__ import main
from textgamegen.engine.solvability import unwinnable_warning
from textgamegen.engine.world import load_world

UNWINNABLE = """
[world]
title = "Locked Out"
start = "yard"

[win]
room = "vault"

[rooms.yard]
name = "Yard"
exits = { in = { to = "vault", locked = true, key = "key" } }

[rooms.vault]
name = "Vault"
exits = { out = "yard" }

[items.key]
name = "key"
location = "vault"
"""


@pytest.fixture
def locked_out(tmp_path: Path) -> Path:
    path = tmp_path / "locked_out.toml"
    path.write_text(UNWINNABLE, encoding="utf-8")
    return path


def test_play_headless_warns_that_the_world_cannot_be_won(
    locked_out: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "script.txt"
    script.write_text("look\n", encoding="utf-8")
    code = main(
        ["play", "--world", str(locked_out), "--script", str(script), "--model", "template"]
    )
    assert code == 0  # a warning, not a refusal: the world can still be explored
    err = capsys.readouterr().err
    assert "textgamegen: Warning: world 'locked_out' cannot be won: [win] room: room 'vault'" in err
    assert "'textgamegen worlds --check locked_out' says why." in err
    assert str(tmp_path) not in err.split("says why.")[0], "named, not by the host's path"


def test_play_headless_of_a_winnable_world_says_nothing_of_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "script.txt"
    script.write_text("look\n", encoding="utf-8")
    assert main(["play", "--script", str(script), "--model", "template"]) == 0
    assert "cannot be won" not in capsys.readouterr().err


def test_the_terminal_ui_tells_the_player_before_the_game(locked_out: Path) -> None:
    from textgamegen.ui.app import _launch_from_args

    launch = _launch_from_args(argparse.Namespace(world=str(locked_out)))
    assert launch.notices == [unwinnable_warning(load_world(locked_out))]
    assert launch.notices[0].startswith("Warning: world 'locked_out' cannot be won")
    assert _launch_from_args(argparse.Namespace(world="lanternfall")).notices == []
