"""Undo UTF-8 text that was read as Windows-1252 or Latin-1 ("mojibake").

A curly apostrophe is three bytes in UTF-8; read one byte at a time as Windows-1252 it
becomes "â€™". Web text is full of it, so a pretrained base writes it back. Each such
run is decoded again as UTF-8 where that gives a plausible character ("â€™" -> "’",
"Ã©" -> "é"); the fragments that are left ("â€", a lone "Â") are dropped. Used on the
model's prose (``cleanup``) and on corpus text (``training.formats.extraction``), so the
player never sees it and the model stops learning it. Pure Python.
"""

from __future__ import annotations

import re


def _byte_char(byte: int) -> str:
    try:
        return bytes([byte]).decode("cp1252")
    except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90, 0x9d: Latin-1 reads them as C1
        return chr(byte)


# UTF-8 continuation bytes 0x80-0xbf, as Windows-1252 (or Latin-1) shows them.
_CONTINUATION = "".join(_byte_char(byte) for byte in range(0x80, 0xC0))
_TO_BYTE = {_byte_char(byte): byte for byte in range(0x80, 0x100)}
_CONT = "[" + re.escape(_CONTINUATION) + "]"
# The characters a run starts with; text without one has no mojibake to repair.
_LEAD = re.compile("[\u00c2-\u00f4]")
# A lead byte (2-, 3- or 4-byte sequence) and its continuation bytes.
_SEQUENCE = re.compile(
    f"[\u00c2-\u00df]{_CONT}|[\u00e0-\u00ef]{_CONT}{{2}}|[\u00f0-\u00f4]{_CONT}{{3}}"
)
# What is left of a sequence that could not be repaired: the usual lead bytes with any
# continuation after them, and a lone "Â" (the first byte of a no-break space).
_FRAGMENT = re.compile(f"[\u00e2\u00c2\u00c3]{_CONT}+|\u00c2")
# A lone "â" is what is left of a lost "â€™": inside a contraction ("donât", "itâs") it
# was the apostrophe; elsewhere, unless inside a word (as in "pâté"), it goes.
_APOSTROPHE = re.compile(r"(?<=[^\W\d_])\u00e2(?=(?:s|t|d|m|ll|re|ve)\b)")
_LONE = re.compile(r"(?<![^\W\d_])\u00e2|\u00e2(?![^\W\d_])")
# The end of a text that may still change when more text comes (streaming): a lead byte
# and part of its run, or an unfinished word holding an "â".
_UNFINISHED = re.compile(f"(?:[\u00c2-\u00f4]{_CONT}{{0,2}}|\u00e2\\w*)$")


def _plausible(char: str) -> bool:
    # A repair must give something prose holds: Latin letters and signs, punctuation,
    # currency, letter-like symbols or a pictograph, not a rare letter that a legitimate
    # pair such as "É…" would decode to.
    code = ord(char)
    return 0xA0 <= code <= 0x17F or 0x2000 <= code <= 0x22FF or code >= 0x1F000


def _repair(match: re.Match[str]) -> str:
    run = match.group()
    try:
        char = bytes(_TO_BYTE.get(c, ord(c)) for c in run).decode("utf-8")
    except (UnicodeDecodeError, ValueError):
        return run
    return char if _plausible(char) else run


def repair_mojibake(text: str) -> str:
    """Text with mojibake runs decoded again and unrepairable fragments dropped."""
    if _LEAD.search(text) is None:
        return text
    text = _SEQUENCE.sub(_repair, text)
    text = _FRAGMENT.sub("", text)
    return _LONE.sub("", _APOSTROPHE.sub("\u2019", text))


def unfinished_tail(text: str) -> int:
    """Where a trailing start of a possible mojibake run begins (``len(text)`` if none):
    a stream holds it back until the next piece of text settles it."""
    match = _UNFINISHED.search(text)
    return match.start() if match else len(text)
