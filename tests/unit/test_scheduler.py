"""The shipped scheduler (training/scheduler/): a systemd timer and service, and a cron
line, that export the feedback and run ``train pipeline --if-triggered``. Their commands
must be ones the CLI takes, and the timer must start the service."""

from __future__ import annotations

import configparser
import shlex
from pathlib import Path

import pytest

from textgamegen.__main__ import build_parser
from training.cli import build_parser as train_parser

SCHEDULER = Path(__file__).parents[2] / "training" / "scheduler"


def _unit(name: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=False)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((SCHEDULER / name).read_text(encoding="utf-8"))
    return unit


def _commands(shell: str) -> list[list[str]]:
    """The textgamegen commands of a ``sh -c`` line, split at ``&&``."""
    found = []
    for part in shell.split("&&"):
        words = shlex.split(part)
        while words and words[0] in ("exec", "nice", "-n", "19"):
            words = words[1:]
        if words and words[0] == "textgamegen":
            found.append(words[1:])
    return found


def _parses(words: list[str]) -> None:
    if words[0] == "train":
        args = train_parser("textgamegen train").parse_args(words[1:])
        assert args.stage == "pipeline" and args.if_triggered
    else:
        build_parser().parse_args(words)


def test_the_timer_starts_the_service_nightly() -> None:
    timer = _unit("textgamegen-retrain.timer")
    assert timer["Timer"]["OnCalendar"] == "*-*-* 03:30:00"
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    # No Unit= line: a timer starts the service of its own name.
    assert "Unit" not in timer["Timer"]
    assert (SCHEDULER / "textgamegen-retrain.service").is_file()


def test_the_service_exports_then_retrains_only_when_triggered() -> None:
    service = _unit("textgamegen-retrain.service")["Service"]
    assert service["Type"] == "oneshot" and service["Nice"] == "19"
    shell = shlex.split(service["ExecStart"])
    assert shell[:2] == ["/bin/sh", "-c"]
    commands = _commands(shell[2])
    assert [words[0] for words in commands] == ["feedback", "train"]
    for words in commands:
        _parses(words)


@pytest.mark.parametrize("line", ["cron"])
def test_the_cron_line_runs_the_same_commands(line: str) -> None:
    text = (SCHEDULER / f"textgamegen-retrain.{line}").read_text(encoding="utf-8")
    entries = [row for row in text.splitlines() if row and not row.startswith("#")]
    assert len(entries) == 1
    fields = entries[0].split(maxsplit=5)
    assert fields[:5] == ["30", "3", "*", "*", "*"]
    inner = shlex.split(fields[5].split("flock -n .retrain.lock", 1)[1].split(">>")[0])
    assert inner[:2] == ["sh", "-c"]
    commands = _commands(inner[2])
    assert [words[0] for words in commands] == ["feedback", "train"]
    for words in commands:
        _parses(words)
