"""One game with a narrator: the loop that the TUI, scripts and benchmarks all play through.

``PlaySession.step`` runs a command through ``Game.step``, hands the result to the
feedback session, lets the front end show its events, and queues the prose it asks for on
the session's ``NarrationQueue``. When the queue settles a request (written, failed or
dropped), ``settle`` decides what the player reads and hands it back to the game by one
rule (see ``settle``). While nothing is queued, ``prefetch`` writes likely prose ahead into
the game's cache.

The game belongs to one thread; the queue narrates on others. So its reports are relayed
back to the game's thread before they are settled: the TUI posts them as messages and
calls ``settle`` from its handlers. Without a relay the session settles each report where
it arrives, which is right when each loop runs where it is started (``run_here``): a
script's ``step`` returns with its prose written and handed back.

Example (a script, as ``play --script`` runs it)::

    session = PlaySession(game, stream=False)
    session.use_generator(TemplateGenerator())
    session.take(game.intro())
    session.step("look")
    texts = [passage.text for passage in session.take_passages()]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textgamegen.engine.content import ContentRequest, StepResult
from textgamegen.engine.game import Game
from textgamegen.narration.generator import Generator, Narration
from textgamegen.play.feedback import FeedbackSession
from textgamegen.play.narration_queue import (
    NarrationCompleted,
    NarrationDropped,
    NarrationFailed,
    NarrationJob,
    NarrationQueue,
    Prefetched,
    Report,
    Settled,
    StartLoop,
    run_here,
)
from textgamegen.safe_text import strip_unsafe
from textgamegen.text.cleanup import is_complete


@dataclass
class Passage:
    """What one prose request finally put in front of the player.

    Attributes:
        report: the queue's final report for the request.
        text: what the player reads ("" shows nothing: authored text with no colour added).
        written: the narrator finished ``text`` itself: not a fallback, not cut short.
            Only such text is cached.
        fallback: ``text`` stands in for prose the narrator did not write (the TUI dims
            it).
    """

    report: Settled
    text: str
    written: bool
    fallback: bool

    @property
    def job(self) -> NarrationJob:
        return self.report.job

    @property
    def request(self) -> ContentRequest:
        return self.report.job.request

    @property
    def narration(self) -> Narration | None:
        """The narrator's result; None when it failed or the request was dropped."""
        return self.report.narration if isinstance(self.report, NarrationCompleted) else None

    @property
    def failure(self) -> str:
        """The class name of what the narrator raised ("" when it did not fail)."""
        return self.report.exception if isinstance(self.report, NarrationFailed) else ""


class PlaySession:
    """Play one game with a narrator.

    Args:
        game: the game, owned by the thread that calls the session.
        feedback: records steps and narrations (by default one that records nothing).
        stream: have the narrator stream its prose to a reader (the TUI). A script has
            no reader: the narrator writes every candidate and ranks them instead.
        start: runs the queue's loops (``run_here`` by default: on the caller's thread).
        relay: hears every queue report on the loops' threads and brings the final ones
            back to the game's thread, into ``settle`` and ``take_prefetched``. None: the
            session settles them where they arrive and keeps the passages for
            ``take_passages``.
        show: shows a step's events, before its prose is queued.
        place: makes the story's place for a request as it is queued (the TUI's
            placeholder paragraph, kept as ``NarrationJob.paragraph``).
    """

    def __init__(
        self,
        game: Game,
        *,
        feedback: FeedbackSession | None = None,
        stream: bool = True,
        start: StartLoop = run_here,
        relay: Callable[[Report], object] | None = None,
        show: Callable[[StepResult], object] | None = None,
        place: Callable[[ContentRequest], Any] | None = None,
    ) -> None:
        self.game = game
        self.feedback = feedback if feedback is not None else FeedbackSession(None, game.world.name)
        self._relay = relay
        self._show = show
        self._place = place
        self._queue = NarrationQueue(self._reported, start, stream=stream)
        self._unsettled: dict[int, NarrationJob] = {}
        self._passages: list[Passage] = []
        self.prefetched: list[str] = []
        """Cache keys filled by writing ahead, in order."""

    # -- the narrator ------------------------------------------------------------------

    @property
    def generator(self) -> Generator | None:
        return self._queue.generator

    def use_generator(self, generator: Generator | None) -> None:
        """Narrate with this generator from the next request on (None: hold the prose)."""
        if generator is not None:
            self.feedback.use_generator(generator)
        self._queue.use_generator(generator)

    # -- playing -----------------------------------------------------------------------

    def step(self, command: str) -> StepResult:
        """Run one command: step the game and take the result. Its prose comes before
        writing ahead, which then goes on only with what the game would still ask for
        (the line of a room no longer one step away is dropped)."""
        result = self.game.step(command)
        self.take(result)
        if self._queue.writes_ahead:
            self._queue.keep_ahead(self.game.prefetch_requests())
        return result

    def take(self, result: StepResult) -> list[NarrationJob]:
        """Take a step's result (or the opening's): record it, show its events, queue its
        prose. Returns the jobs queued."""
        self.feedback.stepped(result)
        if self._show is not None:
            self._show(result)
        jobs = []
        for request in result.requests:
            job = NarrationJob(request, self._place(request) if self._place else None)
            self._unsettled[job.id] = job  # before any report of it can arrive
            jobs.append(self._queue.submit(job))
        return jobs

    @property
    def narrating(self) -> bool:
        """True while any request waits, is written, or is not settled yet."""
        return bool(self._unsettled)

    def narrating_keys(self) -> set[str]:
        """Cache keys of the requests not settled yet."""
        return {key for job in self._unsettled.values() if (key := job.request.cache_key)}

    def cancel(self) -> bool:
        """Stop the prose being written and drop what is queued (Esc). Returns whether
        there was any; each still gets its final report."""
        return self._queue.cancel()

    def close(self) -> None:
        """Stop everything soon: the game is leaving."""
        self._queue.close()

    # -- handing prose back ------------------------------------------------------------

    def _reported(self, report: Report) -> None:
        if self._relay is not None:
            self._relay(report)
        elif isinstance(report, Prefetched):
            self.take_prefetched(report)
        elif isinstance(report, (NarrationCompleted, NarrationFailed, NarrationDropped)):
            self._passages.append(self.settle(report))

    def settle(self, report: Settled) -> Passage:
        """Decide what a settled request shows, and hand it back to the game.

        The one rule, for every front end: what the player was shown joins the story,
        which is the narrator's memory of what the player read, whatever it was. Only
        text the narrator finished fills the game's cache, which every revisit replays
        and the save keeps. So a fallback is never cached: not the engine's text after
        the narrator failed or the request was dropped, not the narrator's own template
        fallback (a model that gave nothing usable, a model server that was down), not a
        line cut short with Esc. Cached, it would stand in for that room or thing for the
        rest of the game; uncached, the next visit asks the narrator again, and it may
        well write it then.

        Returns:
            The passage, for the front end to show.
        """
        job = report.job
        self._unsettled.pop(job.id, None)
        request = job.request
        if isinstance(report, NarrationCompleted):
            narration = report.narration
            text = narration.text if narration.text.strip() else job.streamed
            if narration.cancelled and text.strip():
                # Esc after a full stop cuts nothing short: only a line stopped
                # mid-sentence gets the mark that more was coming.
                text = text.strip()
                if not is_complete(text):
                    text += " …"
            elif narration.cancelled:
                text = ""
            written = not narration.cancelled and not narration.fallback
            fallback = narration.fallback
        else:
            narration, text, written = None, "", False
            fallback = isinstance(report, NarrationFailed)
        shown = strip_unsafe(text.strip() or request.fallback)
        if written:
            # Even "": an authored text the narrator had no colour to add to is asked no more.
            self.game.fulfil(request, shown)
        elif shown:
            self.game.fulfil(request, shown, cache=False)
        if narration is not None:
            self.feedback.narrated(request, narration, shown)
        return Passage(report, shown, written, fallback)

    def take_passages(self) -> list[Passage]:
        """The passages the session settled itself (no relay) since the last call."""
        passages, self._passages = self._passages, []
        return passages

    # -- writing ahead -----------------------------------------------------------------

    @property
    def prefetching(self) -> bool:
        return self._queue.prefetching

    def prefetch(self) -> bool:
        """Write ahead what the game will likely ask for next (the rooms next door, the
        things in view), unless prose is being narrated; writing ahead already under
        way goes on with that. Returns whether it runs."""
        if self.narrating:
            return False
        return self._queue.prefetch(self.game.prefetch_requests())

    def cancel_prefetch(self) -> None:
        self._queue.cancel_prefetch()

    def take_prefetched(self, report: Prefetched) -> bool:
        """Keep prose written ahead in the game's cache, unless the slot is filled or the
        request is being narrated for the player (what they read is what gets cached).
        Returns whether it was kept."""
        key = report.request.cache_key
        if not key or key in self.game.cache or key in self.narrating_keys():
            return False
        self.game.fulfil(report.request, report.text, seen=False)
        self.prefetched.append(key)
        if report.narration is not None:
            self.feedback.written_ahead(report.request, report.narration, report.text)
        return True
