"""The narration queue on plain threads, with fake generators: order, Esc, prefetch
pre-emption, a generator or the loop dying mid-job, and shutdown.

Every job must get exactly one final report (completed, failed or dropped), and the model
must never run two requests at once; most tests check both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from textgamegen.engine.content import ContentKind, ContentRequest
from textgamegen.narration.generator import Narration
from textgamegen.play.narration_queue import (
    NarrationCompleted,
    NarrationDropped,
    NarrationFailed,
    NarrationJob,
    NarrationQueue,
    NarrationStarted,
    NarrationStreamed,
    Prefetched,
    Report,
    start_thread,
)

FINAL = (NarrationCompleted, NarrationFailed, NarrationDropped)


def request(subject: str) -> ContentRequest:
    return ContentRequest(kind=ContentKind.ROOM, subject=subject, cache_key=f"room:{subject}")


class FakeGenerator:
    """Streams "<subject> one two three" word by word; ``hold`` makes it wait (until
    released or cancelled) before each word; ``fail`` names subjects it raises on."""

    backend = "fake"
    name = "fake"
    device = "cpu"

    def __init__(self, *, hold: bool = False, fail: tuple[str, ...] = ()) -> None:
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.fail = fail
        self.calls: list[tuple[str, bool]] = []  # (subject, streamed?)
        self.cancelled: list[str] = []
        self.running = 0
        self.most_at_once = 0
        self.entered = threading.Event()
        self._lock = threading.Lock()

    def generate(self, request, on_text=None, cancel=None) -> Narration:
        with self._lock:
            self.calls.append((request.subject, on_text is not None))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.entered.set()
        try:
            if request.subject in self.fail:
                raise RuntimeError(f"the model fell over on {request.subject}")
            words = [request.subject, "one", "two", "three"]
            for index, word in enumerate(words):
                while not self.release.wait(0.01):
                    if cancel is not None and cancel.is_set():
                        break
                if cancel is not None and cancel.is_set():
                    self.cancelled.append(request.subject)
                    return Narration(request, " ".join(words[:index]), cancelled=True)
                if on_text is not None:
                    on_text(word if index == 0 else " " + word)
            return Narration(request, " ".join(words))
        finally:
            with self._lock:
                self.running -= 1


class Reports:
    """Collects the queue's reports from any thread; ``wait_for`` blocks on a condition."""

    def __init__(self) -> None:
        self.all: list[Report] = []
        self._changed = threading.Condition()

    def __call__(self, report: Report) -> None:
        with self._changed:
            self.all.append(report)
            self._changed.notify_all()

    def of(self, *kinds: type) -> list:
        with self._changed:
            return [report for report in self.all if isinstance(report, kinds)]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out; reports so far: {self.all}")
                self._changed.wait(min(left, 0.05))

    def finals(self, job: NarrationJob) -> list:
        return [report for report in self.of(*FINAL) if report.job is job]


class Threads:
    """A start hook that records its threads and what each loop raised."""

    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []

    def __call__(self, loop: Callable[[], None], group: str) -> None:
        def run() -> None:
            try:
                loop()
            except BaseException as error:  # noqa: BLE001 - recorded for the test to check
                self.errors.append(error)

        thread = start_thread(run, group)
        self.threads.append(thread)

    def join(self) -> None:
        for thread in list(self.threads):
            thread.join(60.0)  # a guard: a loop that ends does so at once
            assert not thread.is_alive()


@pytest.fixture
def reports() -> Reports:
    return Reports()


@pytest.fixture
def threads() -> Threads:
    started = Threads()
    yield started
    started.join()


def test_requests_are_narrated_in_order_one_at_a_time(reports, threads) -> None:
    generator = FakeGenerator()
    narrator = NarrationQueue(reports, threads)
    narrator.use_generator(generator)
    jobs = [narrator.narrate(request(name)) for name in ("hall", "yard", "mill")]
    reports.wait_for(lambda: len(reports.of(*FINAL)) == 3)
    assert [subject for subject, _ in generator.calls] == ["hall", "yard", "mill"]
    assert [report.job for report in reports.of(NarrationStarted)] == jobs
    completed = reports.of(NarrationCompleted)
    assert [report.job for report in completed] == jobs
    assert completed[0].narration.text == "hall one two three"
    assert jobs[0].streamed == "hall one two three"
    # Each job's reports come in order: started, its words, then done.
    first = [report for report in reports.all if report.job is jobs[0]]
    assert isinstance(first[0], NarrationStarted) and isinstance(first[-1], NarrationCompleted)
    assert all(isinstance(report, NarrationStreamed) for report in first[1:-1])
    assert generator.most_at_once == 1
    reports.wait_for(lambda: not narrator.busy)


def test_requests_wait_for_a_generator(reports, threads) -> None:
    narrator = NarrationQueue(reports, threads)
    job = narrator.narrate(request("hall"))
    # Loops start inside narrate(), through the start hook: none started, none can report.
    assert reports.all == [] and threads.threads == []
    assert narrator.busy and narrator.jobs() == [job]
    narrator.use_generator(FakeGenerator())
    reports.wait_for(lambda: len(reports.finals(job)) == 1)
    assert isinstance(reports.finals(job)[0], NarrationCompleted)


def test_cancel_stops_the_running_job_and_drops_the_queued_ones(reports, threads) -> None:
    generator = FakeGenerator(hold=True)
    narrator = NarrationQueue(reports, threads)
    narrator.use_generator(generator)
    running = narrator.narrate(request("hall"))
    reports.wait_for(lambda: bool(reports.of(NarrationStarted)))
    queued = [narrator.narrate(request(name)) for name in ("yard", "mill")]

    assert narrator.cancel() is True
    # The queued jobs are dropped at once, on the caller's thread.
    assert [report.job for report in reports.of(NarrationDropped)] == queued
    reports.wait_for(lambda: len(reports.finals(running)) == 1)
    done = reports.finals(running)[0]
    assert isinstance(done, NarrationCompleted) and done.narration.cancelled
    assert generator.calls == [("hall", True)]
    assert generator.cancelled == ["hall"]
    for job in [running, *queued]:
        assert len(reports.finals(job)) == 1
    reports.wait_for(lambda: not narrator.busy)
    assert narrator.cancel() is False  # nothing left to stop


def test_the_queue_goes_on_after_a_cancel(reports, threads) -> None:
    generator = FakeGenerator(hold=True)
    narrator = NarrationQueue(reports, threads)
    narrator.use_generator(generator)
    first = narrator.narrate(request("hall"))
    reports.wait_for(lambda: bool(reports.of(NarrationStarted)))
    narrator.cancel()
    reports.wait_for(lambda: bool(reports.finals(first)))
    generator.release.set()
    after = narrator.narrate(request("yard"))
    reports.wait_for(lambda: bool(reports.finals(after)))
    assert not reports.finals(after)[0].narration.cancelled


def test_a_real_request_pre_empts_the_prefetch(reports, threads) -> None:
    ahead = FakeGenerator(hold=True)  # writing ahead never finishes on its own
    narrator = NarrationQueue(reports, threads)
    narrator.use_generator(ahead)
    assert narrator.prefetch([request("yard"), request("mill")]) is True
    assert narrator.prefetching
    assert ahead.entered.wait(60.0)

    job = narrator.narrate(request("hall"))
    assert not narrator.prefetching
    # The narration needs the model, which the cancelled prefetch lets go of.
    ahead.release.set()
    reports.wait_for(lambda: bool(reports.finals(job)))
    assert isinstance(reports.finals(job)[0], NarrationCompleted)
    assert not reports.finals(job)[0].narration.cancelled
    assert ahead.calls == [("yard", False), ("hall", True)]
    assert ahead.cancelled == ["yard"]
    assert ahead.most_at_once == 1
    assert reports.of(Prefetched) == []


def test_prefetch_reports_each_request_written_in_full(reports, threads) -> None:
    generator = FakeGenerator()
    narrator = NarrationQueue(reports, threads)
    narrator.use_generator(generator)
    assert narrator.prefetch([request("yard"), request("mill")])
    reports.wait_for(lambda: len(reports.of(Prefetched)) == 2)
    assert [report.request.subject for report in reports.of(Prefetched)] == ["yard", "mill"]
    assert reports.of(NarrationStarted) == []  # nothing narrated, nothing shown
    threads.join()
    assert not narrator.prefetching


def test_prefetch_is_refused_when_it_cannot_help(reports, threads) -> None:
    narrator = NarrationQueue(reports, threads)
    assert not narrator.prefetch([request("yard")])  # no generator yet

    class Template(FakeGenerator):
        backend = "template"  # writes instantly: nothing to gain

    narrator.use_generator(Template())
    assert not narrator.prefetch([request("yard")])
    generator = FakeGenerator(hold=True)
    narrator.use_generator(generator)
    assert not narrator.prefetch([])
    narrator.narrate(request("hall"))
    assert not narrator.prefetch([request("yard")])  # the player's prose comes first
    generator.release.set()
    reports.wait_for(lambda: not narrator.busy)


def test_a_failing_generator_fails_its_job_and_the_queue_goes_on(reports, threads) -> None:
    generator = FakeGenerator(fail=("hall",))
    narrator = NarrationQueue(reports, threads)
    narrator.use_generator(generator)
    broken, fine = narrator.narrate(request("hall")), narrator.narrate(request("yard"))
    reports.wait_for(lambda: bool(reports.finals(fine)))
    [failed] = reports.finals(broken)
    assert isinstance(failed, NarrationFailed)
    assert failed.error == "the model fell over on hall"
    assert isinstance(reports.finals(fine)[0], NarrationCompleted)
    assert threads.errors == []  # a generator fault is the job's, not the loop's


class Died(BaseException):
    """Not an Exception: nothing in the loop catches it as a generator fault."""


@pytest.mark.parametrize("where", ["report", "generator"])
def test_a_loop_dying_mid_job_fails_that_job_and_a_new_loop_goes_on(threads, where) -> None:
    reports = Reports()
    died = []

    def report(item: Report) -> None:
        # A bug in the UI's bridge: reporting the first start raises.
        if where == "report" and isinstance(item, NarrationStarted) and not died:
            died.append(item.job)
            raise RuntimeError("the loop died")
        reports(item)

    class Dying(FakeGenerator):
        def generate(self, request, on_text=None, cancel=None) -> Narration:
            if where == "generator" and not died:
                died.append(request.subject)
                raise Died("the loop died")
            return super().generate(request, on_text, cancel)

    narrator = NarrationQueue(report, threads)
    narrator.use_generator(Dying())
    first, second = narrator.narrate(request("hall")), narrator.narrate(request("yard"))
    reports.wait_for(lambda: bool(reports.finals(second)))
    assert len(died) == 1
    [failed] = reports.finals(first)
    assert isinstance(failed, NarrationFailed) and failed.error == "the loop died"
    assert isinstance(reports.finals(second)[0], NarrationCompleted)
    threads.join()
    # The fault reached the thread's owner (in the game, the app's worker handler), and a
    # fresh loop narrated the rest.
    assert [str(error) for error in threads.errors] == ["the loop died"]
    assert len(threads.threads) == 2
    assert not narrator.busy


def test_a_report_failing_while_streaming_fails_only_that_job(threads) -> None:
    reports = Reports()

    def report(item: Report) -> None:
        if isinstance(item, NarrationStreamed) and item.job.request.subject == "hall":
            raise RuntimeError("the bridge broke")
        reports(item)

    narrator = NarrationQueue(report, threads)
    narrator.use_generator(FakeGenerator())
    first, second = narrator.narrate(request("hall")), narrator.narrate(request("yard"))
    reports.wait_for(lambda: bool(reports.finals(second)))
    [failed] = reports.finals(first)
    assert isinstance(failed, NarrationFailed) and failed.error == "the bridge broke"
    assert isinstance(reports.finals(second)[0], NarrationCompleted)


def test_close_stops_the_running_job_and_narrates_nothing_more(reports, threads) -> None:
    generator = FakeGenerator(hold=True)
    narrator = NarrationQueue(reports, threads)
    narrator.use_generator(generator)
    narrator.narrate(request("hall"))
    narrator.narrate(request("yard"))
    assert generator.entered.wait(60.0)
    narrator.close()
    threads.join()  # the loop ends: the generator saw its cancel
    assert generator.cancelled == ["hall"]
    assert [subject for subject, _ in generator.calls] == ["hall"]
    started = len(threads.threads)
    late = narrator.narrate(request("mill"))
    assert late.cancel.is_set()
    assert not narrator.prefetch([request("mill")])
    # Every loop has ended and none started since: nothing more can reach the generator.
    assert len(threads.threads) == started
    assert [subject for subject, _ in generator.calls] == ["hall"]
    assert not narrator.busy


def test_a_new_generator_writes_the_next_job_and_none_holds_the_queue(reports, threads) -> None:
    old, new = FakeGenerator(hold=True), FakeGenerator()
    narrator = NarrationQueue(reports, threads)
    narrator.use_generator(old)
    first = narrator.narrate(request("hall"))
    assert old.entered.wait(60.0)
    second = narrator.narrate(request("yard"))
    narrator.use_generator(None)  # a model is loading
    old.release.set()
    reports.wait_for(lambda: bool(reports.finals(first)))
    threads.join()  # the loop ended on finding no generator
    assert reports.finals(second) == []  # held until a generator is ready
    narrator.use_generator(new)
    reports.wait_for(lambda: bool(reports.finals(second)))
    assert new.calls == [("yard", True)]
