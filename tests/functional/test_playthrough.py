"""Scripted playthroughs: the shipped walkthrough wins, transcripts repeat byte for byte,
failed expectations are reported with their line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from textgamegen.engine.game import Game
from textgamegen.engine.world import World
from textgamegen.narration.generator import Generator
from textgamegen.narration.template import TemplateGenerator
from textgamegen.play.script import ScriptError, check, run_script

WALKTHROUGH = Path(__file__).parent / "walkthrough.txt"


def test_walkthrough_wins_the_shipped_world(shipped_world: World) -> None:
    game = Game.new(shipped_world, seed=0, autosave=False)
    report = run_script(WALKTHROUGH, game, TemplateGenerator())
    assert report.ok, "\n".join(str(f) for f in report.failures)
    assert report.won and game.won
    assert report.checked >= 40
    assert all(state == "done" for _, state in game.quest_log())


@pytest.mark.parametrize("seed", [0, 11])
def test_same_seed_same_transcript(shipped_world: World, seed: int) -> None:
    def transcript() -> tuple[str, str]:
        game = Game.new(shipped_world, seed=seed, autosave=False)
        report = run_script(WALKTHROUGH, game, TemplateGenerator())
        return report.as_text(), report.as_jsonl()

    first, second = transcript(), transcript()
    assert first[0].encode() == second[0].encode()
    assert first[1].encode() == second[1].encode()


def test_different_seeds_change_the_prose(shipped_world: World) -> None:
    texts = set()
    for seed in (1, 2, 3):
        report = run_script(
            WALKTHROUGH, Game.new(shipped_world, seed=seed, autosave=False), TemplateGenerator()
        )
        texts.add(report.as_text())
    assert len(texts) > 1


def test_transcript_formats(shipped_world: World) -> None:
    report = run_script(WALKTHROUGH, Game.new(shipped_world, autosave=False), TemplateGenerator())
    text = report.as_text()
    assert text.startswith("The storm is still")
    assert "\n> open crate\nYou open the fish crate, revealing a copper coin.\n" in text
    rows = [json.loads(line) for line in report.as_jsonl().splitlines()]
    assert rows[0]["line"] == 0 and rows[-1]["won"] is True
    take = next(row for row in rows if row["command"] == "take the copper coin")
    assert take["events"] == [{"kind": "text", "text": "You take the copper coin."}]
    looked = next(row for row in rows if row["command"] == "west")
    assert looked["prose"][0]["cache_key"] == "room:seawall"


def test_failures_name_the_line_and_the_actual_state(tiny_world: World, tmp_path: Path) -> None:
    script = tmp_path / "script.txt"
    script.write_text(
        "# a comment\n\n? room Great Hall\nn\n? room Great Hall\n? has red gem\n"
        '? quest "Fetch the Gem" done\n? output contains "vault"\n? won\n? turn 5\n'
        "? lacks tin cup\n",
        encoding="utf-8",
    )
    report = run_script(script, Game.new(tiny_world), TemplateGenerator())
    assert not report.ok
    lines = [(f.line, f.expectation) for f in report.failures]
    assert lines == [
        (5, "room Great Hall"),
        (6, "has red gem"),
        (7, 'quest "Fetch the Gem" done'),
        (8, 'output contains "vault"'),
        (9, "won"),
        (10, "turn 5"),
        (11, "lacks tin cup"),
    ]
    actual = {f.line: f.actual for f in report.failures}
    assert actual[5] == "the room is 'Study' (study)"
    assert actual[6] == "the player carries: tin cup"
    assert actual[7] == "quest 'Fetch the Gem' is not started"
    assert actual[10] == "the turn is 1"
    assert "line 5: expected 'room Great Hall', but the room is 'Study'" in str(report.failures[0])


CHECKS = [
    ("room study", None),
    ("room STUDY", None),
    ("room 'Study'", None),
    ("here note", None),
    ("here red gem", "here: wooden box, note, lever"),
    ("turn 1", None),
    ("turn 2", "the turn is 1"),
    ("not won", None),
    ('quest fetch "not started"', None),
    ('quest "Fetch the Gem" finished', "quest state must be one of"),
    ('quest "No Such" done', "there is no quest"),
    ('output contains "Study', "quotes do not match"),
    ('output lacks "Study"', "the output was"),
    ("flag bell_rung", "flags set: []"),
    ("", "the expectation is empty"),
]


@pytest.mark.parametrize(("expectation", "problem"), CHECKS)
def test_expectation_table(tiny_world: World, expectation: str, problem: str | None) -> None:
    game = Game.new(tiny_world)
    result = game.step("n")
    output = [event.text for event in result.events]
    actual = check(game, expectation, output)
    if problem is None:
        assert actual is None
    else:
        assert actual is not None and problem in actual


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("? frobnicate", "unknown expectation"),
        ("? has", "write: ? has NAME"),
        ('? quest "Fetch the Gem" finished', "quest state must be one of"),
        ('? output contains "vault', "the expectation's quotes do not match"),
        ("? output has vault", 'write: ? output contains "TEXT"'),
        ("? turn one", "write: ? turn N"),
        ("? won now", "unknown expectation"),
    ],
)
def test_a_malformed_expectation_stops_the_script_before_turn_one(
    tiny_world: World, tmp_path: Path, line: str, problem: str
) -> None:
    script = tmp_path / "script.txt"
    script.write_text(f"n\n? room study\n\n{line}\nn\n", encoding="utf-8")
    game = Game.new(tiny_world)
    with pytest.raises(ScriptError) as raised:
        run_script(script, game, TemplateGenerator())
    assert f"script.txt:line 4: {problem}" in str(raised.value)
    assert repr(line) in str(raised.value), "the message quotes the line"
    assert game.turn == 0 and game.room().key == "hall", "no command was played"


def test_quit_ends_the_script(tiny_world: World, tmp_path: Path) -> None:
    script = tmp_path / "quit.txt"
    script.write_text("n\nquit\ns\n? room study\n", encoding="utf-8")
    report = run_script(script, Game.new(tiny_world), TemplateGenerator())
    assert [entry.command for entry in report.transcript] == ["", "n", "quit"]
    assert report.ok and report.checked == 0


def test_unreadable_script(tiny_world: World, tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ScriptError, match=r"bad.txt: cannot read"):
        run_script(bad, Game.new(tiny_world), TemplateGenerator())


def test_a_failing_generator_falls_back_to_engine_text(tiny_world: World, tmp_path: Path) -> None:
    class Broken(Generator):
        name = backend = "broken"

        def generate(self, request, on_text=None, cancel=None):
            raise RuntimeError("out of memory")

    script = tmp_path / "s.txt"
    script.write_text('look\n? output contains "bare hall"\n', encoding="utf-8")
    report = run_script(script, Game.new(tiny_world), Broken())
    assert report.ok
