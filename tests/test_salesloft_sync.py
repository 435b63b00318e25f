"""tap-salesloft against the Salesloft sandbox over real HTTP: records, counts, state."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta

import pytest

from sandboxes.base import SandboxServer
from sandboxes.salesloft import SalesloftSandbox
from taps.common.timestamps import parse_timestamp
from taps.salesloft.tap import TapSalesloft
from tests.helpers import catalog_for, run_tap

BIG_BUDGET = 1_000_000
NO_EXTENSIVE = {"conversation_extensive": False}


@pytest.fixture
def sandbox() -> t.Iterator[tuple[SalesloftSandbox, SandboxServer]]:
    app = SalesloftSandbox(budget=BIG_BUDGET)
    with SandboxServer(app) as server:
        yield app, server


def config_for(app: SalesloftSandbox, server: SandboxServer, **extra: t.Any) -> dict:
    return {**app.demo_config(server.url), "retry_base_seconds": 0.01, "rate_limit_reserve": 0, **extra}


def expected_sentence_keys(app: SalesloftSandbox) -> set[tuple]:
    return {(tr_id, s["order_number"]) for tr_id, rows in app.sentences.items() for s in rows}


def conversation_requests(app: SalesloftSandbox) -> list:
    return app.requests_to(r"^/v2/conversations$")


def test_the_sandbox_has_the_awkward_cases() -> None:
    """Guard for the tests below: ties straddle page boundaries and one tie group is larger than a page."""
    app = SalesloftSandbox()
    stamps = sorted(parse_timestamp(c["updated_at"]) for c in app.conversations.values())
    assert stamps[99] == stamps[100]
    assert max(stamps.count(s) for s in set(stamps)) > 100
    assert any(c["event_end_date"] is None for c in app.conversations.values())
    assert any("\n" in c["title"] and '"' not in c["title"] for c in app.conversations.values())
    assert any(ord(ch) > 0xFFFF for c in app.conversations.values() for ch in c["title"])  # emoji
    assert sum(len(v) > 100 for v in app.sentences.values()) > 0


def test_full_sync_emits_every_record_once(sandbox) -> None:
    app, server = sandbox
    catalog = catalog_for(TapSalesloft, config_for(app, server))
    run = run_tap(TapSalesloft, config_for(app, server), catalog=catalog)

    assert {r["id"] for r in run.records["conversations"]} == set(app.conversations)
    assert run.duplicates("conversations") == {}
    assert {r["id"] for r in run.records["transcriptions"]} == set(app.transcriptions)
    assert run.duplicates("transcriptions") == {}
    assert set(run.keys("transcription_sentences")) == expected_sentence_keys(app)
    assert run.duplicates("transcription_sentences") == {}
    assert {r["id"] for r in run.records["conversation_extensive"]} == set(app.extensive)
    # the documented example record comes through verbatim
    documented = next(r for r in run.records["conversations"] if r["id"] == "3fa85f64-5717-4562-b3fc-2c963f66afa6")
    assert documented == app.conversations["3fa85f64-5717-4562-b3fc-2c963f66afa6"]
    # keyset paging: never a deep page; the 130-row tie group was walked with page 2
    pages = [int(r.arg("page")) for r in conversation_requests(app)]
    assert max(pages) == 2
    assert all(r.arg("sort_by") == "updated_at" and r.arg("sort_direction") == "asc" for r in conversation_requests(app))
    assert all(r.arg("per_page") == "100" for r in conversation_requests(app))
    # final bookmark is the newest updated_at served
    newest = max(app.conversations.values(), key=lambda c: parse_timestamp(c["updated_at"]))["updated_at"]
    assert run.final_state["bookmarks"]["conversations"]["replication_key_value"] == newest


def test_state_is_checkpointed_and_never_ahead_of_records(sandbox) -> None:
    app, server = sandbox
    catalog = catalog_for(TapSalesloft, config_for(app, server), NO_EXTENSIVE)
    run = run_tap(TapSalesloft, config_for(app, server), catalog=catalog)
    bookmarks = [s["bookmarks"]["conversations"].get("replication_key_value")
                 for s in run.states if s.get("bookmarks", {}).get("conversations")]
    assert len([b for b in bookmarks if b]) >= 3  # checkpointed as it goes, not only at the end
    emitted = [parse_timestamp(r["updated_at"]) for r in run.records["conversations"]]
    # the bookmark never passes the newest record emitted before the STATE message
    stream_order = _interleave(run.stdout, "conversations")
    newest_so_far: datetime | None = None
    for kind, value in stream_order:
        if kind == "RECORD":
            assert value is not None  # a record's updated_at
            newest_so_far = max(newest_so_far or value, value)
        elif value is not None:
            assert newest_so_far is not None and value <= newest_so_far
    assert emitted == sorted(emitted)


def _interleave(stdout: str, stream: str) -> list[tuple[str, datetime | None]]:
    import json

    out: list[tuple[str, datetime | None]] = []
    for line in stdout.splitlines():
        msg = json.loads(line)
        if msg["type"] == "RECORD" and msg["stream"] == stream:
            out.append(("RECORD", parse_timestamp(msg["record"]["updated_at"])))
        elif msg["type"] == "STATE":
            value = msg["value"].get("bookmarks", {}).get(stream, {}).get("replication_key_value")
            out.append(("STATE", parse_timestamp(value) if value else None))
    return out


def test_second_run_reads_only_from_bookmark_minus_lookback(sandbox) -> None:
    app, server = sandbox
    config = config_for(app, server, lookback_days=1)
    catalog = catalog_for(TapSalesloft, config, NO_EXTENSIVE)
    first = run_tap(TapSalesloft, config, catalog=catalog)
    bookmark = parse_timestamp(first.final_state["bookmarks"]["conversations"]["replication_key_value"])

    changed = sorted(app.conversations)[:7]
    app.touch(changed)
    app.requests.clear()
    second = run_tap(TapSalesloft, config, state=first.final_state, catalog=catalog)

    bound = bookmark - timedelta(days=1)
    requested = [parse_timestamp(r.arg("updated_at[gte]")) for r in conversation_requests(app)]
    assert requested and min(requested) >= bound
    assert requested[0] == bound
    expected = {cid for cid, c in app.conversations.items() if parse_timestamp(c["updated_at"]) >= bound}
    emitted = {r["id"] for r in second.records["conversations"]}
    assert emitted == expected
    assert set(changed) <= emitted
    assert len(emitted) < len(app.conversations)
    # sentences only for the transcriptions that were re-emitted
    transcriptions = {r["id"] for r in second.records["transcriptions"]}
    assert {k[0] for k in second.keys("transcription_sentences")} <= transcriptions
    assert parse_timestamp(second.final_state["bookmarks"]["conversations"]["replication_key_value"]) > bookmark


def test_far_future_state_emits_nothing(sandbox) -> None:
    app, server = sandbox
    future = "2999-01-01T00:00:00.000Z"
    state = {"bookmarks": {name: {"replication_key": "updated_at", "replication_key_value": future}
                           for name in ("conversations", "transcriptions")}}
    config = config_for(app, server)
    run = run_tap(TapSalesloft, config, state=state, catalog=catalog_for(TapSalesloft, config, NO_EXTENSIVE))
    assert sum(len(v) for v in run.records.values()) == 0
    assert run.final_state["bookmarks"]["conversations"]["replication_key_value"] == future


def test_rows_updated_during_the_run_are_not_lost(sandbox) -> None:
    """10% of conversations change while the tap pages: keyset paging still sees every row."""
    app, server = sandbox
    original = app.handle
    calls = {"n": 0}
    victims = sorted(app.conversations)[::10]

    def handle(request):
        if request.path == "/v2/conversations":
            calls["n"] += 1
            if calls["n"] == 3:
                app.touch(victims)
        return original(request)

    app.handle = handle
    config = config_for(app, server)
    run = run_tap(TapSalesloft, config, catalog=catalog_for(TapSalesloft, config, NO_EXTENSIVE))
    emitted = [r["id"] for r in run.records["conversations"]]
    assert set(emitted) == set(app.conversations)
    # the updated rows come again with their new updated_at (at least once, never lost)
    latest = {r["id"]: r["updated_at"] for r in run.records["conversations"]}
    assert all(latest[v] == app.conversations[v]["updated_at"] for v in victims)
