"""The resize probe: one websocket message asking for a 20000 x 20000 terminal.

``serve`` runs a real game (``textgamegen play --model template``) behind textual-serve; a
client opens its socket at 80 x 24, waits for the title screen, then sends ``["resize",
{"width": 20000, "height": 20000}]`` and keeps reading. Measured for ``--seconds`` after
the message: the game process's peak RSS (VmHWM, its whole life) and the bytes sent down
the socket. Run with the clamp (``hosting.web.terminal_size``) and, for comparison, with it
taken out (sizes passed on as asked, as before issue 25). Linux only (reads /proc).

Example::

    python -m bench.web_resize --seconds 15
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def _children_peak_kib() -> int:
    """The largest VmHWM among this process's descendants (the shell and the game)."""
    peak = 0
    todo = [os.getpid()]
    while todo:
        pid = todo.pop()
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        for child in children:
            todo.append(int(child))
            try:
                status = Path(f"/proc/{child}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
    return peak


async def _probe(seconds: float, clamped: bool) -> dict[str, Any]:
    from aiohttp import ClientSession, WSMsgType
    from aiohttp.test_utils import TestServer

    from textgamegen.hosting import web

    command = shlex.join([sys.executable, "-m", "textgamegen", "play", "--model", "template"])
    original = web.terminal_size
    if not clamped:
        web.terminal_size = lambda w, h: (web.to_int(str(w), 80), web.to_int(str(h), 24))
    try:
        with tempfile.TemporaryDirectory() as folder:
            server = web.GameWebServer(command, saves_root=Path(folder) / "saves")
            test_server = TestServer(await server._make_app())
            await test_server.start_server()
            try:
                async with ClientSession() as client:
                    session = server.new_session()
                    url = test_server.make_url(f"/ws/{session}?width=80&height=24")
                    async with client.ws_connect(url, max_msg_size=0) as socket:
                        started = time.monotonic()
                        received = 0
                        while time.monotonic() - started < 120 and received < 2000:
                            message = await socket.receive(timeout=120)
                            if message.type in (WSMsgType.BINARY, WSMsgType.TEXT):
                                received += len(message.data)
                        await asyncio.sleep(2)  # the title screen drawn and settled
                        await socket.send_json(["resize", {"width": 20000, "height": 20000}])
                        sent = 0
                        deadline = time.monotonic() + seconds
                        while (left := deadline - time.monotonic()) > 0:
                            try:
                                message = await socket.receive(timeout=left)
                            except asyncio.TimeoutError:
                                break
                            if message.type in (WSMsgType.BINARY, WSMsgType.TEXT):
                                sent += len(message.data)
                            elif message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED):
                                break
                        peak = _children_peak_kib()
                        await socket.close()
                    while server.live:  # the game is told to quit and reaped
                        await asyncio.sleep(0.1)
            finally:
                await test_server.close()
    finally:
        web.terminal_size = original
    return {"clamped": clamped, "peak_rss_mib": peak / 1024, "bytes_after_resize": sent}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.web_resize", description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--unclamped", action="store_true", help="also run without the clamp")
    args = parser.parse_args(argv)
    runs = [True, False] if args.unclamped else [True]
    for clamped in runs:
        result = asyncio.run(_probe(args.seconds, clamped))
        print(
            f"{'clamped' if clamped else 'unclamped'}: resize 20000 x 20000 -> game peak RSS "
            f"{result['peak_rss_mib']:.0f} MiB, {result['bytes_after_resize'] / 1e6:.1f} MB "
            f"down the socket in {args.seconds:g} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
