"""The gate's "beat the base" scores the base with the tags it lacks given the mean of its
own embedding rows, not random rows that no base could read."""

from __future__ import annotations

from pathlib import Path

import pytest
from random_llama import TAGS, build_random_llama, fixture_lines

from training.evaluate import load_base_model


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_llama(tmp_path_factory.mktemp("base") / "base", fixture_lines())


def test_the_tags_a_base_lacks_get_the_mean_of_its_rows(base: Path) -> None:
    import torch

    tokenizer, model = load_base_model(str(base), mean_tag_rows=True)
    table = model.get_input_embeddings().weight
    ids = [tokenizer.convert_tokens_to_ids(tag) for tag in TAGS]
    rows = min(ids)
    assert rows == len(tokenizer) - len(TAGS)  # the base had none of them
    for index in ids:
        assert torch.allclose(table[index], table[:rows].mean(dim=0))
    # Without it (train compare's "base before fine-tuning"), the rows are the seeded draw.
    _, drawn = load_base_model(str(base))
    assert not torch.allclose(drawn.get_input_embeddings().weight[ids[0]], table[ids[0]])
    assert torch.equal(drawn.get_input_embeddings().weight[:rows], table[:rows])
