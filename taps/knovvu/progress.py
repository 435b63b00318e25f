"""Which UTC days and hours are done, which to fetch, and the download budget.

State lives in the ``daily_recording_manifests`` bookmark::

    {"replication_key": "date",
     "replication_key_value": "2026-05-12",        # newest day attempted to the end
     "incomplete_days": {"2026-05-11": ["00", "02"]},  # days with hours still to fetch -> hours done
     "recent_manifest_calls": [1778000000.0, ...],  # manifest call times (epoch s) in the last hour
     "zip_gets_counted": false,                     # learned: the vendor 429'd a ZIP GET
     "recent_zip_gets": [...]}                      # ZIP GET times, paced once zip_gets_counted

Every day up to ``replication_key_value`` is complete, lost (404), or listed
in ``incomplete_days`` with the hours already stored; a later run fetches the
listed days' remaining hours and the days after the bookmark, never an hour
twice.
"""

from __future__ import annotations

import threading
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


def plan_days(progress: Progress, start_date: date | None, today: date, end_date: date | None = None) -> DayPlan:
    """Days to fetch this run: unfinished days, then every day after the bookmark
    up to yesterday (UTC; today and later are never asked for: the API answers 400).

    Without a bookmark the run starts at ``start_date``, or 7 days ago. Days
    older than 7 days (the longest retention Knovvu offers) are not asked for.
    ``end_date`` (inclusive) stops earlier: one UTC day per run for an
    orchestrator's day partition (``start_date`` = ``end_date`` = that day).
    """
    yesterday = today - timedelta(days=1)
    if end_date is not None:
        yesterday = min(yesterday, end_date)
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
    """At most ``limit`` counted calls in any rolling hour, kept in state across runs.

    Knovvu documents "at most 5 downloads per hour" without saying what a
    download is. The API sees the manifest calls; the presigned ZIP GETs go to
    object storage the API does not see. So the budget is adaptive:

    * manifest calls always count (``acquire_manifest``, state key
      ``recent_manifest_calls``: epoch seconds of the calls in the last hour);
    * ZIP GETs are free (``acquire_zip`` does nothing) until the vendor answers
      429 on one; ``learn_zip_limit()`` then sets ``zip_gets_counted: true`` in
      state and from then on ZIP GETs are paced too (``recent_zip_gets``).

    A run never stops on its own guess about ZIP GETs before the vendor has
    said so. When a budget is spent, ``acquire_*`` raises ``RateLimited``
    (``wait=False``) or sleeps until a slot frees up. ``limit`` 0 disables the
    proactive budget (the vendor's 429 still stops or waits).

    Threads: the manifest calls are the main thread's. The ZIP part
    (``acquire_zip``, ``learn_zip_limit``, ``zip_gets_counted``) is one budget
    shared by every download worker, under a lock, and lives in this object:
    the main thread copies it into the bookmark with ``save()`` before it
    writes STATE (singer-sdk deep-copies the state it writes, so a worker never
    touches the bookmark itself).
    """

    def __init__(self, bookmark: dict, limit: int, *, wait: bool,
                 clock: t.Callable[[], float] = time.time, sleep: t.Callable[[float], None] = time.sleep) -> None:
        """Args:
        bookmark: the ``daily_recording_manifests`` state dict (mutated in place).
        limit: counted calls per rolling hour, per kind; 0 for no proactive limit.
        wait: sleep instead of raising when the budget is spent.
        clock, sleep: time functions in seconds (tests replace them).
        """
        self.bookmark = bookmark
        self.limit = limit
        self.wait = wait
        self.clock = clock
        self.sleep = sleep
        bookmark.pop("recent_downloads", None)  # state written before the adaptive budget
        self._lock = threading.Lock()
        self._zip_counted = bool(bookmark.get("zip_gets_counted"))
        self._zip_gets = [float(x) for x in bookmark.get("recent_zip_gets", [])]

    @property
    def zip_gets_counted(self) -> bool:
        """Whether the vendor has shown (by a 429 on a ZIP GET) that ZIP GETs count."""
        return self._zip_counted

    def learn_zip_limit(self) -> bool:
        """The vendor answered 429 on a ZIP GET: pace ZIP GETs from now on (kept in state by ``save``).

        Returns:
            ``True`` the first time (the caller says so once), ``False`` when already known.
        """
        with self._lock:
            first = not self._zip_counted
            self._zip_counted = True
        return first

    def save(self) -> None:
        """Copy the ZIP budget into the bookmark (main thread, before a STATE message)."""
        with self._lock:
            if not self._zip_counted:
                return
            now = self.clock()
            self._zip_gets = [x for x in self._zip_gets if x > now - HOUR_SECONDS]
            gets = list(self._zip_gets)
        self.bookmark["zip_gets_counted"] = True
        self.bookmark["recent_zip_gets"] = gets

    def _recent(self, key: str) -> list[float]:
        now = self.clock()
        recent = [float(x) for x in self.bookmark.get(key, []) if float(x) > now - HOUR_SECONDS]
        self.bookmark[key] = recent
        return recent

    def acquire_manifest(self) -> None:
        """Take one slot for a manifest call (main thread).

        Raises:
            RateLimited: the hour's budget is spent and ``wait`` is off.
        """
        if self.limit <= 0:
            return
        recent = self._recent("recent_manifest_calls")
        while len(recent) >= self.limit:
            self._spent(recent[0], len(recent), "manifest calls")
            recent = self._recent("recent_manifest_calls")
        recent.append(self.clock())

    def refund_manifest(self) -> None:
        """Give back the last manifest slot: the call was refused (404 past retention, 400, 429), no
        manifest was served, and the docs count downloads, not refusals."""
        recent = self.bookmark.get("recent_manifest_calls") or []
        if recent:
            recent.pop()

    def acquire_zip(self) -> None:
        """Take one slot for a ZIP GET, once ZIP GETs are known to count; else free (any thread).

        Raises:
            RateLimited: ZIP GETs count, the hour's budget is spent and ``wait`` is off.
        """
        if self.limit <= 0 or not self._zip_counted:
            return
        while True:
            with self._lock:
                now = self.clock()
                self._zip_gets = [x for x in self._zip_gets if x > now - HOUR_SECONDS]
                if len(self._zip_gets) < self.limit:
                    self._zip_gets.append(now)
                    return
                oldest, count = self._zip_gets[0], len(self._zip_gets)
            self._spent(oldest, count, "ZIP downloads")  # sleeps outside the lock, or raises

    def _spent(self, oldest: float, count: int, what: str) -> None:
        """The budget is spent until ``oldest`` is an hour old: raise, or sleep until then."""
        free_in = oldest + HOUR_SECONDS - self.clock()
        if not self.wait:
            msg = (f"{count} Knovvu {what} in the last hour (limit {self.limit}); "
                   f"the next slot frees up in {free_in / 60:.0f} min")
            raise RateLimited(msg, free_in, by_vendor=False)
        self.sleep(max(free_in, 0.0) + 1.0)
