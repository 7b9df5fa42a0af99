"""bench/prompt_rows.py: the table it prints, and clear errors for bad arguments."""

from __future__ import annotations

import pytest

from bench import prompt_rows


def test_it_times_the_three_ways_for_each_row_count(capsys: pytest.CaptureFixture[str]) -> None:
    assert prompt_rows.main(["--rows", "1,3", "--runs", "1", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("machine: ")
    assert "| rows | int8 kernel | widened to bfloat16 | widened to float32 |" in out
    rows = [line for line in out.splitlines() if line.startswith(("| 1 |", "| 3 |"))]
    assert len(rows) == 2
    for line in rows:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert len(cells) == 4 and all(float(cell) > 0 for cell in cells[1:])


@pytest.mark.parametrize("argv", [["--rows", "80,many"], ["--rows", "0"], ["--runs", "0"]])
def test_bad_arguments_get_a_clear_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        prompt_rows.main(argv)
    assert exit_info.value.code == 2
    assert "--rows" in capsys.readouterr().err
