"""Run every tap through Meltano into a real PostgreSQL server and compare what landed.

``TAPS`` lists, per tap, how to build its sandbox and the ``TAP_*`` variables
that point the Meltano extractor at it. ``invoke_records`` captures what the
tap emits under Meltano (``meltano invoke``, with meltano.yml's selection);
``run_into_postgres`` runs ``meltano run <tap> target-postgres``; ``merged``
applies the primary-key merge a warehouse is expected to do (the last record
for a key wins); ``normalise`` turns a record value and a PostgreSQL value
into comparable forms (timestamps to UTC ISO, numbers to float).
"""

from __future__ import annotations

import fcntl
import json
import re
import typing as t
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

from sandboxes.base import SandboxServer
from tests.helpers import REPO, TapRun, parse_singer
from tests.meltano_harness import meltano
from tests.servers import PostgresDatabase

ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


@dataclass(frozen=True)
class TapCase:
    """One tap and its sandbox.

    Attributes:
        tap: the Meltano extractor name.
        app: builds the sandbox application.
        env: the ``TAP_*`` variables for a sandbox at ``url``, storing files under ``storage``.
    """

    tap: str
    app: t.Callable[[], t.Any]
    env: t.Callable[[t.Any, str, str], dict[str, str]]

    @property
    def schema(self) -> str:
        """The warehouse schema Meltano loads into (``$MELTANO_EXTRACT__LOAD_SCHEMA``)."""
        return self.tap.replace("-", "_")


def _zoom() -> t.Any:
    from sandboxes.zoom_aic import ZoomAICSandbox

    return ZoomAICSandbox()


def _knovvu() -> t.Any:
    from sandboxes.knovvu import KnovvuSandbox

    return KnovvuSandbox(downloads_per_hour=10_000)


def _salesloft() -> t.Any:
    from sandboxes.salesloft import SalesloftSandbox

    return SalesloftSandbox(budget=1_000_000)


def _foundry() -> t.Any:
    from sandboxes.foundry_aip import FoundryAIPSandbox

    return FoundryAIPSandbox()


def _kore() -> t.Any:
    from sandboxes.kore_agentai import KoreAgentAISandbox

    return KoreAgentAISandbox()


def _tap_env(prefix: str, config: dict[str, t.Any]) -> dict[str, str]:
    return {f"{prefix}_{key.upper()}": value if isinstance(value, str) else json.dumps(value)
            for key, value in config.items()}


TAPS: dict[str, TapCase] = {
    "tap-zoom-aic": TapCase("tap-zoom-aic", _zoom, lambda app, url, storage: _tap_env(
        "TAP_ZOOM_AIC", {**app.demo_config(url), "storage_url": storage, "page_size": "9"})),
    "tap-knovvu": TapCase("tap-knovvu", _knovvu, lambda app, url, storage: _tap_env(
        "TAP_KNOVVU", {**app.demo_config(url), "storage_url": storage, "downloads_per_hour": "0"})),
    "tap-salesloft": TapCase("tap-salesloft", _salesloft, lambda app, url, storage: _tap_env(
        "TAP_SALESLOFT", {"api_url": url, "api_key": app.api_key, "storage_url": storage})),
    "tap-foundry-aip": TapCase("tap-foundry-aip", _foundry, lambda _app, url, _storage: _tap_env(
        "TAP_FOUNDRY_AIP", {"api_url": url, "page_size": "30"})),
    "tap-kore-agentai": TapCase("tap-kore-agentai", _kore, lambda _app, url, _storage: _tap_env(
        "TAP_KORE_AGENTAI", {"api_url": url})),
}


def _locked_meltano(*args: str, env: dict[str, str]) -> t.Any:
    # Meltano writes each plugin's config under .meltano/run/<plugin>/: one run at a time
    # (the same lock as tests/meltano_harness.py).
    with open(REPO / ".meltano" / "test-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return meltano(*args, env=env)


def invoke_records(tap: str, env: dict[str, str]) -> TapRun:
    """What ``tap`` emits when Meltano runs it (meltano.yml's selection), from no state."""
    proc = _locked_meltano("invoke", tap, env={"MELTANO_ENVIRONMENT": "dev", **env})
    return parse_singer(proc.stdout)


def run_into_postgres(taps: str | t.Sequence[str], database: PostgresDatabase, state_dir: Path,
                      env: dict[str, str]) -> None:
    """``meltano run <tap> target-postgres [<tap> target-postgres ...]`` into ``database``.

    Args:
        taps: one extractor name or several (one Meltano invocation loads them all).
        database: the PostgreSQL database (``TARGET_POSTGRES_*``).
        state_dir: the state backend folder (a fresh one means no state).
        env: the ``TAP_*`` variables.
    """
    names = [taps] if isinstance(taps, str) else list(taps)
    blocks = [arg for name in names for arg in (name, "target-postgres")]
    _locked_meltano("run", *blocks, env={
        "MELTANO_ENVIRONMENT": "dev",
        "MELTANO_STATE_BACKEND_URI": f"file://{state_dir}",
        **database.env(),
        **env,
    })


def normalise(value: t.Any) -> t.Any:
    """A comparable form of a record value or a PostgreSQL value.

    Timestamps (``datetime`` or ISO strings; naive means UTC) become UTC ISO
    strings, dates ISO dates, numbers floats; JSON containers are compared
    as they are.
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, str) and ISO_TIMESTAMP.match(value):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def merged(run: TapRun, stream: str) -> dict[tuple, dict]:
    """``stream``'s records keyed by normalised primary key, the last record for a key winning."""
    keys = run.schemas[stream]["key_properties"]
    return {tuple(normalise(record[k]) for k in keys): record for record in run.records[stream]}


def table_columns(database: PostgresDatabase, schema: str, table: str) -> dict[str, str]:
    """Column name -> PostgreSQL type name (``udt_name``: ``jsonb``, ``_jsonb`` for jsonb[], ``text`` ...)."""
    rows = database.query(
        "SELECT column_name, udt_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
        (schema, table))
    return dict(rows)


def table_dicts(database: PostgresDatabase, schema: str, table: str) -> list[dict[str, t.Any]]:
    """Every row of ``schema.table`` as a dict keyed by column name."""
    with database.connect() as con:
        cur = con.execute(f'SELECT * FROM "{schema}"."{table}"')  # noqa: S608 - test-owned identifiers
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def sandbox(case: TapCase) -> tuple[t.Any, SandboxServer]:
    """The tap's sandbox application and an (unstarted) server for it."""
    app = case.app()
    return app, SandboxServer(app)
