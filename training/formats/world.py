"""``world``: a TextGameGen world file (TOML) as conditioned examples.

Every authored text in a world is a perfect training pair: the facts the game knows (the
room, what is in it, who speaks and about what, what the player did) and the text the
author wrote for them. Rooms, items and people become ``describe`` lines, NPC topics and
greetings become dialogue, quest texts become quest talk and use effects become action
narration of the player's command.
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

    def add(tag: str, facts: dict[str, str], target: str) -> None:
        target = tidy(target, corpus)
        reason = rejection(target, min_words, corpus.max_words)
        if reason:
            result.dropped[reason] += 1
            return
        result.examples.append(Example(target, tag, 1, facts={k: v for k, v in facts.items() if v}))

    def held(place: str) -> list[str]:
        people = [npc.name for npc in world.npcs.values() if npc.location == place]
        return people + [item.name for item in world.items.values() if item.location == place]

    for room in world.rooms.values():
        add(
            "action",
            {"describe": room.name, "place": room.name, "things": _things(held(room.key))},
            room.text,
        )
    for item in world.items.values():
        place = world.rooms[item.location].name if item.location in world.rooms else ""
        add("action", {"describe": f"the {item.name}", "place": place}, item.text)
        if item.use is not None:
            on = world.items.get(item.use.on) or world.npcs.get(item.use.on)
            command = f"use {item.name}" + (f" on {on.name}" if on else "")
            add(
                "action",
                {"you": command, "things": _things([item.name] + ([on.name] if on else []))},
                item.use.text,
            )
    for npc in world.npcs.values():
        place = world.rooms[npc.location].name if npc.location in world.rooms else ""
        who = f"{npc.name}, {npc.persona}" if npc.persona else npc.name
        add("action", {"describe": npc.name, "place": place}, npc.text)
        if npc.greeting:
            add("dialogue", {"speaker": who, "about": "greeting", "place": place}, npc.greeting)
        for topic, line in npc.topics.items():
            add("dialogue", {"speaker": who, "about": topic, "place": place}, line)
    for quest in world.quests.values():
        giver = world.npcs.get(quest.giver)
        speaker = giver.name if giver else ""
        for line in (quest.text, quest.done_text):
            if line:
                add("quest", {"speaker": speaker, "about": quest.title}, line)
    return result
