"""The game loop: ``Game.step(command) -> StepResult``.

The engine decides everything; the generator only writes prose. A step parses the
command, runs its action (``engine/actions.py``) against ``GameState``, and returns the
engine's own text as events plus ``ContentRequest`` objects for the prose. The caller has
a generator write those and hands the text back with ``fulfil``; first descriptions are
cached by ``cache_key`` and replayed on revisits. Request seeds come from the game seed,
the turn and the request's index, so the same commands give the same requests.

A command that the parser cannot pin down (an unknown noun, "Which do you mean ...?")
takes no turn, and neither does one that is refused ("You can't go down from here"): a
step that only says why nothing happened changes nothing. Every other game command takes
one turn and can be undone. Meta commands (the verbs the parser's table marks ``meta``:
help, hint, map, undo, retry, rate, note, save, load, quests, inventory, quit) take no turn.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from textgamegen.engine.actions import ACTIONS, describe_room
from textgamegen.engine.content import ContentRequest, Event, EventKind, StepResult
from textgamegen.engine.descriptions import PREFETCH_LIMIT, STORY_CONTEXT, prefetch_requests
from textgamegen.engine.exits import exit_direction
from textgamegen.engine.names import absent_names, world_names
from textgamegen.engine.nouns import Pending, answer_pending
from textgamegen.engine.parser import VERBS, Command, Parser, noun_words, world_verbs
from textgamegen.engine.quests import check_reached, check_win
from textgamegen.engine.saves import (
    SaveError,
    SavePolicy,
    is_autosave,
    new_autosave_name,
    open_save,
    save_name,
    save_path,
)
from textgamegen.engine.state import GameState, StateError
from textgamegen.engine.turn import Turn, derive_seed, name_list, new_seed
from textgamegen.engine.world import MAX_TONE_CHARS, PLAYER, Item, Npc, Room, World
from textgamegen.safe_text import strip_unsafe

UNDO_LIMIT = 50
MAX_PROSE_CHARS = 4000


@dataclass
class _Undo:
    """What ``undo`` puts back: the state before a turn, and the seed then.

    Attributes:
        state: the state before the step.
        seed: the game's seed then.
    """

    state: GameState
    seed: int


class Game:
    """One playthrough of a world: ``Game.new``, ``Game.load`` or ``Game.from_dict``."""

    def __init__(
        self,
        world: World,
        state: GameState,
        seed: int = 0,
        saves_dir: Path | None = None,
        autosave_every: int = 5,
        autosave: bool = True,
        cache: dict[str, str] | None = None,
    ) -> None:
        self.world = world
        self.seed = seed
        slot = new_autosave_name(world.name)
        self.saving = SavePolicy(saves_dir, slot, autosave_every, autosave, state.turn)
        """Where this game saves, and when it saves itself (``engine/saves.py``)."""
        self.state = state
        self.cache: dict[str, str] = dict(cache or {})
        self.parser = Parser(VERBS + world_verbs(world))
        self.actions = dict(ACTIONS)
        self.hint_levels: dict[str, int] = {}
        """How many hints each quest has had; each ``hint`` is plainer than the last."""
        self._last_command = ""
        """What "again" repeats: the last command typed that was not a meta command."""
        self._undo: deque[_Undo] = deque(maxlen=UNDO_LIMIT)
        self._loaded = ""
        """The save loaded in play since the last turn ("" when none): undo names it."""
        self._last_prose: list[ContentRequest] = []
        self._retries = 0
        self._replaceable: set[str] = set()
        self.pending: Pending | None = None
        """A command waiting for the answer to "Which do you mean ...?" (``nouns.py``)."""
        self.names = world_names(world)
        """The world's guarded names; each request lists those its facts leave out."""
        self.note = ""
        """The player's word to the narrator on how to tell it (``note``), kept in saves."""

    @classmethod
    def new(
        cls,
        world: World,
        seed: int | None = 0,
        saves_dir: Path | None = None,
        autosave_every: int = 5,
        *,
        autosave: bool = True,
    ) -> Game:
        """Start a new game.

        Args:
            world: the world to play.
            seed: makes request seeds, and so generated prose, repeatable; None draws a
                fresh one (a new game in the UI), kept in the save and shown by "journal".
            saves_dir: where "save", "load" and autosaves go; None turns saving off.
            autosave_every: autosave after this many turns (0: only on quit).
            autosave: False turns autosaving off entirely (scripted runs use this, so a
                test never overwrites a player's autosave).
        """
        if seed is None:
            seed = new_seed()
        return cls(world, GameState.initial(world), seed, saves_dir, autosave_every, autosave)

    # Read-only views for the UI.

    @property
    def turn(self) -> int:
        return self.state.turn

    @property
    def won(self) -> bool:
        return self.state.won

    def room(self) -> Room:
        return self.world.rooms[self.state.room]

    def exits(self) -> list[str]:
        return list(self.room().exits)

    def carried(self) -> list[str]:
        """Keys of the items the player holds directly."""
        return [key for key in self.world.items if self.state.locations[key] == PLAYER]

    def inventory(self) -> list[str]:
        return [self.world.items[key].name for key in self.carried()]

    def item_list(self, keys: list[str]) -> str:
        """Items as a sentence lists them, each with its own article ("a tinderbox and
        some sea charts")."""
        return name_list([self.world.items[key].indefinite for key in keys], article=False)

    def quest_log(self) -> list[tuple[str, str]]:
        return [(quest.title, self.state.quests[key]) for key, quest in self.world.quests.items()]

    def verbs(self) -> list[str]:
        return self.parser.words()

    def scope_names(self) -> list[str]:
        names = list(self.exits())
        names += [exit_.door for exit_ in self.room().exits.values() if exit_.door]
        names += [self.world.items[key].name for key in self.visible_items()]
        names += [self.world.npcs[key].name for key in self.npcs_here()]
        names += [name for name in self.inventory() if name not in names]
        return list(dict.fromkeys(names))

    def story(self) -> list[str]:
        return list(self.state.story)

    def topics_of(self, person: str) -> list[str]:
        """The topics a person here knows about ([] when no one here answers to that)."""
        words = noun_words(person)
        for key in self.npcs_here():
            npc = self.world.npcs[key]
            if words and any(set(words) <= set(noun_words(name)) for name in npc.names):
                return sorted(npc.topics)
        return []

    # Where things are.

    def contents(self, container: str) -> list[str]:
        return [key for key, place in self.state.locations.items() if place == container]

    def inside(self, key: str, container: str) -> bool:
        """Whether ``key`` is held by ``container``, directly or inside other things."""
        seen: set[str] = set()
        place = self.state.locations.get(key)
        while place in self.world.items and place not in seen:
            if place == container:
                return True
            seen.add(place)
            place = self.state.locations.get(place)
        return False

    def _reachable(self, roots: list[str]) -> list[str]:
        found: list[str] = []
        queue = list(roots)
        while queue:
            key = queue.pop(0)
            found.append(key)
            item = self.world.items[key]
            if item.container and key not in self.state.closed:
                queue.extend(self.contents(key))
        return found

    def visible_items(self) -> list[str]:
        """Items in the room, including those in open containers, not those carried."""
        return self._reachable(self.contents(self.state.room))

    def carried_items(self) -> list[str]:
        """Items the player holds, including those in open containers they hold."""
        return self._reachable(self.carried())

    def npcs_here(self) -> list[str]:
        return [key for key, npc in self.world.npcs.items() if npc.location == self.state.room]

    def item(self, key: str) -> Item:
        return self.world.items[key]

    def npc(self, key: str) -> Npc:
        return self.world.npcs[key]

    def name_of(self, key: str) -> str:
        if key in self.world.items:
            return self.world.items[key].name
        if key in self.world.npcs:
            return self.world.npcs[key].name
        if key in self.world.rooms:
            return self.world.rooms[key].name
        return key

    def names_of(self, key: str) -> tuple[str, ...]:
        if key in self.world.items:
            return self.world.items[key].names
        if key in self.world.npcs:
            return self.world.npcs[key].names
        if direction := exit_direction(key):
            exit_ = self.room().exits[direction]
            return (exit_.direction, exit_.door) if exit_.door else (exit_.direction,)
        return (key,)

    # Prose.

    def fulfil(
        self, request: ContentRequest, text: str, *, seen: bool = True, cache: bool = True
    ) -> None:
        """Take the generated text for a request: cache it (first text wins, unless the
        request came from a retry) and add it to the story.

        Args:
            request: the request the text was written for.
            text: the generated text (sanitised and capped here).
            seen: False for prose written ahead of time (``prefetch_requests``) that the
                player has not read: it only fills an empty cache slot and stays out of
                the story, which holds only what was shown.
            cache: False for text the narrator did not finish (a fallback, a line cut
                short): it joins the story, which holds what was shown, but not the cache,
                so the next visit asks for the prose again.
        """
        key = request.cache_key
        if not seen:
            text = strip_unsafe(str(text)).strip()[:MAX_PROSE_CHARS]
            if text and key and key not in self.cache:
                self.cache[key] = text
            return
        text = strip_unsafe(str(text)).strip()[:MAX_PROSE_CHARS] or request.fallback
        if not text:
            if cache and key and request.authored and key not in self.cache:
                self.cache[key] = ""  # nothing to add to the authored text: ask no more
            return
        if cache and key and (key not in self.cache or key in self._replaceable):
            self.cache[key] = text
            self._replaceable.discard(key)
        self.state.add_story(text)

    def choose_text(self, request: ContentRequest, text: str) -> None:
        """The player's pick among the versions written for a request (swiping back to
        the one before a retry): where that text was cached, it is the one replayed."""
        key = request.cache_key
        text = strip_unsafe(str(text)).strip()[:MAX_PROSE_CHARS]
        if key and key in self.cache and text:
            self.cache[key] = text
            self._replaceable.discard(key)

    def tone(self) -> str:
        """How the prose should sound: the world's tone, then the player's note."""
        return "; ".join(part for part in (self.world.tone, self.note) if part)

    def set_note(self, text: str) -> str:
        """Set the player's note to the narrator ("" drops it); returns it as kept."""
        self.note = " ".join(strip_unsafe(str(text), keep_newlines=False).split())
        self.note = self.note[:MAX_TONE_CHARS]
        return self.note

    def prefetch_requests(self, limit: int = PREFETCH_LIMIT) -> list[ContentRequest]:
        """Descriptions to write ahead while the player reads (``descriptions.py``)."""
        return prefetch_requests(self, limit)

    def retry_requests(self) -> list[ContentRequest]:
        """The last step's prose requests again, with new seeds; their text may replace
        the cached text."""
        self._retries += 1
        fresh = []
        for index, request in enumerate(self._last_prose):
            seed = derive_seed(self.seed, self.state.turn, index, "retry", self._retries)
            fresh.append(replace(request, seed=seed))
            if request.cache_key:
                self._replaceable.add(request.cache_key)
        return fresh

    # The loop.

    def intro(self) -> StepResult:
        """The opening: the world's introduction and the first room. Takes no turn."""
        turn = Turn()
        if self.world.intro:
            turn.say(self.world.intro, EventKind.SYSTEM)
        describe_room(self, turn)
        return self._finish(turn, Command("look", "look"), ticked=False)

    def step(self, command: str) -> StepResult:
        """Run one command. Never raises: a bug is reported as an error event and the
        state is left as it was before the command."""
        before = self.state.copy()
        try:
            return self._step(command)
        except Exception as error:  # noqa: BLE001 - the player must never see a traceback
            self.state = before
            self.pending = None
            text = (
                f"Something went wrong inside the game ({type(error).__name__}); nothing changed."
            )
            return StepResult(
                command=str(command)[:200],
                events=[Event(EventKind.ERROR, text)],
                turn=self.state.turn,
                won=self.state.won,
            )

    def _step(self, raw: str) -> StepResult:
        command = self.parser.parse(raw)
        if command.action == "again":
            if not self._last_command:
                turn = Turn()
                turn.refuse("There is nothing to do again yet.")
                return self._finish(turn, command, ticked=False)
            command = self.parser.parse(self._last_command)
        elif command.action not in self.parser.meta_actions:
            # "g" repeats a move, never "undo", "load" or "save": after "load; x; undo", a
            # remembered "undo" took the load back too.
            self._last_command = command.text
        command = answer_pending(self, command)
        turn = Turn()
        handler = self.actions.get(command.action, self.actions["freeform"])
        if command.action in self.parser.meta_actions:
            handler(self, turn, command)
            return self._finish(turn, command, ticked=False)
        before = self.state.copy()
        handler(self, turn, command)
        refused_only = (
            turn.events
            and all(event.kind == EventKind.ERROR for event in turn.events)
            and not turn.changes
            and not turn.prose
        )
        if turn.refused or refused_only:
            self.state = before
            return self._finish(turn, command, ticked=False)
        self._undo.append(_Undo(before, self.seed))
        self._loaded = ""
        self.state.turn += 1
        check_reached(self, turn)
        check_win(self, turn)
        return self._finish(turn, command, ticked=True)

    def _finish(self, turn: Turn, command: Command, ticked: bool) -> StepResult:
        for event in turn.events:
            if event.kind in (EventKind.TEXT, EventKind.QUEST, EventKind.WON):
                self.state.add_story(event.text)
        requests: list[ContentRequest] = []
        seeded: list[ContentRequest] = []
        replayed: list[str] = []
        for index, request in enumerate(turn.prose):
            request = replace(
                request,
                seed=derive_seed(self.seed, self.state.turn, index),
                room=self.room().name,
                command=command.text,
                story=tuple(self.state.story[-STORY_CONTEXT:]),
                tone=self.tone(),
            )
            request = absent_names(self.names, self.world, request, self.state.room)
            seeded.append(request)
            if request.cache_key and request.cache_key in self.cache:
                cached = self.cache[request.cache_key]
                if cached:  # "" means: nothing was added to the authored text
                    turn.say(cached, EventKind.PROSE)
                    self.state.add_story(cached)
                    replayed.append(request.cache_key)
            else:
                requests.append(request)
        if seeded:
            self._last_prose = seeded
            self._replaceable.clear()
        requests.extend(turn.retried)
        if any(event.kind == EventKind.WON for event in turn.events):
            # Nothing is narrated after the ending: text that has no author is given by
            # the engine's own fallback, before the win box.
            at = next(i for i, event in enumerate(turn.events) if event.kind == EventKind.WON)
            extra = [
                Event(EventKind.TEXT, r.fallback) for r in requests if r.fallback and not r.authored
            ]
            turn.events[at:at] = extra
            requests = []
        if ticked and (problem := self.saving.after_turn(self)):
            turn.say(f"Autosave failed: {problem}", EventKind.ERROR)
        return StepResult(
            command=command.text,
            events=turn.events,
            changes=turn.changes,
            requests=requests,
            turn=self.state.turn,
            won=self.state.won,
            quit=turn.quit,
            replayed=replayed,
        )

    # Undo, saves.

    def undo(self, turn: Turn) -> None:
        if not self._undo:
            since = f" since you loaded '{self._loaded}'" if self._loaded else ""
            turn.say(f"There is nothing to undo{since}.", EventKind.SYSTEM)
            return
        taken = self._undo.pop()
        self.state = taken.state
        self.seed = taken.seed
        turn.changes.append("undo")
        turn.say(f"Undone. It is turn {self.state.turn}, in {self.room().name}.", EventKind.SYSTEM)

    def load_from(self, name: str) -> str:
        """Play a save's game in place of this one (the in-game "load"), as opening it from
        the menu does: the game left is autosaved first, into its own slot, and the loaded
        game autosaves into its own. A load is a boundary: "undo" and "again" never reach
        back into the game that was left (a load typed by mistake is taken back by loading
        that autosave). On any error nothing changes.

        Returns:
            The autosave that holds the game left, "" when none does (saving is off, or
            nothing was played in it).

        Raises:
            SaveError: the save is missing, broken or does not fit this world.
            StateError: loading is off, or the game left could not be autosaved.
        """
        saves_dir = self.saving.saves_dir
        if saves_dir is None:
            raise StateError("loading is off in this game (no saves folder)")
        # Typed in the game: names in the saves folder only, never a path elsewhere.
        loaded = Game.load(name, saves_dir, world=self.world, allow_path=False)
        problem = self.saving.before_leaving(self)
        if problem:
            raise StateError(
                f"the game you are playing could not be autosaved first ({problem}), so it was kept"
            )
        left = self.saving.autosave_name
        kept = left if self.saving.autosave and save_path(left, saves_dir).is_file() else ""
        self.state = loaded.state
        self.seed = loaded.seed
        self.cache = dict(loaded.cache)  # its own prose, as when opened from the menu
        self.pending = None
        self.saving.autosave_name = loaded.saving.autosave_name
        self.saving.loaded()  # the autosave follows the game now played
        self._undo.clear()
        self._last_command = ""
        self._last_prose = []
        self._retries = 0
        self._replaceable.clear()
        self._loaded = save_name(name)
        return kept

    def to_dict(self) -> dict[str, Any]:
        data = {
            "world": self.world.name,
            "seed": self.seed,
            "state": self.state.to_dict(),
            "cache": dict(sorted(self.cache.items())),
        }
        if self.note:
            data["note"] = self.note
        return data

    @classmethod
    def from_dict(
        cls,
        data: dict[str, Any],
        world: World,
        saves_dir: Path | None = None,
        autosave_every: int = 5,
    ) -> Game:
        """Rebuild a game from ``to_dict`` output.

        Raises:
            StateError: the data is for another world or does not fit this one.
        """
        if not isinstance(data, dict):
            raise StateError("a game must be an object")
        if data.get("world") != world.name:
            raise StateError(f"this game is for world '{data.get('world')}', not '{world.name}'")
        seed = data.get("seed", 0)
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise StateError("seed must be a whole number")
        cache = data.get("cache", {})
        if not isinstance(cache, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in cache.items()
        ):
            raise StateError("cache must map keys to text")
        cache = {key: strip_unsafe(value)[:MAX_PROSE_CHARS] for key, value in cache.items()}
        note = data.get("note", "")
        if not isinstance(note, str):
            raise StateError("note must be text")
        state = GameState.from_dict(data.get("state"), world)
        state.story = [strip_unsafe(line) for line in state.story]
        game = cls(world, state, seed, saves_dir, autosave_every, cache=cache)
        game.set_note(note)
        return game

    @classmethod
    def load(
        cls,
        name_or_path: str,
        saves_dir: Path,
        world: World | None = None,
        *,
        allow_path: bool = True,
    ) -> Game:
        """Load a saved game by name or path (``saves.open_save`` says how it is found).

        Raises:
            SaveError: the file is missing, broken, of an unknown version, or does not fit
                its world. Nothing on disk is changed.
        """
        opened = open_save(name_or_path, saves_dir, world, allow_path=allow_path)
        try:
            game = cls.from_dict(opened.game, opened.world, saves_dir=saves_dir)
        except StateError as error:
            raise SaveError(
                f"{opened.label}: the save does not fit world '{opened.world.name}': {error}"
            ) from None
        if is_autosave(opened.path.stem):
            # Continuing a game autosaves into its own slot again; a named save played on
            # starts a slot of its own, so it never overwrites another game's autosave.
            game.saving.autosave_name = opened.path.stem
        # Leaving it saves it, played or not: "Continue" then comes back to this game.
        game.saving.loaded()
        return game
