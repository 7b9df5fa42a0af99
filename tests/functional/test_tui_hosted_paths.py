"""A web player sees no absolute path of the host (issue 25): ``serve`` runs its games with
``TEXTGAMEGEN_HOSTED=1``, and then the Load list, failed saves and the feedback notices
name files, never the host's folders (``paths.for_player``). A game of one's own still
shows its paths."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from fakes import WordsGenerator
from pilot_helpers import make_app as make_pilot_app
from pilot_helpers import of_type, wait_until
from textual.message import Message
from textual.widgets import Static

from textgamegen import paths
from textgamegen.ui.screens.saves import LoadDialog, SaveDialog
from textgamegen.ui.widgets.story_log import StoryLog

make_app = partial(make_pilot_app, model="words")


@pytest.fixture
def hosted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.HOSTED_ENV, "1")


def test_for_player_names_the_hosts_folders_only_when_hosted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    line = f"Could not read {tmp_path / 'saves'}: /srv/games/x/y.json, {tmp_path / 'data'}/f.db"
    assert paths.for_player(line) == line, "a game of one's own shows its paths"
    monkeypatch.setenv(paths.HOSTED_ENV, "1")
    shown = paths.for_player(line)
    assert shown == "Could not read <saves>: …/y.json, <data>/f.db"
    line = "openai:http://127.0.0.1:8000/v1#narrator and saves/x.json at 12:30"
    assert paths.for_player(line) == "<model server> and saves/x.json at 12:30", (
        "relative paths are no host folders; a server's address is the host's too"
    )
    for address in ("127.0.0.1:59303", "gpu-box:8000", "[::1]:8000", "https://gpu.example/v1"):
        assert paths.for_player(f"Device {address}") == "Device <model server>", address


async def test_the_load_list_names_no_host_folder(tmp_path: Path, hosted: None) -> None:
    app = make_app(tmp_path, WordsGenerator())
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_until(pilot, lambda: app.game is not None)
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, LoadDialog))
        empty = str(app.screen.query_one("#load-empty", Static).render())
        assert empty == "No saves in <saves> yet." and str(tmp_path) not in empty
        await pilot.press("escape")
        (tmp_path / "saves").mkdir(exist_ok=True)
        (tmp_path / "saves" / "deep.json").write_text("[" * 50 + "]" * 50, encoding="utf-8")
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, LoadDialog))
        broken = str(app.screen.query_one("#load-broken", Static).render())
        assert broken.startswith("Not listed: 'deep': broken save") and str(tmp_path) not in broken


def toasts(app: object) -> list[str]:
    return [notification.message for notification in app._notifications]  # type: ignore[attr-defined]


async def test_failed_saves_and_feedback_notices_name_no_host_folder(
    tmp_path: Path, hosted: None
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "feedback.db").write_bytes(b"not sqlite at all " * 500)
    (tmp_path / "saves").write_text("a file where the saves folder should be", encoding="utf-8")
    messages: list[Message] = []
    app = make_app(tmp_path, WordsGenerator())
    async with app.run_test(size=(140, 40), message_hook=messages.append) as pilot:
        await wait_until(pilot, lambda: bool(of_type(messages, StoryLog.NarrationCompleted)))
        log = app.screen.query_one(StoryLog)
        await pilot.press(*"look", "enter")  # a narration: the recorder's notice follows it
        # A notice is a toast, never a story line.
        await wait_until(pilot, lambda: any("Feedback is not" in t for t in toasts(app)))
        await pilot.press(*"save slot", "enter")  # the game's own save command
        await wait_until(pilot, lambda: "Not saved: 'slot'" in log.plain_text())
        await pilot.press("ctrl+s")  # and the Save dialog
        await wait_until(pilot, lambda: isinstance(app.screen, SaveDialog))
        await pilot.press("enter")
        await wait_until(pilot, lambda: "Could not save:" in log.plain_text())
        text = log.plain_text()
        notices = " ".join(toasts(app))
        assert "Feedback is not being recorded: <data>/feedback.db" in notices
        assert "Feedback is not" not in text
        assert str(tmp_path) not in text + notices, text + notices
