"""``textgamegen generate`` and ``textgamegen models`` run as the player runs them.

A tiny random GPT-2 is built once; every command runs in a subprocess with
HF_HUB_OFFLINE=1 and private config and data folders, so nothing touches the network or
the real home directory.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from textgamegen.models.random_model import build_random_model


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is first imported
    return build_random_model(tmp_path_factory.mktemp("cli") / "tiny", n_positions=128)


def textgamegen(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        TEXTGAMEGEN_DATA_DIR=str(home / "data"),
        TEXTGAMEGEN_CONFIG=str(home / "config.toml"),
    )
    env["TEXTGAMEGEN_MODELS_DIR"] = str(home / "data" / "models")
    # One thread for the model, through the settings file: the CI machine is small.
    (home / "config.toml").write_text("threads = 1\n", encoding="utf-8")
    command = [sys.executable, "-m", "textgamegen", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=180, check=False
    )


@pytest.mark.slow
def test_generate_json_on_a_model_directory(tiny_dir: Path, tmp_path: Path) -> None:
    done = textgamegen(
        "generate",
        "--kind",
        "action",
        "--prompt",
        "You push open the door",
        "--json",
        "--model",
        str(tiny_dir),
        "--seed",
        "4",
        home=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["backend"] == "transformers" and result["device"] == "cpu"
    assert result["text"]
    assert len(result["candidates"]) == 5  # nothing streamed with --json: five, ranked
    assert result["text"] == result["candidates"][0]["text"]
    for candidate in result["candidates"]:
        assert set(candidate["scores"]) == {
            "complete",
            "mentions",
            "novelty",
            "length",
            "logprob",
            "canon",
            "grounded",
        }
    timings = result["timings"]
    assert 0 < timings["first_token_ms"] <= timings["total_ms"] and timings["tokens_per_s"] > 0
    assert result["prompt"].endswith("you: You push open the door] <|endoftext|><|action|>")
    assert result["request"]["command"] == "You push open the door"
    again = textgamegen(
        "generate",
        "--kind",
        "action",
        "--prompt",
        "You push open the door",
        "--json",
        "--model",
        str(tiny_dir),
        "--seed",
        "4",
        home=tmp_path,
    )
    assert json.loads(again.stdout)["candidates"] == result["candidates"]  # seeded: identical


@pytest.mark.slow
def test_generate_text_output_and_registry_name(tiny_dir: Path, tmp_path: Path) -> None:
    shutil.copytree(tiny_dir, tmp_path / "data" / "models" / "tiny")
    done = textgamegen(
        "generate",
        "--kind",
        "item",
        "--prompt",
        "brass lantern",
        "-n",
        "2",
        "--model",
        "tiny",
        home=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "\n> " in done.stdout and "[describe: the brass lantern]" in done.stdout
    # Streamed, one candidate is written and kept (never swapped for another).
    assert "candidates (the shown one is marked *):" in done.stdout and " 1. score " in done.stdout
    assert " 2. score " not in done.stdout
    assert "streamed (first candidate, as it is written):" in done.stdout
    assert "shown (the streamed line, kept):" in done.stdout
    assert "timings: first token" in done.stdout
    listed = textgamegen("models", "--json", home=tmp_path)
    entries = {entry["name"]: entry for entry in json.loads(listed.stdout)}
    assert entries["tiny"]["source"] == "user" and entries["tiny"]["base"] == "random:toy"


def test_generate_refuses_pickle_with_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "pickled"
    bad.mkdir()
    (bad / "config.json").write_text("{}", encoding="utf-8")
    (bad / "pytorch_model.bin").write_bytes(b"\x80\x04")
    done = textgamegen("generate", "--model", str(bad), home=tmp_path)
    assert done.returncode == 1
    assert "safetensors only" in done.stderr and "Traceback" not in done.stderr


def test_generate_with_template(tmp_path: Path) -> None:
    done = textgamegen(
        "generate", "--model", "template", "--prompt", "dance", "--json", home=tmp_path
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["backend"] == "template" and "dance" in result["text"]
