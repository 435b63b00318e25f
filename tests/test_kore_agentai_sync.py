"""tap-kore-agentai against the Kore.ai emulator over real HTTP.

Expectations are computed from what the sandbox holds, never from the tap's output.
"""

from __future__ import annotations

import itertools
import json
import math
from datetime import date, datetime, timedelta, timezone

import pytest
from singer_sdk.exceptions import ConfigValidationError

from sandboxes.base import SandboxServer
from sandboxes.kore_agentai import KoreAgentAISandbox, parse_iso
from taps.kore_agentai.tap import TapKoreAgentAI
from tests.helpers import catalog_for, run_tap, run_tap_cli

EARLY_START = date(2025, 10, 1)  # before the vendor's documented sample records (2025-10-13)


@pytest.fixture
def sandbox():
    """A fresh emulator (30 days of data ending yesterday) per test."""
    with SandboxServer(KoreAgentAISandbox()) as server:
        yield server


def make_config(server, **overrides) -> dict:
    """The sandbox's demo config with fast retries."""
    return {**server.app.demo_config(server.url), "retry_base_seconds": 0.01, "max_retries": 3, **overrides}


def today() -> date:
    return datetime.now(timezone.utc).date()


def bodies(app) -> list[dict]:
    """JSON bodies of the conversation requests the sandbox received, in order."""
    return [json.loads(r.body) for r in app.requests_to(r"/aaconversation$")]


def windows_of(requests_made: list[dict]) -> list[tuple[date, date]]:
    """Distinct (from, to) windows in request order."""
    seen: list[tuple[date, date]] = []
    for body in requests_made:
        window = (date.fromisoformat(body["from"]), date.fromisoformat(body["to"]))
        if window not in seen:
            seen.append(window)
    return seen


def expected_messages(conversations: list[dict]) -> dict[tuple, dict]:
    """(conversation _id, index) -> the message record the tap should emit."""
    rows = {}
    for conv in conversations:
        for index, message in enumerate(conv["messages"] or []):
            rows[(conv["_id"], index)] = {**message, "conversation_record_id": conv["_id"], "message_index": index}
    return rows


def pages_for(app, first: date, last: date) -> int:
    """Requests the documented paging needs for one window (at least one)."""
    return max(1, math.ceil(len(app.conversations_between(first, last)) / 20))


def test_full_run_emits_every_conversation_and_message_once(sandbox):
    app = sandbox.app
    run = run_tap(TapKoreAgentAI, make_config(sandbox, start_date=f"{EARLY_START}T00:00:00Z"))
    expected = app.conversations_between(EARLY_START, today())
    assert len(expected) > 150

    assert run.duplicates("conversations") == {}
    emitted = {r["_id"]: r for r in run.records["conversations"]}
    assert emitted == {c["_id"]: {k: v for k, v in c.items() if k != "messages"} for c in expected}
    assert run.duplicates("conversation_messages") == {}
    messages = {(m["conversation_record_id"], m["message_index"]): m for m in run.records["conversation_messages"]}
    assert messages == expected_messages(expected)
    assert any(not c["messages"] for c in expected if c["messages"] is not None)  # some without history

    made = bodies(app)
    windows = windows_of(made)
    assert windows[0][0] == EARLY_START
    assert windows[-1][1] == today()
    for (_, previous_to), (next_from, _) in itertools.pairwise(windows):
        assert next_from == previous_to + timedelta(days=1)  # no gap, no overlap
    assert all(0 <= (to - frm).days <= 6 for frm, to in windows)  # never over 7 days inclusive
    assert all(b["limit"] == 20 and b["includeHistory"] is True for b in made)
    for frm, to in windows:
        pages = [b["page"] for b in made if (b["from"], b["to"]) == (frm.isoformat(), to.isoformat())]
        assert pages == list(range(1, pages_for(app, frm, to) + 1))

    latest = max(expected, key=lambda c: parse_iso(c["startTime"]))["startTime"]
    assert run.final_state["bookmarks"]["conversations"] == {"replication_key": "startTime", "replication_key_value": latest}


def test_second_run_rereads_only_the_lookback_and_new_days(sandbox):
    app = sandbox.app
    config = make_config(sandbox, start_date=f"{app.last_day - timedelta(days=29)}T00:00:00Z")
    first = run_tap(TapKoreAgentAI, config)
    bookmark = parse_iso(first.final_state["bookmarks"]["conversations"]["replication_key_value"])
    lookback_start = bookmark.date() - timedelta(days=2)

    now = datetime.now(timezone.utc)
    new_today = app.add_conversation(now - timedelta(seconds=30), messages=2)
    late_arrival = app.add_conversation(bookmark - timedelta(days=1), messages=1)
    recent = app.conversations_between(lookback_start, lookback_start)
    recent_with_history = next(c for c in recent if c["messages"])
    app.edit_message(recent_with_history["_id"], 0, "corrected after the first run ✍️")
    old = next(c for c in app.conversations_between(lookback_start - timedelta(days=9), lookback_start - timedelta(days=5))
               if c["messages"])
    app.edit_message(old["_id"], 0, "edited too late for the lookback")
    app.requests.clear()

    second = run_tap(TapKoreAgentAI, config, state=first.final_state)
    windows = windows_of(bodies(app))
    assert windows[0][0] == lookback_start
    assert windows[-1][1] == today()
    expected = app.conversations_between(lookback_start, today())
    assert {r["_id"] for r in second.records["conversations"]} == {c["_id"] for c in expected}
    assert {new_today["_id"], late_arrival["_id"]} <= {r["_id"] for r in second.records["conversations"]}
    messages = {(m["conversation_record_id"], m["message_index"]): m for m in second.records["conversation_messages"]}
    assert messages == expected_messages(expected)
    assert messages[(recent_with_history["_id"], 0)]["components"][0]["data"]["text"] == "corrected after the first run ✍️"
    assert old["_id"] not in {r["_id"] for r in second.records["conversations"]}  # outside the lookback: not re-read
    assert second.final_state["bookmarks"]["conversations"]["replication_key_value"] == new_today["startTime"]


def test_interrupted_run_resumes_at_its_window(sandbox):
    app = sandbox.app
    start = app.last_day - timedelta(days=29)
    config = make_config(sandbox, start_date=f"{start}T00:00:00Z", lookback_days=0, max_retries=1)
    w1 = (start, start + timedelta(days=6))
    w2 = (start + timedelta(days=7), start + timedelta(days=13))
    w3 = (start + timedelta(days=14), start + timedelta(days=20))
    assert pages_for(app, *w3) >= 2  # the window breaks between its pages
    # Windows 1 and 2 and the first page of window 3 succeed; then the vendor keeps failing.
    app.faults.add("status", r"/aaconversation$", status=503, times=10,
                   after=pages_for(app, *w1) + pages_for(app, *w2) + 1)

    broken = run_tap(TapKoreAgentAI, config, expect_error=True)
    assert broken.error is not None
    assert "503" in str(broken.error)
    done = app.conversations_between(w1[0], w2[1])
    bookmark = broken.final_state["bookmarks"]["conversations"]["replication_key_value"]
    assert bookmark == max(done, key=lambda c: parse_iso(c["startTime"]))["startTime"]
    # Records of window 3's first page were emitted, but the bookmark did not pass them.
    assert any(w3[0] <= parse_iso(r["startTime"]).date() for r in broken.records["conversations"])

    app.faults.clear()
    app.requests.clear()
    resumed = run_tap(TapKoreAgentAI, config, state=broken.final_state)
    windows = windows_of(bodies(app))
    assert windows[0][0] == parse_iso(bookmark).date()
    assert w2[0] <= windows[0][0] <= w3[0]  # starts inside the last finished window, not at start_date
    everything = {c["_id"] for c in app.conversations_between(start, today())}
    seen = {r["_id"] for r in broken.records["conversations"]} | {r["_id"] for r in resumed.records["conversations"]}
    assert seen == everything
    assert {r["_id"] for r in resumed.records["conversations"]} >= {c["_id"] for c in app.conversations_between(w3[0], today())}


def test_far_future_state_emits_no_records(sandbox):
    state = {"bookmarks": {"conversations": {"replication_key": "startTime", "replication_key_value": "2099-01-01T00:00:00.000Z"}}}
    run = run_tap(TapKoreAgentAI, make_config(sandbox), state=state)
    assert run.records["conversations"] == []
    assert run.records["conversation_messages"] == []
    assert bodies(sandbox.app) == []


def test_rate_limit_backs_off_and_goes_on(sandbox):
    app = sandbox.app
    start = app.last_day - timedelta(days=10)
    app.rate_limit(times=3, retry_after="0.01")
    run = run_tap(TapKoreAgentAI, make_config(sandbox, start_date=f"{start}T00:00:00Z", max_retries=5))
    assert app.faults.fired == [("status", f"/agentassist/api/v1/public/{app.bot_id}/aaconversation")] * 3
    assert {r["_id"] for r in run.records["conversations"]} == {c["_id"] for c in app.conversations_between(start, today())}


def test_include_history_off_asks_for_no_messages(sandbox):
    app = sandbox.app
    start = app.last_day - timedelta(days=5)
    run = run_tap(TapKoreAgentAI, make_config(sandbox, start_date=f"{start}T00:00:00Z", include_history=False))
    assert all(b["includeHistory"] is False for b in bodies(app))
    assert run.records["conversation_messages"] == []
    assert len(run.records["conversations"]) == len(app.conversations_between(start, today()))


def test_deselected_messages_stream_asks_for_no_history(sandbox):
    app = sandbox.app
    config = make_config(sandbox, start_date=f"{app.last_day - timedelta(days=3)}T00:00:00Z")
    catalog = catalog_for(TapKoreAgentAI, config, {"conversation_messages": False})
    run = run_tap(TapKoreAgentAI, config, catalog=catalog)
    assert all(b["includeHistory"] is False for b in bodies(app))
    assert run.records["conversation_messages"] == []
    assert run.records["conversations"]


def test_rejected_jwt_ends_the_run_with_vendor_message_and_hint(sandbox):
    secret = "a-wrong-client-secret-that-is-long-enough"
    run = run_tap(TapKoreAgentAI, make_config(sandbox, client_secret=secret), expect_error=True)
    message = str(run.error)
    assert "401" in message
    assert "Invalid SDK credentials" in message
    assert "client_secret" in message
    assert "AgentAssist Analytics" in message
    assert secret not in message
    assert run.records["conversations"] == []
    assert "conversations" not in run.final_state.get("bookmarks", {}) or \
        "replication_key_value" not in run.final_state["bookmarks"]["conversations"]


def test_missing_scope_ends_the_run_with_vendor_message_and_hint(sandbox):
    app = sandbox.app
    secret = app.apps["cs-sandbox-no-scope"][0]
    run = run_tap(TapKoreAgentAI, make_config(sandbox, client_id="cs-sandbox-no-scope", client_secret=secret),
                  expect_error=True)
    message = str(run.error)
    assert "403" in message
    assert "not authorized to access this API" in message
    assert "mapped to the 'AgentAssist Analytics' API scope" in message
    assert "published" in message
    assert secret not in message


def test_wrong_account_id_is_rejected_with_a_hint(sandbox):
    run = run_tap(TapKoreAgentAI, make_config(sandbox, account_id="someone-elses-account-id"), expect_error=True)
    message = str(run.error)
    assert "Invalid SDK credentials" in message
    assert "account_id" in message
    assert "someone-elses-account-id" not in message


@pytest.mark.parametrize(("change", "setting"), [
    ({"account_id": None}, "account_id"),
    ({"account_id": " "}, "account_id"),
    ({"client_secret": None}, "client_secret"),
    ({"bot_id": None}, "bot_id"),
    ({"start_date": None}, "start_date"),
    ({"api_url": "platform.kore.ai"}, "api_url"),
    ({"page_size": 50}, "page_size"),
])
def test_bad_config_fails_before_any_request(sandbox, change, setting):
    config = make_config(sandbox)
    for key, value in change.items():
        if value is None:
            config.pop(key)
        else:
            config[key] = value
    with pytest.raises(ConfigValidationError) as info:
        TapKoreAgentAI(config=config)
    assert setting in " ".join([str(info.value), *info.value.errors])
    assert sandbox.app.requests == []


def test_a_400_quotes_the_vendor_message(sandbox):
    sandbox.app.faults.add("status", r"/aaconversation$", status=400,
                           body={"errors": [{"msg": "Invalid request: bot is disabled", "code": 400}]})
    run = run_tap(TapKoreAgentAI, make_config(sandbox), expect_error=True)
    assert "400" in str(run.error)
    assert "Invalid request: bot is disabled" in str(run.error)


def test_cli_output_never_contains_the_client_secret(sandbox):
    app = sandbox.app
    config = make_config(sandbox, start_date=f"{app.last_day - timedelta(days=8)}T00:00:00Z")
    good = run_tap_cli("taps.kore_agentai", config)
    assert good.returncode == 0, good.stderr[-2000:]
    assert good.run.records["conversations"]
    bad_secret = "another-wrong-secret-of-decent-length-xyz"
    bad = run_tap_cli("taps.kore_agentai", {**config, "client_secret": bad_secret})
    assert bad.returncode != 0
    assert "Invalid SDK credentials" in bad.stderr
    for output in (good.output, bad.output):
        assert app.client_secret not in output
        assert bad_secret not in output
        assert app.account_id not in output

