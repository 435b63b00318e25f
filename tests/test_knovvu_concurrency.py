"""tap-knovvu with ``max_concurrency``: a day's hours download at once, the output is a serial run's.

Against the sandbox over real HTTP with a small latency, so downloads overlap for
real (``app.max_in_flight`` counts the requests answered at once): the records
(in order), every STATE value and the stored files with their sha256 equal a
serial run's; a 429 on one ZIP while others are in flight stops the run with
nothing lost (the next run fetches exactly the hours still missing); links that
expire together are renewed with one manifest call, by the main thread.
"""

from __future__ import annotations

import hashlib
import typing as t
from pathlib import Path

from typing_extensions import override

from sandboxes.base import SandboxServer
from sandboxes.knovvu import ERR_RATE, KnovvuSandbox
from taps.knovvu.tap import TapKnovvu
from tests.helpers import run_tap
from tests.knovvu_fixtures import config_for, file_key, make_server
from tests.test_concurrency import comparable

BIG = 10_000
LATENCY_SECONDS = 0.05


def stored_files(root: Path) -> dict[str, str]:
    """Every file under ``root`` (relative path -> sha256 of its bytes)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def available_hours(app) -> set[tuple[str, str]]:
    """Every (day, hour) with an archive."""
    return {(d, h) for d in app.retained_days() for h, s in app.days[d].items() if s["status"] == "available"}


def manifest_days(app) -> list[str]:
    """Days of the manifest calls, in order."""
    return [r.path.rsplit("/", 1)[-1] for r in app.requests_to("daily-audio-recordings")]


def test_concurrent_equals_serial_and_hours_overlap(tmp_path: Path) -> None:
    srv = make_server(downloads_per_hour=BIG)
    try:
        app = srv.app
        app.latency_seconds = LATENCY_SECONDS
        outputs, in_flight = {}, {}
        for workers in (1, 8):
            storage = tmp_path / f"storage-{workers}"
            app.max_in_flight = 0
            run = run_tap(TapKnovvu, config_for(srv, storage, max_concurrency=workers))
            assert run.error is None
            in_flight[workers] = app.max_in_flight
            outputs[workers] = (comparable(run, str(storage)), stored_files(storage))
        serial, concurrent = outputs[1], outputs[8]
        assert len(serial[0]["records"]["recording_files"]) == len(app.expected_files())
        assert concurrent[0]["records"] == serial[0]["records"]  # every stream, in emission order
        assert concurrent[0]["states"] == serial[0]["states"]
        assert concurrent[1] == serial[1] and len(serial[1]) == len(app.expected_files())  # files and sha256
        # serial: the next request can reach the sandbox while the handler of the last one is still closing,
        # so the counter may read 2 (seen once in CI); 8 workers with latency overlap beyond that
        assert in_flight[1] <= 2 < in_flight[8], in_flight
    finally:
        srv.stop()


def test_429_on_one_zip_mid_fan_out_loses_nothing(tmp_path: Path) -> None:
    """Knovvu answers 429 to the third ZIP GET while the day's other hours are in flight: the run stops,
    emits the hours already downloaded (and only those are marked done), and the next run fetches exactly
    the rest; every hour downloaded once, every file stored with its sha256."""
    srv = make_server(downloads_per_hour=BIG)
    try:
        app = srv.app
        app.latency_seconds = LATENCY_SECONDS
        app.faults.add("status", r"^/minio/", status=429, body={"error": ERR_RATE}, times=1, after=2)
        config = config_for(srv, tmp_path / "store", max_concurrency=8)
        first = run_tap(TapKnovvu, config)
        assert first.error is None and app.faults.fired
        first_hours = {(r["date"], r["hour"]) for r in first.records["hourly_archives"] if r["status"] == "available"}
        assert first_hours == set(app.served)  # every ZIP served was emitted: no download wasted
        assert len(first_hours) < len(available_hours(app))
        assert len({d for d, _ in app.served}) == 1  # no GET of a later day once the 429 was seen
        bookmark = first.final_state["bookmarks"]["daily_recording_manifests"]
        assert bookmark["zip_gets_counted"] is True
        day = next(iter(first_hours))[0]
        assert {(day, h) for h in bookmark["incomplete_days"][day]} >= first_hours  # done = emitted
        second = run_tap(TapKnovvu, config, state=first.final_state)
        assert second.error is None
        seen = first.records["recording_files"] + second.records["recording_files"]
        assert len(seen) == len({file_key(r) for r in seen}) == len(app.expected_files())
        expected = app.expected_files()
        assert all(r["sha256"] == expected[file_key(r)]["sha256"] for r in seen)
        assert sorted(app.served) == sorted(available_hours(app))  # each hour downloaded exactly once
        assert second.final_state["bookmarks"]["daily_recording_manifests"]["incomplete_days"] == {}
    finally:
        srv.stop()


class FirstDayLinksExpire(KnovvuSandbox):
    """Every link of the first manifest of ``day`` has expired by the time it is used."""

    def __init__(self, **options: t.Any) -> None:
        """A sandbox whose first available day's first manifest hands out expired links."""
        super().__init__(**options)
        self.expiring_day = min(d for d, _ in available_hours(self))
        self.expired_once = False

    @override
    def _manifest_body(self, day: str, base: str) -> dict:
        body = super()._manifest_body(day, base)
        if day == self.expiring_day and not self.expired_once:
            self.expired_once = True
            self.expire_links()
        return body


def test_links_expiring_together_are_renewed_once_by_the_main_thread(tmp_path: Path) -> None:
    """Every link of the first day's manifest expires while the day's hours are in flight: one fresh
    manifest for that day (fetched by the main thread), every hour fetched with a fresh link, nothing lost."""
    srv = SandboxServer(FirstDayLinksExpire(downloads_per_hour=BIG)).start()
    try:
        app = t.cast(FirstDayLinksExpire, srv.app)
        app.latency_seconds = LATENCY_SECONDS
        run = run_tap(TapKnovvu, config_for(srv, tmp_path / "store", max_concurrency=8))
        assert run.error is None
        days = manifest_days(app)
        assert days.count(app.expiring_day) == 2
        assert all(days.count(d) == 1 for d in set(days) - {app.expiring_day})
        expired = [r for r in app.requests_to(r"^/minio/") if f"/{app.expiring_day}/" in r.path]
        hours = sorted(h for d, h in available_hours(app) if d == app.expiring_day)
        assert len(expired) > len(hours)  # at least the first hour's link was met expired and fetched again
        assert {file_key(r) for r in run.records["recording_files"]} == set(app.expected_files())
        assert sorted(app.served) == sorted(available_hours(app))  # each hour served once, with a fresh link
    finally:
        srv.stop()
