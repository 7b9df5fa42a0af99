"""A ``config:`` source (a file beside the config, such as the game's own world) is read
from there but recorded as written: lineage.json and the model card never hold this
machine's paths (issue 9)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from training.config import load_config
from training.corpus import build_corpus, source_files
from training.modelcard import render_card
from training.pipeline import build_lineage, source_entries

WORLD = Path(__file__).resolve().parents[2] / "assets" / "worlds" / "lanternfall.toml"
CONFIG = """name = "beside"
root = "../corpora"

[corpus]
ratios = { train = 0.8, dev = 0.1, test = 0.1 }
min_words = 3

[[corpus.sources]]
path = "config:../worlds/lanternfall.toml"
format = "world"
"""


def test_a_config_source_is_read_beside_the_config_and_recorded_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "worlds").mkdir()
    shutil.copy(WORLD, tmp_path / "worlds" / WORLD.name)
    (tmp_path / "corpora").mkdir()
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "beside.toml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    config = load_config("configs/beside.toml")
    source = config.corpus.sources[0]
    assert source.path == source.name == "config:../worlds/lanternfall.toml"
    found = source_files(source, config.root, config.config_dir)
    assert found == [(tmp_path / "worlds" / WORLD.name).resolve()]
    result = build_corpus(config, tmp_path / "run" / "corpus")
    assert sum(result.stats["splits"].values()) > 10
    lineage = build_lineage(
        config,
        "0" * 64,
        tmp_path / "run" / "finetune",
        "textgamegen train pipeline configs/beside.toml",
        "",
    )
    card = render_card(config.name, {}, lineage, source_entries(config), result.stats)
    recorded = json.dumps(lineage) + card
    assert "`config:../worlds/lanternfall.toml`" in card
    assert lineage["config"]["corpus"]["sources"][0]["path"] == source.path
    for machine in {str(tmp_path), str(tmp_path.resolve()), str(WORLD.parents[2])}:
        assert machine not in recorded
