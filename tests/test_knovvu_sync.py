"""tap-knovvu against its emulator over real HTTP: completeness, resume, budget, errors."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import date, timedelta
from pathlib import Path

import pytest

from sandboxes.knovvu import ERR_LINK_EXPIRED, ERR_RATE, ERR_TOKEN
from taps.knovvu.tap import TapKnovvu
from tests.helpers import run_tap, run_tap_cli
from tests.knovvu_fixtures import Clock, clock, config_for, file_key, make_server, stored_sha256  # noqa: F401

BIG = 10_000  # downloads per hour for tests that are not about the limit


@pytest.fixture
def server():
    """A sandbox without a practical download limit."""
    srv = make_server(downloads_per_hour=BIG)
    yield srv
    srv.stop()


def downloads(app) -> list:
    """Presigned download requests the sandbox saw."""
    return app.requests_to(r"^/minio/")


def manifest_days(app) -> list[str]:
    """Days of the manifest calls, in order."""
    return [r.path.rsplit("/", 1)[-1] for r in app.requests_to("daily-audio-recordings")]


def available_hours(app) -> set[tuple[str, str]]:
    """Every (day, hour) with an archive."""
    return {(d, h) for d in app.retained_days() for h, s in app.days[d].items() if s["status"] == "available"}


def test_every_recording_stored_once_with_right_sha256(server, tmp_path: Path) -> None:
    app = server.app
    run = run_tap(TapKnovvu, config_for(server, tmp_path / "store"))
    expected = app.expected_files()
    files = run.records["recording_files"]
    assert not run.duplicates("recording_files")
    assert {file_key(r) for r in files} == set(expected)
    for record in files:
        want = expected[file_key(record)]
        assert record["sha256"] == want["sha256"] == stored_sha256(record["storage_uri"])
        assert record["size_bytes"] == want["size"]
        for field in ("originalPath", "messageId", "type", "timestamp", "originalSizeBytes", "externalConversationId"):
            assert record[field] == want[field]
        assert record["storage_key"].startswith(f"{record['date']}/{record['hour']}/")
    sessions = {(r["date"], r["hour"], r["sessionId"]): r for r in run.records["recording_sessions"]}
    want_sessions = {(d, h, s["sessionId"]): s for (d, h) in available_hours(app)
                     for s in app.metadata(d, h)["sessions"]}
    assert set(sessions) == set(want_sessions)
    for key, s in want_sessions.items():
        assert sessions[key]["externalConversationId"] == s["externalConversationId"]
        assert sessions[key]["file_count"] == len(s["files"])
    # every hour's ZIP was downloaded once and hashed as served
    assert len(downloads(app)) == len(available_hours(app))
    for r in run.records["hourly_archives"]:
        if r["status"] == "available":
            assert r["sha256"] == hashlib.sha256(app.archive_bytes(r["date"], r["hour"])).hexdigest()
            assert r["size_bytes"] == r["sizeBytes"]
            assert "?" not in r["url"]
    # the documented example manifest, verbatim apart from its dates
    manifests = {r["date"]: r for r in run.records["daily_recording_manifests"]}
    assert set(manifests) == set(app.retained_days())
    doc = manifests[app.documented_day]
    assert (doc["totalSessions"], doc["totalFiles"], doc["totalSizeBytes"], doc["retentionDays"]) == (287, 1543, 1567890432, 3)
    doc_hours = {r["hour"]: r for r in run.records["hourly_archives"] if r["date"] == app.documented_day}
    assert doc_hours["00"]["sizeBytes"] == 15360000 and doc_hours["01"]["status"] == "no_data"
    assert run.final_state["bookmarks"]["daily_recording_manifests"]["replication_key_value"] == app.documented_day
    assert run.final_state["bookmarks"]["daily_recording_manifests"]["incomplete_days"] == {}


def test_rerun_downloads_nothing(server, tmp_path: Path) -> None:
    config = config_for(server, tmp_path / "store")
    first = run_tap(TapKnovvu, config)
    before = len(server.app.requests)
    second = run_tap(TapKnovvu, config, state=first.final_state)
    assert not any(second.records.values())
    assert [r.path for r in server.app.requests[before:]] == []


def test_presigned_urls_get_no_authorization_and_today_is_never_asked(server, tmp_path: Path) -> None:
    run_tap(TapKnovvu, config_for(server, tmp_path / "store"))
    app = server.app
    assert downloads(app) and all("authorization" not in r.headers for r in downloads(app))
    manifests = app.requests_to("daily-audio-recordings")
    assert all(r.headers["authorization"].startswith("Bearer ") for r in manifests)
    assert max(manifest_days(app)) < app.today.isoformat()
    assert manifest_days(app) == sorted(manifest_days(app))


def test_one_run_archives_every_hour_when_only_manifest_calls_are_limited(tmp_path: Path) -> None:
    """Defect 5: the vendor limits manifest calls (5 an hour); ZIP GETs are free, so one run gets every hour."""
    srv = make_server(limit_counts=("manifests",))  # the vendor's 5 per rolling hour, on the API calls
    try:
        app = srv.app
        run = run_tap(TapKnovvu, config_for(srv, tmp_path / "store", downloads_per_hour=5))
        assert run.error is None
        assert {file_key(r) for r in run.records["recording_files"]} == set(app.expected_files())
        assert sorted(app.served) == sorted(available_hours(app))
        assert app.rate_limited == 0
        bookmark = run.final_state["bookmarks"]["daily_recording_manifests"]
        assert not bookmark["incomplete_days"] and bookmark["replication_key_value"] == app.documented_day
        assert not bookmark.get("zip_gets_counted")
    finally:
        srv.stop()


def an_hour_later(state: dict, clock: Clock) -> dict:
    """Move the sandbox's clock an hour on, and the call times the tap kept in state an hour back."""
    clock.offset += 3601
    state = json.loads(json.dumps(state))
    bookmark = state["bookmarks"]["daily_recording_manifests"]
    for key in ("recent_manifest_calls", "recent_zip_gets"):
        bookmark[key] = [t - 3601 for t in bookmark.get(key, [])]
    return state


def test_zip_limit_is_learned_from_the_vendors_429_and_kept_in_state(clock: Clock, tmp_path: Path) -> None:
    """A vendor that counts ZIP GETs: the first 429 teaches the tap, later runs pace ZIPs and meet no 429."""
    srv = make_server(clock=clock, limit_counts=("zips",))
    try:
        app = srv.app
        config = config_for(srv, tmp_path / "store", downloads_per_hour=5)
        state, seen, runs = None, [], 0
        while runs < 10:
            runs += 1
            run = run_tap(TapKnovvu, config, state=state)
            assert run.error is None
            seen += run.records["recording_files"]
            hours = [(r["date"], r["hour"]) for r in run.records["hourly_archives"] if r["status"] == "available"]
            assert len(hours) <= 5
            state = run.final_state
            bookmark = state["bookmarks"]["daily_recording_manifests"]
            assert bookmark["zip_gets_counted"] is True
            if not bookmark["incomplete_days"] and bookmark.get("replication_key_value") == app.documented_day:
                break
            state = an_hour_later(state, clock)
        assert runs == 3  # 15 hours, 5 per hour
        assert len({file_key(r) for r in seen}) == len(seen) == len(app.expected_files())
        assert sorted(app.served) == sorted(available_hours(app))  # each archive downloaded exactly once
        assert app.rate_limited == 1  # only the first run met a 429; later runs paced themselves
        assert len(downloads(app)) == len(app.served) + 1
    finally:
        srv.stop()


def test_proactive_manifest_budget_kept_in_state(clock: Clock, tmp_path: Path) -> None:
    srv = make_server(retention_days=7, limit_counts=("manifests",), clock=clock)
    try:
        app = srv.app
        config = config_for(srv, tmp_path / "store", downloads_per_hour=5)
        first = run_tap(TapKnovvu, config)
        assert len(manifest_days(app)) == 5 and app.rate_limited == 0
        bookmark = first.final_state["bookmarks"]["daily_recording_manifests"]
        assert len(bookmark["recent_manifest_calls"]) == 5
        second = run_tap(TapKnovvu, config, state=first.final_state)
        assert len(manifest_days(app)) == 5  # still inside the hour: no call made
        assert not second.records["recording_files"]
        state = an_hour_later(second.final_state, clock)
        third = run_tap(TapKnovvu, config, state=state)
        assert len(manifest_days(app)) == 7 and app.rate_limited == 0
        seen = first.records["recording_files"] + third.records["recording_files"]
        assert {file_key(r) for r in seen} == set(app.expected_files())
    finally:
        srv.stop()


def test_staged_zips_live_beside_storage_and_leftovers_are_cleaned(server, tmp_path: Path, monkeypatch) -> None:
    """Defect 9: ZIPs are staged in <storage>/.knovvu-tmp (or temp_dir), never the system temp folder, and a
    killed run's leftovers are removed by the next run."""
    import tempfile

    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    staged = tmp_path / "store" / ".knovvu-tmp"
    staged.mkdir(parents=True)
    leftover = staged / "knovvu-999999999-2026-01-01-00-abc.zip"  # a pid that cannot be alive
    leftover.write_bytes(b"")
    seen_dirs: list[str] = []
    real_mkstemp = tempfile.mkstemp

    def spy(*args, **kwargs):
        seen_dirs.append(str(kwargs.get("dir")))
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(tempfile, "mkstemp", spy)
    run = run_tap(TapKnovvu, config_for(server, tmp_path / "store"))
    assert run.records["recording_files"]
    assert not leftover.exists() and not list(staged.iterdir())
    assert seen_dirs and set(seen_dirs) == {str(staged)}
    assert not list(system_tmp.iterdir())
    custom = tmp_path / "custom-tmp"
    custom.mkdir()
    (custom / "knovvu-999999999-2026-01-01-00-x.zip").write_bytes(b"")
    seen_dirs.clear()
    run_tap(TapKnovvu, config_for(server, tmp_path / "store2", temp_dir=str(custom)))
    assert set(seen_dirs) == {str(custom)} and not list(custom.iterdir())


def test_wait_on_rate_limit_waits_and_goes_on(server, tmp_path: Path) -> None:
    server.app.faults.add("status", r"^/minio/", status=429, body={"error": ERR_RATE},
                          headers={"Retry-After": "0.05"}, times=2, after=1)
    run = run_tap(TapKnovvu, config_for(server, tmp_path / "store", wait_on_rate_limit=True))
    assert {file_key(r) for r in run.records["recording_files"]} == set(server.app.expected_files())
    assert len(downloads(server.app)) == len(available_hours(server.app)) + 2


def test_expired_link_is_renewed_with_one_manifest_call(server, tmp_path: Path) -> None:
    app = server.app
    app.faults.add("status", r"^/minio/", status=401, body={"error": ERR_LINK_EXPIRED}, times=1)
    run = run_tap(TapKnovvu, config_for(server, tmp_path / "store"))
    first_day = min(d for d, _ in available_hours(app))
    days = manifest_days(app)
    assert days.count(first_day) == 2
    assert all(days.count(d) == 1 for d in set(days) - {first_day})
    assert {file_key(r) for r in run.records["recording_files"]} == set(app.expected_files())


@pytest.mark.parametrize("workers", [1, 8])
def test_link_expiring_again_fails_only_that_hour(tmp_path: Path, workers: int) -> None:
    srv = make_server(downloads_per_hour=BIG, link_ttl_seconds=0)
    try:
        run = run_tap(TapKnovvu, config_for(srv, tmp_path / "store", max_concurrency=workers))
        assert not run.records["recording_files"]
        bookmark = run.final_state["bookmarks"]["daily_recording_manifests"]
        assert set(bookmark["incomplete_days"]) == set(srv.app.retained_days())
        days = manifest_days(srv.app)
        for day in srv.app.retained_days():
            hours = sum(1 for d, _ in available_hours(srv.app) if d == day)
            if workers == 1:
                assert days.count(day) == 1 + hours  # one fresh manifest per expired link, no more
            else:  # one fresh manifest serves every link read before it; never more than one per link
                assert 2 <= days.count(day) <= 1 + hours
            assert len([r for r in downloads(srv.app) if f"/{day}/" in r.path]) == 2 * hours  # each link tried twice
    finally:
        srv.stop()


def test_out_of_retention_days_are_reported(server, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = server.app
    gone = [(app.today - timedelta(days=n)).isoformat() for n in (5, 4)]
    state = {"bookmarks": {"daily_recording_manifests": {
        "replication_key": "date", "replication_key_value": (app.today - timedelta(days=6)).isoformat(),
        "incomplete_days": {}}}}
    with caplog.at_level(logging.WARNING):
        run = run_tap(TapKnovvu, config_for(server, tmp_path / "store"), state=state)
    lost = [r.getMessage() for r in caplog.records if "LOST RECORDINGS" in r.getMessage()]
    assert lost and all(day in lost[-1] for day in gone)
    assert run.final_state["bookmarks"]["daily_recording_manifests"]["replication_key_value"] == app.documented_day
    assert {file_key(r) for r in run.records["recording_files"]} == set(app.expected_files())


def test_days_beyond_any_retention_are_named_and_not_requested(server, tmp_path: Path, caplog) -> None:
    app = server.app
    with caplog.at_level(logging.WARNING):
        run_tap(TapKnovvu, config_for(server, tmp_path / "store", start_date="2020-01-01T00:00:00Z"))
    assert min(manifest_days(app)) == (app.today - timedelta(days=7)).isoformat()
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "2020-01-01" in text and (app.today - timedelta(days=8)).isoformat() in text


def test_zip_slip_entries_are_refused(server, tmp_path: Path) -> None:
    app = server.app
    day, hour = app.documented_day, "02"
    app.zip_slip_hours.add((day, hour))
    store = tmp_path / "deep" / "store"
    outside = Path("/tmp/absolute-escape.opus")
    existed = outside.exists()
    run = run_tap(TapKnovvu, config_for(server, store))
    archive = next(r for r in run.records["hourly_archives"] if (r["date"], r["hour"]) == (day, hour))
    assert archive["refused_entries"] == ["../../escaped.opus", "/tmp/absolute-escape.opus"]
    assert not list(tmp_path.rglob("escaped.opus"))
    assert outside.exists() == existed
    assert {file_key(r) for r in run.records["recording_files"]} == set(app.expected_files())
    assert run.final_state["bookmarks"]["daily_recording_manifests"]["incomplete_days"] == {}


def test_corrupt_zip_fails_only_its_hour_and_is_retried(server, tmp_path: Path, caplog) -> None:
    app = server.app
    day, hour = app.documented_day, "02"
    app.corrupt_hours.add((day, hour))
    config = config_for(server, tmp_path / "store")
    with caplog.at_level(logging.ERROR):
        first = run_tap(TapKnovvu, config)
    assert any("corrupt" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
    assert (day, hour) not in {(r["date"], r["hour"]) for r in first.records["hourly_archives"]}
    got = {file_key(r) for r in first.records["recording_files"]}
    assert got == {k for k in app.expected_files() if (k[0], k[1]) != (day, hour)}
    incomplete = first.final_state["bookmarks"]["daily_recording_manifests"]["incomplete_days"]
    assert incomplete == {day: ["00", "01", "23"]}
    app.corrupt_hours.clear()
    before = len(downloads(app))
    second = run_tap(TapKnovvu, config, state=first.final_state)
    assert len(downloads(app)) == before + 1
    assert {file_key(r) for r in second.records["recording_files"]} == \
        {k for k in app.expected_files() if (k[0], k[1]) == (day, hour)}
    assert second.final_state["bookmarks"]["daily_recording_manifests"]["incomplete_days"] == {}


def test_feature_disabled_ends_the_run_with_the_admin_action(server, tmp_path: Path) -> None:
    server.app.feature_enabled = False
    run = run_tap(TapKnovvu, config_for(server, tmp_path / "store"), expect_error=True)
    message = str(run.error)
    assert "403" in message and "not enabled for this tenant" in message
    assert "Enable daily conversation audio recordings" in message


def test_wrong_credentials_name_the_settings(server, tmp_path: Path) -> None:
    config = config_for(server, tmp_path / "store", client_secret="wrong-secret-value")
    run = run_tap(TapKnovvu, config, expect_error=True)
    message = str(run.error)
    assert "client_id" in message and "dataservice_external" in message
    assert "wrong-secret-value" not in message


def test_expired_token_is_reminted_once(server, tmp_path: Path) -> None:
    server.app.faults.add("status", "daily-audio-recordings", status=401, body={"error": ERR_TOKEN}, times=1)
    run = run_tap(TapKnovvu, config_for(server, tmp_path / "store"))
    assert server.app.tokens_issued == 2
    assert {file_key(r) for r in run.records["recording_files"]} == set(server.app.expected_files())


def test_no_token_or_signature_in_output(clock: Clock, tmp_path: Path) -> None:
    srv = make_server(clock=clock, limit_counts=("zips",))
    try:
        srv.app.faults.add("status", r"^/minio/", status=401, body={"error": ERR_LINK_EXPIRED}, times=1)
        result = run_tap_cli("taps.knovvu", config_for(srv, tmp_path / "store"))
        assert result.returncode == 0, result.stderr[-2000:]
        assert "download limit" in result.stderr.lower()
        secrets = [srv.app.client_secret, *srv.app.tokens, *srv.app.links]
        assert secrets and not [s for s in secrets if s in result.output]
        assert "X-Amz-Signature" not in result.output
    finally:
        srv.stop()


def test_missing_storage_url_fails_before_any_request(server) -> None:
    config = server.app.demo_config(server.url)
    del config["storage_url"]
    result = run_tap_cli("taps.knovvu", config)
    assert result.returncode != 0 and "storage_url" in result.stderr
    assert server.app.requests == []


def test_days_are_utc_and_never_today() -> None:
    from taps.knovvu.progress import Progress, plan_days

    today = date(2026, 3, 10)
    plan = plan_days(Progress({}), None, today)
    assert plan.days[0] == "2026-03-03" and plan.days[-1] == "2026-03-09"
