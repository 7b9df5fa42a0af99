"""Authored text is canon: the engine shows it, the model only adds to it.

Also: a free-form action that changes nothing is asked for as an attempt, rooms are
requested as rooms, quest talk is about the quest, and nothing is narrated after the win.
"""

from __future__ import annotations

from textgamegen.engine.content import ContentKind
from textgamegen.engine.game import Game
from textgamegen.engine.world import World
from textgamegen.narration.template import TemplateGenerator


def texts(result) -> list[str]:
    return [event.text for event in result.events]


def test_room_text_is_shown_by_the_engine_and_the_model_adds_colour(tiny_game: Game) -> None:
    result = tiny_game.step("look")
    room = tiny_game.world.rooms[tiny_game.state.room]
    assert room.text in texts(result)  # canon, whatever the generator does
    (request,) = [r for r in result.requests if r.cache_key == f"room:{room.key}"]
    assert request.kind is ContentKind.ROOM  # no longer requested as an item
    assert request.authored == room.text and request.fallback == ""
    assert room.text in request.story  # the colour line is conditioned on it


def test_a_colour_line_is_cached_and_nothing_to_add_is_remembered(tiny_game: Game) -> None:
    first = tiny_game.step("look")
    (request,) = first.requests
    tiny_game.fulfil(request, "")  # the template narrator adds nothing
    again = tiny_game.step("look")
    assert again.requests == []  # "" is cached: not asked again, and nothing shown twice
    assert texts(again).count(tiny_game.world.rooms[tiny_game.state.room].text) == 1


def test_npc_answers_are_canon_and_asking_twice_is_not_a_cached_repeat(tiny_game: Game) -> None:
    answer = '"The gem is in the box."'
    first = tiny_game.step("ask sage about gem")
    second = tiny_game.step("ask sage about gem")
    assert answer in texts(first) and answer in texts(second)
    assert [r.cache_key for r in first.requests] == [None]
    assert first.requests[0].seed != second.requests[0].seed


def test_unknown_topics_are_written_by_the_model(tiny_game: Game) -> None:
    result = tiny_game.step("ask sage about weather")
    (request,) = result.requests
    assert request.authored == "" and request.topic == "weather"


def test_free_form_action_is_an_attempt_about_what_is_really_here(tiny_game: Game) -> None:
    result = tiny_game.step("wave at the fleet")
    (request,) = result.requests
    assert request.attempt and request.kind is ContentKind.ACTION
    assert request.command == "wave at the fleet"
    assert "at fleet" not in request.entities and "fleet" not in " ".join(request.entities)
    assert "Old Sage" in request.entities  # the people here, then the things in view
    narration = TemplateGenerator().generate(request)
    assert narration.text.startswith("You try to wave at the fleet, but")


def test_quest_talk_is_about_the_quest_not_the_word_quest(tiny_game: Game) -> None:
    result = tiny_game.step("talk to sage")
    (quest,) = [r for r in result.requests if r.kind is ContentKind.QUEST]
    assert quest.topic == "Fetch the Gem"
    assert "Bring me the red gem." in texts(result)  # the quest's authored text is canon


def test_no_prose_follows_the_win(tiny_world: World) -> None:
    game = Game.new(tiny_world, seed=0)
    commands = [
        "talk to sage",
        "take iron key",
        "take brass key",
        "n",
        "unlock box with iron key",
        "open box",
        "take gem",
        "s",
        "give gem to sage",
        "unlock door with brass key",
        "e",
        "talk to guard",
        "take hammer",
        "w",
        "n",
        "use lever",
        "up",
        "use hammer on bell",
    ]
    result = None
    for command in commands:
        result = game.step(command)
        for request in result.requests:
            game.fulfil(request, TemplateGenerator().generate(request).text)
    assert result is not None and game.won
    # The winning move's own (authored) text is shown, and no prose is asked for after.
    assert result.requests == []
    kinds = [event.kind for event in result.events]
    assert kinds[-1] == "won"  # the win box is the last thing shown


def test_generate_keeps_the_topic_without_a_speaker() -> None:
    """`generate --kind dialogue|quest --prompt TOPIC` without --speaker used to drop it."""
    import argparse

    from textgamegen.commands.generate import add_arguments, build_request
    from textgamegen.text.prompts import build_prompt, load_templates

    parser = argparse.ArgumentParser()
    add_arguments(parser)

    class Words:
        def encode(self, text: str) -> list[int]:
            return list(range(len(text.split())))

        def decode(self, ids: list[int]) -> str:
            return ""

    for kind in ("dialogue", "quest"):
        request = build_request(parser.parse_args(["--kind", kind, "--prompt", "the storm"]))
        prompt = build_prompt(request, load_templates(), Words(), 1000)
        assert "about: the storm" in prompt.text, prompt.text
