"""Cold start: from process start to an interactive prompt, against importing transformers.

The game is started through its real entry point (``textgamegen.__main__.main``) with the
Textual app run headless; the moment the first screen is ready to take keys, the child
prints the wall-clock time and exits. The reference is a bare ``python -c "import
transformers.models.gpt2.modeling_gpt2"``, the import the game keeps off its start-up path.
Both are timed from just before the process is spawned.

Example::

    python -m bench --only startup --runs 5
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from bench.measure import Figure, ratio
from bench.report import Section

_CHILD = """
import sys, time
from textgamegen.ui import app as ui

_run = ui.TextGameGenApp.run

async def _ready(pilot):
    print(f"READY {time.time():.6f}", flush=True)
    pilot.app.exit(0)

def _headless(self, *args, **kwargs):
    return _run(self, headless=True, auto_pilot=_ready)

ui.TextGameGenApp.run = _headless
from textgamegen.__main__ import main
main(sys.argv[1:])
"""


def _spawn_until(argv: list[str], env: dict[str, str], marker: str | None) -> float:
    """Seconds from spawn to ``marker`` on stdout (or to exit when marker is None)."""
    started = time.time()
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        if marker is None:
            process.wait(timeout=120)
            return time.time() - started
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(marker):
                return float(line.split()[1]) - started
        raise RuntimeError(f"{argv[:3]} ended without printing {marker}")
    finally:
        # The model worker may still be importing torch; the measurement is done.
        process.kill()
        process.wait()


def run(runs: int, model: str = "textgamegen") -> Section:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "TEXTGAMEGEN_DATA_DIR": tmp,
            "TEXTGAMEGEN_SAVES_DIR": tmp,
            "TEXTGAMEGEN_CONFIG": os.path.join(tmp, "config.toml"),
            "HF_HUB_OFFLINE": "1",
        }
        game = Figure(
            f"process start -> interactive title screen (--model {model})", "s", goal="<= 1.0 s"
        )
        imports = Figure("python -c 'import transformers...modeling_gpt2'", "s")
        for _ in range(runs):
            game.runs.append(
                _spawn_until([sys.executable, "-c", _CHILD, "play", "--model", model], env, "READY")
            )
            imports.runs.append(
                _spawn_until(
                    [sys.executable, "-c", "import transformers.models.gpt2.modeling_gpt2"],
                    env,
                    None,
                )
            )
    game.met = game.median <= 1.0
    section = Section("Cold start")
    section.figures = [game, imports]
    section.ratios = {"import transformers / game start": ratio(imports, game)}
    return section
