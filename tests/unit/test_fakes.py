"""The fake generators in ``tests/fakes.py`` keep to the ``Generator`` protocol.

A fake that drifted (a renamed argument, a missing ``cancel``, no ``backend``) would let
the pilots pass against a game that a real model then breaks; these checks fail first.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import threading
from typing import get_args, get_type_hints

import pytest
from fakes import FAKE_GENERATORS

from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.narration.generator import Generator, Narration

REQUEST = ContentRequest(
    ContentKind.ACTION, command="push open the door", subject="the door", fallback="It opens."
)


# Every attribute the protocol declares, with the types its values may have.
MEMBERS = {name: get_args(hint) or (hint,) for name, hint in get_type_hints(Generator).items()}


def protocol_problems(fake: object) -> list[str]:
    """Where ``fake`` differs from the ``Generator`` protocol ([] when it keeps to it)."""
    problems = []
    for name, types in MEMBERS.items():
        if not hasattr(fake, name):
            problems.append(f"no {name}")
            continue
        value = getattr(fake, name)
        if not isinstance(value, types):
            problems.append(f"{name} is {value!r}, not {' | '.join(t.__name__ for t in types)}")
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


def test_the_protocol_declares_what_callers_read_each_with_a_default_and_a_docstring() -> None:
    wanted = {"name", "backend", "device", "dtype", "quantized", "resumes", "threads", "load_ms"}
    wanted |= {"notice"}
    assert wanted | {"path"} == set(MEMBERS)
    body = ast.parse(textwrap.dedent(inspect.getsource(Generator))).body[0]
    assert isinstance(body, ast.ClassDef)
    documented = {
        statement.target.id
        for statement, after in zip(body.body, body.body[1:], strict=False)
        if isinstance(statement, ast.AnnAssign)
        and isinstance(statement.target, ast.Name)
        and statement.value is not None  # the default
        and isinstance(after, ast.Expr)
        and isinstance(after.value, ast.Constant)
        and isinstance(after.value.value, str)  # the docstring under it
    }
    assert documented == set(MEMBERS)


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

    class Renamed(Generator):
        name = backend = device = "renamed"

        def generate(self, request, sink=None, cancel=None):
            return Narration(request, "text")

    assert not isinstance(Drifted(), Generator)
    # No backend, none of the attributes a subclass would take as defaults, no cancel.
    assert "no backend" in protocol_problems(Drifted())
    assert "no notice" in protocol_problems(Drifted())
    assert protocol_problems(Drifted())[-1].startswith("generate('request', 'on_text')")
    assert protocol_problems(Renamed()) == [
        "generate('request', 'sink', 'cancel') takes other arguments than "
        "('request', 'on_text', 'cancel')"
    ]
