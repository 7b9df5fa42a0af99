"""Hub look-ups wait at most a few stated seconds, then fall back at once (issue 11)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from textgamegen.models import hub
from textgamegen.narration.generator import GeneratorError


@pytest.fixture
def silent_hub() -> Iterator[str]:
    """A port that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    server.close()


@pytest.fixture
def refused_hub() -> str:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def answering_hub() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(autouse=True)
def online(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf")))
    hub.forget()
    yield
    hub.forget()


def point_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    import huggingface_hub.constants as constants

    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setattr(constants, "ENDPOINT", url)


def test_a_silent_hub_is_given_up_on_after_the_stated_timeout(
    monkeypatch: pytest.MonkeyPatch, silent_hub: str
) -> None:
    point_at(monkeypatch, silent_hub)
    # The hub never answers, so coming back at all is giving up.
    assert hub.answers() is False
    assert hub.unreachable_reason() == f"the hub ({silent_hub}) did not answer within 3 s"


def test_a_refused_port_is_given_up_on_at_once(
    monkeypatch: pytest.MonkeyPatch, refused_hub: str
) -> None:
    point_at(monkeypatch, refused_hub)
    verdict: list[bool] = []
    # Given an hour, a refused connection is still given up on when it is refused.
    asking = threading.Thread(target=lambda: verdict.append(hub.answers(timeout=3600)))
    asking.daemon = True
    asking.start()
    asking.join(60)
    assert not asking.is_alive(), "a refused port was waited on"
    assert verdict == [False]


def test_any_http_answer_counts(monkeypatch: pytest.MonkeyPatch, answering_hub: str) -> None:
    point_at(monkeypatch, answering_hub)
    assert hub.answers() is True


def test_a_hub_id_with_a_silent_hub_falls_back_within_seconds(
    monkeypatch: pytest.MonkeyPatch, silent_hub: str
) -> None:
    from textgamegen.models.loader import load_generator

    point_at(monkeypatch, silent_hub)
    outcome: list[BaseException] = []

    def load() -> None:
        try:
            load_generator("someone/gpt2-medium", device="cpu", warm_up=False)
        except BaseException as error:  # noqa: BLE001 - handed to the test
            outcome.append(error)

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(120)  # a guard: the hub never answers, so returning at all is giving up
    assert not worker.is_alive(), "the hub look-up hung"
    assert outcome and isinstance(outcome[0], GeneratorError)
    assert "did not answer within 3 s" in str(outcome[0])
