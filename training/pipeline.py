"""Stage 0, the whole pipeline: corpus -> validate -> fine-tune -> evaluate -> gate -> register.

Examples::

    textgamegen train pipeline tests/fixtures/corpus/fixture.toml --run-dir /tmp/run
    textgamegen train pipeline training/configs/textgamegen.toml \\
        --run-dir /work/runs/textgamegen --models-dir assets/models

The stages are one table (``STAGES``): each row names what its key is made of, when its
earlier work still stands, what it runs and what it hands on; ``run_pipeline`` walks it.
Each stage records its key (a sha256 of its inputs and settings) in ``<run dir>/stages.json``.
A rerun with unchanged inputs skips every finished stage and takes seconds; a fine-tune
that was interrupted resumes from its last checkpoint. A model that fails the gate stays in
the run directory, unregistered, and the command exits 1 with the reasons. With a
``feedback`` source, the gate also holds the new model to the registered one on the players'
held-out good lines (``training/heldout.py``), and lineage.json records the feedback used;
``--if-triggered`` runs only when the config's ``[trigger]`` holds (``training/trigger.py``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from textgamegen import checksum
from textgamegen.atomic import write_atomic
from textgamegen.text.canon import CAST_FILE
from textgamegen.text.lexicon import LEXICON_FILE
from training.config import FinetuneConfig, PipelineConfig, as_dict
from training.corpus import corpus_sha256, input_files
from training.lineage import (
    build_lineage,
    portable,
    splitter_change,
    utc_now,
    without_paths,
)
from training.splits import TRAINED_TEXTS

if TYPE_CHECKING:
    from training.gate import GateDecision
    from training.tracking import Tracker

LENGTH_FIELDS = ("epochs", "max_steps", "eval_steps", "save_total_limit", "logging_steps")
"""Fine-tune settings that leave a run's checkpoints in place when changed. A changed
length (epochs, max_steps) is then refused by the fine-tune, naming the checkpoint, rather
than its run being deleted: the learning-rate schedule cannot be stretched mid-run."""


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


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
        data[stage] = {"key": key, "finished_at": utc_now(), **extra}
        write_atomic(self.path, json.dumps(data, indent=2) + "\n")


def _new_run_id() -> str:
    from training.runs import new_run_id

    return new_run_id()


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


@dataclass
class Run:
    """One pipeline run: its settings and folders, and what the stages have found so far."""

    config: PipelineConfig
    finetune: FinetuneConfig
    """``[finetune]``, with ``--max-steps`` applied."""
    run_dir: Path
    log: StageLog
    models_dir: Path | None = None
    force: bool = False
    device: str = "auto"
    command: str = ""
    rerun: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    """Each stage's key, once made: later keys build on earlier ones."""
    corpus_hash: str = ""
    weights_hash: str = ""
    metrics: dict = field(default_factory=dict)
    """Measured by this run, or read back from the run directory when evaluate is skipped."""
    lineage: dict = field(default_factory=dict)
    card: str = ""
    extra_files: tuple[Path, ...] = ()
    """Registered beside the model: the cast list and lexicon (the loader's guards read
    them) and trained_texts.txt (for the leak check)."""
    decision: GateDecision | None = None
    version: int | None = None
    """The registered version, once registered (or found already registered)."""
    run_id: str = field(default_factory=lambda: _new_run_id())
    tracker: Tracker | None = None
    """The run's MLflow run, with ``[tracking] mlflow = true``."""

    @property
    def corpus_dir(self) -> Path:
        return self.run_dir / "corpus"

    @property
    def finetune_dir(self) -> Path:
        return self.run_dir / "finetune"

    @property
    def model_dir(self) -> Path:
        return self.finetune_dir / "model"

    @cached_property
    def target_root(self) -> Path:
        """Where the model is registered: ``--models-dir``, else the config's, else the user's."""
        return self.models_dir or default_models_dir(self.config)

    @property
    def target(self) -> Path:
        return self.target_root / self.config.name

    @cached_property
    def base_hash(self) -> str:
        # A local or GGUF base is an input too: retrain when its weights change.
        return base_hash_of(self.finetune.base)

    @cached_property
    def registered(self) -> dict | None:
        """The metrics of the model registered under the name now, if any."""
        try:
            return json.loads((self.target / "metrics.json").read_text())
        except (OSError, ValueError):
            return None

    @property
    def uses_feedback(self) -> bool:
        return any(source.format == "feedback" for source in self.config.corpus.sources)

    def done(self, stage: str, key: str) -> bool:
        """Whether stages.json holds this key for the stage, and ``--rerun`` spares it."""
        if self.rerun and STAGE_NAMES.index(stage) >= STAGE_NAMES.index(self.rerun):
            return False
        return self.log.done(stage, key)


Record = dict[str, object]
"""What stages.json records for a stage beside its key and time."""


@dataclass(frozen=True)
class Stage:
    """One row of the pipeline: what it is keyed by, when it may be skipped, what it does."""

    name: str
    key: Callable[[Run], tuple]
    """The parts its key (a sha256) is made of: its inputs and settings."""
    run: Callable[[Run], Record]
    """Does the work and says so; returns what stages.json records beside the key."""
    current: Callable[[Run, str, str], bool] | None = None
    """Whether the work done before still stands for (stage name, key): then the stage is
    skipped. None: it runs every time."""
    skipped: Callable[[Run], str] = lambda run: "unchanged, skipped"
    after: Callable[[Run], int | None] = lambda run: None
    """Runs after the stage ran or was skipped: takes what later stages need, and reports.
    An int ends the pipeline with that exit code."""
    stops: tuple[str, ...] = ()
    """The ``--stop-after`` values that end the pipeline after this stage."""
    stop_note: Callable[[Run], str] = lambda run: ""


def _logged(output: Callable[[Run], Path]) -> Callable[[Run, str, str], bool]:
    """Skip when stages.json holds the key and the stage's output is still there."""
    return lambda run, name, key: run.done(name, key) and output(run).is_file()


# corpus: keyed by the corpus settings and every input file's bytes.
def _corpus_key(run: Run) -> tuple:
    inputs = {str(p): checksum.sha256(p) for p in input_files(run.config)}
    return ("corpus", as_dict(run.config.corpus), inputs)


def _build_corpus(run: Run) -> Record:
    from training.corpus import build_corpus

    _say("corpus: building")
    result = build_corpus(run.config, run.corpus_dir)
    _say(
        f"corpus: {result.stats['splits']} lines, per tag "
        f"{ {t: v['lines'] for t, v in result.stats['per_tag'].items()} }"
    )
    for info in result.stats["per_source"].values():
        for row in info["broken_rows"]:
            _say(f"corpus: broken row {row}")
    return {}


def _hash_corpus(run: Run) -> None:
    from training.trigger import registered_lineage

    run.corpus_hash = corpus_sha256(run.corpus_dir)
    change = splitter_change(run.config, registered_lineage(run.target_root, run.config.name))
    if change:
        _say(f"corpus: WARNING: {change}")


# validate: cheap, always run, so a hand-edited corpus is caught.
def _validate(run: Run) -> Record:
    from training.validate import validate_corpus_dir

    counts = validate_corpus_dir(run.corpus_dir, run.config.corpus.expect_tags)
    _say(f"validate: ok {counts}")
    return {"lines": counts}


# finetune: keyed by the corpus and the fine-tune settings (and a local or GGUF base).
def _finetune_key(run: Run) -> tuple:
    if run.base_hash:
        return ("finetune", run.corpus_hash, as_dict(run.finetune), run.base_hash)
    return ("finetune", run.corpus_hash, as_dict(run.finetune))


def _finetune(run: Run) -> Record:
    from training.checkpoints import newest_complete
    from training.finetune import finetune

    # Checkpoints of the same data, base and model settings are continued after an
    # interruption; if only the run's length changed, finetune refuses and says why.
    compatible_key = _key(
        "finetune-checkpoints",
        run.corpus_hash,
        {k: v for k, v in as_dict(run.finetune).items() if k not in LENGTH_FIELDS},
        run.base_hash,
    )
    started = run.log.load().get("finetune-started", {}).get("key") == compatible_key
    resume = started and newest_complete(run.finetune_dir / "checkpoints")[0] is not None
    if not started and run.finetune_dir.exists():
        shutil.rmtree(run.finetune_dir)  # stale: other data or settings
    run.log.mark("finetune-started", compatible_key)
    _say("finetune: " + ("resuming from the last checkpoint" if resume else "training"))
    finetune(
        run.corpus_dir,
        run.finetune_dir,
        run.finetune,
        resume=resume or None,
        device=run.device,
        corpus_hash=run.corpus_hash,
    )
    return {}


def _hash_weights(run: Run) -> None:
    run.weights_hash = checksum.sha256(weights_file(run.model_dir))


# evaluate: keyed by the weights, the corpus and the evaluation settings.
def _evaluate_key(run: Run) -> tuple:
    parts: tuple = ("evaluate", run.weights_hash, run.corpus_hash, as_dict(run.config.evaluate))
    if run.config.gate.beat_base:  # the base's own figures are measured too
        parts += ("base", run.finetune.base, run.base_hash, "tag rows: the mean")
    return parts


def _evaluate(run: Run) -> Record:
    from training.evaluate import base_figures, evaluate_model, write_metrics

    config = run.config
    _say("evaluate: measuring")
    metrics = evaluate_model(run.model_dir, run.corpus_dir, config.evaluate)
    if config.gate.beat_base:
        _say(f"evaluate: scoring the base {run.finetune.base} before fine-tuning")
        metrics["base"] = base_figures(run.finetune.base, run.corpus_dir, config.evaluate)
    if config.evaluate.compare_with:
        from training.compare import compare_models

        metrics["comparison"] = compare_models(
            config.evaluate.compare_with,
            run.corpus_dir,
            config.evaluate.max_test_lines,
            config.evaluate.device,
            say=_say,
        )["models"]
    write_metrics(run.model_dir, metrics)
    run.metrics = metrics
    return {}


def _report_metrics(run: Run) -> None:
    if not run.metrics:  # skipped: the figures measured before
        run.metrics = json.loads((run.model_dir / "metrics.json").read_text())
    metrics = run.metrics
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


# gate: the lineage and card are written, then the model is held to the bounds and to the
# model registered under the name. It runs every time: the registered model may change.
def _gate_key(run: Run) -> tuple:
    return ("gate", run.keys["evaluate"], as_dict(run.config.gate), run.registered)


def _write_lineage_and_card(run: Run) -> None:
    from training.modelcard import render_card, write_card

    config = run.config
    stats = json.loads((run.corpus_dir / "stats.json").read_text())
    lineage = build_lineage(
        config,
        run.corpus_hash,
        run.finetune_dir,
        run.command,
        run.weights_hash,
        finetune=run.finetune,
        stats=stats,
    )
    cast_file = run.corpus_dir / CAST_FILE
    lexicon_file = run.corpus_dir / LEXICON_FILE
    if cast_file.is_file():
        lineage["cast"] = len(json.loads(cast_file.read_text(encoding="utf-8"))["names"])
    if lexicon_file.is_file():
        lineage["lexicon"] = len(json.loads(lexicon_file.read_text(encoding="utf-8"))["words"])
    # Registered beside the weights: the guards' lists the loader reads from the model's
    # folder, and what it was trained on (for the leak check of any later test split).
    run.extra_files = tuple(
        path for path in (cast_file, lexicon_file, run.corpus_dir / TRAINED_TEXTS) if path.is_file()
    )
    lineage["test_set"] = stats.get("test_set", {})
    lineage["leak_check"] = stats.get("leak_check", {})
    if run.uses_feedback:
        from training.trigger import feedback_summary

        lineage["feedback"] = without_paths(feedback_summary(config, stats))
    lineage["run_id"] = run.run_id
    if run.tracker is not None and run.tracker.run_id:
        # Which MLflow run mirrors this one; the store's place is this machine's, not kept.
        lineage["mlflow"] = {"experiment": run.tracker.experiment, "run_id": run.tracker.run_id}
    run.lineage = lineage
    # No path of this machine in the card either (a compared model named by its folder).
    run.card = portable(
        render_card(config.name, run.metrics, lineage, source_entries(config), stats)
    )
    write_card(run.model_dir, run.card)


def _gate(run: Run) -> Record:
    from textgamegen.models.versions import production
    from training.gate import check_gate
    from training.modelcard import write_card

    _write_lineage_and_card(run)
    config = run.config
    decision = check_gate(run.metrics, config.gate, run.registered)
    if run.uses_feedback and decision.passed:
        from training.heldout import check_feedback

        ok, text = check_feedback(config, run.model_dir, run.target, config.gate.tolerance)
        decision.add(ok, text)
    if config.gate.max_latency_ratio and decision.passed and _production_loads(run):
        from training.gate import check_latency_ratio, latency_against_production

        figures = latency_against_production(
            run.model_dir,
            run.target,
            run.corpus_dir,
            config.evaluate,
            config.gate.latency_requests,
        )
        check_latency_ratio(decision, figures, config.gate.max_latency_ratio)
    decision.refuse_if_empty()
    for line in decision.checks:
        _say(f"gate: {line}")
    run.decision = decision
    # The decision and what it was measured against go with the model: in its lineage
    # and its card, registered or not.
    against = production(run.target_root, config.name) if run.registered is not None else None
    run.lineage["gate"] = decision.record(config.name, against, run.registered)
    run.card += decision.card_section(config.name, against)
    write_card(run.model_dir, run.card)
    return {"passed": decision.passed, "reasons": decision.reasons}


def _production_loads(run: Run) -> bool:
    from textgamegen.models.registry import directory_problem

    return run.target.is_dir() and not directory_problem(run.target)


def _refuse(run: Run) -> int | None:
    if run.decision is None or run.decision.passed:
        return None
    _say(f"gate: REFUSED; the model stays in {run.model_dir}, not registered")
    print("gate failed: " + "; ".join(run.decision.reasons), file=sys.stderr)
    return 1


# register: skipped when the same weights and metrics are already there.
def _register_key(run: Run) -> tuple:
    return (
        "register",
        run.weights_hash,
        run.keys["evaluate"],
        as_dict(run.config.register),
        str(run.target_root),
    )


def _installed(run: Run, name: str, key: str) -> bool:
    # Read from the registered versions themselves, so another run dir with the same
    # weights and figures skips too.
    from textgamegen.models.versions import list_versions

    if run.force or run.rerun == "register":
        return False
    for version in list_versions(run.target_root, run.config.name):
        if version.lineage.get("register_key") == key:
            run.version = version.number
            return True
    return False


def _register(run: Run) -> Record:
    from training.register import register_model

    config = run.config
    run.lineage["register_key"] = run.keys["register"]
    path = register_model(
        run.model_dir,
        run.target_root,
        config.name,
        run.metrics,
        run.lineage,
        run.card,
        config.register.dtype,
        config.register.max_weights_mb,
        extra_files=run.extra_files,
        promote=config.register.promote,
        keep=config.register.keep_versions,
    )
    from textgamegen.models.versions import production

    serving = production(run.target_root, config.name)
    run.version = int(path.name) if path.name.isdigit() else serving  # shipped: one version
    alias = "production" if serving == run.version else "candidate"
    _say(f"register: {config.name} version {run.version} ({alias}) -> {path}")
    if alias == "candidate":
        _say(
            f"register: production stays version {serving}; promote with "
            f"`textgamegen models promote {config.name} {run.version}`"
        )
    return {"path": str(path), "version": run.version}


STAGES: tuple[Stage, ...] = (
    Stage(
        "corpus",
        _corpus_key,
        _build_corpus,
        current=_logged(lambda run: run.corpus_dir / "stats.json"),
        after=_hash_corpus,
    ),
    Stage(
        "validate",
        lambda run: ("validate", run.corpus_hash),
        _validate,
        stops=("corpus", "validate"),
    ),
    Stage(
        "finetune",
        _finetune_key,
        _finetune,
        current=_logged(lambda run: weights_file(run.model_dir)),
        after=_hash_weights,
        stops=("finetune",),
        stop_note=lambda run: f"; the model is in {run.model_dir}",
    ),
    Stage(
        "evaluate",
        _evaluate_key,
        _evaluate,
        current=_logged(lambda run: run.model_dir / "metrics.json"),
        after=_report_metrics,
    ),
    Stage("gate", _gate_key, _gate, after=_refuse),
    Stage(
        "register",
        _register_key,
        _register,
        current=_installed,
        skipped=lambda run: (
            f"{run.config.name} version {run.version} in {run.target_root} holds these "
            "weights and figures, skipped"
        ),
    ),
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)
STOP_AFTER = tuple(name for stage in STAGES for name in stage.stops)
"""The values of ``--stop-after``."""
RERUN = tuple(stage.name for stage in STAGES if stage.current is not None)
"""The values of ``--rerun``: the stages that can be skipped."""


def run_pipeline(
    config: PipelineConfig,
    run_dir: Path,
    models_dir: Path | None = None,
    force: bool = False,
    device: str = "auto",
    command: str = "",
    max_steps: int | None = None,
    threads: int | None = None,
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
        threads: overrides ``[finetune] threads``.
        rerun: run this stage and the ones after it even when unchanged (e.g. "evaluate"
            to measure latency again without retraining).
        stop_after: end after this stage (e.g. "finetune": train now, evaluate later).

    Returns:
        0 when the model is registered (or already was), 1 when the gate refused it.

    Raises:
        TrackingError: ``[tracking] mlflow = true`` and MLflow is not installed (before
            any work is done).
    """
    from training.tracking import open_tracker

    tracker = open_tracker(config, run_dir, _say)
    run_dir.mkdir(parents=True, exist_ok=True)
    log = StageLog(run_dir / "stages.json")
    if force:
        log.path.unlink(missing_ok=True)
    finetune = config.finetune
    if max_steps is not None:
        finetune = replace(finetune, max_steps=max_steps)
    if threads is not None:
        finetune = replace(finetune, threads=threads)
    run = Run(
        config,
        finetune,
        run_dir,
        log,
        models_dir=models_dir,
        force=force,
        device=device,
        command=command,
        rerun=rerun,
        tracker=tracker,
    )
    # To the microsecond, so that `train runs` lists runs of one second in order.
    started = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    stages: dict[str, str] = {}
    code: int | None = None
    try:
        if tracker is not None:
            tracker.start(run)
        code = _walk(run, stages, stop_after)
        return code
    finally:
        _record_run(run, started, stages, code)


def _walk(run: Run, stages: dict[str, str], stop_after: str | None) -> int:
    for stage in STAGES:
        key = run.keys[stage.name] = _key(*stage.key(run))
        if stage.current is not None and stage.current(run, stage.name, key):
            _say(f"{stage.name}: {stage.skipped(run)}")
            stages[stage.name] = "skipped"
        else:
            stages[stage.name] = "ran"
            run.log.mark(stage.name, key, **stage.run(run))
        code = stage.after(run)
        if code is not None:
            return code
        if stop_after in stage.stops:
            _say(f"stopping after {stop_after} as asked" + stage.stop_note(run))
            return 0
    return 0


def _record_run(run: Run, started: str, stages: dict[str, str], code: int | None) -> None:
    """The run's record for ``train runs`` (``training/runs.py``), however it ended."""
    from textgamegen.models.versions import production
    from training.runs import make_record, write_record

    record = make_record(
        run.run_id,
        name=run.config.name,
        config_text=run.config.text,
        command=run.command,
        started_at=started,
        corpus_sha256=run.corpus_hash,
        weights_sha256=run.weights_hash,
        stages=stages,
        metrics=run.metrics,
        gate=run.lineage.get("gate"),
        version=run.version,
        production=production(run.target_root, run.config.name),
        exit_code=code,
    )
    if run.tracker is not None:
        record["mlflow"] = run.tracker.finish(run, record)
    path = write_record(run.run_dir, record)
    _say(f"run {run.run_id} recorded in {path}")


def default_models_dir(config: PipelineConfig) -> Path:
    if config.register.models_dir:
        base = config.path.resolve().parent if config.path else Path.cwd()
        return (base / config.register.models_dir).resolve()
    from textgamegen import paths

    return paths.user_models_dir()
