"""serve-model follows the registry: a promote, then a rollback, is served without a
restart, and a request in flight during the swap finishes on the model it started with.

Two tiny random GPT-2s (different seeds, so their greedy continuations differ) are
versions 1 and 2 of "narrator" in a models folder; the server starts on version 1.
"""

from __future__ import annotations

import http.client
import json
import shutil
import threading
from pathlib import Path

import pytest

from textgamegen.hosting.completion import (
    CompletionEngine,
    CompletionParams,
)
from textgamegen.hosting.model_server import ModelServer
from textgamegen.hosting.reload import ProductionWatch
from textgamegen.models import versions
from textgamegen.models.loader import load_generator
from textgamegen.models.random_model import build_random_model

PROMPT = "<|action|> You push open the door"
BODY = json.dumps({"prompt": PROMPT, "max_tokens": 8, "temperature": 0, "logprobs": 0})
"""Greedy, with each token's log-probability: two random models may write the same
letters, never with the same probabilities."""


def _register(models: Path, built: Path, promote: bool) -> int:
    with versions.new_version(models, "narrator", promote=promote) as version:
        shutil.copytree(built, version.path, dirs_exist_ok=True)
    return version.number


def _load() -> CompletionEngine:
    return CompletionEngine.from_generator(load_generator("narrator", "cpu", warm_up=False))


def _ask(server: ModelServer) -> list[float]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=120)
    try:
        connection.request("POST", "/v1/completions", BODY, {"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200
        choice = json.loads(response.read())["choices"][0]
        return [round(value, 4) for value in choice["logprobs"]["token_logprobs"]]
    finally:
        connection.close()


@pytest.mark.parametrize("max_batch", [1, 16], ids=["one-at-a-time", "batching"])
def test_a_promote_and_a_rollback_are_served_without_a_restart(
    tmp_path: Path, max_batch: int
) -> None:
    import os

    models = Path(os.environ["TEXTGAMEGEN_MODELS_DIR"])
    first = build_random_model(tmp_path / "built-1", shape="toy", seed=1)
    second = build_random_model(tmp_path / "built-2", shape="toy", seed=2)
    _register(models, first, promote=True)
    _register(models, second, promote=False)
    old = _load()
    alone = {
        1: old.complete(
            old.encode(PROMPT), CompletionParams(max_tokens=8, temperature=0, logprobs=0)
        ),
    }
    started, release = threading.Event(), threading.Event()

    def held(module: object, args: object) -> None:
        # The old model's first forward pass waits: a request in flight while production
        # changes, on either path (one at a time, or a batch of rows).
        started.set()
        release.wait(120)

    old.model.register_forward_pre_hook(held)
    with ModelServer(old, max_batch=max_batch) as server:
        said: list[str] = []
        # interval 0: the test calls check() itself, no thread and no clock.
        watch = ProductionWatch(server.service, models, "narrator", _load, say=said.append)
        answers: list[list[float]] = []
        in_flight = threading.Thread(target=lambda: answers.append(_ask(server)))
        in_flight.start()
        assert started.wait(120), "the request never reached the model"

        versions.promote(models, "narrator", "2")
        assert watch.check() and server.service.engine is not old
        assert said == [
            f"textgamegen serve-model: now serving narrator version 2 "
            f"({server.service.engine.weights} weights)"
        ]
        release.set()
        in_flight.join(120)
        # The request taken before the swap finished on version 1, whole.
        assert answers == [[round(v, 4) for v in alone[1].choices[0].token_logprobs]]
        promoted = _ask(server)
        assert promoted != answers[0]

        versions.rollback(models, "narrator")
        assert watch.check()
        assert _ask(server) == answers[0]  # version 1 again
        assert not watch.check()  # nothing moved since
        assert watch.reloads == 2


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(tmp_path: Path) -> None:
    import os

    models = Path(os.environ["TEXTGAMEGEN_MODELS_DIR"])
    _register(models, build_random_model(tmp_path / "built-1", shape="toy", seed=1), True)
    _register(models, build_random_model(tmp_path / "built-2", shape="toy", seed=2), False)
    engine = _load()
    with ModelServer(engine) as server:
        said: list[str] = []

        def broken() -> CompletionEngine:
            raise OSError("disk gone")

        watch = ProductionWatch(server.service, models, "narrator", broken, say=said.append)
        versions.promote(models, "narrator", "2")
        assert not watch.check()
        assert server.service.engine is engine and _ask(server)
        assert said == [
            "textgamegen serve-model: narrator version 2 did not load, still serving the "
            "one before: disk gone"
        ]


@pytest.mark.parametrize("interval", [0.01])
def test_the_watch_thread_reloads_on_its_own(tmp_path: Path, interval: float) -> None:
    import os

    models = Path(os.environ["TEXTGAMEGEN_MODELS_DIR"])
    _register(models, build_random_model(tmp_path / "built-1", shape="toy", seed=1), True)
    _register(models, build_random_model(tmp_path / "built-2", shape="toy", seed=2), False)
    engine = _load()
    with ModelServer(engine) as server:
        watch = ProductionWatch(server.service, models, "narrator", _load, interval, say=print)
        watch.start()
        try:
            versions.promote(models, "narrator", "2")
            assert watch.changed.wait(120), "the watch never reloaded"
            assert server.service.engine is not engine
        finally:
            watch.stop()
