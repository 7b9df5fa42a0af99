"""Fake OpenAI-compatible servers on localhost, for the remote narrator's tests.

``AppThread`` runs any aiohttp app on a free port in a background thread (a misbehaving
server is a handler away). ``FakeOpenAI`` is the usual server, in the shapes players'
servers come in:

- ``full``: ``/v1/completions`` and ``/v1/chat/completions`` (vLLM, llama.cpp's server);
- ``chat-only``: no completions route, a 404 there (Ollama, LM Studio, hosted APIs);
- ``strict``: a 400 for any field that is not a standard OpenAI parameter (OpenAI itself);
- ``key``: a 401 for any request without ``Authorization: Bearer <key>``.

Every request is logged (route, body, whether a key came), and every answer streams
``LINE`` word by word, so a test can tell the server's text from the template's.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

LINE = "You pause, and the moment passes quietly."
"""What the fake model writes: second person, no names, exits, people or deeds."""
MARK = "the moment passes quietly"
STANDARD = frozenset(
    (
        "model", "prompt", "messages", "max_tokens", "max_completion_tokens", "temperature",
        "top_p", "n", "stop", "seed", "stream", "stream_options", "logprobs", "top_logprobs",
        "logit_bias", "user", "presence_penalty", "frequency_penalty", "response_format",
        "echo", "suffix", "best_of",
    )
)  # fmt: skip
"""The request fields OpenAI's own API takes; a strict server refuses anything else."""
SHAPES = ("full", "chat-only", "strict", "key")


class AppThread:
    """An aiohttp app on a free port in a background thread (a misbehaving server)."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.port = 0

    def __enter__(self) -> AppThread:
        self.thread.start()

        async def start() -> web.AppRunner:
            runner = web.AppRunner(self.app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            self.port = runner.addresses[0][1]
            return runner

        self.runner = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@dataclass
class Logged:
    """One request the fake server saw."""

    route: str
    body: dict[str, Any]
    status: int
    keyed: bool  # an Authorization header came with it


@dataclass
class FakeOpenAI:
    """An OpenAI-compatible server of one shape (see the module docstring).

    Attributes:
        shape: "full", "chat-only", "strict" or "key".
        key: the bearer token the "key" shape wants.
        model: the one model id it lists.
        line: what it writes, word by word.
        card: extra fields for its ``/v1/models`` entry (``max_model_len``, ``owned_by``).
        log: every request, in order.
    """

    shape: str = "full"
    key: str = "sk-test-0123456789"
    model: str = "fake-instruct"
    line: str = LINE
    card: dict[str, Any] = field(default_factory=dict)
    log: list[Logged] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}")
        self._thread: AppThread | None = None

    # -- the server --------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/v1/models", self._models),
                web.post("/v1/chat/completions", self._chat),
            ]
        )
        app.add_routes([web.post("/v1/completions", self._completions)])
        return app

    def __enter__(self) -> FakeOpenAI:
        self._thread = AppThread(self.app()).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._thread is not None
        self._thread.__exit__(*exc)

    @property
    def url(self) -> str:
        assert self._thread is not None
        return self._thread.url

    def _refusal(self, request: web.Request, body: dict[str, Any]) -> web.Response | None:
        """The 401 or 400 this shape gives the request, or None."""
        if self.shape == "key" and request.headers.get("Authorization") != f"Bearer {self.key}":
            return _error(401, "Incorrect API key provided.", "invalid_api_key")
        if self.shape == "strict":
            extra = sorted(set(body) - STANDARD)
            if extra:
                return _error(400, f"Unrecognized request argument supplied: {extra[0]}")
        return None

    async def _models(self, request: web.Request) -> web.Response:
        refused = self._refusal(request, {})
        self.log.append(Logged("models", {}, refused.status if refused else 200, _keyed(request)))
        if refused is not None:
            return refused
        card = {"id": self.model, "object": "model", "owned_by": "fake", **self.card}
        return web.json_response({"object": "list", "data": [card]})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        if self.shape == "chat-only":  # no such route, as Ollama's and LM Studio's
            self.log.append(Logged("completions", await request.json(), 404, _keyed(request)))
            return _error(404, "404 page not found")
        return await self._answer(request, "completions")

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._answer(request, "chat")

    async def _answer(self, request: web.Request, route: str) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "the body is not JSON")
        refused = self._refusal(request, body)
        self.log.append(Logged(route, body, refused.status if refused else 200, _keyed(request)))
        if refused is not None:
            return refused
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        words = self.line.split(" ")
        for number, word in enumerate(words):
            piece = word if number == 0 else " " + word
            last = number == len(words) - 1
            await response.write(sse(chunk(route, piece, "stop" if last else None)))
        await response.write(b"data: [DONE]\n\n")
        return response

    # -- what a test reads ---------------------------------------------------------------

    def answered(self, route: str) -> list[Logged]:
        """The requests of a route that got an answer (200)."""
        return [entry for entry in self.log if entry.route == route and entry.status == 200]


def chunk(route: str, piece: str, reason: str | None = None, index: int = 0) -> dict[str, Any]:
    """One streamed event of a route's answer."""
    if route == "chat":
        choice = {"index": index, "delta": {"content": piece}, "finish_reason": reason}
        return {"object": "chat.completion.chunk", "choices": [choice]}
    return {
        "object": "text_completion",
        "choices": [{"index": index, "text": piece, "finish_reason": reason}],
    }


def sse(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event)}\n\n".encode()


def _keyed(request: web.Request) -> bool:
    return "Authorization" in request.headers


def _error(status: int, message: str, code: str = "invalid_request_error") -> web.Response:
    return web.json_response({"error": {"message": message, "type": code}}, status=status)
