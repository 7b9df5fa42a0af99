"""Two hostile probes of ``serve-model``, as the reliability issue ran them.

1. **Idle connections**: the server runs under a 1,024 open-file limit and 1,100 idle
   connections are opened to it (before, it became unreachable and wrote 174 MB of "Too
   many open files" in 40 s). Then ``/health`` is timed, and the server's log measured.
2. **A long request**: one client asks for the most one request may cost (prompts of about
   400 tokens, up to ``--max-request-tokens``), and while it runs another game asks for a
   short streamed line; the second game's first word is timed (before, one such request
   held the only model thread for minutes).

Example::

    python -m bench.server_probes --model narrator
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from textgamegen.hosting.model_keeper import start_model_server


def _limit_files(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def _post(port: int, body: dict, timeout: float = 900.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(
            "POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _first_word_s(port: int) -> float:
    """Seconds from asking for a short streamed line to its first piece of text."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
    body = {"prompt": "<|action|> You", "max_tokens": 8, "stream": True, "temperature": 0}
    started = time.perf_counter()
    connection.request(
        "POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"}
    )
    response = connection.getresponse()
    try:
        while line := response.readline():
            if line.startswith(b"data: {") and json.loads(line[6:])["choices"][0]["text"]:
                return time.perf_counter() - started
        return float("nan")
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.server_probes", description=__doc__)
    parser.add_argument("--model", default="narrator", help="the model serve-model loads")
    parser.add_argument("--idle", type=int, default=1100, help="idle connections to open")
    parser.add_argument("--file-limit", type=int, default=1024, help="the server's fd limit")
    args = parser.parse_args(argv)

    log = Path(tempfile.mkstemp(prefix="serve-model-", suffix=".log")[1])
    with log.open("wb") as stderr:
        server, url = start_model_server(
            args.model,
            "cpu",
            stderr=stderr,
            stdout=subprocess.DEVNULL,
            preexec_fn=lambda: _limit_files(args.file_limit),
        )
    port = int(url.rsplit(":", 1)[1])
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    print(log.read_text(errors="replace")[-2000:], file=sys.stderr)
                    return 1
                time.sleep(0.5)
        load = os.getloadavg()
        print(f"serve-model --model {args.model} up on port {port}; load {load[0]:.1f}")

        # 1. Idle connections.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.idle + 256), hard))
        before = log.stat().st_size
        idle = []
        for _ in range(args.idle):
            try:
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                break
        started = time.perf_counter()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/health")
        answer = connection.getresponse()
        health = json.loads(answer.read())
        took = time.perf_counter() - started
        connection.close()
        grown = log.stat().st_size - before
        print(
            f"idle probe: {len(idle)} idle connections opened (server fd limit "
            f"{args.file_limit}); /health answered {answer.status} "
            f"'{health.get('status')}' in {took * 1000:.0f} ms; the log grew {grown} bytes"
        )
        for sock in idle:
            sock.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

        # 2. A long request, and another game's first word while it runs.
        prompt = "<|action|> " + "The rain drums on the roof of the old mill. " * 40
        long_body = {"prompt": [prompt] * 28, "max_tokens": 120, "temperature": 0.7}
        result: dict[str, object] = {}

        def long_request() -> None:
            started = time.perf_counter()
            status, body = _post(port, long_body)
            result["status"], result["seconds"] = status, time.perf_counter() - started
            result["error"] = body[:200] if status != 200 else b""

        worker = threading.Thread(target=long_request)
        worker.start()
        time.sleep(2.0)  # let it be read in and start writing (a bench, not a test)
        waits = [_first_word_s(port) for _ in range(3)]
        worker.join()
        waits.sort()
        print(
            f"long-request probe: 28 prompts of about 400 tokens x 120 new tokens took "
            f"{result['seconds']:.1f} s (HTTP {result['status']} {result['error']!r}); "
            f"another game's first word while it ran: median {waits[1]:.2f} s "
            f"(all: {', '.join(f'{w:.2f}' for w in waits)}); load {os.getloadavg()[0]:.1f}"
        )
    finally:
        server.terminate()
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
