"""The remote narrator: ``--model openai:URL#MODEL`` or ``openai-chat:URL#MODEL``.

Two APIs, one narrator. With ``openai:`` the game builds the same special-token prompt as
the local backend and sends it to an OpenAI-compatible ``/v1/completions``
(``textgamegen serve-model``, or vLLM serving the narrator). With ``openai-chat:``, or when
the server has no completions route (a 404 on the first request, as from Ollama's or LM
Studio's chat-only servers), it sends the same facts as a chat to ``/v1/chat/completions``:
a system message with the narration rules, then the story, the facts and what to write
(``text.prompts.build_chat_prompt``), for the instruct models players already run. A chat
answer is checked against the game's facts (``canon.contradictions``); one that
contradicts them is asked for once more, and then the template narrator writes it, saying
why.

Only standard OpenAI parameters are sent unless the server is known to take more: the
sampling extras the local backend uses (``top_k``, ``repetition_penalty``,
``min_tokens``, ``bad_words``) and the special-token handling (``skip_special_tokens``,
``add_special_tokens``) go to vLLM and serve-model, known by ``/v1/models`` (their
``max_model_len``, or ``owned_by``) or by a first answer (vLLM's ``stop_reason``). A
server that still refuses them with a 400 is asked again without them, and never sent
them again. An API key comes from the environment variable the settings name
(``api_key_env``) and goes only into the ``Authorization`` header: never into a message,
a record or a file. One candidate is asked for (``sampling.server_candidates``): on a
paid or slow server each costs.

What it takes from a server is bounded: at most ``PIECE_MARGIN`` times the pieces and
``BYTES_PER_TOKEN`` bytes per token it asked for, and at most ``deadline_s`` for the whole
narration, retries included (a server that trickles one piece every few seconds falls
back with a notice). Each piece is handled in time proportional to its own length.

No tokenizer is needed here: the prompt is fitted to the server's context (``max_model_len``
from ``/v1/models``) by characters, at a conservative characters-per-token rate; a
server that still finds it too long answers 400, and the prompt is retried at half the
size. Cancel (Esc) closes the connection, which stops the server's work. A refused or
hung connection is retried once; after that, or when the server dies mid-answer, the
template narrator writes the text with a notice, and the next request tries the server
again (so a restarted server is picked up). Pure Python (stdlib http.client).
"""

from __future__ import annotations

import collections.abc
import contextlib
import http.client
import json
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from textgamegen.config import SamplingSettings
from textgamegen.endpoint import CHAT, COMPLETIONS, Endpoint, EndpointError, parse_model_url
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
from textgamegen.narration.things import TRIES, ThingGuard, guarded
from textgamegen.text import canon
from textgamegen.text.cleanup import clean_text
from textgamegen.text.prompts import PromptTemplates, build_chat_prompt, build_prompt

STOPS = ["<|", "\n\n"]
"""Every tag starts with ``<|`` and a paragraph ends a narration (as the local streamer)."""
CHAT_STOPS = ["\n\n"]
"""A chat model's own special tokens are its server's business; a paragraph still ends it."""
CHARS_PER_TOKEN = 2.5
"""Prompt characters assumed per token when fitting a prompt without the tokenizer; BPE
English runs near 4, tags are ~10 characters a token, so 2.5 leaves a margin."""
DEFAULT_CONTEXT = 1024
MAX_BAD_WORDS = 256
"""At most this many barred words go with a request (a server may refuse a longer list;
the rerank still checks every name)."""
DEADLINE_S = 60.0
"""The most one narration may take, retries included: enough for a slow CPU server to
load its model and write 40 tokens, and a scripted game never hangs on a trickling one."""
PIECE_MARGIN = 2
"""A server may send up to this many times the pieces (tokens) asked for, plus
``PIECE_SLACK``: role, usage and finish events carry no token, and a server may split a
token's text. More is not read."""
PIECE_SLACK = 16
BYTES_PER_TOKEN = 1024
"""Bytes of the answer read per token asked for: an event of one token with its JSON is a
few hundred bytes (logprobs included), so an answer past this is not one of ours."""
BYTES_SLACK = 65536
LINE_LIMIT = 65536
"""The longest event line read; a longer one ends the answer."""
TEXT_BYTES_PER_TOKEN = 32
"""Text kept per token asked for: a token is rarely more than a dozen characters."""
STANDARD = frozenset(
    (
        "model", "prompt", "messages", "max_tokens", "temperature", "top_p", "n", "stop",
        "seed", "stream", "logprobs",
    )
)  # fmt: skip
"""The parameters every OpenAI-compatible server takes; anything else is an extra."""
EXTRAS_OWNERS = ("vllm", "textgamegen")
"""``/v1/models`` ``owned_by`` values of servers that take the extras."""
_EXTRA_NAMES = (
    "top_k", "repetition_penalty", "min_tokens", "bad_words", "add_special_tokens",
    "skip_special_tokens",
)  # fmt: skip
_UNKNOWN_FIELD = ("unrecognized", "unknown", "extra", "not permitted", "unsupported", "invalid")
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


class _Overdue(ServerError):
    """The narration's deadline passed: nothing more is waited for."""

    def __init__(self, deadline_s: float) -> None:
        super().__init__(f"no answer within the {deadline_s:g} s a narration may take", 0, False)


class _CharCodec:
    """prompts.TokenCodec by characters: fits a prompt with no tokenizer at hand."""

    def encode(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(chr(i) for i in ids)


@dataclass
class _Ask:
    """One request as sent: the route, the body's parts, and what the answer goes on from."""

    api: str
    prompt: str  # as shown in the model panel and recorded
    payload: dict[str, Any]  # the prompt or the messages
    opening: str
    sentences: int | None


class RemoteGenerator(Generator):
    """A ``Generator`` whose model runs behind an OpenAI-compatible API.

    Args:
        endpoint: the server, and which API to speak (``endpoint.api``).
        sampling: the player's sampling settings (sent with every request).
        templates: the prompt templates.
        connect_timeout: seconds to wait for a connection.
        read_timeout: seconds to wait for the next piece of an answer (a hung server).
        retries: further attempts after a refused, hung or failing request.
        api_key: sent as ``Authorization: Bearer`` ("" sends none); never shown.
        deadline_s: the most seconds one narration may take, retries included
            (default ``DEADLINE_S``).
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
        api_key: str = "",
        deadline_s: float | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.api = endpoint.api
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
        self.deadline_s = DEADLINE_S if deadline_s is None else deadline_s
        self._api_key = api_key
        self.extras: bool | None = None
        """Whether the server takes the extra parameters: None until ``/v1/models`` or an
        answer says, False once it refused them."""
        self.context = 0  # tokens; 0 until the server said (see ``probe``)
        self.notice = ""
        self.load_ms = 0.0
        self.dtype = "remote"
        self.quantized = False

    def __repr__(self) -> str:  # the key stays out of every log and traceback
        return f"RemoteGenerator({self.endpoint.url!r}, model={self.model_id!r}, api={self.api!r})"

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

    def _headers(self, **more: str) -> dict[str, str]:
        headers = dict(more)
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _hide_key(self, text: str) -> str:
        """A server may echo what it was sent; the key never reaches a notice."""
        return text.replace(self._api_key, "***") if self._api_key else text

    def probe(self, timeout: float | None = None) -> bool:
        """Ask ``/v1/models`` for the model, its context and whether the server takes the
        extras; False (with ``notice``) when the server does not answer.

        Raises:
            GeneratorError: the server answers but does not serve the model asked for.
        """
        connection = self._connection(timeout or self.connect_timeout)
        try:
            connection.request("GET", f"{self.endpoint.path}/models", headers=self._headers())
            response = connection.getresponse()
            raw = response.read(LINE_LIMIT * 16)
            if response.status != 200:
                raise ServerError(_error_message(raw, response.status), response.status)
            data = json.loads(raw or b"{}")
            if not isinstance(data, dict):
                raise ValueError("not a list of models")
        except (OSError, ValueError, http.client.HTTPException, ServerError) as error:
            self.notice = self._hide_key(
                f"The model server at {self.endpoint.url} is not answering "
                f"({_reason(error)}{_key_hint(error, self._api_key)}); the template narrator "
                "writes until it does."
            )
            return False
        finally:
            connection.close()
        listed = data.get("data")
        cards = (
            [card for card in listed if isinstance(card, dict)] if isinstance(listed, list) else []
        )
        ids = [str(card.get("id", "")) for card in cards]
        if not self.model_id:
            if not ids:
                raise GeneratorError(f"the model server at {self.endpoint.url} lists no model")
            self.model_id = self.name = ids[0]
        elif self.model_id not in ids:
            raise GeneratorError(
                f"the model server at {self.endpoint.url} does not serve "
                f"{self.model_id!r} (it serves: {', '.join(ids[:20]) or 'none'})"
            )
        card = cards[ids.index(self.model_id)]
        context = card.get("max_model_len") or card.get("context_length")
        if isinstance(context, int) and context > 0:
            self.context = context
        if self.extras is None and (
            card.get("owned_by") in EXTRAS_OWNERS or "max_model_len" in card
        ):
            self.extras = True
        self.notice = ""
        return True

    def _body(
        self,
        ask: _Ask,
        sampling: SamplingSettings,
        max_new: int,
        seed: int,
        count: int = 1,
        bad_words: Sequence[str] = (),
    ) -> bytes:
        body: dict[str, Any] = {
            "model": self.model_id or None,
            **ask.payload,
            "max_tokens": max_new,
            "temperature": sampling.temperature if sampling.do_sample else 0.0,
            "top_p": sampling.top_p,
            "n": count,
            "stop": CHAT_STOPS if ask.api == CHAT else STOPS,
            "seed": seed & _SEED_MASK,
            "stream": True,
        }
        if ask.api == COMPLETIONS:
            body["logprobs"] = 0
        if self.extras:
            body["top_k"] = sampling.top_k
            body["repetition_penalty"] = sampling.repetition_penalty
            # The narration must not be empty.
            body["min_tokens"] = 1
            if ask.api == COMPLETIONS:
                # The prompt's tags stay tags, and a tag the model writes must reach the
                # text so the stop strings see it.
                body["add_special_tokens"] = False
                body["skip_special_tokens"] = False
            if bad_words:
                # vLLM's parameter too: the compass points a room has no exit to (``canon``).
                body["bad_words"] = list(bad_words)
        return json.dumps(body).encode()

    def _events(
        self, api: str, body: bytes, cancel: threading.Event | None, deadline: float
    ) -> collections.abc.Generator[tuple[int, dict[str, Any] | None], None, None]:
        """POST a streaming request and yield each line's size in bytes with its
        server-sent event's JSON (None for a line that is no event).

        Raises:
            ServerError: refused, timed out, an HTTP error, or an error event.
            _Overdue: ``deadline`` (a ``time.monotonic`` time) passed.
        """

        def wait_s() -> float:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Overdue(self.deadline_s)
            return left

        connection = self._connection(min(self.connect_timeout, wait_s()))
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
        route = "chat/completions" if api == CHAT else "completions"
        try:
            try:
                connection.request(
                    "POST",
                    f"{self.endpoint.path}/{route}",
                    body,
                    self._headers(
                        **{"Content-Type": "application/json", "Accept": "text/event-stream"}
                    ),
                )
                if connection.sock is not None:
                    connection.sock.settimeout(min(self.read_timeout, wait_s()))
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as error:
                wait_s()  # a read cut short by the deadline is the deadline's
                raise ServerError(_reason(error)) from None
            if response.status != 200:
                raw = response.read(LINE_LIMIT)
                raise ServerError(
                    self._hide_key(_error_message(raw, response.status)),
                    response.status,
                    retry=response.status >= 500 or response.status == 429,
                )
            while True:
                if connection.sock is not None:
                    connection.sock.settimeout(min(self.read_timeout, wait_s()))
                try:
                    line = response.readline(LINE_LIMIT)
                except (OSError, http.client.HTTPException) as error:
                    wait_s()
                    raise ServerError(_reason(error)) from None
                if not line:
                    raise ServerError("the server closed the answer before its end")
                text = line.decode("utf-8", "replace").strip()
                if not text.startswith("data:"):
                    yield len(line), None  # a comment or a blank: bytes all the same
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
                yield len(line), event if isinstance(event, dict) else None
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

    def _ask(self, request: ContentRequest, budget: int) -> _Ask:
        """The prompt for the API spoken now, within ``budget`` characters."""
        if self.api == CHAT:
            chat = build_chat_prompt(request, self.templates, budget)
            return _Ask(CHAT, chat.text, {"messages": chat.messages}, chat.opening, chat.sentences)
        prompt = build_prompt(request, self.templates, _CharCodec(), budget)
        return _Ask(
            COMPLETIONS, prompt.text, {"prompt": prompt.text}, prompt.opening, prompt.sentences
        )

    def _write(
        self, request: ContentRequest, on_text: TextSink | None, cancel: threading.Event | None
    ) -> Narration:
        started = time.perf_counter()
        deadline = time.monotonic() + self.deadline_s
        sampling = self.sampling
        if not self.context:
            try:
                self.probe()
            except GeneratorError as error:
                return self._fallback(request, Shown(on_text), str(error), started, "")
        max_new = self.max_new_tokens(sampling)
        budget = int((self.n_positions - max_new) * CHARS_PER_TOKEN)
        attempts = 0
        checked = 0  # answers refused for contradicting the facts
        seed = request.seed
        streams = on_text is not None
        shown = Shown(on_text)
        while True:
            ask = self._ask(request, budget)
            streamer = Streamer(
                ask.opening, lambda ids: "", shown.again(), started, sentences=ask.sentences
            )
            sent_extras = bool(self.extras)
            try:
                narration = self._attempt(
                    request, ask, sampling, max_new, seed, streamer, streams, cancel, started,
                    deadline,
                )  # fmt: skip
            except ServerError as error:
                if cancel is not None and cancel.is_set():
                    return self._cancelled(request, ask.prompt, streamer, started)
                kept = clean_text(streamer.shown) if streams and streamer.ids else ""
                if kept:
                    # Died mid-answer: keep what the player already reads.
                    return self._narration(
                        request,
                        ask.prompt,
                        kept,
                        [],
                        started,
                        notice=f"The model server stopped mid-answer ({error}); the text "
                        "is cut short.",
                    )
                no_route = error.status in (404, 405) and "model" not in str(error).casefold()
                if no_route and ask.api == COMPLETIONS:
                    # No completions route (a chat-only server): speak chat from now on. A
                    # 404 about the model (vLLM's for a name it lacks) is no such sign.
                    self.api = CHAT
                    continue
                if error.status == 400 and sent_extras and _refuses_extras(str(error)):
                    self.extras = False  # remembered: never sent to this server again
                    continue
                too_long = error.status == 400 and "context length" in str(error)
                if too_long and budget > 64:
                    budget //= 2
                    continue
                overdue = time.monotonic() + self.retry_delay_s >= deadline
                if error.retry and attempts < self.retries and not overdue:
                    attempts += 1
                    if cancel is not None and cancel.wait(self.retry_delay_s):
                        return self._cancelled(request, ask.prompt, streamer, started)
                    if cancel is None:
                        time.sleep(self.retry_delay_s)
                    continue
                return self._fallback(request, shown, str(error), started, ask.prompt)
            if narration.fallback or narration.cancelled or ask.api != CHAT:
                return narration
            # An instruct model was never trained on this game: its line is held to the
            # facts, asked for once more if it breaks them, then left to the template.
            opening = ask.opening
            added = narration.text.removeprefix(opening) if opening else narration.text
            wrong = canon.contradictions(added, request)
            if not wrong:
                return narration
            checked += 1
            if checked > 1 or time.monotonic() >= deadline:
                why = "; ".join(str(fault) for fault in wrong[:3])
                return self._fallback(
                    request, shown, f"its line contradicted the game: {why}", started, ask.prompt,
                    contradicted=True,
                )  # fmt: skip
            seed += 1
            # The second line replaces the first whole, as a reranked line does.
            streams, shown = False, Shown(None)

    def _attempt(
        self,
        request: ContentRequest,
        ask: _Ask,
        sampling: SamplingSettings,
        max_new: int,
        seed: int,
        streamer: Streamer,
        streaming: bool,
        cancel: threading.Event | None,
        started: float,
        deadline: float,
    ) -> Narration:
        opening = ask.opening
        # The streamer decodes "ids" (indices of the received pieces) to the text so far;
        # kept as it grows, so a piece costs its own length, not the answer's.
        received = [""]

        def decode(_ids: list[int]) -> str:
            return received[0]

        streamer.decode = decode
        streamer.start()
        # A streamed line is the one that stays (as with the local narrator): only when
        # nothing is shown yet are several sampled and ranked.
        count = 1 if streaming or not sampling.do_sample else sampling.server_candidates
        texts: list[list[str]] = [[] for _ in range(count)]
        kept = [0] * count  # text bytes per choice
        logprobs: list[list[float]] = [[] for _ in range(count)]
        finished = [False] * count
        timings = Timings()
        barred = list(
            dict.fromkeys(
                form for word in canon.barred_words(request) for form in (word, word.capitalize())
            )
        )[:MAX_BAD_WORDS]
        # The streamed line names only what is on screen (``narration.things``), as the
        # local narrator's does: a phrase is held until it closes, and one naming nothing
        # here ends the answer there; the server is asked again to go on from before the
        # phrase, its word barred. Completions only: a chat answer cannot be continued.
        # A server that cannot bar the word may write it again: fewer tries there.
        guard = (
            ThingGuard(request, opening, _CharCodec().decode, TRIES if self.extras else 2)
            if streaming and sampling.seen_things and guarded(request) and ask.api == COMPLETIONS
            else None
        )
        leg_ask, leg_barred, leg_seed = ask, barred, seed
        # What is read is bounded by what was asked for: a server that sends more (or
        # never stops) is cut off there, and the line is what came within the bounds.
        most_events = count * (PIECE_MARGIN * max_new + PIECE_SLACK)
        most_bytes = BYTES_SLACK + count * max_new * BYTES_PER_TOKEN
        most_text = max_new * TEXT_BYTES_PER_TOKEN
        events = read = pushed = 0
        while True:
            body = self._body(leg_ask, sampling, max_new, leg_seed, count, leg_barred)
            back = None
            stream = self._events(ask.api, body, cancel, deadline)
            with contextlib.closing(stream):
                for size, event in stream:
                    read += size
                    events += event is not None
                    if event is not None:
                        self._take(event, ask, count, texts, kept, logprobs, finished, most_text)
                        while pushed < len(texts[0]) and not streamer.ended and back is None:
                            piece = texts[0][pushed]
                            pushed += 1
                            if ask.api == CHAT and not received[0]:
                                # A chat answer may open with a blank line, which is no end.
                                piece = piece.lstrip()
                                if piece and opening:
                                    piece = " " + piece
                            if guard is None:
                                if piece:
                                    received[0] += piece
                                    streamer.push(pushed)
                                continue
                            back = self._guard_piece(guard, piece, received, streamer, False)
                        if finished[0] and not timings.first_candidate_ms and back is None:
                            timings.first_candidate_ms = round(
                                (time.perf_counter() - started) * 1000, 2
                            )
                        usage = event.get("usage")
                        if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
                            timings.prompt_tokens = usage["prompt_tokens"]
                    if back is not None or all(finished) or (count == 1 and streamer.ended):
                        break  # closing the stream stops the server's work on it
                    if events >= most_events or read >= most_bytes:
                        break
            if guard is not None and back is None and not streamer.ended:
                # The answer has ended: a phrase at its end is closed by it.
                back = self._guard_piece(guard, "", received, streamer, True)
            if back is None or (cancel is not None and cancel.is_set()):
                break
            if events >= most_events or read >= most_bytes or time.monotonic() >= deadline:
                break
            # Go on from what the guard kept, with the phrase's word barred.
            assert guard is not None  # only the guard takes a phrase back
            written = guard.text[len(opening) :].rstrip()
            word = guard.taken_back[-1].split()[0]
            leg_barred = list(dict.fromkeys([*leg_barred, word, word.capitalize()]))
            leg_barred = leg_barred[:MAX_BAD_WORDS]
            leg_ask = replace(
                ask, prompt=ask.prompt + written, payload={"prompt": ask.prompt + written}
            )
            leg_seed += 1
            texts[0], kept[0], finished[0], pushed = [written], len(written), False, 1
        timings.first_token_ms = round(streamer.first_token_ms, 2)
        if cancel is not None and cancel.is_set():
            return self._cancelled(request, ask.prompt, streamer, started)
        if guard is not None:
            # The line is what the guard let through, taken-back phrases gone.
            texts[0] = [guard.text[len(opening) :]]
            timings.taken_back = len(guard.taken_back)
        candidates = []
        for pieces, numbers in zip(texts, logprobs, strict=True):
            text = "".join(pieces)
            if ask.api == CHAT:
                # An instruct model may say the opening again before going on from it.
                text = text.lstrip()
                if opening and text.casefold().startswith(opening.casefold()):
                    text = text[len(opening) :]
                text = (" " if opening else "") + text
            mean = sum(numbers) / len(numbers) if numbers else 0.0
            tokens = len(numbers) or len(pieces)
            candidate = Candidate(
                canon.spell_names(clean_text(opening + text, ask.sentences), request),
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
                request, ask.prompt, text, ranked, started, timings, fallback=True
            )
        return self._narration(request, ask.prompt, best, ranked, started, timings)

    @staticmethod
    def _guard_piece(
        guard: ThingGuard, piece: str, received: list[str], streamer: Streamer, finished: bool
    ) -> int | None:
        """Give ``piece`` to the things guard character by character and show what it lets
        through; the number of characters kept when it took a phrase back, else None."""
        if guard.ids and chr(guard.ids[-1]).isspace():
            # A leg goes on from before the space it was taken back to ("the" + " lamp").
            piece = piece.lstrip()
        for char in piece:
            guard.push(ord(char))
        passed, back = guard.check(finished, len(received[0]))
        if back is not None:
            return back
        text = guard.text[len(guard.opening) :][:passed]  # one character an id
        if len(text) > len(received[0]):
            received[0] = text
            streamer.push(len(streamer.ids) + 1)
        return None

    def _take(
        self,
        event: dict[str, Any],
        ask: _Ask,
        count: int,
        texts: list[list[str]],
        kept: list[int],
        logprobs: list[list[float]],
        finished: list[bool],
        most_text: int,
    ) -> None:
        """Add one event's pieces to their choices, each within ``most_text`` bytes."""
        choices = event.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            if not isinstance(index, int) or not 0 <= index < count or finished[index]:
                continue
            if self.extras is None and "stop_reason" in choice:
                self.extras = True  # vLLM's answer: its extras are taken from now on
            if ask.api == CHAT:
                delta = choice.get("delta") or choice.get("message") or {}
                piece = delta.get("content") if isinstance(delta, dict) else None
                numbers = [
                    entry.get("logprob")
                    for entry in ((choice.get("logprobs") or {}).get("content") or [])
                    if isinstance(entry, dict)
                ]
            else:
                piece = choice.get("text")
                numbers = (choice.get("logprobs") or {}).get("token_logprobs") or []
            if isinstance(piece, str) and piece:
                room = most_text - kept[index]
                piece = piece[:room]
                kept[index] += len(piece)
                if piece:
                    texts[index].append(piece)
                if kept[index] >= most_text:
                    finished[index] = True
            if isinstance(numbers, list):
                logprobs[index].extend(
                    float(n) for n in numbers[:PIECE_SLACK] if isinstance(n, (int, float))
                )
            if choice.get("finish_reason"):
                finished[index] = True

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
        self,
        request: ContentRequest,
        shown: Shown,
        why: str,
        started: float,
        prompt: str,
        *,
        contradicted: bool = False,
    ) -> Narration:
        text = template_text(request, self.templates)
        shown.finish_with(text)
        if contradicted:
            notice = (
                f"The model at {self.endpoint.url} wrote twice what the game does not allow "
                f"({why}); the template narrator wrote this."
            )
        else:
            self.context = 0  # ask /v1/models again next time: the server may be another one
            notice = (
                f"The model server at {self.endpoint.url} did not answer "
                f"({why}{_key_hint(why, self._api_key)}); the template narrator wrote this. "
                "The next turn tries the server again."
            )
        notice = self._hide_key(notice)
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
    message: Any = None
    try:
        data = json.loads(raw)
        error = data.get("error") if isinstance(data, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        message = message or (data.get("message") if isinstance(data, dict) else None)
    except ValueError:
        pass
    if not isinstance(message, str) or not message:
        message = raw[:200].decode("utf-8", "replace")
    return f"HTTP {status}: {message[:300]}"


def _refuses_extras(message: str) -> bool:
    """Whether a 400 is about a parameter the server does not take (OpenAI: "Unrecognized
    request argument supplied: top_k"; others name the field or call it extra)."""
    lowered = message.casefold()
    named = any(name in lowered for name in _EXTRA_NAMES)
    return named or any(word in lowered for word in _UNKNOWN_FIELD)


def _key_hint(error: BaseException | str, key: str) -> str:
    """What to do about a refused key, for a 401 or 403."""
    if isinstance(error, ServerError):
        status = error.status
    else:
        text = str(error)
        status = 401 if text.startswith("HTTP 401") else 403 if text.startswith("HTTP 403") else 0
    if status not in (401, 403):
        return ""
    if not key:
        return "; it wants an API key: name its environment variable with --api-key-env"
    return "; the API key was refused"


def api_key_from(variable: str) -> str:
    """The API key in the environment variable ``variable`` ("" names none).

    Raises:
        GeneratorError: the variable is named but not set, or empty.
    """
    if not variable:
        return ""
    key = os.environ.get(variable, "").strip()
    if not key:
        raise GeneratorError(
            f"api_key_env names the environment variable {variable}, which is not set"
        )
    return key


def load_remote(
    model: str,
    sampling: SamplingSettings | None = None,
    prompts: str | Path | None = None,
    api_key_env: str = "",
) -> RemoteGenerator:
    """The remote generator for ``openai:URL#MODEL`` or ``openai-chat:URL#MODEL`` (the
    loader's model server branch).

    A server that is down now is not an error: the game starts, the template narrator
    writes (with a notice) and each request tries the server again.

    Args:
        model: the address.
        sampling: the sampling settings.
        prompts: a prompts file laid over the shipped one.
        api_key_env: the name of the environment variable that holds the server's API
            key ("" sends none).

    Raises:
        GeneratorError: a malformed address, a bad prompts file, an API key variable that
            is not set, or a server that answers but does not serve the model asked for.
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
    key = api_key_from(api_key_env)
    generator = RemoteGenerator(endpoint, sampling or SamplingSettings(), templates, api_key=key)
    generator.probe()
    generator.load_ms = round((time.perf_counter() - started) * 1000, 1)
    return generator
