"""A free-form command finds the room's own line however the player phrases it.

The worlds hold some two hundred hand-written attempts each, the best lines in the game
(a blind read scored every one of them 2). They were found only when typed with the same
words, articles aside, so "knock at the wall" or "touch the rock wall" went to the
narrator, which writes flatter lines and sometimes wrong ones.
"""

from __future__ import annotations

import pytest

from textgamegen.engine.actions import attempt_words
from textgamegen.engine.game import Game
from textgamegen.engine.world import load_world
from textgamegen.engine.worlds import find_world

WALNUT = "You knock on the walnut panel."


@pytest.mark.parametrize(
    "typed",
    ["knock on the wall", "knock at the wall", "knock wall", "Knock on your wall!", "knock walls"],
)
def test_phrasings_of_one_attempt_find_its_line(typed: str) -> None:
    game = Game.new(load_world(find_world("night_train")), seed=0, autosave=False)
    game.intro()
    result = game.step(typed)
    assert result.events[0].text.startswith(WALNUT), result.events
    assert not result.requests  # canon: the narrator is not asked


def test_what_changes_an_attempt_still_counts() -> None:
    assert attempt_words("look up") != attempt_words("look down")
    assert attempt_words("wipe brow with sleeve") != attempt_words("wipe brow")
    assert attempt_words("on") == ("on",)  # the verb is kept whatever it is
    assert attempt_words("hug the glass") == ("hug", "glass")  # "ss" is no plural
