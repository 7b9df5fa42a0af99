"""The transformers backend on tiny random GPT-2 and Llama models: streaming, cancel,
candidates, budget, loading, device fallback and template fallback. No network:
HF_HUB_OFFLINE is set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from textgamegen.config import SamplingSettings
from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.models.loader import load_generator
from textgamegen.models.random_model import build_random_model
from textgamegen.narration.generator import Generator, GeneratorError, Narration, TextSink
from textgamegen.narration.template import TemplateGenerator

PUSH = ContentRequest(
    ContentKind.ACTION,
    command="push open the door",
    room="Hall",
    entities=("oak door",),
    seed=11,
    fallback="",
    attempt=True,
)
OPENING = "You try to push open the door, but the"
WITH_OPENING = Path(__file__).resolve().parents[1] / "fixtures" / "prompts-with-opening.toml"


@pytest.fixture(scope="session", params=["gpt2", "llama"])
def tiny_dir(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is first imported
    return build_random_model(
        tmp_path_factory.mktemp("models") / f"tiny-{request.param}",
        n_positions=128,
        arch=request.param,
    )


@pytest.fixture(scope="module")
def generator(tiny_dir: Path) -> Generator:
    # One thread: the CI machine is small and shared; a tiny model gains nothing from more.
    return load_generator(
        str(tiny_dir), device="cpu", warm_up=False, threads=1, prompts=WITH_OPENING
    )


def fresh(tiny_dir: Path, **sampling: Any) -> Generator:
    return load_generator(
        str(tiny_dir),
        device="cpu",
        sampling=SamplingSettings(**sampling),
        warm_up=False,
        threads=1,
        prompts=WITH_OPENING,
    )


def test_streams_the_first_candidate_token_by_token(generator: Generator) -> None:
    pieces: list[str] = []
    narration = generator.generate(PUSH, on_text=pieces.append)
    assert pieces[0] == OPENING  # the opening shows before any token
    assert len(pieces) >= 2
    streamed = "".join(pieces)
    # The streamed line is the one that stays: one candidate, never swapped for another.
    assert len(narration.candidates) == 1
    assert streamed.startswith(narration.text.rstrip('"'))
    timings = narration.timings
    assert 0 < timings.first_token_ms <= timings.first_candidate_ms <= timings.total_ms
    assert timings.tokens_per_s > 0 and timings.prompt_tokens > 0
    assert narration.backend == "transformers" and narration.device == "cpu"
    assert isinstance(generator, Generator)
    # The tag token swallows the space after it, as in every tokenizer training builds.
    assert narration.prompt.replace("<|action|> ", "<|action|>").endswith(f"<|action|>{OPENING}")


def test_candidates_are_scored_and_best_first(generator: Generator) -> None:
    narration = generator.generate(PUSH)
    assert len(narration.candidates) == 5
    scores = [candidate.score for candidate in narration.candidates]
    assert scores == sorted(scores, reverse=True)
    assert narration.text == narration.candidates[0].text
    for candidate in narration.candidates:
        assert set(candidate.scores) == {
            "complete",
            "mentions",
            "novelty",
            "length",
            "logprob",
            "canon",
            "grounded",
        }
        assert candidate.text.startswith(OPENING)
        assert 0 < candidate.tokens <= 40 and candidate.mean_logprob < 0
        assert "<|" not in candidate.text and "\x1b" not in candidate.text


def test_same_seed_same_text_other_seed_other_text(generator: Generator) -> None:
    first = [c.text for c in generator.generate(PUSH).candidates]
    again = [c.text for c in generator.generate(PUSH).candidates]
    other = [c.text for c in generator.generate(replace(PUSH, seed=12)).candidates]
    assert len(first) == 5
    assert first == again
    assert first != other


def test_cancel_stops_decoding_promptly(tiny_dir: Path) -> None:
    slow = fresh(tiny_dir, max_new_tokens=120, num_candidates=5)
    cancel = threading.Event()
    pieces: list[str] = []

    def on_text(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 3:
            cancel.set()

    narration = slow.generate(PUSH, on_text=on_text, cancel=cancel)
    assert narration.cancelled
    assert narration.text == "".join(pieces).strip()
    assert len(pieces) == 3  # not one token more after the cancel
    assert narration.candidates == []


def test_cancel_from_another_thread(tiny_dir: Path) -> None:
    slow = fresh(tiny_dir, max_new_tokens=120)
    cancel, started = threading.Event(), threading.Event()
    result: list[Narration] = []

    def on_text(piece: str) -> None:
        started.set()
        time.sleep(0.02)  # a slow terminal

    worker = threading.Thread(target=lambda: result.append(slow.generate(PUSH, on_text, cancel)))
    worker.start()
    assert started.wait(30)
    cancel.set()
    worker.join(60)  # a guard: a cancelled generation ends within a token
    assert not worker.is_alive()
    assert result[0].cancelled


def test_cancel_before_start_shows_only_what_streamed(generator: Generator) -> None:
    cancel = threading.Event()
    cancel.set()
    narration = generator.generate(PUSH, cancel=cancel)
    assert narration.cancelled and narration.text == OPENING
    quest = generator.generate(
        ContentRequest(ContentKind.QUEST, fallback="Find the key."), cancel=cancel
    )
    assert quest.text == "Find the key." and quest.fallback  # nothing streamed: the fallback


def test_ten_thousand_token_story_generates_within_n_positions(generator: Generator) -> None:
    story = tuple(f"The wind howls through the broken tower, night {i}." for i in range(1200))
    narration = generator.generate(replace(PUSH, story=story))
    assert narration.timings.prompt_tokens + 40 <= 128
    assert narration.text
    huge = " ".join(["wind"] * 10_000)
    narration = generator.generate(replace(PUSH, story=(huge,), command=huge))
    assert narration.timings.prompt_tokens + 40 <= 128 and narration.text


def test_all_kinds_generate(tiny_dir: Path) -> None:
    quick = fresh(tiny_dir, num_candidates=2, max_new_tokens=12)
    for kind in ContentKind:
        request = ContentRequest(kind, subject="lantern", speaker="miller", topic="the key", seed=3)
        narration = quick.generate(request)
        assert narration.text and len(narration.candidates) == 2


def test_model_failure_falls_back_to_template(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = fresh(tiny_dir)

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("weights on fire")

    monkeypatch.setattr(broken.model, "forward", explode)
    pieces: list[str] = []
    narration = broken.generate(PUSH, on_text=pieces.append)
    assert narration.fallback
    assert narration.text == TemplateGenerator().text_for(PUSH)
    assert "weights on fire" in narration.notice
    with_own = broken.generate(replace(PUSH, fallback="The door opens."))
    assert with_own.text == "The door opens." and with_own.fallback


def test_empty_output_falls_back_to_template(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textgamegen.narration import causal_lm as gpt2

    monkeypatch.setattr(gpt2, "clean_text", lambda raw, sentences=None: "")
    narration = fresh(tiny_dir).generate(replace(PUSH, fallback="The door opens."))
    assert narration.text == "The door opens."
    assert narration.fallback and len(narration.candidates) == 5


def test_cuda_out_of_memory_retries_on_cpu(tiny_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    gen = fresh(tiny_dir)
    real = gen._generate
    gen.device = "cuda"  # pretend it was on the GPU
    calls: list[str] = []

    def on_device(request: object, on_text: TextSink, *rest: object) -> object:
        calls.append(gen.device)
        if gen.device == "cuda":
            on_text("You push open the door")  # shown before the OOM
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return real(request, on_text, *rest)

    monkeypatch.setattr(gen, "_generate", on_device)
    pieces: list[str] = []
    narration = gen.generate(PUSH, on_text=pieces.append)
    assert calls == ["cuda", "cpu"]
    assert "".join(pieces).count("You push open the door") == 1  # not shown twice
    assert gen.device == "cpu" and narration.device == "cpu"
    assert "CPU" in narration.notice and narration.text and not narration.fallback


def test_dynamic_int8_quantization_on_cpu(tiny_dir: Path) -> None:
    import torch

    gen = load_generator(str(tiny_dir), device="cpu", quantize="dynamic", warm_up=True, threads=1)
    assert gen.quantized and gen.dtype == "int8-dynamic"
    quantized = [m for m in gen.model.modules() if "quantized" in type(m).__module__]
    assert len(quantized) >= 9  # 4 per block x 2 blocks + the LM head
    assert not any(type(m).__name__ == "Conv1D" for m in gen.model.modules())
    assert gen.generate(PUSH).text
    assert isinstance(gen.model, torch.nn.Module)


def test_conv1d_to_linear_keeps_outputs(tiny_dir: Path) -> None:
    import torch

    from textgamegen.narration.device import conv1d_to_linear

    gen = fresh(tiny_dir)
    ids = torch.tensor([[1, 5, 9, 30]])
    with torch.inference_mode():
        before = gen.model(input_ids=ids).logits
        # GPT-2 keeps its projections in Conv1D; Llama's are nn.Linear already.
        assert conv1d_to_linear(gen.model) == (8 if "gpt2" in tiny_dir.name else 0)
        after = gen.model(input_ids=ids).logits
    assert torch.allclose(before, after, atol=1e-5)


def test_pickle_only_directory_is_refused(tmp_path: Path, tiny_dir: Path) -> None:
    bad = tmp_path / "pickled"
    bad.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (bad / name).write_bytes((tiny_dir / name).read_bytes())
    (bad / "pytorch_model.bin").write_bytes(b"\x80\x04 not loaded, ever")
    with pytest.raises(GeneratorError, match=r"pickle.*safetensors only") as error:
        load_generator(str(bad), device="cpu")
    assert str(bad) in str(error.value)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "model.safetensors").write_bytes(b"garbage"), "could not be loaded"),
        (lambda d: (d / "config.json").write_text("{", encoding="utf-8"), "could not be loaded"),
        (lambda d: (d / "tokenizer.json").unlink(), "no tokenizer"),
        (lambda d: (d / "config.json").unlink(), "no config.json"),
    ],
)
def test_broken_directory_gives_clear_error(
    tmp_path: Path, tiny_dir: Path, damage: Callable[[Path], object], message: str
) -> None:
    import shutil

    copy = Path(shutil.copytree(tiny_dir, tmp_path / "broken"))
    damage(copy)
    with pytest.raises(GeneratorError, match=message) as error:
        load_generator(str(copy), device="cpu")
    assert str(copy) in str(error.value)


def test_missing_names_and_offline_hub_ids(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match="no such model directory"):
        load_generator(str(tmp_path / "nowhere"))
    with pytest.raises(GeneratorError, match=r"HF_HUB_OFFLINE.*hf download gpt2-medium"):
        load_generator("gpt2-medium", device="cpu")


def test_unavailable_cuda_is_a_clear_error(tiny_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():  # the check only means something without a GPU
        return
    with pytest.raises(GeneratorError, match="CUDA is not available"):
        load_generator(str(tiny_dir), device="cuda")


def test_template_by_name() -> None:
    assert load_generator("template").backend == "template"


def test_registry_name_loads(
    tiny_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    models = tmp_path / "models"
    shutil.copytree(tiny_dir, models / "mine")
    monkeypatch.setenv("TEXTGAMEGEN_MODELS_DIR", str(models))
    gen = load_generator("mine", device="cpu", warm_up=False, threads=1)
    assert gen.name == "mine" and gen.path == models / "mine"


def test_light_modules_do_not_import_torch_or_transformers() -> None:
    code = (
        "import sys\n"
        "import textgamegen.narration, textgamegen.models.loader\n"
        "import textgamegen.models.registry, textgamegen.text.prompts\n"
        "import textgamegen.text.cleanup, textgamegen.narration.rerank\n"
        "import textgamegen.narration.stream, textgamegen.commands.generate\n"
        "import textgamegen.commands.models\n"
        "print(json.dumps([m for m in ('torch', 'transformers') if m in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json\n" + code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []


def test_an_opening_ending_in_a_word_is_never_continued_inside_that_word(
    generator: Generator,
) -> None:
    """ "Cliff Path" + "a" was "Cliff Patha": after an opening that ends in a letter, the
    first token must start a new word (a space) or be punctuation."""
    from textgamegen.narration.causal_lm import glue_token_ids

    glue = glue_token_ids(generator.tokenizer)
    tokens = generator.tokenizer.convert_ids_to_tokens(glue)
    assert tokens and not [t for t in tokens if t.startswith(("\u0120", "\u2581"))]
    for seed in range(6):
        narration = generator.generate(replace(PUSH, seed=seed), on_text=lambda _piece: None)
        after = narration.text[len(OPENING) : len(OPENING) + 1]
        assert after == "" or not after.isalnum(), narration.text


def test_the_worlds_text_stands_alone_unless_colour_is_on(tiny_dir: Path) -> None:
    hall = ContentRequest(ContentKind.ROOM, subject="Hall", room="Hall", authored="A bare hall.")
    alone = fresh(tiny_dir).generate(hall, on_text=lambda _text: None)
    assert alone.text == "" and not alone.candidates and not alone.fallback
    coloured = fresh(tiny_dir, colour=True).generate(hall)
    assert coloured.candidates and coloured.prompt.count("known: A bare hall.") == 1


def test_unstreamed_a_listener_gets_the_best_of_the_candidates_whole(tiny_dir: Path) -> None:
    # sampling.stream off: the TUI's listener waits for the ranked line, which comes whole.
    ranked = fresh(tiny_dir, stream=False)
    pieces: list[str] = []
    narration = ranked.generate(PUSH, on_text=pieces.append)
    assert len(narration.candidates) == 5
    assert pieces == [narration.text] == [narration.candidates[0].text]
    scores = [candidate.score for candidate in narration.candidates]
    assert scores == sorted(scores, reverse=True)
    # The same five candidates as a script gets with no listener: one batch, one seed.
    quiet = ranked.generate(PUSH)
    assert [c.text for c in quiet.candidates] == [c.text for c in narration.candidates]


def test_a_line_held_to_one_sentence_stops_there(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from textgamegen.narration import decode
    from textgamegen.text.cleanup import past_sentences

    generator = load_generator(  # the shipped prompts: an attempt has no opening
        str(tiny_dir),
        device="cpu",
        sampling=SamplingSettings(max_new_tokens=60),
        warm_up=False,
        threads=1,
    )
    templates = generator.templates  # type: ignore[attr-defined]
    kinds = {**templates.kinds, "attempt": replace(templates.kinds["attempt"], sentences=1)}
    generator.templates = replace(templates, kinds=kinds)  # type: ignore[attr-defined]
    # A random model writes no sentences, so every row writes these words, token by token.
    script = generator.codec.encode(" You wait in the hall. The door stays shut. It is late.")  # type: ignore[attr-defined]
    steps: list[int] = []

    def scripted(logits, history, sampling, source, banned=None):  # type: ignore[no-untyped-def]
        step = len(steps)
        steps.append(step)
        token = script[step] if step < len(script) else script[-1]
        rows = logits.shape[0]
        return torch.full((rows,), token, dtype=torch.long), torch.full((rows,), -1.0)

    monkeypatch.setattr(decode, "pick", scripted)
    narration = generator.generate(PUSH)
    assert [c.text for c in narration.candidates] == ["You wait in the hall."] * 5
    decode_ids = generator.codec.decode  # type: ignore[attr-defined]
    # The rows stop at the first token of the next sentence, which cleanup cuts.
    first_sentence = next(
        n for n in range(len(script)) if past_sentences(decode_ids(script[:n]), 1)
    )
    assert len(steps) == first_sentence  # no step was spent past the sentence
    steps.clear()
    pieces: list[str] = []
    streamed = generator.generate(PUSH, on_text=pieces.append)
    assert "".join(pieces) == streamed.text == "You wait in the hall."
    assert len(steps) == first_sentence


def test_a_line_cut_short_goes_on_from_its_words(generator: Generator) -> None:
    """Writing ahead keeps a line the player's request cut short (``ContentRequest.begun``):
    the model goes on from those words, streams them first, and the line keeps them."""
    assert generator.resumes
    begun = f"{OPENING} heavy oak"
    pieces: list[str] = []
    narration = generator.generate(replace(PUSH, begun=begun), on_text=pieces.append)
    assert pieces[0] == begun  # shown at once, as an opening is
    assert narration.text.startswith(begun) or narration.fallback
    assert "".join(pieces).startswith(begun)
    assert narration.prompt.replace("<|action|> ", "<|action|>").endswith(f"<|action|>{begun}")
