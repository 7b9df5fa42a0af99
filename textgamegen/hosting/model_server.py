"""``textgamegen serve-model``: one process holds the narrator and answers many games.

It speaks the OpenAI API, so any client written for it works, and the game's remote
backend works unchanged against vLLM: ``POST /v1/completions`` and
``POST /v1/chat/completions`` (``stream`` as server-sent events ending in
``data: [DONE]``), ``GET /v1/models`` (with the context length as ``max_model_len``, as
vLLM reports it) and ``GET /health``.

Requests are batched (``hosting.batching``): one that arrives while others decode joins
them at the next step, so many games share each forward pass and a newcomer's first word
does not wait for the others to finish. ``max_batch=1`` serves one request at a time,
first come first served, as before. A client that disconnects cancels its request:
waiting, it is dropped; running, its rows stop before their next token.

Nothing a client sends can take the server down or hold it:

* a request costs at most ``MAX_PROMPTS`` prompts and ``max_request_tokens`` tokens (its
  prompts, and ``n`` x ``max_tokens`` for each); more is a 400 that names the limit, not a
  429 that asks to try again what can never succeed;
* bodies over 1 MiB get a 413; bodies that are not JSON, nested too deep or holding a
  lone surrogate get a 400; bad parameters a 400 whose message names the parameter;
* connections are capped below the descriptor limit (the oldest idle one closes to let a
  new one in), idle ones close after ``IDLE_TIMEOUT_S``, and repeated log lines (a failed
  accept, a broken connection) are written once per kind, with a count.

Example::

    textgamegen serve-model --model textgamegen --port 8001
    curl http://127.0.0.1:8001/v1/completions -d '{"prompt": "<|action|> You", "max_tokens": 20}'
    curl http://127.0.0.1:8001/v1/chat/completions \\
        -d '{"messages": [{"role": "user", "content": "Describe a quiet harbour."}]}'
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import math
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import torch
from aiohttp import web

from textgamegen.hosting.batching import Scheduler
from textgamegen.hosting.completion import (
    Batch,
    Completion,
    CompletionEngine,
    CompletionError,
    CompletionParams,
    Request,
)

MAX_BODY_BYTES = 1 << 20
"""Request bodies above this are refused with 413 (no prompt needs a megabyte)."""

MODEL_TIME_HEADER = "X-Model-Time-Ms"
"""Milliseconds the model spent on a (non-streamed) request, queue wait excluded."""

UNSUPPORTED = ("suffix", "echo", "logit_bias")
"""OpenAI parameters this server does not implement: refused rather than ignored."""

DEFAULT_MAX_BATCH = 16
"""Rows (choices) decoded together by default: three or four games' candidates."""

MAX_PROMPTS = 32
"""Prompts in one completions request (the game sends one)."""

MAX_REQUEST_TOKENS = 16384
"""Tokens one request may cost by default: its prompts, and n x max_tokens for each."""

MAX_MESSAGES = 256
"""Messages in one chat."""

CHAT_MAX_TOKENS = 256
"""A chat's answer length when the request gives none (less if the context is short)."""

MAX_JSON_DEPTH = 32
"""Nesting deeper than this in a body is refused (no request needs more than 4)."""

DEFAULT_MAX_CONNECTIONS = 512
"""Open connections by default (lowered to fit the descriptor limit)."""

FD_HEADROOM = 64
"""Descriptors kept free for the model's files, the listener and logs."""

ACCEPT_BACKLOG = 32
"""The listen backlog, which is also how many connections asyncio accepts at once before
any is counted: the cap leaves room for two such bursts (the newcomers, and the idle ones
they close, whose descriptors are freed a moment later)."""

IDLE_TIMEOUT_S = 15.0
"""An open connection with no request for this long is closed (aiohttp's keep-alive)."""


def error_body(
    message: str,
    kind: str = "invalid_request_error",
    param: str | None = None,
    code: int | None = None,
) -> dict[str, Any]:
    """An error in OpenAI's shape, which the official client turns into a typed exception."""
    return {
        "error": {"message": message, "type": kind, "param": param, "code": code},
        "object": "error",
        "message": message,
    }


def _error(status: int, message: str, param: str | None = None) -> web.Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status == 404:
        kind = "not_found_error"
    return web.json_response(error_body(message, kind, param, status), status=status)


def _int(body: dict[str, Any], name: str, default: int | None) -> int | None:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise CompletionError(
            f"'{name}' must be an integer, not {json.dumps(value)[:40]}", param=name
        )
    return value


def _number(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CompletionError(
            f"'{name}' must be a number, not {json.dumps(value)[:40]}", param=name
        )
    return float(value)


def _bool(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise CompletionError(f"'{name}' must be true or false", param=name)
    return value


def _prompts(body: dict[str, Any]) -> list[str | list[int]]:
    """The prompts of a request: a string, a list of strings, token ids or lists of ids."""
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, str) for p in prompt):
            return list(prompt)
        if all(isinstance(p, int) and not isinstance(p, bool) for p in prompt):
            return [list(prompt)]
        if all(isinstance(p, list) and p for p in prompt):
            return [list(p) for p in prompt]
    raise CompletionError(
        "'prompt' must be a string, a list of strings, a list of token ids or a list of "
        "lists of token ids",
        param="prompt",
    )


def parse_params(body: dict[str, Any]) -> CompletionParams:
    """The request's sampling parameters, checked; CompletionError names the bad one."""
    for name in UNSUPPORTED:
        if body.get(name) not in (None, False, {}, ""):
            raise CompletionError(f"'{name}' is not supported by this server", param=name)
    for name in ("presence_penalty", "frequency_penalty"):
        if _number(body, name, 0.0) != 0.0:
            raise CompletionError(f"'{name}' is not supported (use repetition_penalty)", param=name)
    n = _int(body, "n", 1)
    assert n is not None
    best_of = _int(body, "best_of", None)
    if best_of is not None and best_of != n:
        raise CompletionError("'best_of' other than n is not supported", param="best_of")
    stop = body.get("stop")
    if stop is None:
        stops: tuple[str, ...] = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stops = tuple(stop)
    else:
        raise CompletionError("'stop' must be a string or a list of strings", param="stop")
    bad = body.get("bad_words")
    if bad is None:
        bad_words: tuple[str, ...] = ()
    elif isinstance(bad, list) and all(isinstance(word, str) for word in bad):
        bad_words = tuple(bad)
    else:
        raise CompletionError("'bad_words' must be a list of strings", param="bad_words")
    params = CompletionParams(
        max_tokens=_int(body, "max_tokens", 16) or 0,
        temperature=_number(body, "temperature", 1.0),
        top_p=_number(body, "top_p", 1.0),
        top_k=_int(body, "top_k", 0) or 0,
        repetition_penalty=_number(body, "repetition_penalty", 1.0),
        n=n,
        stop=stops,
        seed=_int(body, "seed", None),
        min_tokens=_int(body, "min_tokens", 0) or 0,
        logprobs=_int(body, "logprobs", None),
        skip_special_tokens=_bool(body, "skip_special_tokens", True),
        add_special_tokens=_bool(body, "add_special_tokens", False),
        bad_words=bad_words,
    )
    params.check()
    return params


def _logprobs(choice: Any, params: CompletionParams) -> dict[str, Any] | None:
    if params.logprobs is None:
        return None
    offsets, at = [], 0
    for text in choice.token_texts:
        offsets.append(at)
        at += len(text)
    return {
        "tokens": choice.token_texts,
        "token_logprobs": choice.token_logprobs,
        "top_logprobs": choice.top_logprobs or None,
        "text_offset": offsets,
    }


CHAT_ROLES = ("system", "developer", "user", "assistant")


def _messages(body: dict[str, Any]) -> list[dict[str, str]]:
    """A chat's messages as role and text; parts of type "text" are joined."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or len(messages) > MAX_MESSAGES:
        raise CompletionError(
            f"'messages' must be a list of 1 to {MAX_MESSAGES} messages", param="messages"
        )
    read = []
    for message in messages:
        role = message.get("role") if isinstance(message, dict) else None
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list) and all(
            isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
            for part in content
        ):
            content = "".join(part["text"] for part in content)
        if role not in CHAT_ROLES or not isinstance(content, str):
            raise CompletionError(
                "each of 'messages' needs a 'role' (" + ", ".join(CHAT_ROLES) + ") and a text "
                "'content' (a string or text parts)",
                param="messages",
            )
        read.append({"role": "system" if role == "developer" else role, "content": content})
    return read


def parse_chat_params(body: dict[str, Any]) -> CompletionParams:
    """A chat request's sampling: as ``parse_params``, with ``max_completion_tokens`` (or
    ``max_tokens``, default ``CHAT_MAX_TOKENS``) and no token log-probabilities."""
    if body.get("logprobs") not in (None, False) or body.get("top_logprobs") is not None:
        raise CompletionError("'logprobs' is not supported for chats", param="logprobs")
    if body.get("tools") or body.get("response_format") not in (None, {"type": "text"}):
        name = "tools" if body.get("tools") else "response_format"
        raise CompletionError(f"'{name}' is not supported by this server", param=name)
    most = body.get("max_completion_tokens")
    flat = {key: value for key, value in body.items() if key not in ("logprobs", "top_logprobs")}
    flat["max_tokens"] = most if most is not None else body.get("max_tokens", CHAT_MAX_TOKENS)
    return parse_params(flat)


@dataclass
class _Job:
    ids: list[int]
    params: CompletionParams
    offset: int  # the index of this prompt's first choice
    end_ids: tuple[int, ...] = ()  # a chat template's end of turn
    model_s: float = 0.0  # seconds the model spent on it (not waiting for it)
    engine: CompletionEngine | None = None
    """The engine that encoded it and finishes it, even if another is swapped in since."""


@dataclass(frozen=True)
class _Shape:
    """How one API writes its answers: completions give ``text``, chats a ``message``
    (streamed as a ``delta``, the first with the role)."""

    chat: bool

    @property
    def prefix(self) -> str:
        return "chatcmpl" if self.chat else "cmpl"

    def head(self, ident: str, model: str, chunk: bool = False) -> dict[str, Any]:
        kind = "text_completion"
        if self.chat:
            kind = "chat.completion.chunk" if chunk else "chat.completion"
        return {"id": ident, "object": kind, "created": int(time.time()), "model": model}

    def choice(self, index: int, choice: Any, params: CompletionParams) -> dict[str, Any]:
        if self.chat:
            return {
                "index": index,
                "message": {"role": "assistant", "content": choice.text},
                "logprobs": None,
                "finish_reason": choice.finish_reason,
            }
        return {
            "index": index,
            "text": choice.text,
            "logprobs": _logprobs(choice, params),
            "finish_reason": choice.finish_reason,
        }

    def piece(
        self, index: int, text: str, reason: str | None, logprobs: Any, first: bool
    ) -> dict[str, Any]:
        if self.chat:
            delta: dict[str, str] = {"content": text} if text or not reason else {}
            if first:
                delta = {"role": "assistant", **delta}
            return {"index": index, "delta": delta, "logprobs": None, "finish_reason": reason}
        return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": reason}


COMPLETIONS = _Shape(chat=False)
CHATS = _Shape(chat=True)


class ModelService:
    """The HTTP side: routes, parsing, limits, the model thread and cancellation.

    Args:
        engine: the completion engine (holds the model).
        max_queue: prompts in flight beyond this get a 429 (a request with more prompts
            than this can never be served: 400).
        max_batch: rows decoded together (``hosting.batching``); 1 serves one request at
            a time, first come first served, as serve-model did before batching.
        max_request_tokens: the most tokens one request may cost (its prompts, and ``n`` x
            ``max_tokens`` for each); more gets a 400 that names the limit.
        max_connections: open connections beyond this close the oldest idle one (or, with
            none idle, the new one): below the descriptor limit, so the server stays
            reachable (see ``connection_cap``).
    """

    def __init__(
        self,
        engine: CompletionEngine,
        max_queue: int = 256,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_request_tokens: int = MAX_REQUEST_TOKENS,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        api_key: str = "",
    ) -> None:
        self.engine = engine
        self._api_key = api_key
        self.max_queue = max_queue
        self.max_batch = max_batch
        self.max_request_tokens = max_request_tokens
        self.max_connections = connection_cap(max_connections)
        self.scheduler = Scheduler(engine, max_batch) if max_batch > 1 else None
        # One request at a time: a thread whose queue is first in, first out.
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self.waiting = 0
        self.served = 0
        self.cancelled = 0
        self.refused_connections = 0
        self.created = int(time.time())
        self._busy: Counter[object] = Counter()  # connections with a request in hand
        self._open: dict[Any, None] = {}  # open connections, oldest first
        self._server: web.Server | None = None

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=MAX_BODY_BYTES, middlewares=[self._authorise, self._track]
        )
        app.add_routes(
            [
                web.get("/health", self.health),
                web.get("/v1/models", self.models),
                web.post("/v1/completions", self.completions),
                web.post("/v1/chat/completions", self.chat_completions),
            ]
        )
        app.on_shutdown.append(self._shutdown)
        return app

    async def _shutdown(self, _app: web.Application) -> None:
        self._model_thread.shutdown(wait=False, cancel_futures=True)
        if self.scheduler is not None:
            self.scheduler.stop()

    # -- connections ----------------------------------------------------------------------

    @web.middleware
    async def _authorise(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """With an API key, every route but ``/health`` wants ``Authorization: Bearer KEY``
        (as llama.cpp's server and vLLM ask): a server reachable from elsewhere is not
        everyone's model. The key is compared in constant time and never written out."""
        if self._api_key and request.path != "/health":
            given = request.headers.get("Authorization", "")
            wanted = f"Bearer {self._api_key}"
            if not hmac.compare_digest(given.encode("utf-8", "replace"), wanted.encode()):
                response = _error(
                    401, "this server wants an API key: send Authorization: Bearer KEY"
                )
                response.headers["WWW-Authenticate"] = "Bearer"
                return response
        answer: web.StreamResponse = await handler(request)
        return answer

    @web.middleware
    async def _track(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Marks the connection busy while its request is handled (idle ones may close)."""
        protocol = request.protocol
        self._busy[protocol] += 1
        try:
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            self._busy[protocol] -= 1
            if self._busy[protocol] <= 0:
                del self._busy[protocol]

    def watch_connections(self, server: web.Server) -> None:
        """Put the connection cap on aiohttp's server: each connection is counted when it
        is made (the event loop may accept many before any is made) and forgotten when it
        is lost. The server is told of both (``connection_made``, ``connection_lost``);
        those are wrapped on this one instance, as aiohttp builds the server itself."""
        self._server = server
        made, lost = server.connection_made, server.connection_lost

        def connection_made(handler: Any, transport: asyncio.Transport) -> None:
            made(handler, transport)
            self._open[handler] = None
            if len(self._open) > self.max_connections:
                self._over_cap(handler)

        def connection_lost(handler: Any, error: BaseException | None = None) -> None:
            self._open.pop(handler, None)
            lost(handler, error)

        setattr(server, "connection_made", connection_made)  # noqa: B010
        setattr(server, "connection_lost", connection_lost)  # noqa: B010

    def _over_cap(self, newcomer: Any) -> None:
        """Close the oldest idle connection, or else the newcomer (all are busy)."""
        self.refused_connections += 1
        log_once(
            "cap",
            f"serve-model: {self.max_connections} connections are open (the cap); the oldest "
            "idle one closes for each new one",
        )
        idle = next((c for c in self._open if c is not newcomer and c not in self._busy), None)
        victim = idle if idle is not None else newcomer
        self._open.pop(victim, None)
        victim.force_close()

    # -- routes ---------------------------------------------------------------------------

    async def health(self, _request: web.Request) -> web.Response:
        scheduler = self.scheduler
        return web.json_response(
            {
                "status": "ok",
                "model": self.engine.name,
                "waiting": self.waiting,
                "decoding": scheduler.decoding if scheduler is not None else None,
                "max_batch": self.max_batch,
                "served": self.served,
                "cancelled": self.cancelled,
                "connections": len(self._open),
                "max_connections": self.max_connections,
                "closed_connections": self.refused_connections,
            }
        )

    async def models(self, _request: web.Request) -> web.Response:
        card = {
            "id": self.engine.name,
            "object": "model",
            "created": self.created,
            "owned_by": "textgamegen",
            "max_model_len": self.engine.context,
        }
        return web.json_response({"object": "list", "data": [card]})

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise CompletionError(
                f"the request body is over {MAX_BODY_BYTES} bytes", status=413
            ) from None
        return read_body(raw)

    def _model(self, body: dict[str, Any]) -> None:
        model = body.get("model")
        if model not in (None, "", self.engine.name):
            raise CompletionError(
                f"The model '{str(model)[:100]}' does not exist; this server "
                f"serves '{self.engine.name}'",
                status=404,
                param="model",
            )

    def _check_cost(self, jobs: list[_Job]) -> None:
        """A request that can never be served is refused with a 400 naming the limit."""
        cost = sum(len(job.ids) + job.params.n * job.params.max_tokens for job in jobs)
        if cost > self.max_request_tokens:
            raise CompletionError(
                f"this request would cost {cost} tokens (its prompts, and n x max_tokens for "
                f"each), over the server's limit of {self.max_request_tokens} per request; "
                "send fewer prompts, a lower n or a lower max_tokens",
                param="max_tokens",
            )

    def _completion_jobs(self, body: dict[str, Any], params: CompletionParams) -> list[_Job]:
        self._model(body)
        prompts = _prompts(body)
        most = min(MAX_PROMPTS, self.max_queue)
        if len(prompts) > most:
            # Counted before any is encoded: thousands of prompts cost nothing.
            raise CompletionError(
                f"a request may have at most {most} prompts (it has {len(prompts)}); "
                "send them in several requests",
                param="prompt",
            )
        jobs, engine = [], self.engine
        for number, prompt in enumerate(prompts):
            ids = engine.encode(prompt, params.add_special_tokens)
            engine.check_length(len(ids), params.max_tokens)
            jobs.append(_Job(ids, params, number * params.n, engine=engine))
        return jobs

    def replace_engine(self, engine: CompletionEngine) -> None:
        """Serve a new model from the next request on (``hosting/reload.py``, on promote):
        requests already taken finish on the engine they started with, none is dropped
        (the batch takes the new model once the old one's rows are done)."""
        self.engine = engine
        if self.scheduler is not None:
            self.scheduler.switch(engine)

    async def completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await self._body(request)
            params = parse_params(body)
            jobs = self._completion_jobs(body, params)
        except CompletionError as error:
            return _error(error.status, str(error), error.param)
        return await self._answer(request, body, jobs, COMPLETIONS)

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await self._body(request)
            self._model(body)
            params = parse_chat_params(body)
            messages = _messages(body)
            engine = self.engine
            ids = engine.encode(engine.chat_prompt(messages))
            if body.get("max_completion_tokens") is None and body.get("max_tokens") is None:
                # No length asked for: as much as the context leaves, up to the default.
                room = engine.context - len(ids)
                params = replace(params, max_tokens=max(1, min(params.max_tokens, room)))
            params = replace(params, stop=(*params.stop, *engine.chat_stops()))
            engine.check_length(len(ids), params.max_tokens)
            jobs = [_Job(ids, params, 0, tuple(engine.chat_end_ids), engine=engine)]
        except CompletionError as error:
            return _error(error.status, str(error), error.param)
        return await self._answer(request, body, jobs, CHATS)

    async def _answer(
        self, request: web.Request, body: dict[str, Any], jobs: list[_Job], shape: _Shape
    ) -> web.StreamResponse:
        try:
            self._check_cost(jobs)
            stream = _bool(body, "stream", False)
            options = body.get("stream_options") or {}
            usage_wanted = isinstance(options, dict) and bool(options.get("include_usage"))
        except CompletionError as error:
            return _error(error.status, str(error), error.param)
        if self.waiting + len(jobs) > self.max_queue:
            response = _error(
                429, f"{self.waiting} requests are waiting for the model; try again shortly"
            )
            response.headers["Retry-After"] = "1"
            return response
        ident = f"{shape.prefix}-{uuid.uuid4().hex}"
        if stream:
            return await self._stream(request, ident, jobs, usage_wanted, shape)
        return await self._whole(ident, jobs, shape)

    # -- the model ------------------------------------------------------------------------

    async def _run(
        self, job: _Job, cancel: threading.Event, client: object, on_piece: Any = None
    ) -> Completion:
        """Run one job (batched, or queued on the one-at-a-time thread); a cancelled await
        cancels the job."""
        self.waiting += 1
        try:
            if self.scheduler is not None:
                # Off the event loop: tokenizing hundreds of bad words takes milliseconds
                # that other clients' streams should not wait for.
                wanted = await asyncio.get_running_loop().run_in_executor(
                    None,
                    Request,
                    job.engine or self.engine,
                    job.ids,
                    job.params,
                    on_piece,
                    cancel,
                    client,
                    job.end_ids,
                )
                future: asyncio.Future[Completion] = asyncio.wrap_future(
                    self.scheduler.submit(wanted)
                )
            else:
                future = asyncio.get_running_loop().run_in_executor(
                    self._model_thread, self._alone, job, cancel, on_piece
                )
            try:
                result = await asyncio.shield(future)
            except asyncio.CancelledError:
                cancel.set()
                if self.scheduler is not None:
                    self.scheduler.wake()
                raise
            if self.scheduler is not None:
                # Its time in the batch (shared with the rows beside it), not its wait.
                job.model_s = (result.total_ms - result.queue_ms) / 1000
            return result
        finally:
            self.waiting -= 1

    def _alone(self, job: _Job, cancel: threading.Event, on_piece: Any) -> Completion:
        started = time.perf_counter()
        engine = job.engine or self.engine
        try:
            if job.end_ids:
                # A chat's end of turn ends its choices too: the one-at-a-time path runs
                # the same rows as the batch, alone.
                with engine.lock, torch.inference_mode():
                    request = Request(
                        engine, job.ids, job.params, on_piece, cancel, None, job.end_ids
                    )
                    batch = Batch(engine)
                    batch.admit(list(request.pending))
                    while batch.rows:
                        batch.step()
                    return request.completion()
            return engine.complete(job.ids, job.params, on_piece, cancel)
        finally:
            job.model_s = time.perf_counter() - started

    async def _whole(self, ident: str, jobs: list[_Job], shape: _Shape) -> web.Response:
        cancel = threading.Event()
        try:
            results = await asyncio.gather(*(self._run(job, cancel, cancel) for job in jobs))
        except asyncio.CancelledError:
            cancel.set()
            self.cancelled += 1
            raise
        except Exception as error:  # noqa: BLE001 - a model fault is the client's 500, not ours
            return _error(500, f"the model failed: {type(error).__name__}: {error}")
        choices = []
        for job, result in zip(jobs, results, strict=True):
            for number, choice in enumerate(result.choices):
                choices.append(shape.choice(job.offset + number, choice, job.params))
        self.served += 1
        prompt_tokens = sum(result.prompt_tokens for result in results)
        made = sum(result.completion_tokens for result in results)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": made,
            "total_tokens": prompt_tokens + made,
        }
        # The model's own time, so a client can tell the server's overhead (HTTP, JSON,
        # queue) from the generation: bench/serving.py subtracts it from the round trip.
        model_ms = sum(job.model_s for job in jobs) * 1000
        return web.json_response(
            {**shape.head(ident, self.engine.name), "choices": choices, "usage": usage},
            headers={MODEL_TIME_HEADER: f"{model_ms:.3f}"},
        )

    async def _stream(
        self,
        request: web.Request,
        ident: str,
        jobs: list[_Job],
        usage_wanted: bool,
        shape: _Shape,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        head = shape.head(ident, self.engine.name, chunk=True)
        pieces: asyncio.Queue[tuple[_Job, int, str, str | None, float | None] | None]
        pieces = asyncio.Queue()

        async def send(data: dict[str, Any] | str) -> None:
            text = data if isinstance(data, str) else json.dumps(data)
            await response.write(f"data: {text}\n\n".encode())

        def sink(job: _Job) -> Any:
            def on_piece(index: int, text: str, reason: str | None, logprob: float | None) -> None:
                loop.call_soon_threadsafe(pieces.put_nowait, (job, index, text, reason, logprob))

            return on_piece

        def on_done(_task: asyncio.Future[Any]) -> None:
            pieces.put_nowait(None)

        tasks = []
        for job in jobs:
            task = asyncio.ensure_future(self._run(job, cancel, cancel, sink(job)))
            task.add_done_callback(on_done)
            tasks.append(task)
        started: set[int] = set()
        try:
            try:
                running = len(tasks)
                while running:
                    item = await pieces.get()
                    if item is None:
                        running -= 1
                        continue
                    job, number, text, reason, logprob = item
                    index = job.offset + number
                    # With logprobs asked for, every token is reported, even one whose text
                    # is held back (it may start a stop string).
                    logprobs = None
                    if job.params.logprobs is not None and logprob is not None:
                        logprobs = {
                            "tokens": [text],
                            "token_logprobs": [logprob],
                            "top_logprobs": None,
                            "text_offset": [0],
                        }
                    if text or reason or logprobs:
                        choice = shape.piece(index, text, reason, logprobs, index not in started)
                        started.add(index)
                        await send({**head, "choices": [choice]})
                results = [await task for task in tasks]
            except BaseException:
                cancel.set()  # the client is gone (reset, or the handler was cancelled)
                for task in tasks:
                    task.cancel()
                raise
            if usage_wanted:
                prompt_tokens = sum(result.prompt_tokens for result in results)
                made = sum(result.completion_tokens for result in results)
                await send(
                    {
                        **head,
                        "choices": [],
                        "usage": {
                            "prompt_tokens": prompt_tokens,
                            "completion_tokens": made,
                            "total_tokens": prompt_tokens + made,
                        },
                    }
                )
            await send("[DONE]")
            self.served += 1
        except (ConnectionResetError, asyncio.CancelledError):
            # Counted here only: the one place a vanished stream ends.
            self.cancelled += 1
            raise
        except Exception as error:  # noqa: BLE001 - the stream ends with the error, no crash
            try:
                await send(
                    error_body(
                        f"the model failed: {type(error).__name__}: {error}",
                        "server_error",
                        code=500,
                    )
                )
                await send("[DONE]")
            except Exception:  # noqa: BLE001 - the client went away too
                pass
        return response


# -- reading bodies -----------------------------------------------------------------------


def read_body(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object; a 400 for anything else, never a crash: text that
    is not JSON, JSON nested deeper than ``MAX_JSON_DEPTH``, or a string with a lone
    surrogate (``"\\ud800"``), which no tokenizer can encode."""
    try:
        body = json.loads(raw)
    except RecursionError:
        raise CompletionError(
            f"the request body is nested too deep (over {MAX_JSON_DEPTH})"
        ) from None
    except (UnicodeDecodeError, ValueError) as error:
        raise CompletionError(f"the request body is not valid JSON: {error}") from None
    if not isinstance(body, dict):
        raise CompletionError("the request body must be a JSON object")
    _check_json(body)
    return body


def _check_json(body: object) -> None:
    # Iterative, so the check itself cannot run out of stack.
    stack: list[tuple[object, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise CompletionError(f"the request body is nested too deep (over {MAX_JSON_DEPTH})")
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise CompletionError(
                    "the request body has a lone UTF-16 surrogate (such as \\ud800) in a "
                    "string; send valid Unicode text"
                ) from None
        elif isinstance(value, dict):
            stack.extend((key, depth + 1) for key in value)
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


# -- descriptors and logs -----------------------------------------------------------------


def connection_cap(wanted: int) -> int:
    """The connection cap, kept below this process's descriptor limit (with room for the
    model's files, the listening socket and a burst of accepts), so accepting never fails
    with EMFILE."""
    try:
        import resource

        soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):
        return max(1, wanted)
    if soft == resource.RLIM_INFINITY:
        return max(1, wanted)
    reserve = FD_HEADROOM + 2 * ACCEPT_BACKLOG
    room = soft - reserve if soft > 2 * reserve else soft // 4
    return max(1, min(wanted, room))


_logged: Counter[str] = Counter()
_server_log = logging.getLogger("textgamegen.serve_model")


def log_once(condition: str, message: str) -> None:
    """One log line per condition, however often it happens: the first time, then at the
    10th, 100th, 1000th... with the count (a flood of failures is a few lines)."""
    _logged[condition] += 1
    count = _logged[condition]
    if count == 1 or math.log10(count).is_integer():
        suffix = "" if count == 1 else f" (seen {count} times)"
        _server_log.warning(message + suffix)


class _OncePerCondition(logging.Filter):
    """For aiohttp's and asyncio's own loggers: a repeated message (each failed accept,
    each broken connection) is one line per kind, counted, not one per failure."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: Counter[str] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        condition = f"{record.name}:{record.msg}"
        self.seen[condition] += 1
        count = self.seen[condition]
        if count == 1 or math.log10(count).is_integer():
            if count > 1:
                record.msg = f"{record.msg} (seen {count} times)"
            return True
        return False


def quiet_repeated_logs() -> None:
    """Put ``_OncePerCondition`` on the loggers that write per connection."""
    for name in ("asyncio", "aiohttp.server", "aiohttp.web", "aiohttp.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _OncePerCondition) for f in logger.filters):
            logger.addFilter(_OncePerCondition())


async def start_site(service: ModelService, host: str, port: int) -> web.AppRunner:
    """Serve ``service`` on host:port with its connection cap and idle time-out; returns
    the runner (``cleanup`` stops it, ``addresses`` says where it listens)."""
    quiet_repeated_logs()
    # handler_cancellation: a client that disconnects cancels its handler, which cancels
    # its request in the model thread.
    runner = web.AppRunner(
        service.app(),
        handler_cancellation=True,
        access_log=None,
        keepalive_timeout=IDLE_TIMEOUT_S,
    )
    await runner.setup()
    assert runner.server is not None
    service.watch_connections(runner.server)
    site = web.TCPSite(runner, host, port, backlog=ACCEPT_BACKLOG)
    await site.start()
    return runner


class ModelServer:
    """Runs a ``ModelService`` on its own event loop in a background thread (tests, bench,
    and ``serve`` hosting the model in-process is not done: it starts ``serve-model``).

    Args:
        engine: the completion engine.
        host: where to listen.
        port: the port (0 picks a free one; see ``url``).
        options: the service's limits (``max_queue``, ``max_batch``, ...).
    """

    def __init__(
        self, engine: CompletionEngine, host: str = "127.0.0.1", port: int = 0, **options: Any
    ) -> None:
        self.service = ModelService(engine, **options)
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="model-server"
        )
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """The API's base URL, ``http://host:port/v1``."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> ModelServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    async def _start(self) -> None:
        self._runner = await start_site(self.service, self.host, self.port)
        self.port = int(self._runner.addresses[0][1])

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=30)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def serve_forever(
    engine: CompletionEngine,
    host: str,
    port: int,
    on_service: Callable[[ModelService], None] | None = None,
    on_listening: Callable[[int], None] | None = None,
    **options: Any,
) -> None:
    """Serve until Ctrl+C or SIGTERM (the ``serve-model`` command).

    ``on_service``, when given, is called with the service before it serves (the
    registry watch that reloads on promote, ``hosting/reload.py``); ``on_listening``
    with the port it listens on once it does (``port`` 0 picks a free one).

    Raises:
        OSError: the address cannot be listened on.
    """

    async def main() -> None:
        service = ModelService(engine, **options)
        if on_service is not None:
            on_service(service)
        runner = await start_site(service, host, port)
        if on_listening is not None:
            bound = [address[1] for address in runner.addresses if isinstance(address, tuple)]
            on_listening(bound[0] if bound else port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signal_number, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
