"""Long sessions keep native memory bounded: oneDNN's per-shape caches are capped before the
model loads (issue 11, memory; the measurement is ``bench/soak.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from textgamegen.models.native_memory import CACHE_VARIABLES, cap_native_caches


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*CACHE_VARIABLES, "TEXTGAMEGEN_NATIVE_DEFAULTS"):
        monkeypatch.delenv(name, raising=False)


def test_caps_are_set_but_a_players_value_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LRU_CACHE_CAPACITY", "512")
    assert cap_native_caches() == {
        "ONEDNN_PRIMITIVE_CACHE_CAPACITY": "64",
        "LRU_CACHE_CAPACITY": "512",
    }


def test_the_switch_leaves_torchs_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTGAMEGEN_NATIVE_DEFAULTS", "1")
    assert cap_native_caches() == {}
    assert not any(name in os.environ for name in CACHE_VARIABLES)


def test_loading_a_model_caps_the_caches_first(tmp_path: Path) -> None:
    from textgamegen.models.loader import load_generator
    from textgamegen.models.random_model import build_random_model

    model = build_random_model(tmp_path / "tiny", n_positions=64)
    load_generator(str(model), device="cpu", warm_up=False)
    assert os.environ.get("ONEDNN_PRIMITIVE_CACHE_CAPACITY") == "64"
    assert os.environ.get("LRU_CACHE_CAPACITY") == "64"


def test_the_soak_benchmark_reports_rss_at_its_checkpoints() -> None:
    from bench.soak import play

    result = play("template", 120, threads=1, fixed=True)
    assert [row["turn"] for row in result["rows"]] == [1, 100, 120]
    assert all(row["rss_mb"] > 0 for row in result["rows"])
    assert result["rows"][-1]["narrations"] > 0
