"""Source formats: each module turns one decoded file into tagged examples.

``novel`` (Gutenberg prose), ``dialogue_export`` (game dialogue TSV), ``transcript``
(``> command`` lines and narration), ``open_adventure`` (adventure.yaml),
``zork_strings`` (blank-line separated ZIL strings) and ``feedback`` (players' ratings,
from ``textgamegen feedback export``). ``extract`` picks one by name.
"""

from __future__ import annotations

from pathlib import Path

from training.config import CorpusConfig, Source
from training.formats.extraction import Example, Extraction

__all__ = ["Example", "Extraction", "extract"]


def extract(text: str, path: Path, source: Source, corpus: CorpusConfig) -> Extraction:
    """Turn one decoded file into examples.

    Args:
        text: the file's text, ``\\n`` line endings.
        path: the file (for messages).
        source: its source entry (format, tag rule, options).
        corpus: corpus-wide limits (min/max words, quotes).

    Returns:
        The examples in file order and the count of dropped pieces by reason.
    """
    if source.format == "novel":
        from training.formats.novel import extract_novel as extractor
    elif source.format == "dialogue-export":
        from training.formats.dialogue_export import extract_dialogue_export as extractor
    elif source.format == "transcript":
        from training.formats.transcript import extract_transcript as extractor
    elif source.format == "feedback":
        from training.formats.feedback import extract_feedback as extractor
    elif source.format == "open-adventure":
        from training.formats.open_adventure import extract_open_adventure as extractor
    elif source.format == "world":
        from training.formats.world import extract_world as extractor
    else:
        from training.formats.zork_strings import extract_zork_strings as extractor
    return extractor(text, path, source, corpus)
