"""A tiny random model pushed to write one word over and over, whatever it is asked: the
guard tests show that decoding never writes a barred word even then."""

from __future__ import annotations

import os
from pathlib import Path

from textgamegen.config import SamplingSettings


def pushed_generator(folder: Path, word: str, arch: str = "llama"):
    """A greedy tiny ``arch`` narrator whose every step favours the next piece of ``word``
    by +1000 logits (its first piece after anything else)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from textgamegen.models.loader import load_generator
    from textgamegen.models.random_model import build_random_model

    model = build_random_model(folder, n_positions=128, arch=arch)
    generator = load_generator(
        str(model),
        device="cpu",
        sampling=SamplingSettings(do_sample=False, max_new_tokens=12, colour=True),
        warm_up=False,
        threads=1,
    )
    pieces = generator.codec.encode(word)
    assert len(pieces) > 1  # split by this tokenizer: the harder case
    following = {pieces[i]: pieces[i + 1] for i in range(len(pieces) - 1)}

    def push(module, args, kwargs, output):
        for row, token in enumerate(kwargs["input_ids"][:, -1].tolist()):
            output.logits[row, -1, following.get(token, pieces[0])] += 1000.0
        return output

    generator.model.register_forward_hook(push, with_kwargs=True)
    return generator
