"""The game's own kind of text as training pairs: a world's attempts, colour, scenery,
people's lines and quest talk, each counted by kind; the training books' cast; and novel
sentences that bring in a name their facts do not give, left out."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from textgamegen.text.lexicon import load_lexicon
from training.config import CorpusConfig, Source, config_from_dict
from training.corpus import build_corpus, cast_names, count_names, unstated_names
from training.formats import extract

WORLD = """
[world]
title = "T"
start = "forge"
[win]
room = "forge"
[rooms.forge]
name = "The Cold Forge"
text = "A dented anvil squats by a hearth of grey ash, and the chimney moans."
colour = ["A draught stirs the ash and settles it again."]
[rooms.forge.scenery]
anvil = "A dented anvil, its face polished bright by years of hammering."
[rooms.forge.attempts]
"kick the anvil" = "You kick the anvil. It does not notice, and your toes ache for a while."
listen = "Wind in the chimney, and far off the drip of water on stone."
[items.tongs]
name = "iron tongs"
text = "Long iron tongs, black with soot and cold to the touch."
location = "forge"
[npcs.smith]
name = "Hedda"
persona = "the old smith"
location = "forge"
greeting = "\\"Cold forge, cold heart,\\" says Hedda, not looking up."
remarks = ["\\"The fire went out the night the bell cracked,\\" says Hedda."]
topics = { bell = "\\"Cracked clean through,\\" says Hedda, shaking her head slowly." }
[quests.coal]
title = "Coal for the Forge"
giver = "smith"
goal = { reach = "forge" }
text = "\\"Bring me coal from the pit and we shall see,\\" says Hedda."
reminders = ["\\"No coal yet? The pit is not so far,\\" says Hedda."]
"""


def test_a_world_gives_every_kind_of_line_with_the_games_facts(tmp_path: Path) -> None:
    path = tmp_path / "forge.toml"
    path.write_text(WORLD)
    source = Source(path=path.name, format="world")
    examples = extract(WORLD, path, source, CorpusConfig(sources=[source])).examples
    kinds = Counter(example.kind for example in examples)
    # Descriptions: the room, its scenery, the tongs (Hedda has no text of her own).
    assert kinds == {"attempt": 2, "colour": 1, "description": 3, "dialogue": 3, "quest": 2}
    kick = next(e for e in examples if e.text.startswith("You kick"))
    assert kick.tag == "action"
    assert kick.facts == {
        "place": "The Cold Forge",
        "things": "Hedda, the iron tongs",
        "you": "kick the anvil",
        # The room's text, as the game gives an attempt: the line may name the anvil.
        "known": "A dented anvil squats by a hearth of grey ash, and the chimney moans.",
    }
    colour = next(e for e in examples if e.kind == "colour")
    assert colour.facts["known"].startswith("A dented anvil")
    remark = next(e for e in examples if "bell cracked" in e.text)
    assert remark.tag == "dialogue" and remark.facts["speaker"] == "Hedda, the old smith"
    reminder = next(e for e in examples if e.text.startswith('"No coal'))
    assert reminder.tag == "quest" and reminder.facts["about"] == "Coal for the Forge"


def test_every_line_of_a_world_with_a_tone_carries_it_as_play_does(tmp_path: Path) -> None:
    text = WORLD.replace('title = "T"\n', 'title = "T"\ntone = "sooty and glum"\n')
    path = tmp_path / "forge.toml"
    path.write_text(text)
    source = Source(path=path.name, format="world")
    examples = extract(text, path, source, CorpusConfig(sources=[source])).examples
    assert examples and {example.facts.get("tone") for example in examples} == {"sooty and glum"}
    # Without a tone, no line has the fact (the test above reads the whole facts of one).
    plain = extract(WORLD, path, source, CorpusConfig(sources=[source])).examples
    assert not any("tone" in example.facts for example in plain)


def test_the_corpus_counts_lines_per_kind_and_writes_the_cast(tmp_path: Path) -> None:
    (tmp_path / "forge.toml").write_text(WORLD)
    (tmp_path / "book.txt").write_text(
        "Mowgli ran to the river with Akela. Then Mowgli slept by the fire.\n\n"
        "The wolf and Akela howled at the moon. Later Mowgli and Akela hunted.\n\n"
        "He said that Mowgli would come back before the rains.\n\n"
        "The will of the pack was strong, and Will was the pack's oldest wolf.\n"
    )
    config = config_from_dict(
        {
            "name": "t",
            "corpus": {
                "ratios": {"train": 0.8, "dev": 0.1, "test": 0.1},
                "min_words": 3,
                "sources": [
                    {"name": "forge", "path": "forge.toml", "format": "world"},
                    {"name": "book", "path": "book.txt", "format": "novel"},
                ],
            },
        },
        base_dir=tmp_path,
    )
    result = build_corpus(config, tmp_path / "out")
    stats = result.stats
    assert stats["per_kind"] == {
        "attempt": 2,
        "description": 3,
        "colour": 1,
        "dialogue": 3,
        "quest": 2,
    }
    assert stats["in_domain_lines"] == 11
    assert 0 < stats["in_domain_train_share"] < 1
    cast = json.loads((tmp_path / "out" / "cast.json").read_text())
    # Capitalised inside sentences three times or more, and never a lower-case word.
    assert cast == {"version": 1, "names": ["Akela", "Mowgli"]}
    assert stats["cast"] == 2
    # The lexicon: a book's words seen twice or more, and every word of the world.
    lexicon = load_lexicon(tmp_path / "out")
    assert lexicon is not None and stats["lexicon"] == len(lexicon)
    assert lexicon.has_word("akela") and lexicon.has_word("anvil")  # twice; the world's
    assert not lexicon.has_word("rains")  # once in the book


def test_names_its_facts_do_not_give() -> None:
    facts = {"things": "the Mock Turtle, the sea"}
    assert unstated_names('"There are you?" said the Mock Turtle to Alice.', facts) == ["Alice"]
    assert unstated_names("The tide came in. Then it went out.", {}) == []
    capitalised: Counter = Counter()
    lower: Counter = Counter()
    for text in ["Then Rose saw Tom.", "So Rose ran.", "And Rose sang."]:
        count_names(text, capitalised, lower)
    assert cast_names(capitalised, lower) == ["Rose"]
    count_names("roses and a rose and the rose rose up", capitalised, lower)
    assert cast_names(capitalised, lower) == []  # now an everyday word
