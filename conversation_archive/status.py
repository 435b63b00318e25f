"""``conversation-archive status``: is every source archived, and until when is it safe?

For each source (one tap loaded by ``meltano run <tap> <loader>``) it reads:

* Meltano's state backend, whatever it is (systemdb, file, S3 ...), through
  Meltano's own ``StateService`` for the state id ``<env>:<tap>-to-<loader>``
  (what ``meltano --environment=<env> state get`` prints): the bookmarks;
* Meltano's system database (``.meltano/meltano.db`` unless
  ``MELTANO_DATABASE_URI`` says otherwise), where every ``meltano run`` is
  recorded: the last successful run;
* the DuckDB warehouse (read-only): what is archived, the days or time span
  covered, and for Knovvu the tenant's ``retentionDays`` and missing days;
* the gaps the last successful run reported (every tap writes its run
  summary's gaps into state as ``last_run_gaps``: Salesloft transcript files
  refused with 403, Zoom's daily limit reached, a Foundry session or Knovvu
  day gone past retention, a file that failed ...).

It prints one block per source and exits 0 when every source is current,
1 when any is behind, 2 on a usage error (no Meltano project, warehouse
missing or locked by a running load). A source is **behind** when it has no
successful run, when its last successful run is older than
``--max-age-hours`` (default 26: a daily schedule plus slack), when the run
left work undone (Knovvu hours still to fetch; a gap of reason ``quota``,
``permission`` or ``error`` in ``last_run_gaps``), or when the oldest data not
yet archived leaves the vendor's retention within ``--margin-hours``. A
``retention`` gap is listed as lost (no later run can fetch it) without
making the source behind by itself.

Retention deadlines (all UTC):

* Knovvu deletes a day's recordings after the tenant's retention period
  (1-7 days; each manifest's ``retentionDays``): a day D is answered until
  the end of day D + retention. The oldest day not archived is the oldest
  unfinished day in state, else the day after the bookmark.
* Foundry deletes a session at its ``estimatedExpiresTime``; a session
  updated after the last successful run is not archived yet and expires at
  the earliest that run's start plus the shortest lifetime
  (``estimatedExpiresTime - updatedTime``) seen among archived sessions.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import typing as t
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

if t.TYPE_CHECKING:
    import duckdb


@dataclass(frozen=True)
class Source:
    """One archived vendor: its extractor and the warehouse table that shows its coverage.

    Attributes:
        name: short name (``knovvu``).
        tap: Meltano extractor (``tap-knovvu``).
        table: main table, ``schema.table``.
        span: SQL expressions of the earliest and latest archived time in ``table``.
        what: what a row of ``table`` is, for the report.
    """

    name: str
    tap: str
    table: str
    span: tuple[str, str]
    what: str


SOURCES: tuple[Source, ...] = (
    Source("zoom_aic", "tap-zoom-aic", "tap_zoom_aic.conversation_archives", ("min(start_time)", "max(end_time)"),
           "conversation archives"),
    Source("knovvu", "tap-knovvu", "tap_knovvu.daily_recording_manifests", ("min(date)", "max(date)"),
           "days of recordings"),
    Source("salesloft", "tap-salesloft", "tap_salesloft.conversations", ("min(created_at)", "max(updated_at)"),
           "conversations"),
    Source("foundry_aip", "tap-foundry-aip", "tap_foundry_aip.sessions", ("min(updated_time)", "max(updated_time)"),
           "sessions"),
    Source("kore_agentai", "tap-kore-agentai", "tap_kore_agentai.conversations", ("min(starttime)", "max(starttime)"),
           "conversations"),
)


class StatusError(Exception):
    """The status cannot be read (no project, warehouse missing or locked); the message says what to do."""


@dataclass
class SourceStatus:
    """What ``status`` found for one source (times are UTC ISO 8601 strings)."""

    source: str
    state_id: str
    behind: bool = False
    reasons: list[str] = field(default_factory=list)
    last_success: str | None = None
    bookmarks: dict[str, str] = field(default_factory=dict)
    covered: str = ""
    rows: int = 0
    gaps: list[str] = field(default_factory=list)
    deadline: str | None = None
    deadline_note: str = ""

    def mark_behind(self, reason: str) -> None:
        """Record why the source is behind."""
        self.behind = True
        self.reasons.append(reason)

    def lines(self, now: datetime) -> list[str]:
        """The human block for this source."""
        verdict = "BEHIND" if self.behind else "CURRENT"
        out = [f"{self.source:<13} {verdict}" + (f": {'; '.join(self.reasons)}" if self.reasons else "")]
        last = "never" if self.last_success is None else f"{self.last_success} ({_ago(now, self.last_success)})"
        out.append(f"  last successful run  {last}")
        if self.bookmarks:
            out.extend(f"  bookmark             {name}: {value}" for name, value in self.bookmarks.items())
        else:
            out.append("  bookmark             none (no state)")
        out.append(f"  covered              {self.covered or 'nothing archived yet'}")
        out.append(f"  gaps                 {'; '.join(self.gaps) if self.gaps else 'none'}")
        if self.deadline:
            out.append(f"  retention deadline   {self.deadline} ({_until(now, self.deadline)}): {self.deadline_note}")
        return out


# --- reading ---------------------------------------------------------------------------------


class MeltanoReader:
    """State and run history of a Meltano project, through Meltano's own services."""

    def __init__(self, project_root: Path, environment: str) -> None:
        """Args:
        project_root: folder holding ``meltano.yml``.
        environment: Meltano environment (``dev``, ``prod``).

        Raises:
            StatusError: not a Meltano project.
        """
        import logging  # noqa: PLC0415

        import structlog  # noqa: PLC0415

        # Meltano's services log through structlog, by default to stdout: keep the report clean
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        from meltano.core.db import project_engine  # noqa: PLC0415 - Meltano is heavy; load on use
        from meltano.core.project import Project  # noqa: PLC0415

        if not (project_root / "meltano.yml").is_file():
            msg = f"{project_root} is not a Meltano project (no meltano.yml); pass --project"
            raise StatusError(msg)
        self.project = Project(project_root)
        self.project.activate_environment(environment)
        _, self.sessionmaker = project_engine(self.project)

    def state(self, state_id: str) -> dict[str, t.Any]:
        """The state the next run would start from (``{}`` when none)."""
        from meltano.core.state_service import StateService  # noqa: PLC0415

        with self.sessionmaker() as session:
            return StateService(self.project, session).get_state(state_id)

    def last_success(self, state_id: str) -> tuple[datetime, datetime] | None:
        """``(started_at, ended_at)`` of the newest successful run of ``state_id``, UTC."""
        from meltano.core.job.job import Job, State  # noqa: PLC0415

        with self.sessionmaker() as session:
            success = Job.state == State.SUCCESS  # a SQL expression (Meltano's model has no typed column)
            job = (session.query(Job).filter(Job.job_name == state_id, success)  # type: ignore[arg-type]
                   .order_by(Job.ended_at.desc()).first())
            if job is None or job.ended_at is None:
                return None
            return _utc(job.started_at), _utc(job.ended_at)


def open_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the DuckDB warehouse.

    Raises:
        StatusError: the file is missing, or a load holds its lock.
    """
    import duckdb  # noqa: PLC0415

    if not path.is_file():
        msg = f"warehouse {path} does not exist: run the taps first (bash scripts/demo.sh) or pass --warehouse"
        raise StatusError(msg)
    try:
        return duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as exc:
        msg = (f"warehouse {path} is locked by another process (a `meltano run` loading it, or an open DuckDB "
               f"session): close it or wait for the load to end, then retry. DuckDB said: {exc}")
        raise StatusError(msg) from exc


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """Whether ``schema.table`` exists in the warehouse."""
    schema, name = table.split(".")
    found = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                        [schema, name]).fetchone()
    return bool(found and found[0])


# --- judging ----------------------------------------------------------------------------------


def bookmarks_of(state: dict[str, t.Any]) -> dict[str, str]:
    """``stream.replication_key`` -> its value, or ``min..max over n partitions``, from a Meltano state."""
    out = {}
    for stream, bookmark in sorted((state.get("singer_state") or {}).get("bookmarks", {}).items()):
        values = [str(p["replication_key_value"]) for p in bookmark.get("partitions", [])
                  if p.get("replication_key_value") is not None]
        key = bookmark.get("replication_key") or next(
            (p.get("replication_key") for p in bookmark.get("partitions", []) if p.get("replication_key")), None)
        if bookmark.get("replication_key_value") is not None:
            out[f"{stream}.{key}"] = str(bookmark["replication_key_value"])
        elif values:
            out[f"{stream}.{key}"] = (f"{min(values)}..{max(values)} over {len(values)} partitions"
                                      if len(set(values)) > 1 else f"{values[0]} ({len(values)} partitions)")
    return out


def check_source(source: Source, meltano: MeltanoReader, con: duckdb.DuckDBPyConnection,
                 *, environment: str, loader: str, now: datetime, max_age: timedelta,
                 margin: timedelta) -> SourceStatus:
    """The status of one source; see the module docstring for when it is behind."""
    state_id = f"{environment}:{source.tap}-to-{loader}"
    status = SourceStatus(source.name, state_id)
    state = meltano.state(state_id)
    status.bookmarks = bookmarks_of(state)
    run = meltano.last_success(state_id)
    if run is None:
        status.mark_behind("no successful run")
    else:
        status.last_success = _iso(run[1])
        if now - run[1] > max_age:
            status.mark_behind(f"last successful run is older than {max_age.total_seconds() / 3600:.0f} h")
    if table_exists(con, source.table):
        found = con.execute(
            f"SELECT {source.span[0]}, {source.span[1]}, count(*) FROM {source.table}").fetchone()  # noqa: S608
        first, last, rows = found if found else (None, None, 0)
        status.rows = int(rows)
        if rows:
            status.covered = f"{rows} {source.what}, {_text(first)}..{_text(last)}"
    _reported_gaps(status, state)
    if source.name == "knovvu":
        _knovvu(status, state, con, now, margin)
    elif source.name == "foundry_aip" and run is not None:
        _foundry(status, con, run[0], now, margin)
    return status


#: the state key where a tap's last successful run lists its gaps (``taps.common.summary.GAPS_STATE_KEY``)
GAPS_STATE_KEY = "last_run_gaps"


def _reported_gaps(status: SourceStatus, state: dict) -> None:
    """Add the gaps the last successful run wrote into state; any but ``retention`` makes the source behind."""
    gaps = (state.get("singer_state") or {}).get(GAPS_STATE_KEY) or []
    undone = []
    for gap in gaps:
        if not isinstance(gap, dict):
            continue
        reason = str(gap.get("reason") or "")
        label = "LOST (retention)" if reason == "retention" else reason
        detail = f": {gap['detail']}" if gap.get("detail") else ""
        status.gaps.append(f"{gap.get('stream')} {gap.get('what')}: {label}{detail}")
        if reason != "retention":
            undone.append(reason)
    if undone:
        status.mark_behind(f"the last run left {len(undone)} gap(s) ({', '.join(sorted(set(undone)))})")


def _knovvu(status: SourceStatus, state: dict, con: duckdb.DuckDBPyConnection, now: datetime,
            margin: timedelta) -> None:
    bookmark = ((state.get("singer_state") or {}).get("bookmarks") or {}).get("daily_recording_manifests") or {}
    incomplete = sorted((bookmark.get("incomplete_days") or {}).items())
    for day, hours in incomplete:
        status.gaps.append(f"{day}: hours still to fetch ({len(hours)} of the listed hours done)")
    if incomplete:
        status.mark_behind("unfinished days (download limit or failed hours); the next run resumes them")
    table = "tap_knovvu.daily_recording_manifests"
    retention = None
    if table_exists(con, table):
        query = f"SELECT DISTINCT date FROM {table} ORDER BY 1"  # noqa: S608
        days = [date.fromisoformat(str(d)[:10]) for (d,) in con.execute(query).fetchall()]
        if days:
            status.covered = f"days {days[0]}..{days[-1]} ({len(days)} days)"
            missing = [days[0] + timedelta(n) for n in range((days[-1] - days[0]).days + 1)]
            missing = [d for d in missing if d not in set(days)]
            if missing:
                status.gaps.append("days never archived: " + ", ".join(d.isoformat() for d in missing))
        row = con.execute(f"SELECT retentiondays FROM {table} ORDER BY date DESC LIMIT 1").fetchone()  # noqa: S608
        retention = int(row[0]) if row and row[0] is not None else None
        if retention:
            status.covered += f", tenant retention {retention} days"
    watermark = bookmark.get("replication_key_value")
    if not watermark and not incomplete:
        return
    oldest = date.fromisoformat(incomplete[0][0]) if incomplete else date.fromisoformat(str(watermark)) + timedelta(1)
    keep = retention or 1  # unknown retention: the shortest a tenant can have
    deadline = datetime.combine(oldest + timedelta(days=keep + 1), datetime.min.time(), timezone.utc)
    status.deadline = _iso(deadline)
    status.deadline_note = (f"{oldest} is the oldest day not archived; Knovvu answers it until the end of "
                            f"{oldest + timedelta(days=keep)} (retention {keep} days)")
    if deadline - now < margin:
        status.mark_behind(f"{oldest} leaves retention at {_iso(deadline)}")
    yesterday = now.date() - timedelta(days=1)
    if watermark and date.fromisoformat(watermark) < yesterday - timedelta(days=1):
        status.mark_behind(f"bookmark {watermark} is more than a day before yesterday ({yesterday})")


def _foundry(status: SourceStatus, con: duckdb.DuckDBPyConnection, run_started: datetime, now: datetime,
             margin: timedelta) -> None:
    table = "tap_foundry_aip.sessions"
    if not table_exists(con, table):
        return
    row = con.execute(
        f"SELECT min(epoch(CAST(json_extract_string(metadata, '$.estimatedExpiresTime') AS TIMESTAMPTZ)) "  # noqa: S608
        f"- epoch(CAST(json_extract_string(metadata, '$.updatedTime') AS TIMESTAMPTZ))) FROM {table}").fetchone()
    if not row or row[0] is None:
        return
    lifetime = timedelta(seconds=float(row[0]))
    deadline = run_started + lifetime
    status.deadline = _iso(deadline)
    status.deadline_note = (f"sessions updated since the last successful run started ({_iso(run_started)}) are not "
                            f"archived yet; the shortest session lifetime seen is {_hours(lifetime)}")
    if deadline - now < margin:
        status.mark_behind(f"unarchived sessions may expire from {_iso(deadline)}")


# --- command ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``conversation-archive status [options]``; 0 all current, 1 a source is behind, 2 cannot read."""
    parser = argparse.ArgumentParser(prog="conversation-archive status", description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="Meltano project folder (default: .)")
    parser.add_argument("--environment", default=os.environ.get("MELTANO_ENVIRONMENT", "dev"),
                        help="Meltano environment (default: $MELTANO_ENVIRONMENT or dev)")
    parser.add_argument("--warehouse", type=Path,
                        help="DuckDB file (default: <project>/output/<environment>.duckdb)")
    parser.add_argument("--loader", default="target-duckdb", help="loader of the runs (default: target-duckdb)")
    parser.add_argument("--source", action="append", choices=[s.name for s in SOURCES],
                        help="check only this source (repeatable; default: all five)")
    parser.add_argument("--max-age-hours", type=float, default=26.0,
                        help="a source whose last successful run is older is behind (default 26)")
    parser.add_argument("--margin-hours", type=float, default=12.0,
                        help="a source whose oldest unarchived data leaves retention sooner is behind (default 12)")
    parser.add_argument("--now", help="judge as of this UTC time (ISO 8601; default: the clock)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    args = parser.parse_args(argv)
    now = _utc(datetime.fromisoformat(args.now.replace("Z", "+00:00"))) if args.now else datetime.now(timezone.utc)
    project = args.project.resolve()
    warehouse = args.warehouse or project / "output" / f"{args.environment}.duckdb"
    missing = [name for name in ("duckdb", "meltano") if importlib.util.find_spec(name) is None]
    if missing:
        print(f"conversation-archive status needs Meltano and DuckDB in this Python ({', '.join(missing)} missing): "  # noqa: T201
              "run it from the project's virtualenv (.venv/bin/conversation-archive, set up by scripts/setup.sh)",
              file=sys.stderr)
        return 2
    try:
        reader = MeltanoReader(project, args.environment)
        con = open_warehouse(warehouse)
    except StatusError as exc:
        print(f"conversation-archive status: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    with con:
        statuses = [check_source(s, reader, con, environment=args.environment, loader=args.loader, now=now,
                                 max_age=timedelta(hours=args.max_age_hours),
                                 margin=timedelta(hours=args.margin_hours))
                    for s in SOURCES if not args.source or s.name in args.source]
    behind = [s.source for s in statuses if s.behind]
    if args.json:
        print(json.dumps({"now": _iso(now), "environment": args.environment, "warehouse": str(warehouse),  # noqa: T201
                          "behind": behind, "sources": [asdict(s) for s in statuses]}, ensure_ascii=False))
    else:
        print(f"Archive status, environment {args.environment}, warehouse {warehouse}, as of {_iso(now)}\n")  # noqa: T201
        for status in statuses:
            print("\n".join(status.lines(now)) + "\n")  # noqa: T201
        print(f"BEHIND: {', '.join(behind)}" if behind else "Every source is current.")  # noqa: T201
    return 1 if behind else 0


# --- formatting -------------------------------------------------------------------------------


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _iso(value: datetime) -> str:
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: t.Any) -> str:
    return _iso(value) if isinstance(value, datetime) else str(value)


def _hours(delta: timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def _ago(now: datetime, iso: str) -> str:
    return f"{_hours(now - datetime.fromisoformat(iso.replace('Z', '+00:00')))} ago"


def _until(now: datetime, iso: str) -> str:
    delta = datetime.fromisoformat(iso.replace("Z", "+00:00")) - now
    return f"in {_hours(delta)}" if delta.total_seconds() >= 0 else f"{_hours(-delta)} ago"
