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
import subprocess
import sys
import textwrap
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

    # Where folders cannot be exchanged in one step, the swap is two renames.
    monkeypatch.setattr(atomic, "exchange", lambda first, second: False)
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


KILLED_SWAP = """
import os, sys
from pathlib import Path
from textgamegen import atomic

point = sys.argv[2]
real_exchange, real_replace = atomic.exchange, os.replace

def exchange_then_die(first, second):
    real_exchange(first, second)
    os._exit(9)

def replace_then_die(source, destination):
    real_replace(source, destination)
    os._exit(9)

if point == "after the exchange":
    atomic.exchange = exchange_then_die
if point == "between the two renames":
    atomic.exchange = lambda first, second: False
    atomic.os.replace = replace_then_die
with atomic.replace_dir(Path(sys.argv[1])) as staging:
    (staging / "model.safetensors").write_text("new weights")
    if point == "while the new folder is filled":
        os._exit(9)
"""


@pytest.mark.parametrize(
    ("point", "after_the_kill"),
    [
        ("while the new folder is filled", "old weights"),
        ("after the exchange", "new weights"),
        ("between the two renames", None),
    ],
)
def test_a_kill_mid_swap_leaves_a_whole_folder_and_the_next_run_clears_the_debris(
    tmp_path: Path, point: str, after_the_kill: str | None
) -> None:
    target = _old_model(tmp_path)
    killed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_SWAP), str(target), point],
        env={**os.environ, "PYTHONPATH": str(Path(atomic.__file__).parent.parent)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert killed.returncode == 9, killed.stderr
    left = sorted(path.name for path in tmp_path.iterdir())
    assert len(left) > 1, "the killed run left its staged folder"
    if after_the_kill is None:
        # Killed between the fallback's renames: the old folder is whole, set aside.
        assert "narrator" not in left
        assert any(name.endswith(".old") for name in left)
    else:
        assert (target / "model.safetensors").read_text() == after_the_kill

    # The next start puts the old folder back (if it was set aside) and removes the rest.
    removed = atomic.clean_staged_dirs(target)
    assert removed
    assert [path.name for path in tmp_path.iterdir()] == ["narrator"]
    assert (target / "model.safetensors").read_text() == (after_the_kill or "old weights")


def test_the_next_swap_removes_a_killed_runs_debris_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = _old_model(tmp_path)
    # Staged folders of a process that is gone (999999999 is above any pid_max).
    (tmp_path / ".narrator.999999999-abcd.tmp").mkdir()
    (tmp_path / ".narrator.999999999-abcd.tmp" / "model.safetensors").write_text("half")
    (tmp_path / ".other.999999999-abcd.tmp").mkdir()  # another folder's, as dead
    (tmp_path / f".live.{os.getpid()}-abcd.tmp").mkdir()  # a live process's: left alone
    with atomic.replace_dir(target) as staging:
        (staging / "model.safetensors").write_text("new weights")
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f".live.{os.getpid()}-abcd.tmp",
        "narrator",
    ]
    assert "removed 1 staged folder(s)" in capsys.readouterr().err


def test_a_link_is_flipped_in_one_step_and_a_real_folder_becomes_a_link(tmp_path: Path) -> None:
    target = _old_model(tmp_path)
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "model.safetensors").write_text("v2 weights")
    atomic.point_link(target, "v2")
    assert target.is_symlink() and (target / "model.safetensors").read_text() == "v2 weights"
    atomic.point_link(target, "v3")  # a link may point to a folder made later
    assert os.readlink(target) == "v3"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["narrator", "v2"]
