"""The pipeline's TOML config: sources, corpus, fine-tune, evaluate, gate and register settings.

A config file looks like this (paths are relative to ``root``, which is relative to the
config file itself)::

    name = "mymodel"                 # the registry name the model is registered under
    root = "../corpora"

    [corpus]
    seed = 1
    ratios = { train = 0.9, dev = 0.05, test = 0.05 }
    expect_tags = ["action", "dialogue", "quest"]

    [[corpus.sources]]
    path = "novels/*.txt"
    format = "novel"                 # novel | dialogue-export | transcript | open-adventure |
                                     # zork-strings | world | feedback
    licence = "Public domain in the USA"

    [finetune]
    base = "scratch:small"
    epochs = 4

    [gate]
    max_latency_ms = 300

    [trigger]                        # for `train pipeline --if-triggered`
    min_new_rows = 200
    max_bad_rate = 0.3

    [tracking]                       # optional MLflow logging (pip install 'textgamegen[tracking]')
    mlflow = true

Every section is optional except ``[[corpus.sources]]``. Each dataclass checks its values in
``__post_init__`` and raises ``ConfigError`` naming the key. Each field's help (and its
choices, where fixed) is in its metadata (``setting``, as in the game's ``config.py``): the
training CLI makes the stages' flags from it.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

from textgamegen.config import setting
from training import TAGS
from training.grounding import TAGGERS
from training.sentences import SPLITTERS
from training.splits import SPLIT_MODES

FORMATS = (
    "novel",
    "dialogue-export",
    "transcript",
    "open-adventure",
    "zork-strings",
    "world",
    "feedback",
)
FEEDBACK_LABELS = ("good", "kept")
"""The feedback labels a source may train on; the others (bad, retried, ...) never."""
ENCODINGS_AUTO = "auto"
METHODS = ("full", "lora")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")
EVALUATE_DEVICES = ("cpu", "cuda", "auto")
REGISTER_DTYPES = ("float32", "float16")


class ConfigError(ValueError):
    """A config file or value is wrong; the message names the file and the key."""


CONFIG_PREFIX = "config:"
"""A source path relative to the config file rather than to its root."""


@dataclass
class Source:
    """One input: a file or a glob of files in one format."""

    path: str = setting(
        MISSING,
        "File or glob, relative to the config's root; or ``config:PATH``, relative to the "
        "config file (the game's own worlds travel with the checkout, not with the corpora). "
        "Kept as written, so lineage and the model card never hold this machine's paths.",
    )
    format: str = setting(
        MISSING,
        "novel, dialogue-export, transcript, open-adventure, zork-strings, world or feedback.",
        FORMATS,
    )
    name: str = setting("", "Name used in stats.json and the model card (default: the path).")
    encoding: str = setting(
        ENCODINGS_AUTO,
        "auto (UTF-8 with or without BOM, else Windows-1252/Latin-1) or a Python codec name.",
    )
    tag: str = setting(
        "auto",
        "auto: novels tag quoted speech dialogue and the rest action; the other formats "
        "quest. Or one of action, dialogue, quest for every line of this source.",
    )
    text_column: str = setting(
        "text", "dialogue-export: the header name of the column that holds the line."
    )
    min_words: int = setting(0, "Drop shorter texts (0: the corpus-wide min_words).")
    licence: str = setting("", "Licence or status of the text, copied into the model card.")
    origin: str = setting(
        "", "Where the text came from (edition, repository), copied into the model card."
    )
    max_examples: int = setting(
        0,
        "Keep at most this many examples of this source, sampled with the corpus seed after "
        "de-duplication (0: all). Sizes a corpus to the training time there is.",
    )
    repeat: int = setting(
        1, "Times each train-split example of this source appears (small, precious sources)."
    )
    labels: list[str] = field(
        default_factory=lambda: ["good"],
        metadata={
            "help": 'feedback: the labels whose lines are trained on. "good" (rated good) '
            'by default; "kept" (shown and let stand, not rated) is a weak signal, taken '
            "only when named here."
        },
    )
    model: str = setting(
        "", "feedback: only the lines of this model (as `feedback export` names it; '': all)."
    )
    model_version: str = setting(
        "",
        "feedback: only the lines of this version of the model: its registered version, "
        "or its weights' sha256 or a prefix of it ('': all).",
    )
    exclude: list[str] = field(
        default_factory=list,
        metadata={
            "help": "File names (globs) the path matches but that are left out: the worlds "
            "held out from training, on which the narrator's quality is measured."
        },
    )

    def __post_init__(self) -> None:
        if not isinstance(self.max_examples, int) or self.max_examples < 0:
            raise ConfigError(f"source {self.path!r}: max_examples must be 0 or more")
        if not isinstance(self.repeat, int) or self.repeat < 1:
            raise ConfigError(f"source {self.path!r}: repeat must be 1 or more")
        if not isinstance(self.exclude, list) or not all(
            isinstance(name, str) and name for name in self.exclude
        ):
            raise ConfigError(f"source {self.path!r}: exclude must be a list of file names")
        if (
            not isinstance(self.labels, list)
            or not self.labels
            or not all(label in FEEDBACK_LABELS for label in self.labels)
        ):
            raise ConfigError(
                f"source {self.path!r}: labels must list one or both of "
                f"{', '.join(FEEDBACK_LABELS)} (got {self.labels!r})"
            )
        if self.format != "feedback" and (
            self.model or self.model_version or self.labels != ["good"]
        ):
            raise ConfigError(
                f"source {self.path!r}: labels, model and model_version are for "
                'format = "feedback" only'
            )
        if self.format not in FORMATS:
            raise ConfigError(
                f"source {self.path!r}: format must be one of {', '.join(FORMATS)}"
                f" (got {self.format!r})"
            )
        if self.tag != "auto" and self.tag not in TAGS:
            raise ConfigError(f"source {self.path!r}: tag must be auto or one of {', '.join(TAGS)}")
        if self.encoding != ENCODINGS_AUTO:
            import codecs

            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ConfigError(
                    f"source {self.path!r}: unknown encoding {self.encoding!r}"
                ) from None
        if not self.name:
            self.name = self.path


@dataclass
class CorpusConfig:
    """How the sources become tagged, de-duplicated, shuffled and split lines."""

    sources: list[Source] = field(
        default_factory=list,
        metadata={"help": "The inputs: one ``[[corpus.sources]]`` table each."},
    )
    ratios: dict[str, float] = field(
        default_factory=lambda: {"train": 0.90, "dev": 0.05, "test": 0.05},
        metadata={"help": "Split sizes; must sum to 1."},
    )
    seed: int = setting(1, "Seed of the deterministic shuffle.")
    split: str = setting(
        "stratified",
        "stratified: each tag is split by the ratios on its own, so a rare kind still has "
        "dev and test lines (or the build stops, naming it, when an expected tag has too "
        "few); shuffled: one split of the whole shuffled list (how the shipped models' "
        "corpora were split, kept so that they reproduce).",
        SPLIT_MODES,
    )
    test_set: str = setting(
        "",
        "A frozen test set for this model line: a file of corpus lines, relative to the "
        "config file. The first build writes the test split there; later builds test on "
        "exactly those lines and keep their texts out of train and dev, so the figures of "
        "retrains compare. Commit the file beside the config. '': a new test split each "
        "build.",
    )
    test_set_sha256: str = setting(
        "",
        "The frozen test set's sha256 (printed when it is written): a build refuses a "
        "test_set file that has changed. '': not checked.",
    )
    expect_tags: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Tags that must have examples in every split (validation fails otherwise)."
        },
    )
    sentence_splitter: str = setting(
        "builtin",
        "How prose is cut into sentences: builtin (Punkt with a built-in list of English "
        "abbreviations; the same on every machine) or punkt_tab (NLTK's trained model; needs "
        "its data through NLTK_DATA, else the build stops). The two give different lines and "
        "splits, so the choice is the config's, never the machine's.",
        SPLITTERS,
    )
    noun_tagger: str = setting(
        "chunker",
        "conditioned: how a sentence's nouns (its facts' things) are found: chunker (the "
        "head words of determiner phrases; no data, the same everywhere) or nltk (NLTK's "
        "part-of-speech tagger; needs its model through NLTK_DATA, else the build stops).",
        TAGGERS,
    )
    min_words: int = setting(3, "Drop texts with fewer words (fragments, headings).")
    max_words: int = setting(
        80, "Longer game texts are cut at sentence ends; longer sentences are dropped."
    )
    max_undecodable: float = setting(
        0.001, "Fraction of undecodable characters in a file above which it is rejected."
    )
    ascii_quotes: bool = setting(
        True,
        "Write typographic quotes and apostrophes as ASCII, so all sources share one spelling.",
    )
    conditioned: bool = setting(
        False,
        "Write each example as a training pair in the game's prompt layout: the sentence "
        "before it, a facts line (its nouns, its speaker) and the sentence as the target "
        "(see training/grounding.py). The loss is then taken on the target only.",
    )
    story_words: int = setting(
        30, "conditioned: a story line longer than this many words is left out of the prompt."
    )
    names_in_facts: bool = setting(
        False,
        "conditioned: drop a sentence that names a person or place (a capitalised word not "
        "at its start) its facts do not give, so the model never learns to bring in a cast "
        'of its own ("said the Mock Turtle" in an abbey).',
    )
    train_repeat: dict[str, int] = field(
        default_factory=dict,
        metadata={
            "help": "Times each line of a tag appears in the train split ({quest = 3}): a "
            "rare kind gets more updates. Dev and test are never repeated, so perplexity "
            "stays honest."
        },
    )

    def __post_init__(self) -> None:
        self.sources = [
            s if isinstance(s, Source) else _make(Source, s, "corpus.sources") for s in self.sources
        ]
        for tag, times in self.train_repeat.items():
            if tag not in TAGS or not isinstance(times, int) or times < 1:
                raise ConfigError(
                    f"corpus.train_repeat.{tag}: use a tag from {', '.join(TAGS)} "
                    "and a whole number of times, 1 or more"
                )
        if set(self.ratios) != {"train", "dev", "test"}:
            raise ConfigError("corpus.ratios must have exactly the keys train, dev and test")
        if any(not isinstance(v, (int, float)) or v < 0 for v in self.ratios.values()):
            raise ConfigError("corpus.ratios must be numbers of 0 or more")
        total = sum(self.ratios.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ConfigError(f"corpus.ratios must sum to 1 (they sum to {total:g})")
        if self.split not in SPLIT_MODES:
            raise ConfigError(
                f"corpus.split must be one of {', '.join(SPLIT_MODES)} (got {self.split!r})"
            )
        if self.test_set_sha256 and not self.test_set:
            raise ConfigError("corpus.test_set_sha256 needs corpus.test_set (the file)")
        if self.noun_tagger not in TAGGERS:
            raise ConfigError(
                f"corpus.noun_tagger must be one of {', '.join(TAGGERS)} (got {self.noun_tagger!r})"
            )
        if self.sentence_splitter not in SPLITTERS:
            raise ConfigError(
                f"corpus.sentence_splitter must be one of {', '.join(SPLITTERS)} "
                f"(got {self.sentence_splitter!r})"
            )
        bad = [t for t in self.expect_tags if t not in TAGS]
        if bad:
            raise ConfigError(f"corpus.expect_tags: unknown tag(s) {bad}; use {', '.join(TAGS)}")
        if self.min_words < 1 or self.max_words < self.min_words:
            raise ConfigError("corpus.min_words must be 1 or more and at most corpus.max_words")
        if not 0.0 <= self.max_undecodable < 1.0:
            raise ConfigError("corpus.max_undecodable must be in [0, 1)")


@dataclass
class FinetuneConfig:
    """How the model is trained (HF Trainer); every field is a --flag of ``finetune`` too."""

    base: str = setting(
        "scratch:small",
        "A hub id (gpt2), a local HF model directory, gguf:PACKAGE or gguf:PATH (a GGUF "
        "file, unpacked once into the user cache), or scratch:SIZE (toy, small, base, gpt2, "
        "gpt2-medium).",
    )
    method: str = setting(
        "full",
        "full (every weight) or lora (a PEFT LoRA adapter on every projection, plus the "
        "special tokens' embedding rows; registered small and merged into the base at load).",
        METHODS,
    )
    lora_r: int = setting(16, "lora: the adapter's rank.")
    lora_alpha: int = setting(32, "lora: the adapter's scale (alpha / r multiplies its update).")
    lora_dropout: float = setting(0.05, "lora: dropout on the adapter's input.")
    vocab_size: int = setting(
        8192, "scratch only: size of the byte-level BPE vocabulary trained on the train split."
    )
    block_size: int = setting(
        0, "Tokens per packed training block (0: the model's context, n_positions)."
    )
    epochs: float = setting(4.0, "Passes over the train split.")
    max_steps: int = setting(
        -1, "Stop after this many optimizer steps (-1: run all epochs); for smoke runs."
    )
    effective_batch: int = setting(
        64, "Blocks per optimizer step, reached by gradient accumulation across devices."
    )
    batch_size: int = setting(16, "Blocks per forward pass on one device.")
    learning_rate: float = setting(
        5e-4, "Peak learning rate (cosine decay after a linear warm-up)."
    )
    warmup_steps: int = setting(0, "Linear warm-up steps (0: 5% of the run).")
    weight_decay: float = setting(0.1, "AdamW weight decay.")
    precision: str = setting(
        "auto",
        "auto (bf16 where supported, else fp16 on CUDA, else fp32), bf16, fp16 or fp32.",
        PRECISIONS,
    )
    seed: int = setting(
        1, "Seed of the run: a scratch model's first weights and the order of the blocks."
    )
    threads: int = setting(
        0,
        "CPU threads for training (0: the machine's cores, shared between torchrun's "
        "processes). Recorded in lineage: another count can change the last bits of a sum, "
        "and so the weights.",
    )
    max_train_samples: int = setting(
        0, "Debug knob: keep only the first N corpus lines of the train split (0: all)."
    )
    eval_steps: int = setting(
        0, "Evaluate on dev every N steps as well as every epoch (0: only every epoch)."
    )
    save_total_limit: int = setting(2, "Checkpoints kept in the run directory.")
    logging_steps: int = setting(10, "Log the training loss every N optimizer steps.")

    def __post_init__(self) -> None:
        if not self.base:
            raise ConfigError("finetune.base must not be empty")
        if self.precision not in PRECISIONS:
            raise ConfigError("finetune.precision must be auto, bf16, fp16 or fp32")
        for key in ("effective_batch", "batch_size", "vocab_size", "logging_steps"):
            if getattr(self, key) < 1:
                raise ConfigError(f"finetune.{key} must be 1 or more")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ConfigError("finetune.epochs must be above 0 (or set finetune.max_steps)")
        if self.learning_rate <= 0:
            raise ConfigError("finetune.learning_rate must be above 0")
        if not isinstance(self.threads, int) or self.threads < 0:
            raise ConfigError("finetune.threads must be 0 (the machine's cores) or more")
        if self.block_size < 0:
            raise ConfigError("finetune.block_size must be 0 (the model's context) or more")
        if self.method not in METHODS:
            raise ConfigError("finetune.method must be full or lora")
        if self.method == "lora" and self.base.startswith("scratch:"):
            raise ConfigError("finetune.method lora needs a pretrained base, not scratch:SIZE")
        if self.lora_r < 1 or self.lora_alpha < 1 or not 0 <= self.lora_dropout < 1:
            raise ConfigError(
                "finetune.lora_r and lora_alpha must be 1 or more, lora_dropout in [0, 1)"
            )


@dataclass
class EvaluateConfig:
    """What ``evaluate`` measures."""

    device: str = setting(
        "cpu",
        "Where the model is scored and timed: cpu, cuda or auto (CUDA when there is one).",
        EVALUATE_DEVICES,
    )
    latency_runs: int = setting(10, "Narrations generated to take the median latency.")
    narration_tokens: int = setting(
        30, "Tokens per narration in the latency run (the game's typical length)."
    )
    samples_per_tag: int = setting(3, "Narrations sampled per tag for the model card.")
    max_new_tokens: int = setting(40, "Upper bound on a sample's length.")
    seed: int = setting(1, "Seed of the sampling (latency runs and samples).")
    max_test_lines: int = setting(
        0,
        "Score about N test lines (0: all): each tag's first lines in its share of the split, "
        "and at least one of every tag.",
    )
    compare_with: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Other models scored on the same test lines for the model card "
            '(registered names, model or adapter dirs, gguf: bases), e.g. ["tiny"]; bits per '
            "byte compares them."
        },
    )

    def __post_init__(self) -> None:
        if self.device not in EVALUATE_DEVICES:
            raise ConfigError("evaluate.device must be cpu, cuda or auto")
        if self.latency_runs < 1 or self.narration_tokens < 1:
            raise ConfigError("evaluate.latency_runs and evaluate.narration_tokens must be 1+")
        if not isinstance(self.compare_with, list) or not all(
            isinstance(m, str) and m for m in self.compare_with
        ):
            raise ConfigError("evaluate.compare_with must be a list of model names or folders")


@dataclass
class GateConfig:
    """What a model must reach to be registered."""

    max_perplexity: float = setting(
        0.0, "Test perplexity must be at or under this (0: no fixed bound)."
    )
    max_latency_ms: float = setting(
        300.0, "Median ms per narration must be at or under this (0: no bound)."
    )
    max_first_token_ms: float = setting(
        0.0, "Median ms to the first generated token (0: no bound)."
    )
    max_latency_ratio: float = setting(
        0.0,
        "Median ms per narration must be at or under this multiple of the production "
        "version's, both measured by the gate in the same run on the same fixed requests "
        "(1.25: at most 25% slower; 0: off).",
    )
    latency_requests: int = setting(
        3, "For max_latency_ratio: the fixed requests (the first test lines) each model narrates."
    )
    compare_registered: bool = setting(
        True, "Perplexity must not be worse than the model already registered under the name."
    )
    tolerance: float = setting(
        0.0, "Allowed relative worsening against the registered model (0.02: 2%; 0 or more)."
    )
    beat_baseline: bool = setting(True, "Every tag's perplexity must beat the bigram baseline.")
    beat_base: bool = setting(
        False,
        "Every tag's bits per byte must beat the base's before fine-tuning (scored on the "
        "same test lines by the evaluate stage; needs a pretrained base, not scratch).",
    )

    def __post_init__(self) -> None:
        if (
            isinstance(self.latency_requests, bool)
            or not isinstance(self.latency_requests, int)
            or self.latency_requests < 1
        ):
            raise ConfigError(
                f"gate.latency_requests must be a whole number, 1 or more "
                f"(got {self.latency_requests!r})"
            )
        for key in ("max_perplexity", "max_latency_ms", "max_first_token_ms", "max_latency_ratio"):
            value = getattr(self, key)
            if not _is_number(value) or not 0 <= value < math.inf:
                raise ConfigError(
                    f"gate.{key} must be a number, 0 (no bound) or more (got {value!r})"
                )
        # Above 1 is allowed: 1 lets the new model be twice as bad, and a test that is
        # about the loop rather than the refusal sets 10000.
        if not _is_number(self.tolerance) or not 0 <= self.tolerance < math.inf:
            raise ConfigError(
                "gate.tolerance must be a number, 0 or more: 0.02 lets the new model be 2% "
                f"worse than the registered one (got {self.tolerance!r})"
            )
        for key in ("compare_registered", "beat_baseline", "beat_base"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"gate.{key} must be true or false (got {getattr(self, key)!r})")


@dataclass
class RegisterConfig:
    """Where and how a model that passes the gate is registered."""

    models_dir: str = setting(
        "", "Target models directory (default: the user's models dir); relative to the config."
    )
    dtype: str = setting(
        "float32",
        "Weights as registered: float32, or float16 for shipped models (half the size).",
        REGISTER_DTYPES,
    )
    max_weights_mb: float = setting(
        0.0, "Refuse to register weights larger than this (0: no bound)."
    )
    promote: bool = setting(
        True,
        "Make a model that passed the gate production at once; false: it is registered as "
        "the candidate, for `textgamegen models promote NAME VERSION`.",
    )
    keep_versions: int = setting(
        5,
        "Versions of the name kept in the models directory (the oldest go first; production "
        "and the candidate are always kept).",
    )

    def __post_init__(self) -> None:
        if self.dtype not in REGISTER_DTYPES:
            raise ConfigError("register.dtype must be float32 or float16")
        if not isinstance(self.promote, bool):
            raise ConfigError(f"register.promote must be true or false (got {self.promote!r})")
        if (
            isinstance(self.keep_versions, bool)
            or not isinstance(self.keep_versions, int)
            or self.keep_versions < 1
        ):
            raise ConfigError(
                f"register.keep_versions must be a whole number, 1 or more "
                f"(got {self.keep_versions!r})"
            )


@dataclass
class TriggerConfig:
    """When ``train pipeline --if-triggered`` runs: either condition is enough."""

    min_new_rows: int = setting(
        200,
        "Run when the feedback sources hold at least this many rows newer than the feedback "
        "the registered model was trained on (0: this condition is off).",
    )
    max_bad_rate: float = setting(
        0.3, "Run when the share of those new rows rated bad or retried is above this (1: off)."
    )

    def __post_init__(self) -> None:
        if self.min_new_rows < 0:
            raise ConfigError("trigger.min_new_rows must be 0 or more")
        if not 0.0 <= self.max_bad_rate <= 1.0:
            raise ConfigError("trigger.max_bad_rate must be between 0 and 1")


@dataclass
class TrackingConfig:
    """Logging each pipeline run to MLflow as well (every run's record for ``train runs`` is
    written either way)."""

    mlflow: bool = setting(
        False,
        "Log each `train pipeline` run to MLflow: the config as params; the evaluation and "
        "gate figures and the training loss per step as metrics; the model card, the curve "
        "PNG, stats.json, metrics and lineage as artifacts; the gate decision and the "
        "registered version and alias as tags. Needs MLflow (`pip install "
        "'textgamegen[tracking]'`): the pipeline stops before any work when it is missing. "
        "A store that fails mid-run is warned about and noted in the run record; the "
        "training goes on.",
    )
    store: str = setting(
        "",
        "Where MLflow keeps the runs ('': the SQLite file mlflow.db in the run directory). "
        "A file path, or sqlite:///PATH, is a SQLite file, relative to the config file; "
        "artifacts go to mlartifacts/ beside it. Any other tracking URI (http://HOST:PORT "
        "for an MLflow server) is used as it is. Never recorded in lineage.",
    )
    experiment: str = setting(
        "", "The MLflow experiment the runs are logged to ('': the config's name)."
    )

    def __post_init__(self) -> None:
        if not isinstance(self.mlflow, bool):
            raise ConfigError(f"tracking.mlflow must be true or false (got {self.mlflow!r})")
        for key in ("store", "experiment"):
            if not isinstance(getattr(self, key), str):
                raise ConfigError(f"tracking.{key} must be a string (got {getattr(self, key)!r})")


@dataclass
class PipelineConfig:
    """A whole config file."""

    name: str
    corpus: CorpusConfig
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    register: RegisterConfig = field(default_factory=RegisterConfig)
    trigger: TriggerConfig = field(default_factory=TriggerConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    root: Path = Path(".")
    """Directory the source paths are relative to (resolved)."""
    config_dir: Path = Path(".")
    """Directory ``config:`` source paths are relative to: the config file's (resolved)."""
    path: Path | None = None
    """The config file, when loaded from one."""
    text: str = ""
    """The config file's text, recorded in lineage and the model card."""

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or self.name.startswith("."):
            raise ConfigError(f"name must be a plain model name (got {self.name!r})")


def _is_number(value: object) -> bool:
    """An int or float from TOML, and not a bool (which Python counts as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _make(cls: type, values: Any, section: str) -> Any:
    """Build a config dataclass from a TOML table, naming the section on unknown keys."""
    if not isinstance(values, dict):
        raise ConfigError(f"[{section}] must be a table")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(
            f"[{section}]: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    try:
        return cls(**values)
    except TypeError as error:  # a required key is missing
        raise ConfigError(f"[{section}]: {error}") from None


def load_config(path: str | Path, root: str | Path | None = None) -> PipelineConfig:
    """Read a pipeline config file.

    Args:
        path: the TOML file.
        root: overrides the file's ``root`` (the directory source paths are relative to).

    Returns:
        The parsed config, with ``root`` resolved.

    Raises:
        ConfigError: naming the file and the key that is wrong.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    try:
        return config_from_dict(
            data, base_dir=path.resolve().parent, root=root, path=path, text=text
        )
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None


def config_from_dict(
    data: dict,
    base_dir: Path,
    root: str | Path | None = None,
    path: Path | None = None,
    text: str = "",
) -> PipelineConfig:
    """Build a PipelineConfig from parsed TOML (tests use this directly)."""
    data = dict(data)
    known = {
        "name",
        "root",
        "corpus",
        "finetune",
        "evaluate",
        "gate",
        "register",
        "trigger",
        "tracking",
    }
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {', '.join(unknown)}")
    corpus = data.get("corpus")
    if not isinstance(corpus, dict) or not corpus.get("sources"):
        raise ConfigError("[[corpus.sources]] must list at least one source")
    root_dir = Path(root) if root is not None else base_dir / data.get("root", ".")
    return PipelineConfig(
        name=str(data.get("name", "")),
        corpus=_make(CorpusConfig, corpus, "corpus"),
        finetune=_make(FinetuneConfig, data.get("finetune", {}), "finetune"),
        evaluate=_make(EvaluateConfig, data.get("evaluate", {}), "evaluate"),
        gate=_make(GateConfig, data.get("gate", {}), "gate"),
        register=_make(RegisterConfig, data.get("register", {}), "register"),
        trigger=_make(TriggerConfig, data.get("trigger", {}), "trigger"),
        tracking=_make(TrackingConfig, data.get("tracking", {}), "tracking"),
        root=root_dir.resolve(),
        config_dir=base_dir.resolve(),
        path=path,
        text=text,
    )


def as_dict(obj: Any) -> dict:
    """A config dataclass as plain JSON-able data (for hashes, lineage and the card)."""
    data = dataclasses.asdict(obj)
    for key, value in list(data.items()):
        if isinstance(value, Path):
            data[key] = str(value)
    return data
