"""Make any text safe to show in a terminal.

Generated text, world files, saves and typed commands can all carry ANSI escapes or
control characters that would move the cursor or recolour the screen; strip them all.
"""

from __future__ import annotations

import re
import unicodedata

# CSI, OSC and other escape sequences (ECMA-48), then lone ESC.
_ANSI = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI ... final byte
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL or ST
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC ... ST
    r"|\x1b[@-Z\\-_]"  # two-byte escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)


def strip_unsafe(text: str, keep_newlines: bool = True) -> str:
    """Remove ANSI escapes and control characters (Unicode category C*), keeping newlines.

    Tabs become spaces; format characters such as zero-width joiners are dropped too,
    since they can hide text.
    """
    if text.isprintable():
        # No control, format or unassigned character, so no escape either: nothing to
        # strip. Checked in C, so a streamed line re-cleaned on every piece stays cheap.
        return text
    text = _ANSI.sub("", text)
    out = []
    for char in text:
        if char == "\n" and keep_newlines:
            out.append(char)
        elif char in "\t\r\n":
            out.append(" ")
        elif unicodedata.category(char).startswith("C"):
            continue
        else:
            out.append(char)
    return "".join(out)


def terminal_safe(text: str) -> str:
    """What may be written to a terminal or a transcript: ``strip_unsafe`` line by line,
    keeping newlines. The one sanitiser at every headless output boundary."""
    return strip_unsafe(str(text), keep_newlines=True)
