"""The blind-read kit (``bench/blind.py``): the sheet hides who wrote each line, the key
numbers match it, and a filled-in sheet scores into the table; bad sheets say which line."""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import threading
from pathlib import Path

import pytest
from fakes import ScriptedGenerator

from bench import blind
from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.engine.world import World, load_world
from textgamegen.narration.generator import Narration, TextSink
from textgamegen.narration.template import TemplateGenerator

FIXTURES = Path(__file__).parents[1] / "fixtures"
KICK = "You kick the stone statue. It does not notice; your toes do."
DUST = "Dust turns slowly in a shaft of grey light."
SCRIPT = """\
# a short read of the tiny keep
? room Great Hall
kick the statue
listen
x iron key
talk to sage
ask sage about gem
dance
n
"""


@pytest.fixture
def world(tmp_path: Path) -> World:
    """The tiny test world with a line of colour in the hall and two attempts there (one
    that needs the hammer, which is in the vault)."""
    text = (FIXTURES / "worlds" / "tiny.toml").read_text(encoding="utf-8")
    text = text.replace(
        'text = "A bare hall with a statue."\n',
        f'text = "A bare hall with a statue."\ncolour = ["{DUST}"]\n',
        1,
    )
    text += (
        "\n[rooms.hall.attempts]\n"
        f'"kick the statue" = "{KICK}"\n'
        'listen = { text = "The bell hums above.", needs = "hammer" }\n'
    )
    path = tmp_path / "tiny.toml"
    path.write_text(text, encoding="utf-8")
    return load_world(path)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "script.txt"
    path.write_text(SCRIPT, encoding="utf-8")
    return path


def make(world: World, script: Path, out: Path, **options) -> dict:
    """A read with colour lines on (the narrators write after the world's text too)."""
    narrators = [("template", TemplateGenerator()), ("scripted", ScriptedGenerator(words=6))]
    return blind.make([(world, script)], narrators, [1, 2], out, **{"colour": True, **options})


def test_with_colour_off_only_what_the_world_has_no_text_for_is_read(
    world: World, script: Path, tmp_path: Path
) -> None:
    out = tmp_path / "read"
    make(world, script, out, colour=False)
    records = json.loads((out / "records.json").read_text(encoding="utf-8"))["lines"]
    written = [r for r in records if r["source"] == "model"]
    assert written and not any(r["kind"].endswith("colour") for r in written)
    authored = {r["text"]: r["kind"] for r in records if r["source"] == "authored"}
    assert authored[KICK] == "attempt"
    assert DUST not in authored  # a room's colour line is no narrator's line to compare
    # The reader sees the room's own text beside every line.
    sheet = (out / "sheet.md").read_text(encoding="utf-8")
    assert sheet.count("- the room's text: ") == sheet.count("\n## ")
    assert "- the room's text: none" not in sheet


def key_lines(out: Path) -> dict[str, dict]:
    return json.loads((out / "key.json").read_text(encoding="utf-8"))["lines"]


def test_make_numbers_the_sheet_as_the_key_does(world: World, script: Path, tmp_path: Path):
    out = tmp_path / "read"
    summary = make(world, script, out)
    lines = key_lines(out)
    sheet = (out / "sheet.md").read_text(encoding="utf-8")
    numbers = [int(n) for n in re.findall(r"^## (\d+) ", sheet, re.MULTILINE)]
    assert numbers == list(range(1, len(lines) + 1)) == [int(n) for n in lines]
    assert summary["sheet_lines"] == len(lines)
    rows = list(csv.DictReader(io.StringIO((out / "sheet.csv").read_text(encoding="utf-8"))))
    assert [int(row["number"]) for row in rows] == numbers
    assert all(row["score"] == "" and row["contradicts"] == "" for row in rows)
    # Each key entry points at its record, and the record's text is the sheet's line.
    records = json.loads((out / "records.json").read_text(encoding="utf-8"))["lines"]
    for row in rows:
        entry = lines[row["number"]]
        record = records[entry["record"]]
        assert record["text"] == row["line"]
        assert record["number"] == int(row["number"])
        assert (record["source"], record["model"], record["seed"]) == (
            entry["source"],
            entry["model"],
            entry["seed"],
        )
    # Every non-empty line is on the sheet once; the template's empty colour lines are not.
    assert len(lines) == sum(1 for record in records if record["text"])
    assert any(not record["text"] for record in records)


def test_every_source_and_seed_is_there_and_the_world_text_joins_once(
    world: World, script: Path, tmp_path: Path
) -> None:
    out = tmp_path / "read"
    make(world, script, out)
    lines = key_lines(out)
    by_source = {(e["model"], e["seed"]) for e in lines.values()}
    assert by_source == {
        ("template", 1),
        ("template", 2),
        ("scripted", 1),
        ("scripted", 2),
        ("authored", None),
    }
    records = json.loads((out / "records.json").read_text(encoding="utf-8"))["lines"]
    authored = {r["text"]: r for r in records if r["source"] == "authored"}
    # The attempt's own line, the room's colour line after its text, the topic's answer:
    # once each, however many narrators and seeds asked for them.
    assert authored[KICK]["kind"] == "attempt"
    assert authored[DUST]["kind"] == "room colour"
    assert authored['"The gem is in the box."']["kind"] == "dialogue colour"
    assert "The bell hums above." not in authored  # it needs the hammer, not in view
    assert [r["text"] for r in records if r["source"] == "authored"].count(KICK) == 1
    # The world's own text is judged against what came before it.
    gem = authored['"The gem is in the box."']["facts"]
    assert '"The gem is in the box."' not in gem["shown_before"]


def test_the_sheet_names_no_source_and_is_shuffled(world: World, script: Path, tmp_path: Path):
    out = tmp_path / "read"
    make(world, script, out)
    for name in ("sheet.md", "sheet.csv"):
        text = (out / name).read_text(encoding="utf-8").casefold()
        for source in ("template", "scripted", "authored", "seed"):
            assert source not in text, (name, source)
    lines = key_lines(out)
    models = [lines[str(number)]["model"] for number in range(1, len(lines) + 1)]
    assert models != sorted(models)
    runs = sum(1 for a, b in itertools.pairwise(models) if a != b)
    assert runs > len(set(models))  # not one block per source


def test_the_sheet_shows_the_facts_and_the_kinds(world: World, script: Path, tmp_path: Path):
    out = tmp_path / "read"
    make(world, script, out)
    sheet = (out / "sheet.md").read_text(encoding="utf-8")
    kinds = set(re.findall(r"^## \d+ · (.+)$", sheet, re.MULTILINE))
    assert {"attempt", "item", "room colour", "dialogue colour", "quest colour"} <= kinds
    block = sheet[sheet.index(f"> {KICK}") - 600 : sheet.index(f"> {KICK}")]
    assert "- exits: north, east (locked vault door)" in block
    assert "- people here: Old Sage" in block
    assert "- things in view: brass key, iron key, stone statue" in block
    assert "- carrying: tin cup" in block
    assert "- command: kick the statue" in block
    assert "- speaker: Old Sage (topic: gem)" in sheet
    assert "shown before: Study" in sheet  # the heading, before the study's own text


def test_make_is_the_same_every_time(world: World, script: Path, tmp_path: Path) -> None:
    make(world, script, tmp_path / "a")
    make(world, script, tmp_path / "b")
    for name in ("sheet.md", "sheet.csv", "key.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    records = [json.loads((tmp_path / run / "records.json").read_bytes()) for run in "ab"]
    assert records[0]["lines"] == records[1]["lines"]  # the runs' timings may differ


def test_max_lines_spreads_the_narrators_requests(world: World, script: Path, tmp_path: Path):
    assert blind.spread(10, 3) == {1, 4, 7}
    assert blind.spread(4, 10) is None and blind.spread(4, 0) is None
    summary = make(world, script, tmp_path / "read", max_lines=3)
    assert {run["narrated"] for run in summary["runs"]} == {3}
    assert {run["requests"] for run in summary["runs"]} == {9}  # 9 requests, 3 narrated
    records = json.loads((tmp_path / "read" / "records.json").read_text(encoding="utf-8"))
    assert {record["ordinal"] for record in records["lines"]} == {1, 4, 7}


class Interrupted(TemplateGenerator):
    """A narrator whose run is cut short (Ctrl-C on a long CPU run)."""

    def generate(self, request, on_text=None, cancel=None):
        raise KeyboardInterrupt


def test_a_run_cut_short_keeps_the_lines_it_had(world: World, script: Path, tmp_path: Path):
    out = tmp_path / "read"
    make(world, script, out)
    assert json.loads((out / "records.json").read_bytes())["complete"] is True
    narrators = [("template", TemplateGenerator()), ("slow", Interrupted())]
    with pytest.raises(KeyboardInterrupt):
        blind.make([(world, script)], narrators, [1], out)
    records = json.loads((out / "records.json").read_bytes())
    assert records["complete"] is False
    assert [run["model"] for run in records["runs"]] == ["template"]
    assert {line["model"] for line in records["lines"]} == {"template", "authored"}
    assert not (out / "sheet.md").exists() and not (out / "key.json").exists()


HAND_KEY = {
    "version": 1,
    "sources": ["narrator", "template", "authored"],
    "lines": {
        str(n): {"source": source, "model": model, "seed": seed, "world": "w", "kind": kind}
        for n, source, model, seed, kind in [
            (1, "model", "template", 1, "attempt"),
            (2, "model", "narrator", 1, "attempt"),
            (3, "authored", "authored", None, "room colour"),
            (4, "model", "narrator", 2, "room colour"),
            (5, "model", "template", 2, "attempt"),
            (6, "model", "narrator", 2, "attempt"),
            (7, "model", "template", 1, "room colour"),
            (8, "model", "narrator", 1, "room colour"),
        ]
    },
}
# number: (score, contradicts)
HAND_MARKS = {1: "2 n", 2: "2 y", 3: "2 ", 4: "1 n", 5: "1 y", 6: "1 N", 7: "0 n", 8: "0 yes"}


def hand_sheet(tmp_path: Path, marks: dict[int, str] = HAND_MARKS) -> tuple[Path, Path]:
    key = tmp_path / "key.json"
    key.write_text(json.dumps(HAND_KEY), encoding="utf-8")
    blocks = ["# A blind read: 8 lines", "", "score: this guide line is not a mark"]
    for number, mark in marks.items():
        score, _, contradicts = mark.partition(" ")
        blocks += [f"## {number} · a kind", "- where: w", "", f"> Line {number}.", ""]
        blocks += [f"score: {score}", f"contradicts: {contradicts}", ""]
    sheet = tmp_path / "sheet.md"
    sheet.write_text("\n".join(blocks), encoding="utf-8")
    return sheet, key


def test_score_computes_the_table_by_hand(tmp_path: Path) -> None:
    sheet, key = hand_sheet(tmp_path)
    result = blind.score(sheet, key, by="kind")
    rows = {row["source"]: row for row in result["sources"]}
    assert [row["source"] for row in result["sources"]] == ["narrator", "template", "authored"]
    # narrator: lines 2, 4, 6, 8 scored 2, 1, 1, 0; 2 and 8 contradict.
    assert rows["narrator"] == {
        "source": "narrator",
        "lines": 4,
        "seeds": [1, 2],
        "scored_2": 25.0,
        "at_least_1": 75.0,
        "scored_0": 25.0,
        "contradicts": 50.0,
        "mean": 1.0,
        "canon_flagged": None,
        "counts": {
            "2": 1,
            "1": 2,
            "0": 1,
            "contradicts": 2,
            "canon_checked": 0,
            "canon_flagged": 0,
        },
    }
    # template: lines 1, 5, 7 scored 2, 1, 0; 5 contradicts.
    template = rows["template"]
    assert (template["lines"], template["scored_2"], template["at_least_1"]) == (3, 33.3, 66.7)
    assert (template["scored_0"], template["contradicts"], template["mean"]) == (33.3, 33.3, 1.0)
    assert rows["authored"]["lines"] == 1 and rows["authored"]["mean"] == 2.0
    assert rows["authored"]["seeds"] == [] and rows["authored"]["contradicts"] == 0.0
    by_kind = {(row["source"], row["kind"]): row for row in result["by"]["kind"]}
    assert by_kind["narrator", "room colour"]["mean"] == 0.5  # lines 4 and 8: 1 and 0
    assert by_kind["narrator", "attempt"]["scored_2"] == 50.0  # lines 2 and 6: 2 and 1
    table = blind.render_table(result["sources"])
    assert "| `narrator`, 2 seeds | 4 | 25% | 75% | 25% | 50% | 1.00 |" in table
    assert "| `authored` | 1 | 100% | 100% | 0% | 0% | 2.00 |" in table


def test_make_then_score_through_the_command_line(
    world: World, script: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "read"
    args = ["make", "--world", str(world.path), "--script", str(script), "--model", "template"]
    assert blind.main([*args, "--seeds", "1,2", "--out", str(out)]) == 0
    assert "lines on the sheet" in capsys.readouterr().out
    # The reader scores every line 2 in the spreadsheet, and marks line 1 as contradicting.
    rows = list(csv.DictReader(io.StringIO((out / "sheet.csv").read_text(encoding="utf-8"))))
    for row in rows:
        row["score"], row["contradicts"] = "2", "y" if row["number"] == "1" else ""
    filled = tmp_path / "filled.csv"
    with filled.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    report = tmp_path / "scores.json"
    code = blind.main(["score", str(filled), "--key", str(out / "key.json"), "--json", str(report)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "| source | lines | gladly read (2) |" in printed
    result = json.loads(report.read_text(encoding="utf-8"))
    assert result["lines"] == len(rows)
    counted = {row["source"]: row["lines"] for row in result["sources"]}
    assert counted == {
        name: sum(1 for e in key_lines(out).values() if e["model"] == name)
        for name in ("template", "authored")
    }
    assert {row["scored_2"] for row in result["sources"]} == {100.0}
    assert sum(row["counts"]["contradicts"] for row in result["sources"]) == 1


@pytest.mark.parametrize(
    ("marks", "problem"),
    [
        ({**HAND_MARKS, 3: " n"}, "line 3 (sheet.md:"),
        ({**HAND_MARKS, 3: " n"}, "score is missing (write 0, 1 or 2)"),
        ({**HAND_MARKS, 5: "3 n"}, "line 5 (sheet.md:"),
        ({**HAND_MARKS, 5: "3 n"}, "score '3' is not 0, 1 or 2"),
        ({**HAND_MARKS, 6: "good n"}, "score 'good' is not 0, 1 or 2"),
        ({**HAND_MARKS, 7: "1 maybe"}, "line 7 (sheet.md:"),
        ({**HAND_MARKS, 7: "1 maybe"}, "contradicts 'maybe' is not y or n"),
        ({**HAND_MARKS, 9: "2 n"}, "line 9 (sheet.md:"),
        ({**HAND_MARKS, 9: "2 n"}, "not in the key, whose lines are 1 to 8"),
        (
            {n: m for n, m in HAND_MARKS.items() if n != 4},
            "lines 4 of the key are not in the sheet",
        ),
    ],
)
def test_a_bad_sheet_names_its_line(tmp_path: Path, marks: dict[int, str], problem: str) -> None:
    sheet, key = hand_sheet(tmp_path, marks)
    with pytest.raises(blind.BlindError, match=re.escape(problem)):
        blind.score(sheet, key)


def test_every_problem_is_listed_at_once(tmp_path: Path, capsys) -> None:
    sheet, key = hand_sheet(tmp_path, {**HAND_MARKS, 2: " n", 5: "x n"})
    assert blind.main(["score", str(sheet), "--key", str(key)]) == 2
    error = capsys.readouterr().err
    assert "2 problems in the sheet" in error
    assert "line 2 (sheet.md:" in error and "line 5 (sheet.md:" in error


def test_a_duplicate_a_missing_mark_and_a_wrong_key_are_named(tmp_path: Path) -> None:
    sheet, key = hand_sheet(tmp_path)
    text = sheet.read_text(encoding="utf-8")
    sheet.write_text(text + "\n## 8 · again\n\n> Line 8.\n\nscore: 1\ncontradicts: n\n")
    with pytest.raises(blind.BlindError, match=r"line 8 \(sheet.md:\d+\): appears twice"):
        blind.score(sheet, key)
    sheet.write_text(text.replace("contradicts: n\n", "", 1).replace("score: 2\n", "", 1))
    with pytest.raises(blind.BlindError, match=r"line 1 \(sheet.md:\d+\): no 'score:' mark"):
        blind.score(sheet, key)
    keyed = json.loads(key.read_text(encoding="utf-8"))
    keyed["lines"]["1"]["text_sha1"] = blind.text_sha1("Another line.")
    key.write_text(json.dumps(keyed), encoding="utf-8")
    sheet.write_text(text)
    with pytest.raises(blind.BlindError, match=r"line 1 .*is not the one the key has"):
        blind.score(sheet, key)
    key.write_text("{not json")
    with pytest.raises(blind.BlindError, match="cannot read the key"):
        blind.score(sheet, key)


def test_a_bad_csv_sheet_names_its_row(tmp_path: Path) -> None:
    _, key = hand_sheet(tmp_path)
    sheet = tmp_path / "sheet.csv"
    rows = ["number,line,score,contradicts"]
    rows += [f"{n},Line {n}.,{m.split(' ')[0]},{m.split(' ')[1]}" for n, m in HAND_MARKS.items()]
    sheet.write_text("\n".join(rows).replace("7,Line 7.,0,n", "7,Line 7.,,n") + "\n")
    with pytest.raises(blind.BlindError, match=re.escape("line 7 (sheet.csv row 8): score is")):
        blind.score(sheet, key)
    sheet.write_text("number,line\n1,Line 1.\n")
    with pytest.raises(blind.BlindError, match="no column score, contradicts"):
        blind.score(sheet, key)


def test_canon_flags_are_a_column_of_their_own(world: World, script: Path, tmp_path: Path):
    def contradictions(text, request) -> list[str]:
        return ["absent person: Mock Turtle"] if "statue" in text else []

    out = tmp_path / "read"
    make(world, script, out, contradictions=contradictions)
    sheet = (out / "sheet.md").read_text(encoding="utf-8")
    assert "- canon flags: absent person: Mock Turtle" in sheet
    assert "- canon flags: none" in sheet
    rows = list(csv.DictReader(io.StringIO((out / "sheet.csv").read_text(encoding="utf-8"))))
    assert all(row["contradicts"] == "" for row in rows)  # never the reader's mark
    flagged = [row for row in rows if row["canon_flags"] != "none"]
    assert flagged and all("statue" in row["line"] for row in flagged)
    assert {bool(e["canon"]) for e in key_lines(out).values()} == {True, False}


def test_without_canon_contradictions_the_command_says_so(
    world: World, script: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    from textgamegen.text import canon

    monkeypatch.delattr(canon, "contradictions", raising=False)
    out = tmp_path / "read"
    args = ["make", "--world", str(world.path), "--script", str(script), "--model", "template"]
    assert blind.main([*args, "--out", str(out), "--auto-contradictions"]) == 0
    assert "has no contradictions() yet" in capsys.readouterr().err
    assert "canon" not in (out / "sheet.csv").read_text(encoding="utf-8").splitlines()[0]


def test_the_default_script_is_the_worlds_walkthrough(world: World) -> None:
    lanternfall = load_world(blind.REPO / "assets" / "worlds" / "lanternfall.toml")
    assert blind.default_script(lanternfall).name == "walkthrough.txt"
    assert blind.default_script(world) == (
        blind.REPO / "tests" / "functional" / "walkthroughs" / "tiny.txt"
    )
    with pytest.raises(blind.BlindError, match=r"no walkthrough at .*give one with --script"):
        blind._worlds([str(world.path)], [])


def test_a_streamed_narrator_is_given_a_listener_as_in_the_tui() -> None:
    heard: list[bool] = []

    class Listening(TemplateGenerator):
        def generate(
            self,
            request: ContentRequest,
            on_text: TextSink | None = None,
            cancel: threading.Event | None = None,
        ) -> Narration:
            heard.append(on_text is not None)
            return super().generate(request, on_text, cancel)

    request = ContentRequest(ContentKind.ACTION, command="sing", attempt=True)
    blind.Variant(Listening(), blind.VariantSpec("template", stream=True)).generate(request)
    Listening().generate(request)
    assert heard == [True, False]


def test_variant_names() -> None:
    spec = blind.VariantSpec
    assert blind.variant_of("narrator") == spec("narrator")
    assert blind.variant_of("narrator").plain
    assert blind.variant_of("narrator+stream") == spec("narrator", stream=True)
    assert blind.variant_of("narrator+stream@0.7") == spec("narrator", True, 0.7)
    assert blind.variant_of("narrator@0.5~1") == spec("narrator", False, 0.5, 1)
    assert blind.variant_of("narrator~0") == spec("narrator", sentences=0)
    assert blind.variant_of("narrator+stream+anywords~1") == spec(
        "narrator", stream=True, sentences=1, any_words=True
    )
    assert blind.variant_of("narrator~1^3000") == spec("narrator", sentences=1, common_words=3000)
    assert not blind.variant_of("narrator^0").plain
    with pytest.raises(blind.BlindError, match="count after"):
        blind.variant_of("narrator^many")
    for bad in ("narrator@hot", "narrator@0", "narrator@-1"):
        with pytest.raises(blind.BlindError, match="temperature"):
            blind.variant_of(bad)
    for bad in ("narrator~x", "narrator~12", "narrator~-1"):
        with pytest.raises(blind.BlindError, match="sentences"):
            blind.variant_of(bad)
