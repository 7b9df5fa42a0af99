"""``[gate]`` is checked when it is read: a bound or a tolerance below 0, a NaN or infinity, or a
switch that is not true/false is refused, naming the key, before any stage runs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from training.cli import main
from training.config import ConfigError, GateConfig, load_config

FIXTURE = Path(__file__).parent.parent / "fixtures" / "corpus" / "fixture.toml"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_perplexity": -1.0}, "gate.max_perplexity must be a number, 0 (no bound) or more"),
        ({"max_latency_ms": -300}, "gate.max_latency_ms must be a number, 0 (no bound) or more"),
        ({"max_first_token_ms": math.nan}, "gate.max_first_token_ms must be a number"),
        ({"max_latency_ms": math.inf}, "gate.max_latency_ms must be a number"),
        ({"max_latency_ms": "300"}, "gate.max_latency_ms must be a number"),
        ({"tolerance": -0.02}, "gate.tolerance must be a number, 0 or more: 0.02 lets"),
        ({"tolerance": math.nan}, "gate.tolerance must be a number, 0 or more"),
        ({"tolerance": "2%"}, "(got '2%')"),
        ({"beat_base": "yes"}, "gate.beat_base must be true or false (got 'yes')"),
        ({"compare_registered": 1}, "gate.compare_registered must be true or false"),
        ({"beat_baseline": None}, "gate.beat_baseline must be true or false"),
    ],
)
def test_a_bad_gate_value_is_refused_naming_the_key(values: dict, message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        GateConfig(**values)
    assert message in str(refused.value)


def test_good_gate_values_are_kept() -> None:
    gate = GateConfig(max_perplexity=50, max_latency_ms=0, tolerance=0.02, beat_base=True)
    assert (gate.max_perplexity, gate.max_latency_ms, gate.tolerance) == (50, 0, 0.02)
    assert GateConfig() == GateConfig(max_latency_ms=300.0, tolerance=0.0)
    # 1 lets a model twice as bad through; a huge one turns the comparison off in effect.
    assert GateConfig(tolerance=1).tolerance == 1 and GateConfig(tolerance=10000).tolerance


def test_a_bad_gate_in_a_config_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = FIXTURE.read_text(encoding="utf-8").replace(
        'name = "fixture"', f'name = "fixture"\nroot = "{FIXTURE.parent}"'
    )
    config = tmp_path / "gate.toml"
    config.write_text(text.replace("max_latency_ms = 5000", "tolerance = -0.5"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"gate\.toml: gate\.tolerance must be"):
        load_config(config)
    assert main(["pipeline", str(config), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "gate.tolerance must be a number, 0 or more" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists(), "refused before any stage ran"
