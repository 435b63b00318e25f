"""The tap settings an orchestrator's partitions use, against the sandboxes over HTTP.

Zoom ``user_shard``/``user_shards`` (users split by sha256 of their id), Knovvu
``start_date``/``end_date`` (one UTC day per run) and Kore.ai ``end_date`` (one
7-day window per run). Expectations come from the sandboxes' own data.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from singer_sdk.exceptions import ConfigValidationError

from sandboxes.base import SandboxServer
from sandboxes.knovvu import KnovvuSandbox
from sandboxes.kore_agentai import KoreAgentAISandbox
from sandboxes.zoom_aic import ZoomAICSandbox
from taps.knovvu.tap import TapKnovvu
from taps.kore_agentai.tap import TapKoreAgentAI
from taps.zoom_aic.streams import user_in_shard
from taps.zoom_aic.tap import TapZoomAIC
from tests.helpers import run_tap

ZOOM_END = "2021-10-31T00:00:00Z"


def test_user_in_shard_is_sha256_of_the_id_modulo_shards() -> None:
    ids = [f"user-{n}" for n in range(200)]
    for uid in ids:
        owners = [s for s in range(5) if user_in_shard(uid, s, 5)]
        assert owners == [int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big") % 5]
    # every shard gets some of 200 ids (a constant function would fail this)
    assert all(any(user_in_shard(uid, s, 5) for uid in ids) for s in range(5))


def test_zoom_shards_split_the_users_and_their_archives(tmp_path: Path) -> None:
    app = ZoomAICSandbox()
    with SandboxServer(app) as server:
        base = {**app.demo_config(server.url), "end_date": ZOOM_END, "retry_base_seconds": 0.01,
                "storage_url": str(tmp_path / "storage")}
        whole = run_tap(TapZoomAIC, base)
        shards = [run_tap(TapZoomAIC, {**base, "user_shards": 3, "user_shard": n}) for n in range(3)]
    all_users = {u["id"] for u in app.archived_users()}
    assert {r["id"] for r in whole.records["users"]} == all_users
    per_shard = [{r["id"] for r in run.records["users"]} for run in shards]
    assert set().union(*per_shard) == all_users
    assert sum(len(s) for s in per_shard) == len(all_users)  # disjoint
    for n, users in enumerate(per_shard):
        assert users == {u for u in all_users if user_in_shard(u, n, 3)}
        assert {r["user_id"] for r in shards[n].records["conversation_archives"]} <= users
    for stream in ("conversation_archives", "conversation_histories", "archive_attachments"):
        union = sorted(k for run in shards for k in run.keys(stream))
        assert union == sorted(whole.keys(stream)), stream
    assert whole.records["conversation_archives"]


ZOOM_BASE = {"account_id": "a", "client_id": "b", "client_secret": "c", "start_date": "2021-01-01T00:00:00Z",
             "storage_url": "/tmp/x"}


@pytest.mark.parametrize(("change", "needle"), [
    ({"user_shard": 1}, "user_shard needs user_shards"),
    ({"user_shards": 4}, "user_shards needs user_shard"),
    ({"user_shards": 4, "user_shard": 4}, "user_shard must be between 0 and user_shards - 1"),
])
def test_zoom_bad_shard_settings_name_the_setting(change: dict, needle: str) -> None:
    with pytest.raises(ConfigValidationError) as info:
        TapZoomAIC(config={**ZOOM_BASE, **change})
    assert needle in " ".join(info.value.errors)


def test_knovvu_one_day_per_run_with_start_and_end_date(tmp_path: Path) -> None:
    app = KnovvuSandbox(downloads_per_hour=10_000)
    days = app.retained_days()
    assert len(days) >= 2
    target = days[-2]  # not the newest: end_date must stop before yesterday
    with SandboxServer(app) as server:
        config = {**app.demo_config(server.url), "storage_url": str(tmp_path / "s"), "downloads_per_hour": 0,
                  "start_date": f"{target}T00:00:00Z", "end_date": f"{target}T23:59:59Z",
                  "retry_base_seconds": 0.01}
        run = run_tap(TapKnovvu, config)
    assert [r["date"] for r in run.records["daily_recording_manifests"]] == [target]
    assert {r["date"] for r in run.records["hourly_archives"]} == {target}
    expected = {k for k in app.expected_files() if k[0] == target}
    got = {(r["date"], r["hour"], r["sessionId"], r["fileName"]) for r in run.records["recording_files"]}
    assert got == expected
    bookmark = run.final_state["bookmarks"]["daily_recording_manifests"]
    assert bookmark["replication_key_value"] == target
    assert not bookmark["incomplete_days"]


def test_knovvu_end_date_before_start_date_is_refused() -> None:
    config = {"client_id": "a", "client_secret": "b", "storage_url": "/tmp/x",
              "start_date": "2026-01-05T00:00:00Z", "end_date": "2026-01-04T00:00:00Z"}
    with pytest.raises(ConfigValidationError) as info:
        TapKnovvu(config=config)
    assert "end_date must not be before start_date" in " ".join(info.value.errors)


def test_kore_one_window_per_run_with_end_date() -> None:
    app = KoreAgentAISandbox(days=30)
    first = app.last_day - timedelta(days=20)
    last = first + timedelta(days=6)
    with SandboxServer(app) as server:
        config = {**app.demo_config(server.url), "start_date": f"{first}T00:00:00Z",
                  "end_date": f"{last}T23:59:59Z", "retry_base_seconds": 0.01}
        run = run_tap(TapKoreAgentAI, config)
    expected = {r["_id"] for r in app.conversations_between(first, last)}
    assert expected
    assert {r["_id"] for r in run.records["conversations"]} == expected
    bodies = [r.json() for r in app.requests_to(r"/aaconversation$")]
    assert {(b["from"], b["to"]) for b in bodies} == {(first.isoformat(), last.isoformat())}


def test_kore_end_date_before_start_date_is_refused() -> None:
    app = KoreAgentAISandbox(days=1)
    config = {**app.demo_config("http://127.0.0.1:1"), "start_date": "2026-01-05T00:00:00Z",
              "end_date": "2026-01-04T00:00:00Z"}
    with pytest.raises(ConfigValidationError) as info:
        TapKoreAgentAI(config=config)
    assert "end_date must not be before start_date" in " ".join(info.value.errors)

