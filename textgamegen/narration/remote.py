"""The remote narrator: ``--model openai:http://HOST:PORT/v1#MODEL``.

The game builds the same special-token prompt as the local backend, sends it to an
OpenAI-compatible ``/v1/completions`` (``textgamegen serve-model``, or vLLM serving the
narrator), streams the first choice into the story as it arrives, and reranks every
choice as the local backend does. The sampling extras the local backend uses
(``top_k``, ``repetition_penalty``, ``min_tokens``) and the special-token handling
(``skip_special_tokens=false``, so ``<|`` can end a line; ``add_special_tokens=false``) are
sent as the extra parameters vLLM accepts.

No tokenizer is needed here: the prompt is fitted to the server's context (``max_model_len``
from ``/v1/models``) by characters, at a conservative characters-per-token rate; a
server that still finds it too long answers 400, and the prompt is retried at half the
size. Cancel (Esc) closes the connection, which stops the server's work. A refused or
hung connection is retried once; after that, or when the server dies mid-answer, the
template narrator writes the text with a notice, and the next request tries the server
again (so a restarted server is picked up). Pure Python (stdlib http.client).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from textgamegen.config import SamplingSettings
from textgamegen.endpoint import Endpoint, EndpointError, parse_model_url
from textgamegen.engine.content import ContentRequest
from textgamegen.narration import rerank
from textgamegen.narration.generator import (
    Candidate,
    Generator,
    GeneratorError,
    Narration,
    TextSink,
    Timings,
    left_alone,
)
from textgamegen.narration.stream import Shown, Streamer
from textgamegen.narration.template import template_text
from textgamegen.text import canon
from textgamegen.text.cleanup import clean_text
from textgamegen.text.prompts import Prompt, PromptTemplates, build_prompt

STOPS = ["<|", "\n\n"]
"""Every tag starts with ``<|`` and a paragraph ends a narration (as the local streamer)."""
CHARS_PER_TOKEN = 2.5
"""Prompt characters assumed per token when fitting a prompt without the tokenizer; BPE
English runs near 4, tags are ~10 characters a token, so 2.5 leaves a margin."""
DEFAULT_CONTEXT = 1024
MAX_BAD_WORDS = 256
"""At most this many barred words go with a request (a server may refuse a longer list;
the rerank still checks every name)."""
_SEED_MASK = (1 << 31) - 1


class ServerError(Exception):
    """The server could not be reached or answered with an error.

    Attributes:
        status: the HTTP status (0 when there was no answer).
        retry: whether trying again may help (refused, timed out, 5xx, 429).
    """

    def __init__(self, message: str, status: int = 0, retry: bool = True) -> None:
        super().__init__(message)
        self.status = status
        self.retry = retry


class _CharCodec:
    """prompts.TokenCodec by characters: fits a prompt with no tokenizer at hand."""

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(chr(i) for i in ids)


class RemoteGenerator(Generator):
    """A ``Generator`` whose model runs behind an OpenAI-compatible completions API.

    Args:
        endpoint: the server.
        sampling: the player's sampling settings (sent with every request).
        templates: the prompt templates.
        connect_timeout: seconds to wait for a connection.
        read_timeout: seconds to wait for the next piece of an answer (a hung server).
        retries: further attempts after a refused, hung or failing request.
    """

    backend = "openai"

    def __init__(
        self,
        endpoint: Endpoint,
        sampling: SamplingSettings,
        templates: PromptTemplates,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 30.0,
        retries: int = 1,
        retry_delay_s: float = 0.5,
    ) -> None:
        self.endpoint = endpoint
        self.model_id = endpoint.model
        # What the game shows: the model's id once known, else the address.
        self.name = self.model_id or endpoint.url
        self.device = f"{endpoint.host}:{endpoint.port}"
        self.sampling = sampling
        self.templates = templates
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.retries = retries
        self.retry_delay_s = retry_delay_s
        self.context = 0  # tokens; 0 until the server said (see ``probe``)
        self.notice = ""
        self.load_ms = 0.0
        self.dtype = "remote"
        self.quantized = False

    @property
    def n_positions(self) -> int:
        return self.context or DEFAULT_CONTEXT

    def max_new_tokens(self, sampling: SamplingSettings | None = None) -> int:
        sampling = sampling or self.sampling
        return max(1, min(sampling.max_new_tokens, self.n_positions // 2))

    # -- the connection -----------------------------------------------------------------

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        kind = (
            http.client.HTTPSConnection
            if self.endpoint.scheme == "https"
            else http.client.HTTPConnection
        )
        return kind(self.endpoint.host, self.endpoint.port, timeout=timeout)

    def probe(self, timeout: float | None = None) -> bool:
        """Ask ``/v1/models`` for the model and its context; False (with ``notice``) when
        the server does not answer.

        Raises:
            GeneratorError: the server answers but does not serve the model asked for.
        """
        connection = self._connection(timeout or self.connect_timeout)
        try:
            connection.request("GET", f"{self.endpoint.path}/models")
            response = connection.getresponse()
            data = json.loads(response.read() or b"{}")
            if response.status != 200:
                raise ServerError(f"HTTP {response.status}", response.status)
        except (OSError, ValueError, http.client.HTTPException, ServerError) as error:
            self.notice = (
                f"The model server at {self.endpoint.url} is not answering "
                f"({_reason(error)}); the template narrator writes until it does."
            )
            return False
        finally:
            connection.close()
        cards = [card for card in data.get("data", []) if isinstance(card, dict)]
        ids = [str(card.get("id", "")) for card in cards]
        if not self.model_id:
            if not ids:
                raise GeneratorError(f"the model server at {self.endpoint.url} lists no model")
            self.model_id = self.name = ids[0]
        elif self.model_id not in ids:
            raise GeneratorError(
                f"the model server at {self.endpoint.url} does not serve "
                f"{self.model_id!r} (it serves: {', '.join(ids) or 'none'})"
            )
        card = cards[ids.index(self.model_id)]
        context = card.get("max_model_len") or card.get("context_length")
        if isinstance(context, int) and context > 0:
            self.context = context
        self.notice = ""
        return True

    def _body(
        self,
        prompt: str,
        sampling: SamplingSettings,
        max_new: int,
        seed: int,
        count: int = 1,
        bad_words: Sequence[str] = (),
    ) -> bytes:
        body = {
            "model": self.model_id or None,
            "prompt": prompt,
            "max_tokens": max_new,
            "temperature": sampling.temperature if sampling.do_sample else 0.0,
            "top_p": sampling.top_p,
            "top_k": sampling.top_k,
            "repetition_penalty": sampling.repetition_penalty,
            "n": count,
            "stop": STOPS,
            "seed": seed & _SEED_MASK,
            "stream": True,
            "logprobs": 0,
            # The narration must not be empty, the prompt's tags stay tags, and a tag the
            # model writes must reach the text so the stop strings see it.
            "min_tokens": 1,
            "add_special_tokens": False,
            "skip_special_tokens": False,
        }
        if bad_words:
            # vLLM's parameter too: the compass points a room has no exit to (``canon``).
            body["bad_words"] = list(bad_words)
        return json.dumps(body).encode()

    def _events(self, body: bytes, cancel: threading.Event | None) -> Iterator[dict[str, Any]]:
        """POST a streaming request and yield each server-sent event's JSON.

        Raises:
            ServerError: refused, timed out, an HTTP error, or an error event.
        """
        connection = self._connection(self.connect_timeout)
        finished = threading.Event()

        def close_on_cancel() -> None:
            # A blocked read cannot see a flag: shutting the socket down wakes it.
            while not finished.is_set():
                if cancel is not None and cancel.wait(0.05):
                    sock = connection.sock
                    if sock is not None:
                        with contextlib.suppress(OSError):  # already closed
                            sock.shutdown(socket.SHUT_RDWR)
                    return

        watcher = None
        if cancel is not None:
            watcher = threading.Thread(target=close_on_cancel, daemon=True, name="remote-cancel")
            watcher.start()
        try:
            try:
                connection.request(
                    "POST",
                    f"{self.endpoint.path}/completions",
                    body,
                    {"Content-Type": "application/json", "Accept": "text/event-stream"},
                )
                if connection.sock is not None:
                    connection.sock.settimeout(self.read_timeout)
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as error:
                raise ServerError(_reason(error)) from None
            if response.status != 200:
                raw = response.read(65536)
                raise ServerError(
                    _error_message(raw, response.status),
                    response.status,
                    retry=response.status >= 500 or response.status == 429,
                )
            while True:
                try:
                    line = response.readline(1 << 20)
                except (OSError, http.client.HTTPException) as error:
                    raise ServerError(_reason(error)) from None
                if not line:
                    raise ServerError("the server closed the answer before its end")
                text = line.decode("utf-8", "replace").strip()
                if not text.startswith("data:"):
                    continue
                data = text[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    event = json.loads(data)
                except ValueError:
                    raise ServerError(f"the server sent a broken event: {data[:80]!r}") from None
                if isinstance(event, dict) and "error" in event and "choices" not in event:
                    raise ServerError(_error_message(data.encode(), 500))
                if isinstance(event, dict):
                    yield event
        finally:
            finished.set()
            connection.close()
            if watcher is not None:
                watcher.join(timeout=1)

    # -- generate -----------------------------------------------------------------------

    def generate(
        self,
        request: ContentRequest,
        on_text: TextSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Narration:
        """Write prose for one request; see ``generation.base.Generator.generate``.

        Never raises for a request: an unreachable or failing server gives the template
        text with a notice; what already streamed is kept when the server dies mid-answer.
        """
        alone = left_alone(request, self.sampling.colour, self.backend, self.name, self.device)
        if alone is not None:
            return alone
        # Streamed: the listener reads one candidate as it comes. Otherwise several are
        # ranked first and the listener gets the chosen line whole.
        streams = on_text is not None and self.sampling.stream
        narration = self._write(request, on_text if streams else None, cancel)
        if on_text is not None and not streams:
            on_text(narration.text)
        return narration

    def _write(
        self, request: ContentRequest, on_text: TextSink | None, cancel: threading.Event | None
    ) -> Narration:
        started = time.perf_counter()
        sampling = self.sampling
        if not self.context:
            try:
                self.probe()
            except GeneratorError as error:
                return self._fallback(request, Shown(on_text), str(error), started, "")
        max_new = self.max_new_tokens(sampling)
        budget = int((self.n_positions - max_new) * CHARS_PER_TOKEN)
        attempts = 0
        streams = on_text is not None
        shown = Shown(on_text)
        while True:
            prompt = build_prompt(request, self.templates, _CharCodec(), budget)
            streamer = Streamer(
                prompt.opening, lambda ids: "", shown.again(), started, sentences=prompt.sentences
            )
            try:
                return self._attempt(
                    request, prompt, sampling, max_new, streamer, streams, cancel, started
                )
            except ServerError as error:
                if cancel is not None and cancel.is_set():
                    return self._cancelled(request, prompt.text, streamer, started)
                if streamer.shown.strip() and streamer.ids:
                    # Died mid-answer: keep what the player already reads.
                    return self._narration(
                        request,
                        prompt.text,
                        clean_text(streamer.shown),
                        [],
                        started,
                        notice=f"The model server stopped mid-answer ({error}); the text "
                        "is cut short.",
                    )
                too_long = error.status == 400 and "context length" in str(error)
                if too_long and budget > 64:
                    budget //= 2
                    continue
                if error.retry and attempts < self.retries:
                    attempts += 1
                    if cancel is not None and cancel.wait(self.retry_delay_s):
                        return self._cancelled(request, prompt.text, streamer, started)
                    if cancel is None:
                        time.sleep(self.retry_delay_s)
                    continue
                return self._fallback(request, shown, str(error), started, prompt.text)

    def _attempt(
        self,
        request: ContentRequest,
        prompt: Prompt,
        sampling: SamplingSettings,
        max_new: int,
        streamer: Streamer,
        streaming: bool,
        cancel: threading.Event | None,
        started: float,
    ) -> Narration:
        opening = prompt.opening
        pieces: list[str] = []
        # The streamer decodes "ids" that here are indices into the received pieces.
        streamer.decode = lambda ids: "".join(pieces[i] for i in ids)
        streamer.start()
        # A streamed line is the one that stays (as with the local narrator): only when
        # nothing is shown yet are several sampled and ranked.
        count = 1 if streaming or not sampling.do_sample else sampling.num_candidates
        texts = [""] * count
        logprobs: list[list[float]] = [[] for _ in range(count)]
        timings = Timings()
        first_done = False
        barred = list(
            dict.fromkeys(
                form for word in canon.barred_words(request) for form in (word, word.capitalize())
            )
        )[:MAX_BAD_WORDS]
        body = self._body(prompt.text, sampling, max_new, request.seed, count, barred)
        for event in self._events(body, cancel):
            for choice in event.get("choices") or []:
                index = int(choice.get("index", 0))
                if not 0 <= index < count:
                    continue
                piece = str(choice.get("text") or "")
                texts[index] += piece
                numbers = (choice.get("logprobs") or {}).get("token_logprobs") or []
                logprobs[index].extend(float(n) for n in numbers if n is not None)
                if index == 0 and piece and not streamer.ended:
                    pieces.append(piece)
                    streamer.push(len(pieces) - 1)
                if index == 0 and choice.get("finish_reason") and not first_done:
                    first_done = True
                    timings.first_candidate_ms = round((time.perf_counter() - started) * 1000, 2)
            usage = event.get("usage")
            if isinstance(usage, dict):
                timings.prompt_tokens = int(usage.get("prompt_tokens") or 0)
        timings.first_token_ms = round(streamer.first_token_ms, 2)
        if cancel is not None and cancel.is_set():
            return self._cancelled(request, prompt.text, streamer, started)
        candidates = []
        for text, numbers in zip(texts, logprobs, strict=True):
            mean = sum(numbers) / len(numbers) if numbers else 0.0
            tokens = len(numbers) or len(text.split())
            candidate = Candidate(
                canon.spell_names(clean_text(opening + text, prompt.sentences), request),
                mean_logprob=round(mean, 4),
                tokens=tokens,
            )
            rerank.score(candidate, request, sampling, self.templates.rerank, opening=opening)
            candidates.append(candidate)
        ranked = candidates if streaming else rerank.rank(candidates)
        best = next((candidate.text for candidate in ranked if candidate.text), "")
        total = time.perf_counter() - started
        timings.total_ms = round(total * 1000, 2)
        made = sum(candidate.tokens for candidate in candidates)
        timings.tokens_per_s = round(made / total, 1) if total else 0.0
        if not best:
            text = template_text(request, self.templates)
            return self._narration(
                request, prompt.text, text, ranked, started, timings, fallback=True
            )
        return self._narration(request, prompt.text, best, ranked, started, timings)

    # -- narrations ---------------------------------------------------------------------

    def _narration(
        self,
        request: ContentRequest,
        prompt: str,
        text: str,
        candidates: list[Candidate],
        started: float,
        timings: Timings | None = None,
        *,
        fallback: bool = False,
        cancelled: bool = False,
        notice: str = "",
    ) -> Narration:
        if timings is None:
            timings = Timings(total_ms=round((time.perf_counter() - started) * 1000, 2))
        return Narration(
            request=request,
            text=text,
            candidates=candidates,
            timings=timings,
            prompt=prompt,
            backend=self.backend,
            model=self.name,
            device=self.device,
            fallback=fallback,
            cancelled=cancelled,
            notice=notice,
        )

    def _cancelled(
        self, request: ContentRequest, prompt: str, streamer: Streamer, started: float
    ) -> Narration:
        text = streamer.shown.strip()
        return self._narration(
            request,
            prompt,
            text or template_text(request, self.templates),
            [],
            started,
            fallback=not text,
            cancelled=True,
        )

    def _fallback(
        self, request: ContentRequest, shown: Shown, why: str, started: float, prompt: str
    ) -> Narration:
        text = template_text(request, self.templates)
        shown.finish_with(text)
        self.context = 0  # ask /v1/models again next time: the server may be another one
        notice = (
            f"The model server at {self.endpoint.url} did not answer ({why}); the "
            "template narrator wrote this. The next turn tries the server again."
        )
        return self._narration(request, prompt, text, [], started, fallback=True, notice=notice)

    def warm_up(self) -> None:
        """Nothing to warm here: the server keeps its model warm."""


def _reason(error: BaseException) -> str:
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    return str(error) or type(error).__name__


def _error_message(raw: bytes, status: int) -> str:
    try:
        data = json.loads(raw)
        message = data.get("error", {}).get("message") or data.get("message")
    except (ValueError, AttributeError):
        message = None
    return f"HTTP {status}: {message or raw[:200].decode('utf-8', 'replace')}"


def load_remote(
    model: str,
    sampling: SamplingSettings | None = None,
    prompts: str | Path | None = None,
) -> RemoteGenerator:
    """The remote generator for ``openai:URL#MODEL`` (the loader's ``openai:`` branch).

    A server that is down now is not an error: the game starts, the template narrator
    writes (with a notice) and each request tries the server again.

    Raises:
        GeneratorError: a malformed address, a bad prompts file, or a server that answers
            but does not serve the model asked for.
    """
    from textgamegen.text.prompts import PromptError, load_templates

    started = time.perf_counter()
    try:
        endpoint = parse_model_url(model)
    except EndpointError as error:
        raise GeneratorError(str(error)) from None
    try:
        templates = load_templates(prompts)
    except PromptError as error:
        raise GeneratorError(str(error)) from None
    generator = RemoteGenerator(endpoint, sampling or SamplingSettings(), templates)
    generator.probe()
    generator.load_ms = round((time.perf_counter() - started) * 1000, 1)
    return generator
