"""Download progress lines (taps.common.progress) over real HTTP: Knovvu ZIPs, Zoom files, Salesloft artifacts.

The sandbox's ``slow`` fault sends a body in 256 KiB pieces with a pause before each, so a download
takes seconds; ``progress_interval_seconds`` is shortened so the tests stay quick.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from sandboxes.base import SandboxServer
from sandboxes.knovvu import KnovvuSandbox
from sandboxes.salesloft import SalesloftSandbox
from sandboxes.zoom_aic import ZoomAICSandbox
from taps.knovvu.tap import TapKnovvu
from taps.zoom_aic.tap import TapZoomAIC
from tests.helpers import run_tap, run_tap_cli

LINE = re.compile(r"Downloading (?P<what>.+): (?P<done>[\d.]+ [kMG]?B) of (?P<total>[\d.]+ [kMG]?B) "
                  r"\((?P<share>\d+)%\), (?P<rate>[\d.]+ [kMG]?B)/s$")


def progress_records(caplog: pytest.LogCaptureFixture) -> list:
    return [r for r in caplog.records if r.getMessage().startswith("Downloading ")]


def test_knovvu_zip_progress_carries_bytes_of_total_and_rate_at_most_every_interval(tmp_path: Path, caplog) -> None:
    app = KnovvuSandbox(retention_days=1, downloads_per_hour=1_000_000)
    day = app.documented_day
    chunks = 12
    app.set_bulk_day(day, chunks * 1024 * 1024, files=20)
    size = app.archive_size(day, "00")
    # 48 pieces of 256 KiB, 0.04 s apart: at least 2 s for the ZIP, one progress call per 1 MiB chunk
    app.faults.add("slow", r"\.zip$", seconds=0.04)
    interval = 1.0
    with SandboxServer(app) as server:
        config = {**app.demo_config(server.url), "storage_url": str(tmp_path / "store"), "downloads_per_hour": 0,
                  "start_date": f"{day}T00:00:00Z", "progress_interval_seconds": interval}
        caplog.set_level("INFO")
        run = run_tap(TapKnovvu, config)
    assert run.records["recording_files"]
    lines = progress_records(caplog)
    messages = [r.getMessage() for r in lines]
    assert len(lines) >= 2, messages
    assert len(lines) < chunks, messages  # rate limited: fewer lines than chunks
    for message in messages:
        match = LINE.match(message)
        assert match, message
        assert match["what"] == f"Knovvu {day} hour 00 archive"
        assert match["total"] == f"{size / 1e6:.1f} MB"
        assert "?" not in message and "minio" not in message  # never the presigned URL
    assert messages[-1].endswith(f"{size / 1e6:.1f} MB of {size / 1e6:.1f} MB (100%)," + messages[-1].split(",")[-1])
    shares = [int(LINE.match(m)["share"]) for m in messages]  # type: ignore[index]
    assert shares == sorted(shares)
    running = lines[:-1]  # the last line closes the download when the total is reached
    gaps = [b.created - a.created for a, b in itertools.pairwise(running)]
    assert all(gap >= interval * 0.95 for gap in gaps), gaps


def test_knovvu_zip_retries_are_counted_in_the_run_summary(tmp_path: Path, caplog) -> None:
    from tests.test_summary import summary_from

    app = KnovvuSandbox(retention_days=1, downloads_per_hour=1_000_000)
    app.faults.add("status", r"\.zip$", times=2, status=503, body="<html>Service Unavailable</html>")
    with SandboxServer(app) as server:
        config = {**app.demo_config(server.url), "storage_url": str(tmp_path / "store"), "downloads_per_hour": 0,
                  "start_date": f"{app.documented_day}T00:00:00Z", "retry_base_seconds": 0.01}
        caplog.set_level("INFO")
        run_tap(TapKnovvu, config)
    assert [kind for kind, _ in app.faults.fired] == ["status", "status"]
    streams = summary_from(caplog.text)["streams"]
    assert streams["hourly_archives"]["retries"] == 2  # the stream that downloads the ZIPs
    assert streams["hourly_archives"]["requests"] == len(app.requests_to(r"\.zip$"))


def test_zoom_file_progress_names_the_file_not_its_url_and_quick_files_log_nothing(tmp_path: Path, caplog) -> None:
    app = ZoomAICSandbox()
    # two history downloads are slow (one piece after 2 s): with a 1 s interval each logs one final line;
    # the other downloads take well under a second (a busy machine included) and log nothing
    app.faults.add("slow", r"/conversations/download/", seconds=2.0, times=2)
    with SandboxServer(app) as server:
        config = {**app.demo_config(server.url), "end_date": "2021-10-31T00:00:00Z",
                  "storage_url": str(tmp_path / "storage"), "retry_base_seconds": 0.01,
                  "progress_interval_seconds": 1.0, "max_concurrency": 1}
        caplog.set_level("INFO")
        run = run_tap(TapZoomAIC, config)
    histories = [r for r in run.records["conversation_histories"] if r["storage_uri"]]
    assert len(histories) > 2  # the other downloads were quick
    messages = [r.getMessage() for r in progress_records(caplog)]
    assert len(messages) == 2, messages
    for message in messages:
        match = LINE.match(message)
        assert match, message
        assert match["what"].startswith("Zoom file ") and "/history/" in match["what"]
        assert match["share"] == "100"
        assert "download" not in match["what"] and "?" not in message


def test_salesloft_artifact_progress_in_a_cli_run(tmp_path: Path) -> None:
    app = SalesloftSandbox(budget=1_000_000, conversations=10)
    app.faults.add("slow", r"^/signed/transcripts/", seconds=2.0, times=1)
    with SandboxServer(app) as server:
        config = {**app.demo_config(server.url), "retry_base_seconds": 0.01, "rate_limit_reserve": 0,
                  "storage_url": str(tmp_path / "store"), "progress_interval_seconds": 1.0}
        result = run_tap_cli("taps.salesloft", config)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if "Downloading Salesloft artifact" in line]
    assert len(lines) == 1, lines
    assert re.search(r"Downloading Salesloft artifact of transcription \S+: [\d.]+ [kMG]?B of [\d.]+ [kMG]?B "
                     r"\(100%\), [\d.]+ [kMG]?B/s", lines[0]), lines[0]
    assert "signed" not in lines[0] and "Signature" not in lines[0]
