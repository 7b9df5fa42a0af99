"""A registered model's versions: registering adds one and never removes production,
``production`` and ``candidate`` name two, promote and rollback move production in one
step, a folder from before versions is version 1 as it is, and a register killed at any
point leaves production whole and nothing that breaks the next one."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from textgamegen.commands import models as models_command
from textgamegen.models import registry, versions
from textgamegen.models.loader import resolve
from textgamegen.narration.generator import GeneratorError


def _fill(folder: Path, weights: str) -> None:
    for name in ("config.json", "tokenizer.json"):
        (folder / name).write_text("{}", encoding="utf-8")
    (folder / "model.safetensors").write_text(weights, encoding="utf-8")
    (folder / "lineage.json").write_text(json.dumps({"created_at": weights}), encoding="utf-8")


def _register(models: Path, weights: str, promote: bool = True, keep: int = 5) -> int:
    with versions.new_version(models, "narrator", promote=promote, keep=keep) as version:
        _fill(version.path, weights)
    return version.number


def _serving(models: Path) -> str:
    return (models / "narrator" / "model.safetensors").read_text()


def _aliases(models: Path) -> list[tuple[int, tuple[str, ...]]]:
    return [(v.number, v.aliases) for v in versions.list_versions(models, "narrator")]


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "models"
    monkeypatch.setattr(registry.paths, "shipped_models_dir", lambda: tmp_path / "shipped")
    monkeypatch.setenv("TEXTGAMEGEN_MODELS_DIR", str(folder))
    return folder


def test_registering_adds_versions_and_the_name_reads_production(models: Path) -> None:
    assert _register(models, "v1") == 1
    assert _aliases(models) == [(1, ("production",))]  # the first is production either way
    assert _register(models, "v2", promote=False) == 2
    assert _aliases(models) == [(1, ("production",)), (2, ("candidate",))]
    assert _serving(models) == "v1"
    assert _register(models, "v3") == 3
    assert _aliases(models) == [(1, ()), (2, ()), (3, ("production",))]
    assert _serving(models) == "v3"
    # The models list shows the name once, as its production version.
    assert [info.name for info in registry.list_models()] == ["narrator"]


def test_promote_and_rollback_move_production_in_one_step(models: Path) -> None:
    _register(models, "v1")
    _register(models, "v2", promote=False)
    assert versions.promote(models, "narrator", "candidate") == (1, 2)
    assert _serving(models) == "v2" and _aliases(models) == [(1, ()), (2, ("production",))]
    assert versions.rollback(models, "narrator") == (2, 1)
    assert _serving(models) == "v1"
    with pytest.raises(versions.VersionError, match="no earlier production version"):
        versions.rollback(models, "narrator")
    with pytest.raises(versions.VersionError, match=r"no version 7 .*versions: 1, 2"):
        versions.promote(models, "narrator", "7")


def test_old_versions_go_but_never_production_or_the_candidate(models: Path) -> None:
    _register(models, "v1")
    for number in range(2, 6):
        _register(models, f"v{number}", promote=False, keep=2)
    # Kept: production (1), the candidate (5), and the newest two (4, 5).
    assert _aliases(models) == [(1, ("production",)), (4, ()), (5, ("candidate",))]
    assert not versions.version_path(models, "narrator", 2).exists()


def test_a_folder_from_before_versions_is_version_1_as_it_is(models: Path) -> None:
    legacy = models / "narrator"
    legacy.mkdir(parents=True)
    _fill(legacy, "shipped")
    before = sorted(p.name for p in legacy.iterdir())
    assert _aliases(models) == [(1, ("production",))]
    assert not legacy.is_symlink() and sorted(p.name for p in legacy.iterdir()) == before
    # A new version beside it turns it into version 1 whole, and rollback brings it back.
    _register(models, "v2")
    assert legacy.is_symlink() and _serving(models) == "v2"
    versions.rollback(models, "narrator")
    assert _serving(models) == "shipped"
    assert sorted(p.name for p in versions.version_path(models, "narrator", 1).iterdir()) == before


def test_a_version_is_named_by_number_or_alias(models: Path) -> None:
    _register(models, "v1")
    _register(models, "v2", promote=False)
    assert resolve("narrator@candidate")[1] == versions.version_path(models, "narrator", 2)
    assert resolve("narrator@1")[1] == versions.version_path(models, "narrator", 1)
    assert registry.find_model("narrator@production").name == "narrator@1"  # type: ignore[union-attr]
    with pytest.raises(GeneratorError, match="no version 9"):
        resolve("narrator@9")


def test_the_models_command_lists_promotes_and_rolls_back(
    models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _register(models, "v1")
    _register(models, "v2", promote=False)

    def command(*words: str) -> tuple[int, str, str]:
        parser = argparse.ArgumentParser()
        models_command.add_arguments(parser)
        code = models_command.run(parser.parse_args(list(words)))
        out, err = capsys.readouterr()
        return code, out, err

    code, out, _ = command("versions", "narrator")
    assert code == 0
    assert [line.split()[:2] for line in out.splitlines()[1:3]] == [
        ["1", "production"],
        ["2", "candidate"],
    ]
    assert command("promote", "narrator", "2")[:2] == (
        0,
        f"narrator: production is version 2 (was 1) in {models}\n",
    )
    assert command("rollback", "narrator")[1].startswith("narrator: production is version 1")
    code, _, err = command("promote", "narrator", "two")
    assert code == 2 and "a version is a number, 'production' or 'candidate'" in err


KILLED_REGISTER = """
import os, sys
from pathlib import Path
from textgamegen.models import versions
from textgamegen import atomic

models, point = Path(sys.argv[1]), sys.argv[2]
real_rename, real_write, real_link = os.rename, versions.write_atomic, versions.point_link

def die_after(real):
    def wrapper(*args, **kwargs):
        real(*args, **kwargs)
        os._exit(9)
    return wrapper

if point == "after the version is renamed in":
    versions.os.rename = die_after(real_rename)
if point == "after the aliases are written":
    versions.write_atomic = die_after(real_write)
if point == "after the link is flipped":
    versions.point_link = die_after(real_link)
with versions.new_version(models, "narrator", promote=True) as version:
    (version.path / "model.safetensors").write_text("half of v2")
    if point == "while the version is written":
        os._exit(9)
    for name in ("config.json", "tokenizer.json"):
        (version.path / name).write_text("{}")
    (version.path / "model.safetensors").write_text("v2")
"""


@pytest.mark.parametrize(
    ("point", "serving"),
    [
        ("while the version is written", "v1"),
        ("after the version is renamed in", "v1"),
        ("after the aliases are written", "v1"),
        ("after the link is flipped", "v2"),
    ],
)
def test_a_register_killed_at_any_point_leaves_production_whole(
    models: Path, point: str, serving: str
) -> None:
    _register(models, "v1")
    killed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(KILLED_REGISTER), str(models), point],
        env={**os.environ, "PYTHONPATH": str(Path(versions.__file__).parents[2])},
        capture_output=True,
        text=True,
        check=False,
    )
    assert killed.returncode == 9, killed.stderr
    assert _serving(models) == serving
    assert registry.directory_problem(models / "narrator") == ""
    # The next register works, takes the next free number, and leaves no debris.
    number = _register(models, "v3")
    assert _serving(models) == "v3"
    assert number == (2 if point == "while the version is written" else 3)
    hidden = [p.name for p in models.iterdir() if p.name.startswith(".")]
    assert hidden == [".versions"]
    inside = {p.name for p in versions.versions_dir(models, "narrator").iterdir()}
    assert inside - {"aliases.json", ".lock"} == {str(n) for n in range(1, number + 1)}


def test_registering_into_the_shipped_models_replaces_the_plain_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training.register import register_model

    shipped = tmp_path / "assets" / "models"
    monkeypatch.setattr(registry.paths, "shipped_models_dir", lambda: shipped)
    (shipped / "narrator").mkdir(parents=True)
    _fill(shipped / "narrator", "shipped")
    trained = tmp_path / "trained"
    trained.mkdir()
    _fill(trained, "retrained")
    path = register_model(trained, shipped, "narrator", {}, {}, "# card")
    # A release ships one plain folder per model, as every checkout and the wheel read it.
    assert path == shipped / "narrator" and not path.is_symlink()
    assert (path / "model.safetensors").read_text() == "retrained"
    assert sorted(p.name for p in shipped.iterdir()) == ["narrator"]


def test_a_refused_rollback_or_a_no_op_promote_writes_nothing(models: Path) -> None:
    # As on the shipped models: one plain folder, which nothing may rewrite or litter.
    legacy = models / "narrator"
    legacy.mkdir(parents=True)
    _fill(legacy, "shipped")
    with pytest.raises(versions.VersionError, match="no earlier production version"):
        versions.rollback(models, "narrator")
    assert versions.promote(models, "narrator", "1") == (1, 1)
    assert versions.promote(models, "narrator", "production") == (1, 1)
    assert [p.name for p in models.iterdir()] == ["narrator"] and not legacy.is_symlink()
