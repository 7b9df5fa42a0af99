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
