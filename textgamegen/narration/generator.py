"""The one interface the game calls to have prose written.

A generator takes a ``ContentRequest``, streams text through ``on_text`` as it is
produced, and returns a ``Narration``: the text to show, every candidate with its
scores, and timings. Backends: ``template`` (deterministic, pure Python, the fallback and
test double), ``transformers`` (local causal LMs: GPT-2, Llama/SmolLM2, LoRA adapters merged)
and ``openai`` (a model server speaking the OpenAI completions or chat API). MODEL_API.md describes
the protocol and the model folders.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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
        taken_back: phrases of the streamed line that named nothing on screen and were
            written again before they were shown (``narration.things``).
    """

    first_token_ms: float = 0.0
    total_ms: float = 0.0
    tokens_per_s: float = 0.0
    first_candidate_ms: float = 0.0
    prompt_tokens: int = 0
    reused_tokens: int = 0
    taken_back: int = 0


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


def left_alone(
    request: ContentRequest, colour: bool, backend: str, model: str, device: str
) -> Narration | None:
    """The empty narration for the world's own text when no colour is added to it
    (``sampling.colour`` off), or None when the request is the narrator's to write."""
    if not request.authored or colour:
        return None
    # The world's text stands alone: nothing to add, nothing to wait for.
    return Narration(request, "", backend=backend, model=model, device=device)


@runtime_checkable
class Generator(Protocol):
    """What every backend provides, and all that callers read of it.

    A backend subclasses ``Generator`` to take the defaults below and sets what differs,
    as class attributes or in ``__init__``; a class that only has the same members keeps to
    the protocol too. No caller reads anything of a generator that is not declared here.
    """

    name: str = "generator"
    """The model's name (registry name, directory, hub id or server model id)."""

    backend: str = "template"
    """Which backend this is: "template", "transformers" or "openai" (a model server)."""

    device: str = "cpu"
    """Where it runs ("cpu", "cuda", or the server's host:port)."""

    dtype: str = ""
    """The weights' number format ("float32", "bfloat16", "int8", "int4", "remote"); ""
    with no weights (the template narrator)."""

    quantized: bool = False
    """The linear layers were quantized for the CPU (int8, or 4 bits for decoding)."""

    resumes: bool = False
    """It goes on from ``ContentRequest.begun`` (the start of a line cut short) and
    streams that start first, so a line written ahead that the player's own request
    pre-empted is finished later rather than written again."""

    threads: int = 0
    """CPU threads given to torch (0: automatic, or no torch at all)."""

    load_ms: float = 0.0
    """How long loading took, in milliseconds (0.0 for the template narrator)."""

    notice: str = ""
    """A message for the player about this narrator, "" when there is none: set at load
    ("the narrator could not be loaded, playing with tiny") or later (an out-of-memory
    move to the CPU). Front ends show it once the generator is ready."""

    path: Path | None = None
    """The model directory it was loaded from (its weights' hash goes with feedback
    records); None for the template narrator, hub ids and model servers."""

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
