"""``conversation-archive status`` against a demo-like run: Meltano runs the taps against their sandboxes into a
fresh DuckDB file, with a fresh system database (run history, systemdb state) of its own."""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from sandboxes.base import SandboxServer
from sandboxes.foundry_aip import DOCUMENTED_AGENT_RID, SECOND_AGENT_RID, FoundryAIPSandbox
from sandboxes.knovvu import KnovvuSandbox
from tests.helpers import REPO
from tests.meltano_harness import ensure_installed, meltano

pytestmark = pytest.mark.e2e


def status(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``conversation-archive status <args>`` as an operator runs it, in the project folder."""
    code = "import sys; from conversation_archive.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, "status", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def archived(tmp_path_factory: pytest.TempPathFactory):
    """Knovvu and Foundry archived by ``meltano run`` (dev environment, as the demo does)."""
    ensure_installed("extractor", "tap-knovvu")
    ensure_installed("extractor", "tap-foundry-aip")
    ensure_installed("loader", "target-duckdb")
    tmp = tmp_path_factory.mktemp("status")
    knovvu, foundry = KnovvuSandbox(), FoundryAIPSandbox()
    env = {
        **os.environ,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp / 'meltano.db'}",
        "TARGET_DUCKDB_FILEPATH": str(tmp / "warehouse.duckdb"),
    }
    with SandboxServer(knovvu) as ks, SandboxServer(foundry) as fs:
        env.update({
            "TAP_KNOVVU_API_URL": ks.url,
            "TAP_KNOVVU_TOKEN_URL": f"{ks.url}/connect/token",
            "TAP_KNOVVU_STORAGE_URL": str(tmp / "storage"),
            "TAP_FOUNDRY_AIP_API_URL": fs.url,
        })
        with open(REPO / ".meltano" / "test-run.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            meltano("run", "tap-knovvu", "target-duckdb", "tap-foundry-aip", "target-duckdb", env=env)
    return env, tmp, knovvu, foundry


def test_status_reports_archived_sources_current_with_deadlines(archived) -> None:
    env, tmp, knovvu, foundry = archived
    proc = status(env, "--source", "knovvu", "--source", "foundry_aip", "--warehouse", str(tmp / "warehouse.duckdb"))
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    out = proc.stdout
    assert out.startswith("Archive status, environment dev")
    assert "knovvu        CURRENT" in out
    assert "foundry_aip   CURRENT" in out
    assert out.rstrip().endswith("Every source is current.")
    days = knovvu.retained_days()
    yesterday = days[-1]
    assert f"daily_recording_manifests.date: {yesterday}" in out
    assert f"days {days[0]}..{yesterday} ({len(days)} days), tenant retention {knovvu.retention_days} days" in out
    # the day after the bookmark is the oldest not archived: answered until the end of day + retention
    oldest = date.fromisoformat(yesterday) + timedelta(days=1)
    deadline = oldest + timedelta(days=knovvu.retention_days + 1)
    assert f"retention deadline   {deadline}T00:00:00Z" in out
    sessions = sum(len(foundry.ordered(agent)) for agent in (DOCUMENTED_AGENT_RID, SECOND_AGENT_RID))
    assert f"{sessions} sessions" in out
    assert "shortest session lifetime seen is" in out
    assert "Meltano" not in out and "[info" not in out  # Meltano's own log lines stay out of the report


def test_status_json_and_behind_sources_exit_non_zero(archived) -> None:
    env, tmp, knovvu, _ = archived
    warehouse = ["--warehouse", str(tmp / "warehouse.duckdb")]
    proc = status(env, "--json", *warehouse)
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    by_source = {s["source"]: s for s in report["sources"]}
    assert sorted(report["behind"]) == ["kore_agentai", "salesloft", "zoom_aic"]  # never run in this project
    assert by_source["zoom_aic"]["reasons"] == ["no successful run"]
    assert by_source["knovvu"]["behind"] is False
    assert by_source["knovvu"]["state_id"] == "dev:tap-knovvu-to-target-duckdb"
    assert by_source["knovvu"]["rows"] == len(knovvu.retained_days())
    # days later nobody has run the taps: an hour before the oldest unarchived day leaves retention
    # (taken from the report, so the moment is inside the 12 h margin whatever the time of day)
    deadline = datetime.fromisoformat(by_source["knovvu"]["deadline"].replace("Z", "+00:00"))
    assert deadline > datetime.now(timezone.utc) + timedelta(days=knovvu.retention_days - 1)
    later = (deadline - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    proc = status(env, "--source", "knovvu", "--now", later, *warehouse)
    assert proc.returncode == 1
    assert "knovvu        BEHIND: last successful run is older than 26 h" in proc.stdout
    assert "leaves retention at" in proc.stdout


def test_status_names_the_lock_when_a_load_holds_the_warehouse(archived) -> None:
    env, tmp, _, _ = archived
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
         "sys.stdin.read()", str(tmp / "warehouse.duckdb")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        proc = status(env, "--source", "knovvu", "--warehouse", str(tmp / "warehouse.duckdb"))
    finally:
        holder.communicate("", timeout=60)
    assert proc.returncode == 2
    assert "is locked by another process" in proc.stderr
    assert "Traceback" not in proc.stderr
    with duckdb.connect(str(tmp / "warehouse.duckdb"), read_only=True):
        pass  # and free again once the other process is gone


def test_status_without_a_warehouse_says_what_to_run(archived) -> None:
    env, tmp, _, _ = archived
    proc = status(env, "--warehouse", str(tmp / "missing.duckdb"))
    assert proc.returncode == 2
    assert "does not exist: run the taps first (bash scripts/demo.sh)" in proc.stderr
    assert Path(tmp / "missing.duckdb").exists() is False


def test_json_columns_keep_unicode_as_is_so_like_finds_it(archived) -> None:
    """target-duckdb alone stores ``R\\u00e9sume``; the project's loader entry point stores ``Résume 🚨``."""
    _, tmp, _, foundry = archived
    served = [s for agent in (DOCUMENTED_AGENT_RID, SECOND_AGENT_RID) for s in foundry.ordered(agent)]
    expected = {s["rid"] for s in served if "Résume" in s["metadata"]["title"]}
    assert expected
    with duckdb.connect(str(tmp / "warehouse.duckdb"), read_only=True) as con:
        found = {rid for (rid,) in con.execute(
            "SELECT rid FROM tap_foundry_aip.sessions WHERE metadata::varchar LIKE '%Résume les incidents 🚨%'")
            .fetchall()}
        escaped = con.execute(
            "SELECT count(*) FROM tap_foundry_aip.sessions WHERE metadata::varchar LIKE '%\\u00e9%'").fetchone()
        titles = dict(con.execute(
            "SELECT rid, json_extract_string(metadata, '$.title') FROM tap_foundry_aip.sessions").fetchall())
    assert found == expected
    assert escaped == (0,)
    # and the JSON is still the vendor's: every title reads back exactly as served
    assert titles == {s["rid"]: s["metadata"]["title"] for s in served}


def test_status_reports_the_gaps_a_real_meltano_run_left_for_any_source(tmp_path: Path) -> None:
    """Salesloft with a key lacking the "Download Conversations" role: the run succeeds, its transcript
    files are a permission gap; the tap writes the gap into state, and status names it and says BEHIND."""
    from conversation_archive.status import GAPS_STATE_KEY as STATUS_KEY
    from sandboxes.salesloft import NO_DOWNLOAD_ROLE_KEY, SalesloftSandbox
    from taps.common.summary import GAPS_STATE_KEY

    assert STATUS_KEY == GAPS_STATE_KEY
    ensure_installed("extractor", "tap-salesloft")
    ensure_installed("loader", "target-duckdb")
    app = SalesloftSandbox(budget=1_000_000, conversations=12)
    env = {
        **os.environ,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        "TARGET_DUCKDB_FILEPATH": str(tmp_path / "warehouse.duckdb"),
        "TAP_SALESLOFT_API_KEY": NO_DOWNLOAD_ROLE_KEY,
        "TAP_SALESLOFT_RATE_LIMIT_RESERVE": "0",
        "TAP_SALESLOFT_STORAGE_URL": str(tmp_path / "storage"),
    }
    with SandboxServer(app) as server:
        env.update({"TAP_SALESLOFT_API_URL": server.url, "TAP_SALESLOFT_TOKEN_URL": f"{server.url}/oauth/token"})
        with open(REPO / ".meltano" / "test-run.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            meltano("run", "tap-salesloft", "target-duckdb", env=env)
    warehouse = ["--warehouse", str(tmp_path / "warehouse.duckdb"), "--source", "salesloft"]
    proc = status(env, *warehouse)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert "salesloft     BEHIND: the last run left 1 gap(s) (permission)" in proc.stdout
    assert "gaps                 transcription_artifacts transcription artifacts (transcript files): permission: " \
           "Salesloft answered 403" in proc.stdout
    report = json.loads(status(env, "--json", *warehouse).stdout)["sources"][0]
    assert report["last_success"] is not None  # the run itself succeeded
    assert report["rows"] == len(app.conversations)
    assert len(report["gaps"]) == 1
