"""Candidate scoring: complete, mentions, novelty, length, mean log-probability, canon,
grounded."""

from __future__ import annotations

import math

import pytest

from textgamegen.config import SamplingSettings
from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.narration import rerank
from textgamegen.narration.generator import Candidate

WEIGHTS = {
    "complete": 1.0,
    "mentions": 1.0,
    "novelty": 1.0,
    "length": 0.5,
    "logprob": 1.0,
    "canon": 3.0,
    # The parts above are what these tests weigh; `grounded` has tests of its own
    # (test_unseen_things.py), and "a gull cries far away" is no fact of REQUEST's.
    "grounded": 0.0,
}
REQUEST = ContentRequest(
    ContentKind.ACTION,
    command="push the door",
    entities=("oak door", "brass lantern"),
    story=("The wind howls through the broken tower.",),
)


def scored(text: str, logprob: float = -2.0, tokens: int = 10, **sampling: int) -> Candidate:
    candidate = Candidate(text=text, mean_logprob=logprob, tokens=tokens)
    return rerank.score(candidate, REQUEST, SamplingSettings(**sampling), WEIGHTS)


def test_parts_and_weighted_sum() -> None:
    candidate = scored("You push the door and it swings wide into the dark.")
    assert candidate.scores == {
        "complete": 1.0,
        "mentions": 1.0,
        "novelty": 1.0,
        "length": 1.0,
        "logprob": round(math.exp(-2.0), 4),
        "canon": 1.0,  # an action's narration is not held to a room's exits
        "grounded": 1.0,  # the door is in the command; the dark is everywhere
    }
    assert candidate.score == pytest.approx(1 + 1 + 1 + 0.5 + math.exp(-2.0) + 3, abs=1e-3)


@pytest.mark.parametrize(
    ("better", "worse"),
    [
        ("You push the door and it opens.", "You push the door and it opens and"),
        ("The lantern flickers once and dies.", "Something flickers once and dies."),
        ("You push and a gull cries far away.", "The wind howls through the broken tower."),
        ("The door opens onto a dark stair.", "The door."),
        (
            "The door opens, and the wind comes in, and the lamp goes out.",
            "The door opens the door opens the door opens the door opens.",
        ),
    ],
)
def test_better_candidate_ranks_first(better: str, worse: str) -> None:
    ranked = rerank.rank([scored(worse), scored(better)])
    assert ranked[0].text == better


def test_higher_logprob_wins_a_tie() -> None:
    text = "The door swings open without a sound."
    ranked = rerank.rank([scored(text, -4.0), scored(text, -1.0)])
    assert ranked[0].mean_logprob == -1.0


def test_length_range() -> None:
    assert rerank.length_score(2, 4, 60) == 0.5
    assert rerank.length_score(120, 4, 60) == 0.5
    assert rerank.length_score(10, 4, 60) == 1.0
    assert rerank.length_score(0, 4, 60) == 0.0


def test_empty_scores_zero_and_ranks_last() -> None:
    empty = scored("")
    assert empty.score == 0.0
    assert rerank.rank([empty, scored("Door.")])[0].text == "Door."


def test_no_entities_means_nothing_to_miss() -> None:
    request = ContentRequest(ContentKind.ACTION, command="wait")
    assert rerank.mentions("Time passes.", request) == 1.0


def test_the_bare_opening_loses_to_a_continuation() -> None:
    opening = "You push open the door"
    bare = rerank.score(
        Candidate(text=opening + ".", mean_logprob=-0.5, tokens=1),
        REQUEST,
        SamplingSettings(),
        WEIGHTS,
        opening=opening,
    )
    added = rerank.score(
        Candidate(text=opening + " and the hinges groan in the dark.", mean_logprob=-2.0, tokens=9),
        REQUEST,
        SamplingSettings(),
        WEIGHTS,
        opening=opening,
    )
    assert bare.scores["length"] == 0.0
    assert rerank.rank([bare, added])[0] is added
