"""Raw text completion over a loaded causal LM: the engine behind ``textgamegen serve-model``.

The game's own generator builds prompts, reranks and cleans; the model server must not:
it continues whatever prompt a client sends, as OpenAI's ``/v1/completions`` does, with
``max_tokens``, ``temperature``, ``top_p``, ``n``, ``stop`` strings and ``seed``, and
answers chats (``chat_prompt``: the tokenizer's chat template, or ``CHAT_LAYOUT``). It
works on any Hugging Face causal LM (``model``, ``tokenizer``, ``device`` of a loaded
generator) with the KV-cache helpers and the sampler of ``narration.decode``, so a Llama
narrator serves as a GPT-2 does.

Every choice is a row with its own random source, and rows decode in a ``Batch``: one
forward pass per step for every row, whichever request it belongs to. A prompt's cache is
computed once and copied for its choices; rows join between steps and leave when they
end. Text streams per choice through ``on_piece`` with anything that might still become a
stop string (or half a UTF-8 character) held back, and a cancel is seen before every
token, so a client that went away stops its rows within one step. A choice ends at the
model's own end tokens (``end_token_ids``) as well as at ``<|endoftext|>``. Imports
torch; only the model server imports this module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import torch

from textgamegen.config import SamplingSettings
from textgamegen.narration.decode import (
    Barred,
    cache_argument,
    cache_columns,
    context_window,
    copy_cache_rows,
    drop_cache_left,
    join_cache_rows,
    keep_cache_rows,
    last_logits_only,
    output_cache,
    pad_cache_left,
    pick,
)
from textgamegen.text.tags import END

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

    from textgamegen.narration.device import ThreadChoice
    from textgamegen.narration.generator import Generator

MAX_STOPS = 4
MAX_N = 16
MAX_LOGPROBS = 5
MAX_BAD_WORDS = 512
MAX_BAD_WORD_CHARS = 50
MAX_CHOICE_TOKENS = 4096
"""The most tokens one prompt may ask for over its choices (``n`` x ``max_tokens``): 16
choices of 256 tokens, or 8 of 512. More is refused (400) rather than left to hold rows of
the batch for minutes."""

CHAT_LAYOUT = "{role}: {content}\n\n"
"""How a chat reads to a model whose tokenizer has no chat template: each turn as
``role: text`` and a blank line, the answer after ``assistant:``; the answer stops where
the model starts another turn."""

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
                "max_tokens",
                self.n * self.max_tokens <= MAX_CHOICE_TOKENS,
                f"times n must be at most {MAX_CHOICE_TOKENS} tokens per prompt "
                f"(asked: n {self.n} x max_tokens {self.max_tokens})",
            ),
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


class Row:
    """One choice being decoded, alone or beside others: its text so far, how much of it
    was sent, its own random source and every id it has seen (prompt included), for the
    repetition penalty, the barred words and, after a preemption, its new prefill."""

    def __init__(self, request: Request, index: int, generator: torch.Generator) -> None:
        self.request = request
        self.index = index
        self.choice = Choice()
        self.sent = 0
        self.full = ""
        self.done = False
        self.generator = generator
        self.history = torch.tensor([request.ids], device=request.device)

    @property
    def length(self) -> int:
        """Positions this row has seen: its prompt and every token written."""
        return int(self.history.shape[1])


class Request:
    """One prompt's ``n`` choices, as the decode loop runs them.

    Each choice is a row with its own random source (seeded ``seed + index`` when the
    request has a seed), so its text does not depend on which rows decode beside it.

    Args:
        engine: the engine (its device and end tokens): the model that writes it, even
            when another is swapped in while it waits (``Scheduler.switch``).
        ids: the prompt's ids.
        params: the request's sampling.
        on_piece: gets each choice's settled text (see ``PieceSink``).
        cancel: set by another thread: every choice ends before its next token.
        client: rows of one client count together when the batch shares out its rows.
        end_ids: more ids that end a choice (a chat template's end of turn).
    """

    def __init__(
        self,
        engine: CompletionEngine,
        ids: list[int],
        params: CompletionParams,
        on_piece: PieceSink | None = None,
        cancel: threading.Event | None = None,
        client: object = None,
        end_ids: Sequence[int] = (),
    ) -> None:
        self.engine = engine
        self.ids = ids
        self.params = params
        self.sampling = params.sampling()
        self.on_piece = on_piece
        self.cancel = cancel or threading.Event()
        self.client = client if client is not None else self
        self.device = engine.device
        self.arrived = time.perf_counter()
        self.started: float | None = None
        ends = sorted(set(engine.end_ids) | set(end_ids))
        self.end = frozenset(ends)
        self.barred = Barred.of(engine.bad_word_sequences(params.bad_words))
        self.rows = []
        for index in range(params.n):
            generator = torch.Generator(device=engine.device)
            if params.seed is None:
                generator.seed()
            else:
                generator.manual_seed((params.seed + index) & ((1 << 63) - 1))
            self.rows.append(Row(self, index, generator))
        self.pending: list[Row] = list(self.rows)
        """Rows not in the batch: not yet started, or preempted (they keep their text)."""
        self.prefill: tuple[object, torch.Tensor] | None = None
        """The prompt's cache and next-token logits, kept while fresh rows wait for room."""
        self.done: Future[Completion] = Future()

    @property
    def cancelled(self) -> bool:
        return self.cancel.is_set()

    def completion(self) -> Completion:
        """Every choice, with the time waited for a row and the time since arriving."""
        made = sum(len(row.choice.tokens) for row in self.rows)
        now = time.perf_counter()
        started = self.started if self.started is not None else now
        return Completion(
            [row.choice for row in self.rows],
            len(self.ids),
            made,
            self.cancelled,
            queue_ms=round((started - self.arrived) * 1000, 2),
            total_ms=round((now - self.arrived) * 1000, 2),
        )


class Batch:
    """Rows from any number of requests, decoded together: one forward pass per step.

    Rows join between steps (``admit``) and leave when they finish or are preempted
    (``evict``); the cache keeps every row right-aligned (see ``narration.decode``'s cache
    helpers), so a row's text is the same whether it decodes alone or beside others. The
    caller holds the engine's lock and ``torch.inference_mode``.
    """

    def __init__(self, engine: CompletionEngine) -> None:
        self.engine = engine
        self.rows: list[Row] = []
        self.cache: object = None
        self.logits: torch.Tensor | None = None  # (rows, vocab): each row's next token

    def columns(self) -> int:
        return cache_columns(self.cache) if self.cache is not None else 0

    def admit(self, rows: Sequence[Row]) -> None:
        """Prefill the rows (a prompt once for all its fresh rows) and add them."""
        if self.engine.thread_choice is not None:
            # Automatic threads, chosen again as requests join (``device.ThreadChoice``):
            # every core on a quiet host, fewer while other programs crowd it.
            self.engine.thread_choice.choose()
        pieces: list[tuple[object, torch.Tensor, list[Row]]] = []
        fresh: dict[int, list[Row]] = {}
        for row in rows:
            if row.choice.tokens:
                # Preempted: its cache went, so its prompt and text so far are read again.
                cache, logits = self.engine.prefill(row.history[0].tolist())
                pieces.append((cache, logits, [row]))
            else:
                fresh.setdefault(id(row.request), []).append(row)
        for group in fresh.values():
            request = group[0].request
            if request.prefill is None:
                request.prefill = self.engine.prefill(request.ids)
            cache, logits = request.prefill
            pieces.append(
                (copy_cache_rows(cache, [0] * len(group)), logits.expand(len(group), -1), group)
            )
            if not any(not row.choice.tokens for row in request.pending if row not in group):
                request.prefill = None  # every fresh row has its copy
        for _cache, _logits, group in pieces:
            for row in group:
                row.request.pending.remove(row)
                if row.request.started is None:
                    row.request.started = time.perf_counter()
        width = max([self.columns(), *(cache_columns(cache) for cache, _, _ in pieces)])
        for cache, logits, group in pieces:
            pad_cache_left(cache, width - cache_columns(cache))
            if self.cache is None:
                self.cache, self.logits = cache, logits
            else:
                pad_cache_left(self.cache, width - self.columns())
                join_cache_rows(self.cache, cache)
                assert self.logits is not None
                self.logits = torch.cat([self.logits, logits])
            self.rows += group

    def evict(self, row: Row) -> None:
        """Take a live row out (its request waits to run it again, text kept)."""
        self._keep([other for other in self.rows if other is not row])
        row.request.pending.append(row)

    def _keep(self, rows: list[Row]) -> None:
        if len(rows) == len(self.rows):
            return
        if not rows:
            self.rows, self.cache, self.logits = [], None, None
            return
        where = {id(row): number for number, row in enumerate(self.rows)}
        keep = [where[id(row)] for row in rows]
        keep_cache_rows(self.cache, keep)
        assert self.logits is not None
        self.logits = self.logits[keep]
        self.rows = rows
        # Padding that only a row gone needed.
        drop_cache_left(self.cache, self.columns() - max(row.length for row in rows))

    def step(self) -> list[Request]:
        """One token for every row; returns the requests whose last row finished."""
        engine = self.engine
        finished: list[Request] = []
        assert self.logits is not None
        for number, row in enumerate(self.rows):
            if row.request.cancelled:
                engine.finish(row, "cancelled")
            else:
                engine.advance(row, self.logits[number : number + 1])
            if row.done and all(other.done for other in row.request.rows):
                finished.append(row.request)
        self._keep([row for row in self.rows if not row.done])
        if self.rows:
            # Each row's new token is its last id; the cache holds every id before it.
            cached = torch.tensor([row.length - 1 for row in self.rows], device=engine.device)
            width = self.columns()
            mask = (
                torch.arange(width + 1, device=engine.device)[None, :] >= (width - cached)[:, None]
            )
            fed = torch.cat([row.history[:, -1:] for row in self.rows])
            out = engine.model(
                input_ids=fed,
                attention_mask=mask.long(),
                position_ids=cached[:, None],
                use_cache=True,
                **{engine.cache_name: self.cache},
            )
            self.logits = out.logits[:, -1, :].float()
        return finished


class CompletionEngine:
    """Continue prompts with a loaded causal LM: one request at a time (``complete``), or
    rows of many requests in one batch (``Batch``, run by ``hosting.batching``).

    Args:
        model: a transformers causal LM in eval mode, on ``device``.
        tokenizer: its tokenizer.
        device: "cpu", "cuda", ...
        name: the model id clients ask for.
        context: the context window in tokens (default: from the model's config).
        weights: the weights' number format as loaded ("int8", "bfloat16", ...), for the
            host's log; "" when not known.
        int8_declined: why int8 weights were asked for ("auto") and not taken; "" else.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        device: str,
        name: str,
        context: int | None = None,
        *,
        weights: str = "",
        int8_declined: str = "",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        self.name = name
        self.weights = weights
        self.int8_declined = int8_declined
        config = model.config
        self.context = int(context or context_window(config))
        self.end_ids = end_token_ids(model, tokenizer)
        specials = set(getattr(tokenizer, "all_special_ids", []) or [])
        for index, token in (getattr(tokenizer, "added_tokens_decoder", {}) or {}).items():
            if getattr(token, "special", True):
                specials.add(int(index))
        self.special_ids = sorted(specials | set(self.end_ids))
        self.pad_id = self.end_ids[0] if self.end_ids else 0
        self._banned_early = torch.tensor(self.special_ids or [self.pad_id], device=device)
        self.cache_name = cache_argument(model)
        self._last_only = last_logits_only(model)
        self.lock = threading.Lock()
        """Held while the model runs: by ``complete``, or by the batch's thread per step."""
        self.chat_end_ids = self._chat_end_ids()
        self.thread_choice: ThreadChoice | None = None
        """The loaded narrator's automatic threads (``threads = 0`` on the CPU), or None."""

    def weights_text(self) -> str:
        """The weights as the host's log names them: "int8 weights", or "bfloat16 weights
        (int8 not taken: ...)" when ``quantize`` asked for int8 and it was not taken."""
        text = f"{self.weights or 'unknown'} weights"
        return f"{text} (int8 not taken: {self.int8_declined})" if self.int8_declined else text

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
        engine = cls(
            generator.model,
            generator.tokenizer,
            generator.device,
            generator.name,
            generator.n_positions,
            weights=generator.dtype,
            int8_declined=generator.int8_declined,
        )
        engine.thread_choice = generator.thread_choice
        return engine

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

    # -- chat -----------------------------------------------------------------------------

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def chat_prompt(self, messages: list[dict[str, str]]) -> str:
        """The conversation as the model reads it, ending where the assistant speaks: the
        tokenizer's own chat template, or ``CHAT_LAYOUT`` for a model without one."""
        if self.has_chat_template:
            try:
                text = self.tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=True
                )
            except Exception as error:  # noqa: BLE001 - a template's own refusal, as a 400
                raise CompletionError(
                    f"the model's chat template refused the messages: {error}", param="messages"
                ) from None
            return str(text)
        turns = "".join(CHAT_LAYOUT.format(**message) for message in messages)
        # No space after the colon: a BPE model writes its answer's first word with it.
        return turns + CHAT_LAYOUT.split("{content}")[0].format(role="assistant").rstrip()

    def chat_stops(self) -> tuple[str, ...]:
        """Stop strings of a chat: none with a template (its end of turn is a token),
        else the start of another turn in ``CHAT_LAYOUT``."""
        if self.has_chat_template:
            return ()
        return tuple(
            "\n" + CHAT_LAYOUT.split("{content}")[0].format(role=role).rstrip()
            for role in ("user", "system")
        )

    def _chat_end_ids(self) -> list[int]:
        """The special token a chat template writes right after an assistant's turn (ChatML's
        ``<|im_end|>``, Llama 3's ``<|eot_id|>``): a chat's answer ends there."""
        if not self.has_chat_template:
            return []
        mark = "\u2063marker\u2063"
        try:
            text = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": "x"}, {"role": "assistant", "content": mark}],
                tokenize=False,
            )
        except Exception:  # noqa: BLE001 - a template that needs more: no extra end
            return []
        after = str(text).split(mark, 1)[-1]
        ids = self.tokenizer.encode(after, add_special_tokens=False) if after else []
        return [ids[0]] if ids and ids[0] in set(self.special_ids) | self._added_ids() else []

    def _added_ids(self) -> set[int]:
        return {int(i) for i in (getattr(self.tokenizer, "added_tokens_decoder", {}) or {})}

    # -- the work -------------------------------------------------------------------------

    def prefill(self, ids: list[int]) -> tuple[object, torch.Tensor]:
        """The cache of ``ids`` (one row) and the logits of the token after them."""
        out = self.model(
            input_ids=torch.tensor([ids], device=self.device), use_cache=True, **self._last_only
        )
        return output_cache(out), out.logits[:, -1, :].float()

    def complete(
        self,
        prompt_ids: list[int],
        params: CompletionParams,
        on_piece: PieceSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Completion:
        """Continue one prompt ``params.n`` times, alone (``serve-model --max-batch 1``).

        Args:
            prompt_ids: the prompt's ids (see ``encode``; ``check_length`` first).
            params: the request's sampling.
            on_piece: gets each choice's final text as it settles, then its finish reason.
            cancel: set by another thread (the client went away): stop before the next token.

        Returns:
            Every choice; ``cancelled`` when the cancel event stopped it.
        """
        queued = time.perf_counter()
        request = Request(self, prompt_ids, params, on_piece, cancel)
        with self.lock:
            started = time.perf_counter()
            if request.cancelled:
                for row in request.rows:
                    row.done = True
                    row.choice.finish_reason = "cancelled"
            else:
                with torch.inference_mode():
                    batch = Batch(self)
                    batch.admit(list(request.pending))
                    while batch.rows:
                        batch.step()
        result = request.completion()
        result.queue_ms = round((started - queued) * 1000, 2)
        result.total_ms = round((time.perf_counter() - queued) * 1000, 2)
        return result

    def advance(self, row: Row, logits: torch.Tensor) -> None:
        """Choose the row's next token from its (1, vocab) logits, and write it or end."""
        request = row.request
        params = request.params
        banned = self._banned_early if len(row.choice.tokens) < params.min_tokens else None
        scores = logits
        if request.barred:
            scores = logits.masked_fill(
                request.barred.mask(row.history, logits.shape[-1]), -torch.inf
            )
        chosen, logprob = pick(scores, row.history, request.sampling, row.generator, banned)
        token = int(chosen[0])
        if token in request.end:
            self.finish(row, "stop")
            return
        top = None
        if params.logprobs:
            top = torch.log_softmax(logits, dim=-1).topk(params.logprobs, dim=-1)
        row.history = torch.cat([row.history, chosen[:, None]], dim=1)
        self._grow(row, token, float(logprob[0]), top, params, params.stop)
        if not row.done and len(row.choice.tokens) >= params.max_tokens:
            self.finish(row, "length")

    def _grow(
        self,
        row: Row,
        token: int,
        logprob: float,
        top: tuple[torch.Tensor, torch.Tensor] | None,
        params: CompletionParams,
        stops: Sequence[str],
    ) -> None:
        choice = row.choice
        on_piece = row.request.on_piece
        choice.tokens.append(token)
        choice.token_logprobs.append(round(float(logprob), 5))
        if params.logprobs is not None:
            choice.token_texts.append(self.decode([token], params.skip_special_tokens))
        if top is not None:
            values, indices = top
            choice.top_logprobs.append(
                {
                    self.decode([int(i)], False): round(float(v), 5)
                    for v, i in zip(values[0].tolist(), indices[0].tolist(), strict=True)
                }
            )
        text = self.decode(choice.tokens, params.skip_special_tokens)
        cut = min((at for at in (text.find(stop) for stop in stops) if at >= 0), default=-1)
        if cut >= 0:
            row.full = text[:cut]
            self.finish(row, "stop")
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

    def finish(self, row: Row, reason: str) -> None:
        """End the row: its text is final, its client is told."""
        if row.done:
            return
        row.done = True
        # A character still split at the end will never be completed: drop its remains.
        text = row.full if reason == "stop" else row.full.rstrip("\ufffd")
        row.choice.text = text
        row.choice.finish_reason = reason
        on_piece = row.request.on_piece
        if on_piece is not None:
            on_piece(row.index, text[row.sent :] if len(text) > row.sent else "", reason, None)
        row.sent = len(text)


def end_token_ids(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Every id that ends a completion: the tokenizer's eos, the model config's and its
    generation config's (an instruct model's end of turn, ``<|im_end|>`` for SmolLM2), and
    ``<|endoftext|>`` where the vocabulary has it."""
    ends: set[int] = set()
    values = [
        getattr(tokenizer, "eos_token_id", None),
        getattr(model.config, "eos_token_id", None),
        getattr(getattr(model, "generation_config", None), "eos_token_id", None),
    ]
    vocab: dict[str, int] = getattr(tokenizer, "get_vocab", dict)()
    values.append(vocab.get(END))
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            ends.add(value)
        elif isinstance(value, (list, tuple)):
            ends.update(int(v) for v in value if isinstance(v, int))
    return sorted(ends)
