"""A file's sha256, read in blocks so a model's weights never sit in memory whole."""

from __future__ import annotations

import hashlib
from pathlib import Path

BLOCK = 1 << 20


def sha256(path: Path) -> str:
    """The hex sha256 of the file at ``path`` (what ``sha256sum`` prints)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()
