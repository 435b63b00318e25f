"""End to end: ``meltano run tap-foundry-aip target-duckdb`` against the emulator."""

from __future__ import annotations

import pytest

from sandboxes.base import SandboxServer
from sandboxes.foundry_aip import DOCUMENTED_AGENT_RID, SECOND_AGENT_RID, FoundryAIPSandbox
from tests.meltano_harness import ensure_installed, meltano_run, table_counts, table_rows


@pytest.mark.e2e
def test_meltano_run_loads_what_the_sandbox_served(tmp_path):
    ensure_installed("extractor", "tap-foundry-aip")
    ensure_installed("loader", "target-duckdb")
    app = FoundryAIPSandbox()
    with SandboxServer(app) as server:
        db, _ = meltano_run("tap-foundry-aip", "target-duckdb", tmp_path, {
            "TAP_FOUNDRY_AIP_API_URL": server.url,
            "TAP_FOUNDRY_AIP_PAGE_SIZE": "30",
        })
    sessions = {s["rid"] for agent in (DOCUMENTED_AGENT_RID, SECOND_AGENT_RID) for s in app.ordered(agent)}
    exchanges = {(rid, i) for rid in sessions for i in range(len(app.contents[rid]))}
    counts = table_counts(db)
    schema = next(name.split(".")[0] for name in counts if name.endswith(".sessions"))
    assert counts[f"{schema}.sessions"] == len(sessions)
    assert counts[f"{schema}.session_exchanges"] == len(exchanges)
    assert {r[0] for r in table_rows(db, schema, "sessions", ["rid"])} == sessions
    assert set(table_rows(db, schema, "session_exchanges", ["session_rid", "exchange_index"])) == exchanges
