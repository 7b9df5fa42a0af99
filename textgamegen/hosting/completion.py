"""Raw text completion over a loaded causal LM: the engine behind ``textgamegen serve-model``.

The game's own generator builds prompts, reranks and cleans; the model server must not:
it continues whatever prompt a client sends, as OpenAI's ``/v1/completions`` does, with
``max_tokens``, ``temperature``, ``top_p``, ``n``, ``stop`` strings and ``seed``. It works
on any Hugging Face causal LM (``model``, ``tokenizer``, ``device`` of a loaded
generator) with the generic KV-cache step and the sampler of ``generation.decode``, so a
Llama narrator serves as a GPT-2 does.

The prompt's cache is computed once and repeated for the ``n`` choices, which then
decode together in one batch. Text streams per choice through ``on_piece`` with
anything that might still become a stop string (or half a UTF-8 character) held back,
and a cancel event is checked before every step, so a client that went away stops the
work within one token. Imports torch; only the model server imports this module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import torch

from textgamegen.config import SamplingSettings
from textgamegen.narration.decode import (
    Barred,
    cache_argument,
    context_window,
    last_logits_only,
    output_cache,
    pick,
)

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from textgamegen.narration.generator import Generator

MAX_STOPS = 4
MAX_N = 16
MAX_LOGPROBS = 5
MAX_BAD_WORDS = 512
MAX_BAD_WORD_CHARS = 50

# Called from the engine's thread after each token and at each choice's end: (choice
# index, text that became final, finish reason or None, the token's log-probability or
# None at the end). The text may be "" while a possible stop string is held back.
PieceSink = Callable[[int, str, "str | None", "float | None"], None]


class CompletionError(ValueError):
    """A request the engine cannot serve; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param


@dataclass
class CompletionParams:
    """One request's sampling, as the OpenAI completions API names it.

    ``top_k``, ``repetition_penalty``, ``min_tokens``, ``skip_special_tokens``,
    ``add_special_tokens`` and ``bad_words`` are the extra parameters vLLM also accepts;
    the game sends them so a narration sampled remotely matches one sampled in-process.
    ``bad_words`` means what it means to vLLM: a word's last token is barred wherever the
    rest of it, with or without a leading space, has just been written.
    """

    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None
    min_tokens: int = 0
    logprobs: int | None = None
    skip_special_tokens: bool = True
    add_special_tokens: bool = False
    bad_words: tuple[str, ...] = ()

    def check(self) -> None:
        """Raise CompletionError (400) naming the first bad parameter."""
        rules = [
            ("max_tokens", self.max_tokens >= 1, "must be 1 or more"),
            ("temperature", 0.0 <= self.temperature <= 2.0, "must be between 0 and 2"),
            ("top_p", 0.0 < self.top_p <= 1.0, "must be above 0 and at most 1"),
            ("top_k", self.top_k >= 0 or self.top_k == -1, "must be 0 (off), -1 (off) or more"),
            (
                "repetition_penalty",
                1.0 <= self.repetition_penalty <= 2.0,
                "must be between 1 and 2",
            ),
            ("n", 1 <= self.n <= MAX_N, f"must be between 1 and {MAX_N}"),
            (
                "stop",
                len(self.stop) <= MAX_STOPS and all(self.stop),
                f"must be at most {MAX_STOPS} non-empty strings",
            ),
            (
                "min_tokens",
                0 <= self.min_tokens <= self.max_tokens,
                "must be between 0 and max_tokens",
            ),
            (
                "logprobs",
                self.logprobs is None or 0 <= self.logprobs <= MAX_LOGPROBS,
                f"must be between 0 and {MAX_LOGPROBS}",
            ),
            (
                "bad_words",
                len(self.bad_words) <= MAX_BAD_WORDS
                and all(0 < len(word.strip()) <= MAX_BAD_WORD_CHARS for word in self.bad_words),
                f"must be at most {MAX_BAD_WORDS} words of 1 to {MAX_BAD_WORD_CHARS} characters",
            ),
        ]
        for name, ok, why in rules:
            if not ok:
                raise CompletionError(f"'{name}' {why}", param=name)

    def sampling(self) -> SamplingSettings:
        """The sampler's settings; temperature 0 is greedy, as in OpenAI's API."""
        greedy = self.temperature == 0.0
        return replace(
            SamplingSettings(),
            do_sample=not greedy,
            temperature=1.0 if greedy else self.temperature,
            top_p=self.top_p,
            top_k=max(0, self.top_k),
            repetition_penalty=self.repetition_penalty,
            num_candidates=1,
            max_new_tokens=min(self.max_tokens, 512),
        )


@dataclass
class Choice:
    """One finished choice.

    Attributes:
        text: the completion, cut before any stop string.
        finish_reason: "stop" (end token or stop string), "length" or "cancelled".
        tokens: the generated ids (the end token excluded).
        token_logprobs: each generated token's log-probability under the raw model.
        token_texts: each token's text (for ``logprobs``).
        top_logprobs: per token, the most likely alternatives (only when asked).
    """

    text: str = ""
    finish_reason: str | None = None
    tokens: list[int] = field(default_factory=list)
    token_logprobs: list[float] = field(default_factory=list)
    token_texts: list[str] = field(default_factory=list)
    top_logprobs: list[dict[str, float]] = field(default_factory=list)


@dataclass
class Completion:
    """What ``CompletionEngine.complete`` returns."""

    choices: list[Choice]
    prompt_tokens: int
    completion_tokens: int
    cancelled: bool = False
    queue_ms: float = 0.0
    total_ms: float = 0.0


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many characters at the end of ``text`` might be the start of a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


class _Row:
    """One choice being decoded: its ids, the text so far and how much has been sent."""

    def __init__(self, index: int) -> None:
        self.choice = Choice()
        self.index = index
        self.sent = 0
        self.full = ""
        self.done = False


class CompletionEngine:
    """Continue prompts with a loaded causal LM, one request at a time.

    Args:
        model: a transformers causal LM in eval mode, on ``device``.
        tokenizer: its tokenizer.
        device: "cpu", "cuda", ...
        name: the model id clients ask for.
        context: the context window in tokens (default: from the model's config).
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        device: str,
        name: str,
        context: int | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.name = name
        config = model.config
        self.context = int(context or context_window(config))
        ends: set[int] = set()
        for value in (
            getattr(tokenizer, "eos_token_id", None),
            getattr(config, "eos_token_id", None),
        ):
            if isinstance(value, int):
                ends.add(value)
            elif isinstance(value, (list, tuple)):
                ends.update(int(v) for v in value)
        self.end_ids = sorted(ends)
        specials = set(getattr(tokenizer, "all_special_ids", []) or [])
        for index, token in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).items():
            if getattr(token, "special", True):
                specials.add(int(index))
        self.special_ids = sorted(specials | ends)
        self.pad_id = self.end_ids[0] if self.end_ids else 0
        self._end = torch.tensor(self.end_ids or [-1], device=device)
        self._banned_early = torch.tensor(self.special_ids or [self.pad_id], device=device)
        self._cache_name = cache_argument(model)
        self._last_only = last_logits_only(model)
        self._lock = threading.Lock()

    @classmethod
    def from_generator(cls, generator: Generator) -> CompletionEngine:
        """The engine for a loaded local generator (its model, tokenizer and device).

        Raises:
            CompletionError: the generator has no local model (the template narrator, a
                model server).
        """
        from textgamegen.narration.causal_lm import CausalLMGenerator

        if not isinstance(generator, CausalLMGenerator):
            raise CompletionError(
                f"the generator {generator.name!r} has no model: "
                "serve a transformers model, not the template narrator",
                status=500,
            )
        return cls(
            generator.model,
            generator.tokenizer,
            generator.device,
            generator.name,
            generator.n_positions,
        )

    # -- tokens ---------------------------------------------------------------------------

    def encode(self, prompt: str | list[int], add_special_tokens: bool = False) -> list[int]:
        """The prompt's ids (a list of ints is taken as ids and checked)."""
        if isinstance(prompt, list):
            vocab = int(self.model.config.vocab_size)
            if not all(isinstance(i, int) and 0 <= i < vocab for i in prompt):
                raise CompletionError(
                    f"'prompt' token ids must be integers in [0, {vocab})", param="prompt"
                )
            return list(prompt)
        return list(self.tokenizer.encode(prompt, add_special_tokens=add_special_tokens))

    def bad_word_sequences(self, words: Sequence[str]) -> list[tuple[int, ...]]:
        """Each bad word's ids, as written and after a space (vLLM's reading)."""
        sequences: set[tuple[int, ...]] = set()
        for word in words:
            forms = [word] if word.startswith(" ") else [word, f" {word}"]
            for form in forms:
                ids = tuple(self.tokenizer.encode(form, add_special_tokens=False))
                if ids:
                    sequences.add(ids)
        return sorted(sequences)

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens))

    def check_length(self, prompt_tokens: int, max_tokens: int) -> None:
        """Raise CompletionError (400) when the prompt and the completion exceed the context."""
        if prompt_tokens == 0:
            raise CompletionError("'prompt' is empty: give at least one token", param="prompt")
        if prompt_tokens + max_tokens > self.context:
            raise CompletionError(
                f"This model's maximum context length is {self.context} tokens. However, you "
                f"requested {prompt_tokens + max_tokens} tokens ({prompt_tokens} in the prompt, "
                f"{max_tokens} for the completion). Shorten the prompt or lower max_tokens.",
                param="prompt",
            )

    # -- the work -------------------------------------------------------------------------

    def complete(
        self,
        prompt_ids: list[int],
        params: CompletionParams,
        on_piece: PieceSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Completion:
        """Continue one prompt ``params.n`` times.

        Args:
            prompt_ids: the prompt's ids (see ``encode``; ``check_length`` first).
            params: the request's sampling.
            on_piece: gets each choice's final text as it settles, then its finish reason.
            cancel: set by another thread (the client went away): stop before the next token.

        Returns:
            Every choice; ``cancelled`` when the cancel event stopped it.
        """
        queued = time.perf_counter()
        with self._lock:
            started = time.perf_counter()
            if cancel is not None and cancel.is_set():
                return Completion(
                    [Choice(finish_reason="cancelled") for _ in range(params.n)],
                    len(prompt_ids),
                    0,
                    cancelled=True,
                )
            with torch.inference_mode():
                result = self._complete(prompt_ids, params, on_piece, cancel)
        result.queue_ms = round((started - queued) * 1000, 2)
        result.total_ms = round((time.perf_counter() - queued) * 1000, 2)
        return result

    def _complete(
        self,
        prompt_ids: list[int],
        params: CompletionParams,
        on_piece: PieceSink | None,
        cancel: threading.Event | None,
    ) -> Completion:
        sampling = params.sampling()
        device = self.device
        generator = torch.Generator(device=device)
        if params.seed is None:
            generator.seed()
        else:
            generator.manual_seed(params.seed & ((1 << 63) - 1))
        count = params.n
        ids = torch.tensor([prompt_ids], device=device)
        out = self.model(input_ids=ids, use_cache=True, **self._last_only)
        cache, logits = output_cache(out), out.logits[:, -1, :].float()
        if count > 1:
            cache.batch_repeat_interleave(count)  # type: ignore[attr-defined]
            logits = logits.expand(count, -1)
        history = ids.expand(count, -1)
        barred = Barred.of(self.bad_word_sequences(params.bad_words))
        rows = [_Row(i) for i in range(count)]
        stops = params.stop
        cancelled = False
        for step in range(params.max_tokens):
            if cancel is not None and cancel.is_set():
                cancelled = True
                break
            banned = self._banned_early if step < params.min_tokens else None
            scores = logits
            if barred:
                scores = logits.masked_fill(barred.mask(history, logits.shape[-1]), -torch.inf)
            chosen, logprobs = pick(scores, history, sampling, generator, banned)
            top = None
            if params.logprobs:
                top = torch.log_softmax(logits, dim=-1).topk(params.logprobs, dim=-1)
            chosen_list = chosen.tolist()
            logprob_list = logprobs.tolist()
            ended = torch.isin(chosen, self._end).tolist()
            for row, token, logprob, is_end in zip(
                rows, chosen_list, logprob_list, ended, strict=True
            ):
                if row.done:
                    continue
                if is_end:
                    self._finish(row, "stop", on_piece, params)
                    continue
                self._grow(row, token, logprob, top, params, stops, on_piece)
                if not row.done and step == params.max_tokens - 1:
                    self._finish(row, "length", on_piece, params)
            if all(row.done for row in rows):
                break
            fed = torch.tensor(
                [
                    self.pad_id if row.done else token
                    for row, token in zip(rows, chosen_list, strict=True)
                ],
                device=device,
            )
            history = torch.cat([history, fed[:, None]], dim=1)
            out = self.model(input_ids=fed[:, None], use_cache=True, **{self._cache_name: cache})
            logits = out.logits[:, -1, :].float()
        for row in rows:
            if not row.done:
                self._finish(row, "cancelled" if cancelled else "length", on_piece, params)
        made = sum(len(row.choice.tokens) for row in rows)
        return Completion([row.choice for row in rows], len(prompt_ids), made, cancelled)

    def _grow(
        self,
        row: _Row,
        token: int,
        logprob: float,
        top: tuple[torch.Tensor, torch.Tensor] | None,
        params: CompletionParams,
        stops: Sequence[str],
        on_piece: PieceSink | None,
    ) -> None:
        choice = row.choice
        choice.tokens.append(token)
        choice.token_logprobs.append(round(float(logprob), 5))
        if params.logprobs is not None:
            choice.token_texts.append(self.decode([token], params.skip_special_tokens))
        if top is not None:
            values, indices = top
            choice.top_logprobs.append(
                {
                    self.decode([int(i)], False): round(float(v), 5)
                    for v, i in zip(
                        values[row.index].tolist(), indices[row.index].tolist(), strict=True
                    )
                }
            )
        text = self.decode(choice.tokens, params.skip_special_tokens)
        cut = min((at for at in (text.find(stop) for stop in stops) if at >= 0), default=-1)
        if cut >= 0:
            row.full = text[:cut]
            self._finish(row, "stop", on_piece, params)
            return
        row.full = text
        # Hold back a split UTF-8 character and the start of a possible stop string.
        settled = text.rstrip("\ufffd")
        settled = settled[: len(settled) - _held_back(settled, stops)]
        piece = ""
        if len(settled) > row.sent:
            piece = settled[row.sent :]
            row.sent = len(settled)
        if on_piece is not None:
            on_piece(row.index, piece, None, choice.token_logprobs[-1])

    def _finish(
        self, row: _Row, reason: str, on_piece: PieceSink | None, params: CompletionParams
    ) -> None:
        row.done = True
        # A character still split at the end will never be completed: drop its remains.
        text = row.full if reason == "stop" else row.full.rstrip("\ufffd")
        row.choice.text = text
        row.choice.finish_reason = reason
        if on_piece is not None:
            on_piece(row.index, text[row.sent :] if len(text) > row.sent else "", reason, None)
        row.sent = len(text)
