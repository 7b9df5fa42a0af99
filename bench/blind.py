"""A blind read of the narrator: its lines, other narrators' and the world's own, shuffled
with no labels and scored by a reader who sees the facts on screen for each line.

``make`` plays a world's script through the game's own loop (``Game.step``, every prose
request written by the narrator, ``play.script.run_script``) once per narrator and
seed, and records every line a narrator wrote with the facts that were on screen for it:
the room, the exits line, the people and things in view, what the player carries, the
command, the speaker and topic of dialogue, and the engine's own text shown before it
(authored text included). Where the world has its own text for that exact request (an
``attempts`` entry for a free-form command, a room's ``colour`` line for the line after its
text, else the authored text itself: a room's text, a topic's answer), that text joins as a
third source, ``authored``: the human-written control. It writes, under ``--out``:

- ``sheet.md`` and ``sheet.csv``: the lines shuffled with a fixed seed and numbered, no
  source named, each with its facts and two empty marks to fill in: ``score`` (2 = a player
  would gladly read it, 1 = readable but off or flat, 0 = broken) and ``contradicts`` (y/n;
  blank reads as n). With ``--auto-contradictions``, a ``canon flags`` column holds what
  ``textgamegen.text.canon.contradictions`` finds: a hint beside the reader's mark, never
  the mark;
- ``key.json``: which source, narrator, seed and world wrote each numbered line (hidden);
- ``records.json``: every recorded line with its request and facts, empty ones included
  (rewritten after each run, so a long run cut short keeps what it had; ``complete`` says
  whether the sheet was written).

A narrator named ``NAME+stream`` is ``NAME`` writing as it does in the TUI, where the line
is streamed to the player as it is written: one candidate, never swapped. Plain ``NAME``
writes as a script does: several candidates, the best by the rerank shown. ``NAME@T``
samples at temperature T, ``NAME~N`` keeps at most N sentences of each line (0: no
limit), ``NAME^N`` may use only the N most common words of its lexicon besides those on
screen (0: the whole lexicon), ``NAME+anywords`` writes with its spelling unguarded
(``sampling.known_words`` off), and ``NAME+anythings`` with its things unguarded
(``sampling.seen_things`` off). So ``--model narrator --model narrator+stream --model
narrator@0.7`` reads the three side by side (the model is loaded once).

Give the reader one sheet and nothing else. ``score`` reads the filled-in sheet (either
format) with the key and prints, per source: lines, % scored 2, % scored at least 1,
% scored 0, % contradicting the facts, and the mean score.

The same world, script, narrators and seeds give the same sheet byte for byte.

Run::

    python -m bench.blind make --world lanternfall --model narrator --model template \\
        --seeds 1,2 --out runs/blind --threads 2 --dtype bfloat16
    python -m bench.blind make --world my_world --script my_script.txt --model template \\
        --max-lines 30 --auto-contradictions --out runs/blind-mine
    # the reader fills in runs/blind/sheet.md (or sheet.csv), then:
    python -m bench.blind score runs/blind/sheet.md --key runs/blind/key.json \\
        --json runs/blind/scores.json --by kind
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import random
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from textgamegen.engine.content import ContentKind, ContentRequest, StepResult
from textgamegen.engine.game import Game
from textgamegen.engine.world import World
from textgamegen.narration.generator import Generator, Narration, TextSink
from textgamegen.play.feedback import FeedbackSession

REPO = Path(__file__).resolve().parent.parent
AUTHORED = "authored"
"""The source name of the world's own, human-written text (the control)."""
SHUFFLE_SEED = 20
KEY_VERSION = 1
SHEET_MD = "sheet.md"
SHEET_CSV = "sheet.csv"
KEY_FILE = "key.json"
RECORDS_FILE = "records.json"
OLDER_WALKTHROUGHS = {"lanternfall": "walkthrough.txt", "wonderland": "wonderland-walkthrough.txt"}
"""The first two worlds keep their walkthroughs where older tests and README name them."""
CSV_FACTS = (
    "kind",
    "where",
    "room_text",
    "exits",
    "people",
    "things",
    "carrying",
    "command",
    "speaker",
    "topic",
    "shown_before",
)
YES = ("y", "yes")
NO = ("", "n", "no")

Contradictions = Callable[[str, ContentRequest], Any]


class BlindError(ValueError):
    """Bad input for the kit (a world, a script, a sheet, a key); the message names it."""


@dataclass
class Facts:
    """What was on screen for a line: what the reader judges it against."""

    world: str
    room: str
    exits: str
    room_text: str = ""
    """The room's own text, which the player read on coming in: what is there besides
    the things listed (the dials, the headstones)."""
    people: list[str] = field(default_factory=list)
    things: list[str] = field(default_factory=list)
    carrying: list[str] = field(default_factory=list)
    command: str = ""
    speaker: str = ""
    topic: str = ""
    shown_before: list[str] = field(default_factory=list)
    """The engine's own text of this turn before the line (prose of other lines left out,
    so no line gives away who wrote another)."""


@dataclass
class Line:
    """One line written for one prose request, by a narrator or by the world's author."""

    world: str
    source: str
    """ "model" (a narrator wrote it) or "authored" (the world's own text)."""
    model: str
    """The narrator's name as asked for (``--model``); "authored" for the world's text."""
    seed: int | None
    kind: str
    ordinal: int
    """Which prose request of the run this is (1 = the first)."""
    step: int
    """Which command of the script asked for it (0 = the opening)."""
    text: str
    facts: Facts
    request: dict[str, Any]
    fallback: bool = False
    """The narrator gave nothing usable and the template's text was shown."""
    canon: list[str] | None = None
    """What ``canon.contradictions`` found (None: not checked)."""


@dataclass
class Run:
    """One narrator playing one world's script with one seed."""

    world: str
    model: str
    seed: int
    loaded: str = ""
    requests: int = 0
    narrated: int = 0
    lines: int = 0
    empty: int = 0
    fallbacks: int = 0
    seconds: float = 0.0
    won: bool = False
    failed_expectations: int = 0


def kind_label(request: ContentRequest) -> str:
    """What the game asked for, as the sheet shows it: "attempt", "action", "room", "item",
    "person", "scenery", "dialogue" or "quest", with " colour" when the world has its own
    text for the moment and the narrator writes what goes with it."""
    key = request.cache_key or ""
    if request.attempt:
        base = "attempt"
    elif request.kind is ContentKind.ITEM:
        described = {"npc": "person", "room": "scenery"}
        base = described.get(key.partition(":")[0], "item")
    else:
        base = request.kind.value
    return f"{base} colour" if request.authored else base


def _phrase(command: str) -> str:
    """A command as a world's ``attempts`` table keys it: lower case, single spaces."""
    return " ".join(command.casefold().strip().rstrip(".!?").split())


def authored_text(
    game: Game, request: ContentRequest, attempts: dict[str, dict[str, Any]] | None = None
) -> str:
    """The world's own text for this exact request, or "".

    An attempt in the room's ``attempts`` table (its ``needs`` in view or carried) gives its
    line; the line after a room's text gives one of the room's ``colour`` lines (picked by the
    room, so every narrator and seed is compared with the same one); anything else with
    authored text gives that text itself (a room's text, a topic's answer, a greeting).
    """
    room = game.room()
    if request.attempt:
        table = room.attempts if attempts is None else attempts.get(room.key, {})
        attempt = table.get(_phrase(request.command))
        in_view = game.visible_items() + game.carried_items()
        if attempt is not None and (not attempt.needs or attempt.needs in in_view):
            return attempt.text
    if request.kind is ContentKind.ROOM and request.authored:
        key = (request.cache_key or "").removeprefix("room:")
        colour = game.world.rooms[key].colour if key in game.world.rooms else ()
        if colour:
            return random.Random(f"{game.world.name}:{key}").choice(colour)
    return request.authored


def _flat(text: str) -> str:
    return " ".join(str(text).split())


class _Reader(FeedbackSession, Generator):
    """The generator and the observer of one scripted run.

    It has the narrator write the picked requests (all of them when ``picked`` is None) and
    the template the rest, unrecorded, and records each picked line with the facts on
    screen, and the world's own text for the same request beside it.
    """

    def __init__(
        self,
        game: Game,
        generator: Generator,
        model: str,
        seed: int,
        picked: set[int] | None,
        colour: bool = False,
    ) -> None:
        from textgamegen.narration.template import TemplateGenerator

        super().__init__(None)
        self.game = game
        self.generator = generator
        self.filler = TemplateGenerator()
        self.model = model
        self.seed = seed
        self.picked = picked
        self.colour = colour
        """Whether a line after the world's own text is the narrator's to write (the
        ``colour`` setting); when not, such requests are nobody's and are not counted."""
        self.attempts: dict[str, dict[str, Any]] | None = None
        """The world's own attempt lines by room, when the game plays without them."""
        self.name = generator.name or model
        self.backend = generator.backend
        self.device = generator.device
        self.dtype = generator.dtype
        self.path = None
        self.notice = ""
        self.ordinal = 0
        self.step = -1
        self.events: list[str] = []
        self.chosen = False
        self.lines: list[Line] = []
        self.authored: list[Line] = []

    def generate(
        self,
        request: ContentRequest,
        on_text: TextSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Narration:
        if request.authored and not self.colour:
            # The world's text stands alone, as in play with `colour` off.
            self.chosen = False
            return self.filler.generate(request, on_text, cancel)
        self.ordinal += 1
        self.chosen = self.picked is None or self.ordinal in self.picked
        writer = self.generator if self.chosen else self.filler
        return writer.generate(request, on_text, cancel)

    def stepped(self, result: StepResult) -> None:
        self.step += 1
        self.events = [_flat(event.text) for event in result.events if event.text.strip()]

    def narrated(
        self, request: ContentRequest, narration: Any, shown: str, *, turn: int | None = None
    ) -> str | None:
        if not self.chosen:
            return None
        from textgamegen.safe_text import strip_unsafe

        facts = self._facts(request)
        kind = kind_label(request)
        self.lines.append(
            Line(
                world=self.game.world.name,
                source="model",
                model=self.model,
                seed=self.seed,
                kind=kind,
                ordinal=self.ordinal,
                step=self.step,
                text=strip_unsafe(str(shown or "")).strip(),
                facts=facts,
                request=request.to_dict(),
                fallback=bool(getattr(narration, "fallback", False)),
            )
        )
        own = authored_text(self.game, request, self.attempts).strip()
        if own:
            # The world's text is judged against what came before it, not after.
            before = facts.shown_before
            if _flat(own) in before:
                before = before[: before.index(_flat(own))]
            self.authored.append(
                Line(
                    world=self.game.world.name,
                    source=AUTHORED,
                    model=AUTHORED,
                    seed=None,
                    kind=kind,
                    ordinal=self.ordinal,
                    step=self.step,
                    text=own,
                    facts=Facts(**{**asdict(facts), "shown_before": list(before)}),
                    request=request.to_dict(),
                )
            )
        return None

    def _facts(self, request: ContentRequest) -> Facts:
        from textgamegen.engine.actions import exit_list

        game = self.game
        return Facts(
            world=game.world.title,
            room=request.room or game.room().name,
            room_text=game.room().text,
            exits=exit_list(game),
            people=[game.npc(key).name for key in game.npcs_here()],
            things=[game.item(key).name for key in game.visible_items()],
            carrying=[game.item(key).name for key in game.carried_items()],
            command=request.command if self.step > 0 else "",
            speaker=request.speaker,
            topic=request.topic,
            shown_before=list(self.events),
        )


def default_script(world: World) -> Path:
    """The world's walkthrough: tests/functional/walkthrough.txt for Lanternfall,
    wonderland-walkthrough.txt for Wonderland, tests/functional/walkthroughs/NAME.txt else."""
    functional = REPO / "tests" / "functional"
    if world.name in OLDER_WALKTHROUGHS:
        return functional / OLDER_WALKTHROUGHS[world.name]
    return functional / "walkthroughs" / f"{world.name}.txt"


def play(
    world: World,
    script: Path,
    generator: Generator,
    model: str,
    seed: int,
    picked: set[int] | None = None,
    colour: bool = False,
) -> tuple[_Reader, Run]:
    """Play ``script`` in ``world`` with ``generator`` writing the picked requests (of those
    it writes: with ``colour`` off, not the lines after the world's own text).

    Expectation lines (``? ...``) change nothing: they are checked as the script runs, and
    one that fails (an ``output contains`` the narrator's prose decides) is only counted.

    Raises:
        BlindError: the script cannot be read.
    """
    from textgamegen.play.script import ScriptError, run_script

    # The game shows a room's own attempt lines as canon; here the narrator must write
    # them, so it plays a copy without them, and they stay the human control.
    attempts = {key: dict(room.attempts) for key, room in world.rooms.items()}
    bare = replace(world, rooms={k: replace(r, attempts={}) for k, r in world.rooms.items()})
    game = Game.new(bare, seed=seed, saves_dir=None, autosave=False)
    reader = _Reader(game, generator, model, seed, picked, colour)
    reader.attempts = attempts
    started = time.perf_counter()
    try:
        # The reader is both the narrator (it picks which lines the model writes) and the
        # feedback session (it sees each step and each finished narration).
        report = run_script(script, game, reader, feedback=reader)
    except ScriptError as error:
        raise BlindError(str(error)) from None
    run = Run(
        world=world.name,
        model=model,
        seed=seed,
        loaded=generator.name,
        requests=reader.ordinal,
        narrated=len(reader.lines),
        lines=sum(1 for line in reader.lines if line.text),
        empty=sum(1 for line in reader.lines if not line.text),
        fallbacks=sum(1 for line in reader.lines if line.fallback),
        seconds=round(time.perf_counter() - started, 2),
        won=report.won,
        failed_expectations=len(report.failures),
    )
    return reader, run


def spread(total: int, count: int) -> set[int] | None:
    """``count`` request numbers (1-based) evenly spread over ``total``; None for all."""
    if count <= 0 or count >= total:
        return None
    return {1 + (index * total) // count for index in range(count)}


def make(
    worlds: list[tuple[World, Path]],
    narrators: list[tuple[str, Any]],
    seeds: list[int],
    out: Path,
    *,
    max_lines: int = 0,
    colour: bool = False,
    shuffle_seed: int = SHUFFLE_SEED,
    contradictions: Contradictions | None = None,
    log: Callable[[str], None] = lambda text: None,
) -> dict[str, Any]:
    """Play every world with every narrator and seed, and write the sheets, key and records.

    Args:
        worlds: each world with the script to play in it.
        narrators: (name as asked for, loaded generator), in the order the table lists them.
        seeds: game seeds; each narrator plays each world once per seed.
        out: the folder to write ``sheet.md``, ``sheet.csv``, ``key.json`` and
            ``records.json`` to.
        max_lines: at most this many requests per run are the narrator's, evenly spread
            over the run (the template writes the rest, unrecorded); 0 for all.
        colour: the narrators add lines after the world's own text (the ``colour``
            setting; give them that setting too).
        shuffle_seed: the seed of the sheet's order.
        contradictions: ``canon.contradictions``, to pre-mark lines; None for no column.
        log: told about each run as it ends.

    Returns:
        A summary: the runs, and how many lines each source has on the sheet.

    Raises:
        BlindError: a script cannot be read, or nothing at all was written.
    """
    runs: list[Run] = []
    lines: list[Line] = []
    authored: dict[tuple[str, str], Line] = {}
    out.mkdir(parents=True, exist_ok=True)
    for stale in (SHEET_MD, SHEET_CSV, KEY_FILE):
        (out / stale).unlink(missing_ok=True)  # a sheet never meets another run's records
    for world, script in worlds:
        for seed in seeds:
            picked = None
            if max_lines:
                from textgamegen.narration.template import TemplateGenerator

                counted, _ = play(world, script, TemplateGenerator(), "count", seed, set(), colour)
                picked = spread(counted.ordinal, max_lines)
            for name, generator in narrators:
                reader, run = play(world, script, generator, name, seed, picked, colour)
                runs.append(run)
                lines += reader.lines
                for line in reader.authored:
                    # Once per text: every narrator and seed meets the same world.
                    authored.setdefault((line.world, _flat(line.text)), line)
                log(
                    f"{world.name} / {name} / seed {seed}: {run.lines} lines "
                    f"({run.empty} empty) of {run.requests} requests, {run.seconds:.1f} s"
                )
                # A long CPU run cut short keeps the lines it has (no sheet until the end).
                done = [asdict(line) for line in [*lines, *authored.values()]]
                runs_so_far = [asdict(each) for each in runs]
                progress = {"version": KEY_VERSION, "complete": False, "runs": runs_so_far}
                _write_json(out / RECORDS_FILE, {**progress, "lines": done})
    lines += authored.values()
    if contradictions is not None:
        for line in lines:
            line.canon = canon_flags(contradictions, line)
    order = [index for index, line in enumerate(lines) if line.text]
    if not order:
        raise BlindError("no narrator wrote a line: nothing to read")
    random.Random(shuffle_seed).shuffle(order)
    numbered = [(number, lines[index]) for number, index in enumerate(order, start=1)]
    numbers = {index: number for number, index in enumerate(order, start=1)}
    with_canon = contradictions is not None
    (out / SHEET_MD).write_text(render_markdown(numbered, with_canon), encoding="utf-8")
    (out / SHEET_CSV).write_text(render_csv(numbered, with_canon), encoding="utf-8")
    key = {
        "version": KEY_VERSION,
        "shuffle_seed": shuffle_seed,
        "sources": [name for name, _ in narrators] + [AUTHORED],
        "canon": with_canon,
        "lines": {
            str(number): {
                "source": lines[index].source,
                "model": lines[index].model,
                "seed": lines[index].seed,
                "world": lines[index].world,
                "kind": lines[index].kind,
                "record": index,
                "text_sha1": text_sha1(lines[index].text),
                "canon": lines[index].canon,
            }
            for number, index in enumerate(order, start=1)
        },
    }
    _write_json(out / KEY_FILE, key)
    summary = {
        "runs": [asdict(run) for run in runs],
        "sheet_lines": len(numbered),
        "per_source": _count(line.model for _, line in numbered),
    }
    records = [{"number": numbers.get(index), **asdict(line)} for index, line in enumerate(lines)]
    _write_json(
        out / RECORDS_FILE,
        {"version": KEY_VERSION, "complete": True, **summary, "lines": records},
    )
    return summary


def _count(names: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in names:
        counts[name] = counts.get(name, 0) + 1
    return counts


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def text_sha1(text: str) -> str:
    """A line's fingerprint, blind to how a spreadsheet wraps or spaces it."""
    return hashlib.sha1(_flat(text).encode("utf-8")).hexdigest()[:12]


def canon_flags(contradictions: Contradictions, line: Line) -> list[str] | None:
    """What ``contradictions`` finds wrong with a line, as short texts; None if it failed."""
    try:
        found = contradictions(line.text, ContentRequest.from_dict(line.request))
    except Exception as error:  # noqa: BLE001 - a checker's bug must not lose the read
        print(
            f"bench.blind: canon.contradictions failed on a line ({type(error).__name__}: "
            f"{error}); that line has no canon flags",
            file=sys.stderr,
        )
        return None
    if not found:
        return []
    if isinstance(found, str):
        return [found]
    if isinstance(found, dict):
        return [f"{what}: {value}" for what, value in found.items() if value]
    return [str(item) for item in found]


# The sheet.

GUIDE = """\
Read each line as a strict player would, beside the facts that were on screen for it.
Fill in two marks under each line:

- score: 2 = a player would gladly read it; 1 = readable but off, generic or flat;
  0 = broken (not English, cut off, not this game's kind of line).
- contradicts: y when the line contradicts the facts shown (a person, exit or thing that
  is not there, the wrong speaker, a change the game did not make, "You take..." for
  something not taken); n or blank when it does not.

The kind says what the game asked for: a room, an item, a person or scenery described; an
attempt (a free-form command that changes nothing) or an action; dialogue or quest talk.
"colour" means the world has its own text for the moment, and the line goes with it.
A good line: second person, present tense, one or two sentences, names only what the
facts give, never says an attempt changed the world; sensory detail is welcome."""


def _listed(names: list[str]) -> str:
    return ", ".join(names) or "none"


def fact_cells(line: Line) -> dict[str, str]:
    """The facts of a line as the sheet shows them, one text per column."""
    facts = line.facts
    return {
        "kind": line.kind,
        "where": f"{facts.world}: {facts.room}",
        "room_text": _flat(facts.room_text) or "none",
        "exits": facts.exits,
        "people": _listed(facts.people),
        "things": _listed(facts.things),
        "carrying": _listed(facts.carrying),
        "command": facts.command or "(the opening)",
        "speaker": facts.speaker,
        "topic": facts.topic,
        "shown_before": " / ".join(facts.shown_before) or "nothing",
    }


def render_markdown(numbered: list[tuple[int, Line]], with_canon: bool) -> str:
    out = [f"# A blind read: {len(numbered)} lines", "", GUIDE]
    for number, line in numbered:
        cells = fact_cells(line)
        out += ["", "---", "", f"## {number} · {line.kind}", ""]
        out.append(f"- where: {cells['where']}")
        out.append(f"- the room's text: {cells['room_text']}")
        out.append(f"- exits: {cells['exits']}")
        out.append(f"- people here: {cells['people']}")
        out.append(f"- things in view: {cells['things']}")
        out.append(f"- carrying: {cells['carrying']}")
        out.append(f"- command: {cells['command']}")
        if cells["speaker"]:
            topic = f" (topic: {cells['topic']})" if cells["topic"] else ""
            out.append(f"- speaker: {cells['speaker']}{topic}")
        out.append(f"- shown before: {cells['shown_before']}")
        if with_canon:
            out.append(f"- canon flags: {_canon_cell(line)}")
        out.append("")
        out += [f"> {row}".rstrip() for row in line.text.splitlines()]
        out += ["", "score:", "contradicts:"]
    return "\n".join(out) + "\n"


def _canon_cell(line: Line) -> str:
    if line.canon is None:
        return "(not checked)"
    return "; ".join(line.canon) or "none"


def render_csv(numbered: list[tuple[int, Line]], with_canon: bool) -> str:
    buffer = io.StringIO()
    columns = ["number", *CSV_FACTS, "line"]
    columns += ["canon_flags"] if with_canon else []
    columns += ["score", "contradicts"]
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    for number, line in numbered:
        row = {"number": str(number), **fact_cells(line), "line": line.text}
        if with_canon:
            row["canon_flags"] = _canon_cell(line)
        writer.writerow({**row, "score": "", "contradicts": ""})
    return buffer.getvalue()


# Reading a filled-in sheet.


@dataclass
class Mark:
    """A reader's marks on one numbered line, as found in the sheet."""

    number: int
    where: str
    score: str | None = None
    contradicts: str | None = None
    text: str | None = None


_HEADING = re.compile(r"^##\s+(\S+)")
_FIELD = re.compile(r"^(score|contradicts)\s*:(.*)$", re.IGNORECASE)


def read_markdown(path: Path, text: str) -> tuple[list[Mark], list[str]]:
    marks: list[Mark] = []
    errors: list[str] = []
    current: Mark | None = None
    quoted: list[str] = []
    for row, raw in enumerate(text.splitlines(), start=1):
        heading = _HEADING.match(raw)
        if heading:
            if current is not None:
                current.text = "\n".join(quoted)
            quoted = []
            number = heading.group(1)
            if not number.isdigit():
                errors.append(f"{path.name}:{row}: '## {number}' is not a line number")
                current = None
                continue
            current = Mark(int(number), f"{path.name}:{row}")
            marks.append(current)
            continue
        if current is None:
            continue
        if raw.startswith(">"):
            quoted.append(raw[1:].removeprefix(" "))
            continue
        found = _FIELD.match(raw.strip())
        if found:
            what, value = found.group(1).casefold(), found.group(2).strip()
            if getattr(current, what) is not None:
                errors.append(f"line {current.number} ({path.name}:{row}): '{what}' given twice")
            setattr(current, what, value)
    if current is not None:
        current.text = "\n".join(quoted)
    return marks, errors


def read_csv(path: Path, text: str) -> tuple[list[Mark], list[str]]:
    reader = csv.DictReader(io.StringIO(text))
    columns = {name.strip().casefold(): name for name in reader.fieldnames or []}
    missing = [name for name in ("number", "score", "contradicts") if name not in columns]
    if missing:
        raise BlindError(f"{path}: the sheet has no column {', '.join(missing)}")
    marks: list[Mark] = []
    errors: list[str] = []
    for row, values in enumerate(reader, start=2):
        number = (values.get(columns["number"]) or "").strip()
        if not number and not any((value or "").strip() for value in values.values()):
            continue  # a blank row a spreadsheet added
        if not number.isdigit():
            errors.append(f"{path.name} row {row}: number {number!r} is not a line number")
            continue
        marks.append(
            Mark(
                int(number),
                f"{path.name} row {row}",
                score=values.get(columns["score"]) or "",
                contradicts=values.get(columns["contradicts"]) or "",
                text=values.get(columns["line"]) if "line" in columns else None,
            )
        )
    return marks, errors


def read_sheet(path: Path) -> list[Mark]:
    """The marks in a filled-in sheet (``.md`` or ``.csv``), unchecked.

    Raises:
        BlindError: the file cannot be read or is not a sheet.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise BlindError(f"{path}: cannot read the sheet: {error}") from None
    is_csv = path.suffix.casefold() == ".csv" or (
        path.suffix.casefold() != ".md" and text.lstrip().startswith("number,")
    )
    marks, errors = read_csv(path, text) if is_csv else read_markdown(path, text)
    if errors:
        raise BlindError(_problems(path, errors))
    if not marks:
        raise BlindError(f"{path}: no numbered lines found (is this a sheet from `make`?)")
    return marks


def read_key(path: Path) -> dict[str, Any]:
    """The key written by ``make``.

    Raises:
        BlindError: missing, not JSON, or not a key of this version.
    """
    try:
        key = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BlindError(f"{path}: cannot read the key: {error}") from None
    if not isinstance(key, dict) or not isinstance(key.get("lines"), dict):
        raise BlindError(f"{path}: not a key written by `python -m bench.blind make`")
    if key.get("version") != KEY_VERSION:
        raise BlindError(
            f"{path}: key version {key.get('version')!r}; this kit reads {KEY_VERSION}"
        )
    for number, entry in key["lines"].items():
        if not number.isdigit() or not isinstance(entry, dict) or "model" not in entry:
            raise BlindError(f"{path}: line {number!r} of the key is malformed")
    return key


def _problems(path: Path, errors: list[str]) -> str:
    shown = "\n".join(f"  {error}" for error in errors[:50])
    more = f"\n  ... and {len(errors) - 50} more" if len(errors) > 50 else ""
    count = f"{len(errors)} problem{'s' if len(errors) != 1 else ''}"
    return f"{path}: {count} in the sheet:\n{shown}{more}"


def _numbers(numbers: list[int]) -> str:
    shown = ", ".join(str(number) for number in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")


@dataclass
class Scored:
    """One line's marks checked against the key."""

    number: int
    score: int
    contradicts: bool
    entry: dict[str, Any]


def check_marks(path: Path, marks: list[Mark], key: dict[str, Any]) -> list[Scored]:
    """The marks, checked: every line of the key scored once, with valid values.

    Raises:
        BlindError: every problem found, each naming its line.
    """
    lines = key["lines"]
    errors: list[str] = []
    seen: dict[int, str] = {}
    scored: list[Scored] = []
    for mark in marks:
        label = f"line {mark.number} ({mark.where})"
        entry = lines.get(str(mark.number))
        if entry is None:
            errors.append(
                f"{label}: not in the key, whose lines are 1 to {len(lines)} "
                "(is this the key for this sheet?)"
            )
            continue
        if mark.number in seen:
            errors.append(f"{label}: appears twice (also at {seen[mark.number]})")
            continue
        seen[mark.number] = mark.where
        expected = entry.get("text_sha1")
        if mark.text is not None and expected and text_sha1(mark.text) != expected:
            errors.append(
                f"{label}: its text is not the one the key has for line {mark.number} "
                "(is this the key for this sheet?)"
            )
        raw_score = (mark.score or "").strip()
        score = raw_score.removesuffix(".0")
        if mark.score is None:
            errors.append(f"{label}: no 'score:' mark")
        elif not raw_score:
            errors.append(f"{label}: score is missing (write 0, 1 or 2)")
        elif score not in ("0", "1", "2"):
            errors.append(f"{label}: score {raw_score!r} is not 0, 1 or 2")
        contradicts = (mark.contradicts or "").strip().casefold()
        if contradicts not in YES + NO:
            errors.append(f"{label}: contradicts {mark.contradicts.strip()!r} is not y or n")
        if score in ("0", "1", "2") and contradicts in YES + NO:
            scored.append(Scored(mark.number, int(score), contradicts in YES, entry))
    missing = sorted(int(number) for number in lines if int(number) not in seen)
    if missing:
        errors.append(f"lines {_numbers(missing)} of the key are not in the sheet")
    if errors:
        raise BlindError(_problems(path, errors))
    return scored


def source_label(entry: dict[str, Any]) -> str:
    return AUTHORED if entry.get("source") == AUTHORED else str(entry["model"])


def summarise(scored: list[Scored]) -> dict[str, Any]:
    """The figures of one group of lines."""
    count = len(scored)
    scores = [line.score for line in scored]
    checked = [line.entry["canon"] for line in scored if line.entry.get("canon") is not None]
    seeds = sorted({line.entry["seed"] for line in scored if line.entry.get("seed") is not None})

    def share(hits: int, total: int = count) -> float:
        return round(100.0 * hits / total, 1) if total else 0.0

    return {
        "lines": count,
        "seeds": seeds,
        "scored_2": share(scores.count(2)),
        "at_least_1": share(count - scores.count(0)),
        "scored_0": share(scores.count(0)),
        "contradicts": share(sum(line.contradicts for line in scored)),
        "mean": round(sum(scores) / count, 2) if count else 0.0,
        "canon_flagged": share(sum(bool(flags) for flags in checked), len(checked))
        if checked
        else None,
        "counts": {
            "2": scores.count(2),
            "1": scores.count(1),
            "0": scores.count(0),
            "contradicts": sum(line.contradicts for line in scored),
            "canon_checked": len(checked),
            "canon_flagged": sum(bool(flags) for flags in checked),
        },
    }


def score_table(
    scored: list[Scored], order: list[str], by: str | None = None
) -> list[dict[str, Any]]:
    """One row per source (in ``order``, then any other), or per source and ``by``
    ("kind", "world" or "seed")."""
    groups: dict[tuple[str, str], list[Scored]] = {}
    for line in scored:
        part = "" if by is None else str(line.entry.get(by))
        groups.setdefault((source_label(line.entry), part), []).append(line)
    rank = {name: index for index, name in enumerate(order)}
    keys = sorted(groups, key=lambda pair: (rank.get(pair[0], len(rank)), pair[0], pair[1]))
    rows = []
    for source, part in keys:
        row = {"source": source, **({by: part} if by else {}), **summarise(groups[source, part])}
        rows.append(row)
    return rows


def render_table(rows: list[dict[str, Any]], by: str | None = None) -> str:
    flagged = any(row["canon_flagged"] is not None for row in rows)
    head = ["source", *([by] if by else []), "lines", "gladly read (2)", "readable (>= 1)"]
    head += ["broken (0)", "contradicts the facts", "mean"]
    head += ["canon flags"] if flagged else []
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        seeds = len(row["seeds"])
        source = f"`{row['source']}`" + (f", {seeds} seeds" if seeds > 1 else "")
        cells = [source, *([row[by]] if by else []), str(row["lines"])]
        cells += [f"{row[name]:.0f}%" for name in ("scored_2", "at_least_1", "scored_0")]
        cells += [f"{row['contradicts']:.0f}%", f"{row['mean']:.2f}"]
        if flagged:
            value = row["canon_flagged"]
            cells.append("-" if value is None else f"{value:.0f}%")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def score(sheet: Path, key_path: Path, by: str | None = None) -> dict[str, Any]:
    """Score a filled-in sheet with its key.

    Returns:
        {"lines": N, "sources": rows per source, "by": {by: rows} when ``by`` is given}.

    Raises:
        BlindError: the sheet or the key is malformed; every problem is named by its line.
    """
    key = read_key(key_path)
    scored = check_marks(sheet, read_sheet(sheet), key)
    order = [str(name) for name in key.get("sources", [])]
    result: dict[str, Any] = {
        "sheet": str(sheet),
        "lines": len(scored),
        "sources": score_table(scored, order),
    }
    if by:
        result["by"] = {by: score_table(scored, order, by)}
    return result


# The command line.


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be whole numbers: {text!r}") from None
    if not seeds:
        raise argparse.ArgumentTypeError("give at least one seed")
    return seeds


def _worlds(names: list[str], scripts: list[Path]) -> list[tuple[World, Path]]:
    from textgamegen.engine.world import WorldError, load_world
    from textgamegen.engine.worlds import find_world
    from textgamegen.play.script import ScriptError, read_script

    if scripts and len(scripts) != len(names):
        raise BlindError(
            f"{len(scripts)} --script for {len(names)} --world: give one script per world, "
            "in the same order, or none (each world's walkthrough)"
        )
    found = []
    for index, name in enumerate(names):
        try:
            world = load_world(find_world(name))
        except WorldError as error:
            raise BlindError(str(error)) from None
        script = scripts[index] if scripts else default_script(world)
        if not script.is_file():
            raise BlindError(f"{world.name}: no walkthrough at {script}; give one with --script")
        try:
            read_script(script)
        except ScriptError as error:
            raise BlindError(str(error)) from None
        found.append((world, script))
    return found


@dataclass(frozen=True)
class VariantSpec:
    """How a narrator named ``NAME[+stream][+anywords][+anythings][@T][~N]`` writes."""

    base: str
    stream: bool = False
    temperature: float | None = None
    sentences: int | None = None
    """At most N sentences per line (0: no limit); None: as prompts.toml says."""
    any_words: bool = False
    """Spelling unguarded: ``sampling.known_words`` off."""
    common_words: int | None = None
    """Only the N most common words of the lexicon (0: all); None: as prompts.toml says."""
    any_things: bool = False
    """Things unguarded: ``sampling.seen_things`` off."""

    @property
    def plain(self) -> bool:
        return (
            not self.stream
            and self.temperature is None
            and self.sentences is None
            and not self.any_words
            and self.common_words is None
            and not self.any_things
        )


class Variant:
    """One loaded narrator writing another way: streamed as in the TUI (a reader is
    listening, so it writes one candidate, and the line it streams is the one that
    stays), at another temperature, or held to a number of sentences per line."""

    def __init__(self, generator: Any, spec: VariantSpec) -> None:
        self.generator = generator
        self.spec = spec
        self.name = generator.name
        self.backend = generator.backend
        self.device = generator.device
        self.dtype = generator.dtype

    def generate(self, request: ContentRequest, on_text: Any = None, cancel: Any = None) -> Any:
        spec = self.spec
        listener = on_text or ((lambda _text: None) if spec.stream else None)
        if not hasattr(self.generator, "sampling"):  # the template writes one way only
            return self.generator.generate(request, listener, cancel)
        usual_sampling, usual_templates = self.generator.sampling, self.generator.templates
        sampling = replace(usual_sampling, stream=spec.stream or usual_sampling.stream)
        if spec.temperature is not None:
            sampling = replace(sampling, temperature=spec.temperature)
        if spec.any_words:
            sampling = replace(sampling, known_words=False)
        if spec.any_things:
            sampling = replace(sampling, seen_things=False)
        self.generator.sampling = sampling
        kinds = usual_templates.kinds
        if spec.sentences is not None:
            limit = spec.sentences or None
            kinds = {name: replace(kind, sentences=limit) for name, kind in kinds.items()}
        if spec.common_words is not None:
            common = spec.common_words or None
            kinds = {name: replace(kind, common_words=common) for name, kind in kinds.items()}
        self.generator.templates = replace(usual_templates, kinds=kinds)
        try:
            return self.generator.generate(request, listener, cancel)
        finally:
            self.generator.sampling = usual_sampling
            self.generator.templates = usual_templates


STREAM_SUFFIX = "+stream"
ANY_WORDS_SUFFIX = "+anywords"
ANY_THINGS_SUFFIX = "+anythings"


def variant_of(name: str) -> VariantSpec:
    """``NAME[+stream][+anywords][+anythings][@T][~N][^N]`` -> how it writes.

    Raises:
        BlindError: T is not a temperature above 0, ~N not a whole number 0-9, or ^N not
            a whole number.
    """
    rest, _, common = name.partition("^")
    rest, _, sentences = rest.partition("~")
    base, _, temperature = rest.partition("@")
    any_things = base.endswith(ANY_THINGS_SUFFIX)
    base = base.removesuffix(ANY_THINGS_SUFFIX)
    any_words = base.endswith(ANY_WORDS_SUFFIX)
    base = base.removesuffix(ANY_WORDS_SUFFIX)
    stream = base.endswith(STREAM_SUFFIX)
    base = base.removesuffix(STREAM_SUFFIX)
    limit = None
    if sentences:
        if not (sentences.isdigit() and int(sentences) <= 9):
            raise BlindError(f"{name}: the sentences after ~ must be a whole number from 0 to 9")
        limit = int(sentences)
    words = None
    if common:
        if not common.isdigit():
            raise BlindError(f"{name}: the count after ^ must be a whole number")
        words = int(common)
    value = None
    if temperature:
        try:
            value = float(temperature)
        except ValueError:
            value = 0.0
        if not value > 0:
            raise BlindError(f"{name}: the temperature after @ must be a number above 0")
    return VariantSpec(base, stream, value, limit, any_words, words, any_things)


def load_narrator(name: str, args: argparse.Namespace) -> Any:
    """A narrator by name, on the command line's device, dtype and threads.

    Raises:
        BlindError: it does not load, or the default narrator fell back to ``tiny`` (a read
            of the wrong narrator under its name would mislead).
    """
    from textgamegen.config import SamplingSettings
    from textgamegen.models import registry
    from textgamegen.models.loader import load_generator
    from textgamegen.narration.generator import GeneratorError

    try:
        generator = load_generator(
            name,
            args.device,
            SamplingSettings(colour=args.colour),
            dtype=args.dtype,
            quantize=getattr(args, "quantize", "auto"),
            threads=args.threads,
        )
    except GeneratorError as error:
        raise BlindError(f"narrator {name!r} does not load: {error}") from None
    wanted = registry.ALIASES.get(name, name)
    if wanted == registry.DEFAULT_MODEL and generator.name != wanted:
        raise BlindError(f"narrator {name!r} did not load: {generator.notice}")
    return generator


def contradictions_probe() -> Contradictions | None:
    """``canon.contradictions`` when the game has it, else None (and says so)."""
    from textgamegen.text import canon

    if not hasattr(canon, "contradictions"):
        print(
            "bench.blind: textgamegen.text.canon has no contradictions() yet, so the sheet "
            "has no canon flags column",
            file=sys.stderr,
        )
        return None
    return canon.contradictions


def run_make(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    worlds = _worlds(args.world or ["lanternfall"], args.script or [])
    check = contradictions_probe() if args.auto_contradictions else None
    narrators = []
    loaded: dict[str, Any] = {}
    for name in args.model or ["narrator", "template"]:
        spec = variant_of(name)
        if spec.base not in loaded:
            print(f"bench.blind: loading {spec.base} ...", file=sys.stderr, flush=True)
            loaded[spec.base] = load_narrator(spec.base, args)
        generator = loaded[spec.base]
        if not spec.plain:
            generator = Variant(generator, spec)
        narrators.append((name, generator))
    summary = make(
        worlds,
        narrators,
        args.seeds,
        args.out,
        max_lines=args.max_lines,
        colour=args.colour,
        shuffle_seed=args.shuffle_seed,
        contradictions=check,
        log=lambda text: print(f"bench.blind: {text}", file=sys.stderr, flush=True),
    )
    print("| world | narrator | seed | requests | narrated | lines | empty | fallback | seconds |")
    print("|---|---|---|---|---|---|---|---|---|")
    for run in summary["runs"]:
        print(
            f"| {run['world']} | `{run['model']}` | {run['seed']} | {run['requests']} | "
            f"{run['narrated']} | {run['lines']} | {run['empty']} | {run['fallbacks']} | "
            f"{run['seconds']:.1f} |"
        )
    failed = sum(run["failed_expectations"] for run in summary["runs"])
    if failed:
        print(f"\n{failed} expectation lines of the scripts did not hold (records.json: runs)")
    per_source = ", ".join(f"{name} {count}" for name, count in summary["per_source"].items())
    print(
        f"\n{summary['sheet_lines']} lines on the sheet ({per_source}) in "
        f"{time.perf_counter() - started:.0f} s. Give the reader {args.out / SHEET_MD} or "
        f"{args.out / SHEET_CSV} only; {KEY_FILE} and {RECORDS_FILE} name the sources."
    )
    return 0


def run_score(args: argparse.Namespace) -> int:
    result = score(args.sheet, args.key, args.by)
    print(render_table(result["sources"]))
    if args.by:
        print()
        print(render_table(result["by"][args.by], args.by))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        _write_json(args.json, result)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.blind", description=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    maker = commands.add_parser("make", help="play and write a shuffled sheet and its key")
    maker.add_argument("--world", action="append", help="a world name or .toml (repeatable)")
    maker.add_argument(
        "--script",
        action="append",
        type=Path,
        help="the commands to play, one per --world in order (default: the walkthrough)",
    )
    maker.add_argument(
        "--model",
        action="append",
        help="a narrator (repeatable; default narrator, template); NAME+stream writes as in "
        "the TUI (one streamed candidate, never swapped), NAME+anywords with its spelling "
        "unguarded, NAME+anythings with its things unguarded, NAME@T at temperature T, "
        "NAME~N with at most N sentences per line (0: no limit), NAME^N with only the N "
        "most common words of its lexicon (0: all)",
    )
    maker.add_argument("--seeds", type=_seeds, default=[1], help="game seeds, e.g. 1,2")
    maker.add_argument("--out", type=Path, default=Path("runs/blind"), help="output folder")
    maker.add_argument(
        "--max-lines",
        type=int,
        default=0,
        help="at most N requests per run for the narrator, spread over the run (0: all)",
    )
    maker.add_argument(
        "--colour",
        action="store_true",
        help="have the narrators add a line after the world's own text too (the `colour` "
        "setting, off in play by default)",
    )
    maker.add_argument("--shuffle-seed", type=int, default=SHUFFLE_SEED)
    maker.add_argument(
        "--auto-contradictions",
        action="store_true",
        help="pre-mark lines canon.contradictions flags, in a column of their own",
    )
    maker.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    maker.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16")
    maker.add_argument(
        "--quantize",
        default="auto",
        help="the weights' form on the CPU, as the game's setting (auto: what a player gets)",
    )
    maker.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    scorer = commands.add_parser("score", help="score a filled-in sheet with its key")
    scorer.add_argument("sheet", type=Path, help="the filled-in sheet.md or sheet.csv")
    scorer.add_argument("--key", type=Path, required=True, help="the key.json `make` wrote")
    scorer.add_argument("--json", type=Path, help="also write the table here")
    scorer.add_argument("--by", choices=("kind", "world", "seed"), help="a second table")
    args = parser.parse_args(argv)
    try:
        return run_make(args) if args.command == "make" else run_score(args)
    except BlindError as error:
        print(f"bench.blind: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
