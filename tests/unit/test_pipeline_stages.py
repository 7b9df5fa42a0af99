"""The pipeline's stage table, walked with the slow work faked: which stages run, which are
skipped, what stages.json records and what is said, for a rerun, ``--rerun``, ``--force``,
``--stop-after`` and a refusing gate. The functional test (tests/functional/test_pipeline.py)
runs the same table with a real tiny model."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

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
