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
from textgamegen.narration.generator import Generator, Narration
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


class FakeGenerator(Generator):
    """Streams "<subject> one two three" word by word; ``hold`` makes it wait (until
    released or cancelled) before each word after the first ``free_words`` of a call, and
    sets ``holding`` when it does; ``fail`` names subjects it raises on. With ``resumes``
    it goes on from ``request.begun`` (streamed first, as the model's opening is)."""

    backend = "fake"
    name = "fake"
    device = "cpu"

    def __init__(
        self,
        *,
        hold: bool = False,
        fail: tuple[str, ...] = (),
        free_words: int = 0,
        resumes: bool = False,
    ) -> None:
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.fail = fail
        self.free_words = free_words
        self.resumes = resumes
        self.calls: list[tuple[str, bool]] = []  # (subject, streamed?)
        self.begun: list[str] = []  # each call's request.begun
        self.cancelled: list[str] = []
        self.running = 0
        self.most_at_once = 0
        self.entered = threading.Event()
        self.holding = threading.Event()
        self._lock = threading.Lock()

    def generate(self, request, on_text=None, cancel=None) -> Narration:
        with self._lock:
            self.calls.append((request.subject, on_text is not None))
            self.begun.append(request.begun)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.entered.set()
        try:
            if request.subject in self.fail:
                raise RuntimeError(f"the model fell over on {request.subject}")
            words = [request.subject, "one", "two", "three"]
            start = len(request.begun.split()) if self.resumes else 0
            if start and on_text is not None:
                on_text(request.begun)
            for index, word in enumerate(words):
                if index < start:
                    continue
                if index - start >= self.free_words:
                    if not self.release.is_set():
                        self.holding.set()
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
    # The narration needs the model, which the cancelled prefetch lets go of.
    reports.wait_for(lambda: not narrator.prefetching)
    ahead.release.set()
    reports.wait_for(lambda: bool(reports.finals(job)))
    assert isinstance(reports.finals(job)[0], NarrationCompleted)
    assert not reports.finals(job)[0].narration.cancelled
    # A line is written ahead as the player's are: one candidate, streamed.
    assert ahead.calls == [("yard", True), ("hall", True)]
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


# -- writing ahead: the player's requests first, and nothing written twice -----------------


def streamed_to(reports: Reports, job: NarrationJob) -> str:
    return "".join(r.text for r in reports.of(NarrationStreamed) if r.job is job)


def test_the_players_request_for_the_line_being_written_ahead_takes_it_over(
    reports, threads
) -> None:
    generator = FakeGenerator(hold=True, free_words=2)
    narrator = NarrationQueue(reports, threads)
    narrator.use_generator(generator)
    assert narrator.prefetch([request("yard"), request("mill")])
    assert generator.holding.wait(60.0)  # "yard one" is written, the rest is not

    job = narrator.narrate(request("yard"))  # the player walks into the yard
    assert job.ahead == "yard one"
    reports.wait_for(lambda: streamed_to(reports, job) == "yard one")  # shown at once
    generator.release.set()
    reports.wait_for(lambda: bool(reports.finals(job)))
    (final,) = reports.finals(job)
    assert isinstance(final, NarrationCompleted) and not final.narration.cancelled
    assert final.narration.text == streamed_to(reports, job) == "yard one two three"
    assert reports.of(NarrationStarted)[0].job is job
    threads.join()
    # Written once, and nothing more is written ahead before the player's prose is read.
    assert generator.calls == [("yard", True)]
    assert reports.of(Prefetched) == []
    assert not narrator.busy and not narrator.prefetching


def test_esc_stops_a_line_the_player_took_over(reports, threads) -> None:
    generator = FakeGenerator(hold=True, free_words=1)
    narrator = NarrationQueue(reports, threads)
    narrator.use_generator(generator)
    assert narrator.prefetch([request("yard")])
    assert generator.holding.wait(60.0)
    job = narrator.narrate(request("yard"))
    assert narrator.cancel()
    reports.wait_for(lambda: bool(reports.finals(job)))
    (final,) = reports.finals(job)
    assert isinstance(final, NarrationCompleted) and final.narration.cancelled
    assert generator.cancelled == ["yard"]
    after = narrator.narrate(request("hall"))  # the queue goes on
    generator.release.set()
    reports.wait_for(lambda: bool(reports.finals(after)))
    assert not reports.finals(after)[0].narration.cancelled


def test_a_line_cut_short_by_the_player_is_finished_later_from_its_words(reports, threads) -> None:
    generator = FakeGenerator(hold=True, free_words=2, resumes=True)
    narrator = NarrationQueue(reports, threads)
    narrator.use_generator(generator)
    assert narrator.prefetch([request("yard"), request("mill")])
    assert generator.holding.wait(60.0)  # "yard one" written

    job = narrator.narrate(request("hall"))  # the player does something else
    reports.wait_for(lambda: not narrator.prefetching)
    generator.release.set()
    reports.wait_for(lambda: bool(reports.finals(job)))
    assert narrator.prefetch([request("yard"), request("mill")])
    reports.wait_for(lambda: len(reports.of(Prefetched)) == 2)
    # The player's request came first; then the yard went on from its last whole word
    # (a line cut mid-token may end inside a word), and then the mill.
    assert generator.calls == [("yard", True), ("hall", True), ("yard", True), ("mill", True)]
    assert generator.begun == ["", "", "yard", ""]
    assert [(r.request.subject, r.text) for r in reports.of(Prefetched)] == [
        ("yard", "yard one two three"),
        ("mill", "mill one two three"),
    ]


def test_a_line_cut_short_is_forgotten_once_the_game_no_longer_asks_for_it(
    reports, threads
) -> None:
    generator = FakeGenerator(hold=True, free_words=2, resumes=True)
    narrator = NarrationQueue(reports, threads)
    narrator.use_generator(generator)
    assert narrator.prefetch([request("yard")])
    assert generator.holding.wait(60.0)
    job = narrator.narrate(request("hall"))
    generator.release.set()
    reports.wait_for(lambda: bool(reports.finals(job)) and not narrator.prefetching)
    # The player walked away: the game asks for the mill now, not the yard.
    assert narrator.prefetch([request("mill")])
    reports.wait_for(lambda: len(reports.of(Prefetched)) == 1 and not narrator.prefetching)
    assert narrator.prefetch([request("yard")])  # back again: written from nothing
    reports.wait_for(lambda: len(reports.of(Prefetched)) == 2)
    assert generator.calls == [("yard", True), ("hall", True), ("mill", True), ("yard", True)]
    assert generator.begun == ["", "", "", ""]


def test_a_line_written_in_full_as_the_player_asks_for_it_is_not_written_again(
    reports, threads
) -> None:
    generator = FakeGenerator()
    narrator = NarrationQueue(reports, threads)
    narrator.use_generator(generator)
    assert narrator.prefetch([request("yard")])
    # Written, and reported; the game has not taken it in yet when the player asks.
    reports.wait_for(lambda: len(reports.of(Prefetched)) == 1 and not narrator.prefetching)
    job = narrator.narrate(request("yard"))
    reports.wait_for(lambda: bool(reports.finals(job)))
    (final,) = reports.finals(job)
    assert isinstance(final, NarrationCompleted)
    assert final.narration.text == streamed_to(reports, job) == job.ahead == "yard one two three"
    assert generator.calls == [("yard", True)]


def test_the_players_requests_are_written_in_order_before_writing_ahead(reports, threads) -> None:
    generator = FakeGenerator(hold=True, free_words=1)
    narrator = NarrationQueue(reports, threads)
    narrator.use_generator(generator)
    assert narrator.prefetch([request("yard"), request("mill")])
    assert generator.holding.wait(60.0)
    first = narrator.narrate(request("hall"))
    # The yard is the player's too now, but after the hall: it takes nothing over.
    second = narrator.narrate(request("yard"))
    assert second.ahead == ""
    assert not narrator.prefetch([request("mill")])  # not while the player's prose waits
    generator.release.set()
    reports.wait_for(lambda: bool(reports.finals(second)))
    finals = reports.of(*FINAL)
    assert [report.job for report in finals] == [first, second]
    assert generator.calls == [("yard", True), ("hall", True), ("yard", True)]
    assert generator.most_at_once == 1


def test_a_command_without_prose_lets_writing_ahead_go_on_unless_its_line_is_stale(
    tiny_game, reports, threads
) -> None:
    from textgamegen.play.session import PlaySession

    tiny_game.cache["room:study"] = "A study, written earlier."  # the step north asks nothing
    for command in ("take brass key", "unlock vault door"):
        tiny_game.step(command)
    generator = FakeGenerator(hold=True, free_words=1, resumes=True)
    session = PlaySession(tiny_game, start=threads, relay=reports)
    session.use_generator(generator)
    assert session.prefetch()
    assert generator.holding.wait(60.0)
    assert generator.calls == [("Vault", True)]  # the one room one step away first

    session.step("inventory")  # no prose: the vault is still next door, and goes on
    assert session.prefetching and generator.cancelled == []
    session.step("north")  # to the study, shown from the cache: the vault is not next door
    # Its line is stopped and forgotten; writing ahead goes on with the study's neighbours.
    reports.wait_for(lambda: generator.cancelled == ["Vault"])
    generator.release.set()
    reports.wait_for(lambda: not session.prefetching)
    written = [report.request.cache_key for report in reports.of(Prefetched)]
    assert written == ["room:hall", "item:box", "item:note", "item:lever"]
    assert generator.begun == ["", "", "", "", ""]
    assert session.prefetch()  # the vault is not asked for from here: nothing to resume
    reports.wait_for(lambda: not session.prefetching)
    assert [subject for subject, _ in generator.calls].count("Vault") == 1
