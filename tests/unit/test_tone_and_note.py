"""Steering the narrator: a world's ``tone`` and the player's ``note`` go into the facts
line of every request (and nowhere when neither is set), and the note is kept in saves."""

from __future__ import annotations

from pathlib import Path

import pytest

from textgamegen.config import Settings, SettingsError
from textgamegen.engine.content import ContentRequest
from textgamegen.engine.game import Game
from textgamegen.engine.saves import read_save, save_game
from textgamegen.engine.world import World, parse_world
from textgamegen.text import layout
from textgamegen.text.prompts import load_templates, request_facts, template_for

TONED = """
[world]
title = "Toned"
start = "hall"
tone = "wry and wintry,   short sentences"
[win]
room = "attic"
[rooms.hall]
name = "Hall"
exits = { up = "attic" }
[rooms.attic]
name = "Attic"
exits = { down = "hall" }
"""


def facts_line(request: ContentRequest) -> str:
    template = template_for(request, load_templates())
    every = request_facts(request)
    return layout.facts_line({key: every[key] for key in template.facts if every.get(key)})


def test_a_worlds_tone_is_a_fact_of_every_line() -> None:
    game = Game.new(parse_world(TONED, "toned"), seed=0, autosave=False)
    [request] = game.step("dance").requests
    assert request.tone == "wry and wintry, short sentences"
    assert "tone: wry and wintry, short sentences" in facts_line(request)


def test_the_players_note_joins_the_tone_and_takes_no_turn(shipped_world: World) -> None:
    tone = shipped_world.tone
    assert tone  # Lanternfall ships one
    game = Game.new(shipped_world, seed=0, autosave=False)
    [plain] = game.step("dance").requests
    assert plain.tone == tone and f"tone: {tone}" in facts_line(plain)
    result = game.step("note darker, more rain")
    assert result.events[0].text == "Noted for the narrator: darker, more rain"
    assert game.turn == 1 and result.requests == []
    [toned] = game.step("dance").requests
    assert toned.tone == f"{tone}; darker, more rain"
    assert f"tone: {tone}; darker, more rain" in facts_line(toned)
    assert "darker, more rain" in game.step("note").events[0].text
    game.step("note off")
    assert game.step("dance").requests[0].tone == tone


def test_a_world_with_no_tone_and_no_note_gives_no_tone_fact() -> None:
    world = parse_world(TONED.replace('tone = "wry and wintry,   short sentences"\n', ""), "plain")
    game = Game.new(world, seed=0, autosave=False)
    [plain] = game.step("dance").requests
    assert plain.tone == "" and "tone:" not in facts_line(plain)


def test_the_note_is_kept_in_the_save(shipped_world: World, tmp_path: Path) -> None:
    game = Game.new(shipped_world, seed=0, autosave=False)
    game.step("note \x1b[31mgentle\x1b[0m and slow")
    assert game.note == "gentle and slow"  # no escape reaches the model or a terminal
    save_game(game, "noted", tmp_path)
    loaded = Game.load("noted", tmp_path, world=shipped_world)
    assert loaded.note == "gentle and slow"
    assert read_save(tmp_path / "noted.json")["game"]["note"] == "gentle and slow"


def test_a_save_with_no_note_plays_without_one(shipped_world: World) -> None:
    game = Game.new(shipped_world, seed=0, autosave=False)
    assert "note" not in game.to_dict()
    assert Game.from_dict(game.to_dict(), shipped_world).note == ""


def test_a_note_that_is_not_text_is_a_clear_error(shipped_world: World) -> None:
    from textgamegen.engine.state import StateError

    data = Game.new(shipped_world, seed=0, autosave=False).to_dict()
    data["note"] = ["darker"]
    with pytest.raises(StateError, match="note must be text"):
        Game.from_dict(data, shipped_world)


def test_the_note_setting_is_one_short_line() -> None:
    assert Settings(note="darker").note == "darker"
    with pytest.raises(SettingsError, match="note must be one line"):
        Settings(note="dark\nand stormy")
    with pytest.raises(SettingsError, match="note must be one line"):
        Settings(note="x" * 201)


def test_every_fact_has_a_label_for_the_chat_prompt() -> None:
    # A chat server is given the facts as labelled lines: a toned world's every request
    # failed with a KeyError (and fell back to the template) when "tone" had no label.
    facts = {key: "x" for key in layout.FACT_KEYS}
    assert len(layout.fact_lines(facts)) == len(layout.FACT_KEYS)
    assert "how it should sound: wry" in layout.fact_lines({"tone": "wry"})
