"""Hostile save files (issue 11): each gets one clear SaveError naming the file, never a
traceback; one bad file never hides the others; stale temp files are cleaned; the in-game
``load`` stays inside the saves folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from textgamegen import atomic
from textgamegen.engine.game import Game
from textgamegen.engine.saves import (
    AUTOSAVE_NAME,
    SaveError,
    clean_saves_folder,
    list_saves,
    save_game,
)
from textgamegen.engine.world import World


def good_save(world: World, folder: Path, name: str = AUTOSAVE_NAME) -> dict:
    game = Game.new(world, seed=1)
    game.step("north")
    path = save_game(game, name, folder)
    return json.loads(path.read_text(encoding="utf-8"))


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def with_state(data: dict, **changes: object) -> str:
    data = json.loads(json.dumps(data))
    data["game"]["state"].update(changes)
    return json.dumps(data)


def hostile_files(base: dict) -> dict[str, str]:
    return {
        "deep-game": json.dumps(base).replace('"seed":', f'"deep": {deep(5000)}, "seed":', 1),
        "deep-top": deep(5000),
        "long-number": with_state(base).replace('"turn": 1', '"turn": ' + "9" * 5000, 1),
        "room-list": with_state(base, room=["hall"]),
        "room-dict": with_state(base, room={"a": "b"}),
        "won-text": with_state(base, won="no"),
        "turn-text": with_state(base, turn="1"),
        "flags-dict": with_state(base, flags={"a": 1}),
        "nan": with_state(base).replace('"turn": 1', '"turn": NaN', 1),
        "game-list": json.dumps({**base, "game": []}),
    }


@pytest.mark.parametrize(
    "name",
    [
        "deep-game",
        "deep-top",
        "long-number",
        "room-list",
        "room-dict",
        "won-text",
        "turn-text",
        "flags-dict",
        "nan",
        "game-list",
    ],
)
def test_a_hostile_save_gets_a_clear_error_naming_the_file(
    tiny_world: World, tmp_path: Path, name: str
) -> None:
    base = good_save(tiny_world, tmp_path / "ok")
    assert base["game"]["state"]["turn"] == 1
    path = tmp_path / f"{name}.json"
    path.write_text(hostile_files(base)[name], encoding="utf-8")
    with pytest.raises(SaveError) as raised:
        Game.load(str(path), tmp_path, world=tiny_world)
    assert str(path) in str(raised.value)


def test_won_must_be_true_or_false(tiny_world: World, tmp_path: Path) -> None:
    base = good_save(tiny_world, tmp_path)
    (tmp_path / "x.json").write_text(with_state(base, won="no"), encoding="utf-8")
    with pytest.raises(SaveError, match=r"game\.state\.won must be true or false"):
        Game.load("x", tmp_path, world=tiny_world)


def test_one_bad_file_never_hides_the_others(tiny_world: World, tmp_path: Path) -> None:
    base = good_save(tiny_world, tmp_path)
    for name, text in hostile_files(base).items():
        (tmp_path / f"{name}.json").write_text(text, encoding="utf-8")
    problems: list[str] = []
    saves = list_saves(tmp_path, problems)
    assert [info.name for info in saves] == [AUTOSAVE_NAME]
    assert len(problems) == len(hostile_files(base))
    # Each problem names its save as the Load list does, by name (never the folder's path).
    assert sorted(problem.split("'")[1] for problem in problems) == sorted(hostile_files(base))
    assert not any(str(tmp_path) in problem for problem in problems)


def test_a_deep_save_in_a_script_is_exit_2_not_a_traceback(
    tiny_world: World, tmp_path: Path
) -> None:
    (tmp_path / "deep.json").write_text(deep(5000), encoding="utf-8")
    script = tmp_path / "s.txt"
    script.write_text("look\n", encoding="utf-8")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "textgamegen",
            "play",
            "--script",
            str(script),
            "--load",
            str(tmp_path / "deep.json"),
            "--model",
            "template",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "deep.json" in done.stderr


def test_the_game_load_command_stays_in_the_saves_folder(tiny_world: World, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    good_save(tiny_world, outside, "outside")
    saves = tmp_path / "saves"
    good_save(tiny_world, saves, "inside")
    game = Game.new(tiny_world, seed=2, saves_dir=saves)
    for typed in (str(outside / "outside.json"), "../elsewhere/outside.json", "~/outside.json"):
        result = game.step(f"load {typed}")
        assert any("only saves in the saves folder" in e.text for e in result.events), typed
        assert game.turn == 0
    result = game.step("load inside")
    assert game.turn == 1, [e.text for e in result.events]
    # The command line may still name a file anywhere.
    assert Game.load(str(outside / "outside.json"), saves, world=tiny_world).turn == 1


def test_stale_temp_files_are_cleaned_at_start(tiny_world: World, tmp_path: Path) -> None:
    good_save(tiny_world, tmp_path)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    from_dead = tmp_path / f".autosave.json.{dead_pid}-abc123.tmp"
    from_me = tmp_path / f".autosave.json.{os.getpid()}-def456.tmp"
    old_style = tmp_path / ".autosave.json.k3j4h5ab.tmp"
    fresh_old_style = tmp_path / ".quick.json.zz9x8w7v.tmp"
    for path in (from_dead, from_me, old_style, fresh_old_style):
        path.write_text("{", encoding="utf-8")
    hour_ago = time.time() - 3600
    os.utime(old_style, (hour_ago, hour_ago))
    removed = clean_saves_folder(tmp_path)
    assert sorted(removed) == sorted([from_dead, old_style])
    assert from_me.exists() and fresh_old_style.exists()
    assert (tmp_path / "autosave.json").exists()


def test_temp_files_carry_the_writers_pid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str, dst: object) -> None:
        seen.append(Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", spy)
    atomic.write_atomic(tmp_path / "a.json", "{}")
    assert seen and seen[0].startswith(f".a.json.{os.getpid()}-")
