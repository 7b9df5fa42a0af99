"""The story log: the player's commands, the engine's text, and prose as it streams in.

The log also owns the narration queue. Each prose request gets its paragraph at once (a
dim placeholder), so the story stays in the order things happened even while the model
is still loading or busy; a thread worker then narrates the queue one request at a time
and streams the words into those paragraphs.

While nothing is queued, a second, idle worker may write prose ahead of time
(``prefetch``): it never touches the log and only reports ``Prefetched`` text, and any
narration cancels it at once. One lock keeps the two from running the model together.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from itertools import count

from rich.text import Text
from textual import on, work
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, WorkerState, get_current_worker

from textgamegen.engine.content import ContentRequest, Event
from textgamegen.generation.base import Generator, Narration
from textgamegen.safe_text import strip_unsafe

MAX_PARAGRAPHS = 400
"""Older paragraphs are dropped so a long game never slows the screen down."""

_job_ids = count(1)


class Paragraph(Static):
    """One block of the story; its CSS class says what it is (command, room, prose...)."""

    def __init__(self, text: str, kind: str) -> None:
        super().__init__(Text(strip_unsafe(text)), classes=kind, markup=False)
        self.text = strip_unsafe(text)

    def show(self, text: str) -> None:
        self.text = strip_unsafe(text)
        self.update(Text(self.text))


@dataclass(eq=False)
class NarrationJob:
    """One prose request on its way to the screen.

    Attributes:
        request: what the engine asked for.
        paragraph: where its text goes in the log.
        cancel: set to stop the generator early.
        streamed: the text received so far.
        id: a number for tests and logs.
    """

    request: ContentRequest
    paragraph: Paragraph
    cancel: threading.Event = field(default_factory=threading.Event)
    streamed: str = ""
    id: int = field(default_factory=lambda: next(_job_ids))


class StoryLog(VerticalScroll):
    """Scrolling story with a queue of prose requests narrated by a thread worker."""

    can_focus = False

    @dataclass
    class NarrationStarted(Message):
        """The generator has begun on a request."""

        job: NarrationJob

    @dataclass
    class NarrationStreamed(Message):
        """More text of a request arrived (a word for templates, a token for GPT-2)."""

        job: NarrationJob
        text: str

    @dataclass
    class NarrationCompleted(Message):
        """A request is done (also when cancelled: ``narration.cancelled`` says so)."""

        job: NarrationJob
        narration: Narration

    @dataclass
    class NarrationFailed(Message):
        """The generator raised; the paragraph shows the engine's fallback text instead."""

        job: NarrationJob
        error: str

    @dataclass
    class NarrationDropped(Message):
        """A queued request was cancelled before it started; it shows its fallback text."""

        job: NarrationJob

    @dataclass
    class Prefetched(Message):
        """Prose for a request was written ahead of time; nothing was shown."""

        request: ContentRequest
        text: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.generator: Generator | None = None
        self._pending: deque[NarrationJob] = deque()
        # Set by the worker thread: the job being written right now.
        self._current: NarrationJob | None = None
        # UI thread only: jobs queued and not yet reported finished, and the one started.
        self._unfinished: set[int] = set()
        self._started: NarrationJob | None = None
        # Held around every generate() call: the model runs one request at a time.
        self._generating = threading.Lock()
        # Set to stop the prefetch worker (None: no prefetch running or asked for).
        self._prefetch_cancel: threading.Event | None = None

    def on_mount(self) -> None:
        # Anchored, the log stays on its newest line when its size changes (F2, a resize,
        # a dialog closing) until the player scrolls up to read; scrolling back down
        # re-anchors it.
        self.anchor()

    # -- writing the story -------------------------------------------------------------

    def add(self, text: str, kind: str = "text") -> Paragraph:
        """Append a paragraph and keep the newest in view."""
        paragraph = Paragraph(text, kind)
        self.mount(paragraph)
        self._trim()
        self.scroll_end(animate=False)
        return paragraph

    def add_command(self, command: str) -> Paragraph:
        return self.add(f"> {command}", "command")

    def add_event(self, event: Event) -> Paragraph:
        return self.add(event.text, f"event-{event.kind}")

    def paragraphs(self) -> list[Paragraph]:
        return list(self.query_children(Paragraph))

    def plain_text(self) -> str:
        """Everything in the log, one paragraph a line (for tests and copying)."""
        return "\n".join(paragraph.text for paragraph in self.paragraphs())

    def _trim(self) -> None:
        extra = len(self.children) - MAX_PARAGRAPHS
        if extra > 0:
            busy = {job.paragraph for job in self._pending}
            if self._current is not None:
                busy.add(self._current.paragraph)
            old = [child for child in self.children[:extra] if child not in busy]
            self.remove_children(old)

    # -- narration queue ---------------------------------------------------------------

    @property
    def is_narrating(self) -> bool:
        """True while a request is being written or waits in the queue."""
        return bool(self._unfinished)

    def narrating_keys(self) -> set[str]:
        """Cache keys of the requests queued or being written (UI thread)."""
        jobs = [*self._pending, self._started, self._current]
        return {job.request.cache_key for job in jobs if job is not None and job.request.cache_key}

    def narrate(self, request: ContentRequest) -> NarrationJob:
        """Queue a prose request; it is written as soon as a generator is free."""
        self.cancel_prefetch()
        paragraph = self.add("…", "prose pending")
        job = NarrationJob(request, paragraph)
        self._unfinished.add(job.id)
        self._pending.append(job)
        self._start()
        return job

    def use_generator(self, generator: Generator | None) -> None:
        """Narrate with this generator from now on (None: hold the queue until one is set)."""
        self.cancel_prefetch()
        self.generator = generator
        self._start()

    def cancel_narration(self) -> bool:
        """Stop the running request and drop the queued ones. Returns whether any was."""
        dropped = list(self._pending)
        self._pending.clear()
        for job in dropped:
            job.cancel.set()
            self._unfinished.discard(job.id)
            self._show_final(job, job.request.fallback)
            self.post_message(self.NarrationDropped(job))
        current = self._current
        if current is not None:
            current.cancel.set()
        return bool(dropped) or current is not None

    def on_unmount(self) -> None:
        # The game screen is going (new game, load, quit): stop the generator's thread soon.
        self.cancel_prefetch()
        for job in [*self._pending, self._current]:
            if job is not None:
                job.cancel.set()
        self._pending.clear()

    def _start(self) -> None:
        if self.generator is None or not self._pending or self._current is not None:
            return
        running = [
            worker
            for worker in self.workers
            if worker.group == "narration"
            and worker.state in (WorkerState.PENDING, WorkerState.RUNNING)
        ]
        if not running:
            self._narrate_queue(self.generator)

    @work(thread=True, exclusive=True, exit_on_error=False, group="narration")
    def _narrate_queue(self, generator: Generator) -> None:
        """Write every queued request, oldest first, streaming into the log."""
        worker = get_current_worker()
        while not worker.is_cancelled:
            try:
                job = self._pending.popleft()
            except IndexError:
                return
            self._current = job
            try:
                self.post_message(self.NarrationStarted(job))

                def on_text(piece: str, job: NarrationJob = job) -> None:
                    if piece:
                        self.post_message(self.NarrationStreamed(job, piece))

                try:
                    # A prefetch holding the model was cancelled by narrate(); it lets go
                    # within one token.
                    with self._generating:
                        narration = generator.generate(
                            job.request, on_text=on_text, cancel=job.cancel
                        )
                except Exception as error:  # noqa: BLE001 - any backend fault becomes a notice
                    self.post_message(self.NarrationFailed(job, str(error) or type(error).__name__))
                else:
                    self.post_message(self.NarrationCompleted(job, narration))
            finally:
                self._current = None

    # -- prefetch: prose written ahead while the player reads ----------------------------

    @property
    def is_prefetching(self) -> bool:
        """True from ``prefetch`` until its worker finishes or is cancelled."""
        return self._prefetch_cancel is not None

    def prefetch(self, requests: list[ContentRequest]) -> bool:
        """Write these requests in the background, in order, while nothing is narrated.

        The text never reaches the log; each request written in full is posted as
        ``Prefetched`` (the game screen caches it). ``narrate`` cancels a prefetch at
        once, and the template narrator is never prefetched: it writes instantly.

        Args:
            requests: what to write, most likely needed first.

        Returns:
            Whether a prefetch started.
        """
        generator = self.generator
        if generator is None or not requests or self.is_narrating:
            return False
        if getattr(generator, "backend", "") == "template":
            return False
        self.cancel_prefetch()
        cancel = threading.Event()
        self._prefetch_cancel = cancel
        self._prefetch_queue(generator, list(requests), cancel)
        return True

    def cancel_prefetch(self) -> None:
        """Stop writing ahead (the generator stops within a token); safe to call anytime."""
        cancel, self._prefetch_cancel = self._prefetch_cancel, None
        if cancel is not None:
            cancel.set()

    @work(thread=True, exclusive=True, exit_on_error=False, group="prefetch")
    def _prefetch_queue(
        self, generator: Generator, requests: list[ContentRequest], cancel: threading.Event
    ) -> None:
        """Write requests ahead until done or cancelled; report only complete text."""
        try:
            for request in requests:
                if cancel.is_set():
                    return
                with self._generating:
                    if cancel.is_set():
                        return
                    try:
                        narration = generator.generate(request, cancel=cancel)
                    except Exception:  # noqa: BLE001 - writing ahead is best effort; a real
                        return  # narration of the same request reports the fault
                if cancel.is_set() or narration.cancelled or narration.fallback:
                    return
                if narration.text.strip():
                    self.post_message(self.Prefetched(request, narration.text))
        finally:
            self.post_message(self._PrefetchEnded(cancel))

    @dataclass
    class _PrefetchEnded(Message):
        """The prefetch worker with this cancel event has stopped."""

        cancel: threading.Event

    @on(_PrefetchEnded)
    def _prefetch_ended(self, event: _PrefetchEnded) -> None:
        event.stop()
        if self._prefetch_cancel is event.cancel:
            self._prefetch_cancel = None

    @on(Worker.StateChanged)
    def _restart_when_done(self, event: Worker.StateChanged) -> None:
        # A request queued just as the worker found the queue empty would otherwise wait.
        if event.worker.group == "narration" and event.state in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            self._current = None
            started, self._started = self._started, None
            if event.state == WorkerState.ERROR and started and started.id in self._unfinished:
                # The worker died between reports: settle its job so nothing waits forever.
                self.post_message(self.NarrationFailed(started, str(event.worker.error)))
            self.call_later(self._start)

    # -- showing what the worker reports -----------------------------------------------

    def _show_final(self, job: NarrationJob, text: str) -> None:
        self._unfinished.discard(job.id)
        job.paragraph.remove_class("pending", "streaming")
        final = text.strip() or job.request.fallback
        job.paragraph.show(final)
        # A colour line with nothing to add after the authored text leaves no gap.
        job.paragraph.display = bool(final)
        self.scroll_end(animate=False)

    @on(NarrationStarted)
    def _job_started(self, event: NarrationStarted) -> None:
        self._started = event.job
        event.job.paragraph.remove_class("pending")
        event.job.paragraph.add_class("streaming")

    @on(NarrationStreamed)
    def _streamed(self, event: NarrationStreamed) -> None:
        job = event.job
        job.streamed += strip_unsafe(event.text)
        job.paragraph.show(job.streamed.lstrip())
        self.scroll_end(animate=False)

    @on(NarrationCompleted)
    def _completed(self, event: NarrationCompleted) -> None:
        narration = event.narration
        text = narration.text if narration.text.strip() else event.job.streamed
        if narration.cancelled:
            text = (text.strip() + " …") if text.strip() else event.job.request.fallback
        # Reranking may prefer another candidate than the one streamed: show the final one.
        self._show_final(event.job, text)
        if narration.fallback:
            event.job.paragraph.add_class("fallback")

    @on(NarrationFailed)
    def _failed(self, event: NarrationFailed) -> None:
        self._show_final(event.job, event.job.request.fallback)
        event.job.paragraph.add_class("fallback")
