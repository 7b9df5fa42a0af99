"""The narrator's lexicon: the words of its training sources, shipped beside its weights.

A small model spells as it pleases. Blind reads caught it writing words that exist
nowhere: "You polish a silver budvain.", "You tap on a footpost with your fingers.", "the
firebarn's iron grate". Each reads as a thing of the room, and the player looks for it in
vain. The narrator may write only the words its training sources use at least twice, and
the words on screen (the room's text, the things in view, the command), so a world's own
odd words ("kiddleywink") stay free where they are given.

A word here is a run of the letters a-z after case-folding; everything else (spaces,
apostrophes, hyphens, digits, other letters) separates words. "Don't" is "don" and "t";
"horse-shoe" is "horse" and "shoe". The same rule builds the lexicon and checks a line,
so the two always agree.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from textgamegen.text.model_lists import read_model_list

LEXICON_FILE = "lexicon.json"
LEXICON_VERSION = 1
MAX_WORD = 40
_WORD = re.compile(r"[a-z]+")


def words_in(text: str) -> list[str]:
    """The text's words, case-folded, in order (see the module's rule)."""
    return _WORD.findall(text.casefold())


class LexiconError(ValueError):
    """A lexicon file that cannot be read; the game plays on without that guard."""


@dataclass(frozen=True)
class Lexicon:
    """Words the narrator may write, most common first; a sorted copy answers "does any
    word start so?".

    Attributes:
        ranked: the words, case-folded, each ``MAX_WORD`` letters at most, most common
            in the training sources first.
    """

    ranked: tuple[str, ...]
    words: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _common: dict[int, Lexicon] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "words", tuple(sorted(self.ranked)))
        object.__setattr__(self, "_common", {})

    @classmethod
    def of(cls, words: Iterable[str]) -> Lexicon:
        """A lexicon of ``words`` in their order (repeats and over-long words dropped)."""
        return cls(tuple(dict.fromkeys(w for w in words if w and len(w) <= MAX_WORD)))

    def __bool__(self) -> bool:
        return bool(self.ranked)

    def __len__(self) -> int:
        return len(self.ranked)

    def to_json(self) -> str:
        return json.dumps({"version": LEXICON_VERSION, "words": list(self.ranked)}, indent=0)

    def common(self, count: int | None) -> Lexicon:
        """Only the ``count`` most common words (None or 0: all of them)."""
        if not count or count >= len(self.ranked):
            return self
        if count not in self._common:
            self._common[count] = Lexicon(self.ranked[:count])
        return self._common[count]

    def has_word(self, word: str) -> bool:
        at = bisect.bisect_left(self.words, word)
        return at < len(self.words) and self.words[at] == word

    def has_prefix(self, prefix: str) -> bool:
        at = bisect.bisect_left(self.words, prefix)
        return at < len(self.words) and self.words[at].startswith(prefix)

    def with_text(self, text: str, common: int | None = None) -> Speller:
        """A speller for one line: this lexicon (its ``common`` most common words) and
        the words of ``text`` (the facts)."""
        return Speller(self.common(common), Lexicon.of(words_in(text)))


@dataclass(frozen=True)
class Speller:
    """What one line may spell: the narrator's lexicon and the words on screen."""

    lexicon: Lexicon
    given: Lexicon

    def has_word(self, word: str) -> bool:
        return self.lexicon.has_word(word) or self.given.has_word(word)

    def has_prefix(self, prefix: str) -> bool:
        return self.lexicon.has_prefix(prefix) or self.given.has_prefix(prefix)

    def follow(self, partial: str, piece: str) -> str | None:
        """Write ``piece`` after a line whose last word so far is ``partial``.

        Args:
            partial: the letters of the word being written, as written ("" between
                words).
            piece: the text a token adds (a special token passes as a space).

        Returns:
            The word being written after the piece ("" when the piece ends between
            words), or None when the piece completes a word the speller does not know,
            begins one that no known word begins with, or turns to a capital inside a
            word ("crepT": the word is known, the spelling is not).
        """
        for char in piece:
            if char.isascii() and char.isalpha():
                if char.isupper() and partial[-1:].islower():
                    return None
                partial += char
                continue
            if partial and not self.has_word(partial.lower()):
                return None
            partial = ""
        if partial and (len(partial) > MAX_WORD or not self.has_prefix(partial.lower())):
            return None
        return partial

    def unknown(self, text: str) -> list[str]:
        """The words of ``text`` this speller does not know, each once, in order."""
        return list(dict.fromkeys(w for w in words_in(text) if not self.has_word(w)))


def trailing_word(text: str) -> str:
    """The letters of the word that ``text`` ends inside, as written ("" when it ends
    between words)."""
    match = re.search(r"[A-Za-z]+$", text)
    return match.group(0) if match else ""


def load_lexicon(folder: Path) -> Lexicon | None:
    """The lexicon shipped in a model folder; None when the folder has none.

    Raises:
        LexiconError: the file is there but is not a lexicon (the message says why).
    """
    path = Path(folder) / LEXICON_FILE
    words = read_model_list(path, LEXICON_VERSION, "words", "lexicon", LexiconError)
    if words is None:
        return None
    if not all(
        isinstance(word, str) and 0 < len(word) <= MAX_WORD and _WORD.fullmatch(word)
        for word in words
    ):
        raise LexiconError(f"{path.name}: 'words' must be a list of words of the letters a-z")
    if not words:
        raise LexiconError(f"{path.name}: the lexicon holds no words")
    return Lexicon.of(words)
