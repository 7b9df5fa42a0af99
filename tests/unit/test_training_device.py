"""Training picks its device and CPU precision by the game's rules
(``textgamegen/narration/device.py``), so a machine is read the same way by both."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from textgamegen.narration import device
from training.config import FinetuneConfig
from training.evaluate import EvaluateError, evaluation_device
from training.finetune import FinetuneError, finetune, resolve_precision


def test_auto_is_cuda_when_there_is_one_for_the_game_and_for_training(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for available, expected in ((True, "cuda"), (False, "cpu")):
        monkeypatch.setattr(torch.cuda, "is_available", lambda available=available: available)
        assert device.resolve_device("auto") == evaluation_device("auto") == expected
    assert evaluation_device("cpu") == "cpu"


def test_cuda_where_there_is_none_is_a_training_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(EvaluateError, match="--device cuda: CUDA is not available here"):
        evaluation_device("cuda")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for split in ("train", "dev"):
        (corpus / f"{split}.txt").write_text(
            "<|action|> The lantern glows over the quay. <|endoftext|>\n", encoding="utf-8"
        )
    with pytest.raises(FinetuneError, match="--device cuda: CUDA is not available here"):
        finetune(corpus, tmp_path / "run", FinetuneConfig(base="scratch:toy"), device="cuda")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("flags", "fast"), [({"avx2", "avx512_bf16"}, True), ({"avx2"}, False)])
def test_cpu_bf16_is_one_rule_for_game_weights_and_training_precision(
    monkeypatch: pytest.MonkeyPatch, flags: set[str], fast: bool
) -> None:
    monkeypatch.setattr(device, "_cpu_flags", lambda: flags)
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    assert device.cpu_has_fast_bf16() is fast
    assert device.resolve_dtype("cpu") == (torch.bfloat16 if fast else torch.float32)
    assert resolve_precision("auto", cuda=False) == ("bf16" if fast else "fp32")


def test_game_weights_and_training_are_float32_where_torchs_kernels_are_held_to_avx2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ATEN_CPU_CAPABILITY=avx2 on a CPU with avx512_bf16: bf16 is not native to the kernels.
    monkeypatch.setattr(device, "_cpu_flags", lambda: {"avx2", "avx512_bf16"})
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    assert device.resolve_dtype("cpu") == torch.float32
    assert resolve_precision("auto", cuda=False) == "fp32"
