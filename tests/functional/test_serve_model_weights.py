"""serve-model chooses its weights as the game does: the ``quantize`` setting (or
``--quantize``) gives it int8 weights on the CPU, its startup log says which it took, and
a promoted version is loaded the same way (issue 24: it used to load every narrator
unquantised, whatever the setting).

A tiny random Llama (the ``toy`` scratch size) is version 1, then 2, of "narrator" in the
test's models folder; the server itself is not started: ``serve_forever`` is replaced by
one that hands back what it was given.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from torch import nn

from textgamegen.commands import serve_model
from textgamegen.hosting import model_server, reload
from textgamegen.hosting.completion import CompletionEngine
from textgamegen.models import versions
from textgamegen.models.random_model import build_random_model
from textgamegen.narration import int8_weights
from textgamegen.narration.int8_weights import Int8Linear

pytestmark = pytest.mark.skipif(
    not int8_weights.kernel_available(), reason="this torch has no _weight_int8pack_mm"
)


def _register(models: Path, built: Path, promote: bool) -> None:
    with versions.new_version(models, "narrator", promote=promote) as version:
        shutil.copytree(built, version.path, dirs_exist_ok=True)


def _layers(engine: CompletionEngine) -> tuple[int, int]:
    """(int8 layers, float Linear layers) of the engine's model."""
    modules = list(engine.model.modules())
    return (
        sum(isinstance(m, Int8Linear) for m in modules),
        sum(type(m) is nn.Linear for m in modules),
    )


class _Service:
    engine: CompletionEngine | None = None

    def replace_engine(self, engine: CompletionEngine) -> None:
        self.engine = engine


def _serve(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *flags: str
) -> tuple[CompletionEngine, reload.ProductionWatch, str]:
    """Run ``serve-model`` with ``flags`` up to serving: the engine it would serve, the
    production watch it started (not running: the test calls ``check``), and its log."""
    served: dict[str, Any] = {}
    watches: list[reload.ProductionWatch] = []

    def serve_forever(engine: CompletionEngine, *_args: Any, **kwargs: Any) -> None:
        served["engine"] = engine
        kwargs["on_service"](_Service())
        kwargs["on_listening"](8001)

    monkeypatch.setattr(model_server, "serve_forever", serve_forever)
    monkeypatch.setattr(reload.ProductionWatch, "start", lambda watch: watches.append(watch))
    parser = argparse.ArgumentParser()
    serve_model.add_arguments(parser)
    args = parser.parse_args(["--model", "narrator", "--device", "cpu", *flags])
    assert serve_model.run(args) == 0
    [watch] = watches
    return served["engine"], watch, capsys.readouterr().err


@pytest.fixture
def narrator(tmp_path: Path) -> Path:
    """Version 1 of "narrator" in production, version 2 registered beside it."""
    models = Path(os.environ["TEXTGAMEGEN_MODELS_DIR"])
    for number in (1, 2):
        built = build_random_model(tmp_path / f"built-{number}", arch="llama", seed=number)
        _register(models, built, promote=number == 1)
    return models


@pytest.mark.parametrize(
    ("settings", "flags"),
    [
        ('quantize = "int8"\n', ()),
        ('quantize = "off"\n', ("--quantize", "int8")),
        ('quantize = "off"\n', ("--quantize",)),  # a bare --quantize is int8
    ],
    ids=["from-the-settings", "flag-over-settings", "bare-flag"],
)
def test_int8_weights_are_served_and_kept_across_a_promote(
    narrator: Path,
    player_dirs: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    settings: str,
    flags: tuple[str, ...],
) -> None:
    (player_dirs / "config.toml").write_text(settings, encoding="utf-8")
    engine, watch, log = _serve(monkeypatch, capsys, *flags)
    int8, plain = _layers(engine)
    assert int8 >= 9 and plain == 0, "every Linear (4 per block x 2, and the head) is int8"
    assert engine.weights == "int8"
    assert "int8 weights, quantize int8" in log

    said: list[str] = []
    watch.say = said.append
    versions.promote(narrator, "narrator", "2")
    assert watch.check()
    promoted = watch.service.engine  # type: ignore[attr-defined]
    assert promoted is not None and promoted is not engine
    assert _layers(promoted) == (int8, 0), "the promoted version is int8 too"
    assert said == ["textgamegen serve-model: now serving narrator version 2 (int8 weights)"]


def test_off_keeps_the_float_weights(
    narrator: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine, _watch, log = _serve(monkeypatch, capsys, "--quantize", "off")
    int8, plain = _layers(engine)
    assert int8 == 0 and plain >= 9
    assert engine.weights in ("float32", "bfloat16")
    assert f"{engine.weights} weights, quantize off" in log


@pytest.mark.parametrize("pays", [True, False], ids=["int8-pays", "int8-does-not-pay"])
def test_auto_follows_the_games_rule_and_the_log_says_why(
    narrator: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    pays: bool,
) -> None:
    # The settings' default is auto: the game's own measurement decides, here pinned.
    monkeypatch.setattr(int8_weights, "kernel_speedup", lambda *_args: 2.0 if pays else 0.5)
    monkeypatch.setattr(int8_weights, "MAX_LOSS_RISE", float("inf"))
    engine, _watch, log = _serve(monkeypatch, capsys)
    int8, _plain = _layers(engine)
    assert "quantize auto" in log
    if pays:
        assert int8 >= 9 and "(cpu, int8 weights, quantize auto" in log
    else:
        assert int8 == 0
        assert "weights (int8 not taken: int8 measured 0.50x the speed of" in log
