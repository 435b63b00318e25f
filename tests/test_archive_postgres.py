"""The unified archive (dbt) on PostgreSQL equals the DuckDB build of the same vendor data.

One module-scoped pair of warehouses: the five sandboxes are started once; ``meltano
run`` loads all five taps into DuckDB (``target-duckdb``, then ``dbt-duckdb:build``) and,
from a fresh state backend, into a PostgreSQL database on the session's server
(``target-postgres``, then ``dbt-postgres:build``: models and every dbt test, the
reconciliation tests included). Both runs store files in the same folders, so the
archive rows can be compared whole, not only counted.
"""

from __future__ import annotations

import fcntl
import typing as t
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from sandboxes.base import SandboxServer
from sandboxes.foundry_aip import FoundryAIPSandbox
from sandboxes.knovvu import KnovvuSandbox
from sandboxes.kore_agentai import KoreAgentAISandbox
from sandboxes.salesloft import SalesloftSandbox
from sandboxes.zoom_aic import ZoomAICSandbox
from tests.helpers import REPO
from tests.meltano_harness import ensure_installed, meltano
from tests.servers import PostgresDatabase, PostgresServer
from tests.test_archive_e2e import TAPS, tap_env

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

SOURCES = ("zoom_aic", "knovvu", "salesloft", "foundry_aip", "kore_agentai")
RECONCILIATION_TESTS = ("reconcile_zoom_aic_messages", "reconcile_zoom_aic_files", "reconcile_knovvu_files",
                        "reconcile_salesloft_messages", "reconcile_salesloft_files", "reconcile_foundry_aip_messages",
                        "reconcile_kore_agentai_messages", "reconcile_conversations", "sequence_is_dense")
# what is compared per archive table: its key and the columns that must not depend on the warehouse
COMPARED = {
    "conversations": "conversation_key, source, source_conversation_id, title, channel, party_count, "
                     "message_count, media_count, vcon_uuid",
    "parties": "party_key, conversation_key, role, name, email, source_party_id",
    "messages": "message_key, conversation_key, party_key, role, sequence, text, source_message_id",
    "media_files": "media_key, conversation_key, kind, mediatype, storage_uri, sha256, size_bytes",
}


def _install(plugin_type: str, name: str, executable: str) -> None:
    if not (REPO / ".meltano" / f"{plugin_type}s" / name / "venv" / "bin" / executable).exists():
        meltano("install", f"--plugin-type={plugin_type}", name)


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> dict[str, t.Any]:
    """The same sandbox data built into DuckDB and into PostgreSQL by Meltano (taps, loader, dbt build)."""
    for tap in TAPS:
        ensure_installed("extractor", tap)
    ensure_installed("loader", "target-duckdb")
    ensure_installed("loader", "target-postgres")
    _install("utility", "dbt-duckdb", "dbt")
    _install("utility", "dbt-postgres", "dbt")
    tmp = tmp_path_factory.mktemp("archive-pg")
    database = postgres_server.create_database()
    db = tmp / "warehouse.duckdb"
    apps = {
        "tap-zoom-aic": ZoomAICSandbox(),
        "tap-knovvu": KnovvuSandbox(downloads_per_hour=10_000),
        "tap-salesloft": SalesloftSandbox(conversations=60),
        "tap-foundry-aip": FoundryAIPSandbox(sessions_per_agent=(20, 12)),
        "tap-kore-agentai": KoreAgentAISandbox(),
    }
    servers = {tap: SandboxServer(app).start() for tap, app in apps.items()}
    runs = {}
    try:
        env = {"MELTANO_ENVIRONMENT": "dev"}
        for tap, server in servers.items():
            env.update(tap_env(tap, apps[tap].demo_config(server.url)))
        for vendor in ("zoom_aic", "knovvu", "salesloft"):
            env[f"TAP_{vendor.upper()}_STORAGE_URL"] = str(tmp / "storage" / vendor)
        env["TAP_KNOVVU_DOWNLOADS_PER_HOUR"] = "0"
        duckdb_env = {
            "MELTANO_STATE_BACKEND_URI": f"file://{tmp / 'state-duckdb'}",
            "TARGET_DUCKDB_FILEPATH": str(db),
            "DBT_DUCKDB_DUCKDB_PATH": str(db),
            "DBT_DUCKDB_TARGET_PATH": str(tmp / "dbt-duckdb-target"),
            "DBT_DUCKDB_LOG_PATH": str(tmp / "dbt-duckdb-logs"),
        }
        postgres_env = {
            "MELTANO_STATE_BACKEND_URI": f"file://{tmp / 'state-postgres'}",
            **database.env(),
            "DBT_POSTGRES_HOST": database.host,
            "DBT_POSTGRES_PORT": str(database.port),
            "DBT_POSTGRES_USER": database.user,
            "DBT_POSTGRES_PASSWORD": database.password,
            "DBT_POSTGRES_DATABASE": database.name,
            "DBT_POSTGRES_TARGET_PATH": str(tmp / "dbt-postgres-target"),
            "DBT_POSTGRES_LOG_PATH": str(tmp / "dbt-postgres-logs"),
        }
        for name, target, dbt, extra in (("duckdb", "target-duckdb", "dbt-duckdb:build", duckdb_env),
                                         ("postgres", "target-postgres", "dbt-postgres:build", postgres_env)):
            blocks = [arg for tap in TAPS for arg in (tap, target)]
            with open(REPO / ".meltano" / "test-run.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                runs[name] = meltano("run", *blocks, dbt, env={**env, **extra}, timeout=2400)
    finally:
        for server in servers.values():
            server.stop()
    return {"db": db, "database": database, "runs": runs}


def _duckdb_rows(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_dbt_build_passes_on_postgres_with_every_test(builds: dict[str, t.Any]) -> None:
    log = builds["runs"]["postgres"].stdout + builds["runs"]["postgres"].stderr
    assert "Completed successfully" in log
    for name in RECONCILIATION_TESTS:
        assert f"PASS {name}" in log, name
    for name in ("unique_conversations_conversation_key", "relationships_messages_party_key__party_key__ref_parties_",
                 "accepted_values_media_files_kind__recording__attachment__transcript__history_file"):
        assert f"PASS {name}" in log, name
    database: PostgresDatabase = builds["database"]
    kinds = {row[0]: row[1] for row in database.query(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'archive'")}
    assert kinds == dict.fromkeys(COMPARED, "BASE TABLE")


@pytest.mark.parametrize("table", sorted(COMPARED))
def test_postgres_archive_equals_the_duckdb_archive(builds: dict[str, t.Any], table: str) -> None:
    """Row counts per source are equal, and so is every row (key and warehouse-independent columns)."""
    sql = f"SELECT {COMPARED[table]} FROM archive.{table}"  # noqa: S608 - test-owned identifiers
    in_duckdb = sorted(_duckdb_rows(builds["db"], sql), key=repr)
    in_postgres = sorted((tuple(r) for r in builds["database"].query(sql)), key=repr)
    per_source = f"SELECT split_part(conversation_key, ':', 1), count(*) FROM archive.{table} GROUP BY 1"  # noqa: S608
    counts_duckdb = dict(_duckdb_rows(builds["db"], per_source))
    counts_postgres = dict(builds["database"].query(per_source))
    assert counts_postgres == counts_duckdb
    if table in ("conversations", "parties"):
        assert set(counts_postgres) == set(SOURCES)
    assert len(in_postgres) == len(in_duckdb) > 0
    assert in_postgres == in_duckdb


def test_postgres_archive_times_equal_the_duckdb_archive(builds: dict[str, t.Any]) -> None:
    """``started_at``/``ended_at``/``sent_at`` are the same UTC instants on both warehouses."""
    for table, columns in (("conversations", "conversation_key, started_at, ended_at"),
                           ("messages", "message_key, sent_at"), ("media_files", "media_key, started_at")):
        sql = f"SELECT {columns} FROM archive.{table}"  # noqa: S608
        in_duckdb = {r[0]: r[1:] for r in _duckdb_rows(builds["db"], sql)}
        in_postgres = {r[0]: tuple(r[1:]) for r in builds["database"].query(sql)}
        assert set(in_postgres) == set(in_duckdb), table
        # epoch milliseconds (Kore.ai) and fractional seconds (Foundry) go through floating point
        # on both warehouses: equal to the microsecond or one off
        differ = {key: (pg, in_duckdb[key]) for key, pg in in_postgres.items()
                  if any(not _same_instant(a, b) for a, b in zip(pg, in_duckdb[key], strict=True))}
        assert not differ, f"{table}: {list(differ.items())[:3]}"


def _same_instant(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) <= timedelta(microseconds=1)
