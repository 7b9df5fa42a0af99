"""The fake generators in ``tests/fakes.py`` keep to the ``Generator`` protocol.

A fake that drifted (a renamed argument, a missing ``cancel``, no ``backend``) would let
the pilots pass against a game that a real model then breaks; these checks fail first.
"""

from __future__ import annotations

import inspect
import threading

import pytest
from fakes import FAKE_GENERATORS

from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.narration.generator import Generator, Narration

REQUEST = ContentRequest(
    ContentKind.ACTION, command="push open the door", subject="the door", fallback="It opens."
)


def protocol_problems(fake: object) -> list[str]:
    """Where ``fake`` differs from the ``Generator`` protocol ([] when it keeps to it)."""
    problems = []
    for name in ("name", "backend", "device"):
        value = getattr(fake, name, None)
        if not isinstance(value, str):
            problems.append(f"{name} is {value!r}, not a str")
    method = getattr(fake, "generate", None)
    if not callable(method):
        return [*problems, "no generate()"]
    wanted = inspect.signature(Generator.generate).parameters
    wanted = {name: p for name, p in wanted.items() if name != "self"}
    got = inspect.signature(method).parameters
    if list(got) != list(wanted):
        problems.append(f"generate{tuple(got)} takes other arguments than {tuple(wanted)}")
    else:
        for name, parameter in wanted.items():
            if got[name].default != parameter.default or got[name].kind != parameter.kind:
                problems.append(f"generate's {name} differs: {got[name]} vs {parameter}")
    return problems


@pytest.mark.parametrize("fake_class", FAKE_GENERATORS, ids=lambda cls: cls.__name__)
def test_each_fake_keeps_to_the_generator_protocol(fake_class: type) -> None:
    fake = fake_class()
    assert isinstance(fake, Generator)
    assert protocol_problems(fake) == []


@pytest.mark.parametrize("fake_class", FAKE_GENERATORS, ids=lambda cls: cls.__name__)
def test_each_fake_streams_what_it_returns_and_honours_cancel(fake_class: type) -> None:
    fake = fake_class()
    pieces: list[str] = []
    narration = fake.generate(REQUEST, pieces.append)
    assert isinstance(narration, Narration)
    assert narration.request is REQUEST
    assert narration.text and not narration.cancelled
    assert "".join(pieces) and narration.text.startswith("".join(pieces).rstrip("."))
    cancel = threading.Event()
    cancel.set()
    stopped = fake.generate(REQUEST, None, cancel)
    assert stopped.cancelled


def test_the_check_catches_a_drifted_fake() -> None:
    class Drifted:
        name = "drifted"
        device = "cpu"  # no backend

        def generate(self, request, on_text=None):  # no cancel
            return Narration(request, "text")

    class Renamed:
        name = backend = device = "renamed"

        def generate(self, request, sink=None, cancel=None):
            return Narration(request, "text")

    assert not isinstance(Drifted(), Generator)
    assert len(protocol_problems(Drifted())) == 2
    assert protocol_problems(Renamed()) == [
        "generate('request', 'sink', 'cancel') takes other arguments than "
        "('request', 'on_text', 'cancel')"
    ]
