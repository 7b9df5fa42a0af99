"""The completion engine's pure parts: stop-string hold-back and parameter checks."""

from __future__ import annotations

import pytest

from textgamegen.hosting.completion import CompletionError, CompletionParams, _held_back
from textgamegen.hosting.model_server import parse_params


def test_a_possible_stop_string_start_is_held_back() -> None:
    assert _held_back("the door <", ["<|"]) == 1
    assert _held_back("the door <|", ["<|"]) == 0  # whole: found as a stop, not held
    assert _held_back("and then\n", ["\n\n", "<|"]) == 1
    assert _held_back("hello", ["lo there"]) == 2
    assert _held_back("hello", []) == 0


def test_parameters_are_checked_with_their_names() -> None:
    params = parse_params(
        {"prompt": "x", "n": 3, "stop": "<|", "temperature": 0, "seed": 4, "bad_words": ["west"]}
    )
    assert (params.n, params.stop, params.seed, params.bad_words) == (3, ("<|",), 4, ("west",))
    assert not params.sampling().do_sample  # temperature 0 is greedy
    for body, name in [
        ({"n": 17}, "n"),
        ({"stop": ["a"] * 5}, "stop"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"logprobs": 9}, "logprobs"),
        ({"min_tokens": 50, "max_tokens": 5}, "min_tokens"),
        ({"best_of": 3}, "best_of"),
        ({"presence_penalty": 1}, "presence_penalty"),
        ({"seed": 1.5}, "seed"),
        ({"top_k": -2}, "top_k"),
        ({"bad_words": "west"}, "bad_words"),
        ({"bad_words": ["west", 3]}, "bad_words"),
        ({"bad_words": [""]}, "bad_words"),
        ({"bad_words": ["w"] * 513}, "bad_words"),
        ({"bad_words": ["w" * 51]}, "bad_words"),
    ]:
        with pytest.raises(CompletionError) as error:
            parse_params({"prompt": "x", **body})
        assert error.value.param == name and error.value.status == 400
    with pytest.raises(CompletionError, match="temperature"):
        CompletionParams(temperature=3.0).check()


def test_n_times_max_tokens_is_bounded_with_the_limit_named() -> None:
    with pytest.raises(CompletionError, match="at most 4096") as error:
        parse_params({"prompt": "x", "n": 16, "max_tokens": 512})
    assert error.value.param == "max_tokens" and error.value.status == 400
    assert parse_params({"prompt": "x", "n": 8, "max_tokens": 512}).n == 8


def test_bodies_that_are_no_request_get_a_400_not_a_crash() -> None:
    from textgamegen.hosting.model_server import read_body

    for raw, why in [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deep"),
        (b'{"a": ' + b'{"b": ' * 40 + b"1" + b"}" * 41, "nested too deep"),
        (b'{"prompt": "\\ud800"}', "surrogate"),
        (b'{"\\udc00": 1}', "surrogate"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "JSON object"),
    ]:
        with pytest.raises(CompletionError, match=why) as error:
            read_body(raw)
        assert error.value.status == 400
    assert read_body(b'{"prompt": "\\ud83d\\ude00"}') == {"prompt": "\U0001f600"}


def test_a_repeated_log_line_is_written_once_per_kind_with_a_count() -> None:
    import logging

    from textgamegen.hosting.model_server import _OncePerCondition

    kept = []
    once = _OncePerCondition()
    for number in range(1000):
        record = logging.LogRecord(
            "asyncio",
            logging.ERROR,
            __file__,
            1,
            "socket.accept() out of system resource",
            None,
            None,
        )
        if once.filter(record):
            kept.append((number, record.getMessage()))
    assert [number for number, _ in kept] == [0, 9, 99, 999]
    assert kept[-1][1].endswith("(seen 1000 times)")


def test_the_commands_defaults_are_the_servers() -> None:
    """serve-model's --help does not import the server; its defaults must still agree."""
    from textgamegen.commands import serve_model
    from textgamegen.hosting import model_server

    assert serve_model.DEFAULT_MAX_BATCH == model_server.DEFAULT_MAX_BATCH
    assert serve_model.MAX_REQUEST_TOKENS == model_server.MAX_REQUEST_TOKENS
    assert serve_model.DEFAULT_MAX_CONNECTIONS == model_server.DEFAULT_MAX_CONNECTIONS
