"""``textgamegen serve``: the game in the browser, one game per tab, on textual-serve.

textual-serve runs the Textual app as a subprocess per browser connection and relays its
terminal over a websocket to xterm.js. On top of it this adds what a shared host needs:

* **A session per tab.** ``/`` redirects to ``/?session=<random id>``; the page's
  websocket is ``/ws/<id>`` and the game process runs with its own saves folder
  (``TEXTGAMEGEN_SAVES_DIR=<saves root>/<id>``). Reloading the tab keeps the id, so
  "Continue" finds the tab's autosave; another tab is another game.
* **A cap.** Beyond ``max_sessions`` live games the page says the server is full (HTTP
  503) instead of starting one more process.
* **One model.** The game processes never load a model: they are started with
  ``--model openai:...`` pointing at one ``serve-model`` (see ``commands/serve.py``).
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import WSMsgType, web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

log = logging.getLogger("textgamegen.serve")

SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
"""A session id is 32 hex digits, so it is safe as a folder name."""

FULL_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}: full</title>
<meta http-equiv="refresh" content="30">
<style>body{{background:#0c181f;color:#eee;font-family:monospace;display:flex;
align-items:center;justify-content:center;height:90vh}}div{{max-width:40em;text-align:center}}
</style></head>
<body><div><h1>{title} is full</h1>
<p id="full">All {limit} games on this server are being played. Please try again in a
few minutes; this page retries by itself every 30 seconds.</p></div></body></html>
"""


class _SessionApp(AppService):
    """textual-serve's app process, with the tab's own saves folder in its environment."""

    def __init__(self, *args: Any, extra_env: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra_env = extra_env

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width=width, height=height)
        environment.update(self.extra_env)
        return environment


class GameWebServer(Server):
    """textual-serve's ``Server`` with sessions per tab, their saves, and a cap.

    Args:
        command: the shell command that starts one game (``textgamegen play --model ...``).
        host: where to listen (localhost by default: put a proxy in front to go public).
        port: the port.
        max_sessions: games that may run at once.
        saves_root: each session's saves go in ``saves_root/<session id>``.
        public_url: the URL browsers use, when behind a proxy.
        title: shown on the page.
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
    ) -> None:
        super().__init__(command, host=host, port=port, title=title, public_url=public_url)
        self.max_sessions = max_sessions
        self.saves_root = Path(saves_root)
        self.live: dict[str, int] = {}  # session id -> open websockets
        self.refused = 0

    @property
    def sessions(self) -> int:
        return len(self.live)

    def _full_for(self, session: str) -> bool:
        return session not in self.live and self.sessions >= self.max_sessions

    def full_page(self) -> web.Response:
        self.refused += 1
        page = FULL_PAGE.format(title=html.escape(self.title), limit=self.max_sessions)
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
        return web.json_response(
            {
                "status": "ok",
                "sessions": self.sessions,
                "max_sessions": self.max_sessions,
                "refused": self.refused,
            }
        )

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        session = request.query.get("session", "")
        if not SESSION_ID.match(session):
            # A new tab: give it a session of its own, kept in its URL for reloads.
            query = dict(request.query)
            query["session"] = uuid.uuid4().hex
            raise web.HTTPFound(request.rel_url.with_query(query))
        if self._full_for(session):
            return self.full_page()
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
        if not SESSION_ID.match(session):
            raise web.HTTPNotFound(text="no such session")
        if self._full_for(session):
            return self.full_page()
        saves = self.saves_root / session
        saves.mkdir(parents=True, exist_ok=True)
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
                extra_env={"TEXTGAMEGEN_SAVES_DIR": str(saves)},
            )
            width = to_int(request.query.get("width", "80"), 80)
            height = to_int(request.query.get("height", "24"), 24)
            await app_service.start(width, height)
            await self._process_messages(websocket, app_service)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception as error:
            log.exception(error)
        finally:
            if app_service is not None:
                await app_service.stop()
            self.live[session] -= 1
            if not self.live[session]:
                del self.live[session]
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
                    to_int(str(data.get("width")), 80), to_int(str(data.get("height")), 24)
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
