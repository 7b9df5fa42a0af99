"""Model versions: registering adds one, ``production`` and ``candidate`` name two, and
promote and rollback move ``production`` in one step.

A models folder holds each name's versions apart, and the name itself is a link to the
production version, so everything that reads ``<models>/<name>`` (the game, ``serve-model``,
a retrain that starts from the model in play, an older checkout) reads production::

    <models>/narrator -> .versions/narrator/3      production (the link)
    <models>/.versions/narrator/1/ 2/ 3/ 4/        the versions, whole model folders
    <models>/.versions/narrator/aliases.json       {"candidate": 4, "history": [1, 2]}

A folder that predates versions (the shipped ``assets/models/*``, a model registered by an
older TextGameGen) is version 1 and production as it is; nothing rewrites it until a new
version is registered beside it, which turns it into ``.versions/NAME/1`` (hard links, no
copy) and the name into a link, in one exchange.

Every change is one rename: a version is staged beside the models and renamed into
``.versions/NAME/N`` whole; ``aliases.json`` is written atomically; the link is flipped by
renaming a new link over it. A kill at any point leaves production as it was, and at worst
a version no alias names or a staged folder, which the next register removes.

Pure Python, cheap to import. Examples::

    textgamegen models versions narrator
    textgamegen models promote narrator 4
    textgamegen models rollback narrator
    textgamegen play --model narrator@candidate
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textgamegen.atomic import clean_staged_in, point_link, write_atomic

VERSIONS = ".versions"
ALIASES_FILE = "aliases.json"
PRODUCTION = "production"
CANDIDATE = "candidate"
DEFAULT_KEEP = 5
"""Versions kept per name (production and the candidate are kept beyond these)."""


class VersionError(ValueError):
    """A version operation cannot be done; the message says why and what to do."""


@dataclass
class Version:
    """One version of a registered model.

    Attributes:
        number: 1, 2, ...
        path: its model folder.
        aliases: "production" and/or "candidate", when they name it.
        lineage: its lineage.json ({} when absent or broken).
        metrics: its metrics.json ({} when absent or broken).
    """

    number: int
    path: Path
    aliases: tuple[str, ...] = ()
    lineage: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """What ``models versions --json`` prints for it."""
        gate = self.lineage.get("gate") or {}
        return {
            "version": self.number,
            "aliases": list(self.aliases),
            "path": str(self.path),
            "created_at": self.lineage.get("created_at", ""),
            "perplexity": self.metrics.get("perplexity"),
            "bits_per_byte": self.metrics.get("bits_per_byte"),
            "latency_ms": self.metrics.get("latency_ms_median"),
            "gate": gate.get("decision", ""),
            "run": self.lineage.get("run_id", ""),
        }


def display_name(folder: Path) -> str:
    """A model folder's name for people: "narrator version 3" for a version's folder."""
    folder = Path(folder)
    if folder.name.isdigit() and folder.parent.parent.name == VERSIONS:
        return f"{folder.parent.name} version {folder.name}"
    return folder.name


def versions_dir(models_dir: Path, name: str) -> Path:
    return Path(models_dir) / VERSIONS / name


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_aliases(models_dir: Path, name: str) -> dict[str, Any]:
    """aliases.json: the candidate and the production history (for rollback)."""
    data = _read_json(versions_dir(models_dir, name) / ALIASES_FILE)
    candidate = data.get(CANDIDATE)
    history = [n for n in data.get("history", []) if isinstance(n, int)]
    return {CANDIDATE: candidate if isinstance(candidate, int) else None, "history": history}


def _write_aliases(models_dir: Path, name: str, aliases: dict[str, Any]) -> None:
    path = versions_dir(models_dir, name) / ALIASES_FILE
    write_atomic(path, json.dumps(aliases, indent=2) + "\n")


def _is_legacy(link: Path) -> bool:
    """A real folder in the name's place: a model from before versions."""
    return link.is_dir() and not link.is_symlink()


def production(models_dir: Path, name: str) -> int | None:
    """The production version's number (None when the name is not registered here)."""
    link = Path(models_dir) / name
    if _is_legacy(link):
        return 1
    if not link.is_symlink():
        return None
    try:
        return int(Path(os.readlink(link)).name)
    except ValueError:
        return None


def _numbers(models_dir: Path, name: str) -> list[int]:
    try:
        children = list(versions_dir(models_dir, name).iterdir())
    except OSError:
        return []
    return sorted(int(c.name) for c in children if c.name.isdigit() and c.is_dir())


def version_path(models_dir: Path, name: str, number: int) -> Path:
    if number == 1 and _is_legacy(Path(models_dir) / name):
        return Path(models_dir) / name
    return versions_dir(models_dir, name) / str(number)


def list_versions(models_dir: Path, name: str) -> list[Version]:
    """Every version of ``name`` in ``models_dir``, oldest first."""
    numbers = _numbers(models_dir, name)
    if _is_legacy(Path(models_dir) / name) and 1 not in numbers:
        numbers = [1, *numbers]
    current = production(models_dir, name)
    candidate = read_aliases(models_dir, name)[CANDIDATE]
    found = []
    for number in numbers:
        path = version_path(models_dir, name, number)
        aliases = tuple(
            alias
            for alias, held in ((PRODUCTION, current), (CANDIDATE, candidate))
            if held == number
        )
        lineage = _read_json(path / "lineage.json")
        metrics = _read_json(path / "metrics.json")
        found.append(Version(number, path, aliases, lineage, metrics))
    return found


def resolve(models_dir: Path, name: str, reference: str) -> Version:
    """The version a reference names: a number, "production" or "candidate".

    Raises:
        VersionError: no such version or alias.
    """
    known = {version.number: version for version in list_versions(models_dir, name)}
    if reference in (PRODUCTION, CANDIDATE):
        number = (
            production(models_dir, name)
            if reference == PRODUCTION
            else read_aliases(models_dir, name)[CANDIDATE]
        )
        if number is None or number not in known:
            raise VersionError(f"{name} has no {reference} version in {models_dir}")
    else:
        try:
            number = int(reference.removeprefix("v"))
        except ValueError:
            raise VersionError(
                f"{name}@{reference}: a version is a number, 'production' or 'candidate'"
            ) from None
        if number not in known:
            shown = ", ".join(str(n) for n in known) or "none"
            raise VersionError(
                f"{name} has no version {number} in {models_dir} (versions: {shown})"
            )
    return known[number]


@contextlib.contextmanager
def _locked(models_dir: Path, name: str) -> Iterator[None]:
    """One register, promote or rollback of a name at a time (POSIX; elsewhere unlocked)."""
    folder = versions_dir(models_dir, name)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(folder / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _adopt_legacy(models_dir: Path, name: str) -> None:
    """Turn a folder from before versions into version 1, with the name a link to it."""
    link = Path(models_dir) / name
    if not _is_legacy(link):
        return
    first = versions_dir(models_dir, name) / "1"
    if not first.is_dir():
        staged = Path(
            tempfile.mkdtemp(prefix=f".1.{os.getpid()}-", suffix=".tmp", dir=first.parent)
        )
        shutil.rmtree(staged)

        def link_or_copy(source: str, target: str) -> None:
            try:
                os.link(source, target)  # no copy of the weights
            except OSError:
                shutil.copy2(source, target)

        try:
            shutil.copytree(link, staged, copy_function=link_or_copy, symlinks=True)
            os.rename(staged, first)
        finally:
            shutil.rmtree(staged, ignore_errors=True)
    point_link(link, f"{VERSIONS}/{name}/1")


def _clean(models_dir: Path, name: str) -> None:
    """Remove staged folders that killed registers left (theirs only; live ones stay)."""
    clean_staged_in(versions_dir(models_dir, name))
    clean_staged_in(Path(models_dir))


@dataclass
class NewVersion:
    """A version being registered: fill ``path``; ``number`` is set when it is in place."""

    path: Path
    number: int = 0
    final: Path | None = None


@contextlib.contextmanager
def new_version(
    models_dir: Path, name: str, *, promote: bool = False, keep: int = DEFAULT_KEEP
) -> Iterator[NewVersion]:
    """Stage a new version of ``name``; when the block ends it becomes the next version,
    the candidate, and production too when ``promote``. Older versions beyond ``keep``
    are removed, never production or the candidate. When the block raises, nothing is
    registered and nothing is left behind.

    Usage::

        with new_version(models_dir, "narrator", promote=True) as version:
            write_model_files(version.path)
        print(version.number)
    """
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{name}.{os.getpid()}-", suffix=".tmp", dir=models_dir))
    version = NewVersion(staged)
    try:
        yield version
        with _locked(models_dir, name):
            _clean(models_dir, name)
            _adopt_legacy(models_dir, name)
            taken = set(_numbers(models_dir, name))
            number = max(taken, default=0) + 1
            final = versions_dir(models_dir, name) / str(number)
            os.rename(staged, final)  # whole, or not at all
            version.number, version.final = number, final
            aliases = read_aliases(models_dir, name)
            aliases[CANDIDATE] = number
            _write_aliases(models_dir, name, aliases)
            if promote or production(models_dir, name) is None:
                _set_production(models_dir, name, number, aliases)
            prune(models_dir, name, keep)
    finally:
        shutil.rmtree(staged, ignore_errors=True)


def _set_production(
    models_dir: Path, name: str, number: int, aliases: dict[str, Any], remember: bool = True
) -> None:
    current = production(models_dir, name)
    if remember and current is not None and current != number:
        aliases["history"] = [*aliases["history"], current]
    if aliases[CANDIDATE] == number:
        aliases[CANDIDATE] = None
    # aliases.json first: a kill before the link flips leaves an extra history entry,
    # which rollback skips, and production as it was.
    _write_aliases(models_dir, name, aliases)
    point_link(Path(models_dir) / name, f"{VERSIONS}/{name}/{number}")


def promote(models_dir: Path, name: str, reference: str) -> tuple[int | None, int]:
    """Make a version production, in one step.

    Returns:
        (the production version before, the one now).

    Raises:
        VersionError: no such version, or it cannot be loaded.
    """
    from textgamegen.models.registry import directory_problem

    # Checked before the lock too, so a refusal writes nothing (not even the lock file)
    # into a folder that has no versions yet, such as the shipped models.
    version = resolve(models_dir, name, reference)
    if version.number == production(models_dir, name):
        return version.number, version.number
    with _locked(models_dir, name):
        version = resolve(models_dir, name, reference)
        problem = directory_problem(version.path)
        if problem:
            raise VersionError(f"{name} version {version.number} cannot be loaded: {problem}")
        gate = version.lineage.get("gate") or {}
        if gate.get("decision") == "refused":
            raise VersionError(
                f"{name} version {version.number} was refused by the gate: "
                + "; ".join(gate.get("reasons", []))
            )
        before = production(models_dir, name)
        _adopt_legacy(models_dir, name)
        _set_production(models_dir, name, version.number, read_aliases(models_dir, name))
        return before, version.number


def rollback(models_dir: Path, name: str) -> tuple[int | None, int]:
    """Make the version that was production before the current one production again.

    Returns:
        (the production version before, the one now).

    Raises:
        VersionError: there is no earlier production version left.
    """
    _earlier(models_dir, name)  # before the lock: a refusal writes nothing
    with _locked(models_dir, name):
        current, history = _earlier(models_dir, name)
        previous = history.pop()
        aliases = read_aliases(models_dir, name)
        aliases["history"] = history
        _adopt_legacy(models_dir, name)
        _set_production(models_dir, name, previous, aliases, remember=False)
        return current, previous


def _earlier(models_dir: Path, name: str) -> tuple[int | None, list[int]]:
    """(production, the production history down to the last version still there that is
    not production).

    Raises:
        VersionError: there is none.
    """
    current = production(models_dir, name)
    known = set(_numbers(models_dir, name))
    history = list(read_aliases(models_dir, name)["history"])
    while history and (history[-1] == current or history[-1] not in known):
        history.pop()
    if not history:
        raise VersionError(
            f"{name}: no earlier production version to roll back to "
            f"(production is {current}; `textgamegen models versions {name}`)"
        )
    return current, history


def prune(models_dir: Path, name: str, keep: int) -> list[int]:
    """Remove versions older than the newest ``keep``, never production or the candidate.

    Returns:
        The numbers removed.
    """
    if keep <= 0:
        return []
    numbers = _numbers(models_dir, name)
    aliases = read_aliases(models_dir, name)
    spared = {production(models_dir, name), aliases[CANDIDATE], *numbers[-keep:]}
    removed = [number for number in numbers if number not in spared]
    if not removed:
        return []
    aliases["history"] = [n for n in aliases["history"] if n not in removed]
    _write_aliases(models_dir, name, aliases)
    folder = versions_dir(models_dir, name)
    for number in removed:
        # Renamed out of the versions first, so a kill mid-removal leaves a staged folder
        # (cleaned at the next register), never half a version.
        doomed = folder / f".{number}.{os.getpid()}-{os.urandom(4).hex()}.tmp"
        os.rename(folder / str(number), doomed)
        shutil.rmtree(doomed, ignore_errors=True)
    return removed
