"""Prompts: the per-kind templates from ``assets/prompts.toml``, fitted to the model's window.

A prompt is written in the layout the narrator was trained on (``text/layout.py``):
the recent story as tagged lines, one bracketed facts line (the room, the things in view,
the command, the speaker, the world's own text), then the opening of the line the model is
to finish. Prompt tokens plus ``max_new_tokens`` never exceed the model's context: the
oldest story lines go first, then the prompt is cut from the left (AI Dungeon 2 crashed at
1024). Pure Python; the tokenizer comes in as a ``TokenCodec``.
"""

from __future__ import annotations

import re
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

from textgamegen import paths
from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.safe_text import strip_unsafe
from textgamegen.text import layout
from textgamegen.text.tags import TAGS
from textgamegen.text.tags import tagged_line as tagged_line

# Template names: one per kind of request, plus a free-form attempt and the colour line
# after authored text.
TEMPLATE_NAMES = (*(kind.value for kind in ContentKind), "attempt", "colour")
FIELDS = (
    "room",
    "command",
    "action",
    "subject",
    "Subject",
    "entities",
    "speaker",
    "Speaker",
    "persona",
    "topic",
)
RERANK_PARTS = ("complete", "mentions", "novelty", "length", "logprob", "canon", "grounded")

# Anything that looks like a special token, so typed text can never inject one.
_TAG_LIKE = re.compile(r"<\s*\|[^|>]{0,40}\|\s*>|<\||\|>")
_SPACES = re.compile(r"\s+")
_ARTICLES = ("the ", "a ", "an ", "some ")


class PromptError(ValueError):
    """A prompts file is wrong; the message names the file and the key."""


class TokenCodec(Protocol):
    """The two tokenizer calls prompt fitting needs (no special tokens added)."""

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: list[int]) -> str: ...


@dataclass
class KindTemplate:
    """How to prompt for one kind of text.

    Attributes:
        tag: the corpus tag of the line the model writes ("action", "dialogue", "quest").
        facts: which facts go into the facts line (``layout.FACT_KEYS``).
        opening: the start of the line the model finishes; shown as part of the text.
        fallback: the text used when the model gives nothing usable.
        story_lines: the most recent story lines this kind is given; None: the
            ``[prompt] max_story_lines``. The world's own pairs are trained with no story,
            so a kind learnt only from them is prompted the same way.
        sentences: the most sentences a line of this kind keeps (None: no limit); the
            model stops writing there. A small narrator's first sentence follows the
            facts; what it adds after is where it makes things up.
        common_words: the line may use only this many of the most common words of the
            narrator's lexicon, besides the words on screen (None: the whole lexicon).
            The rare words a small narrator reaches for are things the room does not have
            ("an altar" in a chapel with none, "a stone railing" on a street).
    """

    tag: str
    facts: list[str]
    opening: str
    fallback: str
    story_lines: int | None = None
    sentences: int | None = None
    common_words: int | None = None


@dataclass
class ChatTemplate:
    """How to prompt an instruct model behind a chat API (``[chat]`` in the prompts file).

    Attributes:
        system: the system message: the narration style sheet and its rules.
        ask: what to write, when a kind has no ask of its own (or lacks its fields).
        asks: what to write, per template name, with the fields ``opening`` takes.
    """

    system: str = ""
    ask: str = "Write the next line of the story."
    asks: dict[str, str] = field(default_factory=dict)


@dataclass
class PromptTemplates:
    """Every kind's template plus the prompt and rerank settings, and where they came from."""

    kinds: dict[str, KindTemplate]
    separator: str = ""
    max_story_lines: int = 3
    rerank: dict[str, float] = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    chat: ChatTemplate = field(default_factory=ChatTemplate)


@dataclass
class ChatPrompt:
    """A chat prompt: the messages, and the same shown opening and sentence limit as the
    completion prompt of the same request.

    Attributes:
        messages: ``{"role", "content"}`` dicts, system first.
        text: the messages as one text, for the model panel and the feedback records.
        opening: the shown start of the text (the model is asked to go on from it).
        sentences: the most sentences the line keeps (None: no limit).
        story_lines: how many story lines made it in.
        dropped_lines: story lines left out for the budget or ``max_story_lines``.
    """

    messages: list[dict[str, str]]
    text: str
    opening: str
    sentences: int | None = None
    story_lines: int = 0
    dropped_lines: int = 0


@dataclass
class Prompt:
    """A prompt fitted to the token budget.

    Attributes:
        text: the prompt as the model sees it.
        ids: its token ids.
        opening: the shown start of the text (the model's output follows it).
        tag: the tag of the line being written.
        story_lines: how many story lines made it in.
        dropped_lines: story lines left out for the budget or ``max_story_lines``.
        truncated: the prompt had to be cut from the left.
        sentences: the most sentences the line keeps (None: no limit).
        common_words: how many of the lexicon's most common words the line may use
            besides those on screen (None: all of them).
    """

    text: str
    ids: list[int]
    opening: str
    tag: str
    story_lines: int = 0
    dropped_lines: int = 0
    truncated: bool = False
    sentences: int | None = None
    common_words: int | None = None


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise PromptError(f"{path}: {error}") from None


def _check_fields(text: str, where: str) -> None:
    """Only plain ``{field}``: a format spec (``{action:>300000000}``) or conversion could
    make a template allocate gigabytes, so both are refused when the file is read."""
    try:
        parts = [
            (name, spec, conversion)
            for _, name, spec, conversion in string.Formatter().parse(text)
            if name is not None
        ]
    except ValueError as error:
        raise PromptError(f"{where}: {error}") from None
    for name, spec, conversion in parts:
        # Only plain {field}: a width such as {action:>300000000} would allocate gigabytes.
        if spec or conversion:
            shown = "{" + name + ("!" + conversion if conversion else "")
            shown += (":" + spec if spec else "") + "}"
            raise PromptError(
                f"{where}: {shown[:60]}: only plain {{field}} is allowed, no conversion or format"
            )
    names = [name for name, _, _ in parts]
    for name in names:
        if name not in FIELDS:
            raise PromptError(f"{where}: unknown field {{{name}}} (known: {', '.join(FIELDS)})")


def _kind_template(data: Any, where: str) -> KindTemplate:
    if not isinstance(data, dict):
        raise PromptError(f"{where}: must be a table")
    unknown = sorted(
        set(data)
        - {"tag", "facts", "opening", "fallback", "story_lines", "sentences", "common_words"}
    )
    if unknown:
        hint = " (prompts now give `facts`, not `context` lines)" if "context" in unknown else ""
        raise PromptError(f"{where}: unknown key {unknown[0]}{hint}")
    tag = data.get("tag")
    if tag not in TAGS:
        raise PromptError(f"{where} tag: must be one of {', '.join(TAGS)}, not {tag!r}")
    facts = data.get("facts", [])
    if not isinstance(facts, list) or not all(isinstance(key, str) for key in facts):
        raise PromptError(f"{where} facts: must be a list of fact names")
    for key in facts:
        if key not in layout.FACT_KEYS:
            raise PromptError(
                f"{where} facts: unknown fact {key!r} (known: {', '.join(layout.FACT_KEYS)})"
            )
    texts = {"opening": data.get("opening", ""), "fallback": data.get("fallback", "")}
    for key, value in texts.items():
        if not isinstance(value, str):
            raise PromptError(f"{where} {key}: must be a string")
        _check_fields(value, f"{where} {key}")
    story_lines = data.get("story_lines")
    if story_lines is not None and (
        not isinstance(story_lines, int) or isinstance(story_lines, bool) or story_lines < 0
    ):
        raise PromptError(f"{where} story_lines: must be 0 or more")
    sentences = data.get("sentences")
    if sentences is not None and (
        not isinstance(sentences, int) or isinstance(sentences, bool) or not 1 <= sentences <= 9
    ):
        raise PromptError(f"{where} sentences: must be a whole number from 1 to 9")
    common_words = data.get("common_words")
    if common_words is not None and (
        not isinstance(common_words, int)
        or isinstance(common_words, bool)
        or not 100 <= common_words <= 1_000_000
    ):
        raise PromptError(f"{where} common_words: must be a whole number from 100 to 1000000")
    return KindTemplate(
        tag,
        list(facts),
        texts["opening"],
        texts["fallback"],
        story_lines,
        sentences,
        common_words,
    )


def parse_templates(data: dict[str, Any], source: str) -> PromptTemplates:
    """Validate parsed TOML into templates; ``source`` names the file(s) in errors."""
    kinds_data = data.get("kinds", {})
    kinds = {}
    for name in TEMPLATE_NAMES:
        if name not in kinds_data:
            raise PromptError(f"{source}: [kinds.{name}] is missing")
        kinds[name] = _kind_template(kinds_data[name], f"{source}: [kinds.{name}]")
    prompt = data.get("prompt", {})
    separator = prompt.get("separator", "")
    max_story = prompt.get("max_story_lines", 3)
    if not isinstance(separator, str):
        raise PromptError(f"{source}: [prompt] separator: must be a string")
    if not isinstance(max_story, int) or max_story < 0:
        raise PromptError(f"{source}: [prompt] max_story_lines: must be 0 or more")
    rerank = {part: 1.0 for part in RERANK_PARTS}
    for key, value in data.get("rerank", {}).items():
        if key not in RERANK_PARTS:
            raise PromptError(f"{source}: [rerank] unknown key {key}")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
            raise PromptError(f"{source}: [rerank] {key}: must be a number, 0 or more")
        rerank[key] = float(value)
    chat = _chat_template(data.get("chat", {}), source)
    return PromptTemplates(kinds, separator, max_story, rerank, source.split(" + "), chat)


def _chat_template(data: Any, source: str) -> ChatTemplate:
    where = f"{source}: [chat]"
    if not isinstance(data, dict):
        raise PromptError(f"{where}: must be a table")
    unknown = sorted(set(data) - {"system", "ask", "asks"})
    if unknown:
        raise PromptError(f"{where}: unknown key {unknown[0]}")
    default = ChatTemplate()
    system = data.get("system", default.system)
    ask = data.get("ask", default.ask)
    asks = data.get("asks", {})
    for key, value in (("system", system), ("ask", ask)):
        if not isinstance(value, str):
            raise PromptError(f"{where} {key}: must be a string")
    _check_fields(ask, f"{where} ask")
    if not isinstance(asks, dict):
        raise PromptError(f"{where} asks: must be a table")
    for name, value in asks.items():
        if name not in TEMPLATE_NAMES:
            raise PromptError(
                f"{where} asks: unknown kind {name!r} (known: {', '.join(TEMPLATE_NAMES)})"
            )
        if not isinstance(value, str):
            raise PromptError(f"{where} asks.{name}: must be a string")
        _check_fields(value, f"{where} asks.{name}")
    return ChatTemplate(system.strip(), ask.strip(), dict(asks))


def user_prompts_file() -> Path:
    """Where a modder's override lives when the settings name none."""
    return paths.user_data_dir() / "prompts.toml"


def load_templates(override: Path | str | None = None) -> PromptTemplates:
    """The shipped templates, with a modder's file laid over them.

    Args:
        override: a prompts file from the settings; when empty, the user data folder's
            ``prompts.toml`` is used if it exists.

    Returns:
        The validated templates.

    Raises:
        PromptError: a file is unreadable or wrong (the message names file and key).
    """
    shipped = paths.prompts_file()
    data = _read_toml(shipped)
    sources = [str(shipped)]
    user = Path(override).expanduser() if override else user_prompts_file()
    if override and not user.is_file():
        raise PromptError(f"{user}: prompts file not found")
    if user.is_file():
        data = _merge(data, _read_toml(user))
        sources.append(str(user))
    return parse_templates(data, " + ".join(sources))


def clean_field(text: str) -> str:
    """Make typed or world text safe to put in a prompt: no escapes, tags or runs of space."""
    text = strip_unsafe(text, keep_newlines=False)
    text = _TAG_LIKE.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def _capitalised_name(name: str) -> str:
    if not name:
        return ""
    if name[0].isupper() or name.lower().startswith(_ARTICLES):
        return name[0].upper() + name[1:]
    return "The " + name


def _action(command: str) -> str:
    if not command:
        return ""
    first = command.split(None, 1)[0].lower()
    if first in ("you", "i"):
        rest = command.split(None, 1)[1] if " " in command else ""
        return f"You {rest}".strip()
    return f"You {command}"


def _listing(names: list[str]) -> str:
    names = [
        name if name[:1].isupper() or name.lower().startswith(_ARTICLES) else f"the {name}"
        for name in names
    ]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def request_fields(request: ContentRequest) -> dict[str, str]:
    """The template fields for a request, every value cleaned."""
    subject = clean_field(request.subject)
    speaker = clean_field(request.speaker)
    command = clean_field(request.command)
    entities = [name for name in (clean_field(e) for e in request.entities) if name]
    return {
        "room": clean_field(request.room),
        "command": command,
        "action": _action(command),
        "subject": subject,
        "Subject": _capitalised_name(subject),
        "entities": _listing(entities),
        "speaker": speaker,
        "Speaker": _capitalised_name(speaker),
        "persona": clean_field(request.persona),
        "topic": clean_field(request.topic),
    }


def template_name(request: ContentRequest) -> str:
    """Which template a request uses: colour after authored text, a free-form attempt,
    or its kind's."""
    if request.authored.strip():
        return "colour"
    if request.attempt:
        return "attempt"
    return request.kind.value


def template_for(request: ContentRequest, templates: PromptTemplates) -> KindTemplate:
    return templates.kinds[template_name(request)]


def request_facts(request: ContentRequest) -> dict[str, str]:
    """Every fact the request can give (``layout.FACT_KEYS``); a template picks some."""
    values = request_fields(request)
    subject = values["subject"]
    others = [clean_field(name) for name in request.entities]
    others = [name for name in others if name and name.casefold() != subject.casefold()]
    if request.speaker:
        others = [name for name in others if name.casefold() != values["speaker"].casefold()]
    described = (
        subject if request.kind is ContentKind.ROOM else _listing([subject]) if subject else ""
    )
    speaker = values["speaker"]
    if speaker and values["persona"]:
        speaker = f"{speaker}, {values['persona']}"
    return {
        "describe": described,
        "place": values["room"],
        "things": ", ".join(_listing([name]) for name in others[:6]),
        "you": values["command"],
        "speaker": speaker,
        "about": values["topic"] if values["topic"] != "greeting" else "a greeting",
        # An attempt has no text of its own; the room's is what it must agree with.
        "known": clean_field(request.authored or request.room_text),
        "tone": clean_field(request.tone),
    }


def _fill(text: str, values: dict[str, str]) -> str | None:
    """The text with its fields filled, or None when a field it uses is empty."""
    names = [name for _, name, _, _ in string.Formatter().parse(text) if name]
    if any(not values.get(name) for name in names):
        return None
    return text.format_map(values)


def story_tag(line: str) -> str:
    return layout.story_tag(line)


def opening_text(request: ContentRequest, templates: PromptTemplates) -> str:
    """The shown start of the text for a request ("" when the template has none)."""
    opening = _fill(template_for(request, templates).opening, request_fields(request))
    return opening or ""


def fallback_text(request: ContentRequest, templates: PromptTemplates) -> str:
    """The request's own fallback, else the template's, filled. Empty only for a colour
    line after authored text, where nothing more needs saying."""
    if request.fallback.strip():
        return strip_unsafe(request.fallback).strip()
    if request.authored.strip():
        return ""
    values = request_fields(request)
    filled = _fill(template_for(request, templates).fallback, values)
    if filled is None:
        filled = _fill(templates.kinds["action"].fallback, values)
    return strip_unsafe(filled or "").strip() or "Nothing happens."


def build_prompt(
    request: ContentRequest, templates: PromptTemplates, codec: TokenCodec, budget: int
) -> Prompt:
    """Assemble the prompt for a request within ``budget`` tokens.

    Args:
        request: what to write.
        templates: the prompt templates.
        codec: the model's tokenizer.
        budget: the most prompt tokens allowed (context - ``max_new_tokens``).

    Returns:
        The fitted prompt. The facts line and the opening are always kept; story lines
        are added newest first while they fit; if even the rest is too long it is cut
        from the left, so the opening is never lost.
    """
    budget = max(1, budget)
    template = template_for(request, templates)
    values = request_fields(request)
    # A line cut short goes on from its own words, which began with the opening.
    opening = request.begun or _fill(template.opening, values) or ""
    every = request_facts(request)
    facts = {key: every[key] for key in template.facts if every.get(key)}
    fixed_text = layout.facts_part(template.tag, facts) + layout.opening_part(template.tag, opening)
    fixed_ids = codec.encode(fixed_text)

    recent, dropped = _recent_story(request, templates, every["known"])
    used: list[tuple[str, list[int]]] = []
    room = budget - len(fixed_ids)
    for line in reversed(recent):
        (line_text,) = layout.story_lines([line])
        line_ids = codec.encode(line_text)
        if len(line_ids) > room:
            break
        used.append((line_text, line_ids))
        room -= len(line_ids)
    used.reverse()
    dropped += len(recent) - len(used)

    ids = [token for _, line_ids in used for token in line_ids] + fixed_ids
    truncated = len(ids) > budget
    if truncated:
        ids = ids[-budget:]
        text = codec.decode(ids)
    else:
        text = "".join(line_text for line_text, _ in used) + fixed_text
    return Prompt(
        text,
        ids,
        opening,
        template.tag,
        len(used),
        dropped,
        truncated,
        template.sentences,
        template.common_words,
    )


def _recent_story(
    request: ContentRequest, templates: PromptTemplates, known: str
) -> tuple[list[str], int]:
    """The story lines a request's kind is given, cleaned, oldest first, and how many
    were left out by ``max_story_lines``."""
    template = template_for(request, templates)
    story = [clean_field(line) for line in request.story]
    # The authored text is in the facts (known); the same words again as story would
    # only spend the budget.
    story = [line for line in story if line and line != known]
    most = templates.max_story_lines if template.story_lines is None else template.story_lines
    recent = story[-most:] if most else []
    return recent, len(story) - len(recent)


def build_chat_prompt(
    request: ContentRequest, templates: PromptTemplates, budget: int
) -> ChatPrompt:
    """The chat prompt for a request within ``budget`` characters: the same facts, story
    and opening as ``build_prompt``, as a system message (``[chat] system``) and a user
    message (the recent story, the facts, what to write).

    Args:
        request: what to write.
        templates: the prompt templates (their ``chat`` part and the request's kind).
        budget: the most characters the messages may take; story lines go first, oldest
            first, and the facts and the ask are always kept.

    Returns:
        The chat prompt.
    """
    template = template_for(request, templates)
    values = request_fields(request)
    # A line cut short goes on from its own words, which began with the opening.
    opening = request.begun or _fill(template.opening, values) or ""
    every = request_facts(request)
    facts = {key: every[key] for key in template.facts if every.get(key)}
    name = template_name(request)
    ask = _fill(templates.chat.asks.get(name, ""), values) or templates.chat.ask
    if template.sentences == 1:
        ask += " One sentence."
    elif template.sentences:
        ask += f" At most {template.sentences} sentences."
    if opening:
        ask += f' Go on from these words, without repeating them: "{opening}"'
    fixed = ["Facts:", *layout.fact_lines(facts), "", ask]
    system = templates.chat.system
    room = max(0, budget) - len(system) - len("\n".join(fixed))
    recent, dropped = _recent_story(request, templates, every["known"])
    kept: list[str] = []
    for line in reversed(recent):
        if len(line) + 1 > room - len("Recent story:\n\n"):
            break
        kept.insert(0, line)
        room -= len(line) + 1
    dropped += len(recent) - len(kept)
    story = ["Recent story:", *kept, ""] if kept else []
    user = "\n".join([*story, *fixed])
    messages = [{"role": "user", "content": user}]
    if system:
        messages.insert(0, {"role": "system", "content": system})
    text = "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)
    return ChatPrompt(messages, text, opening, template.sentences, len(kept), dropped)
