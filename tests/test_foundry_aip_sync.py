"""tap-foundry-aip against its Foundry emulator over real HTTP.

Expectations come from what the emulator holds (``app.ordered``,
``app.contents``) and what it logged (``app.requests``), never from the tap.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from sandboxes.base import SandboxServer
from sandboxes.foundry_aip import (
    DOCUMENTED_AGENT_RID,
    DOCUMENTED_SESSION,
    SECOND_AGENT_RID,
    FoundryAIPSandbox,
)
from taps.common.concurrency import LOOKAHEAD_PER_WORKER
from taps.common.timestamps import parse_timestamp
from taps.foundry_aip.client import bookmark_time
from taps.foundry_aip.tap import TapFoundryAIP
from tests.helpers import run_tap, run_tap_cli

AGENTS = (DOCUMENTED_AGENT_RID, SECOND_AGENT_RID)
MODULE = "taps.foundry_aip"


@pytest.fixture
def sandbox():
    """A fresh emulator on a free port: (app, server)."""
    app = FoundryAIPSandbox()
    with SandboxServer(app) as server:
        yield app, server


def config_for(app: FoundryAIPSandbox, server: SandboxServer, **overrides) -> dict:
    return {**app.demo_config(server.url), "retry_base_seconds": 0.01, **overrides}


def norm(value: str) -> str:
    return bookmark_time(parse_timestamp(value))


def list_requests_for(app: FoundryAIPSandbox, agent_rid: str) -> list:
    return [r for r in app.list_requests() if f"/agents/{agent_rid}/sessions" in r.path]


def expected_exchange_keys(app: FoundryAIPSandbox, session_rids) -> set[tuple[str, int]]:
    return {(rid, i) for rid in session_rids for i in range(len(app.contents[rid]))}


def assert_no_progress_markers(state: dict) -> None:
    assert "progress_markers" not in json.dumps(state), state


def test_full_run_emits_every_session_and_exchange_once(sandbox):
    app, server = sandbox
    run = run_tap(TapFoundryAIP, config_for(app, server, page_size=40))

    expected = {s["rid"] for agent in AGENTS for s in app.ordered(agent)}
    assert sorted(run.keys("sessions")) == sorted((rid,) for rid in expected)
    assert run.duplicates("sessions") == {}
    assert set(run.keys("session_exchanges")) == expected_exchange_keys(app, expected)
    assert run.duplicates("session_exchanges") == {}

    # The documented example comes through verbatim, with the tap's two fields added.
    documented = next(r for r in run.records["sessions"] if r["rid"] == DOCUMENTED_SESSION["rid"])
    assert {k: documented[k] for k in DOCUMENTED_SESSION} == DOCUMENTED_SESSION
    assert documented["updated_time"] == "2024-10-01T22:04:24.962583+00:00"
    assert documented["agent_rid"] == DOCUMENTED_AGENT_RID
    exchanges = sorted((r for r in run.records["session_exchanges"] if r["session_rid"] == DOCUMENTED_SESSION["rid"]),
                       key=lambda r: r["exchange_index"])
    assert [{k: v for k, v in r.items() if k not in ("session_rid", "agent_rid", "exchange_index", "session_updated_time")}
            for r in exchanges] == app.contents[DOCUMENTED_SESSION["rid"]]

    # One bookmark per agent: the newest updatedTime; nothing in progress.
    partitions = run.final_state["bookmarks"]["sessions"]["partitions"]
    assert {p["context"]["agent_rid"]: p["replication_key_value"] for p in partitions} == {
        agent: norm(app.ordered(agent)[0]["metadata"]["updatedTime"]) for agent in AGENTS
    }
    assert_no_progress_markers(run.final_state)

    # Every request said preview=true; each agent's pages were fetched one after the other, each page of
    # the documented size (the first contents may be read meanwhile: see the look-ahead tests below).
    api = [r for r in app.requests if r.path.startswith("/api/")]
    assert all(r.arg("preview") == "true" for r in api)
    for agent in AGENTS:
        positions = [i for i, r in enumerate(api) if r.path.endswith(f"/agents/{agent}/sessions")]
        # every page once, then one more look at the first page (did the front move while paging?)
        assert len(positions) == math.ceil(len(app.ordered(agent)) / 40) + 1
        assert not api[positions[-1]].arg("pageToken")
        assert all(r.arg("pageSize") == "40" for r in list_requests_for(app, agent))


def test_second_run_reads_only_new_and_updated_sessions_and_stops_early(sandbox):
    app, server = sandbox
    config = config_for(app, server, page_size=20, lookback_days=1)
    first = run_tap(TapFoundryAIP, config)
    state = first.final_state
    bookmarks = {p["context"]["agent_rid"]: p["replication_key_value"]
                 for p in state["bookmarks"]["sessions"]["partitions"]}

    # Between runs: old sessions deep in the listing get new exchanges, new ones appear.
    old_a = [s["rid"] for s in app.ordered(DOCUMENTED_AGENT_RID)[150:153]] + [DOCUMENTED_SESSION["rid"]]
    old_b = [s["rid"] for s in app.ordered(SECOND_AGENT_RID)[90:92]]
    app.update_sessions(old_a + old_b)
    new = app.add_sessions(DOCUMENTED_AGENT_RID, 3) + app.add_sessions(SECOND_AGENT_RID, 2)
    app.requests.clear()

    second = run_tap(TapFoundryAIP, config, state=state)

    expected: set[str] = set()
    for agent in AGENTS:
        floor = parse_timestamp(bookmarks[agent].replace("+00:00", "Z")).timestamp() - 86400
        ordered = app.ordered(agent)
        wanted = [s for s in ordered if parse_timestamp(s["metadata"]["updatedTime"]).timestamp() >= floor]
        expected |= {s["rid"] for s in wanted}
        # It stops at the first page holding a session below the floor.
        pages = len(wanted) // 20 + 1
        assert len(list_requests_for(app, agent)) == pages < math.ceil(len(ordered) / 20)
    assert set(old_a + old_b + new) <= expected
    assert {k[0] for k in second.keys("sessions")} == expected
    assert second.duplicates("sessions") == {}
    # Contents only of the sessions updated since the bookmark (request economy): the lookback re-lists.
    assert set(second.keys("session_exchanges")) == expected_exchange_keys(app, old_a + old_b + new)
    assert len(app.requests_to(r"/content$")) == len(old_a + old_b + new)
    # The documented session now has its new exchange.
    assert (DOCUMENTED_SESSION["rid"], 3) in set(second.keys("session_exchanges"))
    new_bookmarks = {p["context"]["agent_rid"]: p["replication_key_value"]
                     for p in second.final_state["bookmarks"]["sessions"]["partitions"]}
    assert new_bookmarks == {agent: norm(app.ordered(agent)[0]["metadata"]["updatedTime"]) for agent in AGENTS}
    assert_no_progress_markers(second.final_state)


def test_far_future_bookmark_emits_nothing_and_reads_one_page_per_agent(sandbox):
    app, server = sandbox
    state = {"bookmarks": {"sessions": {"partitions": [
        {"context": {"agent_rid": agent}, "replication_key": "updated_time",
         "replication_key_value": "2099-01-01T00:00:00.000000+00:00"} for agent in AGENTS]}}}
    run = run_tap(TapFoundryAIP, config_for(app, server, page_size=10, lookback_days=0), state=state)
    assert run.records["sessions"] == []
    assert run.records["session_exchanges"] == []
    assert [len(list_requests_for(app, a)) for a in AGENTS] == [1, 1]
    assert not app.requests_to(r"/content$")


def test_expired_page_token_restarts_the_listing_and_loses_nothing(sandbox):
    app, server = sandbox
    app.stall_before_list_request(3)  # the 3rd page request arrives after its token expired
    run = run_tap(TapFoundryAIP, config_for(app, server, page_size=25))

    rejected_token = list_requests_for(app, DOCUMENTED_AGENT_RID)[2].arg("pageToken")
    assert rejected_token  # the third request carried a token, and it was refused:
    first_pages = [r for r in list_requests_for(app, DOCUMENTED_AGENT_RID) if not r.arg("pageToken")]
    assert len(first_pages) == 3  # the listing restarted from the first page, then one look at the front
    expected = {s["rid"] for agent in AGENTS for s in app.ordered(agent)}
    assert {k[0] for k in run.keys("sessions")} == expected
    assert run.duplicates("sessions") == {}
    assert set(run.keys("session_exchanges")) == expected_exchange_keys(app, expected)
    assert_no_progress_markers(run.final_state)


def test_page_tokens_refused_every_time_fail_clearly_without_bookmark(sandbox):
    app, server = sandbox
    for n in range(2, 30):
        app.stall_before_list_request(n)
    run = run_tap(TapFoundryAIP, config_for(app, server, page_size=50), expect_error=True)
    assert run.error is not None
    assert "InvalidPageToken" in str(run.error)
    assert DOCUMENTED_AGENT_RID in str(run.error)
    assert run.records["sessions"] == []
    assert "replication_key_value" not in json.dumps(run.final_state)


def test_throttling_429_and_503_back_off_and_go_on(sandbox):
    app, server = sandbox
    app.throttle(429, times=2, retry_after="0", path=r"/sessions$")
    app.throttle(503, times=2, retry_after=None, path=r"/content$", after=5)
    run = run_tap(TapFoundryAIP, config_for(app, server))
    assert [kind for kind, _ in app.faults.fired] == ["status"] * 4
    expected = {s["rid"] for agent in AGENTS for s in app.ordered(agent)}
    assert {k[0] for k in run.keys("sessions")} == expected
    assert set(run.keys("session_exchanges")) == expected_exchange_keys(app, expected)


def test_one_token_per_run_and_one_re_mint_on_401(sandbox):
    app, server = sandbox
    body = {"errorCode": "UNAUTHORIZED", "errorName": "Default:Unauthorized",
            "errorInstanceId": "00000000-0000-4000-8000-000000000401", "parameters": {}}
    app.faults.add("status", r"/content$", status=401, body=body, after=10)
    run = run_tap(TapFoundryAIP, config_for(app, server))
    token_requests = app.requests_to(r"^/multipass/api/oauth2/token$")
    assert len(token_requests) == 2
    assert token_requests[0].form()["scope"] == "api:aip-agents-read"
    assert len(run.records["sessions"]) == sum(len(app.ordered(a)) for a in AGENTS)


def test_unknown_agent_ends_with_a_clear_message(sandbox):
    app, server = sandbox
    unknown = "ri.aip-agents..agent.00000000-0000-4000-8000-00000000dead"
    config = config_for(app, server, agent_rids=[unknown], max_retries=0)
    result = run_tap_cli(MODULE, config)
    assert result.returncode != 0
    assert "AgentNotFound" in result.stderr
    assert "errorInstanceId" in result.stderr
    assert unknown in result.stderr
    assert "agent_rids" in result.stderr
    assert app.client_secret not in result.output


def test_missing_scope_names_the_scope(sandbox):
    app, server = sandbox
    config = {**config_for(app, server), "token": "sandbox-foundry-token-without-scope"}
    del config["client_id"], config["client_secret"]
    result = run_tap_cli(MODULE, config)
    assert result.returncode != 0
    assert "ApiUsageDenied" in result.stderr
    assert "api:aip-agents-read" in result.stderr
    assert "sandbox-foundry-token-without-scope" not in result.output


def test_bad_client_secret_names_the_settings_and_hides_the_secret(sandbox):
    app, server = sandbox
    config = config_for(app, server, client_secret="wrong-secret-value-123")
    result = run_tap_cli(MODULE, config)
    assert result.returncode != 0
    assert "client_id and client_secret" in result.stderr
    assert "wrong-secret-value-123" not in result.output


def test_zero_sessions_logs_the_likely_cause(sandbox):
    app, server = sandbox
    config = config_for(app, server, client_id=app.other_client_id,
                        client_secret=app.clients[app.other_client_id])
    result = run_tap_cli(MODULE, config)
    assert result.returncode == 0, result.stderr
    assert result.run.records["sessions"] == []
    assert "same OAuth client" in result.stderr
    assert DOCUMENTED_AGENT_RID in result.stderr


def test_session_gone_before_its_content_is_read_is_skipped_with_a_warning(sandbox):
    app, server = sandbox
    gone = app.ordered(SECOND_AGENT_RID)[0]["rid"]
    body = {"errorCode": "NOT_FOUND", "errorName": "SessionNotFound", "errorInstanceId": "x",
            "parameters": {"sessionRid": gone}}
    app.faults.add("status", rf"/sessions/{gone}/content$", status=404, body=body)
    run = run_tap(TapFoundryAIP, config_for(app, server))
    expected = {s["rid"] for agent in AGENTS for s in app.ordered(agent)}
    assert {k[0] for k in run.keys("sessions")} == expected
    assert set(run.keys("session_exchanges")) == expected_exchange_keys(app, expected - {gone})


def test_no_secret_or_token_in_output(sandbox):
    app, server = sandbox
    result = run_tap_cli(MODULE, config_for(app, server), extra_args=())
    assert result.returncode == 0, result.stderr
    issued = [t for t, (_, _, exp) in app.tokens.items() if exp != float("inf")]
    assert issued
    for secret in [app.client_secret, *issued]:
        assert secret not in result.output
    page_tokens = list(app.page_tokens)
    assert all(t not in result.output for t in page_tokens)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"token": "abc123456"}, "token"),  # both auth modes
        ({"client_secret": None}, "client_id"),
        ({"agent_rids": []}, "agent_rids"),
        ({"agent_rids": ["agent-1"]}, "agent_rids"),
        ({"page_size": 101}, "page_size"),
        ({"api_url": "foundry.example.com"}, "api_url"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_config_fails_before_any_request(sandbox, overrides, named):
    app, server = sandbox
    config = {k: v for k, v in {**config_for(app, server), **overrides}.items() if v is not None}
    result = run_tap_cli(MODULE, config)
    assert result.returncode != 0
    assert named in result.stderr
    assert app.requests == []


def test_sessions_updated_mid_listing_are_read_in_the_same_run(sandbox):
    """Defect 6: sessions that jump to the front while the tap pages are re-listed, so this run misses none."""
    app, server = sandbox
    config = config_for(app, server, page_size=20, lookback_days=0)
    ordered = app.ordered(DOCUMENTED_AGENT_RID)
    moved = [s["rid"] for s in ordered[45:48]]  # on page 3 when the listing starts
    # Before page 2 is served they get new exchanges and jump to the front (page 1,
    # already read): offset tokens shift, and the first pass never lists them.
    app.before_list_request(2, lambda: app.update_sessions(moved))
    pages = math.ceil(len(ordered) / 20)
    first = run_tap(TapFoundryAIP, config)
    assert first.duplicates("sessions") == {}
    assert first.duplicates("session_exchanges") == {}
    seen = {k[0] for k in first.keys("sessions")}
    everything = {s["rid"] for agent in AGENTS for s in app.ordered(agent)}
    assert everything - seen == set()  # 0 missed in this run
    assert set(first.keys("session_exchanges")) == expected_exchange_keys(app, everything)
    emitted = {r["rid"]: r for r in first.records["sessions"]}
    assert all(emitted[rid]["updated_time"] == norm(app.sessions[DOCUMENTED_AGENT_RID][rid]["metadata"]["updatedTime"])
               for rid in moved)  # their new version
    # bounded: the full pass, one look at the front, one short re-list of the front, one more look
    assert len(list_requests_for(app, DOCUMENTED_AGENT_RID)) <= pages + 3


def test_a_listing_that_cannot_be_made_complete_says_so_naming_the_agent(sandbox):
    """Defect 6: when sessions keep jumping to the front on every page, the re-lists stop (bounded) and the
    run says the agent's listing may be incomplete: an error log naming the agent, a gap in the summary."""
    app, server = sandbox
    app.churn_on_every_page(SECOND_AGENT_RID, 5)
    config = config_for(app, server, page_size=3, lookback_days=0)
    result = run_tap_cli(MODULE, config)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"Listing of agent {SECOND_AGENT_RID} may be INCOMPLETE" in result.stderr
    assert "updated during the listing" in result.stderr  # the run summary's gap
    listing = list_requests_for(app, SECOND_AGENT_RID)
    assert len(listing) < 5 * math.ceil(len(app.ordered(SECOND_AGENT_RID)) / 3)  # bounded (MAX_RELISTS)


def test_failure_mid_agent_keeps_that_agents_bookmark_and_the_rerun_reads_it_all(sandbox):
    app, server = sandbox
    config = config_for(app, server, max_retries=1)
    body = {"errorCode": "INTERNAL", "errorName": "Default:Internal", "errorInstanceId": "i-500", "parameters": {}}
    # one session, both attempts: the same failure whatever max_concurrency is
    failing_session = app.ordered(SECOND_AGENT_RID)[30]["rid"]
    second_agent_content = rf"/agents/{SECOND_AGENT_RID}/sessions/{re.escape(failing_session)}/content$"
    app.faults.add("status", second_agent_content, status=500, body=body, times=2)
    failed = run_tap(TapFoundryAIP, config, expect_error=True)
    assert failed.error is not None
    assert "Default:Internal" in str(failed.error)
    assert "i-500" in str(failed.error)
    partitions = {p["context"]["agent_rid"]: p for p in failed.final_state["bookmarks"]["sessions"]["partitions"]}
    assert partitions[DOCUMENTED_AGENT_RID]["replication_key_value"] == norm(
        app.ordered(DOCUMENTED_AGENT_RID)[0]["metadata"]["updatedTime"])
    assert "replication_key_value" not in partitions[SECOND_AGENT_RID]  # only a progress marker

    rerun = run_tap(TapFoundryAIP, config_for(app, server, lookback_days=0), state=failed.final_state)
    second = {s["rid"] for s in app.ordered(SECOND_AGENT_RID)}
    assert {k[0] for k in rerun.keys("sessions")} >= second
    assert set(rerun.keys("session_exchanges")) >= expected_exchange_keys(app, second)


# --- look-ahead with max_concurrency > 1 (the next agent listed while this one's contents are read) ------------


def content_requests_for(app: FoundryAIPSandbox, agent_rid: str) -> list:
    return app.requests_to(rf"/agents/{re.escape(agent_rid)}/sessions/[^/]+/content$")


def request_index(app: FoundryAIPSandbox, request) -> int:
    return next(i for i, r in enumerate(app.requests) if r is request)


@pytest.mark.parametrize("workers", [1, 8])
def test_next_agents_listing_and_first_contents_run_ahead_only_with_workers(sandbox, workers):
    app, server = sandbox
    app.latency_seconds = 0.005  # workers overlap for real
    run = run_tap(TapFoundryAIP, config_for(app, server, max_concurrency=workers))
    assert len(run.records["sessions"]) == sum(len(app.ordered(agent)) for agent in AGENTS)
    first_listing = list_requests_for(app, DOCUMENTED_AGENT_RID)
    assert len(first_listing) > 2  # pages, then the re-check of the first page
    second_listing = request_index(app, list_requests_for(app, SECOND_AGENT_RID)[0])
    first_contents = [request_index(app, r) for r in content_requests_for(app, DOCUMENTED_AGENT_RID)]
    listing_done = request_index(app, first_listing[-1])
    if workers == 1:  # serial: one agent after the other, a listing before its contents
        assert second_listing > max(first_contents)
        assert min(first_contents) > listing_done
    else:
        assert second_listing < max(first_contents)  # listed while the first agent's contents were read
        assert min(first_contents) < listing_done  # contents requested while the listing paged on
        assert sum(1 for i in first_contents if i < listing_done) <= 8 * LOOKAHEAD_PER_WORKER  # the look-ahead window


def test_next_agents_listing_error_surfaces_where_a_serial_run_raises_it(sandbox):
    """A listing failure of the second agent, met ahead, ends the run after the first agent's records
    and bookmark, exactly as serially (same records, same STATE messages, same error)."""
    from tests.test_concurrency import comparable

    app, server = sandbox
    app.latency_seconds = 0.005
    body = {"errorCode": "INTERNAL", "errorName": "Default:Internal", "errorInstanceId": "i-list", "parameters": {}}
    outputs = []
    for workers in (1, 8):
        app.faults.add("status", rf"/agents/{re.escape(SECOND_AGENT_RID)}/sessions$", status=500, body=body,
                       times=2)
        with app.lock:
            app.requests.clear()
        run = run_tap(TapFoundryAIP, config_for(app, server, max_retries=1, max_concurrency=workers),
                      expect_error=True)
        assert run.error is not None
        assert "i-list" in str(run.error)
        assert len(run.records["session_exchanges"]) == sum(
            len(app.contents[s["rid"]]) for s in app.ordered(DOCUMENTED_AGENT_RID))
        partitions = {p["context"]["agent_rid"]: p for p in run.final_state["bookmarks"]["sessions"]["partitions"]}
        assert partitions[DOCUMENTED_AGENT_RID]["replication_key_value"] == norm(
            app.ordered(DOCUMENTED_AGENT_RID)[0]["metadata"]["updatedTime"])
        failed_at = request_index(app, list_requests_for(app, SECOND_AGENT_RID)[0])
        last_content = max(request_index(app, r) for r in content_requests_for(app, DOCUMENTED_AGENT_RID))
        assert (failed_at < last_content) == (workers > 1)  # met ahead with workers, raised at its partition
        outputs.append((comparable(run, None), str(run.error)))
    assert outputs[0] == outputs[1]
