"""Watching the model server's model in a test: its steps and the completions it finishes.

A plain module imported by name, as ``pilot_helpers`` is. Tests of cancellation use it to
know, without a clock, that the server stopped: each completion is handed to the test when
the model thread is done with it (one request at a time, or batched), so the test reads
whether it ended ``cancelled`` and how many model steps ran, instead of sleeping and hoping
that nothing runs after.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import pytest

from textgamegen.hosting.batching import Scheduler
from textgamegen.hosting.completion import (
    Completion,
    CompletionEngine,
    CompletionParams,
    Request,
)


class ModelWatch:
    """Counts the model's steps and queues every completion as it finishes.

    With ``hold_after``, the model takes that many steps and then waits for ``gone`` (up to
    a minute): what it wrote by then is all the client can have read before it leaves.
    Once ``gone`` is set (the client left), each further step first waits, up to
    ``grace_s``, for the server to set that completion's cancel: the model does not race
    ahead of the server's event loop, which notices a closed connection at its next write.
    With a live server that wait ends at once; the grace only bounds a hung one.
    """

    def __init__(
        self,
        engine: CompletionEngine,
        monkeypatch: pytest.MonkeyPatch,
        gone: threading.Event | None = None,
        hold_after: int | None = None,
        grace_s: float = 0.2,
    ) -> None:
        self.engine = engine
        self.monkeypatch = monkeypatch
        self.gone = gone or threading.Event()
        self.hold_after = hold_after
        self.grace_s = grace_s
        self.steps = 0
        self.finished: queue.Queue[Completion] = queue.Queue()
        self._cancels: list[threading.Event] = []

    def __enter__(self) -> ModelWatch:
        complete = self.engine.complete

        def recorded(
            ids: list[int],
            params: CompletionParams,
            on_piece: Any = None,
            cancel: threading.Event | None = None,
        ) -> Completion:
            self._cancels.append(cancel or threading.Event())
            result = complete(ids, params, on_piece, cancel)
            self.finished.put(result)
            return result

        self.monkeypatch.setattr(self.engine, "complete", recorded)
        submit = Scheduler.submit

        def batched(scheduler: Scheduler, request: Request) -> Any:
            # A batching server: the same, for each request its model thread takes.
            self._cancels.append(request.cancel)
            future = submit(scheduler, request)
            future.add_done_callback(lambda done: self.finished.put(done.result()))
            return future

        self.monkeypatch.setattr(Scheduler, "submit", batched)
        self._hook = self.engine.model.register_forward_pre_hook(self._step)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._hook.remove()  # the engine's own complete comes back when the test ends

    def _step(self, _module: object, _args: object) -> None:
        self.steps += 1
        if self.hold_after is not None and self.steps > self.hold_after:
            self.gone.wait(60)
        if self.gone.is_set() and self._cancels:
            self._cancels[-1].wait(self.grace_s)

    def next_finished(self, timeout: float = 60.0) -> Completion:
        """The next completion the model finished (fails after ``timeout``: a hang guard)."""
        return self.finished.get(timeout=timeout)
