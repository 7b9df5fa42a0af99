"""Game.prefetch_requests: what is written ahead while the player reads, and how the
step that needs it then finds it in the cache."""

from __future__ import annotations

from dataclasses import replace

import pytest

from textgamegen.engine.content import ContentKind
from textgamegen.engine.game import Game
from textgamegen.engine.world import World


def keys(game: Game) -> list[str]:
    return [request.cache_key or "" for request in game.prefetch_requests()]


def test_open_exits_first_then_items_then_people(tiny_game: Game) -> None:
    # The vault door is locked, so only the study is one step away.
    assert keys(tiny_game) == [
        "room:study",
        "item:brass_key",
        "item:iron_key",
        "item:statue",
        "npc:sage",
    ]


def test_rooms_not_visited_yet_come_first(tiny_game: Game) -> None:
    # The study was seen (and its text not kept: a fallback); the vault never was.
    for command in ("north", "south", "take brass key", "unlock vault door"):
        tiny_game.step(command)
    assert keys(tiny_game)[:2] == ["room:vault", "room:study"]


def test_every_request_is_keyed_seeded_and_an_item_description(tiny_game: Game) -> None:
    requests = tiny_game.prefetch_requests()
    assert all(request.kind in (ContentKind.ITEM, ContentKind.ROOM) for request in requests)
    assert all(request.fallback or request.authored for request in requests)
    seeds = [request.seed for request in requests]
    assert len(set(seeds)) == len(seeds)
    # The same game state asks for the same things with the same seeds.
    assert tiny_game.prefetch_requests() == requests


def test_cached_keys_and_the_limit(tiny_game: Game) -> None:
    tiny_game.cache["room:study"] = "A study, written earlier."
    tiny_game.cache["item:statue"] = "A statue, written earlier."
    assert keys(tiny_game) == ["item:brass_key", "item:iron_key", "npc:sage"]
    assert len(tiny_game.prefetch_requests(limit=2)) == 2


def test_prefetching_changes_nothing_in_the_game(tiny_game: Game) -> None:
    before = tiny_game.to_dict()
    for request in tiny_game.prefetch_requests():
        tiny_game.fulfil(request, f"Written ahead: {request.subject}.", seen=False)
    after = tiny_game.to_dict()
    assert after["state"] == before["state"]  # the story holds only what was shown
    assert set(after["cache"]) == {
        "room:study",
        "item:brass_key",
        "item:iron_key",
        "item:statue",
        "npc:sage",
    }
    assert tiny_game.prefetch_requests() == []


def test_unseen_text_never_replaces_cached_text(tiny_game: Game) -> None:
    request = tiny_game.prefetch_requests()[0]
    tiny_game.cache["room:study"] = "Shown first."
    tiny_game.fulfil(request, "Written ahead.", seen=False)
    tiny_game.fulfil(replace(request, cache_key="room:vault"), "   ", seen=False)
    assert tiny_game.cache["room:study"] == "Shown first."
    assert "room:vault" not in tiny_game.cache


@pytest.mark.parametrize(
    ("setup", "command", "key"),
    [
        ([], "north", "room:study"),
        ([], "examine brass key", "item:brass_key"),
        ([], "examine sage", "npc:sage"),
        (["north"], "south", "room:hall"),
        (["take brass key", "unlock vault door"], "east", "room:vault"),
    ],
)
def test_the_step_shows_prefetched_prose_from_the_cache(
    tiny_world: World, setup: list[str], command: str, key: str
) -> None:
    game = Game.new(tiny_world, seed=3)
    for line in setup:
        game.step(line)
    ahead = {request.cache_key: request for request in game.prefetch_requests()}
    assert key in ahead
    game.fulfil(ahead[key], f"Written ahead for {key}.", seen=False)
    result = game.step(command)
    assert [r.cache_key for r in result.requests if r.cache_key == key] == []
    assert ("prose", f"Written ahead for {key}.") in [(e.kind, e.text) for e in result.events]
    assert f"Written ahead for {key}." in game.story()


@pytest.mark.parametrize(
    ("setup", "command", "key"),
    [
        ([], "north", "room:study"),
        ([], "examine statue", "item:statue"),
        ([], "examine sage", "npc:sage"),
    ],
)
def test_prefetch_asks_for_what_the_step_would_ask(
    tiny_world: World, setup: list[str], command: str, key: str
) -> None:
    """Subject, entities, fallback and persona match the step's own request."""
    game = Game.new(tiny_world, seed=3)
    ahead = {request.cache_key: request for request in game.prefetch_requests()}[key]
    asked = next(r for r in game.step(command).requests if r.cache_key == key)
    for name in ("kind", "subject", "entities", "fallback", "persona", "room"):
        assert getattr(ahead, name) == getattr(asked, name), name


def test_scripted_runs_stay_identical_with_prefetching_unused(tiny_world: World) -> None:
    """Asking what to prefetch must not move seeds or state: two runs, one that asks."""
    from textgamegen.narration.template import TemplateGenerator

    def run(ask: bool) -> list[str]:
        game, generator, lines = Game.new(tiny_world, seed=5), TemplateGenerator(), []
        for command in ("look", "north", "take note", "south", "examine statue"):
            if ask:
                game.prefetch_requests()
            result = game.step(command)
            lines += [event.text for event in result.events]
            for request in result.requests:
                text = generator.generate(request).text
                game.fulfil(request, text)
                lines.append(text)
        return lines

    assert run(ask=True) == run(ask=False)


@pytest.mark.parametrize(
    ("setup", "key"),
    [
        ([], "room:study"),
        ([], "item:statue"),
        ([], "item:brass_key"),
        ([], "npc:sage"),
        (["north"], "room:hall"),
        (["take brass key", "unlock vault door"], "room:vault"),
    ],
)
def test_the_prefetched_request_is_the_steps_request(
    tiny_world: World, setup: list[str], key: str
) -> None:
    """Both come from one builder (``engine/descriptions.py``): the step run with the
    prefetched request's command asks for an equal request, but for the seed and the
    story, which say when the text was asked for, not what it is."""
    game = Game.new(tiny_world, seed=3)
    for line in setup:
        game.step(line)
    ahead = {request.cache_key: request for request in game.prefetch_requests()}[key]
    asked = next(r for r in game.step(ahead.command).requests if r.cache_key == key)
    assert ahead.command.startswith(("go ", "examine "))
    assert replace(ahead, seed=0, story=()) == replace(asked, seed=0, story=())
