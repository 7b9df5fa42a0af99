"""serve's web server without a browser: a session per tab, its own saves folder, the cap."""

from __future__ import annotations

import asyncio
import shlex
import sys
from collections.abc import Callable
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from textgamegen.hosting.web import GameWebServer


def game_command(record: Path) -> str:
    # Stands in for the game: writes down its saves folder, then lives until textual-serve
    # sends it anything (the quit it sends when the tab goes).
    script = (
        "import os, sys; "
        f"open({str(record)!r}, 'a').write(os.environ['TEXTGAMEGEN_SAVES_DIR'] + '\\n'); "
        "sys.stdin.buffer.read(1)"
    )
    return shlex.join([sys.executable, "-c", script])


async def wait_for(predicate: Callable[[], object], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate() and loop.time() < deadline:
        await asyncio.sleep(0.05)
    assert predicate(), "timed out"


async def test_sessions_saves_and_the_cap(tmp_path: Path) -> None:
    record = tmp_path / "saves-dirs.txt"
    server = GameWebServer(game_command(record), max_sessions=1, saves_root=tmp_path / "saves")
    app = await server._make_app()
    async with TestClient(TestServer(app)) as client:
        # A new tab is sent to a session of its own.
        first = await client.get("/", allow_redirects=False)
        assert first.status == 302 and "session=" in first.headers["Location"]
        page = await client.get("/", allow_redirects=True)
        assert page.status == 200
        text = await page.text()
        session = str(page.url).split("session=")[1][:32]
        assert f"/ws/{session}" in text

        socket = await client.ws_connect(f"/ws/{session}?width=80&height=24")
        await wait_for(lambda: record.exists() and record.read_text().strip())
        # The game process got this tab's own saves folder.
        assert record.read_text().split() == [str(tmp_path / "saves" / session)]
        assert server.sessions == 1

        # One game is the cap: another tab gets the "full" page, and its socket is refused.
        other = server.new_session()
        full = await client.get(f"/?session={other}")
        assert full.status == 503 and "is full" in await full.text()
        refused = await client.get(f"/ws/{other}")
        assert refused.status == 503
        # The same URL in another tab would be a second game: refused too (a reload, whose
        # game ends, is in test_the_cap_counts_game_processes_not_sessions).
        server.reload_wait_s = 0.0
        again = await client.get(f"/?session={session}")
        assert again.status == 503

        # Session ids are checked (they become folder names) and the plain socket is off.
        assert (await client.get("/ws/..%2F..%2Fetc")).status == 404
        assert (await client.get("/ws")).status == 404
        assert (await client.get("/?session=../../x", allow_redirects=False)).status == 302

        await socket.close()
        await wait_for(lambda: server.sessions == 0)
        health = await (await client.get("/health")).json()
        assert health == {
            "status": "ok",
            "games": 0,
            "sessions": 0,
            "max_sessions": 1,
            "refused": 3,
        }


# -- issue 25: server-issued session ids, clamped terminal sizes, no host paths ------------

SIZES = """
import json, os, sys
record = open(sys.argv[1], "a")
def note(data):
    record.write(json.dumps(data) + "\\n")
    record.flush()
note({"columns": os.environ["COLUMNS"], "rows": os.environ["ROWS"],
      "hosted": os.environ.get("TEXTGAMEGEN_HOSTED")})
stdin = sys.stdin.buffer
while True:  # textual-serve's packets: a kind byte, a 4-byte length, the payload
    head = stdin.read(5)
    if len(head) < 5:
        break
    payload = stdin.read(int.from_bytes(head[1:], "big"))
    if head[:1] == b"M":
        meta = json.loads(payload)
        note(meta)
        if meta.get("type") == "quit":
            break
"""


def sizes_command(record: Path) -> str:
    # Stands in for the game: writes down the size it starts with and every meta packet.
    return shlex.join([sys.executable, "-c", SIZES, str(record)])


def notes(record: Path) -> list[dict]:
    import json

    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]


async def test_a_client_chosen_session_id_is_refused(tmp_path: Path) -> None:
    server = GameWebServer(game_command(tmp_path / "r.txt"), saves_root=tmp_path / "saves")
    app = await server._make_app()
    async with TestClient(TestServer(app)) as client:
        chosen = "0" * 32
        page = await client.get(f"/?session={chosen}", allow_redirects=False)
        assert page.status == 302
        given = page.headers["Location"].split("session=")[1][:32]
        assert given != chosen and server.is_session(given)
        assert (await client.get(f"/ws/{chosen}")).status == 404
        # One digit changed in an issued id is not an id.
        forged = given[:-1] + ("0" if given[-1] != "0" else "1")
        assert not server.is_session(forged)
        assert (await client.get(f"/ws/{forged}")).status == 404
        assert (await client.get(f"/?session={given}")).status == 200
    # Ids outlive a restart of the server on the same saves root (its key is kept there,
    # readable by its owner only), so a reloaded tab finds its saves again.
    again = GameWebServer(game_command(tmp_path / "r.txt"), saves_root=tmp_path / "saves")
    assert again.is_session(given)
    assert (tmp_path / "saves" / ".session-key").stat().st_mode & 0o077 == 0
    other_root = GameWebServer(game_command(tmp_path / "r.txt"), saves_root=tmp_path / "other")
    assert not other_root.is_session(given)


async def test_terminal_sizes_are_clamped_and_games_run_hosted(tmp_path: Path) -> None:
    from textgamegen.hosting import web

    record = tmp_path / "sizes.jsonl"
    server = GameWebServer(sizes_command(record), saves_root=tmp_path / "saves")
    app = await server._make_app()
    async with TestClient(TestServer(app)) as client:
        session = server.new_session()
        socket = await client.ws_connect(f"/ws/{session}?width=20000&height=20000")
        await wait_for(lambda: len(notes(record)) >= 1)
        first = notes(record)[0]
        assert (first["columns"], first["rows"]) == (str(web.MAX_COLUMNS), str(web.MAX_ROWS))
        assert first["hosted"] == "1", "the game knows its player is not the host"
        for size in ({"width": 20000, "height": 20000}, {"width": -5, "height": "x"}):
            await socket.send_json(["resize", size])
        await socket.send_json(["resize", {"width": 120, "height": 40}])
        await wait_for(lambda: len([n for n in notes(record) if n.get("type") == "resize"]) >= 3)
        resizes = [(n["width"], n["height"]) for n in notes(record) if n.get("type") == "resize"]
        assert resizes == [
            (web.MAX_COLUMNS, web.MAX_ROWS),
            (web.MIN_COLUMNS, 24),  # not a number: the default
            (120, 40),  # a real screen is left as it is
        ]
        await socket.close()
        await wait_for(lambda: server.sessions == 0)


# -- a browser host players cannot break: the cap counts processes, /health the model ---


async def test_the_cap_counts_game_processes_not_sessions(tmp_path: Path) -> None:
    """Four tabs on one URL were four games under a cap of 1: now the first tab plays and
    the others get the "full" page (saying the game is open elsewhere)."""
    record = tmp_path / "saves-dirs.txt"
    server = GameWebServer(game_command(record), max_sessions=1, saves_root=tmp_path / "saves")
    server.reload_wait_s = 0.0  # the other tabs are not reloads: refused at once
    app = await server._make_app()
    async with TestClient(TestServer(app)) as client:
        session = server.new_session()
        first = await client.ws_connect(f"/ws/{session}?width=80&height=24")
        await wait_for(lambda: record.exists() and record.read_text().strip())
        for _tab in range(3):
            assert (await client.get(f"/ws/{session}")).status == 503
            page = await client.get(f"/?session={session}")
            text = await page.text()
            assert page.status == 503 and "is full" in text and "another tab" in text
        assert server.games == 1 and len(record.read_text().split()) == 1, "one game started"
        health = await (await client.get("/health")).json()
        assert health["games"] == 1 and health["refused"] == 6

        # A reload: the old socket goes and the same tab's page waits for its game to end.
        server.reload_wait_s = 60.0  # a guard only: the game ends as soon as it is told
        await first.close()
        again = await client.get(f"/?session={session}")
        assert again.status == 200
        await wait_for(lambda: server.games == 0)


async def test_health_says_how_the_model_server_is(tmp_path: Path) -> None:
    state = {"state": "up", "restarts": 0, "last_exit": None}
    server = GameWebServer(
        game_command(tmp_path / "r.txt"), saves_root=tmp_path / "saves", model_health=lambda: state
    )
    app = await server._make_app()
    async with TestClient(TestServer(app)) as client:
        up = await client.get("/health")
        assert up.status == 200 and (await up.json())["model"] == state
        state.update(state="down", last_exit=-9)
        down = await client.get("/health")
        body = await down.json()
        assert down.status == 503 and body["status"] == "degraded"
        assert body["model"]["last_exit"] == -9
        state.update(state="up", restarts=1)
        back = await client.get("/health")
        assert back.status == 200 and (await back.json())["model"]["restarts"] == 1


async def test_games_get_the_players_own_settings_file_and_feedback_tag(tmp_path: Path) -> None:
    from textgamegen import paths
    from textgamegen.hosting.web import PLAYER_SETTINGS_FILE, player_tag

    record = tmp_path / "env.txt"
    script = (
        "import os, sys; "
        f"open({str(record)!r}, 'w').write(os.environ[{paths.PLAYER_SETTINGS_ENV!r}] + ' ' "
        f"+ os.environ[{paths.WEB_PLAYER_ENV!r}]); sys.stdin.buffer.read(1)"
    )
    server = GameWebServer(
        shlex.join([sys.executable, "-c", script]), saves_root=tmp_path / "saves"
    )
    app = await server._make_app()
    async with TestClient(TestServer(app)) as client:
        session = server.new_session()
        socket = await client.ws_connect(f"/ws/{session}")
        await wait_for(lambda: record.exists() and record.read_text().strip())
        settings, tag = record.read_text().split()
        assert settings == str(tmp_path / "saves" / session / PLAYER_SETTINGS_FILE)
        assert tag == player_tag(session) and session not in tag and tag.startswith("web-")
        await socket.close()
        await wait_for(lambda: server.games == 0)


def test_web_games_draw_their_own_seed() -> None:
    """serve starts every game without --seed, so each new game draws its own."""
    from textgamegen.commands.serve import game_command as serve_game

    command = serve_game("openai:http://127.0.0.1:1/v1", "lanternfall")
    assert "--seed" not in command and command[-2:] == ["--world", "lanternfall"]
