"""Score candidates so the best of several samples is shown.

Each part is between 0 and 1 and the score is their weighted sum (weights from the
``[rerank]`` table of prompts.toml): a complete sentence, mentioning what the text is
about, not repeating the recent story (or itself), a length in range, the model's own
mean token probability, not contradicting the game (``canon``: no false exit, no
absent person, thing or place, no name from the training books, no other speaker), and
naming only things that something on screen gives (``grounded``). Pure Python.
"""

from __future__ import annotations

import math
import re

from textgamegen.config import SamplingSettings
from textgamegen.engine.content import ContentRequest
from textgamegen.narration.generator import Candidate
from textgamegen.text.canon import Cast, contradictions, is_seen, known_words, noun_phrases
from textgamegen.text.cleanup import is_complete

_WORD = re.compile(r"[\w'’-]+")
_STOPWORDS = {"the", "a", "an", "of", "some", "to", "in", "on", "and"}


def words(text: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(text)]


def _trigrams(tokens: list[str]) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)]


def mentions(text: str, request: ContentRequest) -> float:
    """1.0 when the text names the subject or an entity (or there is nothing to name)."""
    names = [name for name in (request.subject, *request.entities) if name.strip()]
    if not names:
        return 1.0
    said = set(words(text))
    for name in names:
        # The head noun is enough: "the lantern" mentions "brass lantern".
        keys = [word for word in words(name) if word not in _STOPWORDS]
        if keys and keys[-1] in said:
            return 1.0
    return 0.0


def novelty(text: str, recent: list[str]) -> float:
    """1 minus the share of the text's word trigrams already in the recent story or in
    the text itself (GPT-2 loops)."""
    grams = _trigrams(words(text))
    if not grams:
        return 1.0
    seen: set[tuple[str, ...]] = set()
    for line in recent:
        seen.update(_trigrams(words(line)))
    repeated = sum(1 for gram in grams if gram in seen)
    self_repeats = len(grams) - len(set(grams))
    return max(0.0, 1.0 - (repeated + self_repeats) / len(grams))


def grounded(text: str, request: ContentRequest) -> float:
    """1 minus the share of the things the text names that nothing on screen gives
    (``canon.unseen_things``); 1.0 when it names none."""
    phrases = noun_phrases(text)
    if not phrases:
        return 1.0
    known = known_words(request)
    return 1.0 - sum(not is_seen(phrase.split(), known) for phrase in phrases) / len(phrases)


def length_score(count: int, min_words: int, max_words: int) -> float:
    if count == 0:
        return 0.0
    if count < min_words:
        return count / min_words
    if count > max_words:
        return max_words / count
    return 1.0


def score(
    candidate: Candidate,
    request: ContentRequest,
    sampling: SamplingSettings,
    weights: dict[str, float],
    recent: list[str] | None = None,
    opening: str = "",
    cast: Cast | None = None,
) -> Candidate:
    """Fill in ``candidate.scores`` and ``candidate.score``; an empty text scores 0.

    Args:
        candidate: a cleaned candidate with its ``mean_logprob``.
        request: what was asked (subject, entities, story).
        sampling: the length range (``min_words``, ``max_words``).
        weights: a weight per part name.
        recent: text the candidate should not repeat (default: the request's story).
        opening: the words the prompt put in the model's mouth; only what the model added
            counts for length, so "You push open the door." alone does not win.
        cast: the narrator's cast list, for ``canon.contradictions``.

    Returns:
        The same candidate, scored.
    """
    text = candidate.text
    if not text:
        candidate.scores = {part: 0.0 for part in weights}
        candidate.score = 0.0
        return candidate
    recent = list(request.story) if recent is None else recent
    added = text[len(opening) :] if opening and text.startswith(opening) else text
    parts = {
        "complete": 1.0 if is_complete(text) else 0.0,
        "mentions": mentions(text, request),
        "novelty": novelty(text, recent),
        "length": length_score(
            len(words(text)) - len(words(opening)), sampling.min_words, sampling.max_words
        ),
        "logprob": math.exp(candidate.mean_logprob) if candidate.tokens else 0.0,
        "canon": 0.0 if contradictions(added, request, cast) else 1.0,
        "grounded": grounded(added, request),
    }
    candidate.scores = {name: round(value, 4) for name, value in parts.items()}
    candidate.score = round(sum(weights.get(name, 1.0) * value for name, value in parts.items()), 4)
    return candidate


def rank(candidates: list[Candidate]) -> list[Candidate]:
    """Best first, empty texts last; ties keep sampling order, so the streamed candidate
    wins a tie."""
    return sorted(candidates, key=lambda candidate: (not candidate.text, -candidate.score))
