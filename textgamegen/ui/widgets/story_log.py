"""The story log: the player's commands, the engine's text, and prose as it streams in.

Each prose request gets its paragraph at once (a dim placeholder), so the story stays in
the order things happened even while the model is still loading or busy. The game
screen's ``PlaySession`` (``textgamegen.play.session``) decides what the model writes
when; the log runs its narration loops on thread workers and posts what they report as
messages (the game screen hears them too), shows the text as it streams, and has each
finished request settled by the session and shows the passage it gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace

from rich.text import Text
from textual import on
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from textgamegen.engine.content import ContentRequest, Event
from textgamegen.play import narration_queue as queue
from textgamegen.play.session import Passage
from textgamegen.safe_text import strip_unsafe

MAX_PARAGRAPHS = 400
"""Older paragraphs are dropped so a long game never slows the screen down."""


class Paragraph(Static):
    """One block of the story; its CSS class says what it is (command, room, prose...).

    A prose paragraph keeps every version written for its request (``retry`` writes
    another in its place), and shows one of them with a "(2/3 ←→)" mark when there are more.
    """

    def __init__(self, text: str, kind: str) -> None:
        super().__init__(Text(strip_unsafe(text)), classes=kind, markup=False)
        self.text = strip_unsafe(text)
        self.versions: list[str] = []
        self.at = 0
        """Which of ``versions`` is shown."""
        self.request: ContentRequest | None = None

    def show(self, text: str, *, mark: bool = True) -> None:
        self.text = strip_unsafe(text)
        shown = Text(self.text)
        if mark and len(self.versions) > 1:
            shown.append(f"  ({self.at + 1}/{len(self.versions)} ←→)", style="dim")
        self.update(shown)

    def add_version(self, text: str) -> None:
        """A passage written for this paragraph's request; it is the one shown."""
        self.versions.append(strip_unsafe(text))
        self.at = len(self.versions) - 1
        self.show(text)

    def swipe(self, step: int) -> bool:
        """Show the version ``step`` away (-1: the one before); False at either end."""
        at = self.at + step
        if not 0 <= at < len(self.versions):
            return False
        self.at = at
        self.show(self.versions[at])
        return True


def _unseeded(request: ContentRequest) -> ContentRequest:
    return replace(request, seed=0)


class StoryLog(VerticalScroll):
    """Scrolling story; each prose request has its paragraph until its passage is shown."""

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

    def __init__(self, settle: Callable[[queue.Settled], Passage], *, id: str | None = None):
        """Args:
        settle: the play session's ``settle``: hands a finished request back to the game
            and gives the passage to show.
        """
        super().__init__(id=id)
        self._settle = settle
        # Paragraphs of requests whose final text is not shown yet (UI thread only).
        self._pending: set[Paragraph] = set()
        # The prose paragraphs of the last step that had any, which a retry writes again
        # in place; those a retry may still take; whether the step running has placed
        # prose yet.
        self._last_prose: list[Paragraph] = []
        self._rewriting: list[Paragraph] = []
        self._fresh_step = True

    def on_mount(self) -> None:
        # Anchored, the log stays on its newest line when its size changes (F2, a resize, a
        # dialog closing) until the player scrolls up to read; scrolling down re-anchors it.
        self.anchor()

    # -- writing the story -------------------------------------------------------------

    def add(self, text: str, kind: str = "text") -> Paragraph:
        """Append a paragraph and keep the newest in view."""
        paragraph = Paragraph(text, kind)
        self.mount(paragraph)
        extra = len(self.children) - MAX_PARAGRAPHS
        if extra > 0:
            self.remove_children([c for c in self.children[:extra] if c not in self._pending])
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
        """True while any prose request waits for its final text."""
        return bool(self._pending)

    def begin_step(self, *, retry: bool) -> None:
        """A command is about to run. A retry's prose goes into the last step's
        paragraphs, as new versions of them; any other step's prose starts new ones."""
        self._rewriting = list(self._last_prose) if retry else []
        self._fresh_step = not retry

    def add_pending(self, request: ContentRequest) -> Paragraph:
        """The placeholder paragraph of a prose request, until its passage is shown: a
        retried request's own paragraph (the same request but for its seed), else a new one."""
        wanted = _unseeded(request)
        same = [p for p in self._rewriting if p.request and _unseeded(p.request) == wanted]
        if same:
            paragraph = same[0]
            self._rewriting.remove(paragraph)
            paragraph.remove_class("fallback")
            paragraph.add_class("pending")
            paragraph.display = True
            paragraph.update(Text("…"))
        else:
            paragraph = self.add("…", "prose pending")
            if self._fresh_step:
                self._last_prose, self._fresh_step = [], False
            if not self._rewriting:
                self._last_prose.append(paragraph)
        paragraph.request = request
        self._pending.add(paragraph)
        return paragraph

    def swipe(self, step: int) -> list[Paragraph]:
        """Show another version of the last passage in each of its paragraphs that has
        several (Left/Right, "previous"/"next"); returns the paragraphs that changed."""
        if self._pending:
            return []  # a version still being written has no place among them yet
        return [p for p in self._last_prose if len(p.versions) > 1 and p.swipe(step)]

    def relay(self, report: queue.Report) -> None:
        """Post a queue report as this log's message; called on the queue's threads."""
        kind = getattr(self, type(report).__name__)
        self.post_message(kind(*(getattr(report, f.name) for f in fields(report))))

    def run_loop(self, loop: Callable[[], None], group: str) -> None:
        """Run a queue loop on a thread worker; called on any thread."""
        # Workers are started on the UI thread.
        self.post_message(self._LoopDue(loop, group))

    @on(_LoopDue)
    def _loop_due(self, event: _LoopDue) -> None:
        event.stop()
        # A thread worker, so the app's one Worker.StateChanged handler reports a crash.
        self.run_worker(
            event.loop, name=event.group, group=event.group, thread=True, exit_on_error=False
        )

    # -- showing what the queue reports ------------------------------------------------

    @on(NarrationStarted)
    def _job_started(self, event: NarrationStarted) -> None:
        event.job.paragraph.remove_class("pending")
        event.job.paragraph.add_class("streaming")

    @on(NarrationStreamed)
    def _streamed(self, event: NarrationStreamed) -> None:
        if event.job.paragraph in self._pending:
            event.job.paragraph.show(event.job.streamed.lstrip(), mark=False)
            self.scroll_end(animate=False)

    @on(NarrationCompleted)
    @on(NarrationFailed)
    @on(NarrationDropped)
    def _settled(self, event: queue.Settled) -> None:
        self.show_passage(self._settle(event))

    def show_passage(self, passage: Passage) -> None:
        """Show a request's final text in its paragraph (reranking may have preferred
        another candidate than the one streamed)."""
        paragraph: Paragraph = passage.job.paragraph
        self._pending.discard(paragraph)
        paragraph.remove_class("pending", "streaming")
        paragraph.add_version(passage.text)
        # A colour line with nothing to add after the authored text leaves no gap.
        paragraph.display = bool(passage.text)
        if passage.fallback:
            paragraph.add_class("fallback")
        self.scroll_end(animate=False)
