"""The feedback database, its recorder and the per-game session: what is recorded, and
that a killed, corrupt or locked database never stops the game."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import pytest

from textgamegen.engine.game import Game
from textgamegen.feedback import store
from textgamegen.feedback.recorder import Recorder, WeightHashes
from textgamegen.narration.template import TemplateGenerator
from textgamegen.play.feedback import FeedbackSession
from textgamegen.play.script import run_script

REPO = Path(__file__).parent.parent.parent


def _rows(path: Path) -> list[dict]:
    with store.open_store(path) as db:
        return store.narrations(db)


def test_migrations_make_a_versioned_wal_database_and_are_applied_once(tmp_path: Path) -> None:
    path = tmp_path / "feedback.db"
    db = store.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION
    names = [row[0] for row in db.execute("SELECT name FROM migrations ORDER BY id")]
    assert names == [name for name, _ in store.MIGRATIONS]
    db.close()
    db = store.connect(path)  # again: nothing reapplied, nothing fails
    assert db.execute("SELECT count(*) FROM migrations").fetchone()[0] == len(store.MIGRATIONS)
    db.close()


def test_a_database_from_a_newer_game_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "feedback.db"
    store.connect(path).close()
    raw = sqlite3.connect(path)
    raw.execute("INSERT INTO migrations VALUES (99, 'from the future', 'x')")
    raw.commit()
    raw.close()
    with pytest.raises(store.StoreError, match="newer"):
        store.connect(path)


def test_an_older_database_is_migrated_up(tmp_path: Path) -> None:
    path = tmp_path / "feedback.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE migrations (id INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    store.MIGRATIONS[0][1](raw)
    raw.execute("INSERT INTO migrations VALUES (1, 'create narrations', 'x')")
    raw.commit()
    raw.close()
    db = store.connect(path)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"weights", "narrations_model"} <= tables
    db.close()


@pytest.mark.parametrize(
    ("row", "label"),
    [
        ({"rating": "good", "retried": 1}, "good"),
        ({"rating": "bad"}, "bad"),
        ({"retried": 1, "undone": 1}, "retried"),
        ({"cancelled": 1}, "cancelled"),
        ({"undone": 1}, "undone"),
        ({"fallback": 1}, "fallback"),
        ({}, "kept"),
    ],
)
def test_labels(row: dict, label: str) -> None:
    assert store.label(row) == label


def test_recorder_writes_narrations_signals_and_ratings(tmp_path: Path) -> None:
    path = tmp_path / "feedback.db"
    recorder = Recorder(path)
    first = recorder.narration(
        model="m",
        kind="action",
        text="One.",
        first_token_ms=5.0,
        total_ms=20.0,
        tokens=7,
        prompt="<|action|> One",
    )
    second = recorder.narration(model="m", kind="item", text="Two.", fallback=True)
    recorder.rate(first, "good")
    recorder.rate(first, "bad")  # a later rating replaces the earlier one
    recorder.signal(second, "retried")
    recorder.close()
    rows = {row["id"]: row for row in _rows(path)}
    assert rows[first]["rating"] == "bad" and rows[first]["tokens"] == 7
    assert rows[first]["prompt"] == "<|action|> One" and rows[first]["total_ms"] == 20.0
    assert rows[second]["retried"] == 1 and rows[second]["fallback"] == 1


def test_weights_are_hashed_once_per_file_and_cached_in_the_database(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"weights" * 1000)
    expected = hashlib.sha256(b"weights" * 1000).hexdigest()
    db = store.connect(tmp_path / "feedback.db")
    hashes = WeightHashes()
    assert hashes.of_model(model, db) == expected
    assert db.execute("SELECT sha256 FROM weights").fetchone()[0] == expected
    # A fresh cache reads the database's row: tamper with it to prove no re-hash happens.
    db.execute("UPDATE weights SET sha256 = 'cached'")
    assert WeightHashes().of_model(model, db) == "cached"
    # A changed file (size and mtime) is hashed again.
    (model / "model.safetensors").write_bytes(b"other weights")
    assert WeightHashes().of_model(model, db) == hashlib.sha256(b"other weights").hexdigest()
    assert hashes.of_model(None) == "template"
    db.close()


def test_a_corrupt_database_is_reported_once_and_the_game_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "feedback.db"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 200)
    recorder = Recorder(path)
    narration_id = recorder.narration(model="m", kind="action", text="Still here.")
    recorder.rate(narration_id, "good")
    assert recorder.flush()
    notices = recorder.take_notices()
    assert len(notices) == 1 and str(path) in notices[0] and "not being recorded" in notices[0]
    assert not recorder.enabled
    recorder.narration(model="m", kind="action", text="And here.")  # a no-op, never raises
    recorder.close()


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from textgamegen.feedback.recorder import Recorder
    recorder = Recorder(Path(sys.argv[1]), flush_s=0.01, batch_size=8)
    index = 0
    while True:
        recorder.narration(model="m", kind="action", text="x" * 2000 + str(index))
        index += 1
        if index % 50 == 0:
            time.sleep(0.001)
    """
)


def test_the_database_survives_kill_9_mid_write(tmp_path: Path) -> None:
    path = tmp_path / "feedback.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=env)
    try:
        deadline = time.monotonic() + 60
        count = 0
        while count < 500:
            assert time.monotonic() < deadline, "the writer never wrote"
            time.sleep(0.05)
            try:
                reader = sqlite3.connect(path, timeout=1)
                count = reader.execute("SELECT count(*) FROM narrations").fetchone()[0]
                reader.close()
            except sqlite3.Error:
                continue
    finally:
        process.send_signal(signal.SIGKILL)  # mid-write: the writer never stops on its own
        process.wait(10)
    assert process.returncode == -signal.SIGKILL
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    survived = db.execute("SELECT count(*) FROM narrations").fetchone()[0]
    assert survived >= count
    db.close()
    recorder = Recorder(path)  # and recording goes on where it stopped
    recorder.narration(model="m", kind="action", text="After the crash.")
    recorder.close()
    assert len(_rows(path)) == survived + 1


SCRIPT = """\
x statue
rate good
look
retry
x sage
rate bad
north
undo
"""


def test_a_scripted_game_records_ratings_retries_and_undos(tmp_path: Path, tiny_world) -> None:
    script = tmp_path / "script.txt"
    script.write_text(SCRIPT)
    path = tmp_path / "feedback.db"
    session = FeedbackSession(Recorder(path), world=tiny_world.name)
    game = Game.new(tiny_world, seed=1)
    report = run_script(script, game, TemplateGenerator(), feedback=session)
    assert report.ok
    session.recorder.close()
    rows = _rows(path)
    assert rows and all(row["model"] == "template" and row["world"] == "tiny" for row in rows)
    assert all(row["model_sha256"] == "template" for row in rows)
    by_label = {store.label(row): row for row in rows}
    # "rate good" rated the statue's passage, the last shown; "retry" after "look" rewrote
    # the room's description (replayed from the cache), so the opening's narration of it
    # is the one retried; "undo" took back the walk north.
    assert "statue" in by_label["good"]["text"]
    assert "Sage" in by_label["bad"]["text"] or "sage" in by_label["bad"]["text"].lower()
    # The room's authored text is canon and shown by the engine; the retried narration is
    # the colour line after it, which the template narrator leaves empty.
    assert by_label["retried"]["text"] == ""
    assert by_label["retried"]["turn"] == 0
    # The walk north showed the study's canon text; its narration is the colour line, asked
    # for as a room.
    assert by_label["undone"]["turn"] == 4 and by_label["undone"]["kind"] == "room"


def test_rate_is_a_meta_command_that_costs_no_turn(tiny_game: Game) -> None:
    tiny_game.intro()
    before = tiny_game.turn
    result = tiny_game.step("rate good")
    assert result.changes == ["rate:good"] and tiny_game.turn == before
    assert tiny_game.step("rate bad").changes == ["rate:bad"]
    assert tiny_game.step("rate soup").changes == []
    assert tiny_game.step("undo").events[0].text == "There is nothing to undo."


def test_the_session_marks_the_right_narrations(tmp_path: Path) -> None:
    from textgamegen.engine.content import ContentKind, ContentRequest, StepResult
    from textgamegen.narration.generator import Narration

    path = tmp_path / "feedback.db"
    session = FeedbackSession(Recorder(path))
    ids = {}
    requests = {}
    for turn, name in ((1, "a"), (2, "b")):
        request = requests[name] = ContentRequest(ContentKind.ACTION, subject=name, seed=turn)
        session.stepped(StepResult(name, requests=[request], turn=turn))
        ids[name] = session.narrated(request, Narration(request, name, model="m"), name)
    again = replace(requests["b"], seed=99)
    session.stepped(StepResult("retry", changes=["retry"], requests=[again], turn=2))
    session.stepped(StepResult("undo", changes=["undo"], turn=1))  # takes back turn 2: b
    session.stepped(StepResult("rate bad", changes=["rate:bad"], turn=1))  # the last shown: b
    session.recorder.close()
    rows = {row["text"]: row for row in _rows(path)}
    assert (rows["a"]["retried"], rows["a"]["undone"], rows["a"]["rating"]) == (0, 0, None)
    assert (rows["b"]["retried"], rows["b"]["undone"], rows["b"]["rating"]) == (1, 1, "bad")
    assert [rows["a"]["turn"], rows["b"]["turn"]] == [1, 2]


def test_recording_off_records_nothing(tmp_path: Path, tiny_world) -> None:
    session = FeedbackSession(None)
    script = tmp_path / "script.txt"
    script.write_text("look\nrate good\n")
    run_script(script, Game.new(tiny_world), TemplateGenerator(), feedback=session)
    assert session.last_id is None


def test_a_scripted_run_on_a_corrupt_database_says_so_and_plays_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from textgamegen.__main__ import main

    path = tmp_path / "feedback.db"
    path.write_bytes(b"\x00not a database" * 300)
    monkeypatch.setenv("TEXTGAMEGEN_FEEDBACK_DB", str(path))
    script = tmp_path / "script.txt"
    script.write_text("look\nrate good\n? turn 1\n")
    assert main(["play", "--script", str(script), "--model", "template"]) == 0
    captured = capsys.readouterr()
    assert "Noted: the last passage was good." in captured.out
    assert f"Feedback is not being recorded: {path}" in captured.err


def test_the_setting_turns_recording_off_in_scripted_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textgamegen.__main__ import main

    config = tmp_path / "config.toml"
    monkeypatch.setenv("TEXTGAMEGEN_CONFIG", str(config))
    script = tmp_path / "script.txt"
    script.write_text("look\nrate good\n")
    config.write_text("record_feedback = false\n")
    assert main(["play", "--script", str(script), "--model", "template"]) == 0
    assert not store.db_path().exists()
    config.write_text("record_feedback = true\n")
    assert main(["play", "--script", str(script), "--model", "template"]) == 0
    assert [row["rating"] for row in _rows(store.db_path())] == ["good"]


def test_prose_written_ahead_is_recorded_when_shown_and_is_what_rate_rates(
    tmp_path: Path, tiny_world
) -> None:
    from textgamegen.narration.generator import Narration
    from textgamegen.play.narration_queue import Prefetched
    from textgamegen.play.session import PlaySession

    path = tmp_path / "feedback.db"
    feedback = FeedbackSession(Recorder(path), world=tiny_world.name)
    game = Game.new(tiny_world, seed=0)
    session = PlaySession(game, feedback=feedback)
    session.use_generator(TemplateGenerator())
    session.take(game.intro())
    session.take_passages()
    (study,) = [r for r in game.prefetch_requests() if r.cache_key == "room:study"]
    ahead = "Dust hangs in the lamplight over the desk."
    assert session.take_prefetched(Prefetched(study, ahead, Narration(study, ahead, model="m")))
    feedback.recorder.flush()
    assert ahead not in [row["text"] for row in _rows(path)]  # written, not yet read
    result = session.step("north")
    assert result.replayed == ["room:study"]
    session.step("rate bad")
    feedback.recorder.close()
    rows = _rows(path)
    (shown,) = [row for row in rows if row["text"] == ahead]
    assert shown["turn"] == result.turn and shown["model"] == "m"
    # The rating went to the passage the player read last, and to no other.
    assert [row["text"] for row in rows if row["rating"]] == [ahead]
    assert shown["rating"] == "bad"


def test_rate_after_a_revisit_rates_the_replayed_passage(tmp_path: Path, tiny_world) -> None:
    from fakes import ScriptedGenerator

    from textgamegen.play.session import PlaySession

    path = tmp_path / "feedback.db"
    feedback = FeedbackSession(Recorder(path), world=tiny_world.name)
    game = Game.new(tiny_world, seed=0)
    session = PlaySession(game, feedback=feedback)
    session.use_generator(ScriptedGenerator())
    session.take(game.intro())
    hall_id = feedback.last_id
    assert game.cache["room:hall"]  # the narrator's line for the hall, cached
    game.cache["room:study"] = "Ink and dust."  # prose of another game's session (a save)
    session.step("north")
    assert feedback.last_id is None  # shown, but no record of it: nothing to rate
    session.step("south")  # the hall's line replayed from the cache
    assert feedback.last_id == hall_id
    session.step("rate good")
    feedback.recorder.close()
    assert [row["id"] for row in _rows(path) if row["rating"] == "good"] == [hall_id]


def test_a_scripted_run_is_marked_and_no_feedback_records_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textgamegen.__main__ import main

    path = tmp_path / "feedback.db"
    monkeypatch.setenv("TEXTGAMEGEN_FEEDBACK_DB", str(path))
    monkeypatch.setenv("TEXTGAMEGEN_CONFIG", str(tmp_path / "config.toml"))
    script = tmp_path / "script.txt"
    script.write_text("look\nrate good\n")
    world = str(Path(__file__).parent.parent / "fixtures" / "worlds" / "tiny.toml")
    play = ["play", "--world", world, "--model", "template", "--script", str(script)]
    assert main([*play, "--no-feedback"]) == 0
    assert not path.exists()
    assert main(play) == 0
    rows = _rows(path)
    assert rows and all(row["scripted"] == 1 for row in rows)


def test_no_feedback_turns_recording_off_for_one_game_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse

    from textgamegen.ui.app import TextGameGenApp, _launch_from_args

    monkeypatch.setenv("TEXTGAMEGEN_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("TEXTGAMEGEN_FEEDBACK_DB", str(tmp_path / "feedback.db"))
    args = argparse.Namespace(model="template", no_feedback=True)
    launch = _launch_from_args(args)
    assert launch.record is False and launch.settings.record_feedback is True
    assert TextGameGenApp(launch).recorder is None
    args.no_feedback = False
    app = TextGameGenApp(_launch_from_args(args))
    assert app.recorder is not None
    app.recorder.close()
