"""A modder's session with the versioned registry, on a tiny random Llama and the tests'
fixture corpus, printed as a transcript: every command and what it said.

1. register v1 (the pipeline on the fixture corpus, LoRA);
2. ``serve-model --model NAME`` starts and serves v1;
3. a retrain on bad feedback (junk lines rated good) is refused by the gate;
4. a retrain on good feedback passes the gate and is registered as the candidate;
5. ``models promote NAME 2``: serve-model serves v2, without a restart;
6. ``models rollback NAME``: serve-model serves v1 again;
7. ``models versions NAME`` and ``train runs``.

serve-model's identity at each step is a fingerprint: the log-probabilities of a greedy
continuation of a fixed prompt, which differ between any two models. Nothing is downloaded.

Example::

    python -m bench.registry_session --out /tmp/session
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE = REPO / "tests" / "fixtures" / "corpus" / "fixture.toml"
PROMPT = "<|action|> You push open the door"
GOOD = [
    "You walk along the harbour wall and the gulls wheel above the boats.",
    "The lighthouse door creaks open and cold air spills down the stair.",
    "You climb the spiral stair, counting the steps as the lamp glows above.",
    "The keeper's lantern throws long shadows across the wet stones.",
    "You search the crate and find a coil of tarred rope under the nets.",
    "Waves break against the quay and spray soaks your boots.",
    "The ferry bell rings twice as the boat pulls away from the pier.",
    "You push through the tavern door into the smell of smoke and ale.",
]


RETRAIN = ("--if-triggered", "--max-steps", "24")


def _run_dir(out: Path, number: int) -> tuple[str, str]:
    return "--run-dir", str(out / f"run-{number}")


def _say(text: str) -> None:
    print(text, flush=True)


def _run(command: list[str], env: dict[str, str], check_codes: tuple[int, ...] = (0,)) -> int:
    shown = " ".join(shlex.quote(part) for part in command)
    _say(f"\n$ {shown}")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    for line in (done.stdout + done.stderr).splitlines():
        if "Warning" in line or "warnings.warn" in line or "%|" in line or not line.strip():
            continue  # library deprecation notes and progress bars, not the session
        _say(f"  {line}")
    _say(f"  (exit {done.returncode})")
    if done.returncode not in check_codes:
        raise SystemExit(f"unexpected exit {done.returncode}: {shown}")
    return done.returncode


def _config(out: Path, name: str, base: Path, feedback: Path | None, extra: str) -> Path:
    sys.path.insert(0, str(REPO / "tests" / "functional"))
    from random_llama import lora_config  # the tests' own LoRA fixture config

    path = lora_config(out, name, base, extra)
    text = path.read_text().replace(f'name = "{name}"', 'name = "pirate"', 1)
    if feedback is not None:
        text += (
            f'\n[[corpus.sources]]\nname = "player-feedback"\npath = "{feedback}"\n'
            'format = "feedback"\nrepeat = 3\n\n[trigger]\nmin_new_rows = 10\n'
        )
    path.write_text(text)
    return path


def _feedback(path: Path, lines: list[str], stamp: str) -> Path:
    rows = [
        {
            "prompt": "<|action|> You",
            "text": line,
            "label": "good",
            "model": "pirate",
            "kind": "action",
            "time": f"{stamp}:{index:02d}Z",
            "id": index,
        }
        for index, line in enumerate(lines)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _fingerprint(port: int) -> list[float]:
    body = {"prompt": PROMPT, "max_tokens": 5, "min_tokens": 5, "temperature": 0, "logprobs": 0}
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/completions",
        json.dumps(body).encode(),
        {"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        choice = json.loads(response.read())["choices"][0]
    return [round(value, 3) for value in choice["logprobs"]["token_logprobs"]]


def _wait_for(log: Path, text: str, seen: int, guard_s: float = 300.0) -> int:
    """Wait until serve-model's log holds ``text`` after ``seen`` characters."""
    deadline = time.monotonic() + guard_s
    while time.monotonic() < deadline:
        content = log.read_text(errors="replace")
        at = content.find(text, seen)
        if at >= 0:
            return at + len(text)
        time.sleep(0.2)
    raise SystemExit(f"serve-model never said {text!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="an empty working folder")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    models = out / "models"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "HF_HUB_OFFLINE": "1",
        "TEXTGAMEGEN_MODELS_DIR": str(models),
        "TEXTGAMEGEN_CACHE_DIR": str(out / "cache"),
        "TEXTGAMEGEN_DATA_DIR": str(out / "data"),
        "TEXTGAMEGEN_CONFIG": str(out / "config.toml"),
    }
    os.environ.update(env)
    textgamegen = [sys.executable, "-m", "textgamegen"]
    sys.path.insert(0, str(REPO / "tests" / "functional"))
    from random_llama import build_random_llama, fixture_lines

    base = build_random_llama(out / "base", fixture_lines())
    _say(f"# a tiny random Llama base in {base}; models folder {models}")

    first = _config(out, "v1", base, None, "")
    _run([*textgamegen, "train", "pipeline", str(first), "--run-dir", str(out / "run-1")], env)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = out / "serve-model.log"
    serve = [*textgamegen, "serve-model", "--model", "pirate", "--port", str(port)]
    serve += ["--device", "cpu", "--watch-interval", "1"]
    _say(f"\n$ {' '.join(serve)} 2> serve-model.log &")
    with log.open("w") as handle:
        server = subprocess.Popen(serve, env=env, stderr=handle, stdout=handle)
    try:
        seen = _wait_for(log, "following pirate's production version", 0)
        v1 = _fingerprint(port)
        _say(f"  serve-model answers; fingerprint {v1}")

        junk_rng = random.Random(3)
        junk = [
            " ".join(
                "".join(junk_rng.choice("qxzjvkwy") for _ in range(junk_rng.randint(3, 9)))
                for _ in range(12)
            )
            for _ in range(40)
        ]
        bad = _feedback(out / "bad-feedback.jsonl", junk, "2026-12-06T10:00")
        bad_config = _config(out, "bad", base, bad, "promote = false\n")
        _run(
            [*textgamegen, "train", "pipeline", str(bad_config), *_run_dir(out, 2), *RETRAIN],
            env,
            check_codes=(1,),
        )

        good = _feedback(out / "good-feedback.jsonl", GOOD * 5, "2026-12-06T11:00")
        good_config = _config(out, "good", base, good, "promote = false\n")
        _run(
            [*textgamegen, "train", "pipeline", str(good_config), *_run_dir(out, 3), *RETRAIN],
            env,
        )
        _run([*textgamegen, "models", "versions", "pirate"], env)
        still = _fingerprint(port)
        _say(f"  serve-model still serves v1: fingerprint {still} (same as v1: {still == v1})")

        _run([*textgamegen, "models", "promote", "pirate", "2"], env)
        seen = _wait_for(log, "now serving pirate version 2", seen)
        v2 = _fingerprint(port)
        _say(f"  serve-model reloaded version 2; fingerprint {v2} (differs: {v2 != v1})")

        _run([*textgamegen, "models", "rollback", "pirate"], env)
        seen = _wait_for(log, "now serving pirate version 1", seen)
        back = _fingerprint(port)
        _say(f"  serve-model reloaded version 1; fingerprint {back} (same as v1: {back == v1})")
        _run([*textgamegen, "models", "versions", "pirate"], env)
        _run(
            [*textgamegen, "train", "runs", *(str(out / f"run-{n}") for n in (1, 2, 3))],
            env,
        )
    finally:
        server.terminate()
        server.wait(timeout=60)
    _say("\n# serve-model's log (one process, never restarted):")
    for line in log.read_text(errors="replace").splitlines():
        if "Warning" not in line and "warnings.warn" not in line:
            _say(f"  {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
