"""Dagster orchestration against the sandboxes: Dagster's in-process execution, each
partition a real ``meltano run`` subprocess into its own DuckDB file, state in a
file state backend under ``tmp_path``.

Each partition writes its own DuckDB file because DuckDB allows one writer per
file: parallel loads into one file would fail on its lock.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import typing as t
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest

from orchestration.definitions import (
    MeltanoResource,
    build_definitions,
    knovvu_day_complete,
    knovvu_verdict,
    schedule_keys,
)
from orchestration.meltano import MeltanoProject, state_id
from orchestration.sources import Layout, shard_keys
from sandboxes.base import SandboxServer
from sandboxes.foundry_aip import FoundryAIPSandbox
from sandboxes.knovvu import KnovvuSandbox
from sandboxes.zoom_aic import ZoomAICSandbox
from tests.helpers import REPO
from tests.meltano_harness import ensure_installed, table_counts, table_rows

pytestmark = pytest.mark.orchestration

FAST_RETRY = dg.RetryPolicy(max_retries=2, delay=0.2)


def layout(**changes: t.Any) -> Layout:
    base = Layout.from_env(REPO, "dev")
    return Layout(**{**base.__dict__, **changes})


def asset_of(defs: dg.Definitions, name: str) -> dg.AssetsDefinition:
    assets = t.cast("list[dg.AssetsDefinition]", defs.assets)  # build_definitions gives AssetsDefinitions
    return next(a for a in assets if a.key.path[-1] == name)


def resource(tmp_path: Path, env: dict[str, str]) -> MeltanoResource:
    return MeltanoResource(root=str(REPO), state_backend_uri=f"file://{tmp_path / 'state'}",
                           warehouse_dir=str(tmp_path / "warehouse"), extra_env=env)


def stored_state(tmp_path: Path, sid: str) -> dict:
    """The state a partition left in the file state backend."""
    return json.loads((tmp_path / "state" / sid / "state.json").read_text())


def keys_of(db: Path, table: str, columns: list[str]) -> set[tuple]:
    return set(table_rows(db, "tap_zoom_aic", table, columns))


def validate(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """``dagster definitions validate -m orchestration.definitions`` as a user runs it."""
    full = {**os.environ, "DAGSTER_HOME": str(tmp_path), **env}
    return subprocess.run([str(Path(sys.executable).parent / "dagster"), "definitions", "validate", "-m",
                           "orchestration.definitions"], cwd=REPO, env=full, capture_output=True, text=True,
                          timeout=600, check=False)


def test_definitions_validate_as_a_subprocess(tmp_path: Path) -> None:
    proc = validate(tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "Validation successful for code location orchestration.definitions" in proc.stdout + proc.stderr


def test_a_bad_layout_setting_fails_validation_naming_it(tmp_path: Path) -> None:
    proc = validate(tmp_path, ORCH_ZOOM_USER_SHARDS="many")
    assert proc.returncode != 0
    assert "ORCH_ZOOM_USER_SHARDS must be an integer from 1 to 10000, got 'many'" in proc.stdout + proc.stderr


def test_every_partition_has_its_own_state_id() -> None:
    lay = layout(zoom_user_shards=4, knovvu_first_day=date(2026, 1, 1), kore_first_day=date(2025, 10, 1))
    now = datetime(2026, 1, 20, tzinfo=timezone.utc)
    ids = []
    for source in lay.sources():
        keys = list(source.partitions.get_partition_keys(current_time=now)) if source.partitions else [None]
        assert keys
        ids += [state_id("dev", source.tap, "target-duckdb", source.suffix(k)) for k in keys]
        if source.name == "zoom":
            assert keys == shard_keys(4)
            assert [source.tap_env(k)["TAP_ZOOM_AIC_USER_SHARD"] for k in keys] == ["0", "1", "2", "3"]
        if source.name == "knovvu":
            assert source.tap_env("2026-01-05") == {"TAP_KNOVVU_START_DATE": "2026-01-05T00:00:00Z",
                                                    "TAP_KNOVVU_END_DATE": "2026-01-05T23:59:59Z"}
        if source.name == "kore":
            first = date.fromisoformat(t.cast(str, keys[0]))
            assert first == date(2025, 10, 1)
            assert all((date.fromisoformat(b) - date.fromisoformat(a)).days == 7 for a, b in itertools.pairwise(t.cast("list[str]", keys)))
            assert source.tap_env(keys[0])["TAP_KORE_AGENTAI_END_DATE"] == "2025-10-07T23:59:59Z"
        if source.name == "foundry":
            assert keys == list(lay.foundry_agent_rids)
            assert json.loads(source.tap_env(keys[0])["TAP_FOUNDRY_AIP_AGENT_RIDS"]) == [keys[0]]
    assert len(ids) == len(set(ids))
    assert "dev:tap-zoom-aic-to-target-duckdb:shard-2-of-4" in ids
    assert "dev:tap-knovvu-to-target-duckdb:day-2026-01-05" in ids


def test_knovvu_freshness_fails_a_day_before_its_audio_is_deleted() -> None:
    lay = layout(knovvu_retention_days=3, knovvu_first_day=date(2026, 1, 1))
    today = date(2026, 1, 10)  # retained: 01-07, 01-08, 01-09
    assert knovvu_verdict(lay, today, lambda _: True)[0]
    passed, text, meta = knovvu_verdict(lay, today, lambda d: d != "2026-01-09")
    assert passed
    assert meta["pending_days"] == ["2026-01-09"]
    passed, text, meta = knovvu_verdict(lay, today, lambda d: d != "2026-01-08")
    assert passed  # deleted on 01-12: two days left
    passed, text, meta = knovvu_verdict(lay, today, lambda d: d != "2026-01-07")
    assert not passed  # deleted on 01-11, tomorrow
    assert "2026-01-07" in text
    assert meta["days_until_deleted"] == 1


def test_knovvu_schedule_asks_for_every_retained_day_not_yet_complete() -> None:
    lay = layout(knovvu_retention_days=3, knovvu_first_day=date(2026, 1, 1))
    knovvu = next(s for s in lay.sources() if s.name == "knovvu")
    now = datetime(2026, 1, 10, 0, 15, tzinfo=timezone.utc)
    assert schedule_keys(knovvu, lay, now, lambda d: d == "2026-01-08") == ["2026-01-07", "2026-01-09"]
    kore = next(s for s in lay.sources() if s.name == "kore")
    keys = schedule_keys(kore, lay, now, lambda _: False)
    assert keys and all(k is not None for k in keys)
    zoom = next(s for s in lay.sources() if s.name == "zoom")
    assert schedule_keys(zoom, lay, now, lambda _: False) == shard_keys(lay.zoom_user_shards)


def test_four_zoom_shards_in_parallel_load_what_one_serial_run_loads(tmp_path: Path) -> None:
    ensure_installed("extractor", "tap-zoom-aic")
    ensure_installed("loader", "target-duckdb")
    app = ZoomAICSandbox(user_count=12)
    lay = layout(zoom_user_shards=4)
    with SandboxServer(app) as server:
        env = {"TAP_ZOOM_AIC_API_URL": f"{server.url}/v2", "TAP_ZOOM_AIC_TOKEN_URL": f"{server.url}/oauth/token",
               "TAP_ZOOM_AIC_STORAGE_URL": str(tmp_path / "storage"), "TAP_ZOOM_AIC_PAGE_SIZE": "9"}
        res = resource(tmp_path, env)
        defs = build_definitions(lay, res, FAST_RETRY)
        zoom = asset_of(defs, "tap_zoom_aic")

        def one(key: str) -> dg.ExecuteInProcessResult:
            return dg.materialize([zoom], partition_key=key, resources={"meltano": res},
                                  instance=dg.DagsterInstance.ephemeral())

        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(one, shard_keys(4)))
        serial = MeltanoProject(root=str(REPO), state_backend_uri=f"file://{tmp_path / 'state'}",
                                warehouse_dir=str(tmp_path / "warehouse"),
                                extra_env={**env, "TAP_ZOOM_AIC_STORAGE_URL": str(tmp_path / "serial")},
                                ).run("tap-zoom-aic", "serial", {})
    assert all(r.success for r in results)
    shard_dbs = [Path(t.cast(str, r.get_asset_materialization_events()[0].materialization.metadata["warehouse"].value))
                 for r in results]
    assert len(set(shard_dbs)) == 4
    assert serial.warehouse is not None
    serial_counts = table_counts(serial.warehouse)
    summed = {k: sum(table_counts(db).get(k, 0) for db in shard_dbs) for k in serial_counts}
    assert summed == serial_counts
    assert serial_counts["tap_zoom_aic.users"] == len(app.archived_users())
    assert serial_counts["tap_zoom_aic.conversation_archives"] > 0
    for table, cols in (("users", ["id"]), ("conversation_archives", ["user_id", "start_time", "end_time"]),
                        ("archive_attachments", ["user_id", "file_id", "sha256"])):
        union = set().union(*(keys_of(db, table, cols) for db in shard_dbs))
        assert union == keys_of(serial.warehouse, table, cols), table
    # each shard's users are disjoint, and each shard kept its own state
    per_shard = [keys_of(db, "users", ["id"]) for db in shard_dbs]
    assert sum(len(s) for s in per_shard) == len(set().union(*per_shard))
    for n, key in enumerate(shard_keys(4)):
        state = stored_state(tmp_path, f"dev:tap-zoom-aic-to-target-duckdb:{key}")
        partitions = state["completed"]["singer_state"]["bookmarks"]["conversation_archives"].get("partitions", [])
        users = {p["context"]["user_id"] for p in partitions}
        assert users <= {u for (u,) in per_shard[n]}


FOUNDRY_A, FOUNDRY_B = "ri.aip-agents..agent.732cd5b4-7ca7-4219-aabb-6e976faf63b1", \
    "ri.aip-agents..agent.0b7f3c9e-5d1a-4e2b-9c3f-6a8d2e4f1b70"


def first_pages(app: FoundryAIPSandbox, agent: str) -> int:
    """List Sessions calls without a page token for ``agent``: one per tap run."""
    return sum(1 for r in app.list_requests() if f"/agents/{agent}/" in r.path and not r.arg("pageToken"))


@dataclass
class FoundryPartitions:
    """A served Foundry sandbox (two agents), the Meltano resource and the partitioned asset, one Dagster instance."""

    app: FoundryAIPSandbox
    res: MeltanoResource
    asset: dg.AssetsDefinition
    instance: dg.DagsterInstance

    def run(self, key: str, **options: t.Any) -> dg.ExecuteInProcessResult:
        """Materialize partition ``key`` (options go to ``dg.materialize``)."""
        return dg.materialize([self.asset], partition_key=key, resources={"meltano": self.res},
                              instance=self.instance, **options)


@pytest.fixture
def foundry(tmp_path: Path) -> t.Iterator[FoundryPartitions]:
    """The Foundry partition-run set-up: sandbox served for the whole test."""
    ensure_installed("extractor", "tap-foundry-aip")
    ensure_installed("loader", "target-duckdb")
    app = FoundryAIPSandbox(sessions_per_agent=(12, 9))
    with SandboxServer(app) as server:
        lay = layout(foundry_agent_rids=(FOUNDRY_A, FOUNDRY_B))
        # one page per agent listing (12 and 9 sessions): a multi-page listing asks for its first page again
        # (the Foundry tap's front check), and first_pages counts tap runs
        res = resource(tmp_path, {"TAP_FOUNDRY_AIP_API_URL": server.url, "TAP_FOUNDRY_AIP_PAGE_SIZE": "20"})
        yield FoundryPartitions(app, res, asset_of(build_definitions(lay, res, FAST_RETRY), "tap_foundry_aip"),
                                dg.DagsterInstance.ephemeral())


def freshness(instance: dg.DagsterInstance, lay: Layout) -> dict[str, tuple[bool, list]]:
    """Run the ``freshness_checks`` job in-process: asset -> (passed, stale or pending partitions)."""
    job = build_definitions(lay, MeltanoResource(), FAST_RETRY).resolve_job_def("freshness_checks")
    result = job.execute_in_process(instance=instance)
    out: dict[str, tuple[bool, t.Any]] = {}
    for evaluation in result.get_asset_check_evaluations():
        listed = evaluation.metadata.get("stale_partitions") or evaluation.metadata.get("pending_days")
        out[evaluation.asset_key.path[-1]] = (evaluation.passed, listed.value if listed else None)
    return out


def test_freshness_checks_fail_for_every_source_never_run() -> None:
    lay = layout(foundry_agent_rids=(FOUNDRY_A, FOUNDRY_B), zoom_user_shards=2)
    checks = freshness(dg.DagsterInstance.ephemeral(), lay)
    assert checks["tap_zoom_aic"] == (False, shard_keys(2))
    assert checks["tap_foundry_aip"] == (False, [FOUNDRY_A, FOUNDRY_B])
    assert checks["tap_salesloft"] == (False, ["(all)"])
    assert not checks["tap_kore_agentai"][0]
    assert len(checks["tap_kore_agentai"][1]) == 1  # the current window only
    assert not checks["tap_knovvu"][0]  # the oldest retained day leaves retention within a day


def fail_agent(app: FoundryAIPSandbox, agent: str, times: int) -> None:
    body = {"errorCode": "INVALID_ARGUMENT", "errorName": "InjectedFault", "errorInstanceId": "x", "parameters": {}}
    app.faults.add("status", rf"/agents/{agent}/sessions$", status=400, body=body, times=times)


def test_a_failing_partition_is_retried_alone(foundry: FoundryPartitions) -> None:
    app, instance = foundry.app, foundry.instance
    fail_agent(app, FOUNDRY_A, times=1)
    results = {k: foundry.run(k) for k in (FOUNDRY_A, FOUNDRY_B)}
    assert all(r.success for r in results.values())
    retries = {k: len([e for e in r.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY])
               for k, r in results.items()}
    assert retries == {FOUNDRY_A: 1, FOUNDRY_B: 0}
    assert {k: r.get_asset_materialization_events()[0].materialization.metadata["attempt"].value
            for k, r in results.items()} == {FOUNDRY_A: 1, FOUNDRY_B: 0}
    assert first_pages(app, FOUNDRY_A) == 2
    assert first_pages(app, FOUNDRY_B) == 1
    assert freshness(instance, layout(foundry_agent_rids=(FOUNDRY_A, FOUNDRY_B)))["tap_foundry_aip"] == (True, [])
    db = Path(t.cast(str, results[FOUNDRY_A].get_asset_materialization_events()[0].materialization.metadata["warehouse"].value))
    loaded = {r[0] for r in table_rows(db, "tap_foundry_aip", "sessions", ["rid"])}
    assert loaded == set(app.sessions[FOUNDRY_A])


def test_a_partition_that_keeps_failing_is_rerun_alone_later(foundry: FoundryPartitions, tmp_path: Path) -> None:
    app, instance = foundry.app, foundry.instance
    fail_agent(app, FOUNDRY_A, times=100)
    failed = foundry.run(FOUNDRY_A, raise_on_error=False)
    other = foundry.run(FOUNDRY_B)
    assert not failed.success
    assert other.success
    assert first_pages(app, FOUNDRY_A) == 1 + FAST_RETRY.max_retries
    state_b = stored_state(tmp_path, f"dev:tap-foundry-aip-to-target-duckdb:{FOUNDRY_B}")
    app.faults.clear()
    rerun = foundry.run(FOUNDRY_A)
    assert rerun.success
    assert first_pages(app, FOUNDRY_B) == 1  # the partition that succeeded was not run again
    assert stored_state(tmp_path, f"dev:tap-foundry-aip-to-target-duckdb:{FOUNDRY_B}") == state_b
    assert instance.get_materialized_partitions(foundry.asset.key) == {FOUNDRY_A, FOUNDRY_B}
    state_a = stored_state(tmp_path, f"dev:tap-foundry-aip-to-target-duckdb:{FOUNDRY_A}")
    assert state_a != state_b
    db = Path(t.cast(str, rerun.get_asset_materialization_events()[0].materialization.metadata["warehouse"].value))
    assert {r[0] for r in table_rows(db, "tap_foundry_aip", "sessions", ["rid"])} == set(app.sessions[FOUNDRY_A])


def test_a_knovvu_day_partition_archives_that_day_and_is_marked_complete(tmp_path: Path) -> None:
    ensure_installed("extractor", "tap-knovvu")
    ensure_installed("loader", "target-duckdb")
    app = KnovvuSandbox(downloads_per_hour=10_000, retention_days=3)
    day = app.retained_days()[0]
    lay = layout(knovvu_retention_days=3, knovvu_first_day=app.today - timedelta(days=7))
    with SandboxServer(app) as server:
        env = {"TAP_KNOVVU_API_URL": server.url, "TAP_KNOVVU_TOKEN_URL": f"{server.url}/connect/token",
               "TAP_KNOVVU_STORAGE_URL": str(tmp_path / "storage"), "TAP_KNOVVU_DOWNLOADS_PER_HOUR": "0"}
        res = resource(tmp_path, env)
        knovvu = asset_of(build_definitions(lay, res, FAST_RETRY), "tap_knovvu")
        instance = dg.DagsterInstance.ephemeral()
        result = dg.materialize([knovvu], partition_key=day, resources={"meltano": res}, instance=instance)
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["complete"].value is True
    assert meta["lost"].value is False
    db = Path(t.cast(str, meta["warehouse"].value))
    assert {str(r[0]) for r in table_rows(db, "tap_knovvu", "daily_recording_manifests", ["date"])} == {day}
    files = {(str(d), h, s, f) for d, h, s, f in
             table_rows(db, "tap_knovvu", "recording_files", ["date", "hour", "sessionid", "filename"])}
    assert files == {k for k in app.expected_files() if k[0] == day}
    assert knovvu_day_complete(instance, knovvu.key, day)
    assert not knovvu_day_complete(instance, knovvu.key, app.retained_days()[1])
    # the other retained days are pending; the oldest (this one) is done, so the check passes
    passed, _, check_meta = knovvu_verdict(lay, app.today, lambda d: knovvu_day_complete(instance, knovvu.key, d))
    assert passed
    assert day not in check_meta["pending_days"]
