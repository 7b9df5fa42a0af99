"""Sentence splitting: NLTK punkt_tab when NLTK_DATA has it, else Punkt with abbreviations."""

from __future__ import annotations

import pytest

from training import sentences


@pytest.fixture
def fresh_splitter():
    sentences.sentence_splitter.cache_clear()
    yield
    sentences.sentence_splitter.cache_clear()


def test_fallback_warns_and_still_keeps_mr_and_dr(fresh_splitter, monkeypatch) -> None:
    import nltk

    def missing(resource, *args, **kwargs):
        raise LookupError(resource)

    monkeypatch.setattr(nltk.data, "find", missing)
    with pytest.warns(sentences.PunktFallbackWarning, match="NLTK_DATA"):
        split = sentences.split_sentences(
            'Mr. Pell met Dr. Amsel at the door. They went in together. "Who is there?" '
            "asked the keeper."
        )
    assert split == [
        "Mr. Pell met Dr. Amsel at the door.",
        "They went in together.",
        '"Who is there?" asked the keeper.',
    ]


def test_nltk_punkt_tab_is_used_when_found(fresh_splitter, monkeypatch) -> None:
    import nltk

    found = []
    monkeypatch.setattr(nltk.data, "find", lambda resource, *a, **k: found.append(resource))
    splitter = sentences.sentence_splitter()
    assert found == ["tokenizers/punkt_tab/english/"]
    assert getattr(splitter, "func", None) is nltk.tokenize.sent_tokenize
