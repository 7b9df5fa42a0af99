"""``world``: a TextGameGen world file (TOML) as conditioned examples.

Every authored text in a world is a perfect training pair: the facts the game knows (the
room, what is in it, who speaks and about what, what the player did) and the text the
author wrote for them, laid out as the game prompts for that kind of text
(``assets/prompts.toml``):

- attempt: a room's ``attempts`` -> ``[place | things | known: the room's text | you: kick
  the door]``, the line that answers it (nothing changes). The room's text is given
  because the lines name what it names (the dials, the headstones): without it the model
  learns to make up a room's contents, and it does so in play;
- description: rooms, scenery, items and people -> ``[describe | place]``; a use effect ->
  ``[things | you: use X on Y]``;
- colour: a room's ``colour`` lines -> ``[place | things | known: the room's text]``;
- dialogue: greetings, topics, remarks, thanks and refusals -> ``[speaker | about | place]``;
- quest: quest text, done text, reminders and what comes next -> ``[speaker | about]``.

Every example also carries the world's ``tone`` when it has one, as play does.

Each example records its kind, so ``stats.json`` can count the hand-written lines of each.
"""

from __future__ import annotations

from pathlib import Path

from training.config import CorpusConfig, Source
from training.formats.extraction import Example, Extraction, rejection, tidy


def _things(names: list[str]) -> str:
    return ", ".join(name if name[:1].isupper() else f"the {name}" for name in names)


def extract_world(text: str, path: Path, source: Source, corpus: CorpusConfig) -> Extraction:
    """Authored texts of one world with the facts the game prompts with."""
    from textgamegen.engine.world import WorldError, parse_world

    result = Extraction()
    try:
        world = parse_world(text, str(path), path.stem)
    except WorldError as error:
        result.dropped[f"not a valid world: {error}"] += 1
        return result
    min_words = source.min_words or corpus.min_words

    def add(
        kind: str, tag: str, facts: dict[str, str], target: str, story: tuple[str, ...] = ()
    ) -> None:
        target = tidy(target, corpus)
        reason = rejection(target, min_words, corpus.max_words)
        if reason:
            result.dropped[reason] += 1
            return
        # Every line carries its world's tone, as play gives it, so the narrator learns to
        # follow the fact (and a player's note, which play writes into the same fact).
        kept = {key: value for key, value in {**facts, "tone": world.tone}.items() if value}
        result.examples.append(Example(target, tag, 1, facts=kept, story=story, kind=kind))

    def held(place: str) -> list[str]:
        people = [npc.name for npc in world.npcs.values() if npc.location == place]
        return people + [item.name for item in world.items.values() if item.location == place]

    def place_of(key: str) -> str:
        return world.rooms[key].name if key in world.rooms else ""

    for room in world.rooms.values():
        things = _things(held(room.key))
        add(
            "description",
            "action",
            {"describe": room.name, "place": room.name, "things": things},
            room.text,
        )
        for line in room.colour:
            add(
                "colour", "action", {"place": room.name, "things": things, "known": room.text}, line
            )
        for noun, line in room.scenery.items():
            add("description", "action", {"describe": f"the {noun}", "place": room.name}, line)
        for command, attempt in room.attempts.items():
            facts = {"place": room.name, "things": things, "known": room.text, "you": command}
            add("attempt", "action", facts, attempt.text)
    for item in world.items.values():
        add(
            "description",
            "action",
            {"describe": f"the {item.name}", "place": place_of(item.location)},
            item.text,
        )
        if item.use is not None:
            on = world.items.get(item.use.on) or world.npcs.get(item.use.on)
            command = f"use {item.name}" + (f" on {on.name}" if on else "")
            things = _things([item.name] + ([on.name] if on else []))
            add("description", "action", {"you": command, "things": things}, item.use.text)
    for npc in world.npcs.values():
        place = place_of(npc.location)
        who = f"{npc.name}, {npc.persona}" if npc.persona else npc.name
        add("description", "action", {"describe": npc.name, "place": place}, npc.text)
        spoken = [("greeting", npc.greeting), *npc.topics.items()]
        spoken += [("", line) for line in (*npc.remarks, npc.unknown, npc.thanks, npc.refuse)]
        for topic, line in spoken:
            if line:
                add("dialogue", "dialogue", {"speaker": who, "about": topic, "place": place}, line)
    for quest in world.quests.values():
        giver = world.npcs.get(quest.giver)
        speaker = f"{giver.name}, {giver.persona}" if giver and giver.persona else quest.giver
        speaker = speaker if giver else ""
        for line in (quest.text, quest.done_text, *quest.reminders, quest.next):
            if line:
                add("quest", "quest", {"speaker": speaker, "about": quest.title}, line)
    return result
