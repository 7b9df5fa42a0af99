"""The one interface the game calls to have prose written.

A generator takes a ``ContentRequest``, streams text through ``on_text`` as it is
produced, and returns a ``Narration``: the text to show, every candidate with its
scores, and timings. Backends: ``template`` (deterministic, pure Python, the fallback and
test double), ``transformers`` (local causal LMs: GPT-2, Llama/SmolLM2, LoRA adapters merged)
and ``openai`` (a model server speaking the OpenAI completions API). MODEL_API.md describes
the protocol and the model folders.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from textgamegen.engine.content import ContentRequest

TextSink = Callable[[str], None]


class GeneratorError(Exception):
    """A generator could not be loaded or could not run; the message is for the player."""


@dataclass
class Candidate:
    """One sampled continuation after cleanup.

    Attributes:
        text: the cleaned text.
        score: the overall rerank score (higher is better).
        scores: the parts of the score by name ("complete", "mentions", "novelty",
            "length", "logprob").
        mean_logprob: mean token log-probability under the model (0.0 for templates).
        tokens: how many tokens were generated.
    """

    text: str
    score: float = 0.0
    scores: dict[str, float] = field(default_factory=dict)
    mean_logprob: float = 0.0
    tokens: int = 0


@dataclass
class Timings:
    """How long one request took, from the call to ``generate``.

    Attributes:
        first_token_ms: until the first generated token was shown (streamed).
        total_ms: until the final narration was ready (every candidate, reranked).
        tokens_per_s: generated tokens (all candidates) per second of ``total_ms``.
        first_candidate_ms: until the streamed candidate was complete.
        prompt_tokens: the prompt's length in tokens.
        reused_tokens: prompt tokens whose KV cache came from the previous request.
    """

    first_token_ms: float = 0.0
    total_ms: float = 0.0
    tokens_per_s: float = 0.0
    first_candidate_ms: float = 0.0
    prompt_tokens: int = 0
    reused_tokens: int = 0


@dataclass
class Narration:
    """The final result of one request.

    Attributes:
        request: what was asked.
        text: the text shown to the player (never empty).
        candidates: every candidate, best first.
        timings: how long it took.
        prompt: the prompt as sent to the model ("" for templates).
        backend: "template" or "transformers".
        model: the model's name.
        device: where it ran ("cpu", "cuda").
        fallback: True when the text is the template fallback because the model gave
            nothing usable.
        cancelled: True when the caller cancelled; ``text`` holds what had streamed.
        notice: a message for the player (an out-of-memory retry on the CPU, ...).
    """

    request: ContentRequest
    text: str
    candidates: list[Candidate] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)
    prompt: str = ""
    backend: str = "template"
    model: str = "template"
    device: str = "cpu"
    fallback: bool = False
    cancelled: bool = False
    notice: str = ""


@runtime_checkable
class Generator(Protocol):
    """What every backend provides.

    ``name``, ``backend`` and ``device`` are read-only here, so a backend may give them as
    plain attributes or as properties (the remote one asks its server).
    """

    @property
    def name(self) -> str:
        """The model's name (registry name, directory, hub id or server model id)."""
        ...

    @property
    def backend(self) -> str:
        """Which backend this is: "template", "transformers" or "openai" (a model server)."""
        ...

    @property
    def device(self) -> str:
        """Where it runs ("cpu", "cuda", or the server's address)."""
        ...

    def generate(
        self,
        request: ContentRequest,
        on_text: TextSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Narration:
        """Write prose for one request.

        Args:
            request: what to write about.
            on_text: called with each new piece of the text that will be shown, as soon as
                it exists (word by word for templates, token by token for GPT-2). This is
                the first candidate, streamed so the player never waits for all of them;
                when reranking then prefers another, ``Narration.text`` differs from the
                streamed text and the caller replaces what it showed.
            cancel: when set by another thread, stop as soon as possible.

        Returns:
            The final narration, with candidates and timings.
        """
        ...
