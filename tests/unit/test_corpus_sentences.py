"""Sentence splitting: the corpus config names the splitter, never the machine's NLTK data."""

from __future__ import annotations

import pytest

from training import sentences
from training.config import ConfigError, CorpusConfig


@pytest.fixture
def fresh_splitter():
    sentences.sentence_splitter.cache_clear()
    yield
    sentences.sentence_splitter.cache_clear()


def _nltk_data(monkeypatch, found: bool) -> list[str]:
    """Make NLTK's data look installed or not; returns the resources looked up."""
    import nltk

    looked: list[str] = []

    def find(resource, *args, **kwargs):
        looked.append(resource)
        if not found:
            raise LookupError(resource)

    monkeypatch.setattr(nltk.data, "find", find)
    return looked


@pytest.mark.parametrize("data_found", [True, False])
def test_builtin_splits_the_same_with_or_without_nltk_data(
    fresh_splitter, monkeypatch, data_found
) -> None:
    import nltk

    _nltk_data(monkeypatch, data_found)
    splitter = sentences.sentence_splitter("builtin")
    assert getattr(splitter, "func", None) is not nltk.tokenize.sent_tokenize
    split = sentences.split_sentences(
        'Mr. Pell met Dr. Amsel at the door. They went in together. "Who is there?" '
        "asked the keeper.",
        "builtin",
    )
    assert split == [
        "Mr. Pell met Dr. Amsel at the door.",
        "They went in together.",
        '"Who is there?" asked the keeper.',
    ]


def test_punkt_tab_is_used_when_named_and_found(fresh_splitter, monkeypatch) -> None:
    import nltk

    looked = _nltk_data(monkeypatch, True)
    splitter = sentences.sentence_splitter("punkt_tab")
    assert looked == [sentences.PUNKT_TAB]
    assert getattr(splitter, "func", None) is nltk.tokenize.sent_tokenize


def test_punkt_tab_without_its_data_stops_the_build_and_says_how(
    fresh_splitter, monkeypatch
) -> None:
    _nltk_data(monkeypatch, False)
    with pytest.raises(sentences.SplitterError, match=r"NLTK_DATA.*builtin"):
        sentences.split_sentences("One. Two.", "punkt_tab")


def test_the_config_names_a_known_splitter() -> None:
    assert CorpusConfig().sentence_splitter == "builtin"
    with pytest.raises(ConfigError, match="sentence_splitter"):
        CorpusConfig(sentence_splitter="spacy")


def test_the_noun_tagger_is_the_configs_too(monkeypatch) -> None:
    import nltk

    from training import grounding
    from training.textfile import CorpusError

    calls: list[object] = []
    monkeypatch.setattr(nltk, "pos_tag", lambda words: calls.append(words) or [])
    grounding._nltk_tagger.cache_clear()
    try:
        # The chunker never asks NLTK, even where its tagger is installed.
        assert grounding.nouns("You lift the old brass lantern.") == ["lantern"]
        assert calls == []
        assert CorpusConfig().noun_tagger == "chunker"
        with pytest.raises(ConfigError, match="noun_tagger"):
            CorpusConfig(noun_tagger="spacy")

        def missing(words):
            raise LookupError("averaged_perceptron_tagger_eng")

        monkeypatch.setattr(nltk, "pos_tag", missing)
        grounding._nltk_tagger.cache_clear()
        with pytest.raises(CorpusError, match=r'NLTK_DATA.*noun_tagger = "chunker"'):
            grounding.nouns("You lift the lantern.", tagger="nltk")
    finally:
        grounding._nltk_tagger.cache_clear()
