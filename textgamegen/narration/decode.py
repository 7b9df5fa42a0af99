"""The sampling loop: one token per step for a batch of rows, over the KV cache.

Our own loop rather than ``model.generate`` so that the first candidate streams with no
per-call set-up, a cancel is seen between any two tokens, the mean log-probability comes
for free, and the prompt's cache is computed once and shared by every candidate. The
logits processing follows transformers' order and formulas: repetition penalty,
temperature, top-k, top-p, then a multinomial draw from a seeded ``torch.Generator``.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from textgamegen.config import SamplingSettings
from textgamegen.narration.spelling import SpellingGuard
from textgamegen.narration.things import ThingGuard

# Called after each step with the new token of row 0; returns True to end row 0 early.
StepHook = Callable[[int], bool]
# Given a row's tokens so far, True when the row has written enough (a sentence limit).
RowHook = Callable[[list[int]], bool]
# One token per row after the cache, (rows, 1) -> the next logits (rows, vocab), float32;
# the cache grows by one position (``llama_step.LlamaStep``).
DecodeStep = Callable[[torch.Tensor, object], torch.Tensor]


@dataclass
class Rows:
    """What the loop produced, one entry per row.

    Attributes:
        tokens: each row's generated ids, its stop token excluded.
        logprob: each row's mean log-probability per token under the raw model
            (the stop token included, so ending well counts).
        cancelled: the cancel event was set; the rows hold what was made until then.
        steps: how many decoding steps ran.
    """

    tokens: list[list[int]]
    logprob: list[float]
    cancelled: bool = False
    steps: int = 0


def cache_argument(model: torch.nn.Module) -> str:
    """The name ``forward`` takes the KV cache by: transformers 5.24 renamed
    ``past_key_values`` to ``cache``; both are supported."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def context_window(config: object) -> int:
    """A model config's context length: GPT-2 names it ``n_positions``, Llama
    ``max_position_embeddings`` (1024 when neither is set)."""
    return int(
        getattr(config, "n_positions", None)
        or getattr(config, "max_position_embeddings", None)
        or 1024
    )


def last_logits_only(model: torch.nn.Module) -> dict[str, int]:
    """The ``forward`` option that computes logits for the last position only: on a
    prompt of hundreds of tokens the LM head over every position is a third of the work."""
    parameters = inspect.signature(model.forward).parameters
    for name in ("logits_to_keep", "num_logits_to_keep"):
        if name in parameters:
            return {name: 1}
    return {}


def output_cache(output: object) -> object:
    """The KV cache a forward pass returned, under either name."""
    cache = getattr(output, "cache", None)
    return cache if cache is not None else output.past_key_values  # type: ignore[attr-defined]


def crop_cache(cache: object, length: int) -> None:
    """Cut the cache back to its first ``length`` positions (a negative ``crop`` removes
    that many tokens in every transformers 5 release)."""
    extra = cache.get_seq_length() - length  # type: ignore[attr-defined]
    if extra > 0:
        cache.crop(-extra)  # type: ignore[attr-defined]


def _penalise(logits: torch.Tensor, history: torch.Tensor, penalty: float) -> torch.Tensor:
    seen = logits.gather(1, history)
    seen = torch.where(seen < 0, seen * penalty, seen / penalty)
    return logits.scatter(1, history, seen)


def pick(
    logits: torch.Tensor,
    history: torch.Tensor,
    sampling: SamplingSettings,
    generator: torch.Generator,
    banned: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Choose the next token of every row.

    Args:
        logits: (rows, vocab) float32 logits for the next token.
        history: (rows, length) ids so far (prompt included), for the repetition penalty.
        sampling: the sampling settings.
        generator: the seeded random source.
        banned: ids that may not be chosen at this step.

    Returns:
        (ids, logprobs): the chosen ids, shape (rows,), and their log-probabilities under
        the unprocessed distribution.
    """
    raw = torch.log_softmax(logits, dim=-1)
    scores = logits
    if banned is not None and banned.numel():
        scores = scores.index_fill(1, banned, float("-inf"))
    if sampling.repetition_penalty != 1.0:
        scores = _penalise(scores, history, sampling.repetition_penalty)
    if not sampling.do_sample:
        chosen = scores.argmax(dim=-1)
    else:
        scores = scores / sampling.temperature
        k = sampling.top_k if 0 < sampling.top_k < scores.shape[-1] else scores.shape[-1]
        values, indices = torch.topk(scores, k, dim=-1)  # sorted, most likely first
        probs = torch.softmax(values, dim=-1)
        if sampling.top_p < 1.0:
            # Keep the smallest head whose mass reaches top_p (the first token always stays).
            before = torch.cumsum(probs, dim=-1) - probs
            probs = probs.masked_fill(before > sampling.top_p, 0.0)
        draw = torch.multinomial(probs, 1, generator=generator)
        chosen = indices.gather(1, draw).squeeze(1)
    return chosen, raw.gather(1, chosen[:, None]).squeeze(1)


@dataclass(frozen=True)
class Barred:
    """Token sequences never to be written, indexed for a cheap check at every step.

    A request can bar thousands of sequences (the compass points, the world's absent
    people and things, the training books' cast), so the mask is not built by walking
    them: one-token sequences are barred outright, and a longer one's last token is
    looked up by the tokens just written before it, one lookup per row and length.
    """

    always: tuple[int, ...] = ()
    after: dict[tuple[int, ...], tuple[int, ...]] = field(default_factory=dict)
    lengths: tuple[int, ...] = ()
    mid_sentence: tuple[int, ...] = ()
    """Barred except at the start of a sentence: tokens that begin a capitalised word (a
    name) that the facts do not give."""
    enders: frozenset[int] = frozenset()
    """Tokens after which a new sentence (or line) starts, freeing ``mid_sentence``."""
    upper_initial: tuple[int, ...] = ()
    """The same for a tokenizer that writes the space apart: tokens that begin with a
    capital, barred right after a bare space inside a sentence."""
    spaces: frozenset[int] = frozenset()
    """Tokens that are only a space."""
    _index: dict[tuple[str, str], torch.Tensor] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _ids(self, name: str, device: torch.device) -> torch.Tensor:
        """A field's ids as an index tensor, made once: the name guard's lists run to
        thousands of ids, and turning them into a tensor at every step cost more than a
        millisecond of a 36 ms step (``cProfile`` of the 15 game requests of
        ``bench.narration``)."""
        key = (name, str(device))
        index = self._index.get(key)
        if index is None:
            index = torch.tensor(getattr(self, name), dtype=torch.long, device=device)
            self._index[key] = index
        return index

    @classmethod
    def of(
        cls,
        sequences: Sequence[Sequence[int]],
        mid_sentence: Sequence[int] = (),
        enders: frozenset[int] = frozenset(),
        upper_initial: Sequence[int] = (),
        spaces: frozenset[int] = frozenset(),
    ) -> Barred:
        always: set[int] = set()
        after: dict[tuple[int, ...], set[int]] = {}
        for sequence in sequences:
            if not sequence:
                continue
            *before, last = sequence
            if before:
                after.setdefault(tuple(before), set()).add(last)
            else:
                always.add(last)
        return cls(
            tuple(sorted(always)),
            {prefix: tuple(sorted(lasts)) for prefix, lasts in after.items()},
            tuple(sorted({len(prefix) for prefix in after})),
            tuple(sorted(set(mid_sentence))),
            enders,
            tuple(sorted(set(upper_initial))),
            spaces,
        )

    def __bool__(self) -> bool:
        return bool(self.always or self.after or self.mid_sentence)

    def mask(self, history: torch.Tensor, vocab: int) -> torch.Tensor:
        """(rows, vocab) True where a token would complete a barred sequence in that row."""
        rows = history.shape[0]
        device = history.device
        mask = torch.zeros(rows, vocab, dtype=torch.bool, device=device)
        if self.always:
            mask[:, self._ids("always", device)] = True
        if self.mid_sentence or self.upper_initial:
            for row, tail in enumerate(history[:, -2:].tolist()):
                last, before = tail[-1], tail[0] if len(tail) > 1 else None
                if last in self.spaces:
                    if before not in self.enders and self.upper_initial:
                        mask[row, self._ids("upper_initial", device)] = True
                elif last not in self.enders and self.mid_sentence:
                    mask[row, self._ids("mid_sentence", device)] = True
        if self.lengths:
            longest = self.lengths[-1]
            for row, tail in enumerate(history[:, -longest:].tolist()):
                for length in self.lengths:
                    lasts = self.after.get(tuple(tail[-length:])) if length <= len(tail) else None
                    if lasts:
                        mask[row, list(lasts)] = True
        return mask


def barred_mask(
    history: torch.Tensor, barred: Barred | Sequence[Sequence[int]], vocab: int
) -> torch.Tensor:
    """(rows, vocab) True where a token would complete a barred sequence in that row."""
    compiled = barred if isinstance(barred, Barred) else Barred.of(barred)
    return compiled.mask(history, vocab)


def run_rows(
    model: torch.nn.Module,
    cache: object,
    logits: torch.Tensor,
    prompt_ids: torch.Tensor,
    sampling: SamplingSettings,
    max_new_tokens: int,
    generator: torch.Generator,
    stop_ids: torch.Tensor,
    pad_id: int,
    cancel: threading.Event | None = None,
    on_step: StepHook | None = None,
    first_banned: torch.Tensor | None = None,
    focus: torch.Tensor | None = None,
    barred: Barred | Sequence[Sequence[int]] = (),
    row_done: RowHook | None = None,
    spelling: SpellingGuard | None = None,
    things: ThingGuard | None = None,
    step: DecodeStep | None = None,
) -> Rows:
    """Sample up to ``max_new_tokens`` for each row, continuing the cached prompt.

    Args:
        model: a causal LM taking ``input_ids`` and ``past_key_values``.
        cache: the KV cache of the prompt, one row per candidate (grown in place).
        logits: (rows, vocab) float32 logits after the prompt.
        prompt_ids: (1, length) prompt ids.
        sampling: the sampling settings.
        max_new_tokens: the most tokens per row.
        generator: the seeded random source.
        stop_ids: ids that end a row (``<|endoftext|>`` and every other tag).
        pad_id: fed to rows that have ended while others go on.
        cancel: checked before every step.
        on_step: called with row 0's new token; True ends row 0 (a tag formed in text).
        first_banned: ids barred at the first step (default: ``stop_ids``, since an
            opening followed straight by the end is no narration).
        focus: ids that start the names the line should mention; each row's logits for
            them are raised by ``sampling.grounding_boost`` until the row has named one.
        barred: token sequences never written (compass points that are not a way out of
            the room): a sequence's last token is barred in each row whose tokens end with
            the rest of it, so one-token words are barred at every step.
        row_done: asked after each new token of a live row; True ends that row (its
            line has as many sentences as it may keep), so no time goes on text that
            cleanup would cut.
        spelling: keeps every row to the words it knows (``narration.spelling``).
        things: keeps a single row to the things on screen (``narration.things``): a
            phrase naming none is taken back before it is shown, and ``on_step`` is
            given only what the guard lets through.
        step: computes a decoding step in place of ``model(...)`` (the same logits, to
            rounding: ``llama_step``).

    Returns:
        The rows' tokens and mean log-probabilities.
    """
    rows = logits.shape[0]
    if things is not None and rows != 1:
        raise ValueError("the things guard writes one row")
    device = logits.device
    cache_name = cache_argument(model)

    def next_logits(ids: torch.Tensor) -> torch.Tensor:
        if step is not None:
            return step(ids, cache)
        out = model(input_ids=ids, use_cache=True, **{cache_name: cache})
        return out.logits[:, -1, :].float()

    barred = barred if isinstance(barred, Barred) else Barred.of(barred)
    history = prompt_ids.expand(rows, -1)
    prompt_length = prompt_ids.shape[1]
    first_logits = logits
    done = torch.zeros(rows, dtype=torch.bool, device=device)
    logprob_sum = torch.zeros(rows, dtype=torch.float32, device=device)
    counted = torch.zeros(rows, dtype=torch.float32, device=device)
    steps: list[torch.Tensor] = []
    row_logprobs: list[float] = []  # row 0's, kept only to go back (``things``)
    shown = 0  # row 0's tokens given to ``on_step`` (``things``)
    ran = 0
    cancelled = False
    boosting = None
    written: list[list[int]] = [[] for _ in range(rows)]
    if focus is not None and focus.numel() and sampling.grounding_boost > 0:
        boosting = torch.ones(rows, dtype=logits.dtype, device=device)
    while True:
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        ran += 1
        # An opening followed straight by the end is no narration: forbid it at step 0.
        banned = (stop_ids if first_banned is None else first_banned) if not steps else None
        if things is not None and (taken := things.barred_here()):
            again = torch.tensor(taken, dtype=torch.long, device=device)
            banned = again if banned is None else torch.cat([banned, again])
        scores = logits
        if barred:
            scores = scores.masked_fill(barred.mask(history, logits.shape[-1]), -torch.inf)
        if boosting is not None and focus is not None and bool(boosting.any()):
            # Grounding: nudge rows that have not yet named a thing of the facts towards
            # the first tokens of those names (a small model otherwise drifts off topic).
            bonus = torch.zeros_like(logits)
            bonus[:, focus] = sampling.grounding_boost
            scores = scores + bonus * boosting[:, None]
        if spelling is not None:
            if banned is not None:
                scores = scores.index_fill(1, banned, -torch.inf)
            scores = spelling.restrict(scores, ~done)
        ids, logprobs = pick(scores, history, sampling, generator, banned)
        live = ~done
        ids = torch.where(live, ids, torch.full_like(ids, pad_id))
        logprob_sum += torch.where(live, logprobs, torch.zeros_like(logprobs))
        counted += live.float()
        stopped = torch.isin(ids, stop_ids)
        done = done | stopped
        if boosting is not None and focus is not None:
            boosting = boosting * (~torch.isin(ids, focus)).to(boosting.dtype)
        steps.append(torch.where(stopped, torch.full_like(ids, -1), ids))
        if spelling is not None:
            spelling.advance(ids.tolist(), (live & ~stopped).tolist())
        if row_done is not None:
            going_rows = (live & ~stopped).tolist()
            for row, (token, going) in enumerate(zip(ids.tolist(), going_rows, strict=True)):
                if going:
                    written[row].append(token)
                    if row_done(written[row]):
                        done[row] = True
        if things is None:
            if (
                on_step is not None
                and bool(live[0])
                and not bool(stopped[0])
                and on_step(int(ids[0]))
            ):
                done[0] = True
        elif bool(live[0]):
            row_logprobs.append(float(logprobs[0]))
            if not bool(stopped[0]):
                things.push(int(ids[0]))
            finished = bool(done[0]) or len(steps) >= max_new_tokens
            passed, back = things.check(finished, shown)
            if back is not None:
                # Take the phrase back: the row, its cache and its guards return to where
                # the phrase began, and it writes on from there with that token barred.
                kept = things.ids
                del steps[back:], row_logprobs[back:]
                written[0] = written[0][:back]
                history = history[:, : prompt_length + back]
                logprob_sum[0], counted[0] = sum(row_logprobs), len(row_logprobs)
                done[0] = False
                if spelling is not None:
                    spelling.restart(0, things.text)
                if boosting is not None and focus is not None:
                    named = bool(set(focus.tolist()) & set(kept))
                    boosting[0] = 0.0 if named else 1.0
                crop_cache(cache, prompt_length + max(back - 1, 0))
                if back:
                    logits = next_logits(torch.tensor([[kept[-1]]], device=device))
                else:
                    logits = first_logits
                continue
            for token in things.ids[shown:passed]:
                shown += 1
                if on_step is not None and on_step(token):
                    # The streamed text ends here: what the row wrote after it is not
                    # shown, and its probabilities do not count either.
                    del steps[shown:], row_logprobs[shown:]
                    logprob_sum[0], counted[0] = sum(row_logprobs), len(row_logprobs)
                    done[0] = True
                    break
        if bool(done.all()) or len(steps) >= max_new_tokens:
            break
        history = torch.cat([history, ids[:, None]], dim=1)
        logits = next_logits(ids[:, None])
    tokens: list[list[int]] = [[] for _ in range(rows)]
    if steps:
        table = torch.stack(steps, dim=1).tolist()
        for row, row_ids in enumerate(table):
            for token in row_ids:
                if token < 0 or token == pad_id:
                    break
                tokens[row].append(token)
    means = (logprob_sum / counted.clamp(min=1)).tolist()
    return Rows(tokens, means, cancelled, ran)


# -- rows that come and go: the KV cache of a continuous batch -----------------------------
#
# A batch whose rows started at different times keeps them right-aligned: row r's
# ``length`` positions are the last ``length`` columns of the cache, the columns before
# them are zeros that the attention mask hides, and each row is fed its own position id.
# Keys are cached after their positions are applied (GPT-2 adds them at the input, Llama
# rotates them), so moving a row's columns to the right changes nothing it computes.


def _cache_layers(cache: object) -> list:
    layers = getattr(cache, "layers", None)
    if not layers or not all(hasattr(layer, "keys") for layer in layers):
        raise TypeError(f"{type(cache).__name__} is not a cache whose rows can be joined")
    return list(layers)


def pad_cache_left(cache: object, columns: int) -> None:
    """Put ``columns`` empty positions before every row of the cache (hidden by the mask)."""
    if columns <= 0:
        return
    for layer in _cache_layers(cache):
        for name in ("keys", "values"):
            states = getattr(layer, name)
            shape = (*states.shape[:2], columns, *states.shape[3:])
            setattr(layer, name, torch.cat([states.new_zeros(shape), states], dim=2))


def drop_cache_left(cache: object, columns: int) -> None:
    """Remove the first ``columns`` positions of every row (padding no row needs now)."""
    if columns <= 0:
        return
    for layer in _cache_layers(cache):
        layer.keys = layer.keys[:, :, columns:]
        layer.values = layer.values[:, :, columns:]


def copy_cache_rows(cache: object, rows: Sequence[int]) -> object:
    """A new cache of the same kind holding copies of the given rows (a row may be given
    more than once: one prompt's cache for several choices); ``cache`` is left as it is."""
    data = []
    for layer in _cache_layers(cache):
        index = torch.tensor(list(rows), dtype=torch.long, device=layer.keys.device)
        data.append((layer.keys.index_select(0, index), layer.values.index_select(0, index)))
    return type(cache)(ddp_cache_data=data)  # type: ignore[call-arg]


def join_cache_rows(cache: object, other: object) -> None:
    """Append ``other``'s rows below ``cache``'s; both must have as many columns."""
    for layer, extra in zip(_cache_layers(cache), _cache_layers(other), strict=True):
        layer.keys = torch.cat([layer.keys, extra.keys], dim=0)
        layer.values = torch.cat([layer.values, extra.values], dim=0)


def keep_cache_rows(cache: object, rows: Sequence[int]) -> None:
    """Keep only the given rows, in that order (the others have finished)."""
    for layer in _cache_layers(cache):
        index = torch.tensor(list(rows), dtype=torch.long, device=layer.keys.device)
        layer.keys = layer.keys.index_select(0, index)
        layer.values = layer.values.index_select(0, index)


def cache_columns(cache: object) -> int:
    """How many positions the cache holds per row (padding included)."""
    layers = _cache_layers(cache)
    return int(layers[0].keys.shape[2]) if layers and layers[0].keys.numel() else 0
