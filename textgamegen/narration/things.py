"""Things in decoding: the line a player reads names only what is on screen.

Blind reads on the held-out worlds caught the streamed narrator furnishing rooms the
world never furnished: "You count the horseshoes as they fall into the oven." in a smithy
with no oven, "You leap over the edge of the rail." in a corridor with no rail, "the
church tower" in a village with no church. Readers marked each as contradicting the game,
and six of the nine such lines of the retrained narrator named a thing that nothing on
screen gives (``canon.unseen_things``). The rerank already ranks those down, but the line
the TUI shows is one streamed sample, with nothing to rank it against.

So the streamed row is checked as it is written. Once a determiner has opened a noun
phrase ("the", "a", "your"), its words are held back until the phrase is closed; when
none of them is a word of the facts, the story or what is anywhere (``canon.known_words``),
the row goes back to where the phrase began, the phrase's first token is barred there,
its first word is barred for the rest of the line ("oven" is not here, so it cannot come
back two words later), and it writes on from that point. The player never sees the
phrase that was taken back: a shown line is never changed, only a word or two waits a
token longer. After a few tries the row keeps what it writes, so a line always ends.
"""

from __future__ import annotations

from collections.abc import Callable

from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.text import canon

# Tries per line: each one costs the tokens of the phrase taken back (two or three) and
# one forward step to go back, so a line that fails them all is at most a few dozen
# tokens dearer.
TRIES = 6


def guarded(request: ContentRequest) -> bool:
    """Whether a line for ``request`` should name only what is on screen: narration of an
    action (attempts above all, the kind written most in play), and a line of colour after
    the world's own text about a room or thing. Not a room or thing the world has no text
    for, which the narrator is there to furnish, and not speech: a person may talk of what
    is elsewhere."""
    if request.kind is ContentKind.ACTION:
        return True
    return request.kind in (ContentKind.ROOM, ContentKind.ITEM) and bool(request.authored)


class ThingGuard:
    """The streamed row's text, checked phrase by phrase as tokens come.

    Args:
        request: what the line is about (its facts and story say what is on screen).
        opening: the text the row continues; phrases inside it are the prompt's own.
        decode: the tokenizer's decode for a list of ids.
        tries: how many phrases it may take back in one line.
    """

    def __init__(
        self,
        request: ContentRequest,
        opening: str,
        decode: Callable[[list[int]], str],
        tries: int = TRIES,
    ) -> None:
        self.known = canon.known_words(request)
        self.opening = opening
        self.decode = decode
        self.tries = tries
        self.ids: list[int] = []
        self.text = opening
        """The opening and what the row has written (decoded once per token)."""
        self._ends: list[int] = []
        self._barred: dict[int, set[int]] = {}
        self._words: set[tuple[int, ...]] = set()
        self.taken_back: list[str] = []
        """The phrases taken back, in order (for the narration's log)."""

    def barred_here(self) -> list[int]:
        """Tokens the row may not write at its next position: the first tokens of phrases
        taken back from there."""
        barred = set(self._barred.get(len(self.ids), ()))
        for word in self._words:
            # A word of several tokens: its last is barred where the rest was just written.
            if tuple(self.ids[len(self.ids) - len(word) + 1 :]) == word[:-1]:
                barred.add(word[-1])
        return sorted(barred)

    def push(self, token: int) -> None:
        """Take the row's next token (never a stop token)."""
        self.ids.append(token)
        self.text = self.opening + self.decode(self.ids)
        self._ends.append(len(self.text))

    def _tokens_before(self, char: int) -> int:
        """How many of the row's tokens end at or before ``char`` of the text."""
        count = 0
        while count < len(self._ends) and self._ends[count] <= char:
            count += 1
        return count

    def _tokens_through(self, char: int) -> int:
        """How many of the row's tokens it takes to write the text up to ``char``."""
        count = self._tokens_before(char)
        return count if count and self._ends[count - 1] >= char else count + 1

    def check(self, finished: bool, shown: int = 0) -> tuple[int, int | None]:
        """Read the row's text as it stands.

        Args:
            finished: the row has ended, so a phrase at the end is closed by it.
            shown: how many tokens the player has seen; what they hold stays.

        Returns:
            ``(shown, back)``: how many of the row's tokens may be shown now (all but an
            open phrase's), and, when a closed phrase names nothing on screen and a try is
            left, how many tokens to keep (the row writes on from there; None otherwise).
        """
        for phrase in canon.phrases_of(self.text):
            if phrase.start < len(self.opening):
                continue
            keep = self._tokens_before(phrase.start)
            if keep < shown:
                continue
            if not (phrase.closed or finished):
                return keep, None
            if self.tries and not canon.is_seen(phrase.words, self.known):
                word = self.ids[keep : self._tokens_through(phrase.start + len(phrase.words[0]))]
                self._take_back(keep, phrase.words, tuple(word))
                return keep, keep
        return len(self.ids), None

    def _take_back(self, keep: int, words: tuple[str, ...], first: tuple[int, ...]) -> None:
        self.tries -= 1
        self.taken_back.append(" ".join(words))
        if first:
            self._barred.setdefault(keep, set()).add(first[0])
            self._words.add(first)
        # What was barred further on was barred after words that are gone now.
        self._barred = {at: ids for at, ids in self._barred.items() if at <= keep}
        del self.ids[keep:]
        del self._ends[keep:]
        self.text = self.opening + self.decode(self.ids)
