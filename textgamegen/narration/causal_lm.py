"""The transformers backend, for any causal LM (GPT-2, Llama/SmolLM2): prompt, decode, stream.

Time to the first word is what the player feels, so the prompt's KV cache is reused from
the previous request where the prompts share a beginning, and the line is streamed token
by token. A streamed line is the line that stays: the player never sees it swapped for
another candidate afterwards, so when the text is streamed only that one candidate is
written, and it runs on to the end of its sentence (text written ahead is streamed too).
Without a listener (``generate --json``) several candidates are sampled in one batch over
the same prompt cache, cleaned, scored and ranked, and the best is kept.

Imports torch; only the loader imports this module, inside the generation worker.
"""

from __future__ import annotations

import string
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from textgamegen.config import SamplingSettings
from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.narration import rerank
from textgamegen.narration.decode import (
    Barred,
    DecodeStep,
    RowHook,
    cache_argument,
    context_window,
    crop_cache,
    last_logits_only,
    output_cache,
    run_rows,
)
from textgamegen.narration.device import ThreadChoice
from textgamegen.narration.generator import (
    Candidate,
    Generator,
    Narration,
    TextSink,
    Timings,
    left_alone,
)
from textgamegen.narration.spelling import READ_WIDTH, SpellingGuard, token_pieces
from textgamegen.narration.stream import Shown, Streamer
from textgamegen.narration.template import template_text
from textgamegen.narration.things import ThingGuard, guarded
from textgamegen.text import canon
from textgamegen.text.canon import Cast
from textgamegen.text.cleanup import clean_text, past_sentences
from textgamegen.text.lexicon import Lexicon
from textgamegen.text.prompts import Prompt, PromptTemplates, build_prompt

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# A streamed line may run this many tokens past max_new_tokens to finish its sentence.
SENTENCE_GRACE_TOKENS = 24
# Reuse the previous prompt's cache when the prompts share at least this many tokens.
MIN_SHARED_PREFIX = 8

OOM_NOTICE = "The GPU ran out of memory; the model now runs on the CPU (slower)."
_SEED_MASK = (1 << 63) - 1


class _Codec:
    """The tokenizer seen as prompts.TokenCodec: no special tokens added, none skipped."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=False))


_SPACE_MARKS = "\u0120\u010a\u0109\u2581"  # Ġ (space), Ċ (newline), ĉ (tab), ▁


def glue_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Vocabulary entries that would continue a word: neither a leading space nor
    punctuation. After an opening that ends in a word ("Cliff Path") they would grow the
    word ("Cliff Patha"), so they are barred from the first step."""
    ids = []
    for index, token in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))):
        # Allowed: a new word (byte-level BPE writes its leading space as "Ġ", SentencePiece
        # as "▁") or ASCII punctuation. Letters, digits and stray bytes of a multi-byte
        # character ("÷" stands for one) would glue onto the opening's last word, and so
        # would an underscore, which cleanup drops as an italics mark.
        if not (
            isinstance(token, str)
            and token[:1]
            and (token[0] in _SPACE_MARKS or token[0] in string.punctuation.replace("_", ""))
        ):
            ids.append(index)
    return ids


_SENTENCE_ENDS = ".!?:;\"'“”‘’"


@dataclass(frozen=True)
class NameTokens:
    """The vocabulary as the made-up-names bar reads it (see ``decode.Barred``)."""

    starts: frozenset[int]
    """Tokens that begin a capitalised word after a space: " Fred"."""
    initials: frozenset[int]
    """Tokens that begin with a capital letter and no space: "F" (after a bare space)."""
    spaces: frozenset[int]
    """Tokens that are a bare space."""
    enders: frozenset[int]
    """Tokens after which a sentence or line begins: ".", '?"', a newline."""


def name_token_ids(tokenizer: PreTrainedTokenizerBase) -> NameTokens:
    """Read the vocabulary once: a narrator bound to name only what its facts give may
    start a capitalised word only at a sentence's start."""
    starts, initials, spaces, enders = [], [], [], []
    size = len(tokenizer)
    tokens = tokenizer.convert_ids_to_tokens(list(range(size)))
    for index, token in enumerate(tokens):
        if not isinstance(token, str) or not token:
            continue
        spaced = token[0] in _SPACE_MARKS[:1] + _SPACE_MARKS[3:]
        if spaced and token[1:2].isupper():
            starts.append(index)
        elif spaced and len(token) == 1:
            spaces.append(index)
        elif token[:1].isupper():
            initials.append(index)
        bare = token.strip(_SPACE_MARKS)
        if token[-1] in _SPACE_MARKS[1:3] or (bare and bare[-1] in _SENTENCE_ENDS):
            enders.append(index)
    return NameTokens(frozenset(starts), frozenset(initials), frozenset(spaces), frozenset(enders))


def shared_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def stop_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """``<|endoftext|>``, every other special or added token, and any vocabulary entry
    that holds a tag opener: the model ends its line at any of them."""
    ids = set(getattr(tokenizer, "all_special_ids", []))
    ids.update(getattr(tokenizer, "added_tokens_decoder", {}).keys())
    for token, index in tokenizer.get_vocab().items():
        if "<|" in token:
            ids.add(index)
    return sorted(ids)


class CausalLMGenerator(Generator):
    """A transformers causal LM (GPT-2, Llama, ...) behind the ``Generator`` protocol.

    Args:
        model: the loaded model, already on ``device`` and in eval mode.
        tokenizer: its tokenizer, with the corpus's special tokens.
        name: the model's name (registry name, directory or hub id).
        device: "cpu" or "cuda".
        sampling: the sampling settings.
        templates: the prompt templates.
        path: the model directory, when it came from one.
    """

    backend = "transformers"
    resumes = True  # the prompt's opening is the line's start (``build_prompt``)

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        name: str,
        device: str,
        sampling: SamplingSettings,
        templates: PromptTemplates,
        path: Path | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        self.sampling = sampling
        self.templates = templates
        self.path = path
        config = model.config
        # The model's own context (GPT-2: n_positions; Llama: max_position_embeddings), up
        # to 2048: a narration prompt never needs more, and the KV cache stays small.
        self.n_positions = min(2048, context_window(config))
        self.dtype = str(next(model.parameters(), torch.empty(0)).dtype).replace("torch.", "")
        self.quantized = False
        self.int8_declined = ""
        """Why int8 weights were not taken when they were asked for ("auto" measured them
        slower or costlier here, or this torch has no kernel); "" otherwise. Hosts see it
        in serve-model's startup log."""
        self.threads = 0  # CPU threads asked for (0 = automatic)
        self.thread_choice: ThreadChoice | None = None
        """Automatic CPU threads, chosen again before each line (``device.ThreadChoice``);
        set by the loader when ``threads = 0`` on the CPU, None keeps ``threads``."""
        self.decode_step: DecodeStep | None = None
        """One decoding step without transformers' module tree (``llama_step``), set by
        the loader for int8 and 4-bit Llama weights; None runs ``model(...)``."""
        self.notice = ""
        self.load_ms = 0.0
        self.cast: Cast | None = None
        """The training books' names, never written where the world does not use them."""
        self.lexicon: Lexicon | None = None
        """The words of the narrator's training sources (``text.lexicon``): with the words
        on screen, the only ones it may write while ``sampling.known_words`` is on."""
        self._pieces: list[str] | None = None
        self.names_only = True
        """Inside a sentence, start no capitalised word (a name) that the facts and the
        story do not give: the narrator adds no people, places or titles of its own."""
        self.codec = _Codec(tokenizer)
        self._encoded: dict[str, tuple[int, ...]] = {}
        eos = getattr(tokenizer, "eos_token_id", None)
        self.pad_id = int(eos if eos is not None else 0)
        self._stop_list = stop_token_ids(tokenizer) or [self.pad_id]
        self._stop_ids = torch.tensor(self._stop_list, device=device)
        self._last_only = last_logits_only(model)
        names = name_token_ids(tokenizer)
        # A tag (the line's own opener) starts a line as a full stop does.
        self._names = replace(names, enders=names.enders | frozenset(self._stop_list))
        self._lock = threading.Lock()
        self._glue = torch.tensor(
            sorted(set(glue_token_ids(tokenizer)) | set(self._stop_list)), device=device
        )
        # (prompt ids, single-row KV cache) of the last prompt, reused by the next one.
        self._prefix: tuple[list[int], object] | None = None

    # -- public -------------------------------------------------------------------------

    def max_new_tokens(self, sampling: SamplingSettings | None = None) -> int:
        """The narration length actually used: the setting, leaving room for a prompt."""
        sampling = sampling or self.sampling
        return max(1, min(sampling.max_new_tokens, self.n_positions // 2))

    def generate(
        self,
        request: ContentRequest,
        on_text: TextSink | None = None,
        cancel: threading.Event | None = None,
    ) -> Narration:
        """Write prose for one request; see ``generation.base.Generator.generate``.

        Never raises for a request: a model failure gives the template text with a notice,
        and CUDA out of memory moves the model to the CPU and tries again.
        """
        alone = left_alone(request, self.sampling.colour, self.backend, self.name, self.device)
        if alone is not None:
            return alone
        # Streamed: the listener reads the one candidate as it is written. Otherwise the
        # candidates are ranked first and the listener gets the chosen line whole.
        streams = on_text is not None and self.sampling.stream
        shown = Shown(on_text if streams else None)
        with self._lock:
            try:
                narration = self._generate(
                    request, shown if streams else None, cancel, self.sampling
                )
            except torch.cuda.OutOfMemoryError:
                if not self.device.startswith("cuda"):
                    raise
                self.move_to_cpu()
                again = shown.again() if streams else None
                narration = self._generate(request, again, cancel, self.sampling)
                narration.notice = " ".join(filter(None, [OOM_NOTICE, narration.notice]))
            except Exception as error:  # noqa: BLE001 - the game plays on with template text
                text = template_text(request, self.templates)
                if on_text is not None:
                    on_text(text)
                return Narration(
                    request,
                    text,
                    backend=self.backend,
                    model=self.name,
                    device=self.device,
                    fallback=True,
                    notice=f"The model failed ({type(error).__name__}: {error}); "
                    "showing the template text.",
                )
        if on_text is not None and not streams:
            on_text(narration.text)
        return narration

    def move_to_cpu(self) -> None:
        """Carry on on the CPU in float32 (after CUDA ran out of memory)."""
        from textgamegen.narration.device import set_cpu_threads

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        self.model = self.model.to(device="cpu", dtype=torch.float32)
        self.device = "cpu"
        self.dtype = "float32"
        self.decode_step = None
        self._stop_ids = torch.tensor(self._stop_list, device="cpu")
        self._glue = self._glue.to("cpu")
        self._prefix = None
        self.notice = OOM_NOTICE
        self.threads = set_cpu_threads(self.threads)

    def warm_up(self) -> None:
        """One tiny generation, so the first real one does not pay for lazy set-up."""
        short = replace(
            self.sampling, num_candidates=min(2, self.sampling.num_candidates), max_new_tokens=2
        )
        with self._lock:
            self._generate(ContentRequest(ContentKind.ACTION, command="look"), None, None, short)

    # -- the work ----------------------------------------------------------------------

    def _candidate(
        self, opening: str, ids: list[int], logprob: float, sentences: int | None = None
    ) -> Candidate:
        text = clean_text(opening + self.codec.decode(ids), sentences)
        return Candidate(text=text, mean_logprob=round(logprob, 4), tokens=len(ids))

    def _focus_ids(self, request: ContentRequest, barred: list[int]) -> torch.Tensor:
        """First tokens of the head words of what the line should name (subject, things,
        speaker), with and without a leading space and capital; never a ``barred`` one."""
        names = [request.subject, request.speaker, *request.entities]
        heads = {
            word
            for name in names
            if name.strip()
            for word in [rerank.words(name)[-1] if rerank.words(name) else ""]
            if len(word) > 2
        }
        ids: set[int] = set()
        for word in heads:
            for form in (f" {word}", f" {word.capitalize()}", word.capitalize()):
                encoded = self.codec.encode(form)
                # A word split into small pieces (" k" + "ettle") is not boosted: its first
                # piece starts too many other words.
                if encoded and (
                    len(encoded) == 1 or len(self.codec.decode(encoded[:1]).strip()) >= 4
                ):
                    ids.add(encoded[0])
        ids -= set(self._stop_list) | set(barred)
        return torch.tensor(sorted(ids), dtype=torch.long, device=self.device)

    def _encode(self, form: str) -> tuple[int, ...]:
        """A word's ids, kept: the same names come back with every request."""
        encoded = self._encoded.get(form)
        if encoded is None:
            encoded = self._encoded[form] = tuple(self.codec.encode(form))
        return encoded

    def _free_name_starts(self, request: ContentRequest) -> set[int]:
        """First tokens of the capitalised words the facts and story give (and "I")."""
        free: set[int] = set()
        for word in {"I", *canon.given_names(request)}:
            form = f" {word}"
            encoded = self._encode(form)
            if encoded and encoded[0] in self._names.spaces:
                encoded = encoded[1:]  # the space written apart: the capital comes next
            if encoded:
                free.add(encoded[0])
        return free

    def _barred_words(self, request: ContentRequest) -> Barred:
        """The token sequences that would write what the line must not name (see
        ``canon.barred_words``: false exits, absent people, things and places, the cast
        of the training books, another speaker): each with and without a leading space
        and capital. ``run_rows`` bars a sequence's last token wherever the rest has just
        been written, so a word split into pieces is barred too without barring its first
        piece, which starts other words."""
        sequences: set[tuple[int, ...]] = set()
        stops = set(self._stop_list)
        for word in canon.barred_words(request, self.cast):
            for form in {f" {word}", f" {word.capitalize()}", word, word.capitalize()}:
                encoded = self._encode(form)
                if encoded and not set(encoded) & stops:
                    sequences.add(encoded)
        if not self.names_only:
            return Barred.of(sorted(sequences))
        free = self._free_name_starts(request)
        names = self._names
        return Barred.of(
            sorted(sequences),
            sorted(names.starts - free),
            names.enders,
            sorted(names.initials - free),
            names.spaces,
        )

    def _spelling(
        self, request: ContentRequest, sampling: SamplingSettings, prompt: Prompt, rows: int
    ) -> SpellingGuard | None:
        """The guard that keeps each row to known words; None without a lexicon or with
        ``sampling.known_words`` off."""
        if not (self.lexicon and sampling.known_words):
            return None
        if self._pieces is None:
            tokens = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
            self._pieces = token_pieces(tokens, self._stop_list)
        # The story is on screen too: a word the player has just read may come back; and
        # what is anywhere a person is (the floor, your hands) needs no fact.
        given = " ".join(
            (canon.facts_text(request), *request.story, prompt.opening, *canon.AMBIENT)
        )
        speller = self.lexicon.with_text(given, prompt.common_words)
        width = max(READ_WIDTH, sampling.top_k)
        return SpellingGuard(speller, self._pieces, rows, prompt.opening, width)

    def _enough(self, opening: str, sentences: int | None) -> RowHook | None:
        """When a row has written all the sentences its line may keep (None: no limit)."""
        if sentences is None:
            return None

        def enough(ids: list[int]) -> bool:
            return past_sentences(opening + self.codec.decode(ids), sentences)

        return enough

    def _prefill(self, ids: list[int]) -> tuple[object, torch.Tensor, int]:
        """Run the prompt through the model: (cache, last logits, tokens reused).

        The previous prompt's cache is kept; when this prompt starts with the same tokens
        (the same story, a retry, a second request of one turn) only the rest is run.
        """
        if self._prefix is not None:
            old_ids, cache = self._prefix
            self._prefix = None
            shared = min(shared_prefix(old_ids, ids), len(ids) - 1)
            if shared >= MIN_SHARED_PREFIX:
                crop_cache(cache, shared)
                rest = torch.tensor([ids[shared:]], device=self.device)
                out = self.model(
                    input_ids=rest,
                    use_cache=True,
                    **self._last_only,
                    **{cache_argument(self.model): cache},
                )
                return output_cache(out), out.logits[:, -1, :].float(), shared
        out = self.model(
            input_ids=torch.tensor([ids], device=self.device), use_cache=True, **self._last_only
        )
        return output_cache(out), out.logits[:, -1, :].float(), 0

    def _generate(
        self,
        request: ContentRequest,
        on_text: TextSink | None,
        cancel: threading.Event | None,
        sampling: SamplingSettings,
    ) -> Narration:
        started = time.perf_counter()
        if self.thread_choice is not None and self.device == "cpu":
            self.threads = self.thread_choice.choose()
        max_new = self.max_new_tokens(sampling)
        streaming = on_text is not None
        # A streamed line may run on to finish its sentence, so it needs the room for it.
        budget = self.n_positions - max_new - (SENTENCE_GRACE_TOKENS if streaming else 0)
        prompt = build_prompt(request, self.templates, self.codec, budget)
        streamer = Streamer(
            prompt.opening,
            self.codec.decode,
            on_text,
            started,
            soft_limit=max_new if streaming else 0,
            sentences=prompt.sentences,
        )
        streamer.start()
        generator = torch.Generator(device=self.device).manual_seed(request.seed & _SEED_MASK)
        prompt_ids = torch.tensor([prompt.ids], device=self.device)
        # Only the streamed candidate is written when someone is reading it: it is the
        # one that stays. Several are sampled and ranked only when nothing is shown yet.
        count = 1 if streaming or not sampling.do_sample else sampling.num_candidates
        steps = max_new + SENTENCE_GRACE_TOKENS if streaming else max_new
        # After an opening that ends inside a word, the first token must not extend it.
        first_banned = self._glue if prompt.opening[-1:].isalnum() else self._stop_ids
        barred = self._barred_words(request)
        focus = self._focus_ids(request, list(barred.always))
        enough = self._enough(prompt.opening, prompt.sentences)
        # One row has nothing to be ranked against, so it is kept to the things on screen
        # as it is written; several rows are ranked on it (``rerank.grounded``).
        things = (
            ThingGuard(request, prompt.opening, self.codec.decode)
            if count == 1 and sampling.seen_things and guarded(request)
            else None
        )
        timings = Timings(prompt_tokens=len(prompt.ids))
        with torch.inference_mode():
            cache, logits, reused = self._prefill(prompt.ids)
            timings.reused_tokens = reused
            # Unstreamed candidates are written side by side in one batch: on a CPU a
            # step of five rows costs little more than a step of one.
            if count > 1:
                cache.batch_repeat_interleave(count)  # type: ignore[attr-defined]
            written = run_rows(
                self.model,
                cache,
                logits.expand(count, -1),
                prompt_ids,
                sampling,
                steps,
                generator,
                self._stop_ids,
                self.pad_id,
                cancel,
                streamer.push,
                first_banned=first_banned,
                focus=focus,
                barred=barred,
                row_done=enough,
                spelling=self._spelling(request, sampling, prompt, count),
                things=things,
                step=self.decode_step,
            )
            timings.taken_back = len(things.taken_back) if things is not None else 0
            timings.first_token_ms = round(streamer.first_token_ms, 2)
            timings.first_candidate_ms = round((time.perf_counter() - started) * 1000, 2)
            rows, logprobs = written.tokens, written.logprob
            cancelled = written.cancelled
            # The prompt's cache is kept for the next prompt that starts the same way.
            crop_cache(cache, len(prompt.ids))
            if count > 1:
                cache.batch_select_indices(torch.tensor([0], device=self.device))  # type: ignore[attr-defined]
            self._prefix = (list(prompt.ids), cache)

        total = time.perf_counter() - started
        timings.total_ms = round(total * 1000, 2)
        timings.tokens_per_s = round(sum(len(row) for row in rows) / total, 1) if total else 0.0
        if cancelled:
            text = streamer.shown.strip()
            fell_back = not text
            text = text or template_text(request, self.templates)
            return self._narration(
                request, prompt.text, text, [], timings, fallback=fell_back, cancelled=True
            )

        candidates = [
            self._candidate(prompt.opening, ids, lp, prompt.sentences)
            for ids, lp in zip(rows, logprobs, strict=False)
        ]
        for candidate in candidates:
            candidate.text = canon.spell_names(candidate.text, request)
            rerank.score(
                candidate,
                request,
                sampling,
                self.templates.rerank,
                opening=prompt.opening,
                cast=self.cast,
            )
        ranked = candidates if streaming else rerank.rank(candidates)
        best = next((candidate.text for candidate in ranked if candidate.text), "")
        if not best:
            text = template_text(request, self.templates)
            return self._narration(request, prompt.text, text, ranked, timings, fallback=bool(text))
        return self._narration(request, prompt.text, best, ranked, timings)

    def _narration(
        self,
        request: ContentRequest,
        prompt: str,
        text: str,
        candidates: list[Candidate],
        timings: Timings,
        fallback: bool = False,
        cancelled: bool = False,
    ) -> Narration:
        return Narration(
            request=request,
            text=text,
            candidates=candidates,
            timings=timings,
            prompt=prompt,
            backend=self.backend,
            model=self.name,
            device=self.device,
            fallback=fallback,
            cancelled=cancelled,
            notice=self.notice,
        )
