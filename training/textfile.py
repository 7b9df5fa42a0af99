"""Reading source files: binary detection, encodings (UTF-8, BOM, Latin-1) and line endings.

Project Gutenberg texts come as UTF-8, UTF-8 with a BOM, and ISO-8859-1, with LF or CRLF
line endings. ``read_text`` returns them all as ``str`` with ``\\n`` line endings, and
fails loudly (naming the file and the line) on binary input or on text that cannot be
decoded beyond a small threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BOM = b"\xef\xbb\xbf"


class CorpusError(ValueError):
    """The corpus cannot be built; the message names the file (and line) at fault."""


@dataclass
class DecodedText:
    """A decoded source file."""

    text: str
    encoding: str
    """The codec used: utf-8, utf-8-sig, cp1252, latin-1 or the configured one."""
    undecodable: int = 0
    """Characters that could not be decoded (replaced by U+FFFD)."""


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def check_not_binary(path: Path, data: bytes) -> None:
    """Reject binary files: NUL bytes, or many control bytes, in the first 8 KiB."""
    head = data[:8192]
    nul = head.find(b"\x00")
    if nul >= 0:
        raise CorpusError(
            f"{path}: line {_line_of(data, nul)}: binary input "
            f"(NUL byte at offset {nul}); expected a text file"
        )
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    if head and controls / len(head) > 0.05:
        raise CorpusError(
            f"{path}: binary input ({controls} control bytes in the first "
            f"{len(head)}); expected a text file"
        )


def decode(
    path: Path, data: bytes, encoding: str = "auto", max_undecodable: float = 0.001
) -> DecodedText:
    """Decode bytes into text with ``\\n`` line endings.

    Args:
        path: for error messages only.
        data: the file's bytes.
        encoding: ``auto`` or a codec name.
        max_undecodable: fraction of bad characters above which the file is rejected.

    Returns:
        The text, the codec used and how many characters were undecodable.

    Raises:
        CorpusError: binary input, or undecodable text over the threshold (names the
            first bad line).
    """
    check_not_binary(path, data)
    if encoding == "auto":
        used = "utf-8-sig" if data.startswith(BOM) else "utf-8"
        try:
            text, undecodable = data.decode(used), 0
        except UnicodeDecodeError:
            text = data.decode(used, errors="replace")
            undecodable = text.count("\ufffd")
            multibyte = sum(1 for ch in text if ch > "\x7f") - undecodable
            if used == "utf-8" and multibyte <= undecodable:
                # Not UTF-8 at all: Windows-1252 is Latin-1 plus curly quotes in 0x80-0x9f;
                # pure Latin-1 is the fallback that cannot fail.
                try:
                    used, text = "cp1252", data.decode("cp1252")
                except UnicodeDecodeError:
                    used, text = "latin-1", data.decode("latin-1")
                undecodable = 0
    else:
        used = encoding
        text = data.decode(encoding, errors="replace")
        text = text.removeprefix("\ufeff")
        undecodable = text.count("\ufffd")
    if undecodable / max(len(text), 1) > max_undecodable:
        first = text.index("\ufffd")
        line = text.count("\n", 0, first) + 1
        raise CorpusError(
            f"{path}: line {line}: {undecodable} undecodable characters "
            f"({undecodable / len(text):.2%}, over the {max_undecodable:.2%} "
            f"threshold) as {used}; set the source's encoding"
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return DecodedText(text=text, encoding=used, undecodable=undecodable)


def read_text(path: Path, encoding: str = "auto", max_undecodable: float = 0.001) -> DecodedText:
    """Read and decode one source file (see ``decode``)."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CorpusError(f"{path}: cannot read: {error.strerror}") from None
    return decode(path, data, encoding, max_undecodable)
