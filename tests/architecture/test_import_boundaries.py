"""The engine imports neither textual nor torch nor transformers; training never imports textual.

Each check imports the modules in a fresh interpreter and looks at ``sys.modules``, so an
import hidden anywhere in the chain is caught.
"""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def modules_in(package: str) -> list[str]:
    folder = REPO.joinpath(*package.split("."))
    # __main__ modules run a program when imported; everything else is imported.
    found = pkgutil.iter_modules([str(folder)])
    return [f"{package}.{info.name}" for info in found if info.name != "__main__"]


def loaded_after_importing(modules: list[str]) -> set[str]:
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_engine_imports_no_ui_and_no_model_libraries() -> None:
    engine = modules_in("textgamegen.engine")
    assert "textgamegen.engine.game" in engine
    # The engine's own helpers for files and terminal text sit outside engine/ and must stay
    # as pure as it is.
    shared = ["textgamegen.atomic", "textgamegen.checksum", "textgamegen.safe_text"]
    loaded = loaded_after_importing([*engine, *shared, "textgamegen.narration.template"])
    assert not loaded & {"textual", "torch", "transformers"}


def test_play_command_starts_without_model_libraries() -> None:
    """`textgamegen play --script ... --model template` must not pay for torch: the scripted
    runner and the play session it drives stay pure too."""
    play = modules_in("textgamegen.play")
    assert "textgamegen.play.session" in play and "textgamegen.play.script" in play
    modules = ["textgamegen.__main__", "textgamegen.commands.play", *play]
    loaded = loaded_after_importing([*modules, "textgamegen.narration.template"])
    assert not loaded & {"textual", "torch", "transformers"}


@pytest.mark.slow
def test_training_never_imports_textual() -> None:
    training = modules_in("training")
    assert training, "training/ exists, so it is checked"
    loaded = loaded_after_importing(training)
    assert "textual" not in loaded


def test_feedback_and_its_commands_import_no_ui_and_no_model_libraries() -> None:
    """The recorder runs inside scripted runs and the monitor in cron jobs: both stay light
    (matplotlib is imported only to draw a PNG)."""
    feedback = modules_in("textgamegen.feedback")
    assert "textgamegen.feedback.recorder" in feedback
    commands = ["textgamegen.commands.monitor", "textgamegen.commands.feedback"]
    loaded = loaded_after_importing([*feedback, *commands])
    assert not loaded & {"textual", "torch", "transformers", "matplotlib"}


def test_the_vllm_export_command_imports_no_model_libraries_until_it_runs() -> None:
    """`textgamegen --help` lists export-vllm; building that help must not load torch."""
    loaded = loaded_after_importing(
        ["textgamegen.commands.export_vllm", "textgamegen.models.vllm_export"]
    )
    assert not loaded & {"textual", "torch", "transformers"}
