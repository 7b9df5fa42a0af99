"""Every bench table names the machine it was measured on: a figure means little without
the CPU, its flags, torch's kernel level, the limits set on it and the load."""

from __future__ import annotations

import pytest

from bench.report import Section, machine, machine_line, render


def test_the_machine_line_names_cpu_flags_kernels_and_load() -> None:
    info = machine()
    line = machine_line()
    assert "torch_cpu_capability" in info and info["torch_cpu_capability"] in line
    assert "load average" in line
    if "cpu_model" in info:  # Linux: /proc/cpuinfo
        assert info["cpu_model"] in line
        assert set(info["cpu_flags"]) <= {flag for flag in line.replace(";", " ").split()}


def test_isa_limits_are_recorded_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert machine()["ONEDNN_MAX_CPU_ISA"] == "AVX2"
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in machine_line()


def test_every_rendered_table_opens_with_the_machine() -> None:
    assert render([Section("x")]).splitlines()[0].startswith("machine: ")
