"""``textgamegen serve-model``: one process holds the narrator and answers many games.

It speaks the OpenAI completions API, so any client written for it works, and the game's
remote backend works unchanged against vLLM: ``POST /v1/completions`` (``stream`` as
server-sent events ending in ``data: [DONE]``), ``GET /v1/models`` (with the context
length as ``max_model_len``, as vLLM reports it) and ``GET /health``.

Requests are served one at a time, first come first served, by a single model thread:
the model is never shared between two requests, and no game can overtake another. A
client that disconnects cancels its request: queued, it is skipped; running, the engine
stops before its next token. Bad requests get a 400 whose message names the parameter,
never a crash.

Example::

    textgamegen serve-model --model textgamegen --port 8001
    curl http://127.0.0.1:8001/v1/completions -d '{"prompt": "<|action|> You", "max_tokens": 20}'
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from textgamegen.hosting.completion import (
    Completion,
    CompletionEngine,
    CompletionError,
    CompletionParams,
)

MAX_BODY_BYTES = 1 << 20
"""Request bodies above this are refused with 413 (no prompt needs a megabyte)."""

MODEL_TIME_HEADER = "X-Model-Time-Ms"
"""Milliseconds the model spent on a (non-streamed) request, queue wait excluded."""

UNSUPPORTED = ("suffix", "echo", "logit_bias")
"""OpenAI parameters this server does not implement: refused rather than ignored."""


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


@dataclass
class _Job:
    ids: list[int]
    params: CompletionParams
    offset: int  # the index of this prompt's first choice
    model_s: float = 0.0  # seconds the model thread spent on it (not waiting for it)
    engine: CompletionEngine | None = None
    """The engine that encoded it and finishes it, even if another is swapped in since."""


class ModelService:
    """The HTTP side: routes, parsing, the FIFO model thread and cancellation.

    Args:
        engine: the completion engine (holds the model).
        max_queue: requests waiting for the model beyond this get a 429.
    """

    def __init__(self, engine: CompletionEngine, max_queue: int = 256) -> None:
        self.engine = engine
        self.max_queue = max_queue
        # One worker thread: its queue is first in, first out, which is the fairness rule.
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self.waiting = 0
        self.served = 0
        self.cancelled = 0
        self.created = int(time.time())

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.add_routes(
            [
                web.get("/health", self.health),
                web.get("/v1/models", self.models),
                web.post("/v1/completions", self.completions),
            ]
        )
        app.on_shutdown.append(self._shutdown)
        return app

    async def _shutdown(self, _app: web.Application) -> None:
        self._model_thread.shutdown(wait=False, cancel_futures=True)

    async def health(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "status": "ok",
                "model": self.engine.name,
                "waiting": self.waiting,
                "served": self.served,
                "cancelled": self.cancelled,
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

    # -- completions ----------------------------------------------------------------------

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise CompletionError(
                f"the request body is over {MAX_BODY_BYTES} bytes", status=413
            ) from None
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, ValueError) as error:
            raise CompletionError(f"the request body is not valid JSON: {error}") from None
        if not isinstance(body, dict):
            raise CompletionError("the request body must be a JSON object")
        return body

    def _jobs(self, body: dict[str, Any], params: CompletionParams) -> list[_Job]:
        model = body.get("model")
        if model not in (None, "", self.engine.name):
            raise CompletionError(
                f"The model '{str(model)[:100]}' does not exist; this server "
                f"serves '{self.engine.name}'",
                status=404,
                param="model",
            )
        jobs, engine = [], self.engine
        for number, prompt in enumerate(_prompts(body)):
            ids = engine.encode(prompt, params.add_special_tokens)
            engine.check_length(len(ids), params.max_tokens)
            jobs.append(_Job(ids, params, number * params.n, engine=engine))
        return jobs

    def replace_engine(self, engine: CompletionEngine) -> None:
        """Serve a new model from the next request on (``hosting/reload.py``, on promote):
        requests already taken finish on the engine they started with, none is dropped."""
        self.engine = engine

    async def completions(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await self._body(request)
            params = parse_params(body)
            jobs = self._jobs(body, params)
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
        ident = f"cmpl-{uuid.uuid4().hex}"
        if stream:
            return await self._stream(request, ident, jobs, usage_wanted)
        return await self._whole(ident, jobs)

    async def _run(self, job: _Job, cancel: threading.Event, on_piece: Any = None) -> Completion:
        """Queue one job on the model thread; a cancelled await cancels the job."""
        loop = asyncio.get_running_loop()
        self.waiting += 1

        def complete() -> Completion:
            started = time.perf_counter()
            try:
                engine = job.engine or self.engine
                return engine.complete(job.ids, job.params, on_piece, cancel)
            finally:
                job.model_s = time.perf_counter() - started

        try:
            future = loop.run_in_executor(self._model_thread, complete)
            try:
                return await asyncio.shield(future)
            except asyncio.CancelledError:
                cancel.set()
                self.cancelled += 1
                raise
        finally:
            self.waiting -= 1

    def _head(self, ident: str) -> dict[str, Any]:
        return {
            "id": ident,
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.engine.name,
        }

    async def _whole(self, ident: str, jobs: list[_Job]) -> web.Response:
        cancel = threading.Event()
        choices, prompt_tokens, made = [], 0, 0
        try:
            for job in jobs:
                result = await self._run(job, cancel)
                prompt_tokens += result.prompt_tokens
                made += result.completion_tokens
                for number, choice in enumerate(result.choices):
                    choices.append(
                        {
                            "index": job.offset + number,
                            "text": choice.text,
                            "logprobs": _logprobs(choice, job.params),
                            "finish_reason": choice.finish_reason,
                        }
                    )
        except asyncio.CancelledError:
            cancel.set()
            raise
        except Exception as error:  # noqa: BLE001 - a model fault is the client's 500, not ours
            return _error(500, f"the model failed: {type(error).__name__}: {error}")
        self.served += 1
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": made,
            "total_tokens": prompt_tokens + made,
        }
        # The model's own time, so a client can tell the server's overhead (HTTP, JSON,
        # queue) from the generation: bench/serving.py subtracts it from the round trip.
        model_ms = sum(job.model_s for job in jobs) * 1000
        return web.json_response(
            {**self._head(ident), "choices": choices, "usage": usage},
            headers={MODEL_TIME_HEADER: f"{model_ms:.3f}"},
        )

    async def _stream(
        self, request: web.Request, ident: str, jobs: list[_Job], usage_wanted: bool
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        head = self._head(ident)

        async def send(data: dict[str, Any] | str) -> None:
            text = data if isinstance(data, str) else json.dumps(data)
            await response.write(f"data: {text}\n\n".encode())

        prompt_tokens = made = 0
        try:
            for job in jobs:
                pieces: asyncio.Queue[tuple[int, str, str | None, float | None] | None]
                pieces = asyncio.Queue()

                def on_piece(
                    index: int,
                    text: str,
                    reason: str | None,
                    logprob: float | None,
                    job: _Job = job,
                    pieces: asyncio.Queue = pieces,
                ) -> None:
                    loop.call_soon_threadsafe(
                        pieces.put_nowait, (job.offset + index, text, reason, logprob)
                    )

                def on_done(_task: asyncio.Future[Any], q: asyncio.Queue = pieces) -> None:
                    loop.call_soon_threadsafe(q.put_nowait, None)

                task = asyncio.ensure_future(self._run(job, cancel, on_piece))
                task.add_done_callback(on_done)
                try:
                    while (item := await pieces.get()) is not None:
                        index, text, reason, logprob = item
                        # With logprobs asked for, every token is reported, even one whose
                        # text is held back (it may start a stop string).
                        logprobs = None
                        if job.params.logprobs is not None and logprob is not None:
                            logprobs = {
                                "tokens": [text],
                                "token_logprobs": [logprob],
                                "top_logprobs": None,
                                "text_offset": [0],
                            }
                        if text or reason or logprobs:
                            choice = {
                                "index": index,
                                "text": text,
                                "logprobs": logprobs,
                                "finish_reason": reason,
                            }
                            await send({**head, "choices": [choice]})
                    result = await task
                except BaseException:
                    cancel.set()  # the client is gone (reset, or the handler was cancelled)
                    task.cancel()
                    raise
                prompt_tokens += result.prompt_tokens
                made += result.completion_tokens
            if usage_wanted:
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
            cancel.set()
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


class ModelServer:
    """Runs a ``ModelService`` on its own event loop in a background thread (tests, bench,
    and ``serve`` hosting the model in-process is not done: it starts ``serve-model``).

    Args:
        engine: the completion engine.
        host: where to listen.
        port: the port (0 picks a free one; see ``url``).
    """

    def __init__(
        self, engine: CompletionEngine, host: str = "127.0.0.1", port: int = 0, max_queue: int = 256
    ) -> None:
        self.service = ModelService(engine, max_queue=max_queue)
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
        # handler_cancellation: a client that disconnects cancels its handler, which
        # cancels its request in the model thread.
        self._runner = web.AppRunner(self.service.app(), handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
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
    max_queue: int = 256,
    on_service: Callable[[ModelService], None] | None = None,
) -> None:
    """Serve until Ctrl+C or SIGTERM (the ``serve-model`` command).

    ``on_service``, when given, is called with the service before it serves (the
    registry watch that reloads on promote, ``hosting/reload.py``)."""
    service = ModelService(engine, max_queue=max_queue)
    if on_service is not None:
        on_service(service)
    app = service.app()
    web.run_app(app, host=host, port=port, handler_cancellation=True, access_log=None, print=None)
