"""Continuous batching: one model thread decodes the rows of every request at once.

Requests that arrive while a batch decodes join it between two steps, as vLLM's
scheduler does: each step is one forward pass over every live row, whatever request it
belongs to, each with its own sampling, stops, ``max_tokens`` and ``bad_words`` (see
``completion.Batch``). A row that ends leaves at once, so its place goes to whoever waits.

Sharing out the rows (``max_batch`` of them) is the fairness rule:

* the client with the fewest rows in the batch goes first (ties: the earliest), so a
  game's request is not queued behind a request of sixteen choices or many prompts;
* when the batch is full and a client waits with no row in it, the newest row of the
  client holding the most (more than one) is preempted: it keeps its text and goes back
  to waiting, and it is read in again (prompt and text so far) when its turn comes.

Prompts are read in (prefilled) a few at a time between steps, up to ``prefill_tokens``
each time, so requests arriving together start writing one after another instead of all
after the last prompt is read. So one huge request can slow others, never hold them: a
newcomer's first token waits for the prompts before it and a step.

``serve-model --max-batch 1`` keeps the older way (one request at a time, first come first
served: ``CompletionEngine.complete``) for comparison.
"""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import Future

import torch

from textgamegen.hosting.completion import Batch, Completion, CompletionEngine, Request, Row


class Scheduler:
    """The model thread of a batching server.

    Args:
        engine: the completion engine (holds the model).
        max_batch: the most rows (choices) decoded together.
        max_batch_tokens: the most positions the batch's cache may hold (rows x the
            longest row, padding included): a bound on its memory.
        prefill_tokens: prompt tokens read in between two steps (at least one prompt):
            when many requests arrive at once, the first starts writing after its own
            prompt is read rather than after all of them.
    """

    def __init__(
        self,
        engine: CompletionEngine,
        max_batch: int = 16,
        max_batch_tokens: int = 65536,
        prefill_tokens: int = 512,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be 1 or more")
        self.engine = engine
        self.max_batch = max_batch
        self.max_batch_tokens = max_batch_tokens
        self.prefill_tokens = prefill_tokens
        self.steps = 0
        self.preempted = 0
        self._arrived: list[Request] = []
        self._waiting: list[Request] = []
        self._changed = threading.Condition()
        self._stopping = False
        self._next: CompletionEngine | None = None
        self._batch = Batch(engine)
        self._thread = threading.Thread(target=self._run, daemon=True, name="model-batch")
        self._thread.start()

    # -- the HTTP side --------------------------------------------------------------------

    def submit(self, request: Request) -> Future[Completion]:
        """Queue the request's rows; the future gets its completion when every row ends."""
        with self._changed:
            if self._stopping:
                raise RuntimeError("the model thread has stopped")
            self._arrived.append(request)
            self._changed.notify()
        return request.done

    def switch(self, engine: CompletionEngine) -> None:
        """Write with ``engine`` from now on (a promoted model, ``hosting/reload.py``).

        Rows of two models cannot share a forward pass, so the switch waits until every
        request made for the old model has finished; requests made for the new one wait
        for it meanwhile. Nothing is dropped.
        """
        with self._changed:
            self._next = engine
            self._changed.notify()

    def wake(self) -> None:
        """Look again (a request was cancelled while it waited)."""
        with self._changed:
            self._changed.notify()

    @property
    def decoding(self) -> int:
        """Rows in the batch now."""
        return len(self._batch.rows)

    def stop(self, timeout: float = 10.0) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify()
        self._thread.join(timeout)

    # -- the model thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._changed:
                self._waiting += self._arrived
                self._arrived.clear()
                self._switch_when_drained()
                batch = self._batch
                while not (
                    self._stopping
                    or self._arrived
                    or batch.rows
                    or self._waiting
                    or self._cancelled()
                ):
                    self._changed.wait()
                if self._stopping:
                    break
                self._waiting += self._arrived
                self._arrived.clear()
            try:
                with self.engine.lock, torch.inference_mode():
                    self._drop_cancelled()
                    self._admit(batch)
                    if batch.rows:
                        finished = batch.step()
                        self.steps += 1
                        for request in finished:
                            self._resolve(request)
            except Exception as error:  # noqa: BLE001 - the model failed: every client hears
                self._fail(batch, error)
        self._fail(batch, RuntimeError("the model server is stopping"))

    def _switch_when_drained(self) -> None:
        """Take the next engine once no row and no waiting request is the old one's."""
        if self._next is None or self._batch.rows:
            return
        if any(request.engine is self.engine for request in self._waiting):
            return
        self.engine, self._next = self._next, None
        self._batch = Batch(self.engine)

    def _cancelled(self) -> bool:
        return any(request.cancelled for request in self._waiting)

    def _drop_cancelled(self) -> None:
        """A waiting request whose client left ends now (its rows in the batch end at the
        next step)."""
        for request in [r for r in self._waiting if r.cancelled]:
            for row in list(request.pending):
                self.engine.finish(row, "cancelled")
            request.pending.clear()
            request.prefill = None
            if all(row.done for row in request.rows):
                self._resolve(request)

    def _resolve(self, request: Request) -> None:
        if request in self._waiting:
            self._waiting.remove(request)
        if not request.done.done():
            request.done.set_result(request.completion())

    def _fail(self, batch: Batch, error: BaseException) -> None:
        with self._changed:
            self._waiting += self._arrived
            self._arrived.clear()
        requests = {id(row.request): row.request for row in batch.rows}
        requests.update({id(request): request for request in self._waiting})
        batch.rows, batch.cache, batch.logits = [], None, None
        for request in requests.values():
            request.pending.clear()
            request.prefill = None
            if request in self._waiting:
                self._waiting.remove(request)
            if not request.done.done():
                request.done.set_exception(error)

    def _admit(self, batch: Batch) -> None:
        """Give free rows to waiting requests, fewest rows in the batch first."""
        chosen: list[Row] = []
        prefill = 0  # prompt tokens read in at this step
        live = Counter(id(row.request.client) for row in batch.rows)
        width = max((row.length for row in batch.rows), default=0)
        while True:
            candidates = [
                request
                for request in self._waiting
                if request.engine is self.engine
                and any(row not in chosen for row in request.pending)
            ]
            if not candidates:
                break
            request = min(candidates, key=lambda r: (live[id(r.client)], r.arrived))
            row = next(row for row in request.pending if row not in chosen)
            rows = len(batch.rows) + len(chosen)
            if rows >= self.max_batch:
                victim = self._victim(batch, live) if live[id(request.client)] == 0 else None
                if victim is None:
                    break
                batch.evict(victim)
                live[id(victim.request.client)] -= 1
                self.preempted += 1
                continue
            longest = max(width, row.length + request.params.max_tokens)
            if rows and (rows + 1) * longest > self.max_batch_tokens:
                break
            # A prompt read in for this row (its choices share one), or a preempted row's
            # text read in again.
            shared = request.prefill is not None or any(r.request is request for r in chosen)
            reading = row.length if row.choice.tokens or not shared else 0
            if reading and prefill and prefill + reading > self.prefill_tokens:
                break  # the rest are read in at the next steps, between tokens
            prefill += reading
            width = max(width, row.length)
            chosen.append(row)
            live[id(request.client)] += 1
        if chosen:
            batch.admit(chosen)

    @staticmethod
    def _victim(batch: Batch, live: Counter[int]) -> Row | None:
        """The newest row of the client holding the most rows, if it holds more than one."""
        if not batch.rows:
            return None
        busiest, held = live.most_common(1)[0]
        if held <= 1:
            return None
        for row in reversed(batch.rows):
            if id(row.request.client) == busiest:
                return row
        return None
