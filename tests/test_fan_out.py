"""``FanOut.start_all``: independent jobs in the pool, results taken in order; inline when serial.
``FanOut.start``: keyed work, kept when already pending (started early), taken or discarded by key."""

from __future__ import annotations

import functools
import threading
import time

import pytest

from taps.common.concurrency import FanOut


def test_start_all_runs_jobs_at_once_and_keeps_their_order() -> None:
    fan_out = FanOut(4)
    started = threading.Barrier(4, timeout=5)  # all four must be running together to pass it

    def job(n: int) -> int:
        started.wait()
        time.sleep(0.01 * (4 - n))  # the last job finishes first
        return n

    try:
        futures = fan_out.start_all([functools.partial(job, n) for n in range(4)])
        assert [f.result(timeout=5) for f in futures] == [0, 1, 2, 3]
    finally:
        fan_out.shutdown()


def test_start_all_serial_runs_inline_and_stops_at_the_first_failure() -> None:
    fan_out = FanOut(1)
    ran: list[int] = []

    def job(n: int) -> int:
        ran.append(n)
        if n == 1:
            raise ValueError("file 1 did not download intact")
        return n

    futures = fan_out.start_all([functools.partial(job, n) for n in range(4)])
    assert ran == [0, 1]  # ran in this thread, before start_all returned; jobs 2 and 3 never ran
    assert futures[0].result() == 0
    with pytest.raises(ValueError, match="file 1"):
        futures[1].result()
    assert futures[2].cancelled() and futures[3].cancelled()


def test_start_all_one_job_runs_inline_even_with_a_pool() -> None:
    fan_out = FanOut(8)
    futures = fan_out.start_all([threading.current_thread])
    assert futures[0].result() is threading.current_thread()
    assert fan_out._pool is None


def test_start_keeps_work_already_pending_under_a_key_and_ahead_reuses_it() -> None:
    fan_out = FanOut(2)
    ran: list[str] = []
    lock = threading.Lock()

    def work(name: str) -> str:
        with lock:
            ran.append(name)
        return name

    try:
        assert fan_out.start([(("k", 1), lambda: work("early"))]) == [("k", 1)]
        fan_out.start([(("k", 1), lambda: work("again"))])  # pending: kept, not resubmitted
        items = list(fan_out.ahead([1, 2], lambda n: [(("k", n), functools.partial(work, f"ahead {n}"))]))
        assert items == [1, 2]
        results = {n: fan_out.take(("k", n)).result(timeout=5) for n in (1, 2)}  # type: ignore[union-attr]
        assert results == {1: "early", 2: "ahead 2"}
        assert sorted(ran) == ["ahead 2", "early"]
        assert fan_out.take(("k", 1)) is None
    finally:
        fan_out.shutdown()


def test_discard_cancels_work_started_early_and_not_taken() -> None:
    fan_out = FanOut(2)
    gate = threading.Event()
    ran: list[str] = []
    try:
        fan_out.start([(("busy", n), gate.wait) for n in range(2)])  # both workers held
        fan_out.start([(("early", 1), lambda: ran.append("early"))])
        fan_out.discard([("early", 1)])
        assert fan_out.take(("early", 1)) is None
        gate.set()
        for n in range(2):
            fan_out.take(("busy", n)).result(timeout=5)  # type: ignore[union-attr]
        assert ran == []  # cancelled before a worker took it
    finally:
        gate.set()
        fan_out.shutdown()
