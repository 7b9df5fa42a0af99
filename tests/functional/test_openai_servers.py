"""Any OpenAI-compatible server narrates: the game against fake servers of each shape
players run (full, chat-only, strict, keyed), the chat prompt they are sent, the API key,
the guards on what comes back, and the bounds on what the narrator takes from a server."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from aiohttp import web
from fakes import ScriptedGenerator as FakeGenerator
from openai_fakes import MARK, STANDARD, AppThread, FakeOpenAI, chunk, sse
from pilot_helpers import make_app, story, type_command, wait_until

from textgamegen.__main__ import main
from textgamegen.config import Settings, SettingsError, save_settings
from textgamegen.endpoint import CHAT, parse_model_url
from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.models.loader import load_generator
from textgamegen.narration import remote
from textgamegen.narration.remote import RemoteGenerator
from textgamegen.ui.screens.game import GameScreen
from textgamegen.ui.screens.settings import SettingsScreen
from textgamegen.ui.widgets.status_bar import MODEL_TROUBLE, StatusBar

TURNS = ["sing", "dance", "jump", "wave", "whistle", "hop", "hum a tune", "clap", "stretch", "yawn"]
KEY_VAR = "TEXTGAMEGEN_TEST_KEY"
ATTEMPT = ContentRequest(
    ContentKind.ACTION,
    command="sing",
    room="Harbour Quay",
    room_text="Gulls wheel over the quay.",
    seed=3,
    attempt=True,
)


def ten_turns(tmp_path: Path, expect: bool = True) -> Path:
    """A script of ten free-form attempts, each narrated, each checked for the server's
    words (unless ``expect`` is False)."""
    lines = []
    for command in TURNS:
        lines += [command, f'? output contains "{MARK}"'] if expect else [command]
    script = tmp_path / "ten.txt"
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return script


def play(tmp_path: Path, model: str, *more: str, expect: bool = True) -> tuple[int, str]:
    """``play --script`` of the ten turns in process; returns (exit code, transcript)."""
    transcript = tmp_path / "out.txt"
    code = main(
        [
            "play",
            "--script",
            str(ten_turns(tmp_path, expect)),
            "--model",
            model,
            "--transcript",
            str(transcript),
            "--strict-model",
            *more,
        ]
    )
    return code, transcript.read_text(encoding="utf-8") if transcript.exists() else ""


# The address each shape is given: chat named outright, or found by the narrator (a 404
# on completions), or completions with only standard fields, or chat with a key.
SPECS = {
    "full": "openai-chat:{url}#fake-instruct",
    "chat-only": "openai:{url}#fake-instruct",
    "strict": "openai:{url}#fake-instruct",
    "key": "openai-chat:{url}#fake-instruct",
}


@pytest.mark.parametrize("shape", list(SPECS))
def test_the_game_plays_ten_turns_on_each_server_shape(
    shape: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    more: list[str] = []
    with FakeOpenAI(shape) as server:
        if shape == "key":
            monkeypatch.setenv(KEY_VAR, server.key)
            more = ["--api-key-env", KEY_VAR]
        code, transcript = play(tmp_path, SPECS[shape].format(url=server.url), *more)
    err = capsys.readouterr().err
    # Every expectation held and, under --strict-model, the model wrote every narration.
    assert code == 0, err
    assert transcript.count(MARK) == len(TURNS)
    assert "comes to nothing" not in transcript  # the template's attempt line
    assert "did not answer" not in err and "template narrator wrote" not in err
    route = "completions" if shape == "strict" else "chat"
    answered = server.answered(route)
    assert all(entry.status == 200 for entry in server.log if entry.route == route)
    assert len(answered) == len(TURNS)
    for entry in server.log:
        # Only standard OpenAI parameters go to a server not known to take more.
        assert set(entry.body) <= STANDARD, entry.body
        assert entry.body.get("n", 1) == 1
    if shape == "key":
        assert all(entry.keyed for entry in server.log)
        assert server.key not in err and server.key not in transcript
    if route == "chat":
        system, user = answered[0].body["messages"]
        assert system["role"] == "system" and user["role"] == "user"
        # The rules, then the facts and the request.
        for rule in ("second person", "Add no exits", "Never say that an attempt worked"):
            assert rule in system["content"]
        assert "place: " in user["content"] and "you try: sing" in user["content"]
        assert "Write how your attempt to sing comes to nothing" in user["content"]
    if shape == "chat-only":
        # The completions route was tried once, then chat was spoken from then on.
        routes = [entry.route for entry in server.log if entry.route != "models"]
        assert routes == ["completions"] + ["chat"] * len(TURNS)


def test_a_server_that_refuses_the_extras_is_asked_again_without_them() -> None:
    # It looks like vLLM (max_model_len), so the extras go, but it refuses them.
    with FakeOpenAI("strict", card={"max_model_len": 4096}) as server:
        generator = load_generator(f"openai:{server.url}#fake-instruct")
        assert isinstance(generator, RemoteGenerator) and generator.extras
        texts = [generator.generate(ATTEMPT).text for _ in range(3)]
    assert all(MARK in text for text in texts)
    refused = [entry for entry in server.log if entry.status == 400]
    assert len(refused) == 1 and "top_k" in refused[0].body
    # Remembered: no later request carries them.
    assert generator.extras is False
    assert all(set(entry.body) <= STANDARD for entry in server.answered("completions"))


def test_extras_go_to_servers_known_to_take_them() -> None:
    with FakeOpenAI("full", card={"owned_by": "vllm"}) as server:
        generator = load_generator(f"openai:{server.url}#fake-instruct")
        generator.generate(
            ContentRequest(
                ContentKind.ROOM, subject="Cold Wood", room="Cold Wood", exits=("south",)
            )
        )
    (body,) = [entry.body for entry in server.answered("completions")]
    assert body["top_k"] == 50 and body["add_special_tokens"] is False
    assert "north" in body["bad_words"] and "south" not in body["bad_words"]


def test_a_chat_line_that_breaks_the_facts_is_asked_again_then_left_to_the_template() -> None:
    # "You open ..." on an attempt says it worked; the game never lets a line say that.
    with FakeOpenAI("chat-only", line="You open the hatch and step through.") as server:
        generator = load_generator(f"openai-chat:{server.url}#fake-instruct")
        shown: list[str] = []
        narration = generator.generate(ATTEMPT, on_text=shown.append)
    assert len(server.answered("chat")) == 2  # the line, and one more try
    seeds = [entry.body["seed"] for entry in server.answered("chat")]
    assert seeds[0] != seeds[1]
    assert narration.fallback and "comes to nothing" in narration.text
    assert "deed: open" in narration.notice and "template narrator" in narration.notice


def test_the_api_key_is_sent_but_never_kept_or_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAI("key") as server:
        # No key: the server refuses, the game says what to do, --strict-model fails.
        code, transcript = play(tmp_path, f"openai-chat:{server.url}#fake-instruct", expect=False)
        err = capsys.readouterr().err
        assert code == 3 and "HTTP 401" in err and "--api-key-env" in err
        assert "wrote 0 of" in err and "comes to nothing" in transcript
        # A variable named but not set is said plainly.
        code, _ = play(
            tmp_path, f"openai-chat:{server.url}#x", "--api-key-env", "NO_SUCH_VAR_X", expect=False
        )
        assert code == 3 and "NO_SUCH_VAR_X, which is not set" in capsys.readouterr().err
        # A wrong key: refused, and the key itself is never repeated.
        monkeypatch.setenv(KEY_VAR, "sk-wrong-key-987")
        code, _ = play(
            tmp_path,
            f"openai-chat:{server.url}#fake-instruct",
            "--api-key-env",
            KEY_VAR,
            expect=False,
        )
        err = capsys.readouterr().err
        assert code == 3 and "the API key was refused" in err and "sk-wrong-key-987" not in err
        generator = load_generator(f"openai-chat:{server.url}#x", api_key_env=KEY_VAR)
        assert "sk-wrong" not in repr(generator) and "sk-wrong" not in generator.notice
    # Only the variable's name is a setting; the key never reaches config.toml.
    path = save_settings(Settings(api_key_env=KEY_VAR), tmp_path / "config.toml")
    saved = path.read_text(encoding="utf-8")
    assert f'api_key_env = "{KEY_VAR}"' in saved and "sk-" not in saved
    with pytest.raises(SettingsError, match="NAME of an environment variable"):
        Settings(api_key_env="sk-wrong-key-987 pasted")


def test_chat_addresses_parse() -> None:
    endpoint = parse_model_url("openai-chat:http://localhost:11434/v1#llama3.2:3b")
    assert (endpoint.api, endpoint.port, endpoint.model) == (CHAT, 11434, "llama3.2:3b")
    assert Settings(model="openai-chat:http://127.0.0.1:1234/v1").model.startswith("openai-chat")


# -- what the narrator takes from a server (bounded) -------------------------------------


class Trickle:
    """A server that streams chat pieces its own way, and is let go at the test's end."""

    def __init__(self, pieces: int, text: str, hold: bool = False) -> None:
        self.pieces = pieces
        self.text = text
        self.hold = hold
        self.released = threading.Event()
        self.gone = threading.Event()  # the narrator closed the stream before the end

    async def models(self, _request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "fake"}]})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for _ in range(self.pieces):
                await response.write(sse(chunk("chat", self.text)))
                while self.hold and not self.released.is_set():
                    await asyncio.sleep(0.02)
            await response.write(b"data: [DONE]\n\n")
        except (ConnectionError, RuntimeError):
            self.gone.set()
        return response

    def __enter__(self) -> Trickle:
        app = web.Application()
        app.add_routes(
            [web.get("/v1/models", self.models), web.post("/v1/chat/completions", self.chat)]
        )
        self.thread = AppThread(app).__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self.thread.__exit__(*exc)


def test_a_flood_of_pieces_is_cut_at_what_was_asked_for() -> None:
    with Trickle(8000, " and") as server:
        generator = load_generator(f"openai-chat:{server.thread.url}#fake")
        narration = generator.generate(ATTEMPT, on_text=lambda _piece: None)
    asked = generator.sampling.max_new_tokens
    (candidate,) = narration.candidates
    # At most twice the tokens asked for (plus slack) were taken of the 8,000.
    assert 0 < candidate.tokens <= remote.PIECE_MARGIN * asked + remote.PIECE_SLACK


def test_a_flood_of_bytes_is_cut_at_what_was_asked_for() -> None:
    with Trickle(200, " word" * 2000) as server:  # 10 kB a piece
        generator = load_generator(f"openai-chat:{server.thread.url}#fake")
        narration = generator.generate(ATTEMPT)
    asked = generator.sampling.max_new_tokens
    assert narration.candidates
    assert len(narration.candidates[0].text) <= asked * remote.TEXT_BYTES_PER_TOKEN


def test_a_trickling_server_cannot_hang_a_scripted_game(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One piece, then nothing until the test ends (as one piece every 5 s would be):
    each narration gives up at its deadline and the template writes, saying so."""
    monkeypatch.setattr(remote, "DEADLINE_S", 0.5)
    script = tmp_path / "two.txt"
    script.write_text("sing\ndance\n", encoding="utf-8")
    with Trickle(100, " You pause,", hold=True) as server:
        code = main(
            [
                "play",
                "--script",
                str(script),
                "--model",
                f"openai-chat:{server.thread.url}#fake",
                "--strict-model",
            ]
        )
    err = capsys.readouterr().err
    assert code == 3
    assert "within the 0.5 s a narration may take" in err
    assert "wrote 0 of 2 narrations" in err


async def test_the_game_says_while_a_server_fails_and_when_it_is_back(tmp_path: Path) -> None:
    """The status bar names the trouble for as long as it lasts; the toast comes once, not
    on every turn; a server that answers again clears it."""
    with FakeOpenAI("key") as server:
        spec = f"openai-chat:{server.url}#fake-instruct"
        generator = load_generator(spec)  # no key: refused at start
        app = make_app(tmp_path, generator, model=spec)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
            status = app.screen.query_one(StatusBar)
            await wait_until(pilot, lambda: MODEL_TROUBLE in status.plain)
            for command in ("sing", "dance", "jump"):
                await type_command(pilot, command)
                await wait_until(pilot, lambda: not app.screen.play.narrating)
            told = [n.message for n in app._notifications if "did not answer" in n.message]
            assert len(told) == 1, told
            assert MODEL_TROUBLE in status.plain
            server.shape = "full"  # the server takes requests again
            await type_command(pilot, "wave")
            await wait_until(pilot, lambda: MARK in story(app).plain_text())
            await wait_until(pilot, lambda: MODEL_TROUBLE not in status.plain)
            assert app.model_trouble == ""


@pytest.mark.parametrize("hosted", [False, True])
async def test_a_web_player_cannot_name_a_host_variable_as_the_key(
    hosted: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Naming one of the host's environment variables would send its value to a server."""
    if hosted:
        monkeypatch.setenv("TEXTGAMEGEN_HOSTED", "1")
    app = make_app(tmp_path, FakeGenerator(), api_key_env="HOST_KEY")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, GameScreen))
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, SettingsScreen))
        shown = app.screen.query("#setting-api_key_env")
        assert bool(shown) is not hosted
        assert app.screen.collect().api_key_env == "HOST_KEY"


def test_generate_asks_a_keyed_chat_server_for_the_candidates_it_is_told(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with FakeOpenAI("key") as server:
        monkeypatch.setenv(KEY_VAR, server.key)
        code = main(
            [
                "generate",
                "--kind",
                "action",
                "--prompt",
                "sing",
                "--model",
                f"openai-chat:{server.url}#fake-instruct",
                "--api-key-env",
                KEY_VAR,
                "-n",
                "3",
                "--json",
            ]
        )
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and not out["fallback"] and MARK in out["text"]
    (body,) = [entry.body for entry in server.answered("chat")]
    assert body["n"] == 3


def test_a_404_about_the_model_is_not_taken_for_a_chat_only_server() -> None:
    async def models(_request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": "fake"}]})

    async def missing(_request: web.Request) -> web.Response:
        return web.json_response(
            {"error": {"message": "The model `fake` does not exist."}}, status=404
        )

    app = web.Application()
    app.add_routes([web.get("/v1/models", models), web.post("/v1/completions", missing)])
    with AppThread(app) as fake:
        generator = load_generator(f"openai:{fake.url}#fake")
        narration = generator.generate(ATTEMPT)
    assert generator.api == "completions"
    assert narration.fallback and "does not exist" in narration.notice
