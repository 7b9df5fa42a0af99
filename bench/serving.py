"""Serving: one ``serve-model`` for many games, against a model in every game process.

Three measures, side by side in one run:

* **Overhead per request.** The same completion (the model, prompt and greedy
  ``max_tokens`` fixed) asked of ``serve-model`` over HTTP and of the same engine called
  in-process, alternately; the paired difference is what HTTP, JSON and the queue cost.
  On a busy CPU two generations differ by more than that, so the server also says how
  long its model thread worked on each request (``X-Model-Time-Ms``): the round trip less
  that is the server's overhead by its own clock, free of the generation's noise.
  Goal: <= 10 ms at p50 (the seed's website figure).
* **Throughput and memory.** Narrations per second (the game's full request: prompt,
  ``num_candidates`` choices, rerank) with 1, 4 and 16 game processes on one
  ``serve-model``, against 16 game processes that each load their own model; every
  process does the same number of narrations after all are ready. RSS is summed over the
  processes (server included).
* **Batching.** ``--batching-games`` games (8) playing at once on one ``serve-model``
  that batches (``--max-batch 16``, the default) against the same games on one that serves
  a request at a time (``--max-batch 1``, as before batching), each game streaming its
  narrations as the game does: narrations per second over all games and the first-word
  wait (request sent to first word shown) at p50 and p90. Goals: >= 2.5x the narrations/s,
  and p50 first word < 1 s.

Examples::

    nice -n 10 python -m bench.serving --model textgamegen --runs 3
    python -m bench.serving --only-batching --batching-games 8 --narrations 4
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.measure import Figure
from bench.report import Section

COMMANDS = (
    "open the door",
    "look at the lantern",
    "climb the stairs",
    "listen",
    "search the crate",
    "push the boat",
    "light the lamp",
    "wait",
)


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (Linux /proc)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def start_server(
    model: str, threads: int, max_batch: int | None = None
) -> tuple[subprocess.Popen, str]:
    """``serve-model`` as ``textgamegen serve`` starts it (with ``--max-batch`` when given),
    with its log in a temp file."""
    from textgamegen.commands.serve import start_model_server, wait_for_model_server

    handle, name = tempfile.mkstemp(prefix="bench-serve-model-", suffix=".log")
    log = Path(name)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    options = ["--max-batch", str(max_batch)] if max_batch is not None else []
    process, root = start_model_server(model, "cpu", options=options, stderr=handle, env=env)
    os.close(handle)  # the server holds its own copy
    problem = wait_for_model_server(process, root, 600)
    if problem:
        process.kill()
        raise RuntimeError(f"{problem}; see {log}")
    return process, root


def stop_server(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# -- the child: one game process ----------------------------------------------------------


def child(kind: str, model: str, narrations: int, threads: int, stream: bool = False) -> int:
    """Load a generator (``local`` model or ``remote`` server), say READY, wait for GO on
    stdin, narrate, print DONE with the timings and this process's RSS. With ``stream``,
    each narration streams as in the game, and the wait for its first word is timed."""
    from textgamegen.config import Settings
    from textgamegen.engine.content import ContentKind, ContentRequest
    from textgamegen.models.loader import load_from_settings
    from textgamegen.narration.remote import RemoteGenerator

    settings = Settings(device="cpu", threads=threads)
    generator = load_from_settings(settings, model)
    if isinstance(generator, RemoteGenerator):
        # A busy machine may keep the server waiting; a time-out here would measure nothing.
        generator.read_timeout = 600.0
    print("READY", flush=True)
    sys.stdin.readline()
    pid = os.getpid()
    took: list[float] = []
    first: list[float] = []
    for number in range(narrations):
        request = ContentRequest(
            ContentKind.ACTION,
            command=COMMANDS[number % len(COMMANDS)],
            room="Harbour Quay",
            seed=pid * 1000 + number,
        )
        started = time.perf_counter()
        shown: list[float] = []

        def on_text(piece: str, shown: list[float] = shown, started: float = started) -> None:
            if piece.strip() and not shown:
                shown.append(time.perf_counter() - started)

        narration = generator.generate(request, on_text=on_text if stream else None)
        took.append(time.perf_counter() - started)
        first += shown
        if narration.fallback and narration.notice:
            print(f"FAIL {narration.notice}", flush=True)
            return 1
    print("DONE " + json.dumps({"took": took, "first": first, "rss_mb": rss_mb(pid)}), flush=True)
    return 0


def run_games(
    kind: str, model: str, games: int, narrations: int, threads: int, stream: bool = False
) -> dict:
    """Start ``games`` game processes, release them together; narrations/s, RSS and (with
    ``stream``) the first-word waits."""
    argv = [
        sys.executable,
        "-m",
        "bench.serving",
        "--child",
        kind,
        "--model",
        model,
        "--narrations",
        str(narrations),
        "--threads",
        str(threads),
        *(["--stream"] if stream else []),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    children = [
        subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=env,
        )
        for _ in range(games)
    ]
    # Both ends are pipes (stdin and stdout=PIPE above).
    pipes = [(process.stdin, process.stdout) for process in children]
    try:
        for _, out in pipes:
            assert out is not None
            line = out.readline()
            if line.strip() != "READY":
                raise RuntimeError(f"a {kind} game did not start: {line!r}")
        started = time.perf_counter()
        for into, _ in pipes:
            assert into is not None
            into.write("GO\n")
            into.flush()
        results = []
        for _, out in pipes:
            assert out is not None
            line = out.readline()
            if not line.startswith("DONE "):
                raise RuntimeError(f"a {kind} game failed: {line!r}")
            results.append(json.loads(line[5:]))
        wall = time.perf_counter() - started
    finally:
        for process in children:
            process.kill()
            process.wait()
    latencies = [t for result in results for t in result["took"]]
    return {
        "per_s": games * narrations / wall,
        "rss_mb": sum(result["rss_mb"] for result in results),
        "p50_ms": statistics.median(latencies) * 1000,
        "first_s": [t for result in results for t in result.get("first", [])],
    }


# -- overhead -----------------------------------------------------------------------------


def overhead(
    model: str, root: str, pairs: int, threads: int
) -> tuple[Figure, Figure, Figure, Figure]:
    """HTTP vs in-process for the same greedy completion, alternately, ``pairs`` times."""
    import http.client

    from textgamegen.hosting.completion import CompletionEngine, CompletionParams
    from textgamegen.hosting.model_server import MODEL_TIME_HEADER
    from textgamegen.models.loader import load_generator
    from textgamegen.narration.device import set_cpu_threads

    set_cpu_threads(threads)
    engine = CompletionEngine.from_generator(load_generator(model, device="cpu", threads=threads))
    prompt = "<|action|> You are in the Harbour Quay. <|endoftext|><|action|> You open the door"
    params = CompletionParams(max_tokens=8, temperature=0.0)
    ids = engine.encode(prompt)
    body = json.dumps({"prompt": prompt, "max_tokens": 8, "temperature": 0})
    host, port = root.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)

    server_side: list[float] = []  # round trip less the model thread's own time

    def over_http() -> float:
        started = time.perf_counter()
        connection.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = json.loads(response.read())
        took = (time.perf_counter() - started) * 1000
        assert answer["choices"], answer
        server_side.append(took - float(response.getheader(MODEL_TIME_HEADER)))
        return took

    def direct() -> float:
        started = time.perf_counter()
        engine.complete(ids, params)
        return (time.perf_counter() - started) * 1000

    for _ in range(5):  # warm both
        over_http(), direct()
    server_side.clear()
    http_ms = Figure("HTTP request to serve-model", "ms")
    direct_ms = Figure("same completion in-process", "ms")
    extra = Figure("server overhead (paired difference)", "ms")
    for number in range(pairs):
        # Alternate which goes first, so neither always meets a warmer cache.
        if number % 2:
            a, b = over_http(), direct()
        else:
            b, a = direct(), over_http()
        http_ms.runs.append(round(a, 3))
        direct_ms.runs.append(round(b, 3))
        extra.runs.append(round(a - b, 3))
    connection.close()
    own = Figure(
        "server overhead (round trip less X-Model-Time-Ms)",
        "ms",
        [round(value, 3) for value in server_side],
        goal="<= 10 ms p50",
    )
    own.met = own.median <= 10.0
    return http_ms, direct_ms, extra, own


def batching(
    model: str, runs: int, games: int, narrations: int, server_threads: int, max_batch: int
) -> Section:
    """``games`` streaming games on a batching serve-model and on a one-at-a-time one."""
    section = Section(
        f"serving: {games} games at once, batching against one at a time ({model}, CPU, "
        f"{server_threads} torch thread(s) in the server)"
    )
    modes = {"one at a time (--max-batch 1)": 1, f"batching (--max-batch {max_batch})": max_batch}
    rate = {name: Figure(f"{name}: narrations/s", "narrations/s") for name in modes}
    first = {name: Figure(f"{name}: first word", "s") for name in modes}
    for _ in range(runs):
        for name, size in modes.items():
            server, root = start_server(model, server_threads, size)
            try:
                result = run_games("remote", f"openai:{root}/v1", games, narrations, 1, True)
            finally:
                stop_server(server)
            rate[name].runs.append(round(result["per_s"], 3))
            first[name].runs += [round(value, 3) for value in result["first_s"]]
    serial, batched = modes
    goal = first[batched]
    goal.goal = "< 1 s p50"
    goal.met = goal.median < 1.0
    section.figures += [rate[serial], rate[batched], first[serial], goal]
    ratio = rate[batched].median / rate[serial].median
    section.ratios[f"{games} games: batching vs one at a time, narrations/s (goal >= 2.5)"] = ratio
    section.notes.append(
        f"first word p90: {first[serial].percentile(90):.2f} s one at a time, "
        f"{first[batched].percentile(90):.2f} s batching; {games} x {narrations} narrations "
        f"per mode and run, {runs} run(s); load average at the end: {os.getloadavg()[0]:.2f}"
    )
    return section


def run(
    runs: int,
    threads: int,
    model: str,
    narrations: int = 10,
    pairs: int = 100,
    games: tuple[int, ...] = (1, 4, 16),
    separate_games: int = 16,
) -> Section:
    section = Section(f"serving ({model}, CPU, {threads} torch thread(s) per process)")
    server, root = start_server(model, threads)
    try:
        section.figures += overhead(model, root, pairs, threads)
        paired, own = section.figures[-2], section.figures[-1]
        section.notes.append(
            f"overhead p90 {own.percentile(90):.2f} ms by the server's clock, "
            f"{paired.percentile(90):.2f} ms paired, over {pairs} pairs"
        )
        most = separate_games
        shared = {
            count: Figure(f"{count} game(s) on one serve-model", "narrations/s")
            for count in sorted(set(games) | {most})
        }
        separate = Figure(f"{most} games, each loading its own model", "narrations/s")
        memory: dict[str, list[float]] = {"shared": [], "separate": []}
        for _ in range(runs):
            for count, figure in shared.items():
                result = run_games("remote", f"openai:{root}/v1", count, narrations, threads)
                figure.runs.append(round(result["per_s"], 2))
                if count == most:
                    memory["shared"].append(result["rss_mb"] + rss_mb(server.pid))
            result = run_games("local", model, most, narrations, threads)
            separate.runs.append(round(result["per_s"], 2))
            memory["separate"].append(result["rss_mb"])
        section.figures += [*shared.values(), separate]
        section.figures.append(
            Figure(f"RSS, {most} games + serve-model", "MiB", [round(v) for v in memory["shared"]])
        )
        section.figures.append(
            Figure(
                f"RSS, {most} games with their own model",
                "MiB",
                [round(v) for v in memory["separate"]],
            )
        )
        section.ratios[f"{most} games: shared vs separate throughput"] = (
            shared[most].median / separate.median
        )
        section.ratios[f"{most} games: separate vs shared RSS"] = statistics.median(
            memory["separate"]
        ) / statistics.median(memory["shared"])
    finally:
        stop_server(server)
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.serving", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model", default="textgamegen")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--narrations", type=int, default=10, help="per game process")
    parser.add_argument("--pairs", type=int, default=100, help="overhead: HTTP/in-process pairs")
    parser.add_argument(
        "--games", default="1,4,16", help="game counts on one serve-model (default: 1,4,16)"
    )
    parser.add_argument(
        "--separate",
        type=int,
        default=16,
        help="game processes with a model each, compared (default: 16)",
    )
    parser.add_argument(
        "--batching-games",
        type=int,
        default=8,
        help="games at once for batching against one at a time (default: 8; 0 skips it)",
    )
    parser.add_argument(
        "--server-threads",
        type=int,
        default=os.cpu_count() or 1,
        help="torch threads of the serve-model the batching measure starts (default: all cores)",
    )
    parser.add_argument(
        "--max-batch", type=int, default=16, help="the batching server's --max-batch (default: 16)"
    )
    parser.add_argument(
        "--only-batching", action="store_true", help="measure batching alone, nothing else"
    )
    parser.add_argument("--child", choices=["local", "remote"], help=argparse.SUPPRESS)
    parser.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child:
        return child(args.child, args.model, args.narrations, args.threads, args.stream)
    from bench.report import render, write_json

    games = tuple(int(part) for part in args.games.split(",") if part.strip())
    sections = []
    if not args.only_batching:
        sections.append(
            run(
                args.runs,
                args.threads,
                args.model,
                args.narrations,
                args.pairs,
                games,
                args.separate,
            )
        )
    if args.batching_games > 0:
        sections.append(
            batching(
                args.model,
                args.runs,
                args.batching_games,
                args.narrations,
                args.server_threads,
                args.max_batch,
            )
        )
    print(render(sections))
    print(f"[bench] wrote {write_json(sections, args.out / 'serving.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
