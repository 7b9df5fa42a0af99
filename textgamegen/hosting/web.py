"""``textgamegen serve``: the game in the browser, one game per tab, on textual-serve.

textual-serve runs the Textual app as a subprocess per browser connection and relays its
terminal over a websocket to xterm.js. On top of it this adds what a shared host needs:

* **A session per tab.** ``/`` redirects to ``/?session=<id>``; the page's websocket is
  ``/ws/<id>`` and the game process runs with its own saves folder
  (``TEXTGAMEGEN_SAVES_DIR=<saves root>/<id>``). Reloading the tab keeps the id, so
  "Continue" finds the tab's autosave; another tab is another game. Only ids this server
  issued are accepted: an id is 16 random hex digits and 16 of their HMAC under a key
  kept in the saves root (``.session-key``, so ids outlive a restart); one a client made
  up (``/?session=000...0``) gets a fresh id instead, and its socket is refused.
* **Bounded terminals.** A browser's size (the socket's query and every ``resize``
  message) is clamped to ``MIN_COLUMNS``-``MAX_COLUMNS`` by ``MIN_ROWS``-``MAX_ROWS``:
  ``["resize", {"width": 20000, "height": 20000}]`` grew a game to 2 GB and sent 1.2 GB
  down its socket.
* **No host paths, no host settings.** The game processes run with
  ``TEXTGAMEGEN_HOSTED=1``, so what they show names files, never the host's folders or
  the model server's address (``paths.for_player``); their Settings change only the
  player's own file (``<session>/settings.toml``, ``paths.PLAYER_SETTINGS_ENV``), never
  the host's ``config.toml``, model, device or threads. Their feedback records carry a
  tag of the session (``paths.WEB_PLAYER_ENV``), not the session id, which opens the game.
* **A cap on game processes.** Beyond ``max_sessions`` running games a tab gets a page
  that says the server is full (HTTP 503) instead of one more process; four tabs on one
  URL are four games and count as such (the cap counted session ids: four tabs on one
  URL started four games under a cap of 1). A reloaded tab waits up to ``RELOAD_WAIT_S``
  for its old game to end.
* **One model.** The game processes never load a model: they are started with
  ``--model openai:...`` pointing at one ``serve-model`` (see ``commands/serve.py``), and
  ``/health`` says how that server is (``model_health``): "ok" only while it is up.
* **Closing the tab saves.** textual-serve tells the game to quit; the game autosaves
  as on Ctrl+Q (``TextGameGenApp``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import html
import logging
import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import WSMsgType, web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

from textgamegen.paths import HOSTED_ENV, PLAYER_SETTINGS_ENV, WEB_PLAYER_ENV

log = logging.getLogger("textgamegen.serve")

SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
"""A session id is 32 hex digits, so it is safe as a folder name."""
SESSION_KEY_FILE = ".session-key"
"""In the saves root: the key that signs session ids (made once, read by later starts)."""

PLAYER_SETTINGS_FILE = "settings.toml"
"""In a session's folder: the web player's own settings (sampling, panel, prefetch, ...)."""
RELOAD_WAIT_S = 10.0
"""A tab reloaded on a full server waits this long for its own old game to end."""

MIN_COLUMNS, MAX_COLUMNS = 20, 500
MIN_ROWS, MAX_ROWS = 6, 200
"""Terminal sizes a browser may ask for: a 4K screen at a small font is about 400 x 150;
beyond that a size only costs the host memory and bandwidth."""


def terminal_size(width: object, height: object) -> tuple[int, int]:
    """A browser's terminal size as numbers, clamped to what a screen can show (a size
    that is not a whole number is the default 80 x 24)."""
    columns = to_int(str(width), 80)
    rows = to_int(str(height), 24)
    return (
        min(max(columns, MIN_COLUMNS), MAX_COLUMNS),
        min(max(rows, MIN_ROWS), MAX_ROWS),
    )


def session_key(saves_root: Path) -> bytes:
    """The key that signs session ids: read from the saves root, made there (readable by
    its owner only) when missing. A root that cannot keep one gets a key for this run
    only, so the tabs of an earlier run start new sessions."""
    path = Path(saves_root) / SESSION_KEY_FILE
    for _ in range(2):  # read it, else make it; made by another server meanwhile: read it
        try:
            key = path.read_bytes()
            if len(key) >= 32:
                return key
            break  # a broken key file is left for the host to look at
        except FileNotFoundError:
            pass
        except OSError:
            break
        key = secrets.token_bytes(32)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        except OSError:
            break
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key)
        return key
    log.warning("session ids will not outlive this run: no usable key at %s", path)
    return secrets.token_bytes(32)


FULL_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}: full</title>
<meta http-equiv="refresh" content="30">
<style>body{{background:#0c181f;color:#eee;font-family:monospace;display:flex;
align-items:center;justify-content:center;height:90vh}}div{{max-width:40em;text-align:center}}
</style></head>
<body><div><h1>{title} is full</h1>
<p id="full">All {limit} games on this server are being played. Please try again in a
few minutes; this page retries by itself every 30 seconds.</p>{also}</div></body></html>
"""
OPEN_ELSEWHERE = """<p id="elsewhere">Your game is open in another tab or window, and it
counts as one of them: play it there, or close it to play here.</p>"""


def player_tag(session: str) -> str:
    """The tag a web player's feedback carries: a hash of their session id, so the host
    can tell players apart in ``feedback.db`` without keeping the id that opens a game."""
    return "web-" + hashlib.sha256(session.encode("ascii")).hexdigest()[:12]


class _SessionApp(AppService):
    """textual-serve's app process, with the tab's own saves folder in its environment."""

    def __init__(self, *args: Any, extra_env: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra_env = extra_env

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width=width, height=height)
        environment.update(self.extra_env)
        return environment

    # Every size a game process is given passes here, clamped, whoever asked.

    async def start(self, width: int, height: int) -> None:
        await super().start(*terminal_size(width, height))

    async def set_terminal_size(self, width: int, height: int) -> None:
        await super().set_terminal_size(*terminal_size(width, height))


class GameWebServer(Server):
    """textual-serve's ``Server`` with sessions per tab, their saves, and a cap.

    Args:
        command: the shell command that starts one game (``textgamegen play --model ...``).
        host: where to listen (localhost by default: put a proxy in front to go public).
        port: the port.
        max_sessions: game processes that may run at once (one per open tab).
        saves_root: each session's saves go in ``saves_root/<session id>``.
        public_url: the URL browsers use, when behind a proxy.
        title: shown on the page.
        model_health: the model server's state for ``/health`` (``ModelKeeper.health``:
            ``{"state": "up", ...}``); None when serve started none.
    """

    def __init__(
        self,
        command: str,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        max_sessions: int = 16,
        saves_root: Path,
        public_url: str | None = None,
        title: str = "TextGameGen",
        model_health: Callable[[], dict[str, object]] | None = None,
    ) -> None:
        super().__init__(command, host=host, port=port, title=title, public_url=public_url)
        self.max_sessions = max_sessions
        self.saves_root = Path(saves_root)
        self.live: dict[str, int] = {}  # session id -> its running game processes
        self.games = 0
        """Game processes running (or starting, or stopping): what the cap counts."""
        self.refused = 0
        self.model_health = model_health
        self.reload_wait_s = RELOAD_WAIT_S
        self._key = session_key(self.saves_root)
        self._ended: asyncio.Condition | None = None  # made on the server's own loop

    def _sign(self, nonce: str) -> str:
        return hmac.new(self._key, nonce.encode("ascii"), hashlib.sha256).hexdigest()[:16]

    def new_session(self) -> str:
        """A fresh session id that this server (and any with the same saves root) accepts."""
        nonce = secrets.token_hex(8)
        return nonce + self._sign(nonce)

    def is_session(self, session: str) -> bool:
        """Whether an id was issued here: 32 hex digits whose second half signs the first."""
        if not SESSION_ID.match(session):
            return False
        return hmac.compare_digest(session[16:], self._sign(session[:16]))

    @property
    def sessions(self) -> int:
        """Sessions with a game running (a session may run several: one per tab)."""
        return len(self.live)

    @property
    def full(self) -> bool:
        return self.games >= self.max_sessions

    async def _room_for(self, session: str) -> bool:
        """Whether one more game may start. On a full server, a tab of a session that has a
        game running (a reload: its old game is on its way out) waits up to
        ``reload_wait_s`` for a game to end; another tab is refused at once."""
        if not self.full:
            return True
        if session not in self.live:
            return False
        if self._ended is None:
            self._ended = asyncio.Condition()
        async with self._ended:
            try:
                await asyncio.wait_for(
                    self._ended.wait_for(lambda: not self.full), timeout=self.reload_wait_s
                )
            except asyncio.TimeoutError:
                return False
        return True

    async def _game_ended(self, session: str) -> None:
        self.games -= 1
        self.live[session] -= 1
        if not self.live[session]:
            del self.live[session]
        if self._ended is not None:
            async with self._ended:
                self._ended.notify_all()

    def full_page(self, session: str = "") -> web.Response:
        self.refused += 1
        page = FULL_PAGE.format(
            title=html.escape(self.title),
            limit=self.max_sessions,
            also=OPEN_ELSEWHERE if session in self.live else "",
        )
        return web.Response(
            text=page, content_type="text/html", status=503, headers={"Retry-After": "30"}
        )

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.router.add_get("/ws/{session}", self.handle_session, name="session")
        app.router.add_get("/health", self.handle_health)
        return app

    async def on_startup(self, app: web.Application) -> None:
        self.console.print(
            f"TextGameGen in the browser: {self.public_url}  "
            f"(up to {self.max_sessions} games; Ctrl+C to stop)"
        )

    async def handle_health(self, _request: web.Request) -> web.Response:
        """The server's state: "ok" (HTTP 200) only while the model server it started is
        up; "degraded" (HTTP 503) while it is down or restarting, when games are narrated
        by the template."""
        report: dict[str, object] = {
            "status": "ok",
            "games": self.games,
            "sessions": self.sessions,
            "max_sessions": self.max_sessions,
            "refused": self.refused,
        }
        if self.model_health is not None:
            model = self.model_health()
            report["model"] = model
            if model.get("state") != "up":
                report["status"] = "degraded"
        return web.json_response(report, status=200 if report["status"] == "ok" else 503)

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        session = request.query.get("session", "")
        if not self.is_session(session):
            # A new tab, or an id not issued here: a session of its own, kept in its URL
            # for reloads. An id the client chose could be another player's.
            query = dict(request.query)
            query["session"] = self.new_session()
            raise web.HTTPFound(request.rel_url.with_query(query))
        if not await self._room_for(session):
            return self.full_page(session)
        router = request.app.router

        def url(route: str, **parts: str) -> str:
            return f"{self.public_url}{router[route].url_for(**parts)}"

        socket_url = url("session", session=session)
        scheme = "wss:" if self.public_url.startswith("https") else "ws:"
        context = {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": scheme + socket_url.split(":", 1)[1],
            "config": {"static": {"url": url("static", filename="/").rstrip("/") + "/"}},
            "application": {"name": self.title},
        }
        return aiohttp_jinja2.render_template("app_index.html", request, context)

    async def handle_websocket(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
        # The session-less socket of plain textual-serve would bypass saves and the cap.
        raise web.HTTPNotFound(text="open / in a browser to start a game")

    async def handle_session(self, request: web.Request) -> web.StreamResponse:
        session = request.match_info["session"]
        if not self.is_session(session):
            raise web.HTTPNotFound(text="no such session")
        if not await self._room_for(session):
            return self.full_page(session)
        saves = self.saves_root / session
        saves.mkdir(parents=True, exist_ok=True)
        # Counted before the first await below, so two sockets cannot both take the last
        # place; uncounted only once the process has ended.
        self.games += 1
        self.live[session] = self.live.get(session, 0) + 1
        websocket = web.WebSocketResponse(heartbeat=15)
        app_service: AppService | None = None
        try:
            await websocket.prepare(request)
            app_service = _SessionApp(
                self.command,
                write_bytes=websocket.send_bytes,
                write_str=websocket.send_str,
                close=websocket.close,
                download_manager=self.download_manager,
                debug=self.debug,
                extra_env={
                    "TEXTGAMEGEN_SAVES_DIR": str(saves),
                    HOSTED_ENV: "1",
                    PLAYER_SETTINGS_ENV: str(saves / PLAYER_SETTINGS_FILE),
                    WEB_PLAYER_ENV: player_tag(session),
                },
            )
            width, height = terminal_size(
                request.query.get("width", "80"), request.query.get("height", "24")
            )
            await app_service.start(width, height)
            await self._process_messages(websocket, app_service)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception as error:
            log.exception(error)
        finally:
            if app_service is not None:
                await app_service.stop()
            await self._game_ended(session)
        return websocket

    async def _process_messages(
        self, websocket: web.WebSocketResponse, app_service: AppService
    ) -> None:
        # The base class asserts on malformed messages; a bad frame is skipped here instead.
        async for message in websocket:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                envelope = message.json()
                kind, data = envelope[0], envelope[1]
            except (ValueError, TypeError, IndexError, KeyError):
                continue
            if kind == "stdin" and isinstance(data, str):
                await app_service.send_bytes(data.encode("utf-8"))
            elif kind == "resize" and isinstance(data, dict):
                await app_service.set_terminal_size(
                    *terminal_size(data.get("width"), data.get("height"))
                )
            elif kind == "ping":
                await websocket.send_json(["pong", data])
            elif kind == "blur":
                await app_service.blur()
            elif kind == "focus":
                await app_service.focus()


def default_saves_root() -> Path:
    """Where the browser sessions' saves go unless ``--saves-root`` says otherwise."""
    from textgamegen import paths

    return Path(os.environ.get("TEXTGAMEGEN_WEB_SAVES") or paths.user_data_dir() / "web-saves")
