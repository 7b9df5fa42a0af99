"""Real games behind ``serve``'s web server, played over its websocket as a browser tab
does (no browser: the terminal is rebuilt from the frames with pyte): two new games tell
different stories (each draws its own seed), and closing the tab saves the game at the
turn it was closed (turn 7 came back as turn 5, the last autosave)."""

from __future__ import annotations

import asyncio
import gc
import shlex
from pathlib import Path

import pyte
import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient, TestServer

from textgamegen.commands.serve import game_command
from textgamegen.engine.game import Game
from textgamegen.engine.saves import latest_autosave
from textgamegen.hosting.web import GameWebServer

pytestmark = pytest.mark.slow

GUARD_S = 600.0
"""Only against a hang: a game's Python starts slowly on a busy machine."""


class Tab:
    """One browser tab's socket and the screen its frames draw."""

    def __init__(self, socket: ClientWebSocketResponse) -> None:
        self.socket = socket
        self.screen = pyte.Screen(120, 40)
        self.stream = pyte.ByteStream(self.screen)

    def text(self) -> str:
        return "\n".join(self.screen.display)

    async def wait_for(self, needle: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GUARD_S
        while needle not in self.text():
            assert loop.time() < deadline, f"{needle!r} never showed:\n{self.text()}"
            try:
                message = await asyncio.wait_for(self.socket.receive(), timeout=1.0)
            except asyncio.TimeoutError:
                continue
            if message.type == WSMsgType.BINARY:
                self.stream.feed(message.data)
            elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.ERROR):
                raise AssertionError(f"the game closed; the screen:\n{self.text()}")

    async def keys(self, text: str) -> None:
        await self.socket.send_json(["stdin", text])


async def play_and_close(client: TestClient, server: GameWebServer, turns: int) -> str:
    """Open a tab, start a new game, play ``turns`` turns, close the tab; its session."""
    session = server.new_session()
    tab = Tab(await client.ws_connect(f"/ws/{session}?width=120&height=40"))
    await tab.wait_for("New game")
    await tab.wait_for("Narrator: template")
    await tab.keys("n")
    await tab.wait_for("Turn 0")
    for turn in range(1, turns + 1):
        await tab.keys(("look" if turn % 2 else "wait") + "\r")
        await tab.wait_for(f"Turn {turn}")
    await tab.socket.close()  # the tab goes: textual-serve tells the game to quit
    return session


async def test_two_new_web_games_draw_their_own_seeds_and_closing_saves(tmp_path: Path) -> None:
    root = tmp_path / "web-saves"
    server = GameWebServer(shlex.join(game_command("template", None)), saves_root=root)
    app = await server._make_app()
    async with TestClient(TestServer(app)) as client:
        first = await play_and_close(client, server, turns=7)
        second = await play_and_close(client, server, turns=1)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + GUARD_S
        while server.games:
            assert loop.time() < deadline, "the games did not end"
            await asyncio.sleep(0.1)
        # textual-serve drops its ended processes' transports unclosed: let them go while
        # the loop that closes them still runs (not after, as a warning).
        gc.collect()
        await asyncio.sleep(0)
    saved = {}
    for session in (first, second):
        autosave = latest_autosave(root / session)
        assert autosave is not None, f"closing the tab of {session} saved nothing"
        saved[session] = (autosave.turn, Game.load(autosave.name, root / session).seed)
    assert saved[first][0] == 7, "the game is saved at the turn the tab was closed"
    assert saved[second][0] == 1
    assert saved[first][1] != saved[second][1], "each new game draws its own seed"
