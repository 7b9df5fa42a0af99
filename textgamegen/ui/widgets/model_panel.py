"""The model panel: what the generator was asked and what it offered.

It shows the prompt, every candidate with its score (best first, the one shown marked),
the milliseconds to the first token and the tokens per second, so a player can watch the
model think. F2 hides it.
"""

from __future__ import annotations

import re

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from textgamegen.narration.generator import Narration
from textgamegen.paths import for_player
from textgamegen.safe_text import strip_unsafe

PROMPT_TAIL = 400
"""Characters of the prompt shown; its end is what the model continues from."""


SPECIAL_TOKEN = re.compile(r"<\|[^<>|\s]{1,40}\|>|</?s>|<(?:bos|eos|pad|unk)>|\[/?INST\]")
"""Special tokens of the chat and tag formats ("<|im_start|>", "<|action|>", "</s>")."""


def without_special_tokens(prompt: str) -> str:
    """The prompt as a person reads it: special tokens out, the spaces they left tidied."""
    text = SPECIAL_TOKEN.sub(" ", prompt)
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def _prompt_tail(prompt: str, raw: bool = False) -> str:
    prompt = strip_unsafe(prompt if raw else without_special_tokens(prompt))
    prompt = prompt.replace("\n", " ⏎ ")
    return prompt if len(prompt) <= PROMPT_TAIL else "…" + prompt[-PROMPT_TAIL:]


def timings_line(narration: Narration) -> str:
    """One line: backend, model, device and the timings of a narration (a hosted player
    sees "<model server>" for the server's address: ``paths.for_player``)."""
    timings = narration.timings
    parts = [
        for_player(f"{narration.backend}:{narration.model} on {narration.device}"),
        f"first token {timings.first_token_ms:.0f} ms",
        f"{timings.tokens_per_s:.1f} tok/s",
        f"total {timings.total_ms:.0f} ms",
    ]
    if narration.fallback:
        parts.append("template fallback")
    if narration.cancelled:
        parts.append("cancelled")
    return " · ".join(parts)


def render_narration(narration: Narration, raw_prompt: bool = False) -> Group:
    """The panel's content for one finished narration.

    Args:
        narration: what the generator returned.
        raw_prompt: show the prompt with its special tokens (the ``show_special_tokens``
            setting); by default they are left out.
    """
    request = narration.request
    head = Text()
    head.append(f"{request.kind.value}", style="bold")
    if request.subject:
        head.append(f" about {strip_unsafe(request.subject)}")
    head.append("  ")
    head.append(timings_line(narration), style="dim")
    parts: list = [head]
    if narration.notice:
        parts.append(Text(for_player(strip_unsafe(narration.notice)), style="italic"))
    if narration.prompt:
        prompt = Text("prompt: ", style="bold")
        prompt.append(_prompt_tail(narration.prompt, raw_prompt), style="dim")
        parts.append(prompt)
    table = Table(box=None, expand=True, show_edge=False, pad_edge=False)
    table.add_column("#", width=2, justify="right")
    table.add_column("score", width=6, justify="right")
    table.add_column("candidate", ratio=1)
    table.add_column("parts", style="dim", max_width=40)
    shown = narration.text.strip()
    for rank, candidate in enumerate(narration.candidates, start=1):
        marker = "▶" if candidate.text.strip() == shown else str(rank)
        parts_text = " ".join(f"{name} {value:.2f}" for name, value in candidate.scores.items())
        table.add_row(
            marker,
            f"{candidate.score:.2f}",
            Text(strip_unsafe(candidate.text)),
            Text(parts_text),
        )
    if narration.candidates:
        parts.append(table)
    return Group(*parts)


class ModelPanel(VerticalScroll):
    """Prompt, candidates with scores, and timings of the latest narration."""

    can_focus = False
    BORDER_TITLE = "Model"
    show_special_tokens = False
    """Show the prompt's special tokens (the setting of that name)."""

    def compose(self) -> ComposeResult:
        yield Static(Text("No prose written yet.", style="dim"), id="model-detail")

    def show_working(self, narration_kind: str, subject: str) -> None:
        """Say what the generator is working on now."""
        text = Text(f"writing {narration_kind}", style="bold")
        if subject:
            text.append(f" about {strip_unsafe(subject)}")
        text.append(" …", style="dim")
        self.query_one("#model-detail", Static).update(text)

    def show_narration(self, narration: Narration) -> None:
        """Show a finished narration."""
        self.query_one("#model-detail", Static).update(
            render_narration(narration, raw_prompt=self.show_special_tokens)
        )
        self.scroll_home(animate=False)

    def show_message(self, message: str) -> None:
        self.query_one("#model-detail", Static).update(Text(strip_unsafe(message), style="italic"))
