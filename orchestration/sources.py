"""How each vendor is partitioned, and what a partition means to its tap.

One ``Source`` per tap: its Dagster partitions, how a partition key becomes the
tap's settings (Meltano environment variables) and its state id suffix, its
concurrency pool limit (the vendor's rate limits are per tenant, account or
team), and how old its newest data may get before its freshness check fails.

| source | partition | key | state id suffix | tap settings |
|---|---|---|---|---|
| Zoom | user shard | ``shard-<i>-of-<n>`` | the key | ``user_shard=i``, ``user_shards=n`` |
| Foundry | agent | the agent RID | the key | ``agent_rids=[rid]`` |
| Knovvu | UTC day | ``YYYY-MM-DD`` | ``day-<key>`` | ``start_date``/``end_date`` = that day |
| Kore.ai | 7-day window | first day ``YYYY-MM-DD`` | ``week-<key>`` | ``start_date``/``end_date`` = the window |
| Salesloft | none (one) | | ``all`` | |
"""

from __future__ import annotations

import json
import os
import typing as t
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import yaml

from orchestration.meltano import DEFAULT_PROJECT_ROOT

#: Knovvu keeps audio 1 to 7 days (tenant setting); older days are gone for every tenant.
KNOVVU_MAX_RETENTION_DAYS = 7
#: Kore.ai's maximum query range: 7 days, inclusive.
KORE_WINDOW_DAYS = 7


@dataclass(frozen=True)
class Source:
    """One tap as Dagster runs it.

    Attributes:
        name: short vendor name (asset name, pool ``vendor-<name>``).
        tap: Meltano extractor name.
        env_prefix: the tap's Meltano environment variable prefix, e.g. ``TAP_ZOOM_AIC``.
        partitions: the Dagster partitions, or ``None`` for one unpartitioned asset.
        pool_limit: at most this many partitions of the source run at once.
        cron: the schedule (UTC).
        max_age: the freshness check fails when a partition's last success is older.
        description: why the partitions and schedule are what they are.
    """

    name: str
    tap: str
    env_prefix: str
    partitions: dg.PartitionsDefinition | None
    pool_limit: int
    cron: str
    max_age: timedelta
    description: str

    @property
    def pool(self) -> str:
        """The Dagster concurrency pool of this source's asset."""
        return f"vendor-{self.name}"

    def suffix(self, key: str | None) -> str:
        """The state id suffix of partition ``key`` (``all`` when unpartitioned)."""
        if key is None:
            return "all"
        if self.name == "knovvu":
            return f"day-{key}"
        if self.name == "kore":
            return f"week-{key}"
        return key

    def tap_env(self, key: str | None) -> dict[str, str]:
        """The tap settings partition ``key`` needs, as ``TAP_<NAME>_<SETTING>`` variables."""
        p = self.env_prefix
        if key is None:
            return {}
        if self.name == "zoom":
            shard, shards = parse_shard(key)
            return {f"{p}_USER_SHARD": str(shard), f"{p}_USER_SHARDS": str(shards)}
        if self.name == "foundry":
            return {f"{p}_AGENT_RIDS": json.dumps([key])}
        if self.name == "knovvu":
            return {f"{p}_START_DATE": f"{key}T00:00:00Z", f"{p}_END_DATE": f"{key}T23:59:59Z"}
        if self.name == "kore":
            last = date.fromisoformat(key) + timedelta(days=KORE_WINDOW_DAYS - 1)
            return {f"{p}_START_DATE": f"{key}T00:00:00Z", f"{p}_END_DATE": f"{last.isoformat()}T23:59:59Z"}
        return {}


def parse_shard(key: str) -> tuple[int, int]:
    """``shard-2-of-4`` -> ``(2, 4)``.

    Raises:
        ValueError: the key is not of that form.
    """
    parts = key.split("-")
    if len(parts) != 4 or parts[0] != "shard" or parts[2] != "of":  # noqa: PLR2004
        msg = f"not a Zoom shard partition key: {key!r} (expected shard-<i>-of-<n>)"
        raise ValueError(msg)
    return int(parts[1]), int(parts[3])


def shard_keys(shards: int) -> list[str]:
    """Partition keys of ``shards`` Zoom user shards."""
    return [f"shard-{i}-of-{shards}" for i in range(shards)]


def meltano_setting(root: Path, environment: str, tap: str, setting: str) -> t.Any:
    """A tap setting as written in ``meltano.yml`` (the environment's value, else the plugin's)."""
    project = yaml.safe_load((root / "meltano.yml").read_text())
    for env in project.get("environments") or []:
        if env.get("name") == environment:
            for plugin in (env.get("config") or {}).get("plugins", {}).get("extractors") or []:
                if plugin.get("name") == tap and setting in (plugin.get("config") or {}):
                    return plugin["config"][setting]
    for plugin in (project.get("plugins") or {}).get("extractors") or []:
        if plugin.get("name") == tap and setting in (plugin.get("config") or {}):
            return plugin["config"][setting]
    return None


@dataclass(frozen=True)
class Layout:
    """The partition layout, read from the environment (``ORCH_*``) and ``meltano.yml``.

    Attributes:
        zoom_user_shards: Zoom shards (``ORCH_ZOOM_USER_SHARDS``, default 4). Changing it
            makes new partitions with new state ids: a different split must not reuse state.
        foundry_agent_rids: agents (``ORCH_FOUNDRY_AGENT_RIDS``, comma-separated; default the
            ``agent_rids`` of the Meltano environment).
        knovvu_retention_days: the tenant's retention (``ORCH_KNOVVU_RETENTION_DAYS``, 1-7, default 7).
        knovvu_first_day: first day partition (``ORCH_KNOVVU_START_DATE``, default today
            minus 7 days: older days are gone for every tenant).
        kore_first_day: first 7-day window (``ORCH_KORE_START_DATE``, default the tap's
            ``start_date`` in ``meltano.yml``).
    """

    zoom_user_shards: int
    foundry_agent_rids: tuple[str, ...]
    knovvu_retention_days: int
    knovvu_first_day: date
    kore_first_day: date

    @classmethod
    def from_env(cls, root: Path = DEFAULT_PROJECT_ROOT, environment: str | None = None,
                 today: date | None = None) -> Layout:
        """The layout for this deployment.

        Raises:
            ValueError: an ``ORCH_*`` variable is malformed (the message names it).
        """
        env = environment or os.environ.get("MELTANO_ENVIRONMENT", "dev")
        today = today or datetime.now(timezone.utc).date()
        rids = os.environ.get("ORCH_FOUNDRY_AGENT_RIDS")
        agents = [r.strip() for r in rids.split(",") if r.strip()] if rids else \
            list(meltano_setting(root, env, "tap-foundry-aip", "agent_rids") or [])
        kore_start = os.environ.get("ORCH_KORE_START_DATE") or \
            str(meltano_setting(root, env, "tap-kore-agentai", "start_date") or "2025-01-01")
        knovvu_start = os.environ.get("ORCH_KNOVVU_START_DATE")
        return cls(
            zoom_user_shards=_int_env("ORCH_ZOOM_USER_SHARDS", 4, 1, 10_000),
            foundry_agent_rids=tuple(agents),
            knovvu_retention_days=_int_env("ORCH_KNOVVU_RETENTION_DAYS", KNOVVU_MAX_RETENTION_DAYS, 1, 7),
            knovvu_first_day=_date(knovvu_start, "ORCH_KNOVVU_START_DATE") if knovvu_start
            else today - timedelta(days=KNOVVU_MAX_RETENTION_DAYS),
            kore_first_day=_date(kore_start, "ORCH_KORE_START_DATE"),
        )

    def sources(self) -> list[Source]:
        """The five sources with their partitions, limits, schedules and freshness bounds."""
        kore_start = self.kore_first_day
        return [
            Source("zoom", "tap-zoom-aic", "TAP_ZOOM_AIC",
                   dg.StaticPartitionsDefinition(shard_keys(self.zoom_user_shards)),
                   pool_limit=4, cron="0 2 * * *", max_age=timedelta(hours=26),
                   description="Zoom AI Companion archives, one partition per user shard (sha256 of the "
                               "user id modulo the shard count). Rate limits are per account and shared "
                               "by every app, so at most 4 shards run at once. Daily."),
            Source("foundry", "tap-foundry-aip", "TAP_FOUNDRY_AIP",
                   dg.StaticPartitionsDefinition(list(self.foundry_agent_rids)) if self.foundry_agent_rids
                   else None,
                   pool_limit=4, cron="0 */4 * * *", max_age=timedelta(hours=8),
                   description="Foundry AIP Agent sessions, one partition per agent. Sessions disappear "
                               "after estimatedExpiresTime (about a day after their last update), so "
                               "every 4 hours, failing freshness after 8."),
            Source("knovvu", "tap-knovvu", "TAP_KNOVVU",
                   dg.DailyPartitionsDefinition(start_date=self.knovvu_first_day.isoformat(),
                                                timezone="UTC", end_offset=0),
                   pool_limit=1, cron="15 * * * *", max_age=timedelta(days=1),
                   description="Knovvu audio, one partition per UTC day (Knovvu builds the previous "
                               "day nightly and deletes it after the tenant's 1-7 day retention). At most "
                               "5 downloads per hour per tenant, so one day at a time, hourly, each run "
                               "resuming where the download limit stopped the last."),
            Source("kore", "tap-kore-agentai", "TAP_KORE_AGENTAI",
                   dg.WeeklyPartitionsDefinition(start_date=kore_start.isoformat(),
                                                 day_offset=kore_start.isoweekday() % 7,
                                                 timezone="UTC", end_offset=1),
                   pool_limit=2, cron="0 3 * * *", max_age=timedelta(hours=26),
                   description="Kore.ai Agent AI conversations, one partition per 7-day window (the "
                               "API's maximum range), the current window included. Daily."),
            Source("salesloft", "tap-salesloft", "TAP_SALESLOFT", None,
                   pool_limit=1, cron="0 4 * * *", max_age=timedelta(hours=26),
                   description="Salesloft conversations, one partition: its rate budget (600 cost/min) "
                               "is per team. Daily."),
        ]


def _int_env(name: str, default: int, lo: int, hi: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        msg = f"{name} must be an integer from {lo} to {hi}, got {raw!r}"
        raise ValueError(msg)
    return value


def _date(raw: str, name: str) -> date:
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).date() if "T" in raw else date.fromisoformat(raw)
    except ValueError:
        msg = f"{name} must be an ISO date (YYYY-MM-DD), got {raw!r}"
        raise ValueError(msg) from None
