"""The run summary every tap prints at the end of a run (issue 12).

One block per stream on stderr, then the same numbers as one JSON line::

    RUN SUMMARY tap-knovvu: ok in 12.3 s
      recording_files: 34 records, 11 partitions, 34 files (1.2 MB) stored, 0 requests, 0 retries; days 2026-11-28..2026-11-30 (3)
      daily_recording_manifests: ... GAP 2026-11-20..2026-11-23: retention (Knovvu answered 404 ...)
    RUN SUMMARY JSON {"tap": "tap-knovvu", "status": "ok", "streams": {...}}

What each number counts, per stream:

* ``records``: RECORD messages written (counted in ``VendorTap.write_message``);
* ``partitions``: syncs of the stream with a context (a parent record, a
  user, a day), 0 for an unpartitioned stream;
* ``files`` / ``bytes``: records that carry ``storage_uri`` and ``size_bytes``
  (the file went to storage; bytes as stored);
* ``requests``: HTTP responses received (every attempt, retries and 429s
  included; file downloads included where the tap reports them);
* ``retries``: requests retried (429, 5xx, connection errors, re-mint on 401);
* ``days``: distinct UTC days (``date`` in the context or record);
  ``windows``: date windows requested (``window()``); ``first``/``last``:
  the lowest and highest replication-key value emitted;
* ``gaps``: what the run could not archive, each with its ``reason``
  (``retention``, ``quota``, ``permission``, ``error``) and a detail line.

A summary lives on the tap (``VendorTap.run_summary``); streams reach their
tally with ``tally_for(stream)`` and report gaps with ``report_gap``.
"""

from __future__ import annotations

import json
import threading
import time
import typing as t
from dataclasses import asdict, dataclass, field

from taps.common.sdk_compat import tap_of

if t.TYPE_CHECKING:
    import logging

    import requests
    from singer_sdk import Stream

#: the reasons a gap can have
GAP_REASONS = ("retention", "quota", "permission", "error")
JSON_PREFIX = "RUN SUMMARY JSON "
_COUNT_LOCK = threading.Lock()  # request and retry counts come from fan-out worker threads too
#: top-level state key where a successful run records its gaps (``conversation-archive status`` reads it)
GAPS_STATE_KEY = "last_run_gaps"


@dataclass
class Gap:
    """Something a run could not archive.

    Attributes:
        what: which data (``"2026-11-20..2026-11-23"``, ``"user abc"``, ``"hour 2026-11-28 14"``).
        reason: one of ``GAP_REASONS``.
        detail: one line saying why and what to do (no secret).
    """

    what: str
    reason: str
    detail: str = ""


@dataclass
class StreamTally:
    """What one stream did in one run (see the module docstring for each field)."""

    records: int = 0
    partitions: int = 0
    files: int = 0
    bytes: int = 0
    requests: int = 0
    retries: int = 0
    days: set[str] = field(default_factory=set)
    windows: list[tuple[str, str]] = field(default_factory=list)
    first: str | None = None
    last: str | None = None
    gaps: list[Gap] = field(default_factory=list)

    def add_record(self, record: t.Mapping[str, t.Any], replication_key: str | None) -> None:
        """Count one emitted record: its file, its day and its replication-key value."""
        self.records += 1
        if record.get("storage_uri") and isinstance(record.get("size_bytes"), int):
            self.files += 1
            self.bytes += int(record["size_bytes"])
        day = record.get("date")
        if isinstance(day, str) and len(day) == 10:  # noqa: PLR2004 - YYYY-MM-DD
            self.days.add(day)
        value = record.get(replication_key) if replication_key else None
        if value is not None:
            text = str(value)
            if self.first is None or text < self.first:
                self.first = text
            if self.last is None or text > self.last:
                self.last = text

    def count(self, *, requests: int = 0, retries: int = 0) -> None:
        """Add ``requests`` HTTP answers and ``retries`` retries; safe from fan-out worker threads."""
        with _COUNT_LOCK:
            self.requests += requests
            self.retries += retries

    def add_partition(self, context: t.Mapping[str, t.Any] | None) -> None:
        """Count one sync of the stream with ``context`` (``None`` is not a partition)."""
        if context:
            self.partitions += 1
            day = context.get("date")
            if isinstance(day, str) and len(day) == 10:  # noqa: PLR2004
                self.days.add(day)

    def as_dict(self) -> dict[str, t.Any]:
        """JSON-ready numbers (days sorted, gaps as dicts)."""
        out = asdict(self)
        out["days"] = sorted(self.days)
        out["windows"] = [list(w) for w in self.windows]
        return out

    def line(self, name: str) -> str:
        """The human line for this stream."""
        parts = [f"{self.records} records"]
        if self.partitions:
            parts.append(f"{self.partitions} partitions")
        if self.files:
            parts.append(f"{self.files} files ({human_bytes(self.bytes)}) stored")
        parts.append(f"{self.requests} requests, {self.retries} retries")
        text = f"  {name}: " + ", ".join(parts)
        covered = self.covered()
        if covered:
            text += f"; {covered}"
        return text

    def covered(self) -> str:
        """``days A..B (n)``, ``n windows A..B`` and/or ``first..last``, as known."""
        out = []
        if self.days:
            days = sorted(self.days)
            out.append(f"days {days[0]}..{days[-1]} ({len(days)})")
        if self.windows:
            out.append(f"{len(self.windows)} windows {min(w[0] for w in self.windows)}.."
                       f"{max(w[1] for w in self.windows)}")
        if self.first is not None:
            out.append(f"{self.first}..{self.last}")
        return "; ".join(out)


class RunSummary:
    """Tallies of one tap run, per stream, printed at the end by ``VendorTap``."""

    def __init__(self, tap_name: str, clock: t.Callable[[], float] = time.monotonic) -> None:
        """Args:
        tap_name: e.g. ``"tap-knovvu"``.
        clock: seconds, for the run's duration (tests replace it).
        """
        self.tap_name = tap_name
        self.clock = clock
        self.started = clock()
        self.streams: dict[str, StreamTally] = {}
        self.status = "ok"

    def tally(self, stream_name: str) -> StreamTally:
        """The tally of ``stream_name`` (created on first use)."""
        tally = self.streams.get(stream_name)  # (``setdefault`` alone builds a tally per call: per record)
        if tally is None:
            tally = self.streams.setdefault(stream_name, StreamTally())  # atomic: fan-out threads call this too
        return tally

    def gaps(self) -> list[tuple[str, Gap]]:
        """Every gap of the run as ``(stream, gap)``."""
        return [(name, gap) for name, tally in self.streams.items() for gap in tally.gaps]

    def as_dict(self) -> dict[str, t.Any]:
        """The machine-readable summary (what the JSON line holds)."""
        return {
            "tap": self.tap_name,
            "status": self.status,
            "seconds": round(self.clock() - self.started, 1),
            "streams": {name: tally.as_dict() for name, tally in sorted(self.streams.items())},
        }

    def lines(self) -> list[str]:
        """The human block: a header, one line per stream, one per gap, then the JSON line."""
        data = self.as_dict()
        gaps = self.gaps()
        header = f"RUN SUMMARY {self.tap_name}: {self.status} in {data['seconds']} s"
        header += f", {len(gaps)} gap(s)" if gaps else ", no gaps"
        out = [header]
        for name, tally in sorted(self.streams.items()):
            out.append(tally.line(name))
            out.extend(f"    GAP {gap.what}: {gap.reason}. {gap.detail}".rstrip() for gap in tally.gaps)
        out.append(JSON_PREFIX + json.dumps(data, ensure_ascii=False, sort_keys=True))
        return out

    def log(self, logger: logging.Logger) -> None:
        """Write the block to ``logger`` (INFO; WARNING when the run has gaps or failed)."""
        level = 20 if self.status == "ok" and not self.gaps() else 30
        for line in self.lines():
            logger.log(level, "%s", line)


class _NullTally(StreamTally):
    """Where counts go for a stream whose tap keeps no summary (plain singer-sdk taps in tests)."""


def summary_of(stream: Stream) -> RunSummary | None:
    """The run summary of the tap ``stream`` belongs to, if it keeps one."""
    return getattr(tap_of(stream), "run_summary", None)


def tally_for(stream: Stream) -> StreamTally:
    """``stream``'s tally in its tap's run summary (a throw-away tally when there is none)."""
    summary = summary_of(stream)
    return summary.tally(stream.name) if summary is not None else _NullTally()


def report_gap(stream: Stream, what: str, reason: str, detail: str = "") -> None:
    """Record a gap for ``stream``: ``what`` could not be archived because of ``reason``.

    Raises:
        ValueError: ``reason`` is not one of ``GAP_REASONS``.
    """
    if reason not in GAP_REASONS:
        msg = f"gap reason must be one of {', '.join(GAP_REASONS)}, not {reason!r}"
        raise ValueError(msg)
    tally_for(stream).gaps.append(Gap(what, reason, detail))


def count_responses(session: requests.Session, tally: StreamTally) -> None:
    """Count every HTTP response ``session`` receives into ``tally.requests`` (once per session)."""
    hooks = session.hooks.setdefault("response", [])
    if not any(getattr(h, "_counts_into", None) is tally for h in hooks):
        def _count(response: requests.Response, *_: t.Any, **__: t.Any) -> requests.Response:
            tally.count(requests=1)
            return response
        _count._counts_into = tally  # type: ignore[attr-defined]  # noqa: SLF001 - our own marker
        hooks.append(_count)


def human_bytes(size: int) -> str:
    """``1234567`` -> ``"1.2 MB"`` (decimal units)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":  # noqa: PLR2004
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"  # pragma: no cover
