"""lineage.json: what a model was made from and how, with everything that changes the result.

Two runs of one config on one corpus give the same weights only on the same code, package
versions, thread count and CPU kernels, and one corpus only with one sentence splitter.
So lineage records all of them (MODEL_API.md lists the keys), and none of this machine's
folders: a path outside the working directory is kept by its last name only.

Example::

    lineage = build_lineage(config, corpus_hash, run_dir / "finetune", command, weights_hash)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from training.config import FinetuneConfig, PipelineConfig, as_dict

PACKAGES = (
    "textgamegen",
    "torch",
    "transformers",
    "peft",
    "tokenizers",
    "accelerate",
    "safetensors",
    "nltk",
)
"""The packages whose versions can change a model (recorded in lineage)."""

CPU_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
)
"""The CPU features that pick torch's kernels (and so the last bits of a float sum)."""

SUMMARY_KEYS = (
    "steps",
    "precision",
    "seconds",
    "dev_perplexity",
    "world_size",
    "block_size",
    "parameters",
    "trained_parameters",
    "method",
    "threads",
    "machine",
)
"""What lineage copies from the fine-tune's finetune.json."""

REPOSITORY = Path(__file__).resolve().parent.parent
"""The checkout the training code runs from (not the config's folder, which may be any)."""


def package_versions() -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


def _git(*args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args],
            cwd=REPOSITORY,
            capture_output=True,
            check=False,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def code_version() -> tuple[str, bool | None]:
    """(commit, dirty) of the code that trains: the package's own checkout. ``dirty`` is
    True when tracked files differ from the commit (the commit alone does not give the
    code), None when it is not a git checkout (an installed package: see its version)."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return "unknown", None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return commit.strip(), None if status is None else bool(status.strip())


def machine() -> dict[str, Any]:
    """The CPU the run trained on: its name, torch's kernel level and the features above."""
    name, flags = "", set[str]()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not name:
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    capability = ""
    with contextlib.suppress(Exception):
        import torch

        capability = str(torch.backends.cpu.get_cpu_capability())
    return {
        "cpu": name,
        "cpu_capability": capability,
        "cpu_flags": [flag for flag in CPU_FLAGS if flag in flags],
        "cpu_count": os.cpu_count(),
    }


_ABSOLUTE = re.compile(r"(?<![\w.~:/-])/[^\s\"'`,;()\[\]{}<>]+")


def portable(text: str, here: Path | None = None) -> str:
    """``text`` with this machine's absolute paths taken out: a path under the working
    directory becomes relative to it, any other keeps only its last name (``.../base``)."""
    cwd = (here or Path.cwd()).resolve()

    def shorten(match: re.Match[str]) -> str:
        path = Path(match.group(0))
        try:
            return path.relative_to(cwd).as_posix() or "."
        except ValueError:
            return f".../{path.name}" if path.name else "..."

    return _ABSOLUTE.sub(shorten, text)


def without_paths(value: Any, here: Path | None = None) -> Any:
    """``value`` (JSON-like) with ``portable`` applied to every string in it."""
    if isinstance(value, str):
        return portable(value, here)
    if isinstance(value, dict):
        return {key: without_paths(item, here) for key, item in value.items()}
    if isinstance(value, list):
        return [without_paths(item, here) for item in value]
    return value


def utc_now() -> str:
    """The time now in UTC, to the second (ISO 8601)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_lineage(
    config: PipelineConfig,
    corpus_hash: str,
    finetune_dir: Path,
    command: str,
    weights_hash: str,
    finetune: FinetuneConfig | None = None,
    stats: dict | None = None,
) -> dict:
    """lineage.json (MODEL_API.md): what the model was made from, and how.

    Args:
        config: the pipeline config.
        corpus_hash: the corpus's sha256 (``corpus_sha256``).
        finetune_dir: the fine-tune's run folder (finetune.json, model/base.json).
        command: the command line.
        weights_hash: the trained weights' sha256 in float32.
        finetune: the fine-tune settings as run (the config's, with command-line
            overrides such as ``--max-steps`` applied); default: the config's.
        stats: the corpus's stats.json (the sentence splitter and noun tagger it used).
    """
    finetune = finetune or config.finetune
    summary = {}
    summary_path = finetune_dir / "finetune.json"
    if summary_path.is_file():
        data = json.loads(summary_path.read_text())
        summary = {key: data.get(key) for key in SUMMARY_KEYS}
    reference = {}
    reference_path = finetune_dir / "model" / "base.json"
    if reference_path.is_file():  # an adapter: the base it needs, by name and sha256
        try:
            reference = json.loads(reference_path.read_text(encoding="utf-8"))
        except ValueError:
            reference = {}
    configured = as_dict(config.finetune)
    overrides = {k: v for k, v in as_dict(finetune).items() if configured.get(k) != v}
    commit, dirty = code_version()
    stats = stats or {}
    from training.sentences import nltk_data_found

    lineage = {
        "name": config.name,
        "base": finetune.base,
        "base_reference": reference,
        "corpus": str(config.path) if config.path else "",
        "corpus_sha256": corpus_hash,
        "config": {
            "corpus": as_dict(config.corpus),
            "finetune": as_dict(finetune),
            "evaluate": as_dict(config.evaluate),
            "gate": as_dict(config.gate),
            "register": as_dict(config.register),
        },
        "overrides": overrides,
        "config_text": config.text,
        "command": command,
        "finetune": summary,
        "text_tools": {
            "sentence_splitter": config.corpus.sentence_splitter,
            "noun_tagger": stats.get("noun_tagger", ""),
            "nltk_data_found": nltk_data_found(),
        },
        "weights_sha256_float32": weights_hash,
        "packages": package_versions(),
        "git_commit": commit,
        "git_dirty": dirty,
        "created_at": utc_now(),
    }
    return without_paths(lineage)


def splitter_change(config: PipelineConfig, registered: dict | None) -> str:
    """Why this config's corpus is not comparable with the registered model's ("" when
    it is, or when the registered model's lineage does not say): another sentence
    splitter gives other lines and another test split."""
    tools = (registered or {}).get("text_tools") or {}
    recorded = tools.get("sentence_splitter")
    chosen = config.corpus.sentence_splitter
    if not recorded or recorded == chosen:
        return ""
    return (
        f"[corpus] sentence_splitter = {chosen!r}, but the registered {config.name!r} was "
        f"trained on a corpus split by {recorded!r}: the lines and the test split differ, "
        "so its perplexities cannot be compared with the new model's; set "
        f"sentence_splitter = {recorded!r} to keep the model line's corpus"
    )
