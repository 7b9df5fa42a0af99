"""A fine-tune of the tiny scratch GPT-2 on the fixture corpus, as several tests run it
(under torchrun, resumed, killed mid-checkpoint): one corpus and one set of arguments."""

from __future__ import annotations

from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "corpus" / "fixture.toml"


def fixture_corpus(run: Path) -> Path:
    """Build the fixture corpus into ``run/corpus`` and return that folder."""
    from training.config import load_config
    from training.corpus import build_corpus

    build_corpus(load_config(FIXTURE), run / "corpus")
    return run / "corpus"


def finetune_args(run: Path, batch_size: int, *extra: str) -> list[str]:
    """``finetune`` arguments for a few CPU steps from ``run/corpus`` into ``run/out``,
    with an effective batch of 8."""
    return [
        "finetune",
        "--corpus",
        str(run / "corpus"),
        "--out",
        str(run / "out"),
        "--base",
        "scratch:toy",
        "--vocab-size",
        "600",
        "--block-size",
        "64",
        "--batch-size",
        str(batch_size),
        "--effective-batch",
        "8",
        "--device",
        "cpu",
        *extra,
    ]
