"""The play and worlds commands, in process (fast) and once as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from textgamegen.__main__ import main

WALKTHROUGH = Path(__file__).parent / "walkthrough.txt"
TINY = Path(__file__).parents[1] / "fixtures" / "worlds" / "tiny.toml"
REPO = Path(__file__).parents[2]


def test_walkthrough_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.txt"
    code = main(
        [
            "play",
            "--script",
            str(WALKTHROUGH),
            "--model",
            "template",
            "--transcript",
            str(out),
            "--saves-dir",
            str(tmp_path / "saves"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert "You have won" in out.read_text(encoding="utf-8")
    assert "0 failed" in capsys.readouterr().err
    assert not (tmp_path / "saves").exists(), "scripted runs never autosave"


def test_json_transcript_is_byte_identical_for_a_seed(tmp_path: Path) -> None:
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for path in paths:
        assert (
            main(
                [
                    "play",
                    "--script",
                    str(WALKTHROUGH),
                    "--model",
                    "template",
                    "--json",
                    "--seed",
                    "9",
                    "--transcript",
                    str(path),
                ]
            )
            == 0
        )
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert all(json.loads(line) for line in paths[0].read_text(encoding="utf-8").splitlines())


def test_seed_one_twice_gives_the_same_bytes_and_a_script_is_pinned(tmp_path: Path) -> None:
    def transcript(name: str, *seed: str) -> bytes:
        path = tmp_path / name
        args = ["play", "--script", str(WALKTHROUGH), "--model", "template", *seed]
        assert main([*args, "--transcript", str(path)]) == 0
        return path.read_bytes()

    first, second = transcript("a.txt", "--seed", "1"), transcript("b.txt", "--seed", "1")
    assert first == second
    assert b"Story seed: 1." in first, "the journal names the story's seed"
    # A script without --seed is pinned too (to seed 0), so it repeats as it is.
    assert transcript("c.txt") == transcript("d.txt", "--seed", "0")


def test_failed_expectation_exits_one_with_line_and_state(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "fail.txt"
    script.write_text("n\n? room Great Hall\n", encoding="utf-8")
    code = main(["play", "--script", str(script), "--world", str(TINY), "--model", "template"])
    err = capsys.readouterr().err
    assert code == 1
    assert "fail.txt:line 2: expected 'room Great Hall', but the room is 'Study' (study)" in err


def test_a_malformed_expectation_exits_two_before_turn_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "bad.txt"
    script.write_text("n\n? room study\n? quest Fetch\n", encoding="utf-8")
    out = tmp_path / "t.txt"
    code = main(
        [
            "play",
            "--script",
            str(script),
            "--world",
            str(TINY),
            "--model",
            "template",
            "--transcript",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "bad.txt:line 3: write: ? quest \"TITLE\" done: '? quest Fetch'" in err
    assert not out.exists(), "nothing was played, so no transcript is written"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--world", "atlantis"], "no world by that name"),
        (["--world", "/no/such.toml"], "no such world file"),
        (["--load", "ghost"], "no such save"),
    ],
)
def test_bad_input_exits_two_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    script = tmp_path / "s.txt"
    script.write_text("look\n", encoding="utf-8")
    code = main(
        [
            "play",
            "--script",
            str(script),
            "--model",
            "template",
            "--saves-dir",
            str(tmp_path),
            *args,
        ]
    )
    assert code == 2
    assert message in capsys.readouterr().err


def test_missing_script_exits_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["play", "--script", str(tmp_path / "none.txt"), "--model", "template"]) == 2
    assert "cannot read the script" in capsys.readouterr().err


def test_play_from_a_save(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = tmp_path / "s.txt"
    script.write_text("? room Market Square\n? has willow tincture\n", encoding="utf-8")
    save = REPO / "saves" / "lanternfall-midgame.json"
    assert main(["play", "--script", str(script), "--load", str(save), "--model", "template"]) == 0


def test_unloadable_model_falls_back_to_templates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "s.txt"
    script.write_text("look\n", encoding="utf-8")
    code = main(
        [
            "play",
            "--script",
            str(script),
            "--world",
            str(TINY),
            "--model",
            str(tmp_path / "no-model"),
        ]
    )
    assert code == 0
    assert "using the template generator" in capsys.readouterr().err


def test_worlds_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worlds"]) == 0
    assert "lanternfall" in capsys.readouterr().out
    assert main(["worlds", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["lanternfall"]["default"] is True
    assert [name for name, row in rows.items() if row["default"]] == ["lanternfall"]


def test_help_documents_the_script_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["play", "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--script",
        "--transcript",
        "--json",
        "--seed",
        "--world",
        "--model",
        "--device",
        "--saves-dir",
        "--load",
        "? quest",
    ):
        assert flag in out


def test_walkthrough_runs_from_outside_the_checkout(tmp_path: Path) -> None:
    """As .ci/run does: another working directory, the module entry point."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "textgamegen",
            "play",
            "--script",
            str(WALKTHROUGH),
            "--model",
            "template",
        ],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "You have won" in done.stdout
