"""The parser as a table: typed text -> action, nouns, 'all'."""

from __future__ import annotations

import pytest

from textgamegen.engine.game import Game
from textgamegen.engine.parser import MAX_COMMAND_CHARS, VERBS, Parser, Verb, clean_command
from textgamegen.engine.world import World

CASES = [
    # text, action, noun, noun2, all
    ("n", "go", "north", "", False),
    ("NE", "go", "northeast", "", False),
    ("go north", "go", "north", "", False),
    ("walk to the south", "go", "south", "", False),
    ("up", "go", "up", "", False),
    ("d", "go", "down", "", False),
    ("go in", "go", "in", "", False),
    ("out", "go", "out", "", False),
    ("go", "go", "", "", False),
    ("look", "look", "", "", False),
    ("L", "look", "", "", False),
    ("look at the brass key", "examine", "brass key", "", False),
    ("x lamp", "examine", "lamp", "", False),
    ("examine an old map", "examine", "old map", "", False),
    ("take the lamp", "take", "lamp", "", False),
    ("Get Lamp", "take", "lamp", "", False),
    ("pick up the coin", "take", "coin", "", False),
    ("take all", "take", "", "", True),
    ("get everything", "take", "", "", True),
    ("take coin from the crate", "take", "coin", "crate", False),
    ("drop all", "drop", "", "", True),
    ("put down the lamp", "drop", "lamp", "", False),
    ("put the coin in the box", "put", "coin", "box", False),
    ("put coin into box", "put", "coin", "box", False),
    ("open crate", "open", "crate", "", False),
    ("shut the door", "close", "door", "", False),
    ("unlock door with brass key", "unlock", "door", "brass key", False),
    ("unlock gate", "unlock", "gate", "", False),
    ("read the notice", "read", "notice", "", False),
    ("use spyglass", "use", "spyglass", "", False),
    ("use tinderbox on the great lantern", "use", "tinderbox", "great lantern", False),
    ("i", "inventory", "", "", False),
    ("inventory", "inventory", "", "", False),
    ("talk to the sage", "talk", "sage", "", False),
    ("speak with Guard", "talk", "guard", "", False),
    ("ask sage about the gem", "ask", "sage", "gem", False),
    ("give the cup to the old sage", "give", "cup", "old sage", False),
    ("quests", "quests", "", "", False),
    ("journal", "quests", "", "", False),
    ("z", "wait", "", "", False),
    ("undo", "undo", "", "", False),
    ("retry", "retry", "", "", False),
    ("help", "help", "", "", False),
    ("quit", "quit", "", "", False),
    ("dance wildly", "freeform", "wildly", "", False),
    ("sing a sea shanty", "freeform", "sea shanty", "", False),
    ("", "empty", "", "", False),
    ("   ", "empty", "", "", False),
    ("take lamp.", "take", "lamp", "", False),
    ("i want to fly", "freeform", "want to fly", "", False),
    ("inventory please", "inventory", "", "", False),
    ("z z z", "freeform", "z z", "", False),
]


@pytest.mark.parametrize(("text", "action", "noun", "noun2", "everything"), CASES)
def test_parse_table(text: str, action: str, noun: str, noun2: str, everything: bool) -> None:
    command = Parser().parse(text)
    assert (command.action, command.noun, command.noun2, command.all) == (
        action,
        noun,
        noun2,
        everything,
    )


@pytest.mark.parametrize(
    ("text", "rest"), [("save My Game", "My Game"), ("load autosave", "autosave"), ("save", "")]
)
def test_save_and_load_keep_the_name_as_typed(text: str, rest: str) -> None:
    assert Parser().parse(text).rest == rest


BAD_INPUT = [
    "",
    "x" * 10_000,
    "take " + "lamp " * 3000,
    "\x1b[31mtake\x1b[0m lamp",
    "take\x00\x07 lamp\r\n",
    "🦜🦜🦜",
    "ВОЗЬМИ лампу",
    "\u200b\u200d",
    "the the the",
    "put in",
    "give to",
    "ask about",
    "\\x00",
    "'; DROP TABLE saves; --",
    "go \ud800",
]


@pytest.mark.parametrize("text", BAD_INPUT)
def test_any_string_parses_to_a_short_printable_command(text: str) -> None:
    command = Parser().parse(text)
    assert len(command.text) <= MAX_COMMAND_CHARS
    assert command.text.isprintable()
    assert command.action


def test_control_characters_are_stripped() -> None:
    assert clean_command("\x1b[31mtake\x1b[0m\tlamp\n") == "take lamp"


def test_each_parser_holds_its_own_verb_table() -> None:
    custom = Parser((Verb("dance", ("dance", "jig")),))
    assert custom.parse("jig").action == "dance"
    assert Parser().parse("jig").action == "freeform"
    assert "jig" not in Parser().words()


def test_every_verb_has_help_and_words() -> None:
    for verb in VERBS:
        assert verb.words and verb.help, verb.action


def test_the_verb_table_says_which_verbs_are_meta_and_their_help() -> None:
    meta = {
        "empty",
        "help",
        "undo",
        "retry",
        "rate",
        "note",
        "save",
        "load",
        "quit",
        "quests",
        "inventory",
        "hint",
        "map",
    }
    assert Parser().meta_actions == meta
    assert all(verb.help for verb in VERBS), "every verb has its line on the help screen"


@pytest.mark.parametrize("verb", [verb for verb in VERBS if verb.meta], ids=lambda v: v.action)
def test_meta_verbs_take_no_turn_and_help_lists_the_table(tiny_world: World, verb: Verb) -> None:
    game = Game.new(tiny_world, autosave=False)
    game.step("n")
    result = game.step(verb.words[0])
    assert result.turn == (0 if verb.action == "undo" else 1), "no turn passes"
    shown = "\n".join(event.text for event in game.step("help").events)
    assert verb.help in shown
