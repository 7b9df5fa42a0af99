"""The TUI and the scripted runner play through one ``PlaySession``, so they hand prose back
to the game by the same rule: what the player was shown joins the story, and only what the
narrator finished is cached. A fallback is never cached, so a revisit asks again.

The same unreliable narrator meets the same failures in both: it raises on the opening
room, writes it when the player looks again, gives its own template fallback for the crate
and writes it on a second look, and raises on a free-form action. Both games end with the
same cache and the same story.
"""

from __future__ import annotations

from pathlib import Path

from fakes import UnreliableGenerator
from pilot_helpers import make_app, narration_done, type_command, wait_until

from textgamegen.engine.game import Game
from textgamegen.play.script import run_script

COMMANDS = ("look", "examine crate", "x crate", "sing")


def unreliable() -> UnreliableGenerator:
    # Call 1 is the opening room, 2 "look", 3 and 4 the crate, 5 "sing".
    return UnreliableGenerator(raises=(1, 5), falls_back=(3,))


def played_headless(shipped_world, tmp_path: Path) -> Game:
    script = tmp_path / "script.txt"
    script.write_text("\n".join(COMMANDS) + "\n", encoding="utf-8")
    game = Game.new(shipped_world, seed=7, autosave=False)  # the pilots' world and seed
    report = run_script(script, game, unreliable())
    # The engine's own text stands in for what failed, and the run says so.
    sing = report.transcript[-1]
    assert ("error", "(generator failed: RuntimeError)") in sing.events
    assert [piece.text for piece in sing.prose] == [
        "You try to sing, but the attempt comes to nothing."
    ]
    return game


async def played_in_the_tui(tmp_path: Path) -> Game:
    generator = unreliable()
    app = make_app(tmp_path, generator)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: narration_done(app) and len(generator.calls) == 1)
        for number, command in enumerate(COMMANDS, start=2):
            await type_command(pilot, command)
            await wait_until(
                pilot, lambda n=number: narration_done(app) and len(generator.calls) == n
            )
        game = app.game
        assert game is not None
        return game


async def test_a_fallback_is_never_cached_in_the_tui_or_a_script(
    shipped_world, tmp_path: Path
) -> None:
    headless = played_headless(shipped_world, tmp_path)
    tui = await played_in_the_tui(tmp_path)
    expected = {"room:quay": "Written for Harbour Quay.", "item:crate": "Written for fish crate."}
    assert {key: headless.cache[key] for key in expected} == expected
    # The failed opening and the crate's fallback were asked again, and cached when written.
    assert headless.cache == tui.cache
    assert headless.story() == tui.story()
    assert "You try to sing, but the attempt comes to nothing." in tui.story()
