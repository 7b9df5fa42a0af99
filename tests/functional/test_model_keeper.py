"""serve keeps its model server running: a killed server is started again on the same
port, with back-off while it keeps dying, and its state is what serve's /health says.

A stand-in answers ``/health`` as ``serve-model`` does, so the test needs no model; the
slow test at the end kills the real ``serve-model`` under a real ``serve``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from textgamegen.hosting.model_keeper import ModelKeeper, free_port

REPO = Path(__file__).resolve().parents[2]

STAND_IN = """
import http.server, json, sys
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"status": "ok"}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
if sys.argv[2] == "dies":
    sys.exit(3)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Health).serve_forever()
"""


def stand_in(starts: list[int], dies: Callable[[int], bool] = lambda _n: False):
    def start(port: int | None) -> tuple[subprocess.Popen, str]:
        port = port or free_port()
        starts.append(port)
        how = "dies" if dies(len(starts)) else "serves"
        process = subprocess.Popen([sys.executable, "-c", STAND_IN, str(port), how])
        return process, f"http://127.0.0.1:{port}"

    return start


def wait_for(predicate: Callable[[], object], timeout: float = 120.0) -> None:
    """Poll a condition; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_model_server_is_restarted_on_its_port() -> None:
    starts: list[int] = []
    keeper = ModelKeeper(stand_in(starts), first_backoff_s=0.01, start_timeout_s=120)
    try:
        assert keeper.start() is None
        assert keeper.health() == {"state": "up", "restarts": 0, "last_exit": None}
        first = keeper.process
        assert first is not None
        first.kill()
        wait_for(lambda: keeper.health()["restarts"] == 1)
        health = keeper.health()
        assert health["state"] == "up" and health["last_exit"] == -signal.SIGKILL
        assert keeper.process is not first and keeper.process.poll() is None
        assert starts[0] == starts[1], "the games' address still holds"
        with urllib.request.urlopen(f"{keeper.url}/health", timeout=10) as answer:
            assert json.loads(answer.read())["status"] == "ok"
    finally:
        keeper.stop()
    assert keeper.health()["state"] == "stopped"
    assert keeper.process is not None and keeper.process.poll() is not None


def test_a_server_that_keeps_dying_is_restarted_ever_more_slowly() -> None:
    starts: list[int] = []
    # Starts 2 to 4 die at once; the fifth comes up.
    keeper = ModelKeeper(
        stand_in(starts, dies=lambda n: 2 <= n <= 4),
        first_backoff_s=0.01,
        max_backoff_s=0.04,
        start_timeout_s=120,
    )
    waits: list[float] = []
    real_wait = keeper._stop.wait

    def timed_wait(timeout: float | None = None) -> bool:
        if timeout is not None and timeout >= 0.01:
            waits.append(timeout)
        return real_wait(timeout)

    keeper._stop.wait = timed_wait  # type: ignore[method-assign]
    try:
        assert keeper.start() is None
        keeper.process.kill()  # type: ignore[union-attr]
        wait_for(lambda: keeper.health()["restarts"] == 1)
        assert len(starts) == 5 and keeper.health()["state"] == "up"
    finally:
        keeper.stop()
    backoffs = [wait for wait in waits if wait in (0.01, 0.02, 0.04)]
    assert backoffs[:4] == [0.01, 0.02, 0.04, 0.04], waits


def test_a_server_that_never_starts_is_reported() -> None:
    keeper = ModelKeeper(stand_in([], dies=lambda _n: True), start_timeout_s=120)
    problem = keeper.start()
    assert problem == "the model server exited with code 3"
    assert keeper.health()["state"] == "stopped"


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            found.append((int(entry.name), command))
    return found


def health(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.slow
def test_serve_restarts_its_killed_serve_model_and_health_says_so(tmp_path: Path) -> None:
    from textgamegen.models.random_model import build_random_model

    model = build_random_model(tmp_path / "tiny", shape="toy")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    serve = subprocess.Popen(
        [
            *(sys.executable, "-m", "textgamegen", "serve", "--model", str(model)),
            *("--port", str(port), "--saves-root", str(tmp_path / "saves")),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:

        def up() -> bool:
            assert serve.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
            try:
                return health(url)[0] == 200
            except OSError:
                return False

        wait_for(up, timeout=600)
        body = health(url)[1]
        assert body["status"] == "ok" and body["model"]["state"] == "up"
        model_servers = [pid for pid, command in _children(serve.pid) if "serve-model" in command]
        assert len(model_servers) == 1
        os.kill(model_servers[0], signal.SIGKILL)
        seen: list[dict] = []

        def restarted() -> bool:
            status, body = health(url)
            seen.append(body)
            return status == 200 and body["model"]["restarts"] == 1

        wait_for(restarted, timeout=600)
        down = [body for body in seen if body["status"] == "degraded"]
        assert down, "while it was down /health did not say ok"
        assert down[0]["model"]["state"] in ("down", "starting")
        log_text = (tmp_path / "serve.log").read_text()
        assert "restarting it" in log_text and "the model server is back" in log_text
        # The games' address still holds: the restarted server answers there.
        where = re.search(r"games narrated by openai:(\S+)/v1", log_text)
        assert where, log_text[-3000:]
        with urllib.request.urlopen(f"{where.group(1)}/health", timeout=10) as answer:
            assert json.loads(answer.read())["status"] == "ok"
        model_servers = [pid for pid, command in _children(serve.pid) if "serve-model" in command]
        assert len(model_servers) == 1
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=60)
        finally:
            log.close()
    # serve stopped the restarted model server too.
    wait_for(lambda: not Path(f"/proc/{model_servers[0]}").exists(), timeout=60)
