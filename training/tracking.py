"""Optional MLflow logging of pipeline runs (``[tracking] mlflow = true``).

Each ``train pipeline`` run becomes one MLflow run, named by its own run id
(``training/runs.py``), in a local SQLite store (``<run dir>/mlflow.db`` unless
``[tracking] store`` says otherwise; no server). It is opened when the pipeline starts,
with the config as params, and closed when the pipeline ends, however it ends, with:

- params: the data and weights hashes, the threads the fine-tune used;
- metrics: every evaluation and gate figure, and the training and dev loss per step
  (``finetune/log.json``);
- artifacts: the model card, ``curve.png``, the corpus's ``stats.json``, ``metrics.json``,
  the lineage, the config file and the run's record;
- tags: the outcome, the gate's decision, and the registered version with its alias
  (production or candidate) at the time of registering.

The project's own registry and run records stay the source of truth: MLflow only mirrors
them. MLflow is not a dependency of the game; it is imported here, and only when asked for,
and a missing package stops the pipeline before any work. A store that fails mid-run
(unwritable, full, gone) must not cost the training: the failure is said once, noted in
the run record, and the run goes on without MLflow.

Examples::

    pip install 'textgamegen[tracking]'
    textgamegen train pipeline my.toml --run-dir runs/my      # with [tracking] mlflow = true
    mlflow ui --backend-store-uri sqlite:///runs/my/mlflow.db
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from training.config import PipelineConfig, as_dict

if TYPE_CHECKING:
    from types import ModuleType

    from training.pipeline import Run

INSTALL = "pip install 'textgamegen[tracking]'"
"""The command that brings MLflow (pyproject's ``tracking`` extra)."""
STORE_FILE = "mlflow.db"
"""The SQLite store in the run directory when ``[tracking] store`` is empty."""
ARTIFACTS_FOLDER = "mlartifacts"
"""Beside a SQLite store: the artifacts of its runs (MLflow's own default is ./mlruns in
whatever folder the command was started from)."""
MAX_PARAM = 6000
"""MLflow refuses longer param values."""
CONFIG_SECTIONS = ("corpus", "evaluate", "gate", "register", "trigger")
"""The config's tables logged as params (with ``finetune`` as run, overrides applied)."""

T = TypeVar("T")


class TrackingError(RuntimeError):
    """MLflow logging was asked for and cannot be done; the message says what to do."""


def store_uri(config: PipelineConfig, run_dir: Path) -> str:
    """The tracking URI ``[tracking] store`` names, with a SQLite file's path made absolute
    (relative to the config file; the run directory's ``mlflow.db`` when empty)."""
    store = config.tracking.store
    if not store:
        return _sqlite(Path(run_dir) / STORE_FILE)
    if store.startswith("sqlite:///"):
        return _sqlite(config.config_dir / store.removeprefix("sqlite:///"))
    if "://" in store:  # a server, or any store MLflow knows by its scheme
        return store
    return _sqlite(config.config_dir / Path(store).expanduser())


def _sqlite(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def sqlite_file(uri: str) -> Path | None:
    """The file of a ``sqlite:///`` URI, else None."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def load_mlflow() -> ModuleType:
    """Import MLflow, or say how to install it."""
    try:
        return importlib.import_module("mlflow")
    except ImportError as error:
        raise TrackingError(
            f"[tracking] mlflow = true, but MLflow cannot be imported ({error}); install it "
            f"with `{INSTALL}` (or `pip install mlflow`), or set mlflow = false"
        ) from None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts (and lists, by index) as one level of dotted keys."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        items = enumerate(value)
    else:
        return {prefix: value} if prefix else {}
    flat: dict[str, Any] = {}
    for key, item in items:
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _param(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text[:MAX_PARAM]


def _figures(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers among ``values``' leaves (lists, texts and flags left out), with
    keys MLflow takes (a compared model is named by its folder)."""
    figures = {}
    for key, value in flatten(values, prefix).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            figures[_metric_key(key)] = float(value)
    return figures


def _metric_key(key: str) -> str:
    return "".join(c if c.isalnum() or c in "_-. /" else "_" for c in key)


def curve(log_history: list[dict[str, Any]]) -> list[tuple[int, dict[str, float]]]:
    """The fine-tune's log (the Trainer's log history) as (step, metrics) rows: training
    loss, learning rate and gradient norm, and dev loss and perplexity."""
    rows = []
    for entry in log_history:
        step = entry.get("step")
        if not isinstance(step, int):
            continue
        found = {}
        for source, name in (
            ("loss", "train.loss"),
            ("learning_rate", "train.learning_rate"),
            ("grad_norm", "train.grad_norm"),
            ("eval_loss", "dev.loss"),
        ):
            value = entry.get(source)
            if isinstance(value, (int, float)) and math.isfinite(value):
                found[name] = float(value)
        if "dev.loss" in found and found["dev.loss"] < 700:  # exp overflows beyond
            found["dev.perplexity"] = math.exp(found["dev.loss"])
        if found:
            rows.append((step, found))
    return rows


class Tracker:
    """One pipeline run's MLflow run: opened at the start, closed at the end.

    Every call into MLflow goes through ``_try``: the first failure is said and kept in
    ``problem``, and later calls are not made, so a broken store costs one warning and no
    training.
    """

    def __init__(
        self, mlflow: ModuleType, uri: str, experiment: str, say: Callable[[str], None]
    ) -> None:
        self.mlflow = mlflow
        self.uri = uri
        self.experiment = experiment
        self.say = say
        self.run_id = ""
        """MLflow's id of the run, once it is open."""
        self.problem = ""
        """The first failure, as said ("" while there is none)."""

    def _try(self, what: str, action: Callable[[], T]) -> T | None:
        if self.problem:
            return None
        try:
            return action()
        except Exception as error:  # noqa: BLE001 - whatever the store raises, training goes on
            self.problem = f"{what} failed: {type(error).__name__}: {error}"
            self.say(
                f"mlflow: WARNING: {self.problem}; the run goes on without MLflow, and its "
                "record says so"
            )
            return None

    def start(self, run: Run) -> None:
        """Open the MLflow run and log the config as params."""
        self._try("opening the store", self._open)
        if self.problem:
            return
        self._try("starting the run", lambda: self._start(run))
        if self.run_id:
            self.say(f"mlflow: run {self.run_id} in experiment {self.experiment!r} at {self.uri}")

    def _open(self) -> None:
        mlflow = self.mlflow
        mlflow.set_tracking_uri(self.uri)
        store = sqlite_file(self.uri)
        if store:
            store.parent.mkdir(parents=True, exist_ok=True)
        if mlflow.get_experiment_by_name(self.experiment) is None:
            location = (store.parent / ARTIFACTS_FOLDER).as_uri() if store else None
            mlflow.create_experiment(self.experiment, artifact_location=location)

    def _start(self, run: Run) -> None:
        mlflow = self.mlflow
        experiment = mlflow.get_experiment_by_name(self.experiment)
        active = mlflow.start_run(
            experiment_id=experiment.experiment_id,
            run_name=run.run_id,
            tags={"textgamegen.run_id": run.run_id, "textgamegen.name": run.config.name},
        )
        self.run_id = active.info.run_id
        mlflow.log_params(self._config_params(run))

    @staticmethod
    def _config_params(run: Run) -> dict[str, str]:
        from training.runs import config_hash

        config = run.config
        sections = {name: as_dict(getattr(config, name)) for name in CONFIG_SECTIONS}
        sections["finetune"] = as_dict(run.finetune)
        params = {key: _param(value) for key, value in flatten(sections).items()}
        params["name"] = config.name
        params["config_sha256"] = config_hash(config.text)
        return params

    def finish(self, run: Run, record: dict[str, Any]) -> dict[str, Any]:
        """Log what the run found, close the MLflow run, and return what the run record
        notes of it."""
        if self.run_id:
            self._try("logging the results", lambda: self._results(run, record))
            self._try("logging the artifacts", lambda: self._artifacts(run, record))
            status = "FAILED" if record.get("exit_code") is None else "FINISHED"
            # Closed even after a failure above, so the run is not left RUNNING.
            try:
                self.mlflow.end_run(status=status)
            except Exception as error:  # noqa: BLE001 - as in _try: the record comes first
                self.problem = self.problem or f"ending the run failed: {error}"
        return self.note()

    def note(self) -> dict[str, Any]:
        """What the run record says of MLflow: where, which run, and any failure."""
        return {
            "store": self.uri,
            "experiment": self.experiment,
            "run_id": self.run_id,
            "error": self.problem,
        }

    def _results(self, run: Run, record: dict[str, Any]) -> None:
        mlflow = self.mlflow
        summary = run.lineage.get("finetune") or {}
        params = {
            "corpus_sha256": run.corpus_hash,
            "weights_sha256": run.weights_hash,
            "base_sha256": run.base_hash,
            "threads_used": summary.get("threads"),
            "steps": summary.get("steps"),
            "git_commit": run.lineage.get("git_commit"),
        }
        mlflow.log_params({k: _param(v) for k, v in params.items() if v not in (None, "")})
        for step, figures in curve(_log_history(run.finetune_dir / "log.json")):
            mlflow.log_metrics(figures, step=step)
        figures = _figures(run.metrics)
        figures.update(_figures(summary, "finetune"))
        gate = record.get("gate") or {}
        if gate:
            figures.update(_figures(gate.get("figures") or {}, "gate"))
            figures["gate.passed"] = 1.0 if gate.get("decision") == "passed" else 0.0
        if figures:
            mlflow.log_metrics(figures)
        tags = {"textgamegen.outcome": str(record.get("outcome", ""))}
        if gate:
            tags["textgamegen.gate"] = str(gate.get("decision", ""))
        version = record.get("registered_version")
        if version is not None:
            production = record.get("production_version")
            tags["textgamegen.version"] = str(version)
            tags["textgamegen.alias"] = "production" if production == version else "candidate"
        mlflow.set_tags(tags)

    def _artifacts(self, run: Run, record: dict[str, Any]) -> None:
        mlflow = self.mlflow
        for path in (
            run.model_dir / "README.md",
            run.model_dir / "metrics.json",
            run.finetune_dir / "curve.png",
            run.corpus_dir / "stats.json",
        ):
            if path.is_file():
                mlflow.log_artifact(str(path))
        if run.lineage:
            mlflow.log_dict(run.lineage, "lineage.json")
        if run.config.text:
            mlflow.log_text(run.config.text, "config.toml")
        mlflow.log_dict(record, "run_record.json")


def _log_history(path: Path) -> list[dict[str, Any]]:
    try:
        history = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return []
    return (
        [entry for entry in history if isinstance(entry, dict)] if isinstance(history, list) else []
    )


def open_tracker(
    config: PipelineConfig, run_dir: Path, say: Callable[[str], None]
) -> Tracker | None:
    """The run's tracker when ``[tracking] mlflow`` is on (None when off).

    Raises:
        TrackingError: MLflow is asked for and not installed; raised before any work.
    """
    if not config.tracking.mlflow:
        return None
    mlflow = load_mlflow()
    return Tracker(
        mlflow, store_uri(config, run_dir), config.tracking.experiment or config.name, say
    )
