"""lineage.json and the model card: what changes a model (overrides, code version, packages,
text tools), and none of this machine's folders, nor a model's control characters."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from training import lineage
from training.config import load_config

FIXTURE = Path(__file__).parent.parent / "fixtures" / "corpus" / "fixture.toml"


@pytest.fixture
def config(tmp_path: Path):
    """The fixture config, copied outside any git checkout, on an absolute local base."""
    text = FIXTURE.read_text(encoding="utf-8").replace(
        'name = "fixture"', f'name = "fixture"\nroot = "{FIXTURE.parent}"'
    )
    text = text.replace('base = "scratch:toy"', f'base = "{tmp_path / "bases" / "llama"}"')
    path = tmp_path / "elsewhere" / "fixture.toml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def _lineage(config, tmp_path: Path, **options) -> dict:
    finetune_dir = tmp_path / "run" / "finetune"
    finetune_dir.mkdir(parents=True)
    (finetune_dir / "finetune.json").write_text(
        json.dumps({"steps": 4, "threads": 2, "machine": {"cpu_capability": "AVX2"}})
    )
    return lineage.build_lineage(
        config,
        "0" * 64,
        finetune_dir,
        f"textgamegen train pipeline {config.path} --run-dir {tmp_path / 'run'} --max-steps 4",
        "1" * 64,
        **options,
    )


def test_a_max_steps_override_is_the_recorded_config(config, tmp_path: Path) -> None:
    recorded = _lineage(config, tmp_path, finetune=replace(config.finetune, max_steps=4))
    assert recorded["config"]["finetune"]["max_steps"] == 4
    assert recorded["overrides"] == {"max_steps": 4}
    assert recorded["finetune"]["threads"] == 2
    assert recorded["finetune"]["machine"] == {"cpu_capability": "AVX2"}


def test_code_version_is_the_packages_checkout_not_the_configs_folder(
    config, tmp_path: Path
) -> None:
    recorded = _lineage(config, tmp_path)
    assert len(recorded["git_commit"]) == 40  # the config's folder is no checkout
    assert isinstance(recorded["git_dirty"], bool)
    assert {"textgamegen", "torch", "transformers", "peft"} <= set(recorded["packages"])
    assert recorded["text_tools"]["sentence_splitter"] == "builtin"
    assert isinstance(recorded["text_tools"]["nltk_data_found"], bool)


def test_no_absolute_path_of_this_machine_is_recorded(config, tmp_path: Path) -> None:
    recorded = json.dumps(_lineage(config, tmp_path))
    for folder in {str(tmp_path), str(tmp_path.resolve()), str(FIXTURE.parent)}:
        assert folder not in recorded
    assert ".../llama" in recorded


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("/home/ann/bases/llama", ".../llama"),
        ("--run-dir /tmp/x/run --models-dir models", "--run-dir .../run --models-dir models"),
        (
            "config:../../assets/worlds/wonderland.toml",
            "config:../../assets/worlds/wonderland.toml",
        ),
        ("https://github.com/gutenbergbooks/11", "https://github.com/gutenbergbooks/11"),
        ('root = "/srv/corpora"', 'root = ".../corpora"'),
    ],
)
def test_portable_keeps_relative_paths_and_urls(text: str, shown: str) -> None:
    assert lineage.portable(text, Path("/nowhere/near")) == shown


def test_a_path_under_the_working_folder_becomes_relative(tmp_path: Path) -> None:
    assert lineage.portable(f"{tmp_path}/runs/a b", tmp_path) == "runs/a b"


def test_a_sentence_splitter_other_than_the_registered_models_is_named(config) -> None:
    registered = {"text_tools": {"sentence_splitter": "punkt_tab"}}
    change = lineage.splitter_change(config, registered)
    assert "'builtin'" in change and "'punkt_tab'" in change and "cannot be compared" in change
    assert lineage.splitter_change(config, {"text_tools": {"sentence_splitter": "builtin"}}) == ""
    assert lineage.splitter_change(config, {}) == ""  # recorded before the key existed
    assert lineage.splitter_change(config, None) == ""


def test_the_card_shows_no_escapes_or_nul_from_a_models_samples() -> None:
    from training.modelcard import render_card

    card = render_card("m", {"samples": {"action": ["You\x00r door \x1b[31mopens\x1b[0m.\nNow"]}})
    assert "- `action`: Your door opens. Now" in card
    assert "\x00" not in card and "\x1b" not in card
