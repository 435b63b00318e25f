"""Split a date range into spans no longer than a vendor allows.

Kore.ai accepts ``from``/``to`` dates at most 7 days apart (inclusive);
Zoom archive APIs take date-time windows with a maximum span; Knovvu is one
UTC day per call. These helpers keep that arithmetic in one place.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta


def date_windows(start: date, end: date, max_days: int) -> list[tuple[date, date]]:
    """Inclusive date windows covering ``start..end``, each at most ``max_days`` days.

    Example: 2026-01-01..2026-01-10 with ``max_days=7`` gives
    ``[(01-01, 01-07), (01-08, 01-10)]``. Windows never overlap and leave no gap.

    Raises:
        ValueError: ``max_days < 1``.
    Returns:
        An empty list when ``start > end``.
    """
    if max_days < 1:
        msg = "max_days must be at least 1"
        raise ValueError(msg)
    windows = []
    cursor = start
    while cursor <= end:
        last = min(end, cursor + timedelta(days=max_days - 1))
        windows.append((cursor, last))
        cursor = last + timedelta(days=1)
    return windows


def datetime_windows(start: datetime, end: datetime, max_span: timedelta) -> list[tuple[datetime, datetime]]:
    """Half-open windows ``[a, b)`` covering ``start..end``, each at most ``max_span`` long.

    Raises:
        ValueError: ``max_span`` is not positive.
    Returns:
        An empty list when ``start >= end``.
    """
    if max_span <= timedelta(0):
        msg = "max_span must be positive"
        raise ValueError(msg)
    windows = []
    cursor = start
    while cursor < end:
        stop = min(end, cursor + max_span)
        windows.append((cursor, stop))
        cursor = stop
    return windows


def utc_days(start: date, end: date) -> list[date]:
    """Every date from ``start`` to ``end`` inclusive, oldest first (empty if ``start > end``)."""
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]
