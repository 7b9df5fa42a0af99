"""The model registry and ``textgamegen models``: shipped and user models with their metrics."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from textgamegen.commands import models as models_command
from textgamegen.models import registry

METRICS = {
    "perplexity": 41.2,
    "latency_ms_median": 180.0,
    "latency_device": "cpu",
    "evaluated_at": "2026-11-28T10:00:00Z",
}
LINEAGE = {
    "name": "textgamegen",
    "base": "scratch:small",
    "corpus": "training/configs/textgamegen.toml",
    "created_at": "2026-11-27T09:00:00Z",
}


def make_model_dir(path: Path, metrics: object = None, lineage: object = None) -> Path:
    path.mkdir(parents=True)
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (path / name).write_text("{}", encoding="utf-8")
    if metrics is not None:
        (path / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    if lineage is not None:
        (path / "lineage.json").write_text(json.dumps(lineage), encoding="utf-8")
    return path


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    shipped, user = tmp_path / "shipped", tmp_path / "user"
    shipped.mkdir()
    user.mkdir()
    monkeypatch.setattr(registry.paths, "shipped_models_dir", lambda: shipped)
    monkeypatch.setenv("TEXTGAMEGEN_MODELS_DIR", str(user))
    return shipped, user


def test_lists_shipped_then_user_with_metadata(folders: tuple[Path, Path]) -> None:
    shipped, user = folders
    make_model_dir(shipped / "textgamegen", METRICS, LINEAGE)
    make_model_dir(shipped / "alice")
    make_model_dir(user / "mine", {"perplexity": 12})
    (user / ".hidden").mkdir()
    infos = registry.list_models()
    assert [(info.name, info.source) for info in infos] == [
        ("alice", "shipped"),
        ("textgamegen", "shipped"),
        ("mine", "user"),
    ]
    main = infos[1]
    assert (main.base, main.corpus, main.perplexity, main.latency_ms) == (
        "scratch:small",
        "training/configs/textgamegen.toml",
        41.2,
        180.0,
    )
    assert main.date == "2026-11-27T09:00:00Z"
    assert infos[0].metrics == {} and infos[0].perplexity is None and infos[0].problem == ""
    assert infos[2].perplexity == 12.0


def test_user_model_shadows_shipped_one(folders: tuple[Path, Path]) -> None:
    shipped, user = folders
    make_model_dir(shipped / "textgamegen")
    make_model_dir(user / "textgamegen")
    found = registry.find_model("textgamegen")
    assert found is not None and found.source == "user"
    assert registry.find_model("nothing") is None


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"config.json": "{}", "tokenizer.json": "{}", "pytorch_model.bin": "x"}, "pickle"),
        ({"config.json": "{}", "tokenizer.json": "{}"}, "no model.safetensors"),
        ({"model.safetensors": "x"}, "no config.json"),
        ({"config.json": "{}", "model.safetensors": "x"}, "no tokenizer"),
        (
            {
                "config.json": "{}",
                "tokenizer.json": "{}",
                "model.safetensors": "x",
                "metrics.json": "{broken",
            },
            "metrics.json",
        ),
    ],
)
def test_problems_are_reported_not_raised(
    folders: tuple[Path, Path], files: dict[str, str], problem: str
) -> None:
    _, user = folders
    (user / "odd").mkdir()
    for name, text in files.items():
        (user / "odd" / name).write_text(text, encoding="utf-8")
    [info] = registry.list_models()
    assert problem in info.problem


def test_missing_folders_list_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry.paths, "shipped_models_dir", lambda: tmp_path / "none")
    monkeypatch.setenv("TEXTGAMEGEN_MODELS_DIR", str(tmp_path / "nothing"))
    assert registry.list_models() == []


def test_models_command_json(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    shipped, _ = folders
    make_model_dir(shipped / "textgamegen", METRICS, LINEAGE)
    assert models_command.run(argparse.Namespace(json=True)) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [entry["name"] for entry in entries] == ["textgamegen", "template"]
    first = entries[0]
    assert first["perplexity"] == 41.2 and first["latency_ms"] == 180.0
    assert first["base"] == "scratch:small" and first["source"] == "shipped"


def test_models_command_table(
    folders: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    shipped, user = folders
    make_model_dir(shipped / "textgamegen", METRICS, LINEAGE)
    (user / "broken").mkdir()
    assert models_command.run(argparse.Namespace(json=False)) == 0
    out = capsys.readouterr().out
    header, row = out.splitlines()[:2]
    assert header.split() == [
        "NAME",
        "SOURCE",
        "BASE",
        "BASE-SHA256",
        "CORPUS",
        "PERPLEXITY",
        "LATENCY",
        "DATE",
    ]
    assert row.split()[:6] == [
        "textgamegen",
        "shipped",
        "scratch:small",
        "-",
        "training/configs/textgamegen.toml",
        "41.2",
    ]
    assert "180.0 ms cpu" in row and "2026-11-27" in row
    assert "warning: broken" in out and "no config.json" in out
