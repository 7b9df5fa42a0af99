"""The story log: the player's commands, the engine's text, and prose as it streams in.

Each prose request gets its paragraph at once (a dim placeholder), so the story stays in
the order things happened even while the model is still loading or busy. The log's
``NarrationQueue`` (``textgamegen.play.narration_queue``) decides what the model
writes when, on thread workers; the log shows what it reports, as messages the game
screen also hears.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

from rich.text import Text
from textual import on
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from textgamegen.engine.content import ContentRequest, Event
from textgamegen.play import narration_queue as queue
from textgamegen.play.narration_queue import NarrationJob, NarrationQueue
from textgamegen.safe_text import strip_unsafe

MAX_PARAGRAPHS = 400
"""Older paragraphs are dropped so a long game never slows the screen down."""


class Paragraph(Static):
    """One block of the story; its CSS class says what it is (command, room, prose...)."""

    def __init__(self, text: str, kind: str) -> None:
        super().__init__(Text(strip_unsafe(text)), classes=kind, markup=False)
        self.text = strip_unsafe(text)

    def show(self, text: str) -> None:
        self.text = strip_unsafe(text)
        self.update(Text(self.text))


class StoryLog(VerticalScroll):
    """Scrolling story; prose requests are queued on its narration queue."""

    can_focus = False

    # The queue's reports, as messages (same fields; they bubble to the game screen).
    @dataclass
    class NarrationStarted(queue.NarrationStarted, Message):
        """The generator has begun on a request."""

    @dataclass
    class NarrationStreamed(queue.NarrationStreamed, Message):
        """More text of a request arrived (a word for templates, a token for a model)."""

    @dataclass
    class NarrationCompleted(queue.NarrationCompleted, Message):
        """A request is done (also when cancelled: ``narration.cancelled`` says so)."""

    @dataclass
    class NarrationFailed(queue.NarrationFailed, Message):
        """The generator raised; the paragraph shows the engine's fallback text instead."""

    @dataclass
    class NarrationDropped(queue.NarrationDropped, Message):
        """A queued request was cancelled before it started; it shows its fallback text."""

    @dataclass
    class Prefetched(queue.Prefetched, Message):
        """Prose for a request was written ahead of time; nothing was shown."""

    @dataclass
    class _LoopDue(Message):
        """The queue asked for a loop to run on a thread worker."""

        loop: Callable[[], None]
        group: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.narrator = NarrationQueue(self._reported, self._run_loop)
        # Jobs queued whose final text is not shown yet (UI thread only).
        self._unshown: dict[int, NarrationJob] = {}

    def on_mount(self) -> None:
        # Anchored, the log stays on its newest line when its size changes (F2, a resize, a
        # dialog closing) until the player scrolls up to read; scrolling down re-anchors it.
        self.anchor()

    def on_unmount(self) -> None:
        # The game screen is going (new game, load, quit): stop the generator's thread soon.
        self.narrator.close()

    # -- writing the story -------------------------------------------------------------

    def add(self, text: str, kind: str = "text") -> Paragraph:
        """Append a paragraph and keep the newest in view."""
        paragraph = Paragraph(text, kind)
        self.mount(paragraph)
        extra = len(self.children) - MAX_PARAGRAPHS
        if extra > 0:
            busy = {job.paragraph for job in self._unshown.values()}
            self.remove_children([c for c in self.children[:extra] if c not in busy])
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

    # -- narration ---------------------------------------------------------------------

    @property
    def is_narrating(self) -> bool:
        """True from ``narrate`` until the request's final text is shown."""
        return bool(self._unshown)

    @property
    def is_prefetching(self) -> bool:
        return self.narrator.prefetching

    def narrating_keys(self) -> set[str]:
        """Cache keys of the requests queued, being written, or not shown yet."""
        return {job.request.cache_key for job in self._unshown.values() if job.request.cache_key}

    def narrate(self, request: ContentRequest) -> NarrationJob:
        """Queue a prose request under a placeholder paragraph."""
        job = self.narrator.narrate(request, self.add("…", "prose pending"))
        self._unshown[job.id] = job
        return job

    def _reported(self, report: queue.Report) -> None:
        # On the queue's threads: hand over to the UI thread as a message.
        kind = getattr(self, type(report).__name__)
        self.post_message(kind(*(getattr(report, f.name) for f in fields(report))))

    def _run_loop(self, loop: Callable[[], None], group: str) -> None:
        # Called on any thread; workers are started on the UI thread.
        self.post_message(self._LoopDue(loop, group))

    @on(_LoopDue)
    def _loop_due(self, event: _LoopDue) -> None:
        event.stop()
        # A thread worker, so the app's one Worker.StateChanged handler reports a crash.
        self.run_worker(
            event.loop, name=event.group, group=event.group, thread=True, exit_on_error=False
        )

    # -- showing what the queue reports ------------------------------------------------

    def _show_final(self, job: NarrationJob, text: str) -> None:
        self._unshown.pop(job.id, None)
        job.paragraph.remove_class("pending", "streaming")
        final = text.strip() or job.request.fallback
        job.paragraph.show(final)
        # A colour line with nothing to add after the authored text leaves no gap.
        job.paragraph.display = bool(final)
        self.scroll_end(animate=False)

    @on(NarrationStarted)
    def _job_started(self, event: NarrationStarted) -> None:
        event.job.paragraph.remove_class("pending")
        event.job.paragraph.add_class("streaming")

    @on(NarrationStreamed)
    def _streamed(self, event: NarrationStreamed) -> None:
        if event.job.id in self._unshown:
            event.job.paragraph.show(event.job.streamed.lstrip())
            self.scroll_end(animate=False)

    @on(NarrationCompleted)
    def _completed(self, event: NarrationCompleted) -> None:
        narration, job = event.narration, event.job
        text = narration.text if narration.text.strip() else job.streamed
        if narration.cancelled:
            text = (text.strip() + " …") if text.strip() else job.request.fallback
        # Reranking may prefer another candidate than the one streamed: show the final one.
        self._show_final(job, text)
        if narration.fallback:
            job.paragraph.add_class("fallback")

    @on(NarrationFailed)
    def _failed(self, event: NarrationFailed) -> None:
        self._show_final(event.job, event.job.request.fallback)
        event.job.paragraph.add_class("fallback")

    @on(NarrationDropped)
    def _dropped(self, event: NarrationDropped) -> None:
        self._show_final(event.job, event.job.request.fallback)
