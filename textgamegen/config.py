"""Player settings: model, device, sampling and game options, from a TOML file.

The file lives in the platformdirs config folder (``TEXTGAMEGEN_CONFIG`` overrides it). A
missing file means defaults; a broken one is reported and the defaults are used, so a
typo never stops the game from starting.
"""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

from textgamegen import paths
from textgamegen.endpoint import EndpointError, is_model_url, parse_model_url


class SettingsError(ValueError):
    """A settings file or value is wrong; the message names the file and the key."""


_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
DEVICES = ("auto", "cpu", "cuda")
"""Where the model runs; ``auto`` is CUDA when available, else the CPU."""
DTYPES = ("auto", "float32", "bfloat16", "float16")
"""The model weights' dtype; ``auto`` picks one for the device."""
MAX_NOTE_CHARS = 200
"""The note to the narrator is one short line of facts (``engine.world.MAX_TONE_CHARS``)."""
THEMES = (
    "textual-dark",
    "textual-light",
    "nord",
    "gruvbox",
    "catppuccin-mocha",
    "catppuccin-latte",
    "dracula",
    "tokyo-night",
    "monokai",
    "flexoki",
    "solarized-dark",
    "solarized-light",
    "rose-pine",
    "rose-pine-dawn",
    "atom-one-dark",
    "atom-one-light",
)
"""Colour themes Textual ships (named here, as settings import no Textual; a test checks
each is one of Textual's); the terminal's own 16 colours are left out, as the story's
styles need more."""
QUANTIZE = ("auto", "off", "int8", "int4", "dynamic")
"""Fewer bits on the CPU: ``int8`` rounds the weights only (per output channel, activations
in bfloat16); ``int4`` decodes from a base that already is 4-bit (Q4_1), keeping an
adapter's change beside it; ``dynamic`` rounds the activations too; ``auto`` takes int8
where it measures faster and costs no quality."""


def setting(default: Any, help: str, choices: tuple[str, ...] = ()) -> Any:
    """A settings field whose help, and fixed choices if any, live in its metadata: the
    settings screen's tooltips and drop-downs, the CLI's flags and the checks read them."""
    return field(default=default, metadata={"help": help, "choices": choices})


def field_help(kind: type) -> dict[str, str]:
    """Each field's help line, by name (for tooltips and ``--help``)."""
    return {item.name: item.metadata.get("help", "") for item in fields(kind)}


def one_of(choices: tuple[str, ...]) -> str:
    """``("auto", "cpu", "cuda")`` -> "auto, cpu or cuda", for messages and help."""
    return ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else "".join(choices)


@dataclass
class SamplingSettings:
    """How the local model (GPT-2, Llama) samples. Defaults follow the seed's listing."""

    do_sample: bool = setting(True, "Sample rather than decode greedily.")
    top_k: int = setting(50, "Keep only the k most likely next tokens.")
    top_p: float = setting(
        0.95, "Nucleus sampling: keep the smallest set of tokens whose probability sums to p."
    )
    # 0.5 (from 1.0), by a blind read of the narrator's attempts on the held-out worlds
    # (2026-12-06, 60 lines each, scored 0-2 by a strict reader): 1.0 scored 0.28 where
    # 0.7 scored 0.62 (one reader), and 0.7 0.33, 0.5 0.48, 0.3 0.47 (another reader).
    temperature: float = setting(0.5, "Softmax temperature; lower is safer and duller.")
    repetition_penalty: float = setting(1.1, "Penalty on tokens already in the prompt or output.")
    num_candidates: int = setting(
        5, "Candidates sampled per request; the best is shown, all are listed in the model panel."
    )
    max_new_tokens: int = setting(40, "Upper bound on the length of one narration, in tokens.")
    min_words: int = setting(4, "Shorter candidates lose points when reranked.")
    max_words: int = setting(60, "Longer candidates lose points when reranked.")
    # 6 rather than 3: on 100 action and 100 quest situations of bench.narrator_quality the
    # share naming a thing of the facts went 54% -> 86% and 77% -> 84%, with complete
    # sentences (100%) and distinct-2 (0.87 -> 0.86, 0.82 -> 0.84) kept.
    grounding_boost: float = setting(
        6.0,
        "Logit bonus for the first tokens of the names in the prompt's facts, until the line "
        "has named one of them (0 turns it off). Keeps a small narrator on this game's things.",
    )
    # Off by default: in a blind read on the held-out worlds (2026-12-06) none of 42 such
    # lines was one a player would gladly read and 20 contradicted the game, while the
    # world's own text they followed always scored 2. The narrator writes where the
    # world has no text.
    colour: bool = setting(
        False,
        "After the world's own text (a room, a person's words, a quest), have the narrator "
        "add a line of its own. Off: the world's text stands alone.",
    )

    # 1, not num_candidates: a model server bills or queues every candidate, and one
    # streamed line is what the player reads anyway.
    server_candidates: int = setting(
        1,
        "Candidates asked of a model server (openai: and openai-chat: models) per request when "
        "a line is ranked rather than streamed; each one costs the server time, or money on a "
        "paid one.",
    )
    stream: bool = setting(
        True,
        "Show the line word by word as one sample is written, so the first word comes "
        "soonest. Off: several candidates are written, checked and ranked, and the best is "
        "shown whole (the first word comes later; fewer lines go wrong).",
    )

    # Blind reads caught made-up words read as things of the room ("You polish a silver
    # budvain.", "a footpost", "the firebarn's iron grate"). Read blind again on the
    # held-out worlds (2026-12-06, four readings of 24-30 attempts each), lines that
    # contradict the game went from 33% to 23% with this on, mean score 0.83 -> 0.85.
    known_words: bool = setting(
        True,
        "Write only words of the narrator's training sources or of the text on screen, so "
        "it makes up no words (needs the lexicon.json shipped with the model).",
    )

    # Blind reads on the held-out worlds: six of the nine streamed lines readers marked
    # as contradicting the game named a thing nothing on screen gives ("the oven" in a
    # smithy with none). See narration/things.py.
    seen_things: bool = setting(
        True,
        "Keep a streamed line to the things on screen: a phrase naming something the room, "
        "what is in view and the story do not give is written again before it is shown.",
    )

    def __post_init__(self) -> None:
        if self.top_k < 0:
            raise SettingsError("sampling.top_k must be 0 or more")
        if not 0.0 < self.top_p <= 1.0:
            raise SettingsError("sampling.top_p must be in (0, 1]")
        if self.temperature <= 0.0:
            raise SettingsError("sampling.temperature must be above 0")
        if self.repetition_penalty < 1.0:
            raise SettingsError("sampling.repetition_penalty must be 1.0 or more")
        if not 1 <= self.num_candidates <= 16:
            raise SettingsError("sampling.num_candidates must be between 1 and 16")
        if not 1 <= self.server_candidates <= 16:
            raise SettingsError("sampling.server_candidates must be between 1 and 16")
        if not 1 <= self.max_new_tokens <= 512:
            raise SettingsError("sampling.max_new_tokens must be between 1 and 512")
        if not 0 <= self.min_words <= self.max_words:
            raise SettingsError("sampling.min_words must be between 0 and max_words")
        if not 0.0 <= self.grounding_boost <= 10.0:
            raise SettingsError("sampling.grounding_boost must be between 0 and 10")


@dataclass
class Settings:
    """Everything a player can set; saved as TOML."""

    model: str = setting(
        "narrator",
        "Generator: a registry name, a model or adapter directory, gguf:PACKAGE, a hub id, "
        '"template", or a model server: openai:http://HOST:PORT/v1#MODEL (textgamegen '
        "serve-model, vLLM) or openai-chat:http://HOST:PORT/v1#MODEL (Ollama, LM Studio, "
        "llama.cpp, KoboldCpp, any chat API).",
    )
    api_key_env: str = setting(
        "",
        "The name of the environment variable that holds the model server's API key (such "
        "as OPENAI_API_KEY), sent as Authorization: Bearer; the key itself is never saved.",
    )
    device: str = setting(
        "auto",
        f"Where the model runs: {one_of(DEVICES)}; auto is CUDA when available, else the CPU.",
        DEVICES,
    )
    theme: str = setting(
        "textual-dark",
        "Colours of the game: a Textual theme (also in the palette, Ctrl+P: 'Theme: ...').",
        THEMES,
    )
    note: str = setting(
        "",
        "A word to the narrator on how to tell each new game ('darker, more rain'), given "
        "with every line beside the world's own tone; in a game, 'note TEXT' changes it.",
    )
    show_model_panel: bool = setting(
        False, "Show the panel with the prompt, candidates and timings (F2): a tool for modders."
    )
    show_special_tokens: bool = setting(
        False,
        "Show the prompt in the model panel as the model reads it, special tokens and all.",
    )
    autosave_every: int = setting(
        5, "Autosave after this many turns (0 turns it off); the game also saves on quit."
    )
    dtype: str = setting(
        "auto",
        "Model weights: auto (fp16 on CUDA, bf16 on CPUs with native bf16, else fp32), "
        "float32, bfloat16 or float16 (CUDA only).",
        DTYPES,
    )
    quantize: str = setting(
        "auto",
        "On the CPU: int8 keeps the linear layers' weights in int8 (one scale per output "
        "channel, activations in bfloat16): half the bytes per token of bfloat16; its cost in "
        "bits per byte is measured by `python -m bench.weights` (README). auto (with dtype = "
        "auto) takes int8 when it measures faster "
        "here and a probe text's loss rises by at most 1%, else the dtype's own weights. "
        "dynamic rounds the activations too and wrecks SmolLM2's prose (test perplexity "
        "20.5 -> 274); off keeps the dtype's weights. Older files' true reads as int8. "
        "int4 decodes from the base's own 4-bit weights (a Q4_1 GGUF base, as the shipped "
        "narrators have) with the adapter's change added beside them, and prompts from "
        "int8: a little faster than int8 with AVX-512, not with AVX2 only.",
        QUANTIZE,
    )
    threads: int = setting(
        0,
        "CPU threads for the model; 0 chooses before each line: every core (up to 8), less "
        "one for each core other programs kept busy.",
    )
    prefetch: bool = setting(
        True,
        "While you read, write the descriptions of the rooms next door and of the things in "
        "view ahead of time, so they show at once when you go there or look at them. Uses "
        "the model when it would otherwise be idle; turn it off to save power or CPU.",
    )
    record_feedback: bool = setting(
        True,
        "Keep a record of each narration (model, timings, your ratings, Esc, retry, undo) in "
        "feedback.db in the user data folder, for `textgamegen monitor` and retraining. It "
        "never leaves this machine unless you export it.",
    )
    max_bad_rate: float = setting(
        0.25,
        "`textgamegen monitor` flags a model when more of its passages than this share were "
        "rated bad or retried.",
    )
    prompts: str = setting(
        "",
        "A prompts.toml laid over the shipped prompt templates; empty uses "
        "<user data folder>/prompts.toml when it exists.",
    )
    sampling: SamplingSettings = field(default_factory=SamplingSettings)

    def __post_init__(self) -> None:
        if is_model_url(self.model):
            try:
                parse_model_url(self.model)
            except EndpointError as error:
                raise SettingsError(f"model: {error}") from None
        if self.api_key_env and not _ENV_NAME.fullmatch(self.api_key_env):
            raise SettingsError(
                "api_key_env must be the NAME of an environment variable (letters, digits, "
                "_), such as OPENAI_API_KEY; the key itself belongs in that variable"
            )
        if self.device not in DEVICES:
            raise SettingsError(f"device must be {one_of(DEVICES)}")
        if self.autosave_every < 0:
            raise SettingsError("autosave_every must be 0 or more")
        if self.dtype not in DTYPES:
            raise SettingsError(f"dtype must be {one_of(DTYPES)}")
        if len(self.note) > MAX_NOTE_CHARS or any(not c.isprintable() for c in self.note):
            raise SettingsError(f"note must be one line of at most {MAX_NOTE_CHARS} characters")
        if self.theme not in THEMES:
            raise SettingsError(f"theme must be one of {one_of(THEMES)}")
        if isinstance(self.quantize, bool):  # files from before the choices were named
            self.quantize = "int8" if self.quantize else "off"
        if self.quantize not in QUANTIZE:
            raise SettingsError(f"quantize must be {one_of(QUANTIZE)}")
        if self.threads < 0:
            raise SettingsError("threads must be 0 or more")
        if not 0.0 <= self.max_bad_rate <= 1.0:
            raise SettingsError("max_bad_rate must be between 0 and 1")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "settings") -> Settings:
        data = dict(data)
        sampling = data.pop("sampling", {}) or {}
        try:
            _check_keys(cls, data, source, "")
            _check_keys(SamplingSettings, sampling, source, "sampling.")
            return cls(**data, sampling=SamplingSettings(**sampling))
        except (TypeError, SettingsError) as error:
            raise SettingsError(f"{source}: {error}") from None


def _check_keys(kind: type, data: dict[str, Any], source: str, prefix: str) -> None:
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise SettingsError(f"unknown key {prefix}{unknown[0]}")


def load_settings(path: Path | None = None) -> Settings:
    """Read settings; a missing file gives the defaults, a broken one raises SettingsError."""
    path = path or paths.config_file()
    if not path.exists():
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"{path}: {error}") from None
    return Settings.from_dict(data, source=str(path))


def settings_or_defaults(path: Path | None = None) -> tuple[Settings, str]:
    """The player's settings, or the defaults when the file is broken: a typo in the
    settings never stops the game or a command.

    Returns:
        (settings, notice): the notice is "" when the file was read (or is missing), else
        one line naming the file and the fault, for the caller to show its own way.
    """
    try:
        return load_settings(path), ""
    except SettingsError as error:
        return Settings(), f"settings not read, using defaults: {error}"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _write_toml(data: dict[str, Any], path: Path) -> Path:
    """Settings as TOML (top-level keys, then ``[sampling]``), written atomically, so a
    crash never leaves half a file."""
    from textgamegen.atomic import write_atomic

    data = dict(data)
    sampling = data.pop("sampling")
    lines = [f"{key} = {_toml_value(value)}" for key, value in data.items()]
    lines += ["", "[sampling]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in sampling.items()]
    write_atomic(path, "\n".join(lines) + "\n")
    return path


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write settings as TOML, atomically, so a crash never leaves half a file."""
    return _write_toml(settings.to_dict(), path or paths.config_file())


PLAYER_SETTINGS = (
    "show_model_panel",
    "show_special_tokens",
    "autosave_every",
    "prefetch",
    "record_feedback",
    "theme",
    "note",
)
"""What a web player of ``serve`` may set for themselves, with all of ``sampling``: none of
these loads a model, names a host file or changes the host's machine (the model, device,
dtype, threads and prompts file stay the host's)."""


def player_part(settings: Settings) -> dict[str, Any]:
    """The part of ``settings`` a web player owns (``PLAYER_SETTINGS`` and sampling)."""
    data = settings.to_dict()
    return {key: data[key] for key in (*PLAYER_SETTINGS, "sampling")}


def with_player_settings(host: Settings, path: Path) -> Settings:
    """The host's settings with a web player's own file laid over them.

    Raises:
        SettingsError: the file is broken or sets what only the host may (the model, ...).
    """
    if not path.exists():
        return host
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise SettingsError(f"{path.name}: {error}") from None
    hosts_own = sorted(set(data) - {*PLAYER_SETTINGS, "sampling"})
    if hosts_own:
        raise SettingsError(f"{path.name}: {hosts_own[0]} is the host's to set")
    merged = host.to_dict()
    merged.update({key: value for key, value in data.items() if key != "sampling"})
    merged["sampling"] = {**merged["sampling"], **(data.get("sampling") or {})}
    return Settings.from_dict(merged, source=path.name)


def save_player_settings(settings: Settings, path: Path) -> Path:
    """Write only a web player's part of ``settings`` (``player_part``) to their own file."""
    return _write_toml(player_part(settings), path)


def game_settings() -> tuple[Settings, str]:
    """The settings a game starts with: the player's (``settings_or_defaults``); in a
    game of ``serve``, the host's with the web player's own file laid over them.

    Returns:
        (settings, notice), the notice "" unless a file could not be read.
    """
    settings, notice = settings_or_defaults()
    player_file = paths.player_settings_file()
    if player_file is None:
        return settings, notice
    try:
        return with_player_settings(settings, player_file), notice
    except SettingsError as error:
        return settings, f"your settings were not read, using the host's: {error}"


def narrator_for(world_narrator: str, settings: Settings, chosen: str | None = None) -> str:
    """The model to narrate a world with.

    Args:
        world_narrator: the narrator the world is written for (``narrator = "alice"``),
            "" when it names none.
        settings: the player's settings; a model other than the default there is the
            player's choice.
        chosen: the model named for this session (``--model``), if any.

    Returns:
        ``chosen``, else the player's own choice, else the world's narrator, else the default.
    """
    if chosen:
        return chosen
    if settings.model != Settings().model:
        return settings.model
    return world_narrator or settings.model
