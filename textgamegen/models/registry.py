"""The installed generators: shipped models in ``assets/models`` and the player's own.

Training registers a model by copying its directory into ``paths.user_models_dir()``;
the game ships its defaults in ``assets/models``. Each model directory may carry
``metrics.json`` and ``lineage.json``; any key may be missing, and a broken file is
reported in ``ModelInfo.problem`` rather than raised. Pure Python, cheap to import.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgamegen import paths

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
DEFAULT_MODEL = "narrator"
"""SmolLM2-135M with our LoRA adapter: the shipped default."""
FALLBACK_MODEL = "tiny"
"""The 5 M-parameter scratch GPT-2: what plays when the default's base is not installed."""
ALIASES = {"textgamegen": DEFAULT_MODEL}
"""Old names that saves and config files may still hold ("textgamegen" was the default
until the narrator replaced it)."""


@dataclass
class ModelInfo:
    """One installed model directory.

    Attributes:
        name: the directory's name, used as ``--model NAME``.
        path: the directory.
        source: "shipped" (assets/models) or "user" (the platformdirs models folder).
        metrics: parsed metrics.json ({} if absent or broken).
        lineage: parsed lineage.json ({} if absent or broken).
        problem: why the directory cannot be loaded as it is ("" when it looks fine).
    """

    name: str
    path: Path
    source: str
    metrics: dict[str, Any] = field(default_factory=dict)
    lineage: dict[str, Any] = field(default_factory=dict)
    problem: str = ""

    @property
    def base(self) -> str:
        """The base a user can act on: its name and short hash, not a build path."""
        reference = _read_json(self.path / "base.json")[0]
        if reference.get("name"):
            sha = str(reference.get("sha256", ""))
            return f"{reference['name']} ({sha[:12]})" if sha else str(reference["name"])
        base = str(self.lineage.get("base", ""))
        if "/" in base and not base.startswith(("scratch:", "gguf:")):
            return self.lineage.get("base_name", "") or Path(base).name
        return base

    @property
    def corpus(self) -> str:
        return str(self.lineage.get("corpus", ""))

    @property
    def perplexity(self) -> float | None:
        value = self.metrics.get("perplexity")
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def latency_ms(self) -> float | None:
        value = self.metrics.get("latency_ms_median")
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def date(self) -> str:
        return str(self.lineage.get("created_at") or self.metrics.get("evaluated_at") or "")

    def summary(self) -> dict[str, Any]:
        """What ``textgamegen models --json`` prints for this model."""
        return {
            "name": self.name,
            "source": self.source,
            "path": str(self.path),
            "base": self.base,
            "corpus": self.corpus,
            "perplexity": self.perplexity,
            "latency_ms": self.latency_ms,
            "latency_device": self.metrics.get("latency_device", ""),
            "tokens_per_s": self.metrics.get("tokens_per_s"),
            "date": self.date,
            "problem": self.problem,
            "metrics": self.metrics,
            "lineage": self.lineage,
        }


def _read_json(path: Path) -> tuple[dict[str, Any], str]:
    if not path.is_file():
        return {}, ""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return {}, f"{path.name}: {error}"
    if not isinstance(data, dict):
        return {}, f"{path.name}: not a JSON object"
    return data, ""


def weights_problem(directory: Path) -> str:
    """Why the directory's weights cannot be loaded ("" when there are safetensors)."""
    if (directory / "adapter_config.json").is_file():
        if not (directory / "adapter_model.safetensors").is_file():
            return "an adapter without adapter_model.safetensors"
        if not (directory / "base.json").is_file():
            return "an adapter without base.json (which base model it needs)"
        return ""
    if any(directory.glob("*.safetensors")):
        return ""
    pickles = sorted(p.name for p in directory.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickles:
        return (
            f"only pickle weights ({', '.join(pickles)}); TextGameGen loads safetensors only, "
            "because a pickle can run code when loaded"
        )
    return "no model.safetensors"


def directory_problem(directory: Path) -> str:
    """A quick check of a model directory: config, weights and tokenizer present."""
    if not directory.is_dir():
        return "not a directory"
    adapter = (directory / "adapter_config.json").is_file()
    if not adapter and not (directory / "config.json").is_file():
        return "no config.json (not a Hugging Face model directory)"
    problem = weights_problem(directory)
    if problem:
        return problem
    if not (directory / "tokenizer.json").is_file() and not (directory / "vocab.json").is_file():
        return "no tokenizer (tokenizer.json)"
    return ""


def read_model(directory: Path, source: str, name: str = "") -> ModelInfo:
    """The ModelInfo of one directory (named ``name``, else the directory's name)."""
    metrics, metrics_problem = _read_json(directory / "metrics.json")
    lineage, lineage_problem = _read_json(directory / "lineage.json")
    reference, _ = _read_json(directory / "base.json")
    if reference.get("name"):
        # An adapter names its base exactly: that is what `models` shows and checks.
        lineage = {
            **lineage,
            "base_name": reference["name"],
            "base_sha256": str(reference.get("sha256", "")),
        }
    problem = directory_problem(directory) or metrics_problem or lineage_problem
    return ModelInfo(name or directory.name, directory, source, metrics, lineage, problem)


def _scan(folder: Path, source: str) -> list[ModelInfo]:
    try:
        children = sorted(folder.iterdir())
    except OSError:
        return []
    return [
        read_model(child, source)
        for child in children
        if child.is_dir() and not child.name.startswith((".", "_"))
    ]


def list_models() -> list[ModelInfo]:
    """Shipped models (``assets/models/*``), then the user's (``paths.user_models_dir()``)."""
    return _scan(paths.shipped_models_dir(), "shipped") + _scan(paths.user_models_dir(), "user")


def find_model(name: str) -> ModelInfo | None:
    """The installed model called ``name``; a user model shadows a shipped one of that name,
    so a model the player trained and registered replaces the default. ``name`` is its
    production version; ``NAME@N``, ``NAME@candidate`` and ``NAME@production`` name one
    version (``versions.py``).

    Raises:
        versions.VersionError: ``NAME@...`` names a version that does not exist.
    """
    if "@" in name:
        from textgamegen.models import versions

        plain, _, reference = name.partition("@")
        info = find_model(plain)
        if info is None:
            return None
        version = versions.resolve(info.path.parent, info.name, reference)
        return read_model(version.path, info.source, f"{info.name}@{version.number}")
    models = list_models()
    if name in ALIASES and not any(info.name == name for info in models):
        name = ALIASES[name]
    matches = [info for info in models if info.name == name]
    users = [info for info in matches if info.source == "user"]
    return (users or matches)[0] if matches else None
