"""Dagster definitions: one partitioned asset per tap, each partition one ``meltano run``.

Load with ``dagster dev -m orchestration.definitions`` (or ``dagster definitions
validate -m orchestration.definitions``). What each source's partitions are is in
``orchestration.sources``; how a run is isolated and where its state goes is in
``orchestration.meltano``.

* assets ``tap_zoom_aic`` (user shards), ``tap_foundry_aip`` (agents),
  ``tap_knovvu`` (UTC days), ``tap_kore_agentai`` (7-day windows),
  ``tap_salesloft`` (one partition); each in pool ``vendor-<name>``
  (limits applied by ``python -m orchestration.pools``);
* retries: a failed partition is retried alone, with exponential backoff and
  jitter (``RetryPolicy``); the other partitions are separate runs and are not touched;
* one job and one schedule per source (cron in ``Source.cron``);
* one freshness check per source, run by the hourly ``freshness_checks`` job.
"""


import os
import typing as t
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import duckdb

from orchestration.meltano import DEFAULT_PROJECT_ROOT, MeltanoProject, MeltanoRunError
from orchestration.sources import Layout, Source

#: the log line tap-knovvu writes when a day's audio is gone (retention or 404).
KNOVVU_LOST = "LOST RECORDINGS"


class MeltanoResource(dg.ConfigurableResource):
    """The Meltano project the assets run (see ``orchestration.meltano.MeltanoProject``).

    Defaults come from the environment: ``MELTANO_PROJECT_ROOT`` (else this
    repository), ``MELTANO_ENVIRONMENT`` (``dev``), ``ORCH_LOADER``
    (``target-duckdb``), ``MELTANO_STATE_BACKEND_URI`` (else the project's
    ``file://.../.meltano/state``) and ``ORCH_WAREHOUSE_DIR``.
    """

    root: str = str(DEFAULT_PROJECT_ROOT)
    environment: str = "dev"
    loader: str = "target-duckdb"
    state_backend_uri: str = ""
    warehouse_dir: str = ""
    extra_env: dict[str, str] = {}  # noqa: RUF012 (pydantic copies field defaults)
    timeout_seconds: float = 6 * 3600

    @classmethod
    def from_env(cls) -> "MeltanoResource":
        """The resource configured from the environment variables above."""
        return cls(
            root=os.environ.get("MELTANO_PROJECT_ROOT") or str(DEFAULT_PROJECT_ROOT),
            environment=os.environ.get("MELTANO_ENVIRONMENT") or "dev",
            loader=os.environ.get("ORCH_LOADER") or "target-duckdb",
            state_backend_uri=os.environ.get("MELTANO_STATE_BACKEND_URI") or "",
            warehouse_dir=os.environ.get("ORCH_WAREHOUSE_DIR") or "",
        )

    def project(self) -> MeltanoProject:
        """The plain-Python runner behind this resource."""
        return MeltanoProject(root=self.root, environment=self.environment, loader=self.loader,
                              state_backend_uri=self.state_backend_uri, warehouse_dir=self.warehouse_dir,
                              extra_env=dict(self.extra_env), timeout_seconds=self.timeout_seconds)


def asset_name(source: Source) -> str:
    """``tap-zoom-aic`` -> ``tap_zoom_aic``."""
    return source.tap.replace("-", "_")


def knovvu_day_done(state: dict, day: str) -> bool:
    """Whether tap-knovvu's state marks ``day`` attempted to the end with no hour left to fetch.

    Args:
        state: ``meltano state get`` output (``{"singer_state": {"bookmarks": ...}}``).
        day: ``YYYY-MM-DD``.
    """
    singer = state.get("singer_state", state)
    bookmark = (singer.get("bookmarks") or {}).get("daily_recording_manifests") or {}
    watermark = bookmark.get("replication_key_value")
    return bool(watermark and watermark >= day and day not in (bookmark.get("incomplete_days") or {}))


def warehouse_counts(path: Path | None) -> dict[str, int]:
    """``schema.table`` -> rows in a partition's DuckDB file (empty when there is none)."""
    if path is None or not path.exists():
        return {}
    with duckdb.connect(str(path), read_only=True) as con:
        tables = con.execute("SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2").fetchall()
        counts = {}
        for schema, table in tables:
            row = con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()  # noqa: S608
            counts[f"{schema}.{table}"] = int(row[0]) if row else 0
        return counts


def build_asset(source: Source, retry_policy: dg.RetryPolicy) -> dg.AssetsDefinition:
    """The asset of ``source``: each partition runs ``meltano run --state-id-suffix <suffix> <tap> <loader>``.

    Materialization metadata: ``state_id``, ``attempt`` (0 on the first try),
    ``duration_seconds``, ``warehouse`` and ``rows`` (DuckDB loader), and for
    Knovvu ``complete`` (every hour of the day stored) and ``lost`` (the tap
    reported recordings gone).

    Raises (inside the run):
        dagster.Failure: ``meltano run`` failed; the run is retried per ``retry_policy``.
    """

    @dg.asset(name=asset_name(source), partitions_def=source.partitions, pool=source.pool,
              retry_policy=retry_policy, group_name="conversation_archive", kinds={"meltano"},
              description=source.description, tags={"vendor": source.name})
    def _asset(context: dg.AssetExecutionContext, meltano: MeltanoResource) -> dg.MaterializeResult:
        key = context.partition_key if source.partitions is not None else None
        project = meltano.project()
        suffix = source.suffix(key)
        context.log.info("meltano run %s %s, state id suffix %s (attempt %d)", source.tap, project.loader,
                         suffix, context.retry_number)
        try:
            run = project.run(source.tap, suffix, source.tap_env(key))
        except MeltanoRunError as exc:
            raise dg.Failure(description=str(exc)) from None
        metadata: dict[str, t.Any] = {
            "state_id": run.state_id,
            "attempt": context.retry_number,
            "duration_seconds": round(run.duration_seconds, 1),
            "log_tail": dg.MetadataValue.md(f"```\n{run.log_tail[-3000:]}\n```"),
        }
        if run.warehouse is not None:
            metadata["warehouse"] = str(run.warehouse)
            metadata["rows"] = warehouse_counts(run.warehouse)
        if source.name == "knovvu" and key is not None:
            lost = KNOVVU_LOST in run.log
            metadata["lost"] = lost
            metadata["complete"] = knovvu_day_done(project.get_state(run.state_id), key) and not lost
            if lost:
                context.log.error("Knovvu reports recordings of %s are gone (retention passed): %s", key,
                                  next(line for line in run.log.splitlines() if KNOVVU_LOST in line))
        return dg.MaterializeResult(metadata=metadata)

    return _asset


def latest_materialization(instance: dg.DagsterInstance, asset_key: dg.AssetKey,
                           partition: str | None) -> dg.EventLogRecord | None:
    """The newest materialization of ``asset_key`` (of ``partition`` when given), or ``None``."""
    records_filter = dg.AssetRecordsFilter(asset_key=asset_key,
                                           asset_partitions=[partition] if partition is not None else None)
    records = instance.fetch_materializations(records_filter, limit=1).records
    return records[0] if records else None


def knovvu_day_complete(instance: dg.DagsterInstance, asset_key: dg.AssetKey, day: str) -> bool:
    """Whether ``day``'s newest materialization stored every hour."""
    record = latest_materialization(instance, asset_key, day)
    if record is None or record.asset_materialization is None:
        return False
    value = record.asset_materialization.metadata.get("complete")
    return bool(value.value) if value is not None else False


def retained_days(layout: Layout, today: date) -> list[str]:
    """Days Knovvu still holds for this tenant, oldest first (yesterday is the newest)."""
    first = max(layout.knovvu_first_day, today - timedelta(days=layout.knovvu_retention_days))
    return [(first + timedelta(days=n)).isoformat() for n in range((today - first).days)]


def knovvu_verdict(layout: Layout, today: date, complete: t.Callable[[str], bool]) -> tuple[bool, str, dict]:
    """The Knovvu freshness rule: fail when the oldest day not yet archived is within one
    day of leaving retention (Knovvu deletes a day ``retention_days`` days after it).

    Returns:
        ``(passed, description, metadata)``.
    """
    pending = [d for d in retained_days(layout, today) if not complete(d)]
    if not pending:
        return True, "every retained day is archived", {"pending_days": []}
    oldest = date.fromisoformat(pending[0])
    leaves = oldest + timedelta(days=layout.knovvu_retention_days + 1)  # first day it is no longer served
    days_left = (leaves - today).days
    meta = {"pending_days": pending, "oldest_pending": pending[0], "days_until_deleted": days_left}
    if days_left <= 1:
        return False, (f"Knovvu day {pending[0]} is not archived and leaves retention on {leaves} "
                       f"(in {days_left} day(s)): its recordings will be lost"), meta
    return True, f"{len(pending)} day(s) pending, oldest {pending[0]} leaves retention on {leaves}", meta


def freshness_keys(source: Source, now: datetime) -> list[str | None]:
    """The partitions whose last success must be recent: every shard/agent, the current
    Kore.ai window, the one Salesloft partition."""
    if source.partitions is None:
        return [None]
    if source.name == "kore":
        keys = source.partitions.get_partition_keys(current_time=now)
        return [keys[-1]] if keys else []
    return list(source.partitions.get_partition_keys(current_time=now))


def build_check(source: Source, asset: dg.AssetsDefinition, layout: Layout) -> dg.AssetChecksDefinition:
    """The freshness check of ``source`` (ERROR severity: data can be lost when it fails)."""

    @dg.asset_check(asset=asset, name="fresh", blocking=False,
                    description=f"Fails when a partition of {source.tap} falls behind "
                                f"(Knovvu: a day within one day of leaving retention; others: no success "
                                f"in {source.max_age}).")
    def _check(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        now = datetime.now(timezone.utc)
        instance = context.instance
        if source.name == "knovvu":
            passed, text, meta = knovvu_verdict(
                layout, now.date(), lambda day: knovvu_day_complete(instance, asset.key, day))
            return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.ERROR,
                                       description=text, metadata=meta)
        stale = []
        for key in freshness_keys(source, now):
            record = latest_materialization(instance, asset.key, key)
            if record is None or now.timestamp() - record.timestamp > source.max_age.total_seconds():
                stale.append(key or "(all)")
        text = f"behind (no success within {source.max_age}): {', '.join(stale)}" if stale else "up to date"
        return dg.AssetCheckResult(passed=not stale, severity=dg.AssetCheckSeverity.ERROR, description=text,
                                   metadata={"stale_partitions": stale})

    return _check


def schedule_keys(source: Source, layout: Layout, now: datetime,
                  complete: t.Callable[[str], bool]) -> list[str | None]:
    """The partitions one tick of ``source``'s schedule runs.

    Zoom, Foundry: every shard/agent. Knovvu: every retained day not yet complete,
    oldest first. Kore.ai: the current window, plus the previous one for the first
    two days of a window (the tap's lookback). Salesloft: its one partition.
    """
    if source.partitions is None:
        return [None]
    if source.name == "knovvu":
        return [d for d in retained_days(layout, now.date()) if not complete(d)]
    if source.name == "kore":
        keys = list(source.partitions.get_partition_keys(current_time=now))
        if not keys:
            return []
        picked = keys[-1:]
        if len(keys) > 1 and (now.date() - date.fromisoformat(keys[-1])).days < 2:  # noqa: PLR2004
            picked = keys[-2:]
        return list(picked)
    return list(source.partitions.get_partition_keys(current_time=now))


def build_schedule(source: Source, job: t.Any, asset: dg.AssetsDefinition,
                   layout: Layout) -> dg.ScheduleDefinition:
    """``source``'s schedule (cron ``source.cron``, UTC): one run request per partition due."""

    @dg.schedule(name=f"{asset_name(source)}_schedule", cron_schedule=source.cron, job=job,
                 execution_timezone="UTC", default_status=dg.DefaultScheduleStatus.STOPPED)
    def _schedule(context: dg.ScheduleEvaluationContext) -> t.Iterator[dg.RunRequest]:
        now = context.scheduled_execution_time or datetime.now(timezone.utc)
        instance = context.instance

        def complete(day: str) -> bool:
            return knovvu_day_complete(instance, asset.key, day)

        stamp = now.strftime("%Y%m%dT%H%M")
        for key in schedule_keys(source, layout, now, complete):
            yield dg.RunRequest(run_key=f"{key or 'all'}@{stamp}", partition_key=key)

    return _schedule


def default_retry_policy() -> dg.RetryPolicy:
    """3 retries, 60 s then 120 s then 240 s, +/- jitter (``ORCH_RETRY_DELAY_SECONDS`` changes the base)."""
    delay = float(os.environ.get("ORCH_RETRY_DELAY_SECONDS") or 60)
    return dg.RetryPolicy(max_retries=3, delay=delay, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def build_definitions(layout: Layout | None = None, meltano: MeltanoResource | None = None,
                      retry_policy: dg.RetryPolicy | None = None) -> dg.Definitions:
    """Every asset, check, job and schedule (arguments default to the environment's)."""
    layout = layout or Layout.from_env()
    retry_policy = retry_policy or default_retry_policy()
    assets, checks, jobs, schedules = [], [], [], []
    for source in layout.sources():
        asset = build_asset(source, retry_policy)
        job = dg.define_asset_job(f"{asset_name(source)}_job", selection=dg.AssetSelection.assets(asset),
                                  tags={"vendor": source.name})
        assets.append(asset)
        checks.append(build_check(source, asset, layout))
        jobs.append(job)
        schedules.append(build_schedule(source, job, asset, layout))
    freshness = dg.define_asset_job("freshness_checks", selection=dg.AssetSelection.checks(*checks))
    schedules.append(dg.ScheduleDefinition(name="freshness_checks_schedule", job=freshness,
                                           cron_schedule="30 * * * *", execution_timezone="UTC",
                                           default_status=dg.DefaultScheduleStatus.STOPPED))
    return dg.Definitions(assets=assets, asset_checks=checks, jobs=[*jobs, freshness], schedules=schedules,
                          resources={"meltano": meltano or MeltanoResource.from_env()})


defs = build_definitions()
