"""End to end: ``meltano run tap-knovvu target-duckdb`` against the emulator, counts and keys checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandboxes.base import SandboxServer
from sandboxes.knovvu import KnovvuSandbox
from tests.meltano_harness import ensure_installed, meltano_run, table_counts, table_rows


@pytest.mark.e2e
def test_meltano_run_loads_matching_counts(tmp_path: Path) -> None:
    ensure_installed("extractor", "tap-knovvu")
    ensure_installed("loader", "target-duckdb")
    app = KnovvuSandbox(downloads_per_hour=10_000)
    with SandboxServer(app) as server:
        env = {
            "TAP_KNOVVU_API_URL": server.url,
            "TAP_KNOVVU_TOKEN_URL": f"{server.url}/connect/token",
            "TAP_KNOVVU_CLIENT_ID": app.client_id,
            "TAP_KNOVVU_CLIENT_SECRET": app.client_secret,
            "TAP_KNOVVU_STORAGE_URL": str(tmp_path / "storage"),
            "TAP_KNOVVU_DOWNLOADS_PER_HOUR": "0",
        }
        db, _ = meltano_run("tap-knovvu", "target-duckdb", tmp_path, env)
    expected_files = app.expected_files()
    hours = sum(len(app.days[d]) for d in app.retained_days())
    sessions = sum(len(app.days[d][h]["sessions"]) for d in app.retained_days() for h in app.days[d])
    counts = {k.split(".", 1)[1]: v for k, v in table_counts(db).items()}
    assert counts == {
        "daily_recording_manifests": len(app.retained_days()),
        "hourly_archives": hours,
        "recording_sessions": sessions,
        "recording_files": len(expected_files),
    }
    schema = next(k for k in table_counts(db) if k.endswith(".recording_files")).split(".")[0]
    rows = table_rows(db, schema, "recording_files", ["date", "hour", "sessionid", "filename", "sha256"])
    assert {(str(d), h, s, f): sha for d, h, s, f, sha in rows} == \
        {k: v["sha256"] for k, v in expected_files.items()}
