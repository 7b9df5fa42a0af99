"""A real browser plays the game served by ``textgamegen serve``.

Headless Debian Chromium (installed by .ci/run; nothing downloads a browser) opens the
page, textual-serve starts a game process for the tab, and the test plays commands from
the walkthrough. xterm.js draws on a canvas, so the screen is read back from the bytes the
page's websocket received, replayed through the pyte terminal emulator. Playwright's sync
API delivers those frames only while the test is inside one of its calls, so every wait
here is ``page.wait_for_timeout`` (a ``time.sleep`` would starve the page's events and
leave the replayed screen blank). The game is
narrated by a ``serve-model`` that ``serve`` starts for the tiny random model, so the game
processes load no model. A screenshot PNG is kept as an artefact.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from textgamegen.engine.saves import latest_autosave
from textgamegen.models.random_model import build_random_model

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow
if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; "
        ".ci/run does) to run the browser test",
        allow_module_level=True,
    )
# Both are in the test extra: missing, they fail the test rather than skip it.
import pyte  # noqa: E402 - after the chromium check, so a missing browser skips first
from playwright import sync_api as playwright_api  # noqa: E402

# (command, text that must then be on screen), from tests/functional/walkthrough.txt.
COMMANDS = [
    ("open crate", "copper coin"),
    ("take the copper coin", "copper coin"),
    ("west", "Sea Wall"),
    ("take all", "spyglass"),
    ("use spyglass", "fleet"),
    ("east", "Harbour Quay"),
]


def free_port() -> int:
    from textgamegen.commands.serve import free_port as pick

    return pick()


class Terminal:
    """The page's terminal, rebuilt from its websocket's frames."""

    def __init__(self, page: playwright_api.Page) -> None:
        self.page = page
        self.screen = pyte.Screen(80, 24)
        self.stream = pyte.ByteStream(self.screen)
        self.frames = 0

    def attach(self, websocket: playwright_api.WebSocket) -> None:
        query = parse_qs(urlparse(websocket.url).query)
        self.screen.resize(int(query["height"][0]), int(query["width"][0]))
        websocket.on("framereceived", self._received)
        websocket.on("framesent", self._sent)

    def _received(self, payload: bytes | str) -> None:
        if isinstance(payload, bytes):
            self.frames += 1
            self.stream.feed(payload)

    def _sent(self, payload: bytes | str) -> None:
        try:
            message = json.loads(payload)
        except (TypeError, ValueError):
            return
        if message and message[0] == "resize":
            self.screen.resize(message[1]["height"], message[1]["width"])

    def pause(self, seconds: float) -> None:
        """Wait inside Playwright, so the page's websocket frames keep arriving."""
        self.page.wait_for_timeout(seconds * 1000)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def wait_for(self, needle: str, timeout: float = 180.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if needle in text:
                return text
            self.pause(0.1)
        raise AssertionError(f"{needle!r} never showed; the screen:\n{self.text()}")

    def wait_for_after(self, mark: str, needle: str, timeout: float = 180.0) -> str:
        """Wait until ``needle`` shows below the last line that holds ``mark``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.text().splitlines()
            marks = [number for number, line in enumerate(lines) if mark in line]
            if marks and needle in "\n".join(lines[marks[-1] + 1 :]):
                return self.text()
            self.pause(0.1)
        raise AssertionError(f"{needle!r} never showed after {mark!r}; the screen:\n{self.text()}")


PLACEHOLDER = "What do you do?  (F1 help, Tab completes, ↑↓ history)"
"""What the empty command input shows."""


def typed(terminal: Terminal) -> str:
    """What the command input shows: the line between its tall side borders that is not
    the border's own top (▔) or bottom (▁) edge."""
    for line in terminal.text().splitlines():
        match = re.match(r"^▊\s*(.*?)\s*▎", line)
        if match and not set(match.group(1)) <= {"▔", "▁"}:
            return match.group(1)
    return ""


def enter(page: playwright_api.Page, terminal: Terminal, command: str) -> None:
    """Type a command and press Enter once the input shows all of it; a busy machine can
    make xterm drop keys, so a wrong input is cleared and typed again. A starved machine
    can also just be slow: keys still on their way must not mix with a retyped command,
    so the input is only retyped after a long wait and once it shows empty again."""
    for _attempt in range(3):
        page.keyboard.type(command, delay=20)
        deadline = time.monotonic() + 120
        while typed(terminal) != command and time.monotonic() < deadline:
            terminal.pause(0.1)
        if typed(terminal) == command:
            page.keyboard.press("Enter")
            return
        for _key in range(len(command) + 2):
            page.keyboard.press("Backspace")
        deadline = time.monotonic() + 60
        while typed(terminal) not in ("", PLACEHOLDER) and time.monotonic() < deadline:
            terminal.pause(0.1)
    raise AssertionError(
        f"could not type {command!r}; the input shows {typed(terminal)!r}; "
        f"the screen:\n{terminal.text()}"
    )


def wait_for_health(url: str, process: subprocess.Popen, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve exited with {process.returncode}"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                return json.loads(answer.read())
        except OSError:
            time.sleep(0.3)
    raise AssertionError("serve did not come up")


def test_play_five_commands_in_a_browser(tmp_path: Path) -> None:
    model = build_random_model(tmp_path / "tiny", shape="toy")
    saves_root = tmp_path / "web-saves"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "textgamegen",
            "serve",
            "--model",
            str(model),
            "--port",
            str(port),
            "--max-sessions",
            "1",
            "--saves-root",
            str(saves_root),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_for_health(url, serve)
        with playwright_api.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            terminal = Terminal(page)
            page.on("websocket", terminal.attach)
            page.goto(url + "/")
            session = parse_qs(urlparse(page.url).query)["session"][0]
            page.wait_for_selector("body.-first-byte", timeout=60_000)
            terminal.wait_for("New game", timeout=600)  # a busy machine starts Python slowly
            terminal.wait_for("Narrator: tiny", timeout=300)  # the game found the model server
            # The title screen: focus the terminal away from the menu, then "n" (New game).
            page.click("#terminal", position={"x": 4, "y": 4})
            for _attempt in range(6):  # a key sent before xterm has focus is lost
                terminal.pause(1)
                page.keyboard.press("n")
                try:
                    terminal.wait_for("Harbour Quay", timeout=10)
                    break
                except AssertionError:
                    continue
            terminal.wait_for("Harbour Quay", timeout=1)
            for _key in range(3):  # an "n" that arrived twice would start the first command
                page.keyboard.press("Backspace")
            terminal.wait_for("Model tiny")
            for command, expected in COMMANDS:
                enter(page, terminal, command)
                # The answer, below the echoed command (the same words may be on screen
                # from an earlier turn, e.g. "Harbour Quay").
                terminal.wait_for_after(f"> {command}", expected)
            terminal.wait_for(f"Turn {len(COMMANDS)}")  # the status bar caught up too
            screen = terminal.text()
            shot = tmp_path / "browser.png"
            page.screenshot(path=str(shot))

            # A second tab would be a second game: beyond --max-sessions it is refused.
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{url}/", timeout=10)
            assert refused.value.code == 503
            assert "is full" in refused.value.read().decode()

            # Quitting autosaves into this tab's own saves folder (the game's own slot,
            # autosave-<world>-<time>-<id>.json, as "Continue" finds it).
            page.keyboard.press("Control+q")
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                autosave = latest_autosave(saves_root / session)
                if autosave is not None and autosave.turn >= len(COMMANDS):
                    break
                terminal.pause(0.2)
            browser.close()
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=30)
        finally:
            log.close()
    assert autosave is not None, (tmp_path / "serve.log").read_text()[-3000:]
    assert autosave.turn >= len(COMMANDS), autosave
    assert "Harbour Quay" in screen and "> use spyglass" in screen
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    keep = Path(os.environ.get("TEXTGAMEGEN_ARTEFACTS", tempfile.gettempdir()))
    keep.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, keep / "textgamegen-browser.png")
    print(f"browser screenshot: {keep / 'textgamegen-browser.png'}")
    # serve stopped the model server it started.
    log_text = (tmp_path / "serve.log").read_text()
    model_url = re.search(r"serving 'tiny' \(cpu, [^)]*context 256\) on (\S+)/v1", log_text)
    assert model_url, log_text[-3000:]
    with pytest.raises(OSError):
        urllib.request.urlopen(model_url.group(1) + "/health", timeout=5)


def descendants(pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process below ``pid``, from /proc."""
    children: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (
                (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            )
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append((child, commands.get(child, "")))
            todo.append(child)
    return found


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_a_web_players_settings_save_leaves_the_host_alone(tmp_path: Path) -> None:
    """A web player presses Save in Settings with nothing changed. It made their game load
    the host's settings model beside the model server (51 -> 697 MiB) and rewrote the
    host's config.toml; now the game's RSS stays put and the host's file is unchanged."""
    model = build_random_model(tmp_path / "tiny", shape="toy")
    host_config = tmp_path / "host-config.toml"
    # The host's own settings name a model the games must not load themselves.
    host_config.write_text(f'model = "{model}"\ndevice = "cpu"\n', encoding="utf-8")
    before = host_config.read_bytes()
    saves_root = tmp_path / "web-saves"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w")
    env = {
        **os.environ,
        "TEXTGAMEGEN_CONFIG": str(host_config),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    serve = subprocess.Popen(
        [
            *(sys.executable, "-m", "textgamegen", "serve", "--port", str(port)),
            *("--max-sessions", "2", "--saves-root", str(saves_root)),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        wait_for_health(url, serve)
        with playwright_api.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            terminal = Terminal(page)
            page.on("websocket", terminal.attach)
            page.goto(url + "/")
            session = parse_qs(urlparse(page.url).query)["session"][0]
            page.wait_for_selector("body.-first-byte", timeout=60_000)
            terminal.wait_for("New game", timeout=600)
            terminal.wait_for("Narrator: tiny", timeout=300)
            terminal.wait_for("This host keeps what")  # the player is told what is recorded
            page.click("#terminal", position={"x": 4, "y": 4})
            for _attempt in range(6):  # a key sent before xterm has focus is lost
                terminal.pause(1)
                page.keyboard.press("n")
                try:
                    terminal.wait_for("Harbour Quay", timeout=10)
                    break
                except AssertionError:
                    continue
            terminal.wait_for("Harbour Quay", timeout=1)
            for _key in range(3):
                page.keyboard.press("Backspace")
            terminal.wait_for("Model tiny")
            games = [  # the game's Python, not the shell textual-serve starts it with
                pid
                for pid, command in descendants(serve.pid)
                if command.startswith(f"{sys.executable} -m textgamegen play ")
            ]
            assert len(games) == 1, descendants(serve.pid)
            game = games[0]
            rss_before = rss_mib(game)

            page.keyboard.press("F3")
            dialog = terminal.wait_for("Your own settings")
            assert "threads" not in dialog and "quantize" not in dialog
            page.keyboard.press("Control+s")
            terminal.wait_for("Your settings are saved")
            # A turn after the Save: a model load it started would be under way by now.
            enter(page, terminal, "look")
            terminal.wait_for_after("> look", "Harbour Quay")
            screen = terminal.wait_for("Model tiny")
            rss_after = rss_mib(game)
            page.screenshot(path=str(tmp_path / "settings.png"))
            browser.close()
    finally:
        serve.terminate()
        try:
            serve.wait(timeout=30)
        finally:
            log.close()
    print(f"game process RSS: {rss_before:.0f} MiB before Save, {rss_after:.0f} MiB after")
    assert rss_after - rss_before < 40, (rss_before, rss_after)
    assert host_config.read_bytes() == before, "the host's config.toml was written"
    assert "127.0.0.1" not in screen and "<model server>" in screen
    own = saves_root / session / "settings.toml"
    assert own.is_file() and "model =" not in own.read_text(encoding="utf-8")
