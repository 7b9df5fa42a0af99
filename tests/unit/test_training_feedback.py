"""The training side of the feedback loop: the ``feedback`` source format, the ``[trigger]``
table and its decision, and the model card's feedback section. No model is trained here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.config import ConfigError, CorpusConfig, Source, config_from_dict
from training.formats.feedback import HELD_OUT, extract_feedback, held_out_examples
from training.modelcard import render_card
from training.textfile import CorpusError
from training.trigger import decide

ROWS = [
    {
        "id": "a1",
        "time": "2026-11-01T10:00:00.000Z",
        "label": "good",
        "kind": "dialogue",
        "prompt": '<|action|> You are in the Mill. <|endoftext|><|dialogue|> The miller says, "',
        "text": 'The miller says, "The wheel has not turned since spring."',
    },
    {
        "id": "a2",
        "time": "2026-11-01T10:01:00.000Z",
        "label": "kept",
        "kind": "item",
        "prompt": "",
        "text": "The lantern is cold, its glass furred with salt.",
    },
    {
        "id": "a3",
        "time": "2026-11-01T10:02:00.000Z",
        "label": "bad",
        "kind": "action",
        "prompt": "",
        "text": "You walk walk walk the the the door door.",
    },
    {
        "id": "a4",
        "time": "2026-11-02T09:00:00.000Z",
        "label": "retried",
        "kind": "action",
        "prompt": "",
        "text": "You open the crate and a crate opens the crate.",
    },
    {
        "id": "a5",
        "time": "2026-11-02T09:01:00.000Z",
        "label": "cancelled",
        "kind": "action",
        "prompt": "",
        "text": "You climb the stairs and …",
    },
    {
        "id": "a6",
        "time": "2026-11-02T09:02:00.000Z",
        "label": "good",
        "kind": "quest",
        "prompt": "<|quest|>",
        "text": "Bring the rope to Ferrin before the tide turns.",
    },
    {
        "id": "a7",
        "time": "2026-11-02T09:03:00.000Z",
        "label": "good",
        "kind": "action",
        "prompt": "<|action|> You push",
        "text": "You push the gate and it swings open slowly.",
    },
]


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _source() -> Source:
    return Source(path="feedback.jsonl", format="feedback", name="player-feedback")


def test_good_lines_become_examples_and_the_rest_is_counted(tmp_path: Path) -> None:
    path = _write(tmp_path / "feedback.jsonl", ROWS)
    result = extract_feedback(path.read_text(), path, _source(), CorpusConfig())
    assert result.dropped["rated bad"] == 1 and result.dropped["retried"] == 1
    assert result.dropped["cancelled with Esc"] == 1
    assert result.dropped[HELD_OUT] == 1  # a fifth of three good lines, at least one
    # Unrated is no approval: the kept line is left out unless the source names it.
    assert result.dropped["kept, not rated (not in the source's labels)"] == 1
    texts = {example.text: example.tag for example in result.examples}
    assert len(texts) == 2  # two good (one held out)
    assert "The lantern is cold, its glass furred with salt." not in texts
    # The tag is the one the prompt ends with; the text starts with the prompt's opening.
    held = held_out_examples(path.read_text(), path, _source(), CorpusConfig())
    assert len(held) == 1 and held[0].text not in texts
    every = {**texts, held[0].text: held[0].tag}
    assert every['The miller says, "The wheel has not turned since spring."'] == "dialogue"
    assert every["Bring the rope to Ferrin before the tide turns."] == "quest"


def test_kept_lines_are_a_weak_signal_taken_only_by_name(tmp_path: Path) -> None:
    path = _write(tmp_path / "feedback.jsonl", ROWS)
    source = Source(path="feedback.jsonl", format="feedback", labels=["good", "kept"])
    result = extract_feedback(path.read_text(), path, source, CorpusConfig())
    texts = {example.text: example.tag for example in result.examples}
    assert texts.get("The lantern is cold, its glass furred with salt.") == "action"
    with pytest.raises(ConfigError, match="labels must list"):
        Source(path="feedback.jsonl", format="feedback", labels=["bad"])
    with pytest.raises(ConfigError, match='format = "feedback" only'):
        Source(path="story.txt", format="novel", model="narrator")


def test_a_feedback_source_keeps_one_model_and_version(tmp_path: Path) -> None:
    rows = [
        {**row, "model": "narrator" if i % 2 else "alice", "model_sha256": f"{i}abc" * 16}
        for i, row in enumerate(ROWS)
    ]
    rows[6]["model_version"] = "v2"
    path = _write(tmp_path / "feedback.jsonl", rows)
    text = path.read_text()

    def kept(**filters) -> set[str]:
        source = Source(path="feedback.jsonl", format="feedback", **filters)
        result = extract_feedback(text, path, source, CorpusConfig())
        held = held_out_examples(text, path, source, CorpusConfig())
        return {example.text for example in [*result.examples, *held]}

    assert kept(model="narrator") == {"Bring the rope to Ferrin before the tide turns."}
    assert kept(model="alice") == {
        'The miller says, "The wheel has not turned since spring."',
        "You push the gate and it swings open slowly.",
    }
    assert kept(model_version="v2") == {"You push the gate and it swings open slowly."}
    assert kept(model_version="5abc") == {"Bring the rope to Ferrin before the tide turns."}
    source = Source(path="feedback.jsonl", format="feedback", model="narrator")
    result = extract_feedback(text, path, source, CorpusConfig())
    assert result.dropped["another model or version"] == 4


def test_the_same_lines_are_held_out_on_every_run(tmp_path: Path) -> None:
    path = _write(tmp_path / "feedback.jsonl", ROWS)
    first = held_out_examples(path.read_text(), path, _source(), CorpusConfig())
    path = _write(tmp_path / "feedback.jsonl", list(reversed(ROWS)))
    assert held_out_examples(path.read_text(), path, _source(), CorpusConfig()) == [
        type(first[0])(first[0].text, first[0].tag, len(ROWS) + 1 - first[0].line)
    ]


def test_a_broken_feedback_line_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "feedback.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"feedback.jsonl: line 2: not JSON"):
        extract_feedback(path.read_text(), path, _source(), CorpusConfig())
    path.write_text('{"text": "no label"}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match="line 1: not a feedback line"):
        extract_feedback(path.read_text(), path, _source(), CorpusConfig())


def _config(tmp_path: Path, trigger: dict | None = None, feedback: bool = True):
    sources = [{"path": "story.txt", "format": "novel"}]
    if feedback:
        sources.append({"path": "feedback.jsonl", "format": "feedback", "name": "player-feedback"})
    data = {"name": "loop", "corpus": {"sources": sources}}
    if trigger is not None:
        data["trigger"] = trigger
    return config_from_dict(data, base_dir=tmp_path)


def test_the_trigger_table_is_read_and_checked(tmp_path: Path) -> None:
    config = _config(tmp_path, {"min_new_rows": 3, "max_bad_rate": 0.5})
    assert (config.trigger.min_new_rows, config.trigger.max_bad_rate) == (3, 0.5)
    with pytest.raises(ConfigError, match=r"trigger.max_bad_rate"):
        _config(tmp_path, {"max_bad_rate": 2})
    with pytest.raises(ConfigError, match=r"\[trigger\]: unknown key"):
        _config(tmp_path, {"min_rows": 3})


def _register(models: Path, latest: str | None) -> None:
    (models / "loop").mkdir(parents=True)
    lineage = {"name": "loop"} if latest is None else {"feedback": {"latest": latest}}
    (models / "loop" / "lineage.json").write_text(json.dumps(lineage))


@pytest.mark.parametrize(
    ("trigger", "latest", "runs", "why"),
    [
        ({"min_new_rows": 3, "max_bad_rate": 1.0}, None, True, "7 new feedback rows (in all)"),
        ({"min_new_rows": 3, "max_bad_rate": 1.0}, "2026-11-02T00:00", True, "4 new"),
        ({"min_new_rows": 5, "max_bad_rate": 1.0}, "2026-11-02T00:00", False, "not triggered"),
        ({"min_new_rows": 0, "max_bad_rate": 0.2}, "2026-11-01T10:00:30", True, "bad rate 33%"),
        ({"min_new_rows": 0, "max_bad_rate": 0.4}, "2026-11-01T10:00:30", False, "33%"),
        ({"min_new_rows": 1, "max_bad_rate": 0.1}, "2027-01-01", False, "0 new feedback rows"),
    ],
)
def test_the_trigger_decides(tmp_path: Path, trigger, latest, runs, why) -> None:
    (tmp_path / "story.txt").write_text("unused\n")
    _write(tmp_path / "feedback.jsonl", ROWS)
    models = tmp_path / "models"
    _register(models, latest)
    decision = decide(_config(tmp_path, trigger), models)
    assert decision.run is runs
    assert why in " ".join(decision.reasons)


def test_the_trigger_runs_when_nothing_is_registered_and_not_without_feedback(
    tmp_path: Path,
) -> None:
    decision = decide(_config(tmp_path, {}), tmp_path / "models")
    assert decision.run and "no model is registered" in decision.reasons[0]
    _register(tmp_path / "models", None)
    decision = decide(_config(tmp_path, {}, feedback=False), tmp_path / "models")
    assert not decision.run and "no feedback source" in decision.reasons[0]


def test_a_corpus_whose_feedback_is_all_bad_still_builds(tmp_path: Path) -> None:
    from training.corpus import build_corpus

    fixtures = Path(__file__).parent.parent / "fixtures" / "corpus"
    _write(tmp_path / "feedback.jsonl", [ROWS[2], ROWS[3]])
    data = {
        "name": "loop",
        "root": str(fixtures),
        "corpus": {
            "seed": 7,
            "sources": [
                {"path": "lantern_keeper.txt", "format": "novel", "name": "lantern"},
                {
                    "path": str(tmp_path / "feedback.jsonl"),
                    "format": "feedback",
                    "name": "player-feedback",
                },
            ],
        },
    }
    result = build_corpus(config_from_dict(data, base_dir=tmp_path), tmp_path / "corpus")
    info = result.stats["per_source"]["player-feedback"]
    assert info["dropped"] == {"rated bad": 1, "retried": 1}
    assert info["kept_after_dedup"] == {}


def test_the_model_card_says_how_much_feedback_went_in() -> None:
    stats = {
        "per_source": {
            "player-feedback": {
                "format": "feedback",
                "kept_after_dedup": {"action": 4, "quest": 1},
                "dropped": {"rated bad": 2, "retried": 3, HELD_OUT: 1},
            }
        }
    }
    card = render_card("loop", {}, {"feedback": {"rows": 11, "latest": "2026-11-02"}}, [], stats)
    assert "## Player feedback" in card
    assert "5 lines players rated good" in card
    assert "rated bad 2" in card and "retried 3" in card and "Feedback rows read: 11" in card


def test_in_a_conditioned_corpus_a_layout_prompt_comes_along_whole(tmp_path: Path) -> None:
    from textgamegen.text.layout import prompt_text, split_training_line
    from training.corpus import corpus_line

    facts = {"place": "Harbour Quay", "things": "the rope, the gull", "you": "wave"}
    story = ("The wind rose over the harbour.", '"Mind the tide," says Ferrin.')
    prompt = prompt_text("action", facts, story, "You wave")
    row = {
        "id": "c1",
        "time": "t",
        "label": "good",
        "kind": "action",
        "prompt": prompt,
        "text": "You wave at the gull, and it wheels away over the rope.",
    }
    path = _write(tmp_path / "feedback.jsonl", [row])
    conditioned = CorpusConfig(conditioned=True)
    (example,) = extract_feedback(path.read_text(), path, _source(), conditioned).examples
    assert example.facts == facts and example.story == story
    line = corpus_line(example)
    before, _tag, target = split_training_line(line)
    # The training line is the game's prompt, with the liked text where the opening was.
    assert before + "<|action|> You wave" == prompt and target == row["text"]
    (plain,) = extract_feedback(path.read_text(), path, _source(), CorpusConfig()).examples
    assert plain.facts is None and corpus_line(plain) == f"<|action|> {row['text']} <|endoftext|>"
    # A prompt in the older layout (no facts line) gives a plain line even here.
    row["prompt"] = "<|action|> You are in the Quay. <|endoftext|><|action|> You wave"
    path = _write(tmp_path / "feedback.jsonl", [row])
    (older,) = extract_feedback(path.read_text(), path, _source(), conditioned).examples
    assert older.facts is None


def test_held_out_lines_are_scored_on_their_target_only(tmp_path: Path) -> None:
    from textgamegen.models.random_model import build_random_model
    from textgamegen.text.layout import training_line
    from training.evaluate import load_model, model_nll
    from training.heldout import _target_nll

    tokenizer, model = load_model(build_random_model(tmp_path / "tiny", n_positions=128))
    plain = "<|action|> You push the gate and it swings open. <|endoftext|>"
    ids = tokenizer(plain, add_special_tokens=False)["input_ids"]
    whole, _ = model_nll(model, [ids], tokenizer.pad_token_id, "cpu")
    assert _target_nll(model, tokenizer, plain, "cpu") == pytest.approx(whole, rel=1e-4)
    paired = training_line(
        "action",
        {"place": "the Mill"},
        ("The wind rose.",),
        "You push the gate and it swings open.",
    )
    full_ids = tokenizer(paired, add_special_tokens=False)["input_ids"]
    everything, _count = model_nll(model, [full_ids], tokenizer.pad_token_id, "cpu")
    target = _target_nll(model, tokenizer, paired, "cpu")
    assert 0 < target < everything  # the story and facts are context, not scored


def test_the_readmes_feedback_source_is_found_beside_a_config_with_a_root(
    tmp_path: Path,
) -> None:
    import re

    from training.corpus import source_files

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = next(
        b for b in re.findall(r"```toml\n(.*?)```", readme, re.DOTALL) if "player-feedback" in b
    )
    source_table = block.split("[trigger]")[0]
    (tmp_path / "corpora").mkdir()
    (tmp_path / "corpora" / "story.txt").write_text("The door opens.\n", encoding="utf-8")
    (tmp_path / "my-narrator").mkdir()
    _write(tmp_path / "my-narrator" / "feedback.jsonl", ROWS)
    config_path = tmp_path / "my-narrator" / "config.toml"
    config_path.write_text(
        'name = "mine"\nroot = "../corpora"\n\n[[corpus.sources]]\npath = "story.txt"\n'
        'format = "novel"\n\n' + source_table,
        encoding="utf-8",
    )
    from training.config import load_config

    config = load_config(config_path)
    feedback = next(s for s in config.corpus.sources if s.format == "feedback")
    assert source_files(feedback, config.root, config.config_dir) == [
        (tmp_path / "my-narrator" / "feedback.jsonl").resolve()
    ]
