"""``serve-model --port 0`` says the port it listens on.

Port 0 asks the system for a free port; the startup line used to say "on
http://127.0.0.1:0/v1", so a host starting it by hand had no way to find the server.
The line is now said once the server listens, with the port it got.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from textgamegen.models.random_model import build_random_model

STARTED = re.compile(r"serving 'tiny' \(.*\) on http://127\.0\.0\.1:(\d+)/v1")


def test_port_0_is_told_as_the_port_bound(tmp_path: Path) -> None:
    model = build_random_model(tmp_path / "tiny", n_positions=128, arch="llama")
    log = tmp_path / "serve-model.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "textgamegen",
                "serve-model",
                "--model",
                str(model),
                "--device",
                "cpu",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
            ],
            stderr=sink,
        )
    try:
        # The deadline only guards against a hang: the line comes when the server listens.
        deadline = time.monotonic() + 600
        while not (said := STARTED.search(log.read_text())):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        port = int(said.group(1))
        assert port != 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30) as answer:
            assert json.load(answer)["status"] == "ok"
    finally:
        process.terminate()
        process.wait(timeout=60)
