"""The word lists a narrator's folder carries beside its weights (its training books' cast,
its lexicon): small versioned JSON files the loader reads, each one list under one key."""

from __future__ import annotations

import json
from pathlib import Path


def read_model_list(
    path: Path, version: int, key: str, what: str, error: type[ValueError]
) -> list | None:
    """The list under ``key`` in the version ``version`` file at ``path``; None when there
    is no such file. Its items are the caller's to check.

    Raises:
        error: the file is there but cannot be read, or is not a version ``version``
            ``what`` with a list under ``key`` (the message names the file).
    """
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as problem:
        raise error(f"{path.name}: cannot be read ({problem})") from None
    if not isinstance(data, dict) or data.get("version") != version:
        raise error(f"{path.name}: not a version {version} {what}")
    items = data.get(key)
    if not isinstance(items, list):
        raise error(f"{path.name}: '{key}' must be a list")
    return items
