"""Automatic CPU threads follow the machine (``device.ThreadChoice``).

On a 2-core machine with two busy processes beside the game, a decoding product on 2
threads waited a scheduler tick (8 ms against 50 us on one) and the narrator wrote
6-10 tok/s on 2 threads against 16-17 on 1; quiet, 2 threads wrote 37-38 against 24-25.
So with ``threads = 0`` the threads are chosen again before each line: all the cores,
less one for each core other processes kept busy since the last line. A count the player
set is kept as set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.models.loader import load_generator
from textgamegen.models.random_model import build_random_model
from textgamegen.narration import device
from textgamegen.narration.device import ThreadChoice


@pytest.fixture(autouse=True)
def _threads_back():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


class _Machine:
    """A 2-core machine's ``/proc/stat``, its clock and this process's CPU time."""

    def __init__(self, folder: Path) -> None:
        self.stat = folder / "stat"
        self.ticks = [0, 0]  # busy ticks of cpu0 and cpu1 (100 a second)
        self.wall = 0.0
        self.own = 0.0
        self.write()

    def write(self) -> None:
        lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
        lines += [f"cpu{n} {busy} 0 0 5000 0 0 0 0 0 0" for n, busy in enumerate(self.ticks)]
        self.stat.write_text("\n".join(lines) + "\n", encoding="ascii")

    def run(self, seconds: float, others: float, own: float) -> None:
        """``seconds`` pass; other processes keep ``others`` cores busy, this one ``own``."""
        self.wall += seconds
        self.own += own * seconds
        busy = round((others + own) * seconds * 100)
        self.ticks = [self.ticks[0] + busy // 2, self.ticks[1] + busy - busy // 2]
        self.write()

    def monotonic(self) -> float:
        return self.wall

    def process_time(self) -> float:
        return self.own


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> _Machine:
    fake = _Machine(tmp_path)
    monkeypatch.setattr(device, "time", fake)
    monkeypatch.setattr(device, "_cores", lambda: [0, 1])
    monkeypatch.setattr(os, "sysconf", lambda _name: 100)
    return fake


def test_a_quiet_machine_gets_both_cores(machine: _Machine) -> None:
    choice = ThreadChoice(machine.stat)
    machine.run(5.0, others=0.1, own=0.3)  # the player reads; the game draws the screen
    assert choice.choose() == 2 and torch.get_num_threads() == 2


def test_busy_processes_beside_the_game_leave_it_fewer_threads(machine: _Machine) -> None:
    choice = ThreadChoice(machine.stat)
    machine.run(4.0, others=2.0, own=0.0)  # two busy processes, the game idle
    assert choice.choose() == 1 and choice.others == pytest.approx(2.0)
    machine.run(2.0, others=1.0, own=1.0)  # one, while the game wrote a line
    assert choice.choose() == 1 and choice.others == pytest.approx(1.0)
    machine.run(3.0, others=0.2, own=0.1)  # they are gone: both cores come back
    assert choice.choose() == 2


def test_a_line_asked_for_at_once_keeps_the_last_choice(machine: _Machine) -> None:
    choice = ThreadChoice(machine.stat)
    machine.run(4.0, others=2.0, own=0.0)
    assert choice.choose() == 1
    machine.run(0.05, others=0.0, own=0.0)  # too short a window to tell anything
    assert choice.choose() == 1
    machine.run(1.0, others=0.0, own=0.5)  # measured from the last real look
    assert choice.choose() == 2


def test_without_proc_stat_one_core_stays_free(tmp_path: Path) -> None:
    choice = ThreadChoice(tmp_path / "no-such-stat")
    assert choice.choose() == device.cpu_threads()


def test_a_garbled_proc_stat_is_no_reading(machine: _Machine) -> None:
    machine.stat.write_text("cpu0 12 x 0 0 0 0 0 0\ncpu1 \x00\n", encoding="ascii")
    choice = ThreadChoice(machine.stat)
    machine.run(1.0, others=0.0, own=0.0)
    machine.stat.write_text("cpu0 12 x 0 0 0 0 0 0\n", encoding="ascii")
    assert choice.choose() == device.cpu_threads()


def test_on_this_machine_it_reads_its_own_cores() -> None:
    choice = ThreadChoice()
    assert 1 <= choice.choose() <= device.MAX_THREADS


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_random_model(tmp_path_factory.mktemp("models") / "tiny")


def test_automatic_threads_are_chosen_before_each_line(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen: list[int] = []

    def choose(self: ThreadChoice) -> int:
        chosen.append(2)
        return 2

    monkeypatch.setattr(ThreadChoice, "choose", choose)
    gen = load_generator(str(tiny_dir), "cpu", threads=0, warm_up=False)
    assert gen.thread_choice is not None
    request = ContentRequest(ContentKind.ACTION, command="kick the door", seed=3)
    gen.generate(request)
    gen.generate(request)
    assert len(chosen) == 2 and gen.threads == 2


def test_threads_the_player_set_are_kept(tiny_dir: Path) -> None:
    gen = load_generator(str(tiny_dir), "cpu", threads=1, warm_up=False)
    assert gen.thread_choice is None and gen.threads == 1
