"""The narration queue: which prose request the model writes next, and when it stops.

Prose requests are narrated one at a time, oldest first, by a loop on a thread; each
gets exactly one final report (completed, failed or dropped), whatever happens, so the
story never waits forever on a paragraph. While nothing is queued, a second loop may
write likely requests ahead of time (``prefetch``); a real request comes first: it stops
the line being written ahead within a token (kept, to be finished later), or takes that
line over when it asks for the very same one. One lock keeps the two from running the
model together.

Plain Python, no UI: its ``PlaySession`` gives it a ``report`` callback (called on the
loops' threads, and on the caller's for dropped requests) and a ``start`` hook that runs a
loop (the TUI uses Textual thread workers, tests plain threads, and a script runs each loop
where it is started, ``run_here``).

Example::

    queue = NarrationQueue(report=print)
    queue.use_generator(TemplateGenerator())
    queue.narrate(request)      # reports NarrationStarted, NarrationStreamed..., then
                                # NarrationCompleted (or NarrationFailed)
    queue.cancel()              # Esc: stop the running request, drop the queued ones
    queue.close()               # the game is leaving
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from itertools import count
from typing import Any

from textgamegen.engine.content import ContentRequest
from textgamegen.narration.generator import Generator, Narration

_job_ids = count(1)


@dataclass(eq=False)
class NarrationJob:
    """One prose request on its way to the story.

    Attributes:
        request: what the engine asked for.
        paragraph: where the story shows it (the queue never touches it).
        cancel: set to stop the generator early.
        streamed: the text the generator has streamed so far.
        id: a number for tests and logs.
    """

    request: ContentRequest
    paragraph: Any = None
    cancel: threading.Event = field(default_factory=threading.Event)
    streamed: str = ""
    id: int = field(default_factory=lambda: next(_job_ids))
    settled: bool = False
    """Its final report has been made (it gets one, and only one)."""
    ahead: str = ""
    """What of its line was written ahead before it was asked for: all of it, the start
    of it (the rest streams on), or "" (written for it alone)."""
    ready: Narration | None = None
    """Its line, written ahead in full: shown without asking the generator again."""


@dataclass
class NarrationStarted:
    """The generator has begun on a job."""

    job: NarrationJob


@dataclass
class NarrationStreamed:
    """More text of a job arrived (a word for templates, a token for a model)."""

    job: NarrationJob
    text: str


@dataclass
class NarrationCompleted:
    """A job is done (also when cancelled: ``narration.cancelled`` says so)."""

    job: NarrationJob
    narration: Narration


@dataclass
class NarrationFailed:
    """The generator raised, or the loop died, while on this job.

    Attributes:
        error: the message ("" messages give the exception's name).
        exception: the exception's class name.
    """

    job: NarrationJob
    error: str
    exception: str = ""


@dataclass
class NarrationDropped:
    """A queued job was cancelled before it started."""

    job: NarrationJob


@dataclass
class Prefetched:
    """Prose for a request was written ahead of time; nothing was shown.

    Attributes:
        narration: the generator's result (model, prompt, timings), recorded as feedback
            when the player is shown the text; None where nothing records it (tests).
    """

    request: ContentRequest
    text: str
    narration: Narration | None = None


Report = (
    NarrationStarted
    | NarrationStreamed
    | NarrationCompleted
    | NarrationFailed
    | NarrationDropped
    | Prefetched
)
Settled = NarrationCompleted | NarrationFailed | NarrationDropped
"""The final report of a job: each job gets exactly one."""
StartLoop = Callable[[Callable[[], None], str], object]
"""(loop, group) -> runs ``loop()``, usually on a thread; group is "narration" or
"prefetch"."""


def start_thread(loop: Callable[[], None], group: str) -> threading.Thread:
    """The plain way to run a loop: a daemon thread (the game uses Textual workers)."""
    thread = threading.Thread(target=loop, name=f"textgamegen-{group}", daemon=True)
    thread.start()
    return thread


def run_here(loop: Callable[[], None], group: str) -> None:
    """Run a loop at once on the caller's thread: ``narrate`` returns when the job is
    written (a script, a benchmark). Never prefetch with it: that would block too."""
    loop()


class NarrationQueue:
    """Narrate prose requests one at a time on a thread; write ahead while idle."""

    def __init__(
        self,
        report: Callable[[Report], object],
        start: StartLoop = start_thread,
        *,
        stream: bool = True,
    ):
        """Args:
        report: hears every report, on the loops' threads; it must be quick.
        start: runs a loop on a thread.
        stream: have the generator stream each job (``NarrationStreamed``). Without a
            reader it writes every candidate and ranks them instead (``play --script``).
        """
        self._report = report
        self._start = start
        self._stream = stream
        self._lock = threading.Lock()  # guards everything below
        self._generator: Generator | None = None
        self._pending: deque[NarrationJob] = deque()
        self._current: NarrationJob | None = None
        self._running = False  # a narration loop is started or running
        self._closed = False
        # Writing ahead (``prefetch``): the running loop, what it writes next, the line
        # it is writing, lines cut short by a player's request (by cache key, finished
        # later), and lines written in full that the game has not taken in yet.
        self._prefetch_loop: object | None = None
        self._ahead_list: list[ContentRequest] = []
        self._ahead: _Ahead | None = None
        self._begun: dict[str, str] = {}
        self._written: dict[str, Narration] = {}
        # Held around every generate() call: the model runs one request at a time.
        self._model = threading.Lock()

    # -- narration -----------------------------------------------------------------------

    @property
    def generator(self) -> Generator | None:
        return self._generator

    @property
    def busy(self) -> bool:
        """True while a job waits or is being written."""
        with self._lock:
            return bool(self._pending) or self._current is not None

    def jobs(self) -> list[NarrationJob]:
        """The job being written, then the queued ones."""
        with self._lock:
            return [job for job in (self._current, *self._pending) if job is not None]

    def narrate(self, request: ContentRequest, paragraph: Any = None) -> NarrationJob:
        """Queue a request; it is written as soon as a generator is free."""
        return self.submit(NarrationJob(request, paragraph))

    def submit(self, job: NarrationJob) -> NarrationJob:
        """Queue a job made by the caller (who may need to know it before any report).

        It comes before writing ahead: the line being written ahead stops within a
        token (and is kept, to be finished later), unless it is this job's own line,
        which the job takes over (``prefetch``)."""
        taken: _Ahead | None = None
        with self._lock:
            if self._closed:
                job.cancel.set()
            elif (taken := self._take_over(job)) is None:
                self._pending.append(job)
                self._pre_empt()
            due = self._loop_due()
        if taken is not None:
            taken.show(job)
        if due:
            self._start(self._narrate_all, "narration")
        return job

    def use_generator(self, generator: Generator | None) -> None:
        """Narrate with this generator from the next job on (None: hold the queue)."""
        self.cancel_prefetch()
        with self._lock:
            self._generator = generator
            due = self._loop_due()
        if due:
            self._start(self._narrate_all, "narration")

    def cancel(self) -> bool:
        """Stop the running job and drop the queued ones. Returns whether there were any."""
        with self._lock:
            dropped = list(self._pending)
            self._pending.clear()
            current = self._current
        for job in dropped:
            job.cancel.set()
            self._settle(NarrationDropped(job))
        if current is not None:
            current.cancel.set()
        return bool(dropped) or current is not None

    def close(self) -> None:
        """Stop everything soon (the game is leaving); nothing more is reported as done."""
        self.cancel_prefetch()
        with self._lock:
            self._closed = True
            jobs = [job for job in (self._current, *self._pending) if job is not None]
            self._pending.clear()
        for job in jobs:
            job.cancel.set()

    def _loop_due(self) -> bool:
        """Whether a narration loop must start now (call with the lock held)."""
        if self._closed or self._running or self._generator is None or not self._pending:
            return False
        self._running = True
        return True

    def _next_job(self) -> tuple[Generator, NarrationJob] | None:
        with self._lock:
            generator = self._generator
            if self._closed or generator is None or not self._pending:
                self._current = None
                self._running = False
                return None
            self._current = self._pending.popleft()
            return generator, self._current

    def _narrate_all(self) -> None:
        """The narration loop: write every queued job, oldest first."""
        job: NarrationJob | None = None
        try:
            while (next_job := self._next_job()) is not None:
                generator, job = next_job
                self._narrate_one(generator, job)
                job = None
        except BaseException as error:
            # The loop itself died (a report raised, ...): settle its job so nothing waits
            # forever, start a fresh loop for the rest, and let the thread's owner show it.
            with self._lock:
                self._current = None
                self._running = False
                due = self._loop_due()
            if job is not None and not job.settled:
                job.settled = True
                # If reporting fails too, the original fault is still the one worth raising.
                with contextlib.suppress(Exception):
                    name = type(error).__name__
                    self._report(NarrationFailed(job, str(error) or name, name))
            if due:
                self._start(self._narrate_all, "narration")
            raise

    def _narrate_one(self, generator: Generator, job: NarrationJob) -> None:
        self._report(NarrationStarted(job))
        if job.ready is not None:  # written ahead in full: shown whole
            job.streamed = job.ready.text
            self._report(NarrationStreamed(job, job.ready.text))
            self._settle(NarrationCompleted(job, job.ready))
            return

        def on_text(piece: str) -> None:
            if piece:
                job.streamed += piece
                self._report(NarrationStreamed(job, piece))

        try:
            # A prefetch holding the model was cancelled by narrate(); it lets go within
            # one token.
            with self._model:
                narration = generator.generate(
                    job.request, on_text=on_text if self._stream else None, cancel=job.cancel
                )
        except Exception as error:  # noqa: BLE001 - any backend fault fails this job only
            name = type(error).__name__
            self._settle(NarrationFailed(job, str(error) or name, name))
        else:
            self._settle(NarrationCompleted(job, narration))

    def _settle(self, report: Settled) -> None:
        report.job.settled = True
        self._report(report)

    # -- prefetch: prose written ahead while the player reads ----------------------------

    @property
    def prefetching(self) -> bool:
        """True from ``prefetch`` until its loop has nothing more to write or stops."""
        return self._prefetch_loop is not None

    def prefetch(self, requests: list[ContentRequest]) -> bool:
        """Write these requests ahead, in order, while nothing is narrated.

        Each line is written as the player's own are (one candidate, streamed), and each
        written in full is reported as ``Prefetched``. The player's own requests come
        first (``submit``): a line cut short by one is kept, and a later ``prefetch`` that
        still asks for it goes on from its words (``Generator.resumes``); the line the
        player asks for while it is being written is taken over and shown as it is
        finished. A prefetch while one runs gives it this list instead: the line being
        written goes on if the list still asks for it and is dropped if not. The template
        narrator is never prefetched: it writes instantly.

        Args:
            requests: what to write, most likely needed first.

        Returns:
            Whether writing ahead is running.
        """
        with self._lock:
            generator = self._generator
            if generator is None or not requests or self._closed:
                return False
            if self._pending or self._current is not None:
                return False
            if generator.backend == "template":
                return False
            self._keep_only(requests)
            if self._prefetch_loop is not None:
                return True
            loop = self._prefetch_loop = object()
        self._start(lambda: self._prefetch_all(generator, loop), "prefetch")
        return True

    @property
    def writes_ahead(self) -> bool:
        """Writing ahead runs, or keeps lines for later (cut short, or written in full and
        not yet taken in): ``keep_ahead`` has something to stop."""
        with self._lock:
            return self._prefetch_loop is not None or bool(self._begun or self._written)

    def keep_ahead(self, requests: list[ContentRequest]) -> None:
        """Write ahead only what these (what the game would ask for now) still hold: the
        line of a room no longer one step away, or of a thing out of view, is stopped and
        forgotten. Safe to call anytime."""
        with self._lock:
            self._keep_only(requests)

    def cancel_prefetch(self) -> None:
        """Stop writing ahead and forget what was cut short (the generator stops within a
        token; a line the player took over goes on). Safe to call anytime."""
        with self._lock:
            self._keep_only([])

    def _keep_only(self, requests: list[ContentRequest]) -> None:
        """Write ahead these from now on (call with the lock held)."""
        wanted = {request.cache_key for request in requests if request.cache_key}
        ahead = self._ahead
        if ahead is not None and ahead.job is None and ahead.request.cache_key not in wanted:
            ahead.stale = True
            ahead.cancel.set()
        # The line being written goes on, and is not written a second time (one stopping
        # for the player's request is finished later, from the list).
        going_on = ahead is not None and (ahead.job is not None or not ahead.cancel.is_set())
        writing = ahead.request.cache_key if ahead is not None and going_on else None
        self._ahead_list = [r for r in requests if r.cache_key and r.cache_key != writing]
        self._begun = {key: text for key, text in self._begun.items() if key in wanted}
        self._written = {key: done for key, done in self._written.items() if key in wanted}

    def _pre_empt(self) -> None:
        """The player's request comes first: stop the line being written ahead, keeping
        what it wrote (call with the lock held)."""
        ahead = self._ahead
        if ahead is not None and ahead.job is None:
            ahead.cancel.set()

    def _take_over(self, job: NarrationJob) -> _Ahead | None:
        """Serve a player's request from writing ahead where it is the same line (call
        with the lock held): a line written in full that the game has not taken yet is
        shown at once, in the job's turn; the line being written, when nothing else is
        queued, is shown so far and streams on to its end. Returns the line taken over."""
        key = job.request.cache_key
        if not key or job.cancel.is_set():
            return None
        job.ready = self._written.pop(key, None)
        if job.ready is not None:
            job.ahead = job.ready.text
            return None
        ahead = self._ahead
        if (
            ahead is None
            or ahead.job is not None
            or ahead.stale
            or ahead.cancel.is_set()
            or ahead.request.cache_key != key
            or self._pending
            or self._current is not None
        ):
            return None
        job.cancel = ahead.cancel  # Esc and close stop what writes the job's line
        job.ahead = ahead.text
        ahead.job = job
        self._current = job
        self._running = True
        return ahead

    def _prefetch_all(self, generator: Generator, loop: object) -> None:
        """The prefetch loop: write requests ahead until none is left or the player asks
        for something."""
        ahead: _Ahead | None = None
        try:
            while (ahead := self._next_ahead(generator, loop)) is not None:
                if not self._write_ahead(generator, ahead, loop):
                    break
                ahead = None
        except BaseException as error:
            # Reporting failed: a player's job that took the line over still gets its one
            # final report, and the thread's owner shows the fault.
            job = ahead.job if ahead is not None else None
            if job is not None and not job.settled:
                with contextlib.suppress(Exception):
                    name = type(error).__name__
                    self._settle(NarrationFailed(job, str(error) or name, name))
                self._after_taken_over()
            raise
        finally:
            with self._lock:
                if self._prefetch_loop is loop:
                    self._prefetch_loop = None
                if ahead is not None and self._ahead is ahead:
                    self._ahead = None

    def _next_ahead(self, generator: Generator, loop: object) -> _Ahead | None:
        with self._lock:
            if (
                self._closed
                or self._prefetch_loop is not loop
                or self._pending
                or self._current is not None
                or generator is not self._generator
                or not self._ahead_list
            ):
                return None
            request = self._ahead_list.pop(0)
            begun = self._begun.pop(request.cache_key or "", "") if generator.resumes else ""
            if begun:
                request = replace(request, begun=begun)
            self._ahead = _Ahead(request, text=begun, skip=begun, report=self._report)
            return self._ahead

    def _write_ahead(self, generator: Generator, ahead: _Ahead, loop: object) -> bool:
        """Write one line ahead; returns whether to go on with the next."""
        narration: Narration | None = None
        error: Exception | None = None
        with self._model:
            if not ahead.cancel.is_set():
                try:
                    narration = generator.generate(
                        ahead.request, on_text=ahead.take, cancel=ahead.cancel
                    )
                except Exception as raised:  # noqa: BLE001 - best effort while ahead; the
                    error = raised  # player's own request for it reports the fault
        written = (
            narration is not None
            and not narration.cancelled
            and not narration.fallback
            and bool(narration.text.strip())
        )
        key = ahead.request.cache_key or ""
        with self._lock:
            if self._ahead is ahead:
                self._ahead = None
            job = ahead.job
            if job is not None and self._prefetch_loop is loop:
                self._prefetch_loop = None  # this loop ends with the player's line
            elif ahead.stale:
                pass
            elif written and narration is not None:
                self._written[key] = narration  # until the game has it (``Prefetched``)
            elif (
                narration is not None
                and narration.cancelled
                and not narration.fallback
                and generator.resumes
                and (begun := whole_words(ahead.text))
            ):
                self._begun[key] = begun  # cut short by the player: finished later
        if job is not None:
            ahead.shown.wait()
            if narration is not None:
                self._settle(NarrationCompleted(job, narration))
            else:
                name = type(error).__name__ if error is not None else "Cancelled"
                self._settle(NarrationFailed(job, str(error or "") or name, name))
            self._after_taken_over()
            return False
        if written and not ahead.stale and narration is not None:
            self._report(Prefetched(ahead.request, narration.text, narration))
        return error is None

    def _after_taken_over(self) -> None:
        """A job that took a line over is settled: the queue goes on with the rest."""
        with self._lock:
            self._current = None
            self._running = False
            due = self._loop_due()
        if due:
            self._start(self._narrate_all, "narration")


def whole_words(text: str) -> str:
    """A line cut short, back to its last whole word: the narrator goes on from a word's
    end, never from inside one ("The gulls whe" -> "The gulls")."""
    text = text.rstrip()
    if not text or not text[-1].isalnum():
        return text
    cut = text.rfind(" ")
    return text[:cut].rstrip() if cut > 0 else ""


@dataclass(eq=False)
class _Ahead:
    """The line being written ahead now, and the player's job once it took it over.

    Attributes:
        request: what is written (with ``begun`` when it goes on from a line cut short).
        text: the line so far, ``begun`` included.
        skip: what the generator streams again first (``begun``), not new text.
        report: where a job that took it over hears of its text.
        job: the player's request that took it over: the rest streams to the player.
        stale: the game no longer asks for it (the player walked away): cut short, it is
            forgotten.
        shown: set once the job that took it over has been shown the text so far.
    """

    request: ContentRequest
    text: str = ""
    skip: str = ""
    report: Callable[[Report], object] | None = None
    job: NarrationJob | None = None
    stale: bool = False
    cancel: threading.Event = field(default_factory=threading.Event)
    shown: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, piece: str) -> None:
        """The generator's ``on_text``: keep the line so far, and stream it on to the
        player once they asked for it."""
        if self.skip:
            if self.skip.startswith(piece):
                self.skip = self.skip[len(piece) :]
                return
            piece, self.skip = piece.removeprefix(self.skip), ""
        if not piece:
            return
        with self.lock:
            self.text += piece
            job = self.job if self.shown.is_set() else None
            if job is not None and self.report is not None:
                job.streamed += piece
                self.report(NarrationStreamed(job, piece))

    def show(self, job: NarrationJob) -> None:
        """Show the job that took this line over what is written of it so far."""
        with self.lock:
            try:
                if self.report is not None:
                    self.report(NarrationStarted(job))
                    if self.text:
                        job.streamed = self.text
                        self.report(NarrationStreamed(job, self.text))
            finally:
                self.shown.set()  # the writing thread settles the job after this
