"""Random play against the engine's invariants: steps, and the violations found.

A seeded random walk plays every shipped world with commands drawn from what the game
knows at that moment (its verbs with the things in reach, things elsewhere, directions,
the rooms' attempts, meta commands, saves and loads) and from junk (typos, made-up words,
control characters, ANSI escapes, very long lines). After every step it checks:

- **one place**: every item of the world is in exactly one place, a place that exists
  (a room, a container, a person, the player or nowhere), and no item is inside itself
  through others; what is in view and what is carried never overlap;
- **no change without a turn**: a step that took no turn changed nothing in the world
  (its room, things, doors, quests, flags), unless it was a load or an undo;
- **undo exact**: after a turn, ``undo`` (often taken) gives back the state and the seed
  exactly as they were before it;
- **save -> load identical**: the game rebuilt from its ``to_dict`` (through JSON, every
  few steps and after each load or undo), and every so often from a real save file,
  gives the same ``to_dict``;
- **no exception**: no step reports "Something went wrong inside the game".

The suite runs a few hundred steps (``tests/unit/test_engine_invariants.py``); this
module runs as many as asked and prints the count of violations per world::

    python -m bench.random_play --steps 100000 --seed 0
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgamegen.engine.content import EventKind
from textgamegen.engine.game import Game
from textgamegen.engine.parser import DIRECTION, NOUN, PAIR, REST, VERBS
from textgamegen.engine.saves import SaveError, save_game
from textgamegen.engine.state import StateError
from textgamegen.engine.world import NOWHERE, PLAYER, World, load_world
from textgamegen.engine.worlds import list_worlds
from textgamegen.narration.template import TemplateGenerator

CRASH = "Something went wrong inside the game"
WORLD_FIELDS = ("room", "locations", "closed", "locked", "unlocked", "quests", "flags", "won")
"""The parts of the state a step that takes no turn must leave alone (the story may
grow, and "look" may mark the map)."""
UNDO_CHANCE = 0.3
REBUILD_EVERY = 5
"""Rebuilding a game costs more than a step (its names and text are checked again), so
the ``to_dict`` round trip runs every few steps, and after every load and undo."""
FILE_SAVE_EVERY = 50
JUNK = (
    "",
    "   ",
    "xyzzy",
    "tkae all",
    "\x1b[31mred\x1b[0m",
    "go \x00north",
    "take\tall",
    "put put put in in in",
    "give to",
    "x " + "very " * 80 + "long thing",
    "ünïcödé ✨ 🐙",
    "take ../../etc/passwd",
    "load ../../etc/passwd",
    "save /tmp/x",
    "\u202eevil",
    "'; drop table saves; --",
)


@dataclass
class Violation:
    """One broken invariant, with what it takes to play it again."""

    world: str
    seed: int
    step: int
    command: str
    what: str


@dataclass
class Report:
    steps: int = 0
    turns: int = 0
    undos: int = 0
    saves: int = 0
    rooms: dict[str, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)


def command_for(game: Game, rng: random.Random) -> str:
    """A command drawn from what the game knows now, or junk."""
    roll = rng.random()
    if roll < 0.05:
        return rng.choice(JUNK)
    if roll < 0.07:
        return "".join(chr(rng.randrange(0, 0x250)) for _ in range(rng.randrange(1, 30)))
    if roll < 0.25:
        return rng.choice(game.exits() or ["north"])
    if roll < 0.30:
        return rng.choice(["undo", "again", "retry", "hint", "map", "journal", "i", "x me"])
    if roll < 0.32:
        return rng.choice(["save walk", "load walk", "load nosuchsave", "save", "load", "help"])
    if roll < 0.36:
        attempts = [p for room in game.world.rooms.values() for p in room.attempts]
        return rng.choice(attempts or ["dance"])
    here = game.scope_names() + list(game.room().scenery) + ["all", "me"]
    anywhere = [item.name for item in game.world.items.values()]
    anywhere += [npc.name for npc in game.world.npcs.values()]
    nouns = here * 4 + anywhere + [rng.choice(JUNK)]
    verbs = [*VERBS, *game.parser.verbs[len(VERBS) :]]
    verb = rng.choice(verbs)
    phrase = rng.choice(verb.words)
    if verb.shape == NOUN:
        return f"{phrase} {rng.choice(nouns)}"
    if verb.shape == PAIR:
        if not verb.preps or rng.random() < 0.3:
            return f"{phrase} {rng.choice(nouns)}"
        return f"{phrase} {rng.choice(nouns)} {rng.choice(verb.preps)} {rng.choice(nouns)}"
    if verb.shape == DIRECTION:
        return f"{phrase} {rng.choice(game.exits() or ['up'])}"
    if verb.shape == REST:
        return f"{phrase} {rng.choice(['walk', 'other', ''])}".strip()
    if phrase in ("quit", "q", "bye") and rng.random() < 0.9:
        return "look"  # quitting writes an autosave; now and then is enough
    return phrase


def place_problems(game: Game) -> list[str]:
    """Where the one-place invariant is broken (empty when it holds)."""
    world, locations = game.world, game.state.locations
    problems = []
    if set(locations) != set(world.items):
        problems.append(f"items placed {sorted(set(locations) ^ set(world.items))}")
    places = set(world.rooms) | set(world.items) | set(world.npcs) | {PLAYER, NOWHERE}
    for key, place in locations.items():
        if place not in places:
            problems.append(f"{key} is in '{place}', which is no place")
        seen = {key}
        while place in world.items:
            if place in seen:
                problems.append(f"{key} is inside itself through {sorted(seen)}")
                break
            seen.add(place)
            place = locations.get(place, NOWHERE)
    overlap = set(game.visible_items()) & set(game.carried_items())
    if overlap:
        problems.append(f"{sorted(overlap)} both in view and carried")
    return problems


def world_part(game: Game) -> dict[str, Any]:
    state = game.state.to_dict()
    return {name: state[name] for name in WORLD_FIELDS}


def walk(
    world: World,
    steps: int,
    seed: int,
    saves_dir: Path,
    report: Report | None = None,
) -> Report:
    """Play ``steps`` random commands in ``world`` and check the invariants after each."""
    report = report or Report()
    rng = random.Random(seed)
    narrator = TemplateGenerator()
    game = Game.new(world, seed=seed, saves_dir=saves_dir, autosave=False)
    for request in game.intro().requests:
        game.fulfil(request, narrator.text_for(request))

    def broken(step: int, command: str, what: str) -> None:
        report.violations.append(Violation(world.name, seed, step, command, what))

    for step in range(steps):
        command = command_for(game, rng)
        before = game.to_dict()
        before_world = world_part(game)
        result = game.step(command)
        report.steps += 1
        for request in result.requests:
            game.fulfil(request, narrator.text_for(request))
        crashes = [e.text for e in result.events if e.kind == EventKind.ERROR and CRASH in e.text]
        if crashes:
            broken(step, command, crashes[0])
        for problem in place_problems(game):
            broken(step, command, problem)
        took_back = {"undo", "load"} & set(result.changes)
        # A load sets the turn to the save's and an undo takes one back: only a step that
        # did neither is a turn.
        ticked = result.turn == before["state"]["turn"] + 1 and not took_back
        if not ticked and not took_back and world_part(game) != before_world:
            broken(step, command, "no turn passed, yet the world changed")
        if ticked:
            report.turns += 1
            if rng.random() < UNDO_CHANCE:
                report.undos += 1
                game.step("undo")
                if game.state.to_dict() != before["state"] or game.seed != before["seed"]:
                    broken(step, command, "undo did not give back the state before the turn")
        report.rooms[game.state.room] = report.rooms.get(game.state.room, 0) + 1
        if step % REBUILD_EVERY and not took_back:
            continue
        saved = game.to_dict()
        try:
            rebuilt = Game.from_dict(json.loads(json.dumps(saved)), world).to_dict()
        except (StateError, TypeError, ValueError) as error:
            broken(step, command, f"to_dict -> from_dict raised {error!r}")
            continue
        if rebuilt != saved:
            broken(step, command, "to_dict -> from_dict is not the same game")
        if step % FILE_SAVE_EVERY == 0:
            report.saves += 1
            try:
                save_game(game, "invariants", saves_dir)
                loaded = Game.load("invariants", saves_dir, world=world).to_dict()
            except (SaveError, StateError, OSError) as error:
                broken(step, command, f"save -> load raised {error!r}")
                continue
            if loaded != saved:
                broken(step, command, "save -> load is not the same game")
    return report


def play_all(
    steps: int, seed: int, done: Callable[[str, Report], object] | None = None
) -> dict[str, Report]:
    """``steps`` random steps shared among the shipped worlds, one seeded walk each;
    ``done`` hears each world's report as its walk ends."""
    worlds = [info for info in list_worlds() if not info.error]
    reports: dict[str, Report] = {}
    with tempfile.TemporaryDirectory(prefix="random-play-") as folder:
        for index, info in enumerate(worlds):
            share = steps // len(worlds) + (1 if index < steps % len(worlds) else 0)
            saves = Path(folder) / info.name
            saves.mkdir()
            reports[info.name] = walk(load_world(info.path), share, seed + index, saves)
            if done is not None:
                done(info.name, reports[info.name])
    return reports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.random_play", description=__doc__)
    parser.add_argument("--steps", type=int, default=100_000, help="steps over all worlds")
    parser.add_argument("--seed", type=int, default=0, help="the first world's walk seed")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    print("| world | steps | turns | undos | save files | rooms seen | violations |")
    print("|---|---:|---:|---:|---:|---:|---:|", flush=True)

    def row(name: str, report: Report) -> None:
        # Each world's row as its walk ends, so a long run shows how far it has got.
        print(
            f"| {name} | {report.steps} | {report.turns} | {report.undos} | {report.saves} "
            f"| {len(report.rooms)} | {len(report.violations)} |",
            flush=True,
        )

    reports = play_all(args.steps, args.seed, row)
    took = time.perf_counter() - started
    total = sum(report.steps for report in reports.values())
    found = [v for report in reports.values() for v in report.violations]
    print(f"\n{total} steps in {took:.0f} s, {len(found)} violations")
    for violation in found[:20]:
        print(f"  {violation}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
