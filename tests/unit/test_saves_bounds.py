"""Saves held to bounds (issue 25): map places within ``maps.MAX_COORD``, a drawn map never
larger than ``MAX_COLUMNS`` x ``MAX_LINES`` however far apart its rooms, and only regular
files read from the saves folder, never past ``MAX_SAVE_BYTES`` (a FIFO must not hang the
list or Continue; a link to /dev/zero must not be read until memory runs out)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import tracemalloc
from pathlib import Path

import pytest

from textgamegen.engine import maps, saves
from textgamegen.engine.game import Game
from textgamegen.engine.saves import SaveError, latest_autosave, list_saves, save_game
from textgamegen.engine.state import StateError
from textgamegen.engine.world import World

REPO = Path(__file__).resolve().parents[2]


def saved(world: World, folder: Path, name: str = "far") -> tuple[Path, dict]:
    game = Game.new(world, seed=1)
    game.step("north")
    path = save_game(game, name, folder)
    return path, json.loads(path.read_text(encoding="utf-8"))


def test_a_room_placed_far_away_is_refused_with_a_clear_error(
    tiny_world: World, tmp_path: Path
) -> None:
    path, data = saved(tiny_world, tmp_path)
    room = next(iter(data["game"]["state"]["map"]))
    data["game"]["state"]["map"][room] = [10000, 10000]
    path.write_text(json.dumps(data), encoding="utf-8")
    expected = (
        f"'far': game.state.map.{room} is at [10000, 10000], more than {maps.MAX_COORD} "
        "cells from the start"
    )
    with pytest.raises(SaveError) as caught:
        Game.load("far", tmp_path)
    assert str(caught.value).startswith(expected)
    problems: list[str] = []
    assert list_saves(tmp_path, problems) == [] and problems[0].startswith(expected)
    # The engine's own check says the same to a game rebuilt without the save's schema.
    with pytest.raises(StateError, match=r"more than 1000 cells"):
        Game.from_dict(data["game"], tiny_world)


@pytest.mark.parametrize("cell", [[1, "2"], [1, 2, 3], [True, 0], "here"])
def test_a_map_place_must_be_two_whole_numbers(
    tiny_world: World, tmp_path: Path, cell: object
) -> None:
    path, data = saved(tiny_world, tmp_path)
    room = next(iter(data["game"]["state"]["map"]))
    data["game"]["state"]["map"][room] = cell
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SaveError, match=rf"game.state.map.{room} must be \[x, y\]"):
        Game.load("far", tmp_path)


def test_a_map_within_bounds_but_spread_wide_is_drawn_small(tiny_world: World) -> None:
    # Within the bounds a save may hold, three rooms far apart: the map is drawn around the
    # player's room, no larger than the most a map shows, and costs no more to draw.
    rooms = list(tiny_world.rooms)
    here = rooms[0]
    far = maps.MAX_COORD * 3 // 10
    places = {here: (0, 0), rooms[1]: (far, far), rooms[2]: (-far, -far)}
    tracemalloc.start()
    try:
        lines = maps.draw_map(tiny_world, places, here)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert any("<" in line for line in lines), "the player's room is shown"
    assert len(lines) <= maps.MAX_LINES and max(map(len, lines)) <= maps.MAX_COLUMNS
    # The whole grid would hold 2 * far * PITCH columns by 4 * far lines (millions of
    # cells, tens of MB); drawn around the player it is the size of a screen.
    assert peak < 5_000_000, f"drawing took {peak} bytes"


def test_the_headless_map_command_of_a_spread_save_stays_small(
    tiny_world: World, tmp_path: Path
) -> None:
    path, data = saved(tiny_world, tmp_path)
    places = data["game"]["state"]["map"]
    for index, room in enumerate(sorted(tiny_world.rooms)):
        places[room] = [maps.MAX_COORD * (-1) ** index, maps.MAX_COORD * (-1) ** index]
    data["game"]["state"]["visited"] = sorted(tiny_world.rooms)
    path.write_text(json.dumps(data), encoding="utf-8")
    game = Game.load("far", tmp_path)
    shown = game.step("map").events[0].text.splitlines()
    assert len(shown) <= maps.MAX_LINES + 2 and max(map(len, shown)) <= maps.MAX_COLUMNS


def test_the_bounds_crop_no_map_of_a_shipped_world(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every room of every shipped world visited, drawn from each room: the same with the
    # bounds as with none, since they only crop maps far larger than any real one.
    from textgamegen.engine.world import load_world
    from textgamegen.engine.worlds import list_worlds

    for info in list_worlds():
        world = load_world(info.path)
        places = maps.layout(world, world.rooms)
        bounded = {room: maps.draw_map(world, places, room) for room in world.rooms}
        with monkeypatch.context() as unbounded:
            unbounded.setattr(maps, "MAX_COLUMNS", 10**6)
            unbounded.setattr(maps, "MAX_LINES", 10**6)
            for room in world.rooms:
                assert bounded[room] == maps.draw_map(world, places, room), (info.name, room)


# -- special files in the saves folder ---------------------------------------------------


def _in_thread(work: object) -> tuple[threading.Thread, dict[str, object]]:
    out: dict[str, object] = {}

    def run() -> None:
        try:
            out["value"] = work()  # type: ignore[operator]
        except BaseException as error:  # noqa: BLE001 - reported to the test
            out["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_named_like_a_save_hangs_neither_the_list_nor_continue(
    tiny_world: World, tmp_path: Path
) -> None:
    good = save_game(Game.new(tiny_world, seed=1), "autosave-good", tmp_path)
    fifo = tmp_path / "autosave-zzz.json"
    os.mkfifo(fifo)
    try:
        problems: list[str] = []
        thread, out = _in_thread(
            lambda: (list_saves(tmp_path, problems), latest_autosave(tmp_path))
        )
        # The limit only frees a test that hangs (as it did: the read waited for a writer).
        thread.join(60)
        assert not thread.is_alive(), "listing the saves hung on the FIFO"
        listed, latest = out["value"]  # type: ignore[misc]
        assert [info.name for info in listed] == ["autosave-good"]
        assert latest is not None and latest.path == good
        assert problems == ["'autosave-zzz': not a regular file, so not a save"]
        with pytest.raises(SaveError, match="not a regular file"):
            Game.load("autosave-zzz", tmp_path)
    finally:
        # Free a reader still waiting (only when the guard failed), then remove the FIFO.
        descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK) if thread.is_alive() else None
        if descriptor is not None:
            os.close(descriptor)
        fifo.unlink()


SPECIAL = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    # A read that never ends fails fast here instead of taking the machine's memory.
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    from textgamegen.engine.saves import SaveError, list_saves, read_save
    folder = Path(sys.argv[1])
    problems = []
    listed = [info.name for info in list_saves(folder, problems)]
    try:
        read_save(folder / "autosave-zero.json", "'autosave-zero'")
        error = ""
    except SaveError as caught:
        error = str(caught)
    print(json.dumps({"listed": listed, "problems": problems, "error": error}))
    """
)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero here")
def test_a_link_to_dev_zero_is_refused_not_read(tiny_world: World, tmp_path: Path) -> None:
    save_game(Game.new(tiny_world, seed=1), "autosave-good", tmp_path)
    (tmp_path / "autosave-zero.json").symlink_to("/dev/zero")
    done = subprocess.run(
        [sys.executable, "-c", SPECIAL, str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["listed"] == ["autosave-good"]
    assert result["problems"] == ["'autosave-zero': not a regular file, so not a save"]
    assert result["error"] == "'autosave-zero': not a regular file, so not a save"


def test_a_file_that_says_it_is_empty_is_read_only_up_to_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A regular file whose size stat reports 0 but that reads on (as /proc files do) is
    # read one byte past the limit, then refused.
    source = Path("/proc/self/maps")
    if not source.is_file():
        pytest.skip("no /proc here")
    monkeypatch.setattr(saves, "MAX_SAVE_BYTES", 64)
    link = tmp_path / "proc.json"
    link.symlink_to(source)
    with pytest.raises(SaveError, match="'proc': too large to be a save"):
        saves.read_save(link, "'proc'")


def test_a_save_larger_than_the_limit_is_refused(
    tiny_world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = saved(tiny_world, tmp_path)
    monkeypatch.setattr(saves, "MAX_SAVE_BYTES", path.stat().st_size - 1)
    with pytest.raises(SaveError, match="'far': too large to be a save"):
        Game.load("far", tmp_path)
