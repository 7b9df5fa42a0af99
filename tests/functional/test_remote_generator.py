"""The remote narrator (``--model openai:URL#MODEL``) against serve-model with the tiny
random model, against a server that hangs, one that dies mid-stream, and none at all."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp import web
from model_watch import ModelWatch
from openai_fakes import AppThread, sse
from openai_fakes import chunk as completion_chunk

from textgamegen.config import Settings, SettingsError
from textgamegen.endpoint import EndpointError, parse_model_url
from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.hosting.completion import CompletionEngine
from textgamegen.hosting.model_server import ModelServer
from textgamegen.models.loader import load_generator
from textgamegen.models.random_model import build_random_model
from textgamegen.narration.generator import GeneratorError
from textgamegen.narration.remote import RemoteGenerator

REQUEST = ContentRequest(
    ContentKind.ACTION,
    command="open the door",
    room="Hall",
    story=("You are in the hall.",),
    seed=3,
    attempt=True,
)
OPENING = "You try to open the door, but the"
WITH_OPENING = Path(__file__).resolve().parents[1] / "fixtures" / "prompts-with-opening.toml"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> CompletionEngine:
    path = build_random_model(tmp_path_factory.mktemp("models") / "tiny", shape="toy")
    return CompletionEngine.from_generator(load_generator(str(path), device="cpu", warm_up=False))


@pytest.fixture(scope="module")
def server(engine: CompletionEngine) -> Iterator[ModelServer]:
    with ModelServer(engine) as running:
        yield running


def remote(model: str, prompts: Path | None = None) -> RemoteGenerator:
    """The remote narrator ``load_generator`` makes for an ``openai:`` address."""
    generator = load_generator(model, prompts=prompts)
    assert isinstance(generator, RemoteGenerator)
    return generator


def models_route(context: int = 256) -> web.RouteDef:
    async def models(_request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "fake", "max_model_len": context}]})

    return web.get("/v1/models", models)


def chunk(index: int, text: str, reason: str | None = None) -> bytes:
    return sse(completion_chunk("completions", text, reason, index))


def test_model_urls_parse_and_bad_ones_are_refused() -> None:
    endpoint = parse_model_url("openai:http://gpu-box:8000/v1#narrator")
    assert (endpoint.host, endpoint.port, endpoint.path, endpoint.model) == (
        "gpu-box",
        8000,
        "/v1",
        "narrator",
    )
    assert parse_model_url("openai:https://example.org").port == 443
    for bad in ("openai:ftp://x/v1", "openai:", "openai:http://:80/v1", "openai:http://h:99999"):
        with pytest.raises(EndpointError, match="openai:http://HOST:PORT/v1#MODEL"):
            parse_model_url(bad)
    assert Settings(model="openai:http://127.0.0.1:8001/v1#tiny").model.startswith("openai:")
    with pytest.raises(SettingsError, match="model"):
        Settings(model="openai:nonsense")


def test_remote_narrates_like_the_local_backend(server: ModelServer) -> None:
    generator = load_generator(f"openai:{server.url}#tiny", prompts=WITH_OPENING)
    assert isinstance(generator, RemoteGenerator)
    assert generator.context == 256 and generator.backend == "openai" and not generator.notice
    shown: list[str] = []
    narration = generator.generate(REQUEST, on_text=shown.append)
    assert not narration.fallback and not narration.notice and not narration.cancelled
    assert narration.text.startswith(OPENING)
    assert narration.prompt.endswith(f"you: open the door] <|endoftext|><|action|> {OPENING}")
    # The streamed line is the one that stays: one candidate, streamed, never swapped.
    assert len(narration.candidates) == 1
    assert "".join(shown).strip().startswith(narration.text.rstrip('"')[:20])
    # With no listener, one candidate by default: a server bills or queues each one.
    assert len(generator.generate(REQUEST).candidates) == 1
    # Asked for more, every candidate is sampled remotely and reranked here.
    generator.sampling.server_candidates = 3
    quiet = generator.generate(REQUEST)
    assert len(quiet.candidates) == 3
    assert all(
        candidate.tokens > 0 and candidate.mean_logprob < 0 for candidate in narration.candidates
    )
    assert len("".join(shown)) > 5 and "<|action|>" in narration.prompt
    # The server's first model is used when the address names none.
    assert load_generator(f"openai:{server.url}").name == "tiny"


def test_unstreamed_the_listener_gets_the_ranked_line_whole(server: ModelServer) -> None:
    generator = load_generator(f"openai:{server.url}#tiny", prompts=WITH_OPENING)
    generator.sampling = replace(  # type: ignore[attr-defined]
        generator.sampling,  # type: ignore[attr-defined]
        stream=False,
        server_candidates=4,
    )
    shown: list[str] = []
    narration = generator.generate(REQUEST, on_text=shown.append)
    assert not narration.fallback
    assert len(narration.candidates) == 4
    assert shown == [narration.text] == [narration.candidates[0].text]


def test_a_model_the_server_lacks_is_a_clear_error(server: ModelServer) -> None:
    with pytest.raises(GeneratorError, match=r"does not serve 'narrator'.*tiny"):
        load_generator(f"openai:{server.url}#narrator")


def test_server_down_falls_back_then_reconnects(engine: CompletionEngine) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    generator = remote(f"openai:http://127.0.0.1:{port}/v1#tiny", prompts=WITH_OPENING)
    assert "not answering" in generator.notice
    generator.retry_delay_s = 0.05
    shown: list[str] = []
    narration = generator.generate(REQUEST, on_text=shown.append)
    assert narration.fallback and "did not answer" in narration.notice
    assert narration.text and "".join(shown) == narration.text
    # The server comes up on that port: the next request finds it.
    with ModelServer(engine, port=port):
        narration = generator.generate(REQUEST)
    assert not narration.fallback and not narration.notice
    assert narration.text.startswith("You try to open the door")


def test_a_hung_server_times_out_to_the_template(engine: CompletionEngine) -> None:
    answered = threading.Event()  # set by the test once the narrator has given up
    attempts: list[int] = []

    async def hang(_request: web.Request) -> web.Response:
        attempts.append(1)
        while not answered.is_set():
            await asyncio.sleep(0.05)
        return web.json_response({})

    app = web.Application()
    app.add_routes([models_route(), web.post("/v1/completions", hang)])
    with AppThread(app) as fake:
        generator = remote(f"openai:http://127.0.0.1:{fake.port}/v1#fake")
        generator.read_timeout = 0.5
        generator.retry_delay_s = 0.05
        try:
            narration = generator.generate(REQUEST)
        finally:
            answered.set()
    # The server had not answered when the narrator gave up: it timed out, twice.
    assert narration.fallback and "timed out" in narration.notice
    assert len(attempts) == 1 + generator.retries


def test_a_server_that_dies_mid_stream_keeps_what_was_shown() -> None:
    async def die(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(chunk(0, " and a cold wind"))
        await response.write(chunk(0, " blows in"))
        await asyncio.sleep(0.1)
        request.transport.close()  # type: ignore[union-attr]
        return response

    app = web.Application()
    app.add_routes([models_route(), web.post("/v1/completions", die)])
    with AppThread(app) as fake:
        generator = load_generator(
            f"openai:http://127.0.0.1:{fake.port}/v1#fake", prompts=WITH_OPENING
        )
        shown: list[str] = []
        narration = generator.generate(REQUEST, on_text=shown.append)
    assert "stopped mid-answer" in narration.notice and not narration.fallback
    assert narration.text.startswith(OPENING + " and a cold wind")
    assert "".join(shown).startswith(OPENING + " and a cold wind")


def test_cancel_closes_the_stream_and_the_server_stops(
    server: ModelServer, engine: CompletionEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    generator = load_generator(f"openai:{server.url}#tiny", prompts=WITH_OPENING)
    generator.sampling.max_new_tokens = 120
    cancel = threading.Event()
    shown: list[str] = []

    def on_text(piece: str) -> None:
        shown.append(piece)
        if len(shown) >= 3:
            cancel.set()

    # The model takes at most 40 steps before the narrator cancels (it needs far fewer
    # for three pieces), then each step waits for the server to see the stream close.
    with ModelWatch(engine, monkeypatch, gone=cancel, hold_after=40) as model:
        narration = generator.generate(REQUEST, on_text=on_text, cancel=cancel)
        done = model.next_finished()  # the server's side of the same request
    assert narration.cancelled and narration.text.startswith(OPENING)
    # The server stopped its generation because the stream closed, far short of the end.
    assert done.cancelled
    assert model.steps < 60


def test_a_too_long_prompt_is_retried_shorter() -> None:
    seen: list[int] = []

    async def strict(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        seen.append(len(body["prompt"]))
        if len(body["prompt"]) > 200:
            return web.json_response(
                {"error": {"message": "This model's maximum context length is 100 tokens."}},
                status=400,
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(chunk(0, " and it opens.", "stop"))
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    # The server claims a large context, but refuses long prompts.
    app.add_routes([models_route(context=4096), web.post("/v1/completions", strict)])
    request = ContentRequest(
        ContentKind.ACTION,
        command="open the door",
        story=tuple(f"Line {i} of a long story goes here." for i in range(6)),
    )
    with AppThread(app) as fake:
        generator = load_generator(f"openai:http://127.0.0.1:{fake.port}/v1#fake")
        generator.sampling.num_candidates = 1
        narration = generator.generate(request)
    assert seen[0] > 200 and seen[-1] <= 200
    assert narration.text == "and it opens." and not narration.notice


ROOM = ContentRequest(
    ContentKind.ROOM,
    subject="Cold Wood",
    room="Cold Wood",
    command="look",
    entities=("Cold Wood",),
    seed=3,
    exits=("south", "east"),
)


def test_a_room_request_asks_the_server_to_bar_the_ways_it_lacks() -> None:
    """vLLM's ``bad_words``: the compass points the room has no exit to are sent, and
    nothing is sent for text that is not about a room's layout."""
    bodies: list[dict] = []

    async def completions(request: web.Request) -> web.StreamResponse:
        bodies.append(await request.json())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(chunk(0, " A track runs south.", "stop"))
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.add_routes([models_route(), web.post("/v1/completions", completions)])
    with AppThread(app) as fake:
        generator = load_generator(f"openai:http://127.0.0.1:{fake.port}/v1#fake")
        assert "south" in generator.generate(ROOM, on_text=lambda _: None).text
        generator.generate(REQUEST, on_text=lambda _: None)
    # The action's line names a track the hall does not have, so it is asked to go on
    # without it (the things guard) in further requests: the first is the one read here.
    room_body, action_body = bodies[:2]
    assert {"north", "North", "west", "West", "southwest"} <= set(room_body["bad_words"])
    assert not {"south", "east"} & set(room_body["bad_words"])
    # The attempt bars no compass point, only the deeds an attempt cannot have done, less
    # the one its own command names ("open the door").
    action_bad = set(action_body["bad_words"])
    assert not {"north", "south", "east", "west"} & action_bad
    assert {"unlocked", "opened"} <= action_bad and "open" not in action_bad


def test_serve_model_honours_bad_words_even_when_a_word_is_split(engine: CompletionEngine) -> None:
    from textgamegen.hosting.completion import CompletionParams

    west = engine.tokenizer.encode(" west", add_special_tokens=False)
    assert len(west) > 1  # this tokenizer splits it: the harder case
    following = {west[i]: west[i + 1] for i in range(len(west) - 1)}

    def push(module, args, kwargs, output):
        for row, token in enumerate(kwargs["input_ids"][:, -1].tolist()):
            output.logits[row, -1, following.get(token, west[0])] += 1000.0
        return output

    handle = engine.model.register_forward_hook(push, with_kwargs=True)
    try:
        prompt = engine.encode("You look around.")
        free = engine.complete(prompt, CompletionParams(max_tokens=8, temperature=0.0))
        assert "west" in free.choices[0].text
        barred = engine.complete(
            prompt, CompletionParams(max_tokens=8, temperature=0.0, bad_words=("west",), n=2)
        )
        assert all("west" not in choice.text for choice in barred.choices), barred.choices
    finally:
        handle.remove()


def test_a_streamed_line_naming_a_thing_not_on_screen_is_written_again_from_before_it() -> None:
    """The things guard of the local narrator, over the API: the phrase is held, the
    answer is closed where it began, and the server is asked to go on from there with
    the word barred; the player never sees it."""
    bodies: list[dict] = []
    first = "You stand in the hall as a draught falls into the oven."

    async def completions(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        bodies.append(body)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        line = " hall." if body["prompt"].endswith("into the") else " " + first
        words = line.split(" ")[1:]
        for number, word in enumerate(words):
            last = number == len(words) - 1
            await response.write(chunk(0, " " + word, "stop" if last else None))
        await response.write(b"data: [DONE]\n\n")
        return response

    app = web.Application()
    app.add_routes([models_route(), web.post("/v1/completions", completions)])
    request = replace(REQUEST, command="stand about")
    with AppThread(app) as fake:
        generator = load_generator(f"openai:http://127.0.0.1:{fake.port}/v1#fake")
        seen: list[str] = []
        narration = generator.generate(request, on_text=seen.append)
        assert "oven" not in "".join(seen) and "oven" not in narration.text
        assert narration.text.endswith("falls into the hall.")
        assert narration.timings.taken_back == 1
        assert "".join(seen).strip() == narration.text
        assert len(bodies) == 2 and bodies[1]["prompt"].endswith("a draught falls into the")
        if "bad_words" in bodies[1]:
            assert {"oven", "Oven"} <= set(bodies[1]["bad_words"])
        # With the guard off, the line is the server's as it came.
        generator.sampling = replace(generator.sampling, seen_things=False)
        bodies.clear()
        assert "into the oven." in generator.generate(request, on_text=lambda _: None).text
        assert len(bodies) == 1
