"""One game's feedback: step results and finished narrations in, recorder calls out.

The engine stays pure: ``rate good``, ``retry`` and ``undo`` only leave a mark in
``StepResult.changes`` ("rate:good", "retry", "undo"). The ``PlaySession`` hands every step
result to ``stepped`` and every finished narration to ``narrated``; this class works out
which recorded narration each signal is about:

- ``rate good|bad`` rates the last passage shown: a narration when it is settled, and
  prose replayed from the cache when a step shows it (``StepResult.replayed``). Prose written
  ahead (prefetched) is recorded only then, when the player first reads it; before, it was
  never recorded, and a rating went to an older passage ("bad" turned an earlier line bad);
- a scripted run (``play --script``) marks its records ``scripted``, so an export leaves
  them out of what players said;
- ``retry`` marks the passages it rewrites: its requests are the last command's again,
  with new seeds, so they are matched to recorded narrations by everything but the seed;
- ``undo`` marks every passage written for a turn that was taken back;
- a narration stopped with Esc is recorded as cancelled.
"""

from __future__ import annotations

import uuid

from textgamegen.engine.content import ContentRequest, StepResult
from textgamegen.feedback.recorder import Recorder
from textgamegen.narration.generator import Generator, Narration


class FeedbackSession:
    """Feedback for one game.

    Args:
        recorder: where records go; None records nothing (recording is off).
        world: the world's name, recorded with each narration.
        scripted: a script plays, not a player: its records are marked so.
        player: who plays, for a host with many players (``serve`` tags each browser
            session: "web-1f2e3d4c5b6a"); the records' session is then "PLAYER/GAME".
    """

    def __init__(
        self, recorder: Recorder | None, world: str = "", scripted: bool = False, player: str = ""
    ) -> None:
        self.recorder = recorder
        self.world = world
        self.scripted = scripted
        game = uuid.uuid4().hex[:12]
        self.id = f"{player}/{game}" if player else game
        self._turn_of: dict[int, int] = {}
        self._by_turn: list[tuple[int, str]] = []
        self._by_request: dict[tuple[object, ...], str] = {}
        self.last_id: str | None = None
        """The last passage shown, as recorded (what ``rate`` rates); None when that
        passage has no record (replayed from a save made in another game)."""
        self._model_paths: dict[str, str] = {}
        self._by_key: dict[str, str] = {}
        """Cache key -> the record of the prose the cache holds for it."""
        self._ahead: dict[str, tuple[ContentRequest, Narration, str]] = {}
        """Cache key -> prose written ahead and cached, not yet shown (nor recorded)."""

    def written_ahead(self, request: ContentRequest, narration: Narration, text: str) -> None:
        """Keep prose written ahead (and cached) until a step shows it: it is recorded then."""
        if self.recorder is not None and request.cache_key:
            self._ahead[request.cache_key] = (request, narration, text)

    def use_generator(self, generator: Generator) -> None:
        """Note a generator's model directory, so its narrations carry its weights' hash."""
        if generator.name and generator.path:
            self._model_paths[generator.name] = str(generator.path)

    def stepped(self, result: StepResult) -> None:
        """Take one step's result: its signals, and the turn its prose belongs to."""
        recorder = self.recorder
        if recorder is None:
            return
        for change in result.changes:
            if change.startswith("rate:") and self.last_id is not None:
                recorder.rate(self.last_id, change.partition(":")[2])
            elif change == "retry":
                for request in result.requests:
                    narration_id = self._by_request.get(_request_key(request))
                    if narration_id is not None:
                        recorder.signal(narration_id, "retried")
            elif change == "undo":
                kept = []
                for turn, narration_id in self._by_turn:
                    if turn > result.turn:
                        recorder.signal(narration_id, "undone")
                    else:
                        kept.append((turn, narration_id))
                self._by_turn = kept
        for key in result.replayed:
            ahead = self._ahead.pop(key, None)
            if ahead is not None:
                self.narrated(*ahead, turn=result.turn)
            else:
                self.last_id = self._by_key.get(key)
        for request in result.requests:
            self._turn_of[id(request)] = result.turn

    def narrated(
        self, request: ContentRequest, narration: Narration, shown: str, *, turn: int | None = None
    ) -> str | None:
        """Record a finished narration and what was shown.

        Returns:
            The record's id, or None when recording is off.
        """
        recorder = self.recorder
        if recorder is None:
            return None
        if turn is None:
            turn = self._turn_of.pop(id(request), 0)
        else:
            self._turn_of.pop(id(request), None)
        candidates = narration.candidates
        model = narration.model or "unknown"
        narration_id = recorder.narration(
            model=model,
            model_path=self._model_paths.get(model),
            backend=narration.backend,
            kind=request.kind.value,
            prompt=narration.prompt,
            text=shown,
            first_token_ms=narration.timings.first_token_ms,
            total_ms=narration.timings.total_ms,
            tokens=candidates[0].tokens if candidates else None,
            fallback=narration.fallback,
            cancelled=narration.cancelled,
            session=self.id,
            world=self.world,
            turn=turn,
            scripted=self.scripted,
        )
        if request.cache_key:
            self._by_key[request.cache_key] = narration_id
        self._by_request[_request_key(request)] = narration_id
        self._by_turn.append((turn, narration_id))
        self.last_id = narration_id
        return narration_id


def _request_key(request: ContentRequest) -> tuple[object, ...]:
    """A request without its seed and story: what a retry of it has in common with it."""
    return (
        request.kind,
        request.subject,
        request.room,
        request.command,
        request.cache_key,
        request.speaker,
        request.topic,
    )
