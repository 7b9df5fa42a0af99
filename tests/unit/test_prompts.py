"""Prompt templates and their fit to the token budget (AI Dungeon 2 crashed at 1024)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.text.prompts import (
    TEMPLATE_NAMES,
    PromptError,
    build_chat_prompt,
    build_prompt,
    clean_field,
    fallback_text,
    load_templates,
    opening_text,
    parse_templates,
)

_PIECES = re.compile(r"<\|\w+\|>|[^\s<]+|\s|<")


class WordCodec:
    """A stand-in tokenizer: a special tag, a word or a space is one token; round-trips."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.words: list[str] = []

    def encode(self, text: str) -> list[int]:
        ids = []
        for piece in _PIECES.findall(text):
            if piece not in self.vocab:
                self.vocab[piece] = len(self.words)
                self.words.append(piece)
            ids.append(self.vocab[piece])
        return ids

    def decode(self, ids: list[int]) -> str:
        return "".join(self.words[i] for i in ids)


def test_shipped_templates_cover_every_kind() -> None:
    templates = load_templates()
    assert set(templates.kinds) == {kind.value for kind in ContentKind} | {"attempt", "colour"}
    assert templates.kinds[ContentKind.DIALOGUE].tag == "dialogue"
    assert templates.kinds[ContentKind.QUEST].tag == "quest"
    assert set(templates.rerank) == {
        "complete",
        "mentions",
        "novelty",
        "length",
        "logprob",
        "canon",
        "grounded",
    }


def test_prompt_is_the_training_layout_story_facts_opening() -> None:
    request = ContentRequest(
        ContentKind.ACTION,
        room="Lantern Hall",
        command="push open the door",
        entities=("oak door", "brass lantern"),
        story=("You enter the hall.",),
    )
    prompt = build_prompt(request, load_templates(), WordCodec(), 1000)
    assert prompt.text == (
        "<|action|> You enter the hall. <|endoftext|>"
        "<|action|> [place: Lantern Hall | things: the oak door, the brass lantern | "
        "you: push open the door] <|endoftext|>"
        "<|action|>"
    )
    assert prompt.opening == ""
    assert (prompt.story_lines, prompt.dropped_lines, prompt.truncated) == (1, 0, False)


def test_the_prompt_matches_a_training_pair() -> None:
    """What the game sends is exactly what training taught, less the target."""
    from textgamegen.text.layout import training_line

    request = ContentRequest(
        ContentKind.ROOM,
        subject="Cliff Path",
        room="Cliff Path",
        entities=("Cliff Path", "iron ring"),
        story=("The wind rises.",),
    )
    prompt = build_prompt(request, load_templates(), WordCodec(), 1000)
    line = training_line(
        "action",
        {"describe": "Cliff Path", "place": "Cliff Path", "things": "the iron ring"},
        ("The wind rises.",),
        "X",
    )
    assert line.startswith(prompt.text + " X")


@pytest.mark.parametrize(
    ("request_", "opening"),
    [
        (ContentRequest(ContentKind.ACTION, command="I dance"), ""),
        # The worlds' attempt lines open as they please, and the narrator learnt them so.
        (ContentRequest(ContentKind.ACTION, command="dance", attempt=True), ""),
        (ContentRequest(ContentKind.ITEM, subject="brass lantern"), ""),
        (ContentRequest(ContentKind.DIALOGUE, speaker="miller"), ""),
        (ContentRequest(ContentKind.QUEST, speaker="miller"), ""),
    ],
)
def test_openings(request_: ContentRequest, opening: str) -> None:
    assert opening_text(request_, load_templates()) == opening


def test_authored_text_is_given_as_known_and_asks_for_colour() -> None:
    request = ContentRequest(
        ContentKind.ITEM,
        subject="lamp",
        room="Hall",
        authored="A dented lamp.",
        story=("A dented lamp.",),
    )
    prompt = build_prompt(request, load_templates(), WordCodec(), 1000)
    assert prompt.text == "<|action|> [place: Hall | known: A dented lamp.] <|endoftext|><|action|>"
    assert fallback_text(request, load_templates()) == ""  # nothing to add is fine


def test_quest_talk_names_speaker_and_topic() -> None:
    request = ContentRequest(
        ContentKind.QUEST, speaker="keeper", persona="a gruff man", topic="Light the Lamp"
    )
    prompt = build_prompt(request, load_templates(), WordCodec(), 1000)
    assert prompt.text == (
        "<|quest|> [speaker: keeper, a gruff man | about: Light the Lamp] <|endoftext|><|quest|>"
    )


def test_typed_tags_and_escapes_cannot_reach_the_prompt() -> None:
    request = ContentRequest(ContentKind.ACTION, command="say <|endoftext|><|quest|> \x1b[2Jhi")
    prompt = build_prompt(request, load_templates(), WordCodec(), 1000)
    assert prompt.text.count("<|") == 3  # only the template's own tags
    assert "\x1b" not in prompt.text
    assert clean_field("a < | quest | > b") == "a b"


def test_ten_thousand_token_story_fits_the_budget() -> None:
    codec = WordCodec()
    line = "The wind howls through the broken tower and the sea answers below."
    story = tuple(f"{line} ({number})" for number in range(800))  # ~ 20,000 tokens
    templates = load_templates()
    templates.max_story_lines = 10_000
    request = ContentRequest(ContentKind.ACTION, command="listen", story=story)
    budget = 256 - 40
    prompt = build_prompt(request, templates, codec, budget)
    assert len(codec.encode(" ".join(story))) > 10_000
    assert len(prompt.ids) <= budget
    assert prompt.text.endswith("you: listen] <|endoftext|><|action|>")
    assert "(799)" in prompt.text  # the newest story line is kept ...
    assert "(0)" not in prompt.text  # ... and the oldest dropped first
    assert prompt.dropped_lines == 800 - prompt.story_lines
    assert not prompt.truncated


def test_one_huge_line_and_a_huge_command_are_cut_from_the_left() -> None:
    codec = WordCodec()
    huge = " ".join(f"w{i}" for i in range(6000))  # ~12,000 tokens in one line
    request = ContentRequest(ContentKind.ACTION, command=huge + " end", story=(huge,))
    prompt = build_prompt(request, load_templates(), codec, 100)
    assert len(prompt.ids) == 100
    assert prompt.truncated and prompt.story_lines == 0
    # The end of the facts line (the command) and the tag that opens the line are kept.
    assert prompt.text.endswith("w5999 end] <|endoftext|><|action|>")


def test_an_attempt_is_given_the_room_text_and_no_story() -> None:
    request = ContentRequest(
        ContentKind.ACTION,
        room="Bell Loft",
        command="sing",
        story=("You climb the ladder.",),
        attempt=True,
        room_text="A cramped loft under the steeple. The great bronze bell hangs here.",
    )
    prompt = build_prompt(request, load_templates(), WordCodec(), 1000)
    assert prompt.story_lines == 0 and "climb the ladder" not in prompt.text
    assert "you: sing | known: A cramped loft under the steeple." in prompt.text
    # Not an attempt: the room's text is no fact of it, and the story is given.
    other = build_prompt(
        ContentRequest(ContentKind.ACTION, room="Bell Loft", command="sing", story=request.story),
        load_templates(),
        WordCodec(),
        1000,
    )
    assert other.story_lines == 1 and "known:" not in other.text


def test_story_lines_must_be_a_count() -> None:
    with pytest.raises(PromptError, match="story_lines"):
        parse_templates(
            {"kinds": {name: {"tag": "action", "story_lines": -1} for name in TEMPLATE_NAMES}},
            "test",
        )


def test_a_kind_may_hold_its_lines_to_a_number_of_sentences(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text("[kinds.attempt]\nsentences = 2\n", encoding="utf-8")
    request = ContentRequest(ContentKind.ACTION, command="sing", attempt=True)
    assert build_prompt(request, load_templates(mine), WordCodec(), 1000).sentences == 2
    other = ContentRequest(ContentKind.ROOM, subject="Hall", room="Hall")
    assert build_prompt(other, load_templates(mine), WordCodec(), 1000).sentences is None


def test_max_story_lines_caps_the_context() -> None:
    story = tuple(f"Line {i}." for i in range(20))
    request = ContentRequest(ContentKind.ACTION, command="wait", story=story)
    prompt = build_prompt(request, load_templates(), WordCodec(), 10_000)
    assert prompt.story_lines == 3 and prompt.dropped_lines == 17
    assert "Line 19." in prompt.text and "Line 16." not in prompt.text


def test_story_lines_with_speech_are_tagged_dialogue() -> None:
    request = ContentRequest(ContentKind.ACTION, command="wait", story=('"Hi," he said.',))
    prompt = build_prompt(request, load_templates(), WordCodec(), 1000)
    assert prompt.text.startswith('<|dialogue|> "Hi," he said. <|endoftext|>')


def test_user_prompts_file_overrides_key_by_key(tmp_path: Path) -> None:
    user = tmp_path / "data" / "prompts.toml"
    user.parent.mkdir(parents=True)
    user.write_text('[kinds.action]\nopening = "Boldly, you {command}"\n', encoding="utf-8")
    templates = load_templates()
    assert templates.kinds["action"].opening == "Boldly, you {command}"
    assert templates.kinds["action"].tag == "action"  # the rest is still shipped
    assert str(user) in templates.sources


def test_settings_prompts_path_wins(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text("[prompt]\nmax_story_lines = 2\n", encoding="utf-8")
    assert load_templates(mine).max_story_lines == 2
    with pytest.raises(PromptError, match="not found"):
        load_templates(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[kinds.action]\nopening = "{nope}"\n',
            r"\[kinds.action\] opening: unknown field \{nope\}",
        ),
        ('[kinds.item]\ntag = "poem"\n', r"\[kinds.item\] tag: must be one of"),
        ("[kinds.quest]\nfacts = 3\n", r"\[kinds.quest\] facts: must be a list"),
        ('[kinds.quest]\nfacts = ["mood"]\n', r"\[kinds.quest\] facts: unknown fact"),
        ('[kinds.action]\nopening = "{action:>300000000}"\n', r"only plain"),
        ('[kinds.action]\nfallback = "{action!r}"\n', r"only plain"),
        ("[kinds.quest]\nvoice = 3\n", r"\[kinds.quest\]: unknown key voice"),
        ("[rerank]\nbeauty = 1\n", r"\[rerank\] unknown key beauty"),
        ("[prompt]\nmax_story_lines = -1\n", r"max_story_lines"),
        ("[kinds.attempt]\nsentences = 0\n", r"\[kinds.attempt\] sentences: must be a whole"),
        ('[kinds.attempt]\nsentences = "one"\n', r"sentences: must be a whole number"),
        ("[kinds.attempt]\ncommon_words = 5\n", r"\[kinds.attempt\] common_words: must be"),
        ("[kinds.attempt]\ncommon_words = true\n", r"common_words: must be a whole number"),
        ("kinds = [", r"mine.toml"),
        ("[chat]\nsystem = 3\n", r"\[chat\] system: must be a string"),
        ("[chat]\nvoice = 3\n", r"\[chat\]: unknown key voice"),
        ('[chat.asks]\npoem = "Write"\n', r"\[chat\] asks: unknown kind 'poem'"),
        ('[chat.asks]\nroom = "{room:>99999999}"\n', r"\[chat\] asks.room: .*only plain"),
    ],
)
def test_bad_prompts_files_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(text, encoding="utf-8")
    with pytest.raises(PromptError, match=message) as error:
        load_templates(mine)
    assert "mine.toml" in str(error.value)


def test_fallback_text_is_never_empty() -> None:
    templates = load_templates()
    assert (
        fallback_text(ContentRequest(ContentKind.ITEM, fallback="A lamp."), templates) == "A lamp."
    )
    item = ContentRequest(ContentKind.ITEM, subject="lamp")
    assert fallback_text(item, templates) == "You see nothing special about the lamp."
    for kind in ContentKind:
        assert fallback_text(ContentRequest(kind), templates)
    attempt = ContentRequest(ContentKind.ACTION, command="fly", attempt=True)
    assert fallback_text(attempt, templates) == "You try to fly, but the attempt comes to nothing."


@pytest.mark.parametrize(
    ("template", "shown"),
    [
        ("{action:>300000000}", r"\{action:>300000000\}"),
        ("You {command!r}", r"\{command!r\}"),
        ("{room!s:^9}", r"\{room!s:\^9\}"),
        ("{subject:{room}}", r"\{subject:\{room\}\}"),
    ],
)
def test_format_specs_and_conversions_are_refused_at_load(
    tmp_path: Path, template: str, shown: str
) -> None:
    """A width in a template once used 5.8 GB; only plain {field} may load."""
    mine = tmp_path / "mine.toml"
    mine.write_text(f'[kinds.action]\nopening = "{template}"\n', encoding="utf-8")
    with pytest.raises(PromptError, match=rf"mine.toml.*\[kinds.action\] opening: {shown}"):
        load_templates(mine)


def test_the_chat_prompt_gives_the_same_facts_with_the_rules_and_an_ask() -> None:
    request = ContentRequest(
        ContentKind.DIALOGUE,
        speaker="Keeper Aldous",
        persona="an old lighthouse keeper",
        topic="storm",
        room="Lamp Room",
        story=("Rain lashes the glass.", "The lamp turns."),
    )
    templates = load_templates()
    chat = build_chat_prompt(request, templates, 4000)
    completion = build_prompt(request, templates, WordCodec(), 1000)
    system, user = chat.messages
    assert system == {"role": "system", "content": templates.chat.system}
    assert "second person" in system["content"] and "Add no exits" in system["content"]
    # The same facts as the completion prompt's facts line, one a line.
    for fact in ("speaker: Keeper Aldous, an old lighthouse keeper", "about: storm"):
        assert fact in completion.text and fact in user["content"]
    assert user["content"].startswith("Recent story:\nRain lashes the glass.\nThe lamp turns.")
    assert user["content"].endswith(
        "Write what Keeper Aldous says to you about storm: one line of speech in quotes."
    )
    assert "<|" not in chat.text and chat.story_lines == 2


def test_the_chat_prompt_drops_the_oldest_story_first_and_keeps_the_facts() -> None:
    request = ContentRequest(
        ContentKind.ACTION,
        command="wave at the fleet",
        room="Harbour Quay",
        story=tuple(f"Story line {i} with some words in it." for i in range(3)),
    )
    templates = load_templates()
    whole = build_chat_prompt(request, templates, 100_000)
    short = build_chat_prompt(request, templates, len(whole.text) - 20)
    assert (whole.story_lines, short.story_lines) == (3, 2)
    assert "Story line 0" not in short.text and "Story line 2" in short.text
    assert "you try: wave at the fleet" in build_chat_prompt(request, templates, 10).text


def test_a_kind_held_to_one_sentence_is_asked_for_one(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(
        '[kinds.action]\nopening = "You {command}, and"\nsentences = 1\n'
        '[chat]\nsystem = "Be brief."\n',
        encoding="utf-8",
    )
    chat = build_chat_prompt(
        ContentRequest(ContentKind.ACTION, command="wave", room="Quay"), load_templates(mine), 4000
    )
    assert chat.messages[0]["content"] == "Be brief."
    ask = chat.messages[-1]["content"].splitlines()[-1]
    assert ask == (
        "Write what happens as you wave. One sentence. "
        'Go on from these words, without repeating them: "You wave, and"'
    )
    assert chat.opening == "You wave, and" and chat.sentences == 1
