"""The narration queue: which prose request the model writes next, and when it stops.

Prose requests are narrated one at a time, oldest first, by a loop on a thread; each
gets exactly one final report (completed, failed or dropped), whatever happens, so the
story never waits forever on a paragraph. While nothing is queued, a second loop may
write likely requests ahead of time (``prefetch``); any real request cancels it at once.
One lock keeps the two from running the model together.

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
from dataclasses import dataclass, field
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
        self._prefetch_cancel: threading.Event | None = None
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
        """Queue a job made by the caller (who may need to know it before any report)."""
        self.cancel_prefetch()
        with self._lock:
            if self._closed:
                job.cancel.set()
            else:
                self._pending.append(job)
            due = self._loop_due()
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
        """True from ``prefetch`` until its loop finishes or is cancelled."""
        return self._prefetch_cancel is not None

    def prefetch(self, requests: list[ContentRequest]) -> bool:
        """Write these requests ahead, in order, while nothing is narrated.

        Each request written in full is reported as ``Prefetched``; a failure or a cancel
        ends the prefetch quietly. The template narrator is never prefetched: it writes
        instantly.

        Args:
            requests: what to write, most likely needed first.

        Returns:
            Whether a prefetch started.
        """
        cancel = threading.Event()
        with self._lock:
            generator = self._generator
            if generator is None or not requests or self._closed:
                return False
            if self._pending or self._current is not None:
                return False
            if generator.backend == "template":
                return False
            old, self._prefetch_cancel = self._prefetch_cancel, cancel
        if old is not None:
            old.set()
        requests = list(requests)
        self._start(lambda: self._prefetch_all(generator, requests, cancel), "prefetch")
        return True

    def cancel_prefetch(self) -> None:
        """Stop writing ahead (the generator stops within a token); safe to call anytime."""
        with self._lock:
            cancel, self._prefetch_cancel = self._prefetch_cancel, None
        if cancel is not None:
            cancel.set()

    def _prefetch_all(
        self, generator: Generator, requests: list[ContentRequest], cancel: threading.Event
    ) -> None:
        """The prefetch loop: write requests ahead until done or cancelled."""
        try:
            for request in requests:
                with self._model:
                    if cancel.is_set():
                        return
                    try:
                        narration = generator.generate(request, cancel=cancel)
                    except Exception:  # noqa: BLE001 - writing ahead is best effort; a real
                        return  # narration of the same request reports the fault
                if cancel.is_set() or narration.cancelled or narration.fallback:
                    return
                if narration.text.strip():
                    self._report(Prefetched(request, narration.text, narration))
        finally:
            with self._lock:
                if self._prefetch_cancel is cancel:
                    self._prefetch_cancel = None
