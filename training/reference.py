"""The config-key reference: every key of a pipeline config, made from the config dataclasses.

Each table's keys come from the fields of its dataclass in ``training/config.py``: name,
type, default, choices and help. The reference is checked in as ``training/CONFIG_KEYS.md``
and a test fails when it no longer matches the dataclasses, so the two cannot drift apart.

Example::

    textgamegen train keys --out training/CONFIG_KEYS.md    # after changing a config field
    textgamegen train keys                                   # print it
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any

from training.config import CorpusConfig, PipelineConfig, Source

REFERENCE = Path(__file__).with_name("CONFIG_KEYS.md")
"""The checked-in reference."""

TOP_LEVEL = (
    ("name", "string", "(required)", "The registry name the model is registered under."),
    (
        "root",
        "string",
        '"."',
        "Folder the sources' paths are relative to, itself relative to the config file "
        "(`--root` overrides it). A path written `config:PATH` is relative to the config "
        "file instead, wherever root points.",
    ),
)


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is list:
        return f"list of {_type_name(typing.get_args(hint)[0])}"
    if origin is dict:
        key, value = typing.get_args(hint)
        return f"table of {_type_name(key)} to {_type_name(value)}"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(
        hint, getattr(hint, "__name__", str(hint))
    )


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return repr(value)


def _default(item: dataclasses.Field) -> str:
    if item.default is not dataclasses.MISSING:
        return _toml(item.default)
    if item.default_factory is not dataclasses.MISSING:
        return _toml(item.default_factory())
    return "(required)"


def _cell(text: str) -> str:
    return " ".join(text.replace("``", "`").replace("|", "\\|").split())


def _table(kind: type, skip: tuple[str, ...] = ()) -> list[str]:
    hints = typing.get_type_hints(kind)
    rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for item in dataclasses.fields(kind):
        if item.name in skip:
            continue
        meaning = item.metadata.get("help", "")
        choices = item.metadata.get("choices")
        if choices:
            meaning += " One of: " + ", ".join(f"`{c}`" for c in choices) + "."
        rows.append(
            f"| `{item.name}` | {_type_name(hints[item.name])} | `{_default(item)}` | "
            f"{_cell(meaning)} |"
        )
    return rows


def sections() -> list[tuple[str, type]]:
    """The config's tables, in file order: each ``PipelineConfig`` field that is a
    dataclass (``[corpus]``, ``[finetune]``, ...), with ``[[corpus.sources]]`` after
    ``[corpus]``."""
    hints = typing.get_type_hints(PipelineConfig)
    found: list[tuple[str, type]] = []
    for item in dataclasses.fields(PipelineConfig):
        kind = hints[item.name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            found.append((f"[{item.name}]", kind))
            if kind is CorpusConfig:
                found.append(("[[corpus.sources]]", Source))
    return found


def render() -> str:
    """The reference as markdown."""
    out = [
        "# Pipeline config keys",
        "",
        "<!-- Made by `textgamegen train keys --out training/CONFIG_KEYS.md` from the config "
        "dataclasses in training/config.py; edit those, not this file. -->",
        "",
        "Every key a `textgamegen train` config may hold. Every table is optional except "
        "`[[corpus.sources]]` (at least one). An unknown key is an error naming it. Flags of "
        "`train finetune` (and `--max-steps`, `--threads` of `train pipeline`) override the "
        "`[finetune]` keys of the same name.",
        "",
        "## Top level",
        "",
        "| key | type | default | meaning |",
        "| --- | --- | --- | --- |",
        *(f"| `{k}` | {t} | `{d}` | {m} |" for k, t, d, m in TOP_LEVEL),
    ]
    for title, kind in sections():
        doc = _cell((kind.__doc__ or "").strip().split("\n\n")[0])
        skip = ("sources",) if kind is CorpusConfig else ()
        out += ["", f"## {title}", "", doc, "", *_table(kind, skip)]
    return "\n".join(out) + "\n"


def write(path: Path = REFERENCE) -> Path:
    """Write the reference (atomically) and return where."""
    from textgamegen.atomic import write_atomic

    write_atomic(path, render())
    return path
