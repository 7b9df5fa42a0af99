"""``strip_unsafe``'s quick answer for printable text is the answer its full pass gives,
for every character, so a streamed line re-cleaned on each piece stays cheap and safe."""

from __future__ import annotations

import sys
import unicodedata

from textgamegen.safe_text import _ANSI, strip_unsafe
from textgamegen.text.mojibake import repair_mojibake


def full_pass(text: str) -> str:
    """The character-by-character pass, as ``strip_unsafe`` makes it for any text."""
    text = _ANSI.sub("", text)
    out = []
    for char in text:
        if char in "\t\r\n":
            out.append(" ")
        elif not unicodedata.category(char).startswith("C"):
            out.append(char)
    return "".join(out)


def test_every_character_is_stripped_as_the_full_pass_strips_it() -> None:
    for code in range(sys.maxunicode + 1):
        if code % 7 and code > 0x3000:  # every character below U+3000, a sample above
            continue
        text = f"a{chr(code)}b"
        assert strip_unsafe(text, keep_newlines=False) == full_pass(text), hex(code)


def test_escapes_and_controls_still_go() -> None:
    assert strip_unsafe("\x1b[2Jyou\x9b31m win\u200b\x07") == "you win"
    assert strip_unsafe("tab\there\nline") == "tab here\nline"


def test_text_without_a_lead_byte_is_left_as_it_is() -> None:
    assert repair_mojibake("itâ€™s") == "it’s"
    plain = "You pause, and the cafe is quiet." * 100
    assert repair_mojibake(plain) is plain
