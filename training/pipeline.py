"""Stage 0, the whole pipeline: corpus -> validate -> fine-tune -> evaluate -> gate -> register.

Examples::

    textgamegen train pipeline tests/fixtures/corpus/fixture.toml --run-dir /tmp/run
    textgamegen train pipeline training/configs/textgamegen.toml \\
        --run-dir /work/runs/textgamegen --models-dir assets/models

Each stage records a key (a sha256 of its inputs and settings) in ``<run dir>/stages.json``.
A rerun with unchanged inputs skips every finished stage and takes seconds; a fine-tune
that was interrupted resumes from its last checkpoint. A model that fails the gate stays in
the run directory, unregistered, and the command exits 1 with the reasons. With a
``feedback`` source, the gate also holds the new model to the registered one on the players'
held-out good lines (``training/heldout.py``), and lineage.json records the feedback used;
``--if-triggered`` runs only when the config's ``[trigger]`` holds (``training/trigger.py``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from textgamegen import checksum
from textgamegen.atomic import write_atomic
from textgamegen.text.canon import CAST_FILE
from training.config import PipelineConfig, as_dict
from training.corpus import corpus_sha256, input_files

STAGES = ("corpus", "validate", "finetune", "evaluate", "gate", "register")
LENGTH_FIELDS = ("epochs", "max_steps", "eval_steps", "save_total_limit", "logging_steps")
"""Fine-tune settings that leave a run's checkpoints in place when changed. A changed
length (epochs, max_steps) is then refused by the fine-tune, naming the checkpoint, rather
than its run being deleted: the learning-rate schedule cannot be stretched mid-run."""


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def package_versions() -> dict[str, str]:
    versions = {}
    for package in ("torch", "transformers", "tokenizers", "accelerate", "safetensors", "nltk"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return versions


def git_commit(where: Path) -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=where,
            capture_output=True,
            check=False,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"


@dataclass
class StageLog:
    """The run directory's record of finished stages (stages.json)."""

    path: Path

    def load(self) -> dict:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}

    def done(self, stage: str, key: str) -> bool:
        return self.load().get(stage, {}).get("key") == key

    def mark(self, stage: str, key: str, **extra: object) -> None:
        data = self.load()
        data[stage] = {"key": key, "finished_at": _now(), **extra}
        write_atomic(self.path, json.dumps(data, indent=2) + "\n")


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _say(text: str) -> None:
    print(f"[pipeline] {text}", flush=True)


def source_entries(config: PipelineConfig) -> list[dict]:
    """The config's sources for the model card (name, path, format, licence, origin)."""
    return [
        {
            "name": s.name,
            "path": s.path,
            "format": s.format,
            "licence": s.licence,
            "origin": s.origin,
        }
        for s in config.corpus.sources
    ]


def weights_file(model_dir: Path) -> Path:
    """A trained model's weights: the full model's, or a LoRA adapter's."""
    adapter = model_dir / "adapter_model.safetensors"
    return adapter if adapter.is_file() else model_dir / "model.safetensors"


def base_hash_of(base: str) -> str:
    """The sha256 of a base's weights ("" for a hub id or scratch), so a retrain follows a
    changed base."""
    if base.startswith("gguf:"):
        from textgamegen.models.adapters import base_reference

        return base_reference(base)["sha256"]
    weights = Path(base).expanduser() / "model.safetensors"
    return checksum.sha256(weights) if weights.is_file() else ""


def run_pipeline(
    config: PipelineConfig,
    run_dir: Path,
    models_dir: Path | None = None,
    force: bool = False,
    device: str = "auto",
    command: str = "",
    max_steps: int | None = None,
    rerun: str | None = None,
    stop_after: str | None = None,
) -> int:
    """Run every stage that is not already done.

    Args:
        config: the pipeline config.
        run_dir: holds corpus/, finetune/ (model, checkpoints, curve) and stages.json.
        models_dir: where to register (default: the config's, else the user models dir).
        force: rerun every stage.
        device: for the fine-tune (auto, cpu, cuda); evaluation uses ``[evaluate] device``.
        command: the command line, recorded in lineage.json and the model card.
        max_steps: overrides ``[finetune] max_steps`` (a smoke run).
        rerun: run this stage and the ones after it even when unchanged (e.g. "evaluate"
            to measure latency again without retraining).
        stop_after: end after this stage (e.g. "finetune": train now, evaluate later).

    Returns:
        0 when the model is registered (or already was), 1 when the gate refused it.
    """
    from training.gate import check_gate

    run_dir.mkdir(parents=True, exist_ok=True)
    log = StageLog(run_dir / "stages.json")
    if force:
        log.path.unlink(missing_ok=True)

    def done(stage: str, key: str) -> bool:
        if rerun and STAGES.index(stage) >= STAGES.index(rerun):
            return False
        return log.done(stage, key)

    finetune_config = config.finetune
    if max_steps is not None:
        finetune_config = type(finetune_config)(
            **{**as_dict(finetune_config), "max_steps": max_steps}
        )

    # corpus: keyed by the corpus settings and every input file's bytes.
    corpus_dir = run_dir / "corpus"
    inputs = {str(p): checksum.sha256(p) for p in input_files(config)}
    corpus_key = _key("corpus", as_dict(config.corpus), inputs)
    if done("corpus", corpus_key) and (corpus_dir / "stats.json").is_file():
        _say("corpus: unchanged, skipped")
    else:
        from training.corpus import build_corpus

        _say("corpus: building")
        result = build_corpus(config, corpus_dir)
        _say(
            f"corpus: {result.stats['splits']} lines, per tag "
            f"{ {t: v['lines'] for t, v in result.stats['per_tag'].items()} }"
        )
        for info in result.stats["per_source"].values():
            for row in info["broken_rows"]:
                _say(f"corpus: broken row {row}")
        log.mark("corpus", corpus_key)
    corpus_hash = corpus_sha256(corpus_dir)

    # validate: cheap, always run, so a hand-edited corpus is caught.
    from training.validate import validate_corpus_dir

    counts = validate_corpus_dir(corpus_dir, config.corpus.expect_tags)
    log.mark("validate", _key("validate", corpus_hash), lines=counts)
    _say(f"validate: ok {counts}")
    if stop_after in ("corpus", "validate"):
        _say(f"stopping after {stop_after} as asked")
        return 0

    # finetune: keyed by the corpus and the fine-tune settings.
    finetune_dir = run_dir / "finetune"
    model_dir = finetune_dir / "model"
    # A local or GGUF base is an input too: retrain when its weights change.
    base_hash = base_hash_of(finetune_config.base)
    if base_hash:
        finetune_key = _key("finetune", corpus_hash, as_dict(finetune_config), base_hash)
    else:
        finetune_key = _key("finetune", corpus_hash, as_dict(finetune_config))
    if done("finetune", finetune_key) and weights_file(model_dir).is_file():
        _say("finetune: unchanged, skipped")
    else:
        from training.checkpoints import newest_complete
        from training.finetune import finetune

        # Checkpoints of the same data, base and model settings are continued after an
        # interruption; if only the run's length changed, finetune refuses and says why.
        compatible_key = _key(
            "finetune-checkpoints",
            corpus_hash,
            {k: v for k, v in as_dict(finetune_config).items() if k not in LENGTH_FIELDS},
            base_hash,
        )
        started = log.load().get("finetune-started", {}).get("key") == compatible_key
        resume = started and newest_complete(finetune_dir / "checkpoints")[0] is not None
        if not started and finetune_dir.exists():
            import shutil

            shutil.rmtree(finetune_dir)  # stale: other data or settings
        log.mark("finetune-started", compatible_key)
        _say("finetune: " + ("resuming from the last checkpoint" if resume else "training"))
        finetune(
            corpus_dir,
            finetune_dir,
            finetune_config,
            resume=resume or None,
            device=device,
            corpus_hash=corpus_hash,
        )
        log.mark("finetune", finetune_key)
    weights_hash = checksum.sha256(weights_file(model_dir))
    if stop_after == "finetune":
        _say(f"stopping after finetune as asked; the model is in {model_dir}")
        return 0

    # evaluate: keyed by the weights, the corpus and the evaluation settings.
    metrics_path = model_dir / "metrics.json"
    # The base's own figures are measured too when the gate needs them (beat_base).
    evaluate_parts: list[object] = ["evaluate", weights_hash, corpus_hash, as_dict(config.evaluate)]
    if config.gate.beat_base:
        evaluate_parts += ["base", finetune_config.base, base_hash]
    evaluate_key = _key(*evaluate_parts)
    if done("evaluate", evaluate_key) and metrics_path.is_file():
        _say("evaluate: unchanged, skipped")
        metrics = json.loads(metrics_path.read_text())
    else:
        from training.evaluate import base_figures, evaluate_model, write_metrics

        _say("evaluate: measuring")
        metrics = evaluate_model(model_dir, corpus_dir, config.evaluate)
        if config.gate.beat_base:
            _say(f"evaluate: scoring the base {finetune_config.base} before fine-tuning")
            metrics["base"] = base_figures(finetune_config.base, corpus_dir, config.evaluate)
        if config.evaluate.compare_with:
            from training.compare import compare_models

            metrics["comparison"] = compare_models(
                config.evaluate.compare_with,
                corpus_dir,
                config.evaluate.max_test_lines,
                config.evaluate.device,
                say=_say,
            )["models"]
        write_metrics(model_dir, metrics)
        log.mark("evaluate", evaluate_key)
    _say(
        f"evaluate: perplexity {metrics['perplexity']} per tag "
        f"{metrics['perplexity_per_tag']} (bigram "
        f"{metrics['baseline']['perplexity_per_tag']}), bits per byte "
        f"{metrics.get('bits_per_byte_per_tag')}"
        + (f" (base {metrics['base']['bits_per_byte_per_tag']})" if metrics.get("base") else "")
        + f", latency {metrics['latency_ms_median']} ms, first token "
        f"{metrics['first_token_ms_median']} ms"
    )
    if metrics.get("grounding"):
        grounding = metrics["grounding"]
        _say(
            f"evaluate: grounding: entity share {grounding['entity_share']}, hallucination "
            f"rate {grounding['hallucination_rate']} over {grounding['generations']} "
            f"generations"
        )

    # lineage and card, then the gate against the model registered under the name.
    target_root = models_dir or _default_models_dir(config)
    lineage = build_lineage(config, corpus_hash, finetune_dir, command, weights_hash)
    cast_file = corpus_dir / CAST_FILE
    cast_files = (cast_file,) if cast_file.is_file() else ()
    if cast_files:
        lineage["cast"] = len(json.loads(cast_file.read_text(encoding="utf-8"))["names"])
    from training.modelcard import render_card, write_card

    stats = json.loads((corpus_dir / "stats.json").read_text())
    uses_feedback = any(source.format == "feedback" for source in config.corpus.sources)
    if uses_feedback:
        from training.trigger import feedback_summary

        lineage["feedback"] = feedback_summary(config, stats)
    card = render_card(config.name, metrics, lineage, source_entries(config), stats)
    write_card(model_dir, card)
    registered = None
    previous = target_root / config.name / "metrics.json"
    if previous.is_file():
        try:
            registered = json.loads(previous.read_text())
        except ValueError:
            registered = None
    decision = check_gate(metrics, config.gate, registered)
    if uses_feedback and decision.passed:
        from training.heldout import check_feedback

        ok, text = check_feedback(
            config, model_dir, target_root / config.name, config.gate.tolerance
        )
        decision.checks.append(("pass: " if ok else "FAIL: ") + text)
        if not ok:
            decision.passed = False
            decision.reasons.append(text)
    for line in decision.checks:
        _say(f"gate: {line}")
    log.mark(
        "gate",
        _key("gate", evaluate_key, as_dict(config.gate), registered),
        passed=decision.passed,
        reasons=decision.reasons,
    )
    if not decision.passed:
        _say(f"gate: REFUSED; the model stays in {model_dir}, not registered")
        print("gate failed: " + "; ".join(decision.reasons), file=sys.stderr)
        return 1

    # register: skipped when the same weights and metrics are already there.
    register_key = _key(
        "register", weights_hash, evaluate_key, as_dict(config.register), str(target_root)
    )
    target = target_root / config.name
    installed = target / "lineage.json"
    if (
        installed.is_file()
        and not force
        and rerun != "register"
        and json.loads(installed.read_text()).get("register_key") == register_key
    ):
        _say(f"register: {target} is up to date, skipped")
        return 0
    from training.register import register_model

    lineage["register_key"] = register_key
    path = register_model(
        model_dir,
        target_root,
        config.name,
        metrics,
        lineage,
        card,
        config.register.dtype,
        config.register.max_weights_mb,
        extra_files=cast_files,
    )
    log.mark("register", register_key, path=str(path))
    _say(f"register: {config.name} -> {path}")
    return 0


def _default_models_dir(config: PipelineConfig) -> Path:
    if config.register.models_dir:
        base = config.path.resolve().parent if config.path else Path.cwd()
        return (base / config.register.models_dir).resolve()
    from textgamegen import paths

    return paths.user_models_dir()


def build_lineage(
    config: PipelineConfig, corpus_hash: str, finetune_dir: Path, command: str, weights_hash: str
) -> dict:
    """lineage.json (MODEL_API.md): what the model was made from, and how."""
    summary = {}
    summary_path = finetune_dir / "finetune.json"
    if summary_path.is_file():
        data = json.loads(summary_path.read_text())
        summary = {
            k: data.get(k)
            for k in (
                "steps",
                "precision",
                "seconds",
                "dev_perplexity",
                "world_size",
                "block_size",
                "parameters",
                "trained_parameters",
                "method",
            )
        }
    reference = {}
    reference_path = finetune_dir / "model" / "base.json"
    if reference_path.is_file():  # an adapter: the base it needs, by name and sha256
        try:
            reference = json.loads(reference_path.read_text(encoding="utf-8"))
        except ValueError:
            reference = {}
    corpus_path = str(config.path) if config.path else ""
    return {
        "name": config.name,
        "base": config.finetune.base,
        "base_reference": reference,
        "corpus": corpus_path,
        "corpus_sha256": corpus_hash,
        "config": {
            "corpus": as_dict(config.corpus),
            "finetune": as_dict(config.finetune),
            "evaluate": as_dict(config.evaluate),
            "gate": as_dict(config.gate),
            "register": as_dict(config.register),
        },
        "config_text": config.text,
        "command": command,
        "finetune": summary,
        "weights_sha256_float32": weights_hash,
        "packages": package_versions(),
        "git_commit": git_commit(config.path.parent if config.path else Path.cwd()),
        "created_at": _now(),
    }
