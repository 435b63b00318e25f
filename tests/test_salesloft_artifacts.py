"""tap-salesloft transcription_artifacts against the sandbox: files stored with sha256, signature never emitted, 403 skipped."""

from __future__ import annotations

import hashlib
import typing as t
from pathlib import Path

import pytest

from sandboxes.base import SandboxServer
from sandboxes.salesloft import NO_DOWNLOAD_ROLE_KEY, SalesloftSandbox
from taps.common.storage import open_url
from taps.salesloft.tap import TapSalesloft
from tests.helpers import run_tap, run_tap_cli


@pytest.fixture
def sandbox() -> t.Iterator[tuple[SalesloftSandbox, SandboxServer]]:
    app = SalesloftSandbox(budget=1_000_000, conversations=60)
    with SandboxServer(app) as server:
        yield app, server


def config_for(app: SalesloftSandbox, server: SandboxServer, storage: Path, **extra: t.Any) -> dict:
    return {**app.demo_config(server.url), "retry_base_seconds": 0.01, "rate_limit_reserve": 0,
            "storage_url": str(storage), **extra}


def test_every_transcript_file_is_stored_with_its_sha256(sandbox, tmp_path: Path) -> None:
    app, server = sandbox
    run = run_tap(TapSalesloft, config_for(app, server, tmp_path / "store"))

    records = {r["transcription_id"]: r for r in run.records["transcription_artifacts"]}
    assert set(records) == set(app.transcriptions)
    assert run.duplicates("transcription_artifacts") == {}
    for tr_id, record in records.items():
        expected = app.artifact_bytes(tr_id)
        assert record["sha256"] == hashlib.sha256(expected).hexdigest()
        assert record["size_bytes"] == len(expected)
        assert record["storage_uri"].endswith(f"/transcriptions/{tr_id}/artifact.json")
        with open_url(record["storage_uri"]) as fh:
            assert fh.read() == expected
        assert record["content_type"] == "application/json"
        assert "url" not in record
    assert "Signature" not in run.stdout and "/signed/" not in run.stdout
    # the signed URL got no bearer token (the sandbox answers 400 to one) and each file was fetched once
    assert len(app.requests_to(r"^/signed/")) == len(app.transcriptions)
    assert all("authorization" not in r.headers for r in app.requests_to(r"^/signed/"))


def test_rerun_overwrites_under_the_same_keys(sandbox, tmp_path: Path) -> None:
    app, server = sandbox
    config = config_for(app, server, tmp_path / "store")
    first = run_tap(TapSalesloft, config)
    second = run_tap(TapSalesloft, config)
    assert {r["storage_uri"] for r in second.records["transcription_artifacts"]} == {
        r["storage_uri"] for r in first.records["transcription_artifacts"]}
    stored = [p for p in (tmp_path / "store").rglob("*") if p.is_file()]
    assert len(stored) == len(app.transcriptions)


def test_truncated_and_failing_downloads_are_retried(sandbox, tmp_path: Path) -> None:
    app, server = sandbox
    app.faults.add("truncate", r"^/signed/", times=2)
    app.faults.add("status", r"^/signed/", status=503, times=1)
    app.faults.add("drop", r"^/signed/", times=1)
    run = run_tap(TapSalesloft, config_for(app, server, tmp_path / "store"))
    records = run.records["transcription_artifacts"]
    assert {r["transcription_id"] for r in records} == set(app.transcriptions)
    assert all(r["sha256"] == hashlib.sha256(app.artifact_bytes(r["transcription_id"])).hexdigest() for r in records)
    assert len(app.requests_to(r"^/signed/")) == len(app.transcriptions) + 4
    assert not list((tmp_path / "store").rglob("*.part-*"))


def test_missing_download_role_is_logged_once_and_the_rest_of_the_run_goes_on(sandbox, tmp_path: Path) -> None:
    app, server = sandbox
    result = run_tap_cli("taps.salesloft", config_for(app, server, tmp_path / "store", api_key=NO_DOWNLOAD_ROLE_KEY))

    assert result.returncode == 0, result.stderr[-2000:]
    assert {r["id"] for r in result.run.records["conversations"]} == set(app.conversations)
    assert {r["id"] for r in result.run.records["transcriptions"]} == set(app.transcriptions)
    assert result.run.records["transcription_sentences"]
    assert result.run.records["transcription_artifacts"] == []
    skipped = [line for line in result.stderr.splitlines() if "transcription_artifacts skipped" in line]
    assert len(skipped) == 1  # once, not once per transcription (the run summary repeats it as a gap)
    assert "Download Conversations role permission required" in skipped[0]
    assert "permission" in result.stderr.split("RUN SUMMARY", 1)[1]
    assert "Grant the 'Download Conversations' role permission" in result.stderr
    assert len(app.requests_to(r"/artifact$")) == 1  # skipped after the first refusal
    assert not app.requests_to(r"^/signed/")
    assert NO_DOWNLOAD_ROLE_KEY not in result.output


def test_download_files_off_stores_nothing(sandbox, tmp_path: Path) -> None:
    app, server = sandbox
    run = run_tap(TapSalesloft, config_for(app, server, tmp_path / "store", download_files=False))
    assert {r["id"] for r in run.records["transcriptions"]} == set(app.transcriptions)
    assert run.records["transcription_artifacts"] == []
    assert not app.requests_to(r"^/signed/")
    assert not list((tmp_path / "store").rglob("*"))


def test_without_storage_url_the_stream_is_skipped_with_a_warning(sandbox) -> None:
    app, server = sandbox
    config = {**app.demo_config(server.url), "retry_base_seconds": 0.01, "rate_limit_reserve": 0}
    result = run_tap_cli("taps.salesloft", config)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.run.records["transcription_artifacts"] == []
    assert "transcription_artifacts skipped: storage_url is not set" in result.stderr
    assert not app.requests_to(r"/artifact$")
