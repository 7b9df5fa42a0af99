"""A folder is replaced whole or not at all (``replace_dir``), and a file's hash is one
function (``checksum.sha256``).

A registered model, an unpacked base, a merged adapter and a vLLM export are each written
into a staged folder and swapped in at the end. A failure while the folder is being filled,
or while it is being swapped in, must leave the old folder as it was and no staged folder
behind.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from textgamegen import atomic, checksum


def _contents(folder: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(folder.iterdir())}


def _old_model(parent: Path) -> Path:
    target = parent / "narrator"
    target.mkdir()
    (target / "model.safetensors").write_text("old weights")
    (target / "README.md").write_text("# old card")
    return target


def test_a_new_folder_takes_the_old_ones_place_whole(tmp_path: Path) -> None:
    target = _old_model(tmp_path)
    with atomic.replace_dir(target) as staging:
        assert staging.parent == tmp_path and staging.name.startswith(".narrator.")
        assert list(staging.iterdir()) == []
        (staging / "model.safetensors").write_text("new weights")
    assert _contents(target) == {"model.safetensors": "new weights"}
    assert [path.name for path in tmp_path.iterdir()] == ["narrator"], "nothing left beside it"


def test_a_folder_that_did_not_exist_is_made_with_its_parents(tmp_path: Path) -> None:
    target = tmp_path / "cache" / "merged" / "abc"
    with atomic.replace_dir(target) as staging:
        (staging / "merged.json").write_text("{}")
    assert _contents(target) == {"merged.json": "{}"}
    assert [path.name for path in target.parent.iterdir()] == ["abc"]


def test_a_failure_midway_keeps_the_old_folder_and_removes_the_new(tmp_path: Path) -> None:
    target = _old_model(tmp_path)
    before = _contents(target)
    with pytest.raises(OSError, match="No space left"), atomic.replace_dir(target) as staging:
        (staging / "model.safetensors").write_text("half the new weights")
        raise OSError(28, "No space left on device")
    assert _contents(target) == before
    assert [path.name for path in tmp_path.iterdir()] == ["narrator"]


def test_a_failed_swap_puts_the_old_folder_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = _old_model(tmp_path)
    before = _contents(target)
    real_replace = os.replace

    def refuse_the_new_folder(source: str | Path, destination: str | Path) -> None:
        if Path(source).name.endswith(".tmp"):
            raise OSError(16, "Device or resource busy")
        real_replace(source, destination)

    monkeypatch.setattr(atomic.os, "replace", refuse_the_new_folder)
    with pytest.raises(OSError, match="busy"), atomic.replace_dir(target) as staging:
        (staging / "model.safetensors").write_text("new weights")
    assert _contents(target) == before
    assert [path.name for path in tmp_path.iterdir()] == ["narrator"]


def test_a_register_that_fails_leaves_the_registered_model(tmp_path: Path) -> None:
    from training.register import RegisterError, register_model

    models = tmp_path / "models"
    models.mkdir()
    before = _contents(_old_model(models))
    trained = tmp_path / "trained"
    trained.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (trained / name).write_text("{}")
    (trained / "model.safetensors").write_bytes(b"\0" * 2_000_000)
    with pytest.raises(RegisterError, match="over the 1 MB bound"):
        register_model(trained, models, "narrator", {}, {}, "# card", max_weights_mb=1)
    assert _contents(models / "narrator") == before
    assert [path.name for path in models.iterdir()] == ["narrator"]


def test_sha256_is_what_sha256sum_prints(tmp_path: Path) -> None:
    data = b"weights " * 300_000  # more than one block
    path = tmp_path / "model.safetensors"
    path.write_bytes(data)
    assert checksum.sha256(path) == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert checksum.sha256(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()
