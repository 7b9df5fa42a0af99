"""serve-model with the tiny random model: the OpenAI client, streaming, n > 1, stop strings,
cancellation, 20 concurrent clients, bad JSON and oversized prompts."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

openai = pytest.importorskip("openai")

from model_watch import ModelWatch  # noqa: E402

from textgamegen.hosting.batching import Scheduler  # noqa: E402
from textgamegen.hosting.completion import (  # noqa: E402
    Completion,
    CompletionEngine,
    CompletionParams,
    PieceSink,
    Request,
)
from textgamegen.hosting.model_server import ModelServer  # noqa: E402
from textgamegen.models.loader import load_generator  # noqa: E402
from textgamegen.models.random_model import build_random_model  # noqa: E402

PROMPT = "<|action|> You push open the door"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_model(tmp_path_factory.mktemp("models") / "tiny", shape="toy")


@pytest.fixture(scope="module")
def engine(tiny_dir: Path) -> CompletionEngine:
    # float32: a row's text is then the same whether it decodes alone or beside others
    # (bfloat16 rounds a batch's sums differently).
    generator = load_generator(str(tiny_dir), device="cpu", warm_up=False, dtype="float32")
    return CompletionEngine.from_generator(generator)


@pytest.fixture(scope="module")
def server(engine: CompletionEngine) -> Iterator[ModelServer]:
    with ModelServer(engine) as running:  # batching: the default
        yield running


@pytest.fixture(scope="module")
def serial(engine: CompletionEngine) -> Iterator[ModelServer]:
    """The older way, one request at a time (``--max-batch 1``)."""
    with ModelServer(engine, max_batch=1) as running:
        yield running


@pytest.fixture(scope="module")
def client(server: ModelServer) -> Any:  # openai.OpenAI (openai may be absent)
    return openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=60)


def post(server: ModelServer, body: bytes | str, path: str = "/v1/completions") -> tuple[int, dict]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def get(server: ModelServer, path: str) -> dict:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        assert response.status == 200
        return json.loads(response.read())
    finally:
        connection.close()


def streamed(client: Any, **kwargs: object) -> tuple[dict[int, str], dict[int, str]]:
    """(text by choice index, finish reason by choice index) from a streaming request."""
    texts: dict[int, str] = {}
    reasons: dict[int, str] = {}
    for chunk in client.completions.create(stream=True, **kwargs):
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + choice.text
            if choice.finish_reason:
                reasons[choice.index] = choice.finish_reason
    return texts, reasons


def test_models_and_health(server: ModelServer, engine: CompletionEngine) -> None:
    models = get(server, "/v1/models")
    assert models["data"][0]["id"] == engine.name
    assert models["data"][0]["max_model_len"] == engine.context == 256
    assert get(server, "/health")["status"] == "ok"


def test_openai_client_whole_and_streaming_agree(client: Any, engine: CompletionEngine) -> None:
    whole = client.completions.create(model=engine.name, prompt=PROMPT, max_tokens=12, seed=5)
    assert whole.object == "text_completion"
    assert len(whole.choices) == 1 and whole.choices[0].text
    assert whole.choices[0].finish_reason in ("stop", "length")
    assert whole.usage.completion_tokens >= 1
    texts, reasons = streamed(client, model=engine.name, prompt=PROMPT, max_tokens=12, seed=5)
    # The same seed gives the same text, whether it comes whole or streamed.
    assert texts[0] == whole.choices[0].text
    assert reasons[0] == whole.choices[0].finish_reason


def test_n_choices_streamed_and_whole(client: Any, engine: CompletionEngine) -> None:
    whole = client.completions.create(
        model=engine.name,
        prompt=PROMPT,
        max_tokens=10,
        n=4,
        seed=9,
    )
    assert sorted(choice.index for choice in whole.choices) == [0, 1, 2, 3]
    assert len({choice.text for choice in whole.choices}) > 1  # sampled, not copies
    texts, reasons = streamed(client, model=engine.name, prompt=PROMPT, max_tokens=10, n=4, seed=9)
    assert texts == {choice.index: choice.text for choice in whole.choices}
    assert set(reasons) == {0, 1, 2, 3}


def test_stop_strings_cut_the_text(client: Any, engine: CompletionEngine) -> None:
    free = (
        client.completions.create(
            model=engine.name,
            prompt=PROMPT,
            max_tokens=30,
            temperature=0,
            seed=1,
        )
        .choices[0]
        .text
    )
    # Greedy decoding is repeatable: a stop string taken from the middle of the free text
    # must end the text just before it.
    stop = free[len(free) // 2 : len(free) // 2 + 3]
    expected = free[: free.find(stop)]
    cut = client.completions.create(
        model=engine.name,
        prompt=PROMPT,
        max_tokens=30,
        temperature=0,
        seed=1,
        stop=[stop, "zzzz"],
    )
    assert cut.choices[0].text == expected
    assert cut.choices[0].finish_reason == "stop"
    texts, reasons = streamed(
        client, model=engine.name, prompt=PROMPT, max_tokens=30, temperature=0, seed=1, stop=[stop]
    )
    assert texts[0] == expected and reasons[0] == "stop"


def test_engine_holds_back_a_possible_stop_string(engine: CompletionEngine) -> None:
    ids = engine.encode(PROMPT)
    free = engine.complete(ids, CompletionParams(max_tokens=30, temperature=0)).choices[0].text
    stop = free[10:14]
    pieces: list[str] = []
    result = engine.complete(
        ids,
        CompletionParams(max_tokens=30, temperature=0, stop=(stop,)),
        on_piece=lambda i, text, reason, lp: pieces.append(text),
    )
    # Nothing of the stop string was ever sent, not even its first characters.
    assert "".join(pieces) == result.choices[0].text == free[: free.find(stop)]


def test_automatic_threads_are_chosen_again_as_requests_join(tiny_dir: Path) -> None:
    # threads = 0: the engine chooses the threads as the game's narrator does, before
    # each batch takes new requests (a set count is kept: no chooser).
    generator = load_generator(str(tiny_dir), device="cpu", warm_up=False, dtype="float32")
    engine = CompletionEngine.from_generator(generator)
    assert engine.thread_choice is generator.thread_choice is not None
    chosen: list[int] = []
    engine.thread_choice.choose = lambda: chosen.append(1) or 1  # type: ignore[method-assign]
    ids = engine.encode(PROMPT)
    engine.complete(ids, CompletionParams(max_tokens=3, temperature=0))
    engine.complete(ids, CompletionParams(max_tokens=3, temperature=0, n=2))
    assert len(chosen) == 2
    pinned = load_generator(str(tiny_dir), device="cpu", warm_up=False, threads=1)
    assert CompletionEngine.from_generator(pinned).thread_choice is None


def test_bad_json_and_bad_parameters_get_clear_400s(server: ModelServer) -> None:
    status, body = post(server, "{not json")
    assert status == 400 and "not valid JSON" in body["error"]["message"]
    status, body = post(server, "[1, 2]")
    assert status == 400 and "JSON object" in body["error"]["message"]
    cases = {
        "max_tokens": {"prompt": PROMPT, "max_tokens": -1},
        "temperature": {"prompt": PROMPT, "temperature": "hot"},
        "n": {"prompt": PROMPT, "n": 0},
        "stop": {"prompt": PROMPT, "stop": 7},
        "prompt": {"max_tokens": 3},
        "top_p": {"prompt": PROMPT, "top_p": 0},
        "echo": {"prompt": PROMPT, "echo": True},
    }
    for param, request in cases.items():
        status, body = post(server, json.dumps(request))
        assert status == 400, (param, body)
        assert body["error"]["param"] == param and param in body["error"]["message"]
    status, body = post(server, json.dumps({"prompt": PROMPT, "model": "gpt-4"}))
    assert status == 404 and "gpt-4" in body["error"]["message"]
    assert get(server, "/health")["status"] == "ok"


def test_oversized_prompts_get_4xx_and_the_server_lives_on(
    server: ModelServer, client: Any, engine: CompletionEngine
) -> None:
    long_prompt = PROMPT + " and the door" * 400
    status, body = post(server, json.dumps({"prompt": long_prompt, "max_tokens": 5}))
    assert status == 400 and "maximum context length is 256" in body["error"]["message"]
    with pytest.raises(openai.BadRequestError, match="maximum context length"):
        client.completions.create(model=engine.name, prompt=long_prompt, max_tokens=5)
    huge = json.dumps({"prompt": "x" * (2 << 20)})
    status, body = post(server, huge)
    assert status == 413 and "bytes" in body["error"]["message"]
    ok = client.completions.create(model=engine.name, prompt=PROMPT, max_tokens=3)
    # The server lives on: it answers. (What a random tiny model writes in three unseeded
    # tokens may decode to nothing, so the text is not the test.)
    assert len(ok.choices) == 1 and ok.choices[0].finish_reason in ("length", "stop")


def test_twenty_concurrent_clients(server: ModelServer, engine: CompletionEngine) -> None:
    alone = {}
    client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=120)
    for seed in range(20):
        alone[seed] = (
            client.completions.create(model=engine.name, prompt=PROMPT, max_tokens=15, seed=seed)
            .choices[0]
            .text
        )
    together: dict[int, str] = {}
    errors: list[BaseException] = []

    def play(seed: int) -> None:
        try:
            own = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0, timeout=120)
            if seed % 2:
                texts, _ = streamed(own, model=engine.name, prompt=PROMPT, max_tokens=15, seed=seed)
                together[seed] = texts[0]
            else:
                together[seed] = (
                    own.completions.create(
                        model=engine.name, prompt=PROMPT, max_tokens=15, seed=seed
                    )
                    .choices[0]
                    .text
                )
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=play, args=(seed,)) for seed in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    # Every client got its own answer, exactly as when it was alone: no cross-talk.
    assert together == alone


@pytest.mark.parametrize("mode", ["server", "serial"])
def test_a_client_that_goes_away_stops_the_generation(
    mode: str,
    engine: CompletionEngine,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    server: ModelServer = request.getfixturevalue(mode)
    gone = threading.Event()
    # The model takes at most 50 steps before the client leaves, then each step waits for
    # the server to notice.
    with ModelWatch(engine, monkeypatch, gone=gone, hold_after=50) as model:
        connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
        body = json.dumps({"prompt": PROMPT, "max_tokens": 200, "stream": True, "n": 2})
        connection.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200
        events = 0
        while events < 3:
            if response.readline().startswith(b"data:"):
                events += 1
        before = get(server, "/health")["cancelled"]
        gone.set()
        assert connection.sock is not None
        connection.sock.shutdown(2)
        connection.close()
        done = model.next_finished()  # the model thread is done with the request
    # It stopped because the client left, far short of the 200 tokens asked for.
    assert done.cancelled and model.steps < 100
    # Counted once: the stream that vanished is one cancelled request.
    assert get(server, "/health")["cancelled"] == before + 1


def test_one_at_a_time_requests_are_served_first_come_first_served(
    serial: ModelServer, engine: CompletionEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serial
    release = threading.Event()
    served: list[int | None] = []  # the seeds, in the order the model took them up
    complete = engine.complete

    def held(
        ids: list[int],
        params: CompletionParams,
        on_piece: PieceSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Completion:
        served.append(params.seed)
        release.wait(60)  # the model holds until every request is queued
        return complete(ids, params, on_piece, cancel)

    monkeypatch.setattr(engine, "complete", held)

    def ask(number: int) -> None:
        post(server, json.dumps({"prompt": PROMPT, "max_tokens": 8, "seed": number}))

    try:
        threads = []
        for number in range(5):
            thread = threading.Thread(target=ask, args=(number,))
            thread.start()
            threads.append(thread)
            # Each is queued (or running) before the next is sent.
            deadline = time.monotonic() + 60
            while get(server, "/health")["waiting"] < number + 1:
                assert time.monotonic() < deadline, "a request was never queued"
                time.sleep(0.01)
        release.set()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        release.set()
    assert served == [0, 1, 2, 3, 4]


def test_the_model_time_header_separates_the_servers_overhead(server: ModelServer) -> None:
    """bench/serving.py subtracts the model's own time from the round trip; the header
    must be there and fit inside the round trip."""
    from textgamegen.hosting.model_server import MODEL_TIME_HEADER

    body = json.dumps({"prompt": PROMPT, "max_tokens": 6, "temperature": 0, "n": 2})
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        started = time.perf_counter()
        connection.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["choices"]
        round_trip_ms = (time.perf_counter() - started) * 1000
    finally:
        connection.close()
    model_ms = float(response.getheader(MODEL_TIME_HEADER))
    assert 0 < model_ms <= round_trip_ms


# -- batching -----------------------------------------------------------------------------

PROMPTS = (
    PROMPT,
    "<|action|> The lantern",
    '<|dialogue|> "Welcome, traveller," said the miller, and the door',
)


def forced(max_tokens: int, **extra: Any) -> CompletionParams:
    """Exactly ``max_tokens`` tokens (no end token before), so lengths are known."""
    return CompletionParams(max_tokens=max_tokens, min_tokens=max_tokens, **extra)


def test_a_rows_text_is_the_same_alone_or_beside_others(engine: CompletionEngine) -> None:
    """Rows that join a running batch, with prompts of other lengths (so every row's cache
    is padded at some point), write what they write alone: greedy and float32 (tokens and
    log-probabilities), and sampled with a seed."""
    cases = [
        forced(24, temperature=0.0),
        forced(16, temperature=0.0, n=2),
        forced(20, temperature=1.0, seed=7, n=2, top_k=20),
    ]
    alone = [
        engine.complete(engine.encode(prompt), params).choices
        for prompt, params in zip(PROMPTS, cases, strict=True)
    ]
    scheduler = Scheduler(engine, max_batch=8)
    first_tokens = threading.Event()
    written = []

    def on_piece(index: int, text: str, reason: str | None, lp: float | None) -> None:
        written.append(index)
        if len(written) >= 4:
            first_tokens.set()

    try:
        futures = [scheduler.submit(Request(engine, engine.encode(PROMPTS[0]), cases[0], on_piece))]
        # The others arrive while the first decodes, and join its batch.
        assert first_tokens.wait(60)
        futures += [
            scheduler.submit(Request(engine, engine.encode(prompt), params))
            for prompt, params in zip(PROMPTS[1:], cases[1:], strict=True)
        ]
        together = [future.result(timeout=120).choices for future in futures]
    finally:
        scheduler.stop()
    for solo, batched in zip(alone, together, strict=True):
        assert [c.tokens for c in batched] == [c.tokens for c in solo]
        assert [c.text for c in batched] == [c.text for c in solo]
        for a, b in zip(solo, batched, strict=True):
            assert b.token_logprobs == pytest.approx(a.token_logprobs, abs=1e-4)


def test_a_request_that_arrives_joins_the_running_batch(engine: CompletionEngine) -> None:
    """A short request sent while a long one decodes finishes first, and both together
    take far fewer forward passes than one after the other would."""
    passes = []
    long_started = threading.Event()
    joined = threading.Event()

    def count(_module: object, _args: object) -> None:
        passes.append(1)
        if len(passes) > 3:
            long_started.set()
            joined.wait(60)  # the long one waits (at most a minute) for the short to be sent

    hook = engine.model.register_forward_pre_hook(count)
    scheduler = Scheduler(engine, max_batch=8)
    try:
        long = scheduler.submit(Request(engine, engine.encode(PROMPTS[0]), forced(60)))
        assert long_started.wait(60)
        short = scheduler.submit(Request(engine, engine.encode(PROMPTS[1]), forced(8)))
        joined.set()
        assert len(short.result(timeout=120).choices[0].tokens) == 8
        assert not long.done()  # it joined: it did not wait for the long one to end
        assert len(long.result(timeout=120).choices[0].tokens) == 60
    finally:
        joined.set()
        hook.remove()
        scheduler.stop()
    # One after the other: 60 + 8 passes (and two prefills); shared: about 60 + 1.
    assert len(passes) < 60 + 8


def test_a_huge_request_cannot_hold_the_batch(engine: CompletionEngine) -> None:
    """A request that fills every row is preempted for a newcomer, which ends while the
    huge one still runs; the preempted choice resumes and is written to its full length."""
    release = threading.Event()
    steps = []

    def hold(_module: object, _args: object) -> None:
        steps.append(1)
        if len(steps) > 5:
            release.wait(60)

    hook = engine.model.register_forward_pre_hook(hold)
    scheduler = Scheduler(engine, max_batch=4)
    try:
        huge = scheduler.submit(
            Request(engine, engine.encode(PROMPTS[0]), forced(100, n=4, seed=1), client="huge")
        )
        deadline = time.monotonic() + 120  # a hang guard, not a timing
        while scheduler.decoding < 4:  # every row is the huge request's
            assert not huge.done() and time.monotonic() < deadline
            time.sleep(0.01)
        small = scheduler.submit(
            Request(engine, engine.encode(PROMPTS[1]), forced(6), client="game")
        )
        release.set()
        assert len(small.result(timeout=120).choices[0].tokens) == 6
        assert not huge.done()
        choices = huge.result(timeout=240).choices
    finally:
        release.set()
        hook.remove()
        scheduler.stop()
    assert scheduler.preempted >= 1
    assert [len(choice.tokens) for choice in choices] == [100] * 4
    assert all(choice.finish_reason == "length" for choice in choices)


def test_the_models_own_end_token_ends_a_choice(
    engine: CompletionEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An id the generation config names as its end (an instruct model's end of turn)
    stops the text, as ``<|endoftext|>`` does: it does not run on to max_tokens."""
    params = CompletionParams(max_tokens=30, temperature=1.0, seed=11)
    ids = engine.encode(PROMPT)
    free = engine.complete(ids, params).choices[0].tokens
    at = next(i for i, token in enumerate(free) if i >= 2 and free.index(token) == i)
    monkeypatch.setattr(engine.model.generation_config, "eos_token_id", free[at])
    own_end = CompletionEngine(engine.model, engine.tokenizer, "cpu", engine.name)
    assert free[at] in own_end.end_ids
    assert engine.tokenizer.convert_tokens_to_ids("<|endoftext|>") in own_end.end_ids
    choice = own_end.complete(ids, params).choices[0]
    assert choice.finish_reason == "stop"
    assert choice.tokens == free[:at]


# -- chat ---------------------------------------------------------------------------------

MESSAGES = [
    {"role": "system", "content": "You narrate a text adventure in the second person."},
    {"role": "user", "content": "The player opens the door of the mill."},
]


def test_chat_completions_with_the_openai_client(client: Any, engine: CompletionEngine) -> None:
    whole = client.chat.completions.create(
        model=engine.name, messages=MESSAGES, max_tokens=12, seed=3
    )
    assert whole.object == "chat.completion" and whole.id.startswith("chatcmpl-")
    answer = whole.choices[0]
    assert answer.message.role == "assistant" and answer.finish_reason in ("stop", "length")
    assert whole.usage.prompt_tokens == len(engine.encode(engine.chat_prompt(MESSAGES)))
    # No chat template in the tiny model: our layout, and another turn is never written.
    assert engine.chat_prompt(MESSAGES).endswith("assistant:")
    assert "\nuser:" not in answer.message.content
    text, roles, reasons = "", [], []
    for chunk in client.chat.completions.create(
        model=engine.name, messages=MESSAGES, max_tokens=12, seed=3, stream=True
    ):
        assert chunk.object == "chat.completion.chunk"
        for choice in chunk.choices:
            text += choice.delta.content or ""
            roles.append(choice.delta.role)
            reasons.append(choice.finish_reason)
    assert text == answer.message.content  # the same seed, whole or streamed
    assert roles[0] == "assistant" and reasons[-1] == answer.finish_reason
    n = client.chat.completions.create(
        model=engine.name, messages=MESSAGES, max_completion_tokens=5, n=3, seed=4
    )
    assert sorted(choice.index for choice in n.choices) == [0, 1, 2]
    with pytest.raises(openai.BadRequestError, match="messages"):
        client.chat.completions.create(model=engine.name, messages=[{"role": "wizard"}])


def test_a_chat_template_and_its_end_of_turn(
    engine: CompletionEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tokenizer's chat template lays the chat out, and the token it writes after an
    answer ends the answer."""
    template = (
        "{% for m in messages %}<|dialogue|>{{ m['role'] }}: {{ m['content'] }}<|endoftext|>"
        "{% endfor %}{% if add_generation_prompt %}<|dialogue|>assistant:{% endif %}"
    )
    monkeypatch.setattr(engine.tokenizer, "chat_template", template, raising=False)
    templated = CompletionEngine(engine.model, engine.tokenizer, "cpu", engine.name)
    prompt = templated.chat_prompt(MESSAGES)
    assert prompt.startswith("<|dialogue|>system: You narrate")
    assert prompt.endswith("<|endoftext|><|dialogue|>assistant:")
    assert templated.chat_end_ids == [engine.tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    assert templated.chat_stops() == ()


# -- bounds -------------------------------------------------------------------------------


def test_a_request_that_can_never_be_served_gets_a_400_not_a_429(
    engine: CompletionEngine,
) -> None:
    with ModelServer(engine, max_queue=4, max_request_tokens=200) as small:
        # More prompts than the server ever queues: no "try again" can help.
        status, body = post(small, json.dumps({"prompt": [PROMPT] * 5, "max_tokens": 2}))
        assert status == 400 and "at most 4 prompts" in body["error"]["message"]
        status, body = post(small, json.dumps({"prompt": [PROMPT] * 300, "max_tokens": 2}))
        assert status == 400 and body["error"]["param"] == "prompt"
        # Its cost in tokens: n x max_tokens and the prompts, over the server's limit.
        status, body = post(small, json.dumps({"prompt": PROMPT, "n": 4, "max_tokens": 60}))
        assert status == 400 and "limit of 200" in body["error"]["message"]
        assert body["error"]["param"] == "max_tokens"
        status, body = post(small, json.dumps({"prompt": PROMPT, "n": 2, "max_tokens": 20}))
        assert status == 200 and len(body["choices"]) == 2


def test_json_nested_deep_and_lone_surrogates_get_400s(server: ModelServer) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    status, body = post(server, '{"prompt": ' + deep + "}")
    assert status == 400 and "nested too deep" in body["error"]["message"]
    status, body = post(server, '{"prompt": ' + "[" * 40 + "1" + "]" * 40 + "}")
    assert status == 400 and "nested too deep" in body["error"]["message"]
    for field in ('"prompt": "the door \\ud800"', '"prompt": "x", "stop": ["\\udfff"]'):
        status, body = post(server, "{" + field + "}")
        assert status == 400 and "surrogate" in body["error"]["message"]
    chat = '{"messages": [{"role": "user", "content": "\\ud83d"}]}'
    status, body = post(server, chat, "/v1/chat/completions")
    assert status == 400 and "surrogate" in body["error"]["message"]
    assert get(server, "/health")["status"] == "ok"


def test_idle_connections_past_the_cap_close_and_health_still_answers(
    engine: CompletionEngine, caplog: pytest.LogCaptureFixture
) -> None:
    import socket

    caplog.set_level(logging.WARNING, logger="textgamegen.serve_model")
    with ModelServer(engine, max_connections=4) as capped:
        idle = [socket.create_connection((capped.host, capped.port)) for _ in range(12)]
        try:
            health = get(capped, "/health")  # a thirteenth connection
            assert health["status"] == "ok"
            assert health["connections"] <= 4 == health["max_connections"]
            assert health["closed_connections"] >= 9
            # The oldest idle ones were closed by the server: they read the end.
            idle[0].settimeout(30)
            assert idle[0].recv(1) == b""
        finally:
            for sock in idle:
                sock.close()
    lines = [r for r in caplog.records if "connections are open" in r.getMessage()]
    assert 1 <= len(lines) <= 2  # one line for the condition, not one per connection


def test_serve_model_under_a_low_open_file_limit_stays_reachable_and_quiet(
    tiny_dir: Path, tmp_path: Path
) -> None:
    """The probe of a descriptor flood in small: serve-model limited to 256 open files
    meets 400 idle connections. It caps them below the limit, so /health answers and stderr
    holds a line about the cap, not one per refused connection."""
    import os
    import socket
    import subprocess
    import sys

    from textgamegen.commands.serve import free_port, wait_for_model_server

    port = free_port()
    log = tmp_path / "serve-model.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    # The limit is set in the child itself (no preexec_fn: this process has threads).
    start = (
        "import resource, runpy, sys; "
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256)); "
        "sys.argv = ['textgamegen', *sys.argv[1:]]; "
        "runpy.run_module('textgamegen', run_name='__main__')"
    )
    with log.open("wb") as errors:
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                start,
                "serve-model",
                "--model",
                str(tiny_dir),
                "--port",
                str(port),
                "--device",
                "cpu",
            ],
            stderr=errors,
            env=env,
        )
    idle: list[socket.socket] = []
    try:
        assert wait_for_model_server(process, f"http://127.0.0.1:{port}", 300) is None
        for _ in range(400):
            idle.append(socket.create_connection(("127.0.0.1", port), timeout=60))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", "/health")
        health = json.loads(connection.getresponse().read())
        connection.close()
        assert health["status"] == "ok"
        assert 32 <= health["max_connections"] <= 256 - 128  # room kept for bursts
        assert health["connections"] <= health["max_connections"]
    finally:
        for sock in idle:
            sock.close()
        process.terminate()
        process.wait(timeout=60)
    text = log.read_text(errors="replace")
    assert "Too many open files" not in text
    assert text.count("connections are open") <= 3 and len(text) < 20_000


def test_an_api_key_is_asked_of_every_request_but_health(engine: CompletionEngine) -> None:
    body = json.dumps({"prompt": "<|action|> You", "max_tokens": 2})
    with ModelServer(engine, max_batch=1, api_key="s3cret-key") as keyed:
        assert get(keyed, "/health")["status"] == "ok"  # a watchdog needs no key
        status, answer = post(keyed, body)
        assert status == 401 and "API key" in answer["error"]["message"]
        assert "s3cret" not in json.dumps(answer)
        for wrong in ("Bearer nope", "s3cret-key", "Bearer s3cret-key2"):
            connection = http.client.HTTPConnection(keyed.host, keyed.port, timeout=30)
            connection.request("POST", "/v1/completions", body, {"Authorization": wrong})
            assert connection.getresponse().status == 401, wrong
            connection.close()
        # The official client sends its key as a Bearer header.
        right = openai.OpenAI(base_url=keyed.url, api_key="s3cret-key", max_retries=0)
        assert right.completions.create(model=engine.name, prompt="<|action|> You", max_tokens=2)
        wrong_client = openai.OpenAI(base_url=keyed.url, api_key="other", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            wrong_client.models.list()


def test_serve_model_reads_its_api_key_from_the_environment_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from textgamegen.__main__ import main

    monkeypatch.delenv("TGG_NO_SUCH", raising=False)
    # A named variable that is not set is a clear error before any model loads.
    code = main(["serve-model", "--model", str(tmp_path / "none"), "--api-key-env", "TGG_NO_SUCH"])
    assert code == 2
    assert "TGG_NO_SUCH, which is not set" in capsys.readouterr().err
