"""``serve``'s own model server, kept running: started, watched, restarted when it dies.

``serve`` starts one ``textgamegen serve-model`` on a local port and points every game at
it. A model server that died went unnoticed: every game fell back to the template
narrator and ``serve``'s ``/health`` still said "ok". The keeper watches the process from a
thread; when it exits, the keeper starts it again on the same port (so the games' address
still holds), waiting longer after each failed start (``FIRST_BACKOFF_S`` doubling up to
``MAX_BACKOFF_S``; a server that had run for ``STABLE_S`` starts again at once). Its
``health`` is what ``serve``'s ``/health`` reports, and the games say themselves when the
model answers again.

Example::

    keeper = ModelKeeper(start=lambda port: start_model_server("narrator", "cpu", port=port))
    problem = keeper.start()          # None once the server answers /health
    keeper.health()                   # {"state": "up", "restarts": 0, ...}
    keeper.stop()
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

log = logging.getLogger("textgamegen.serve")

MODEL_START_TIMEOUT_S = 600
"""How long a model server may take to load its model and answer (a cold CPU start)."""
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
"""The wait before a restart doubles from FIRST_BACKOFF_S up to MAX_BACKOFF_S while the
server keeps dying, so a broken model does not spin the host's CPUs."""
STABLE_S = 60.0
"""A server that ran this long before it died is restarted after FIRST_BACKOFF_S again."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def wait_for_model_server(
    process: subprocess.Popen, url: str, timeout_s: float, stop: threading.Event | None = None
) -> str | None:
    """Wait until ``url``/health answers; the error text, or None when it is up (or
    ``stop`` was set)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"the model server exited with code {process.returncode}"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if json.loads(answer.read()).get("status") == "ok":
                    return None
        except (OSError, ValueError):
            pass
        if stop is not None and stop.wait(0.5):
            return None
        if stop is None:
            time.sleep(0.5)
    return f"the model server did not start within {timeout_s:.0f} s"


def start_model_server(
    model: str,
    device: str | None,
    port: int | None = None,
    options: Sequence[str] = (),
    **popen: Any,
) -> tuple[subprocess.Popen, str]:
    """Start ``serve-model`` on ``port`` (a free local one by default); (process, its
    root URL). ``options`` are more of serve-model's flags (the bench's ``--max-batch``);
    ``popen`` goes to ``subprocess.Popen`` (the bench sends stderr to a file)."""
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "textgamegen",
        "serve-model",
        "--model",
        model,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    if device:
        command += ["--device", device]
    process = subprocess.Popen([*command, *options], **popen)
    return process, f"http://127.0.0.1:{port}"


Starter = Callable[[int | None], tuple[subprocess.Popen, str]]
"""Starts a model server on the port given (None: any free one); (process, root URL)."""


class ModelKeeper:
    """One model server, restarted with back-off whenever it exits, until ``stop``.

    Args:
        start: starts the server (``start_model_server`` with the model and device).
        start_timeout_s: how long one start may take to answer ``/health``.
        first_backoff_s, max_backoff_s, stable_s: the restart back-off (see the module).
    """

    def __init__(
        self,
        start: Starter,
        *,
        start_timeout_s: float = MODEL_START_TIMEOUT_S,
        first_backoff_s: float = FIRST_BACKOFF_S,
        max_backoff_s: float = MAX_BACKOFF_S,
        stable_s: float = STABLE_S,
    ) -> None:
        self._start = start
        self.start_timeout_s = start_timeout_s
        self.first_backoff_s = first_backoff_s
        self.max_backoff_s = max_backoff_s
        self.stable_s = stable_s
        self.url = ""
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        """Restarts that came up (for ``/health`` and the tests)."""
        self.state = "starting"
        """"starting", "up", "down" (it died; a restart is waiting out its back-off) or
        "stopped"."""
        self.last_exit: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> str | None:
        """Start the server and wait until it answers; then watch it. The problem, or None."""
        problem = self._launch()
        if problem:
            self.stop()
            return problem
        self._watcher = threading.Thread(target=self._watch, name="model keeper", daemon=True)
        self._watcher.start()
        return None

    def _launch(self) -> str | None:
        process, url = self._start(self.port)
        with self._lock:
            self.process, self.url = process, url
            self.port = int(url.rsplit(":", 1)[1])
            self.state = "starting"
        problem = wait_for_model_server(process, url, self.start_timeout_s, self._stop)
        if problem:
            return problem
        with self._lock:
            if not self._stop.is_set():
                self.state = "up"
        return None

    def _watch(self) -> None:
        backoff = self.first_backoff_s
        while not self._stop.is_set():
            process = self.process
            assert process is not None
            began = time.monotonic()
            code = process.wait()
            if self._stop.is_set():
                return
            with self._lock:
                self.state, self.last_exit = "down", code
            if time.monotonic() - began >= self.stable_s:
                backoff = self.first_backoff_s
            log.warning("the model server exited (code %s); restarting in %.0f s", code, backoff)
            print(
                f"textgamegen serve: the model server exited (code {code}); "
                f"restarting it in {backoff:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, self.max_backoff_s)
            problem = self._launch()
            if self._stop.is_set():
                return
            if problem:
                _end(self.process)
                with self._lock:
                    self.state = "down"
                print(f"textgamegen serve: restart failed: {problem}", file=sys.stderr)
                continue
            with self._lock:
                self.restarts += 1
            print("textgamegen serve: the model server is back", file=sys.stderr, flush=True)

    def health(self) -> dict[str, object]:
        """The server's state, for ``/health``: up or not, restarts, the last exit code."""
        with self._lock:
            return {"state": self.state, "restarts": self.restarts, "last_exit": self.last_exit}

    def stop(self) -> None:
        """Stop watching and end the server."""
        self._stop.set()
        with self._lock:
            self.state = "stopped"
            process = self.process
        _end(process)
        if self._watcher is not None and self._watcher is not threading.current_thread():
            self._watcher.join(timeout=15)


def _end(process: subprocess.Popen | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
