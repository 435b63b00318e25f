"""The run summary (taps.common.summary): its numbers against what the sandbox served and the tap emitted."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sandboxes.base import SandboxServer
from sandboxes.salesloft import SalesloftSandbox
from taps.common.summary import JSON_PREFIX, Gap, RunSummary, report_gap
from taps.knovvu.tap import TapKnovvu
from taps.salesloft.tap import TapSalesloft
from tests.helpers import catalog_for, run_tap, run_tap_cli
from tests.knovvu_fixtures import config_for as knovvu_config
from tests.knovvu_fixtures import make_server as knovvu_server


def summary_from(text: str) -> dict:
    """The one JSON summary line in ``text``."""
    lines = [line.split(JSON_PREFIX, 1)[1] for line in text.splitlines() if JSON_PREFIX in line]
    assert len(lines) == 1, text[-3000:]
    return json.loads(lines[0])


@pytest.fixture
def salesloft():
    app = SalesloftSandbox(budget=1_000_000, conversations=40)
    with SandboxServer(app) as server:
        yield app, server


def salesloft_config(app: SalesloftSandbox, server: SandboxServer) -> dict:
    return {**app.demo_config(server.url), "retry_base_seconds": 0.01, "rate_limit_reserve": 0}


def test_salesloft_summary_counts_records_partitions_requests_and_retries(salesloft, caplog) -> None:
    app, server = salesloft
    app.faults.add("status", r"/sentences$", after=2, times=3, status=503, body="<html>Service Unavailable</html>")
    config = salesloft_config(app, server)
    caplog.set_level("INFO")
    run = run_tap(TapSalesloft, config, catalog=catalog_for(TapSalesloft, config, {"conversation_extensive": False}))
    summary = summary_from(caplog.text)
    streams = summary["streams"]
    assert summary["tap"] == "tap-salesloft"
    assert summary["status"] == "ok"
    for name, records in run.records.items():
        assert streams[name]["records"] == len(records), name
    assert streams["transcription_sentences"]["records"] == sum(len(rows) for rows in app.sentences.values())
    # one partition per parent record; every HTTP answer the sandbox logged is counted once
    assert streams["transcription_sentences"]["partitions"] == len(run.records["transcriptions"])
    assert streams["transcription_sentences"]["retries"] == 3
    assert streams["transcription_sentences"]["requests"] == len(app.requests_to(r"/sentences$"))
    assert streams["conversations"]["requests"] == len(app.requests_to(r"^/v2/conversations$"))
    assert streams["conversations"]["retries"] == 0
    assert streams["conversations"]["last"] == max(r["updated_at"] for r in run.records["conversations"])
    # a retry is logged once: our line, not also the backoff library's
    assert caplog.text.count("Retrying Salesloft") == 3
    assert "Backing off" not in caplog.text
    # the human block names every stream
    block = [r.getMessage() for r in caplog.records if r.getMessage().startswith(("RUN SUMMARY", "  "))]
    assert block[0].startswith("RUN SUMMARY tap-salesloft: ok")
    assert any(line.startswith(f"  transcription_sentences: {len(run.records['transcription_sentences'])} records")
               for line in block)


def test_knovvu_summary_counts_files_bytes_days_and_names_retention_gaps(tmp_path: Path, caplog) -> None:
    server = knovvu_server(downloads_per_hour=100)
    try:
        app = server.app
        start = (datetime.now(timezone.utc) - timedelta(days=app.retention_days + 2)).isoformat()
        caplog.set_level("INFO")
        run = run_tap(TapKnovvu, knovvu_config(server, tmp_path / "store", start_date=start))
    finally:
        server.stop()
    streams = summary_from(caplog.text)["streams"]
    files = [r for r in run.records["recording_files"] if r["storage_uri"]]
    assert files
    assert streams["recording_files"]["files"] == len(files)
    assert streams["recording_files"]["bytes"] == sum(r["size_bytes"] for r in files)
    assert streams["recording_files"]["bytes"] == sum(p.stat().st_size for p in (tmp_path / "store").rglob("*.opus"))
    assert streams["recording_files"]["days"] == sorted(app.retained_days())
    assert streams["hourly_archives"]["partitions"] == len(run.records["daily_recording_manifests"])
    # the two days before the tenant's retention answered 404: named, with the reason
    gaps = streams["daily_recording_manifests"]["gaps"]
    assert [g["reason"] for g in gaps] == ["retention"]
    oldest = datetime.fromisoformat(app.retained_days()[0]).date()
    lost = [(oldest - timedelta(days=n)).isoformat() for n in (2, 1)]
    assert gaps[0]["what"] == ", ".join(lost)
    assert f"GAP {', '.join(lost)}: retention" in caplog.text


def test_summary_lines_and_gap_reasons() -> None:
    ticks = iter([100.0, 112.34])
    summary = RunSummary("tap-x", clock=lambda: next(ticks))
    tally = summary.tally("files")
    tally.add_partition({"date": "2026-11-28"})
    tally.add_partition(None)
    tally.add_record({"date": "2026-11-28", "storage_uri": "file:///a", "size_bytes": 1500, "t": "b"}, "t")
    tally.add_record({"date": "2026-11-29", "storage_uri": None, "size_bytes": None, "t": "a"}, "t")
    tally.gaps.append(Gap("2026-11-20", "retention", "gone"))
    summary.status = "failed"
    lines = summary.lines()
    assert lines[0] == "RUN SUMMARY tap-x: failed in 12.3 s, 1 gap(s)"
    assert lines[1] == ("  files: 2 records, 1 partitions, 1 files (1.5 kB) stored, 0 requests, 0 retries; "
                        "days 2026-11-28..2026-11-29 (2); a..b")
    assert lines[2] == "    GAP 2026-11-20: retention. gone"
    data = json.loads(lines[3].removeprefix(JSON_PREFIX))
    assert data["streams"]["files"]["days"] == ["2026-11-28", "2026-11-29"]
    with pytest.raises(ValueError, match="gap reason must be one of"):
        report_gap(object(), "x", "bad reason")  # type: ignore[arg-type]


def test_metric_lines_are_off_by_default_and_one_switch_turns_them_on(salesloft, monkeypatch) -> None:
    app, server = salesloft
    config = salesloft_config(app, server)
    catalog = catalog_for(TapSalesloft, config, {"conversation_extensive": False})
    quiet = run_tap_cli("taps.salesloft", config, catalog=catalog)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "METRIC" not in quiet.stderr
    assert "with context keys" not in quiet.stderr  # per-partition chatter only at DEBUG
    assert summary_from(quiet.stderr)["streams"]["transcriptions"]["records"] == len(quiet.run.records["transcriptions"])
    monkeypatch.setenv("TAPS_LOG_METRICS", "on")
    loud = run_tap_cli("taps.salesloft", config, catalog=catalog)
    assert loud.returncode == 0
    assert "METRIC" in loud.stderr
    assert len(quiet.stderr.splitlines()) < len(loud.stderr.splitlines()) / 3


def test_sandbox_port_clash_names_the_port_and_how_to_stop_the_other(capsys) -> None:
    import socket

    from sandboxes.cli import main as sandboxes_main

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert sandboxes_main(["knovvu", "--port-base", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}: the port is already in use" in err
    assert f"ss -ltnp 'sport = :{port}'" in err
    assert "kill <pid>" in err


def test_download_progress_logs_at_most_every_interval_with_bytes_total_and_rate(caplog) -> None:
    import logging

    from taps.common.progress import DownloadProgress

    now = [0.0]
    logger = logging.getLogger("tap-test.progress")
    caplog.set_level("INFO", logger="tap-test.progress")
    report = DownloadProgress("Knovvu 2026-11-28 hour 14 archive", logger, clock=lambda: now[0])
    total = 120_000_000
    for second in range(1, 31):  # 4 MB/s for 30 s, a chunk every second
        now[0] = float(second)
        report(min(4_000_000 * second, total), total)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "Downloading Knovvu 2026-11-28 hour 14 archive: 40.0 MB of 120.0 MB (33%), 4.0 MB/s",
        "Downloading Knovvu 2026-11-28 hour 14 archive: 80.0 MB of 120.0 MB (66%), 4.0 MB/s",
        "Downloading Knovvu 2026-11-28 hour 14 archive: 120.0 MB of 120.0 MB (100%), 4.0 MB/s",
    ]
    caplog.clear()
    quick = DownloadProgress("Zoom file f1", logger, clock=lambda: now[0])
    now[0] += 2
    quick(10, None)
    quick(5_000, 5_000)
    assert caplog.records == []  # a download shorter than the interval says nothing
    slow = DownloadProgress("Salesloft artifact a1", logger, clock=lambda: now[0])
    now[0] += 12
    slow(3_000_000, None)
    assert [r.getMessage() for r in caplog.records] == [
        "Downloading Salesloft artifact a1: 3.0 MB (size not announced), 250.0 kB/s"]


def test_startup_chatter_is_debug_only_and_the_unsorted_warning_is_written_once_per_run() -> None:
    from sandboxes.foundry_aip import FoundryAIPSandbox

    app = FoundryAIPSandbox()
    with SandboxServer(app) as server:
        config = {**app.demo_config(server.url), "retry_base_seconds": 0.01}
        result = run_tap_cli("taps.foundry_aip", config)
    assert result.returncode == 0, result.stderr[-2000:]
    assert summary_from(result.stderr)["streams"]["sessions"]["records"] > 0
    assert len(config["agent_rids"]) >= 2  # two partitions, each would have warned
    assert result.stderr.count("Stream is assumed to be unsorted") == 1, result.stderr
    assert "as child stream to" not in result.stderr
    assert "Skipping parse of env var settings" not in result.stderr
