"""End to end: ``meltano run tap-zoom-aic target-duckdb`` against the Zoom sandbox."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from sandboxes.base import SandboxServer
from sandboxes.zoom_aic import ZoomAICSandbox, parse_strict
from tests.meltano_harness import ensure_installed, meltano_run, table_counts, table_rows


@pytest.mark.e2e
def test_meltano_run_loads_the_sandbox_into_duckdb(tmp_path: Path) -> None:
    ensure_installed("extractor", "tap-zoom-aic")
    ensure_installed("loader", "target-duckdb")
    app = ZoomAICSandbox()
    with SandboxServer(app) as server:
        config = app.demo_config(server.url)
        env = {
            "TAP_ZOOM_AIC_API_URL": config["api_url"],
            "TAP_ZOOM_AIC_TOKEN_URL": config["token_url"],
            "TAP_ZOOM_AIC_STORAGE_URL": str(tmp_path / "storage"),
            "TAP_ZOOM_AIC_PAGE_SIZE": "9",
        }
        db, _ = meltano_run("tap-zoom-aic", "target-duckdb", tmp_path, env)
    start, end = parse_strict(config["start_date"]), datetime.now(timezone.utc)
    users = app.archived_users()
    active_users = {u["id"] for u in users if app.conversations_in(u["id"], start, end)}
    attachments = {(u["id"], a.file_id): a for u in users for a in app.attachments_between(u["id"], start, end)}

    counts = table_counts(db)
    assert counts["tap_zoom_aic.users"] == len(users)
    assert counts["tap_zoom_aic.archive_attachments"] == len(attachments)
    assert counts["tap_zoom_aic.conversation_archives"] == counts["tap_zoom_aic.conversation_histories"]
    assert {r[0] for r in table_rows(db, "tap_zoom_aic", "users", ["id"])} == {u["id"] for u in users}
    archived = table_rows(db, "tap_zoom_aic", "conversation_archives", ["user_id", "start_time", "end_time"])
    assert len(set(archived)) == len(archived)
    assert {r[0] for r in archived} == active_users
    loaded = table_rows(db, "tap_zoom_aic", "archive_attachments", ["user_id", "file_id", "sha256", "size_bytes"])
    assert {(u, f): (s, n) for u, f, s, n in loaded} == {k: (a.sha256(), a.file_size) for k, a in attachments.items()}
