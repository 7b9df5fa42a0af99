"""The pipeline's stage table, walked with the slow work faked: which stages run, which are
skipped, what stages.json records and what is said, for a rerun, ``--rerun``, ``--force``,
``--stop-after`` and a refusing gate. The functional test (tests/functional/test_pipeline.py)
runs the same table with a real tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from training import pipeline
from training.config import PipelineConfig, load_config

FIXTURE = Path(__file__).parent.parent / "fixtures" / "corpus" / "fixture.toml"
LINES = {
    split: [f"<|{tag}|> The {split} line about the {tag} is here. <|endoftext|>" for tag in tags]
    for split, tags in {
        "train": ("action", "dialogue", "quest"),
        "dev": ("action", "dialogue", "quest"),
        "test": ("action", "dialogue", "quest"),
    }.items()
}
METRICS = {
    "perplexity": 20.0,
    "perplexity_per_tag": {"action": 20.0, "dialogue": 20.0, "quest": 20.0},
    "baseline": {"perplexity_per_tag": {"action": 90.0, "dialogue": 90.0, "quest": 90.0}},
    "latency_ms_median": 50.0,
    "first_token_ms_median": 5.0,
}


class Work:
    """Fakes for the slow stages, counting what ran."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self.perplexity = 20.0

    def build_corpus(self, config: PipelineConfig, out_dir: Path):
        from training.corpus import CorpusResult

        self.ran.append("corpus")
        out_dir.mkdir(parents=True, exist_ok=True)
        for split, lines in LINES.items():
            (out_dir / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        stats = {
            "splits": {split: len(lines) for split, lines in LINES.items()},
            "per_tag": {"action": {"lines": 3}},
            "per_source": {"novel": {"broken_rows": []}},
        }
        (out_dir / "stats.json").write_text(json.dumps(stats), encoding="utf-8")
        return CorpusResult(out_dir=out_dir, splits=LINES, stats=stats)

    def finetune(self, corpus_dir: Path, out_dir: Path, config, **_options) -> None:
        self.ran.append("finetune")
        model = out_dir / "model"
        model.mkdir(parents=True, exist_ok=True)
        (model / "model.safetensors").write_bytes(b"weights %d" % config.max_steps)
        (model / "config.json").write_text("{}", encoding="utf-8")
        (model / "tokenizer.json").write_text("{}", encoding="utf-8")

    def evaluate_model(self, model_dir: Path, corpus_dir: Path, config) -> dict:
        self.ran.append("evaluate")
        return {**METRICS, "perplexity": self.perplexity}


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch) -> Work:
    import training.corpus
    import training.evaluate
    import training.finetune
    import training.lineage
    import training.modelcard

    fake = Work()
    monkeypatch.setattr(training.corpus, "build_corpus", fake.build_corpus)
    monkeypatch.setattr(training.finetune, "finetune", fake.finetune)
    monkeypatch.setattr(training.evaluate, "evaluate_model", fake.evaluate_model)
    monkeypatch.setattr(training.modelcard, "render_card", lambda *parts: "# card\n")
    monkeypatch.setattr(training.lineage, "code_version", lambda: ("abc", False))
    return fake


def _config(
    tmp_path: Path, gate: str = "max_perplexity = 1000\nmax_latency_ms = 0\nbeat_baseline = false"
) -> Path:
    text = FIXTURE.read_text(encoding="utf-8").replace(
        'name = "fixture"', f'name = "fixture"\nroot = "{FIXTURE.parent}"'
    )
    path = tmp_path / "fixture.toml"
    path.write_text(text.replace("max_latency_ms = 5000", gate), encoding="utf-8")
    return path


def run(
    module: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    config: Path | None = None,
    **options,
) -> tuple[int, list[str], str, dict]:
    """One pipeline run: (exit code, what it said, stderr, stages.json without times)."""
    code = module.run_pipeline(
        load_config(config or _config(tmp_path)),
        tmp_path / "run",
        tmp_path / "models",
        command="textgamegen train pipeline fixture.toml",
        **options,
    )
    out, err = capsys.readouterr()
    said = [line.removeprefix("[pipeline] ") for line in out.splitlines()]
    # Every run ends by saying where its record is (test_run_records below).
    assert said[-1].startswith("run ") and " recorded in " in said[-1]
    said = said[:-1]
    try:
        stages = json.loads((tmp_path / "run" / "stages.json").read_text())
    except OSError:
        stages = {}
    for record in stages.values():
        record.pop("finished_at", None)
    return code, said, err, stages


def test_a_first_run_does_every_stage_and_registers(work: Work, tmp_path, capsys) -> None:
    code, said, _, stages = run(pipeline, tmp_path, capsys)
    assert code == 0 and work.ran == ["corpus", "finetune", "evaluate"]
    assert said[0] == "corpus: building" and said[-1].startswith(
        "register: fixture version 1 (production) -> "
    )
    assert "validate: ok {'train': 3, 'dev': 3, 'test': 3}" in said
    assert list(stages) == [
        "corpus",
        "validate",
        "finetune-started",
        "finetune",
        "evaluate",
        "gate",
        "register",
    ]
    assert stages["gate"]["passed"] is True and stages["validate"]["lines"]["test"] == 3
    lineage = json.loads((tmp_path / "models" / "fixture" / "lineage.json").read_text())
    assert lineage["register_key"] == stages["register"]["key"]


def test_a_rerun_with_nothing_changed_skips_every_stage(work: Work, tmp_path, capsys) -> None:
    run(pipeline, tmp_path, capsys)
    work.ran.clear()
    code, said, _, _ = run(pipeline, tmp_path, capsys)
    assert code == 0 and work.ran == []
    assert said[0] == "corpus: unchanged, skipped"
    for line in ("finetune: unchanged, skipped", "evaluate: unchanged, skipped"):
        assert line in said
    assert said[-1] == (
        f"register: fixture version 1 in {tmp_path / 'models'} holds these weights and "
        "figures, skipped"
    )


def test_rerun_evaluate_measures_again_without_retraining(work: Work, tmp_path, capsys) -> None:
    run(pipeline, tmp_path, capsys)
    work.ran.clear()
    code, said, _, _ = run(pipeline, tmp_path, capsys, rerun="evaluate")
    assert code == 0 and work.ran == ["evaluate"]
    assert "finetune: unchanged, skipped" in said and "evaluate: measuring" in said


def test_force_runs_every_stage_again(work: Work, tmp_path, capsys) -> None:
    run(pipeline, tmp_path, capsys)
    work.ran.clear()
    code, said, _, _ = run(pipeline, tmp_path, capsys, force=True)
    assert code == 0 and work.ran == ["corpus", "finetune", "evaluate"]
    assert said[-1].startswith("register: fixture version 2 (production) -> ")


@pytest.mark.parametrize(
    ("stop_after", "ran", "last"),
    [
        ("corpus", ["corpus"], "stopping after corpus as asked"),
        ("validate", ["corpus"], "stopping after validate as asked"),
        ("finetune", ["corpus", "finetune"], "stopping after finetune as asked; the model is in"),
    ],
)
def test_stop_after_ends_there(
    work: Work, tmp_path, capsys, stop_after: str, ran: list[str], last: str
) -> None:
    code, said, _, stages = run(pipeline, tmp_path, capsys, stop_after=stop_after)
    assert code == 0 and work.ran == ran
    assert said[-1].startswith(last)
    assert "evaluate" not in stages and "register" not in stages
    assert not (tmp_path / "models").exists()


def test_max_steps_is_a_new_fine_tune(work: Work, tmp_path, capsys) -> None:
    run(pipeline, tmp_path, capsys)
    work.ran.clear()
    code, _, _, _ = run(pipeline, tmp_path, capsys, max_steps=3)
    assert code == 0 and work.ran == ["finetune", "evaluate"]


def test_a_refusing_gate_leaves_the_model_unregistered_and_exits_1(
    work: Work, tmp_path, capsys
) -> None:
    config = _config(tmp_path, "max_perplexity = 1.5\nmax_latency_ms = 0")
    code, said, err, stages = run(pipeline, tmp_path, capsys, config=config)
    assert code == 1
    assert said[-1] == (
        f"gate: REFUSED; the model stays in {tmp_path / 'run' / 'finetune' / 'model'}, "
        "not registered"
    )
    assert err.startswith("gate failed: test perplexity 20.00 must be <= max_perplexity 1.5")
    assert stages["gate"]["passed"] is False and "register" not in stages
    assert not (tmp_path / "models" / "fixture").exists()


def test_a_worse_model_than_the_registered_one_is_refused(work: Work, tmp_path, capsys) -> None:
    run(pipeline, tmp_path, capsys)
    work.perplexity = 30.0
    code, _, err, _ = run(pipeline, tmp_path, capsys, rerun="evaluate")
    assert code == 1 and "must not be worse than the registered model's 20.00" in err


def test_a_gate_that_checks_nothing_refuses(work: Work, tmp_path, capsys) -> None:
    # No bound, no baseline, and nothing registered yet to compare with.
    config = _config(tmp_path, "max_latency_ms = 0\nbeat_baseline = false")
    code, _, err, stages = run(pipeline, tmp_path, capsys, config=config)
    assert code == 1 and "the gate checked nothing" in err
    assert "register" not in stages and not (tmp_path / "models" / "fixture").exists()


def test_a_retrain_is_a_new_version_and_the_decision_goes_with_it(
    work: Work, tmp_path, capsys
) -> None:
    from textgamegen.models import versions

    run(pipeline, tmp_path, capsys)
    config = _config(tmp_path)
    config.write_text(config.read_text() + "\n[register]\npromote = false\n")
    work.perplexity = 19.0
    code, said, _, _ = run(pipeline, tmp_path, capsys, config=config, max_steps=3)
    assert code == 0
    assert said[-2].startswith("register: fixture version 2 (candidate) -> ")
    assert said[-1] == (
        "register: production stays version 1; promote with `textgamegen models promote fixture 2`"
    )
    models = tmp_path / "models"
    assert [(v.number, v.aliases) for v in versions.list_versions(models, "fixture")] == [
        (1, ("production",)),
        (2, ("candidate",)),
    ]
    # The name still reads production, version 1, whole.
    assert json.loads((models / "fixture" / "metrics.json").read_text())["perplexity"] == 20.0
    second = versions.version_path(models, "fixture", 2)
    gate = json.loads((second / "lineage.json").read_text())["gate"]
    assert gate["decision"] == "passed"
    assert gate["compared_with"] == {
        "name": "fixture",
        "version": 1,
        "perplexity": 20.0,
        "latency_ms_median": 50.0,
        "first_token_ms_median": 5.0,
    }
    assert any("must not be worse than the registered model's 20.00" in c for c in gate["checks"])
    card = (second / "README.md").read_text()
    assert "## Gate\n\nThe gate passed, held to the production version 1 of fixture:" in card


def test_every_run_is_recorded_and_listed(work: Work, tmp_path, capsys) -> None:
    from training.cli import main as train

    run(pipeline, tmp_path, capsys)
    run(pipeline, tmp_path, capsys)  # nothing changed: a second record all the same
    work.perplexity = 30.0
    run(pipeline, tmp_path, capsys, rerun="evaluate")  # worse: refused
    records = sorted((tmp_path / "run" / "runs").glob("*.json"))
    assert len(records) == 3
    assert train(["runs", str(tmp_path / "run"), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["outcome"] for r in listed] == ["registered", "registered", "refused"]
    assert [r["registered_version"] for r in listed] == [1, 1, None]
    assert [r["gate"]["decision"] for r in listed] == ["passed", "passed", "refused"]
    assert [r["stages"]["finetune"] for r in listed] == ["ran", "skipped", "skipped"]
    assert len({r["config_sha256"] for r in listed}) == 1
    assert listed[0]["corpus_sha256"] and listed[2]["metrics"]["perplexity"] == 30.0
    lineage = json.loads((tmp_path / "models" / "fixture" / "lineage.json").read_text())
    assert lineage["run_id"] == listed[0]["run_id"]
    assert train(["runs", str(tmp_path / "run")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == [
        "RUN", "NAME", "CONFIG", "DATA", "PERPLEXITY", "BITS/BYTE", "LATENCY", "GATE",
        "VERSION", "OUTCOME",
    ]  # fmt: skip
    assert table[3].split()[-3:] == ["refused", "-", "refused"]


def test_a_model_slower_than_production_by_more_than_the_ratio_is_refused(
    work: Work, tmp_path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import training.gate

    measured: list[tuple[Path, Path]] = []

    def both(candidate: Path, production: Path, corpus: Path, config, requests: int) -> dict:
        measured.append((candidate, production.resolve()))
        return {
            "latency_requests": requests,
            "latency_ms_candidate": 90.0,
            "latency_ms_production": 45.0,
            "latency_ratio": 2.0,
        }

    monkeypatch.setattr(training.gate, "latency_against_production", both)
    config = _config(
        tmp_path,
        "max_perplexity = 1000\nmax_latency_ms = 0\nbeat_baseline = false\nmax_latency_ratio = 1.5",
    )
    assert run(pipeline, tmp_path, capsys, config=config)[0] == 0
    assert measured == []  # nothing in production yet to compare with
    code, _, err, _ = run(pipeline, tmp_path, capsys, config=config, max_steps=3)
    assert code == 1
    assert "median narration latency 90 ms is 2.00x the production version's 45 ms" in err
    assert measured == [
        (
            tmp_path / "run" / "finetune" / "model",
            tmp_path / "models" / ".versions" / "fixture" / "1",
        )
    ]


def test_lineage_and_card_record_overrides_and_no_machine_paths(
    work: Work, tmp_path, capsys, monkeypatch
) -> None:
    import training.modelcard

    monkeypatch.setattr(
        training.modelcard, "render_card", lambda *parts: f"# card\ncompared: {tmp_path}/other\n"
    )
    registered = tmp_path / "models" / "fixture"
    registered.mkdir(parents=True)
    (registered / "lineage.json").write_text(
        json.dumps({"text_tools": {"sentence_splitter": "punkt_tab"}}), encoding="utf-8"
    )
    code = pipeline.run_pipeline(
        load_config(_config(tmp_path)),
        tmp_path / "run",
        tmp_path / "models",
        command=f"textgamegen train pipeline {tmp_path}/fixture.toml --max-steps 4",
        max_steps=4,
        threads=1,
    )
    said = capsys.readouterr().out
    assert code == 0
    # The registered model's corpus was split otherwise: said, not silently compared.
    assert "corpus: WARNING: [corpus] sentence_splitter = 'builtin'" in said
    lineage_text = (registered / "lineage.json").read_text()
    card = (registered / "README.md").read_text()
    assert str(tmp_path) not in lineage_text and str(tmp_path) not in card
    lineage = json.loads(lineage_text)
    assert lineage["overrides"] == {"max_steps": 4, "threads": 1}
    assert lineage["config"]["finetune"]["max_steps"] == 4
    assert lineage["command"] == "textgamegen train pipeline .../fixture.toml --max-steps 4"


class FakeMlflow(ModuleType):
    """Stands in for the ``mlflow`` package (not installed in CI): records each call of
    the fluent API the tracker uses, with MLflow's own parameter names, and fails the
    call named ``fail_on`` as an unwritable store would."""

    def __init__(self, fail_on: str = "") -> None:
        super().__init__("mlflow")
        self.calls: list[tuple[str, dict]] = []
        self.experiments: dict[str, str] = {}
        self.fail_on = fail_on

    def _call(self, name: str, /, **arguments) -> None:
        self.calls.append((name, arguments))
        if name == self.fail_on:
            raise OSError("attempt to write a readonly database")

    def named(self, name: str) -> list[dict]:
        return [arguments for called, arguments in self.calls if called == name]

    def set_tracking_uri(self, uri: str) -> None:
        self._call("set_tracking_uri", uri=uri)

    def get_experiment_by_name(self, name: str):
        self._call("get_experiment_by_name", name=name)
        found = self.experiments.get(name)
        return None if found is None else SimpleNamespace(experiment_id=found)

    def create_experiment(self, name: str, artifact_location: str | None = None) -> str:
        self._call("create_experiment", name=name, artifact_location=artifact_location)
        self.experiments[name] = str(len(self.experiments) + 1)
        return self.experiments[name]

    def start_run(self, experiment_id: str, run_name: str, tags: dict):
        self._call("start_run", experiment_id=experiment_id, run_name=run_name, tags=tags)
        return SimpleNamespace(info=SimpleNamespace(run_id=f"ml{len(self.named('start_run'))}"))

    def log_params(self, params: dict) -> None:
        self._call("log_params", params=params)

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        self._call("log_metrics", metrics=metrics, step=step)

    def set_tags(self, tags: dict) -> None:
        self._call("set_tags", tags=tags)

    def log_artifact(self, local_path: str) -> None:
        self._call("log_artifact", local_path=local_path)

    def log_dict(self, dictionary: dict, artifact_file: str) -> None:
        self._call("log_dict", dictionary=dictionary, artifact_file=artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        self._call("log_text", text=text, artifact_file=artifact_file)

    def end_run(self, status: str) -> None:
        self._call("end_run", status=status)


TRAINER_LOG = [
    {"loss": 6.5, "learning_rate": 0.003, "grad_norm": 2.0, "epoch": 0.5, "step": 1},
    {"loss": 5.25, "learning_rate": 0.0015, "grad_norm": 1.5, "epoch": 1.0, "step": 2},
    {"eval_loss": 5.0, "eval_runtime": 0.1, "epoch": 1.0, "step": 2},
]


def _tracked(tmp_path: Path, tracking: str = "mlflow = true", register: str = "") -> Path:
    config = _config(tmp_path)
    config.write_text(f"{config.read_text()}\n{register}\n[tracking]\n{tracking}\n")
    return config


@pytest.fixture
def mlflow(work: Work, monkeypatch: pytest.MonkeyPatch) -> FakeMlflow:
    """A fake mlflow importable as ``mlflow``, and a fine-tune that leaves the Trainer's
    log and a curve, as the real one does."""
    import sys

    import training.finetune

    def finetune(corpus_dir: Path, out_dir: Path, config, **options) -> None:
        work.finetune(corpus_dir, out_dir, config, **options)
        (out_dir / "log.json").write_text(json.dumps(TRAINER_LOG), encoding="utf-8")
        (out_dir / "curve.png").write_bytes(b"\x89PNG fake")

    monkeypatch.setattr(training.finetune, "finetune", finetune)
    fake = FakeMlflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    return fake


def _record(tmp_path: Path) -> dict:
    (path,) = (tmp_path / "run" / "runs").glob("*.json")
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_tracked_run_logs_params_metrics_artifacts_and_tags_to_mlflow(
    mlflow: FakeMlflow, tmp_path, capsys
) -> None:
    code, said, _, _ = run(pipeline, tmp_path, capsys, config=_tracked(tmp_path), threads=1)
    assert code == 0
    store = tmp_path / "run" / "mlflow.db"
    assert mlflow.named("set_tracking_uri") == [{"uri": f"sqlite:///{store}"}]
    # Artifacts beside the store, not in ./mlruns of whatever folder the command ran in.
    assert mlflow.named("create_experiment") == [
        {"name": "fixture", "artifact_location": (tmp_path / "run" / "mlartifacts").as_uri()}
    ]
    record = _record(tmp_path)
    (started,) = mlflow.named("start_run")
    assert started["run_name"] == record["run_id"] and started["experiment_id"] == "1"
    assert said[0] == f"mlflow: run ml1 in experiment 'fixture' at sqlite:///{store}"

    params = {k: v for call in mlflow.named("log_params") for k, v in call["params"].items()}
    assert params["finetune.seed"] == "1" and params["corpus.seed"] == "7"
    assert params["finetune.threads"] == "1"  # as run: the --threads override applied
    assert params["corpus.sources.0.path"] == "lantern_keeper.txt"
    assert params["corpus.ratios.train"] == "0.8"
    assert params["corpus.expect_tags"] == '["action", "dialogue", "quest"]'
    assert params["config_sha256"] == record["config_sha256"]
    assert params["corpus_sha256"] == record["corpus_sha256"]
    assert params["weights_sha256"] == record["weights_sha256"]

    curve = [(c["step"], c["metrics"]) for c in mlflow.named("log_metrics") if c["step"]]
    assert curve == [
        (1, {"train.loss": 6.5, "train.learning_rate": 0.003, "train.grad_norm": 2.0}),
        (2, {"train.loss": 5.25, "train.learning_rate": 0.0015, "train.grad_norm": 1.5}),
        (2, {"dev.loss": 5.0, "dev.perplexity": pytest.approx(148.413159)}),
    ]
    (figures,) = [c["metrics"] for c in mlflow.named("log_metrics") if c["step"] is None]
    assert figures["perplexity"] == 20.0 and figures["perplexity_per_tag.quest"] == 20.0
    assert figures["baseline.perplexity_per_tag.action"] == 90.0
    assert figures["latency_ms_median"] == 50.0 and figures["gate.passed"] == 1.0

    (tags,) = mlflow.named("set_tags")
    assert tags["tags"] == {
        "textgamegen.outcome": "registered",
        "textgamegen.gate": "passed",
        "textgamegen.version": "1",
        "textgamegen.alias": "production",
    }
    logged = {Path(c["local_path"]).name for c in mlflow.named("log_artifact")}
    assert logged == {"README.md", "metrics.json", "curve.png", "stats.json"}
    files = {c["artifact_file"]: c for c in mlflow.named("log_dict") + mlflow.named("log_text")}
    assert set(files) == {"lineage.json", "config.toml", "run_record.json"}
    assert files["run_record.json"]["dictionary"]["run_id"] == record["run_id"]
    assert mlflow.calls[-1] == ("end_run", {"status": "FINISHED"})

    assert record["mlflow"] == {
        "store": f"sqlite:///{store}",
        "experiment": "fixture",
        "run_id": "ml1",
        "error": "",
    }
    # The version's lineage names its MLflow run, and no path of this machine.
    lineage_text = (tmp_path / "models" / "fixture" / "lineage.json").read_text()
    assert json.loads(lineage_text)["mlflow"] == {"experiment": "fixture", "run_id": "ml1"}
    assert str(tmp_path) not in lineage_text


def test_a_candidate_and_a_refusal_are_tagged_as_such(
    mlflow: FakeMlflow, work: Work, tmp_path, capsys
) -> None:
    assert run(pipeline, tmp_path, capsys, config=_tracked(tmp_path))[0] == 0
    config = _tracked(tmp_path, register="[register]\npromote = false")
    work.perplexity = 19.0
    assert run(pipeline, tmp_path, capsys, config=config, max_steps=3)[0] == 0
    work.perplexity = 40.0
    assert run(pipeline, tmp_path, capsys, config=config, rerun="evaluate")[0] == 1
    # One experiment, made once; three runs in it.
    assert len(mlflow.named("create_experiment")) == 1
    assert [c["tags"] for c in mlflow.named("set_tags")] == [
        {
            "textgamegen.outcome": "registered",
            "textgamegen.gate": "passed",
            "textgamegen.version": "1",
            "textgamegen.alias": "production",
        },
        {
            "textgamegen.outcome": "registered",
            "textgamegen.gate": "passed",
            "textgamegen.version": "2",
            "textgamegen.alias": "candidate",
        },
        {"textgamegen.outcome": "refused", "textgamegen.gate": "refused"},
    ]
    gate_passed = [
        c["metrics"]["gate.passed"] for c in mlflow.named("log_metrics") if c["step"] is None
    ]
    assert gate_passed == [1.0, 1.0, 0.0]
    # A refusal is a result, not a crash: the MLflow run finished.
    assert [c["status"] for c in mlflow.named("end_run")] == ["FINISHED"] * 3


def test_a_store_that_fails_mid_run_costs_a_warning_and_no_training(
    mlflow: FakeMlflow, work: Work, tmp_path, capsys
) -> None:
    mlflow.fail_on = "log_metrics"
    code, said, _, _ = run(pipeline, tmp_path, capsys, config=_tracked(tmp_path))
    assert code == 0 and work.ran == ["corpus", "finetune", "evaluate"]
    assert (tmp_path / "models" / "fixture" / "lineage.json").is_file()
    warning = (
        "mlflow: WARNING: logging the results failed: OSError: attempt to write a readonly "
        "database; the run goes on without MLflow, and its record says so"
    )
    assert warning in said
    assert _record(tmp_path)["mlflow"]["error"] == (
        "logging the results failed: OSError: attempt to write a readonly database"
    )
    # Said once; nothing more is sent after the failure, but the run is closed.
    assert said.count(warning) == 1 and mlflow.named("log_artifact") == []
    assert mlflow.calls[-1] == ("end_run", {"status": "FINISHED"})


def test_a_store_that_cannot_be_opened_leaves_the_run_untracked(
    mlflow: FakeMlflow, work: Work, tmp_path, capsys
) -> None:
    mlflow.fail_on = "set_tracking_uri"
    code, said, _, _ = run(pipeline, tmp_path, capsys, config=_tracked(tmp_path))
    assert code == 0 and work.ran == ["corpus", "finetune", "evaluate"]
    assert said[0].startswith("mlflow: WARNING: opening the store failed: OSError")
    assert [name for name, _ in mlflow.calls] == ["set_tracking_uri"]
    assert _record(tmp_path)["mlflow"]["run_id"] == ""
    assert "mlflow" not in json.loads(
        (tmp_path / "models" / "fixture" / "lineage.json").read_text()
    )


def test_mlflow_asked_for_and_missing_stops_before_any_work(
    work: Work, tmp_path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from training.cli import main as train
    from training.tracking import TrackingError

    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    config = _tracked(tmp_path)
    with pytest.raises(TrackingError, match=r"pip install 'textgamegen\[tracking\]'"):
        pipeline.run_pipeline(load_config(config), tmp_path / "run", tmp_path / "models")
    assert work.ran == [] and not (tmp_path / "run").exists()
    code = train(["pipeline", str(config), "--run-dir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and work.ran == []
    assert "error: [tracking] mlflow = true, but MLflow cannot be imported" in err
    assert "install it with `pip install 'textgamegen[tracking]'`" in err


def test_without_tracking_mlflow_is_never_imported(
    work: Work, tmp_path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "mlflow", None)
    code, _, _, _ = run(pipeline, tmp_path, capsys, config=_tracked(tmp_path, "mlflow = false"))
    assert code == 0 and "mlflow" not in _record(tmp_path)


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("", "{run}/mlflow.db"),
        ("tracking/runs.db", "{config}/tracking/runs.db"),
        ("sqlite:///mlflow.db", "{config}/mlflow.db"),
        ("sqlite:////srv/mlflow/all.db", "/srv/mlflow/all.db"),
    ],
)
def test_the_store_is_a_sqlite_file_relative_to_the_config(
    tmp_path: Path, store: str, expected: str
) -> None:
    from training.tracking import store_uri

    config = load_config(_tracked(tmp_path, f'mlflow = true\nstore = "{store}"'))
    path = expected.format(run=tmp_path / "run", config=tmp_path)
    assert store_uri(config, tmp_path / "run") == f"sqlite:///{path}"


def test_a_server_uri_is_used_as_it_is_and_the_experiment_can_be_named(tmp_path: Path) -> None:
    from training.tracking import store_uri

    config = load_config(
        _tracked(tmp_path, 'mlflow = true\nstore = "http://127.0.0.1:5000"\nexperiment = "x"')
    )
    assert store_uri(config, tmp_path / "run") == "http://127.0.0.1:5000"
    assert config.tracking.experiment == "x"


@pytest.mark.parametrize(
    ("tracking", "message"),
    [
        ('mlflow = "yes"', "tracking.mlflow must be true or false (got 'yes')"),
        ("store = 3", "tracking.store must be a string (got 3)"),
        ("server = true", "[tracking]: unknown key(s) server; known: experiment, mlflow, store"),
    ],
)
def test_a_wrong_tracking_key_is_named(tmp_path: Path, tracking: str, message: str) -> None:
    from training.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        load_config(_tracked(tmp_path, tracking))
    assert message in str(caught.value)


def test_tracking_is_off_by_default(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path))
    assert (config.tracking.mlflow, config.tracking.store, config.tracking.experiment) == (
        False,
        "",
        "",
    )
