"""Which UTC days and hours are done, which to fetch, and the download budget.

State lives in the ``daily_recording_manifests`` bookmark::

    {"replication_key": "date",
     "replication_key_value": "2026-05-12",        # newest day attempted to the end
     "incomplete_days": {"2026-05-11": ["00", "02"]},  # days with hours still to fetch -> hours done
     "recent_downloads": [1778000000.0, ...]}      # download times (epoch s) in the last hour

Every day up to ``replication_key_value`` is complete, lost (404), or listed
in ``incomplete_days`` with the hours already stored; a later run fetches the
listed days' remaining hours and the days after the bookmark, never an hour
twice.
"""

from __future__ import annotations

import time
import typing as t
from dataclasses import dataclass
from datetime import date, timedelta

from taps.knovvu.client import RateLimited

#: Knovvu tenants keep recordings 1 to 7 days: older days are gone for every tenant.
MAX_RETENTION_DAYS = 7
HOUR_SECONDS = 3600.0


class Progress:
    """Read and update the tap's day/hour progress inside a bookmark dict (mutated in place)."""

    def __init__(self, bookmark: dict) -> None:
        """Args:
        bookmark: the ``daily_recording_manifests`` stream state.
        """
        self.bookmark = bookmark
        bookmark.setdefault("replication_key", "date")
        bookmark.setdefault("incomplete_days", {})

    @property
    def watermark(self) -> str | None:
        """The newest day attempted to the end (``YYYY-MM-DD``), or ``None``."""
        return self.bookmark.get("replication_key_value")

    @property
    def incomplete(self) -> dict[str, list[str]]:
        """Days with hours still to fetch -> hours already done."""
        return self.bookmark["incomplete_days"]

    def hours_done(self, day: str) -> set[str]:
        """Hours of ``day`` already stored (empty for a day not started)."""
        return set(self.incomplete.get(day, []))

    def mark_hour(self, day: str, hour: str) -> None:
        """Record that every record of ``day``/``hour`` was emitted and its files stored."""
        self.incomplete[day] = sorted(self.hours_done(day) | {hour})

    def finish_day(self, day: str, *, complete: bool) -> None:
        """``day`` was attempted to the end: forget it if ``complete``, else keep its hours done."""
        if complete:
            self.incomplete.pop(day, None)
        else:
            self.incomplete.setdefault(day, [])
        self.advance(day)

    def lost_day(self, day: str) -> None:
        """``day`` is past retention (404): nothing more can be fetched for it."""
        self.incomplete.pop(day, None)
        self.advance(day)

    def advance(self, day: str) -> None:
        """Move the bookmark to ``day`` if it is newer."""
        if self.watermark is None or day > self.watermark:
            self.bookmark["replication_key_value"] = day


@dataclass
class DayPlan:
    """The days one run asks for, oldest first, and the days given up without asking.

    Attributes:
        days: ``YYYY-MM-DD`` strings to fetch.
        beyond_retention: ``(first, last)`` days older than any tenant keeps, or ``None``.
    """

    days: list[str]
    beyond_retention: tuple[str, str] | None


def plan_days(progress: Progress, start_date: date | None, today: date) -> DayPlan:
    """Days to fetch this run: unfinished days, then every day after the bookmark
    up to yesterday (UTC; today and later are never asked for: the API answers 400).

    Without a bookmark the run starts at ``start_date``, or 7 days ago. Days
    older than 7 days (the longest retention Knovvu offers) are not asked for.
    """
    yesterday = today - timedelta(days=1)
    horizon = today - timedelta(days=MAX_RETENTION_DAYS)
    if progress.watermark:
        first = date.fromisoformat(progress.watermark) + timedelta(days=1)
    else:
        first = start_date or horizon
    beyond = None
    stale = sorted(d for d in progress.incomplete if date.fromisoformat(d) < horizon)
    if first < horizon or stale:
        oldest = min([first, *(date.fromisoformat(d) for d in stale)])
        beyond = (oldest.isoformat(), (horizon - timedelta(days=1)).isoformat())
        for day in stale:
            progress.lost_day(day)
        first = max(first, horizon)
    days = {d for d in progress.incomplete if date.fromisoformat(d) <= yesterday}
    cursor = first
    while cursor <= yesterday:
        days.add(cursor.isoformat())
        cursor += timedelta(days=1)
    return DayPlan(sorted(days), beyond)


class DownloadBudget:
    """At most ``limit`` downloads in any rolling hour (Knovvu: 5), kept in state across runs.

    ``acquire()`` before each download: when the hour's budget is spent it
    raises ``RateLimited`` (``wait=False``) or sleeps until a slot frees up.
    ``limit`` 0 disables the proactive budget (the vendor's 429 still counts).
    """

    def __init__(self, bookmark: dict, limit: int, *, wait: bool,
                 clock: t.Callable[[], float] = time.time, sleep: t.Callable[[float], None] = time.sleep) -> None:
        """Args:
        bookmark: state dict holding ``recent_downloads``.
        limit: downloads per rolling hour; 0 for no proactive limit.
        wait: sleep instead of raising when the budget is spent.
        clock, sleep: time functions (tests replace them).
        """
        self.bookmark = bookmark
        self.limit = limit
        self.wait = wait
        self.clock = clock
        self.sleep = sleep

    def _recent(self) -> list[float]:
        now = self.clock()
        recent = [float(x) for x in self.bookmark.get("recent_downloads", []) if float(x) > now - HOUR_SECONDS]
        self.bookmark["recent_downloads"] = recent
        return recent

    def acquire(self) -> None:
        """Take one download slot.

        Raises:
            RateLimited: the budget is spent and ``wait`` is off.
        """
        if self.limit <= 0:
            return
        recent = self._recent()
        while len(recent) >= self.limit:
            free_in = recent[0] + HOUR_SECONDS - self.clock()
            if not self.wait:
                msg = (f"{len(recent)} Knovvu downloads in the last hour (limit {self.limit}); "
                       f"the next slot frees up in {free_in / 60:.0f} min")
                raise RateLimited(msg, free_in)
            self.sleep(max(free_in, 0.0) + 1.0)
            recent = self._recent()
        recent.append(self.clock())
