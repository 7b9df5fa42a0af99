"""``PlaySession``: the one rule by which prose goes back to the game, a table of every way a
request can end; and the two ways reports reach it (settled where they arrive, or relayed
to the game's thread first)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fakes import CountingGenerator, ScriptedGenerator

from textgamegen.engine.content import ContentKind, ContentRequest, StepResult
from textgamegen.engine.game import Game
from textgamegen.narration.generator import Narration
from textgamegen.play.narration_queue import (
    NarrationCompleted,
    NarrationDropped,
    NarrationFailed,
    NarrationJob,
    Prefetched,
    Report,
    Settled,
)
from textgamegen.play.session import PlaySession

HALL = ContentRequest(
    ContentKind.ROOM, subject="Great Hall", cache_key="room:hall", fallback="A bare hall."
)
AUTHORED = replace(HALL, fallback="", authored="The hall is bare.")


def completed(request: ContentRequest, text: str, streamed: str = "", **flags: bool) -> Settled:
    job = NarrationJob(request, streamed=streamed)
    return NarrationCompleted(job, Narration(request, text, **flags))


# (how it ended, what the player reads, what is cached, whether the story holds it)
RULE = [
    ("written", completed(HALL, "Torchlight."), "Torchlight.", "Torchlight.", True),
    # Reranking chose nothing, the streamed line stays.
    (
        "written, text streamed",
        completed(HALL, " ", "Torchlight."),
        "Torchlight.",
        "Torchlight.",
        True,
    ),
    ("narrator's fallback", completed(HALL, "Templates.", fallback=True), "Templates.", None, True),
    ("cut short", completed(HALL, "", "Torch", cancelled=True), "Torch …", None, True),
    # Cut between sentences: nothing is missing, so no mark says there was.
    (
        "cut after a full stop",
        completed(HALL, "", "Torchlight flickers. ", cancelled=True),
        "Torchlight flickers.",
        None,
        True,
    ),
    (
        "cut after a closed quote",
        completed(HALL, '"Mind the step!"', cancelled=True),
        '"Mind the step!"',
        None,
        True,
    ),
    ("cut at once", completed(HALL, "", cancelled=True), "A bare hall.", None, True),
    (
        "failed",
        NarrationFailed(NarrationJob(HALL), "boom", "RuntimeError"),
        "A bare hall.",
        None,
        True,
    ),
    ("dropped", NarrationDropped(NarrationJob(HALL)), "A bare hall.", None, True),
    # Nothing to add to the world's text: nothing shown, and it is asked no more.
    ("authored, nothing added", completed(AUTHORED, ""), "", "", False),
    ("authored, failed", NarrationFailed(NarrationJob(AUTHORED), "boom"), "", None, False),
]


@pytest.mark.parametrize(
    ("report", "shown", "cached", "in_story"),
    [case[1:] for case in RULE],
    ids=[case[0] for case in RULE],
)
def test_the_hand_back_rule(
    tiny_game: Game, report: Settled, shown: str, cached: str | None, in_story: bool
) -> None:
    passage = PlaySession(tiny_game).settle(report)
    assert passage.text == shown
    assert passage.written == (cached is not None)
    assert tiny_game.cache.get("room:hall") == cached
    assert (bool(shown) and tiny_game.story()[-1] == shown) == in_story


def test_a_retry_replaces_cached_text_only_with_written_text(tiny_game: Game) -> None:
    session = PlaySession(tiny_game)
    tiny_game.intro()  # asks for the hall's text
    session.settle(completed(HALL, "First."))
    tiny_game.retry_requests()  # the hall's text may be replaced now
    session.settle(NarrationFailed(NarrationJob(HALL), "boom"))
    assert tiny_game.cache["room:hall"] == "First."
    session.settle(completed(HALL, "Second."))
    assert tiny_game.cache["room:hall"] == "Second."


def test_without_a_relay_each_step_returns_with_its_prose_handed_back(tiny_game: Game) -> None:
    generator = ScriptedGenerator()
    session = PlaySession(tiny_game, stream=False)
    session.use_generator(generator)
    session.take(tiny_game.intro())
    result = session.step("examine statue")
    assert result.requests and not session.narrating
    passages = session.take_passages()
    assert [p.request for p in passages] == [*generator.calls]
    assert all(p.written and p.text == p.narration.text for p in passages if p.narration)
    assert session.take_passages() == []


def test_with_a_relay_nothing_is_handed_back_until_it_is_settled(tiny_game: Game) -> None:
    relayed: list[Report] = []
    session = PlaySession(tiny_game, relay=relayed.append, place=lambda request: "paragraph")
    session.use_generator(ScriptedGenerator())
    (job,) = session.take(tiny_game.step("examine statue"))
    assert job.paragraph == "paragraph"
    assert session.narrating and session.narrating_keys() == {job.request.cache_key}
    final = relayed[-1]
    assert isinstance(final, NarrationCompleted) and job.request.cache_key not in tiny_game.cache
    session.settle(final)
    assert not session.narrating and job.request.cache_key in tiny_game.cache
    assert session.take_passages() == []  # the front end had the passage from settle


def test_text_written_ahead_fills_only_an_empty_slot_nobody_is_narrating(
    tiny_game: Game,
) -> None:
    session = PlaySession(tiny_game, relay=lambda report: None)
    session.use_generator(CountingGenerator())
    assert session.take_prefetched(Prefetched(HALL, "Ahead."))
    assert not session.take_prefetched(Prefetched(HALL, "Again."))  # the slot is filled
    study = replace(HALL, cache_key="room:study")
    session.take(StepResult("", requests=[study]))
    assert not session.take_prefetched(Prefetched(study, "Ahead."))  # the player's comes first
    assert session.prefetched == ["room:hall"]
    assert tiny_game.cache["room:hall"] == "Ahead." and "Ahead." not in tiny_game.story()
