"""End to end: ``meltano run tap-kore-agentai target-duckdb`` against the emulator."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from sandboxes.base import SandboxServer
from sandboxes.kore_agentai import KoreAgentAISandbox
from tests.meltano_harness import ensure_installed, meltano_run, table_counts, table_rows

START = date(2025, 10, 1)  # the dev environment's start_date


@pytest.mark.e2e
def test_meltano_run_loads_what_the_sandbox_served(tmp_path):
    ensure_installed("extractor", "tap-kore-agentai")
    ensure_installed("loader", "target-duckdb")
    app = KoreAgentAISandbox()
    with SandboxServer(app) as server:
        db, _ = meltano_run("tap-kore-agentai", "target-duckdb", tmp_path, {"TAP_KORE_AGENTAI_API_URL": server.url})
        served = app.conversations_between(START, datetime.now(timezone.utc).date())

    expected_messages = {(c["_id"], i) for c in served for i in range(len(c["messages"] or []))}
    counts = table_counts(db)
    assert counts["tap_kore_agentai.conversations"] == len(served)
    assert counts["tap_kore_agentai.conversation_messages"] == len(expected_messages)
    rows = table_rows(db, "tap_kore_agentai", "conversations", ["_id", "convid"])
    assert {r[0] for r in rows} == {c["_id"] for c in served}
    assert {r[1] for r in rows} == {c["convId"] for c in served}
    keys = table_rows(db, "tap_kore_agentai", "conversation_messages", ["conversation_record_id", "message_index"])
    assert set(keys) == expected_messages
