"""The template generator: deterministic prose without a model.

It is the fallback when no model can be loaded and the test double everywhere else. The
engine's own text (``request.fallback``: authored room, item and NPC text, an action's
own line) is used as it is, an action's with a line of colour picked by ``request.seed``;
requests with no text of their own get a line picked by the seed from a small set of
phrasings that name the subject or repeat the command. The same request always gives the
same text. Text streams word by word through ``on_text``.
"""

from __future__ import annotations

import random
import threading
import time

from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.narration.generator import Candidate, Generator, Narration, TextSink, Timings
from textgamegen.text.cleanup import clean_text
from textgamegen.text.prompts import PromptTemplates, fallback_text

# Neutral on purpose: the same lines narrate actions that worked and free-form attempts
# that change nothing, and the engine's own events already say which it was.
ACTION_LINES = (
    "You {command}. For a moment {room} is very still.",
    "You {command}. A breath of wind carries the sound away.",
    "You {command}. Everything in {room} seems to hold its breath.",
    "Carefully, you {command}. Somewhere far off, a bird calls.",
    "You {command}. The moment passes, and you gather your thoughts.",
)
# After an action's own line; no names in them, so nothing can lose its article.
AFTER_LINES = (
    "A breath of wind carries the sound away.",
    "Somewhere far off, a bird calls.",
    "The moment passes, and you gather your thoughts.",
)
DESCRIPTION_LINES = (
    "You look closely at the {subject}. Nothing about it seems out of place.",
    "The {subject} is much as you would expect, worn by salt and weather.",
    "There is little to say about the {subject}, though you study it for a while.",
)
DIALOGUE_LINES = (
    '"{subject}?" {speaker} says. "I can\'t say I know much about that."',
    "{speaker} thinks about {subject} for a moment, then shakes their head.",
    '"Ask me another time about {subject}," says {speaker}.',
)
QUEST_LINES = (
    "Your task is clear: {subject}.",
    "{speaker} is counting on you: {subject}.",
)


_LEAD_INS = ("i want to ", "i try to ", "i'd like to ", "let me ", "please ", "try to ", "i ")


def _as_action(command: str) -> str:
    """ "I want to climb the mast" -> "climb the mast", to follow "You ..."."""
    text = command.strip()
    lowered = text.casefold()
    for lead in _LEAD_INS:
        if lowered.startswith(lead):
            return text[len(lead) :].strip()
    return text


class TemplateGenerator(Generator):
    """Writes prose from templates; a ``Generator`` with no model."""

    name = "template"
    backend = "template"
    device = "cpu"

    def __init__(self, word_delay_s: float = 0.0) -> None:
        """Args:
        word_delay_s: pause between streamed words, so a UI can show the streaming.
        """
        self.word_delay_s = word_delay_s

    def text_for(self, request: ContentRequest) -> str:
        """The full text for a request, without streaming."""
        pick = random.Random(request.seed)
        subject = request.subject or "it"
        speaker = request.speaker or "someone"
        if request.authored:
            return ""  # the engine showed the authored text; a template adds no colour
        if request.attempt:
            return (
                request.fallback
                or f"You try to {_as_action(request.command)}, but the attempt comes to nothing."
            )
        if request.kind is ContentKind.ACTION and request.fallback:
            # The engine has just said what happened ("You unlock the tower hatch with the
            # brass key."); the typed command echoed after it ("You unlock tower hatch with
            # brass key.") said it again without the world's articles. The action's own
            # line says what follows, and the seed picks a touch of colour after it.
            return f"{request.fallback} {pick.choice(AFTER_LINES)}"
        if request.fallback:
            return request.fallback
        if request.kind is ContentKind.ACTION:
            command = _as_action(request.command) or f"deal with the {subject}"
            line = pick.choice(ACTION_LINES)
            text = line.format(command=command, room=request.room or "the room", subject=subject)
            if request.subject and request.subject.casefold() not in text.casefold():
                text += f" You keep a careful eye on the {request.subject}."
            return text
        lines = {
            ContentKind.ITEM: DESCRIPTION_LINES,
            ContentKind.ROOM: DESCRIPTION_LINES,
            ContentKind.DIALOGUE: DIALOGUE_LINES,
            ContentKind.QUEST: QUEST_LINES,
        }[request.kind]
        return pick.choice(lines).format(subject=subject, speaker=speaker)

    def generate(
        self,
        request: ContentRequest,
        on_text: TextSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Narration:
        """Write the text for ``request``, streaming it word by word.

        Args:
            request: what to write about.
            on_text: called with each word (after the first, with its leading space).
            cancel: when set, stop after the current word.

        Returns:
            A narration with one candidate; ``cancelled`` is set if it stopped early.
        """
        started = time.perf_counter()
        text = self.text_for(request)
        words = text.split(" ") if text else []
        shown: list[str] = []
        first_ms = 0.0
        cancelled = False
        for index, word in enumerate(words):
            piece = word if index == 0 else " " + word
            shown.append(piece)
            if index == 0:
                first_ms = (time.perf_counter() - started) * 1000
            if on_text is not None:
                on_text(piece)
            if cancel is not None and cancel.is_set() and index < len(words) - 1:
                cancelled = True
                break
            if self.word_delay_s:
                time.sleep(self.word_delay_s)
        final = "".join(shown) if cancelled else text
        total_ms = (time.perf_counter() - started) * 1000
        count = len(shown)
        timings = Timings(
            first_token_ms=first_ms,
            total_ms=total_ms,
            tokens_per_s=count / (total_ms / 1000) if total_ms > 0 else 0.0,
        )
        candidate = Candidate(text=final, score=1.0, scores={"template": 1.0}, tokens=count)
        return Narration(
            request=request,
            text=final,
            candidates=[candidate],
            timings=timings,
            backend=self.backend,
            model=self.name,
            device=self.device,
            cancelled=cancelled,
        )


def template_text(request: ContentRequest, templates: PromptTemplates) -> str:
    """The fallback text of the model narrators (local and remote): the request's own,
    else the template narrator's, else prompts.toml's. Empty only for a colour line after
    authored text, where nothing more needs saying."""
    if request.fallback.strip():
        return fallback_text(request, templates)
    text = clean_text(TemplateGenerator().generate(request).text)
    return text or fallback_text(request, templates)
