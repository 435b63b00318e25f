"""tap-zoom-aic against its Zoom emulator over real HTTP.

Expectations come from the sandbox's own data (users, conversations,
attachments, file bytes), never from the tap's output.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import typing as t
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sandboxes.base import SandboxServer
from sandboxes.zoom_aic import DOCUMENTED_ARCHIVE, ZoomAICSandbox, parse_strict
from taps.common.auth import ClientCredentialsAuthenticator
from taps.common.storage import open_url
from taps.zoom_aic.tap import TapZoomAIC
from tests.helpers import TapRun, catalog_for, parse_singer, run_tap, run_tap_cli

START = DOCUMENTED_ARCHIVE["start_time"]
END = "2021-10-31T00:00:00Z"
PAGE_SIZE = 7


@pytest.fixture
def app() -> ZoomAICSandbox:
    return ZoomAICSandbox()


@pytest.fixture
def server(app: ZoomAICSandbox) -> t.Iterator[SandboxServer]:
    with SandboxServer(app) as srv:
        yield srv


@pytest.fixture
def config(app: ZoomAICSandbox, server: SandboxServer, tmp_path: Path) -> dict:
    return {**app.demo_config(server.url), "end_date": END, "page_size": PAGE_SIZE,
            "storage_url": str(tmp_path / "storage"), "retry_base_seconds": 0.01}


def window_conversations(app: ZoomAICSandbox, start: str, end: str) -> dict[str, set[str]]:
    """user id -> conversation ids the sandbox holds in [start, end], for listed users."""
    lo, hi = parse_strict(start), parse_strict(end)
    return {u["id"]: {c.conversation_id for c in app.conversations_in(u["id"], lo, hi)} for u in app.archived_users()}


def expected_attachments(app: ZoomAICSandbox, start: str, end: str) -> set[tuple[str, str]]:
    lo, hi = parse_strict(start), parse_strict(end)
    return {(u["id"], a.file_id) for u in app.archived_users() for a in app.attachments_between(u["id"], lo, hi)}


def sha256_of(uri: str) -> str:
    with open_url(uri) as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def history_conversations(run: TapRun) -> list[tuple[str, str]]:
    return [(h["user_id"], c["conversation_id"]) for h in run.records["conversation_histories"]
            for c in h["content"]["conversations"]]


def assert_complete(app: ZoomAICSandbox, runs: list[TapRun], start: str = START, end: str = END) -> None:
    """Every conversation (through the history files) and every attachment exactly once, bytes intact."""
    histories = [c for run in runs for c in history_conversations(run)]
    expected = {(uid, cid) for uid, cids in window_conversations(app, start, end).items() for cid in cids}
    assert len(histories) == len(set(histories))
    assert set(histories) == expected
    attachments = [(r["user_id"], r["file_id"]) for run in runs for r in run.records["archive_attachments"]]
    assert len(attachments) == len(set(attachments))
    assert set(attachments) == expected_attachments(app, start, end)
    for run in runs:
        for row in run.records["archive_attachments"]:
            sandbox_file = app.attachments[row["file_id"]]
            assert row["sha256"] == sandbox_file.sha256() == sha256_of(row["storage_uri"])
            assert row["size_bytes"] == sandbox_file.file_size
        for row in run.records["conversation_histories"]:
            body = app.history_bytes(row["user_id"], parse_strict(row["start_time"]), parse_strict(row["end_time"]))
            assert row["sha256"] == hashlib.sha256(body).hexdigest() == sha256_of(row["storage_uri"])
            assert row["content"] == json.loads(body)
    archives = [(r["user_id"], r["start_time"], r["end_time"]) for run in runs for r in run.records["conversation_archives"]]
    assert len(archives) == len(set(archives))
    assert {a[0] for a in archives} == {uid for uid, cids in window_conversations(app, start, end).items() if cids}


def test_full_run_emits_everything_once_with_matching_files(app: ZoomAICSandbox, config: dict) -> None:
    run = run_tap(TapZoomAIC, config)
    assert_complete(app, [run])
    assert sorted(r["id"] for r in run.records["users"]) == sorted(u["id"] for u in app.archived_users())

    # several /users pages per status, each asked with the configured page_size
    listing = app.requests_to(r"^/v2/users$")
    active = sum(1 for u in app.users if u["status"] == "active")
    assert sum(1 for r in listing if r.arg("status") == "active") == -(-active // PAGE_SIZE) > 1
    assert {r.arg("page_size") for r in listing} == {str(PAGE_SIZE)}
    assert not any(r.arg("status") == "pending" for r in listing)

    # the documented example, verbatim except the download host
    documented = next(r for r in run.records["conversation_archives"] if r["user_id"] == "ABCDEF123456")
    for field in ("user_id", "email", "display_name", "start_time", "end_time", "timezone",
                  "file_extension", "file_size", "file_type"):
        assert documented[field] == DOCUMENTED_ARCHIVE[field]
    assert documented["aic_history_download_url"].endswith("/rest/v1/aic/archive/conversations/download/Qg75t7xZBtEbAkjdlgbfdngBBBB")
    assert [f["file_id"] for f in documented["physical_files"]] == ["pvKocCqVSMygaOcKus5Afw"]
    doc_history = next(h for h in run.records["conversation_histories"] if h["user_id"] == "ABCDEF123456")
    assert doc_history["size_bytes"] == DOCUMENTED_ARCHIVE["file_size"]

    # downloads carry the bearer header, never a token in the query
    downloads = app.requests_to(r"^/rest/v1/aic/archive/")
    assert downloads
    assert all(r.headers.get("authorization", "").startswith("Bearer ") and not r.query for r in downloads)
    # the token request follows Zoom's documented form
    token_calls = app.requests_to(r"^/oauth/token$")
    assert len(token_calls) == 1
    assert token_calls[0].arg("grant_type") == "account_credentials"
    assert token_calls[0].arg("account_id") == app.account_id
    assert token_calls[0].headers["authorization"].startswith("Basic ")
    # every archive request uses the one date-time form and stays within 30 days
    for req in app.requests_to(r"/conversation_archive$"):
        frm, to = req.arg("from"), req.arg("to")
        assert frm is not None and to is not None
        lo, hi = parse_strict(frm), parse_strict(to)
        assert (hi - lo).days <= 30


def test_window_with_more_attachments_than_one_answer_lists_is_split(app: ZoomAICSandbox, config: dict) -> None:
    busy = app.users[2]["id"]
    run = run_tap(TapZoomAIC, {**config, "user_ids": [busy]})
    got = {r["file_id"] for r in run.records["archive_attachments"]}
    assert len(got) > 300
    assert got == {a for (_, a) in expected_attachments(app, START, END) if app.attachments[a].user_id == busy}


def test_second_run_asks_only_for_the_new_window(app: ZoomAICSandbox, config: dict) -> None:
    first = run_tap(TapZoomAIC, config)
    app.requests.clear()
    later = "2021-11-20T00:00:00Z"  # one 30-day window after the bookmark
    second = run_tap(TapZoomAIC, {**config, "end_date": later}, state=first.final_state)
    asked = app.requests_to(r"/conversation_archive$")
    assert asked
    assert {r.arg("from") for r in asked} == {"2021-10-31T00:00:01Z"}
    assert {r.arg("to") for r in asked} == {later}
    assert_complete(app, [second], "2021-10-31T00:00:01Z", later)
    assert not second.records["conversation_archives"]  # the sandbox holds nothing after September


def test_lookback_days_rereads_behind_the_bookmark(app: ZoomAICSandbox, config: dict) -> None:
    state = {"bookmarks": {"conversation_archives": {"partitions": [
        {"context": {"user_id": u["id"]}, "replication_key": "end_time", "replication_key_value": "2021-07-31T00:00:00Z"}
        for u in app.archived_users()]}}}
    run = run_tap(TapZoomAIC, {**config, "lookback_days": 2, "end_date": "2021-08-10T00:00:00Z"}, state=state)
    asked = app.requests_to(r"/conversation_archive$")
    assert {(r.arg("from"), r.arg("to")) for r in asked} == {("2021-07-29T00:00:01Z", "2021-08-10T00:00:00Z")}
    assert_complete(app, [run], "2021-07-29T00:00:01Z", "2021-08-10T00:00:00Z")


def test_far_future_state_emits_no_archives(app: ZoomAICSandbox, config: dict) -> None:
    state = {"bookmarks": {"conversation_archives": {"partitions": [
        {"context": {"user_id": u["id"]}, "replication_key": "end_time", "replication_key_value": "2099-01-01T00:00:00Z"}
        for u in app.archived_users()]}}}
    run = run_tap(TapZoomAIC, config, state=state)
    assert run.records["users"]
    assert not run.records["conversation_archives"]
    assert not app.requests_to(r"/conversation_archive$")


def test_deleted_user_is_skipped_with_a_warning(app: ZoomAICSandbox, config: dict, caplog: pytest.LogCaptureFixture) -> None:
    gone = app.users[1]["id"]
    app.deleted_users.add(gone)
    run = run_tap(TapZoomAIC, config)
    assert gone not in {r["user_id"] for r in run.records["conversation_archives"]}
    warnings = [rec.getMessage() for rec in caplog.records if rec.levelname == "WARNING"]
    assert any(gone in w and "does not exist" in w for w in warnings)
    app.deleted_users.clear()
    others = [u for u in app.archived_users() if u["id"] != gone]
    lo, hi = parse_strict(START), parse_strict(END)
    want = {(u["id"], c.conversation_id) for u in others for c in app.conversations_in(u["id"], lo, hi)}
    assert set(history_conversations(run)) == want


@pytest.mark.parametrize(
    ("scopes", "code", "named"),
    [
        ({"user:read:admin"}, 4711, "aic_archive:read:admin"),
        ({"user:read:admin"}, 4700, "aic:read:conversation_archives:admin"),
        ({"aic_archive:read:admin"}, 4711, "user:read:admin"),
    ],
)
def test_missing_scope_ends_the_run_naming_the_scope(app: ZoomAICSandbox, config: dict, scopes: set, code: int, named: str) -> None:
    app.scopes = scopes
    app.missing_scope_code = code
    run = run_tap(TapZoomAIC, config, expect_error=True)
    assert run.error is not None
    assert named in str(run.error)
    assert str(code) in str(run.error) or "does not contain scopes" in str(run.error)
    assert not run.records["conversation_archives"]


def test_permission_denied_names_scope_and_role(app: ZoomAICSandbox, config: dict) -> None:
    app.archive_permission = False
    run = run_tap(TapZoomAIC, config, expect_error=True)
    assert "403" in str(run.error)
    assert "aic_archive:read:admin" in str(run.error)
    assert "User:Read" in str(run.error)


def test_per_second_429_is_retried_after_retry_after(app: ZoomAICSandbox, config: dict) -> None:
    app.rate_limit_fault(r"/conversation_archive$", times=3, after=5)
    app.rate_limit_fault(r"^/v2/users$", times=1)
    app.rate_limit_fault(r"^/rest/v1/aic/archive/attached/", times=2)
    run = run_tap(TapZoomAIC, config)
    assert sum(1 for kind, _ in app.faults.fired if kind == "status") == 6
    assert_complete(app, [run])


def test_daily_limit_stops_cleanly_and_the_next_run_resumes(
    app: ZoomAICSandbox, config: dict, caplog: pytest.LogCaptureFixture
) -> None:
    app.daily_limit_after(60)
    first = run_tap(TapZoomAIC, config)  # no exception: a clean stop
    assert first.error is None
    stop = [r.getMessage() for r in caplog.records if "Daily quota spent" in r.getMessage()]
    assert stop and "resume after" in stop[0] and "T00:00:00Z" in stop[0]  # Zoom's ISO Retry-After
    assert len(app.requests_to(r"^/v2/")) <= 62  # it did not keep asking once the quota was spent
    done = first.final_state["bookmarks"]["conversation_archives"]["partitions"]
    assert done  # some users got through
    assert len(history_conversations(first)) < sum(len(v) for v in window_conversations(app, START, END).values())
    app.daily_limit_after(None)
    second = run_tap(TapZoomAIC, config, state=first.final_state)
    assert_complete(app, [first, second])


def test_expired_token_is_reminted_once(app: ZoomAICSandbox, config: dict) -> None:
    app.expire_tokens_after(25)
    tap = TapZoomAIC(config=config)
    with contextlib.redirect_stdout(io.StringIO()) as out:
        tap.sync_all()
    run = parse_singer(out.getvalue())
    assert t.cast(ClientCredentialsAuthenticator, tap.authenticator).tokens_minted == 2
    assert app.tokens_issued == 2
    assert_complete(app, [run])


def test_download_401_remints_and_truncated_download_is_retried(app: ZoomAICSandbox, config: dict) -> None:
    app.faults.add("status", r"^/rest/v1/aic/archive/attached/", status=401,
                   body={"code": 124, "message": "Invalid access token."}, after=4)
    app.faults.add("truncate", r"^/rest/v1/aic/archive/conversations/", after=2)
    app.faults.add("drop", r"^/rest/v1/aic/archive/attached/", after=9)
    run = run_tap(TapZoomAIC, {**config, "end_date": "2021-07-31T00:00:00Z"})
    assert sorted(kind for kind, _ in app.faults.fired) == ["drop", "status", "truncate"]
    assert app.tokens_issued == 2
    assert_complete(app, [run], START, "2021-07-31T00:00:00Z")


@pytest.mark.parametrize(
    ("path", "body", "content_type", "times"),
    [
        (r"^/rest/v1/aic/archive/conversations/download/", "<!DOCTYPE html><html><body>Sign in</body></html>", "text/html", 1),
        # shorter than the announced file_size: retried (a transfer cut short), so it fails only when it persists
        (r"^/rest/v1/aic/archive/conversations/download/", '{"short": true}', "application/json", 10_000),
        (r"^/rest/v1/aic/archive/attached/download/", "<html><body>Sign in to Zoom</body></html>", "text/html; charset=utf-8", 1),
    ],
)
def test_bad_download_fails_that_archive_and_keeps_its_bookmark(
    app: ZoomAICSandbox, config: dict, path: str, body: str, content_type: str, times: int
) -> None:
    app.faults.add("status", path, status=200, body=body, headers={"Content-Type": content_type}, after=3, times=times)
    first = run_tap(TapZoomAIC, config, expect_error=True)
    assert first.error is not None
    assert "did not download intact" in str(first.error)
    assert any(path in str(first.error) for _, path in app.faults.fired)  # names a file that failed
    app.faults.clear()
    # the failed archive was not emitted, its user's bookmark stays before it
    second = run_tap(TapZoomAIC, config, state=first.final_state)
    assert second.error is None
    assert_complete(app, [first, second])
    assert second.records["conversation_archives"]


def test_user_ids_reads_only_those_users(app: ZoomAICSandbox, config: dict, caplog: pytest.LogCaptureFixture) -> None:
    by_id, by_email = app.users[1], app.users[3]
    run = run_tap(TapZoomAIC, {**config, "user_ids": [by_id["id"], by_email["email"], "nobody@example.com", by_id["email"]]})
    assert sorted(r["id"] for r in run.records["users"]) == sorted([by_id["id"], by_email["id"]])
    assert not app.requests_to(r"^/v2/users$")
    asked = {r.path.split("/")[4] for r in app.requests_to(r"/conversation_archive$")}
    assert asked == {by_id["id"], by_email["id"]}
    assert any("nobody@example.com" in rec.getMessage() for rec in caplog.records if rec.levelname == "WARNING")


def test_download_files_false_keeps_attachment_metadata_only(app: ZoomAICSandbox, config: dict) -> None:
    run = run_tap(TapZoomAIC, {**config, "download_files": False})
    assert {(r["user_id"], r["file_id"]) for r in run.records["archive_attachments"]} == expected_attachments(app, START, END)
    assert all(r["storage_uri"] is None and r["sha256"] is None for r in run.records["archive_attachments"])
    assert not app.requests_to(r"^/rest/v1/aic/archive/attached/")


def test_deselected_histories_are_not_downloaded(app: ZoomAICSandbox, config: dict) -> None:
    catalog = catalog_for(TapZoomAIC, config, {"conversation_histories": False})
    run = run_tap(TapZoomAIC, config, catalog=catalog)
    assert run.records["conversation_archives"]
    assert not run.records["conversation_histories"]
    assert not app.requests_to(r"^/rest/v1/aic/archive/conversations/")


def test_no_secret_or_token_in_output(app: ZoomAICSandbox, config: dict) -> None:
    app.expire_tokens_after(10)
    app.rate_limit_fault(r"/conversation_archive$", times=1)
    app.faults.add("status", r"^/rest/v1/aic/archive/attached/", status=200, body="<html>login</html>",
                   headers={"Content-Type": "text/html"}, after=2)
    cli = run_tap_cli("taps.zoom_aic", {**config, "end_date": "2021-07-31T00:00:00Z"})
    assert cli.returncode != 0  # the HTML download
    assert "did not download intact" in cli.stderr
    output = cli.output
    for secret in (app.client_secret, app.client_id, app.account_id, *app.tokens):
        assert secret not in output
    assert app.tokens_issued == 2


def test_bad_credentials_fail_naming_the_settings(app: ZoomAICSandbox, config: dict) -> None:
    run = run_tap(TapZoomAIC, {**config, "client_secret": "wrong-secret-value"}, expect_error=True)
    assert "client_secret" in str(run.error)
    assert "wrong-secret-value" not in str(run.error)
    assert not app.requests_to(r"^/v2/")


def test_demo_config_has_everything_the_tap_needs(app: ZoomAICSandbox, server: SandboxServer) -> None:
    config = app.demo_config(server.url)
    TapZoomAIC(config=config)  # validates
    assert datetime.now(timezone.utc) > parse_strict(config["start_date"])
