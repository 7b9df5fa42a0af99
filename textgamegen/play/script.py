"""Scripted playthroughs: run a game headless from a script and check expectations.

A script is plain text, one entry per line:

- ``# ...`` is a comment; blank lines are skipped.
- A line starting with ``?`` is an expectation, checked against the game after the
  commands above it:

  - ``? room NAME``           the current room's name or key is NAME
  - ``? has ITEM``            the player carries ITEM (name, alias or key)
  - ``? lacks ITEM``          the player does not carry ITEM
  - ``? here ITEM``           ITEM (or an NPC) is in the current room
  - ``? quest "TITLE" STATE`` the quest (title or key) is done, active or "not started"
  - ``? output contains "TEXT"``  the last command's output (engine text and prose)
    contains TEXT, ignoring case
  - ``? output lacks "TEXT"``     ... does not contain TEXT
  - ``? flag NAME``           the story flag NAME is set
  - ``? turn N``              N turns have passed
  - ``? won`` / ``? not won`` the game is (not) won

- Any other line is a command, passed to ``Game.step`` as typed. ``quit`` ends the run.

The game is played through a ``PlaySession``, as in the TUI: every request the game makes
is written by the generator and handed back by the session's one rule, so the transcript
holds the prose too. Nothing streams (there is no reader), so a model writes every
candidate and ranks them, and nothing is written ahead. An optional feedback session
records every step and narration; it cannot change the run. With the same world, seed and
generator the transcript is byte-identical (it holds no timings).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from textgamegen.engine.content import EventKind, StepResult
from textgamegen.engine.game import Game
from textgamegen.engine.parser import noun_words
from textgamegen.engine.world import QUEST_STATES
from textgamegen.narration.generator import Generator
from textgamegen.play.feedback import FeedbackSession
from textgamegen.play.session import Passage, PlaySession
from textgamegen.safe_text import terminal_safe

EXPECTATION_HELP = """\
script lines: a command, '# comment', or an expectation:
  ? room NAME                  ? has ITEM              ? lacks ITEM
  ? here ITEM                  ? quest "TITLE" done|active|"not started"
  ? output contains "TEXT"     ? output lacks "TEXT"   ? flag NAME
  ? turn N                     ? won                   ? not won"""


class ScriptError(ValueError):
    """The script file cannot be read."""


@dataclass
class Failure:
    """An expectation that did not hold."""

    line: int
    expectation: str
    actual: str

    def __str__(self) -> str:
        return f"line {self.line}: expected {self.expectation!r}, but {self.actual}"


@dataclass
class Prose:
    kind: str
    text: str
    cache_key: str | None = None


@dataclass
class TranscriptEntry:
    """One command and everything it printed (line 0 is the opening)."""

    line: int
    command: str
    events: list[tuple[str, str]] = field(default_factory=list)
    prose: list[Prose] = field(default_factory=list)
    turn: int = 0
    won: bool = False

    def output(self) -> list[str]:
        # A passage that showed nothing (the world's text left to stand alone) prints no
        # blank line.
        return [text for _, text in self.events] + [p.text for p in self.prose if p.text]


@dataclass
class PlaythroughReport:
    """What a script run found.

    Attributes:
        narrations: prose requests the narrator settled.
        fallbacks: how many of them it did not write itself (the template's text stood
            in: a model server down, a line that broke the facts, nothing usable).
        notices: the narrator's notices, each once, in order.
    """

    ok: bool
    failures: list[Failure] = field(default_factory=list)
    transcript: list[TranscriptEntry] = field(default_factory=list)
    checked: int = 0
    won: bool = False
    narrations: int = 0
    fallbacks: int = 0
    notices: list[str] = field(default_factory=list)

    def heard(self, passages: list[Passage], on_notice: Callable[[str], object] | None) -> None:
        """Count the passages the narrator settled and pass on each new notice."""
        for passage in passages:
            narration = passage.narration
            if not passage.fallback and (narration is None or not narration.text):
                continue  # dropped, or the world's own text left to stand alone
            self.narrations += 1
            self.fallbacks += passage.fallback
            notice = narration.notice if narration is not None else ""
            if notice and notice not in self.notices:
                self.notices.append(notice)
                if on_notice is not None:
                    on_notice(notice)

    def as_text(self) -> str:
        """``> command`` then its output, one blank line between commands.

        Every piece goes through ``terminal_safe``: a script line or a world's text may
        carry escapes that would clear the screen or retitle the window."""
        blocks = []
        for entry in self.transcript:
            lines = [f"> {entry.command}"] if entry.line else []
            lines += entry.output()
            blocks.append("\n".join(terminal_safe(line) for line in lines))
        return "\n\n".join(blocks) + "\n"

    def as_jsonl(self) -> str:
        """One JSON object per command, in order, every string made ``terminal_safe``."""
        rows = []
        for entry in self.transcript:
            row = {key: _safe_strings(value) for key, value in asdict(entry).items()}
            row["events"] = [
                {"kind": terminal_safe(kind), "text": terminal_safe(text)}
                for kind, text in entry.events
            ]
            rows.append(json.dumps(row, ensure_ascii=False, sort_keys=True))
        return "\n".join(rows) + "\n"


def _safe_strings(value: object) -> object:
    """``value`` with every string in it made ``terminal_safe`` (dicts, lists, tuples)."""
    if isinstance(value, str):
        return terminal_safe(value)
    if isinstance(value, dict):
        return {key: _safe_strings(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe_strings(item) for item in value]
    return value


def read_script(path: Path) -> list[tuple[int, str]]:
    """The script's meaningful lines with their 1-based numbers.

    Raises:
        ScriptError: the file cannot be read as UTF-8 text, or an expectation is malformed.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScriptError(f"{path}: cannot read the script: {error}") from None
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            # A typo in an expectation is the script's fault, not the game's: say so now,
            # before any turn is played, rather than as a failure when the run gets there.
            problem = malformed(stripped[1:]) if stripped.startswith("?") else None
            if problem is not None:
                raise ScriptError(f"{path}:line {number}: {problem}: {stripped!r}")
            lines.append((number, stripped))
    return lines


def _transcribe(
    entry: TranscriptEntry, game: Game, result: StepResult, passages: list[Passage]
) -> None:
    entry.events = [(event.kind, event.text) for event in result.events]
    for passage in passages:
        if passage.failure:
            entry.events.append((EventKind.ERROR, f"(generator failed: {passage.failure})"))
        entry.prose.append(
            Prose(passage.request.kind.value, passage.text, passage.request.cache_key)
        )
    entry.turn = game.turn
    entry.won = game.won


def _matches(game: Game, key: str, phrase: str) -> bool:
    words = noun_words(phrase)
    if key == phrase.strip().casefold():
        return True
    return any(noun_words(name) == words for name in game.names_of(key))


def _parts(expectation: str) -> tuple[str, str, list[str], bool]:
    """The expectation's first word, the rest unquoted, the rest's words, and whether the
    rest's quotes match."""
    what, _, raw = expectation.strip().partition(" ")
    what, raw = what.casefold(), raw.strip()
    # Names are taken as written (they may hold apostrophes); quotes around them are optional.
    rest = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'" else raw
    try:
        return what, rest, shlex.split(raw), True
    except ValueError:
        return what, rest, raw.split(), False


def malformed(expectation: str) -> str | None:
    """Why an expectation cannot be checked whatever the game's state (its form, not the
    game: an unknown word, a missing name, unmatched quotes), or None when it can."""
    what, rest, args, quoted = _parts(expectation)
    if not what:
        return "the expectation is empty"
    if what in ("room", "has", "lacks", "here", "flag"):
        return None if rest else f"write: ? {what} NAME"
    if what in ("quest", "output") and not quoted:
        return "the expectation's quotes do not match"
    if what == "quest":
        if len(args) < 2:
            return 'write: ? quest "TITLE" done'
        if " ".join(args[1:]).casefold() not in QUEST_STATES:
            return f"quest state must be one of {', '.join(QUEST_STATES)}"
        return None
    if what == "output":
        if len(args) < 2 or args[0] not in ("contains", "lacks"):
            return 'write: ? output contains "TEXT" (or lacks)'
        return None
    if what == "turn":
        return None if rest.isdigit() else "write: ? turn N"
    if (what == "won" and not args) or (what == "not" and args == ["won"]):
        return None
    return "unknown expectation (see textgamegen play --help)"


def check(game: Game, expectation: str, output: list[str]) -> str | None:
    """None when the expectation holds, else a description of the actual state (or of
    what is wrong with the expectation itself)."""
    problem = malformed(expectation)
    if problem is not None:
        return problem
    what, rest, args, _ = _parts(expectation)
    room = game.room()
    if what == "room":
        if rest.casefold() in (room.name.casefold(), room.key.casefold()):
            return None
        return f"the room is {room.name!r} ({room.key})"
    if what in ("has", "lacks"):
        carried = game.carried_items()
        held = any(_matches(game, key, rest) for key in carried)
        if held == (what == "has"):
            return None
        names = ", ".join(game.name_of(key) for key in carried) or "nothing"
        return f"the player carries: {names}"
    if what == "here":
        keys = game.visible_items() + game.npcs_here()
        if any(_matches(game, key, rest) for key in keys):
            return None
        return f"here: {', '.join(game.name_of(key) for key in keys) or 'nothing'}"
    if what == "quest":
        title, state = args[0], " ".join(args[1:]).casefold()
        for key, quest in game.world.quests.items():
            if title.casefold() in (key.casefold(), quest.title.casefold()):
                actual = game.state.quests[key]
                return None if actual == state else f"quest {quest.title!r} is {actual}"
        return f"there is no quest {title!r}"
    if what == "output":
        needle = " ".join(args[1:]).casefold()
        found = any(needle in line.casefold() for line in output)
        if found == (args[0] == "contains"):
            return None
        shown = " / ".join(output)[:300]
        return f"the output was: {shown!r}"
    if what == "flag":
        return None if rest in game.state.flags else f"flags set: {sorted(game.state.flags)}"
    if what == "turn":
        return None if int(rest) == game.turn else f"the turn is {game.turn}"
    if what == "won":
        return None if game.won else "the game is not won"
    return None if not game.won else "the game is won"


def run_script(
    script: Path,
    game: Game,
    generator: Generator,
    feedback: FeedbackSession | None = None,
    on_notice: Callable[[str], object] | None = None,
) -> PlaythroughReport:
    """Play a script headless.

    Args:
        script: the script file.
        game: the game to play, usually fresh from ``Game.new``.
        generator: writes every prose request.
        feedback: records every step and narration (feedback recording).
        on_notice: hears each of the narrator's notices once, as it comes (a model
            server that does not answer), so a long run is not silent about it.

    Returns:
        The report: ``ok`` when every expectation held, the failures, the transcript.

    Raises:
        ScriptError: the script file cannot be read, or an expectation in it is malformed
            (raised before the first command is played).
    """
    lines = read_script(script)
    report = PlaythroughReport(ok=True)
    # Each narration loop runs here as it starts: a step returns with its prose handed back.
    session = PlaySession(game, feedback=feedback, stream=False)
    session.use_generator(generator)
    opening = TranscriptEntry(line=0, command="")
    intro = game.intro()
    session.take(intro)
    passages = session.take_passages()
    report.heard(passages, on_notice)
    _transcribe(opening, game, intro, passages)
    report.transcript.append(opening)
    output = opening.output()
    for number, line in lines:
        if line.startswith("?"):
            report.checked += 1
            expectation = line[1:].strip()
            actual = check(game, expectation, output)
            if actual is not None:
                report.failures.append(Failure(number, expectation, actual))
            continue
        entry = TranscriptEntry(line=number, command=line)
        result = session.step(line)
        passages = session.take_passages()
        report.heard(passages, on_notice)
        _transcribe(entry, game, result, passages)
        report.transcript.append(entry)
        output = entry.output()
        if result.quit:
            break
    report.ok = not report.failures
    report.won = game.won
    return report
