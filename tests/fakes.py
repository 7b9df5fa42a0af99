"""Fake generators for the tests: instant, slow, counting; all honour ``cancel``.

They stand in for a model behind the ``Generator`` protocol, so the pilots and unit tests
need no model and run fast. ``tests/unit/test_fakes.py`` checks every fake here against
the protocol, so a fake cannot drift from what the game calls.
"""

from __future__ import annotations

import threading
import time

from textgamegen.config import Settings
from textgamegen.engine.content import ContentRequest
from textgamegen.narration.generator import Candidate, Generator, Narration, TextSink, Timings


def released(release: threading.Event, cancel: threading.Event | None) -> bool:
    """Wait until the test sets ``release``; False when ``cancel`` is set first."""
    while not release.wait(0.01):
        if cancel is not None and cancel.is_set():
            return False
    return True


class ScriptedGenerator(Generator):
    """Streams a fixed sentence word by word, optionally slowly, and honours ``cancel``.

    ``final`` makes the returned (reranked) text differ from what streamed. ``held``: after
    its first word it waits until the test sets ``release`` (or the request is cancelled),
    so a test knows the generation is still running, without a clock.
    """

    backend = "test"
    device = "cpu"

    def __init__(
        self,
        delay: float = 0.0,
        words: int = 8,
        final: str | None = None,
        name: str = "scripted",
        held: bool = False,
    ) -> None:
        self.name = name
        self.delay = delay
        self.words = words
        self.final = final
        self.calls: list[ContentRequest] = []
        self.release = threading.Event()
        if not held:
            self.release.set()

    def generate(
        self,
        request: ContentRequest,
        on_text: TextSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Narration:
        self.calls.append(request)
        words = f"Narrated {request.subject or 'the air'} with care and a few more words".split()
        words = (words * 8)[: self.words]
        shown: list[str] = []
        for word in words:
            if (cancel is not None and cancel.is_set()) or (
                shown and not released(self.release, cancel)
            ):
                return Narration(
                    request, " ".join(shown), cancelled=True, backend="test", model=self.name
                )
            if self.delay:
                time.sleep(self.delay)
            if on_text is not None:
                on_text(word if not shown else " " + word)
            shown.append(word)
        streamed = " ".join(shown) + "."
        text = self.final if self.final is not None else streamed
        candidates = [Candidate(text, 0.9, {"complete": 1.0}), Candidate(streamed, 0.4)]
        return Narration(
            request,
            text,
            candidates,
            Timings(12.0, 80.0, 50.0),
            prompt="<|action|> " + request.command,
            backend="test",
            model=self.name,
        )


class WordsGenerator(Generator):
    """Streams "Call <n> narrates <subject> slowly" word by word (twenty times over when
    ``delay`` is set, so there is time to press a key) and honours ``cancel``."""

    backend = "test"
    device = "cpu"
    name = "words"

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls = 0

    def generate(
        self,
        request: ContentRequest,
        on_text: TextSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Narration:
        self.calls += 1
        words = f"Call {self.calls} narrates {request.subject or 'the air'} slowly".split()
        shown: list[str] = []
        for word in words * (20 if self.delay else 1):
            if cancel is not None and cancel.is_set():
                return Narration(
                    request,
                    " ".join(shown),
                    cancelled=True,
                    model=self.name,
                    backend="test",
                    timings=Timings(3.0, 9.0),
                )
            time.sleep(self.delay)
            if on_text is not None:
                on_text((" " if shown else "") + word)
            shown.append(word)
        text = " ".join(shown) + "."
        return Narration(
            request,
            text,
            [Candidate(text, tokens=len(shown))],
            Timings(12.0, 80.0),
            prompt="<|action|> x",
            backend="test",
            model=self.name,
        )


class CountingGenerator(Generator):
    """Writes "Prose for <subject> (<command>)." word by word; ``hold_ahead`` holds the
    requests written ahead after their first word until the test sets ``release`` or the
    request is cancelled, while narration stays quick.

    A request is taken for one written ahead when its command is one that writing ahead
    gives (``go <exit>``, ``examine <thing>``: ``engine.descriptions.likely_descriptions``),
    which the tests that use this fake never type: writing ahead streams its lines as
    narration does, so the call itself does not tell. It records every request, whether
    it was written ahead, and the most requests it ever ran at once.
    """

    backend = "test"
    device = "cpu"
    name = "counting"

    def __init__(self, hold_ahead: bool = False, words: int = 6) -> None:
        self.release = threading.Event()
        if not hold_ahead:
            self.release.set()
        self.words = words
        self.calls: list[tuple[ContentRequest, bool]] = []
        self.cancelled: list[ContentRequest] = []
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def text_for(self, request: ContentRequest) -> str:
        return f"Prose for {request.subject} ({request.command})."

    @staticmethod
    def written_ahead(request: ContentRequest) -> bool:
        return request.command.startswith(("go ", "examine "))

    def generate(
        self,
        request: ContentRequest,
        on_text: TextSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Narration:
        ahead = self.written_ahead(request)
        with self._lock:
            self.calls.append((request, ahead))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            words = self.text_for(request).split()
            words += ["on"] * max(0, self.words - len(words))
            for index, word in enumerate(words):
                held = ahead and index > 0 and not released(self.release, cancel)
                if held or (cancel is not None and cancel.is_set()):
                    self.cancelled.append(request)
                    return Narration(request, " ".join(words[:index]), cancelled=True)
                if on_text is not None:
                    on_text(word if index == 0 else " " + word)
            text = self.text_for(request)
            return Narration(request, text, [Candidate(text, 1.0)], Timings(1.0, 2.0, 1.0))
        finally:
            with self._lock:
                self.running -= 1

    def prefetched(self) -> list[ContentRequest]:
        """The requests written ahead, in order."""
        return [request for request, ahead in self.calls if ahead]


class UnreliableGenerator(Generator):
    """Raises on the calls numbered (from 1) in ``raises``, gives its own template fallback
    (``Narration.fallback``: a model that wrote nothing usable) on those in
    ``falls_back``, and otherwise writes "Written for <subject>." word by word.

    The TUI and a script ask it the same requests in the same order, so with the same
    numbers both meet the same failures.
    """

    backend = "test"
    name = "unreliable"

    def __init__(self, raises: tuple[int, ...] = (), falls_back: tuple[int, ...] = ()) -> None:
        self.raises = raises
        self.falls_back = falls_back
        self.calls: list[ContentRequest] = []

    def generate(
        self,
        request: ContentRequest,
        on_text: TextSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Narration:
        self.calls.append(request)
        number = len(self.calls)
        if number in self.raises:
            raise RuntimeError(f"call {number} failed")
        fallback = number in self.falls_back
        text = (
            (request.fallback or "Nothing comes.")
            if fallback
            else f"Written for {request.subject}."
        )
        words = text.split()
        for index, word in enumerate(words):
            if cancel is not None and cancel.is_set():
                return Narration(request, " ".join(words[:index]), cancelled=True, model=self.name)
            if on_text is not None:
                on_text(word if index == 0 else " " + word)
        return Narration(request, text, [Candidate(text)], fallback=fallback, model=self.name)


class Gate:
    """A loader that blocks until the test opens it: a model that is still loading."""

    def __init__(self, generator: Generator) -> None:
        self.generator = generator
        self.opened = threading.Event()
        self.calls: list[tuple[str, str]] = []

    def __call__(self, model: str, device: str, settings: Settings) -> Generator:
        self.calls.append((model, device))
        if not self.opened.wait(10):
            raise TimeoutError("the gate never opened")
        return self.generator


# Every fake generator, for the protocol check in tests/unit/test_fakes.py.
FAKE_GENERATORS: tuple[type, ...] = (
    ScriptedGenerator,
    WordsGenerator,
    CountingGenerator,
    UnreliableGenerator,
)
