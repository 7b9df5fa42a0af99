"""Headless output is cleaned at the boundary: no escape or control character from a world
or a script reaches stdout, stderr or a transcript (issue 11, terminal safety)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from textgamegen.__main__ import main
from textgamegen.engine.world import load_world

TINY = Path(__file__).parents[1] / "fixtures" / "worlds" / "tiny.toml"
# TOML escapes for: clear screen, set window title, NUL, BEL, 8-bit CSI, right-to-left override.
HOSTILE = r"\u001b[2J\u001b]0;pwned\u0007\u0000\u0007\u009b31m\u202e"
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]")


def hostile_world(tmp_path: Path) -> Path:
    text = TINY.read_text(encoding="utf-8")
    text = text.replace('title = "Tiny Keep"', f'title = "Tiny{HOSTILE} Keep"')
    text = text.replace('intro = "A tiny test world."', f'intro = "A tiny{HOSTILE} world."')
    text = text.replace('name = "Great Hall"', f'name = "Great{HOSTILE} Hall"')
    text = text.replace('name = "brass key"', f'name = "brass{HOSTILE} key"')
    text = text.replace('text = "A bare hall with a statue."', f'text = "A bare{HOSTILE} hall."')
    path = tmp_path / "hostile.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_world_text_is_cleaned_when_loaded(tmp_path: Path) -> None:
    world = load_world(hostile_world(tmp_path))
    for text in (
        world.title,
        world.intro,
        world.rooms["hall"].name,
        world.rooms["hall"].text,
        world.items["brass_key"].name,
    ):
        assert not UNSAFE.search(text), repr(text)
    assert world.rooms["hall"].name == "Great Hall"


@pytest.mark.parametrize("as_json", [False, True])
def test_script_output_and_transcript_are_clean_and_stable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    world = hostile_world(tmp_path)
    script = tmp_path / "script.txt"
    script.write_text(
        "look\nx statue\x1b[2J\x07\x9b1m\u202e\ntake key\x1b]0;title\x07\n? room Great\x1b[2J\n",
        encoding="utf-8",
    )
    outputs = []
    for run in range(2):
        out = tmp_path / f"t{run}.txt"
        args = [
            "play",
            "--script",
            str(script),
            "--world",
            str(world),
            "--model",
            "template",
            "--transcript",
            str(out),
            "--saves-dir",
            str(tmp_path / "s"),
        ]
        main(args + (["--json"] if as_json else []))
        outputs.append(out.read_bytes())
        captured = capsys.readouterr()
        assert not UNSAFE.search(captured.err), repr(captured.err)
    assert outputs[0] == outputs[1], "the same script gives the same bytes"
    text = outputs[0].decode("utf-8")
    assert not UNSAFE.search(text), repr(text)
    assert "\\u001b" not in text and "\\u0007" not in text, "JSON must not carry them escaped"
    assert "Great Hall" in text

    main(
        [
            "play",
            "--script",
            str(script),
            "--world",
            str(world),
            "--model",
            "template",
            "--saves-dir",
            str(tmp_path / "s"),
        ]
        + (["--json"] if as_json else [])
    )
    captured = capsys.readouterr()
    assert "Great Hall" in captured.out
    assert not UNSAFE.search(captured.out + captured.err), repr(captured.out)


@pytest.mark.parametrize("device", ["tpu", "gpu"])
def test_unknown_device_is_refused_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], device: str
) -> None:
    script = tmp_path / "s.txt"
    script.write_text("look\n", encoding="utf-8")
    with pytest.raises(SystemExit) as stopped:
        main(["play", "--script", str(script), "--device", device, "--model", "template"])
    assert stopped.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
