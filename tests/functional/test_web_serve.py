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
        other = "f" * 32
        full = await client.get(f"/?session={other}")
        assert full.status == 503 and "is full" in await full.text()
        refused = await client.get(f"/ws/{other}")
        assert refused.status == 503
        # The same tab reloading is not refused.
        again = await client.get(f"/?session={session}")
        assert again.status == 200

        # Session ids are checked (they become folder names) and the plain socket is off.
        assert (await client.get("/ws/..%2F..%2Fetc")).status == 404
        assert (await client.get("/ws")).status == 404
        assert (await client.get("/?session=../../x", allow_redirects=False)).status == 302

        await socket.close()
        await wait_for(lambda: server.sessions == 0)
        health = await (await client.get("/health")).json()
        assert health == {"status": "ok", "sessions": 0, "max_sessions": 1, "refused": 2}
