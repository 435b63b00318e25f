"""The vendor's clock, learned from the ``Date`` header of its answers (RFC 9110 section 6.6.1).

A tap that ends a window at "now" or "today" must use the vendor's now, not the
machine's: with the machine's clock ahead, a window ending at the machine's now
is bookmarked past what the vendor has, and what the vendor records in between
is skipped for good. ``VendorClock`` keeps the offset between the last ``Date``
header seen and the machine's clock when the answer arrived; ``safe_now()`` is
the vendor's now minus ``margin`` (the shared setting ``clock_margin_seconds``,
default ``DEFAULT_MARGIN``), the latest moment a bookmark may take. Before any answer is seen the machine's clock stands in.

The shared stream client feeds every API answer (``VendorRESTStream.validate_response``)
and the OAuth token endpoint feeds its answers, so any tap has the clock after its
first request.
"""

from __future__ import annotations

import threading
import time
import typing as t
from datetime import date, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

if t.TYPE_CHECKING:
    import requests

#: default of ``clock_margin_seconds``: how far behind the vendor's now a window may end
#: (its Date has whole seconds, answers take time,
#: and a vendor may index an item a little after its timestamp)
DEFAULT_MARGIN = timedelta(seconds=60)


class VendorClock:
    """The vendor's now: the machine's clock plus the offset of the last ``Date`` header seen.

    Args:
        margin: subtracted by ``safe_now`` (default ``DEFAULT_MARGIN``).
        local: seconds since the epoch on this machine (tests may pass another).

    Thread-safe: every worker of a tap may feed it.
    """

    def __init__(self, margin: timedelta = DEFAULT_MARGIN, local: t.Callable[[], float] = time.time) -> None:
        """Start with no answer seen (offset 0)."""
        self.margin = margin
        self.local = local
        self.offset_seconds: float | None = None
        self._lock = threading.Lock()

    @property
    def known(self) -> bool:
        """Whether an answer with a valid ``Date`` header has been seen."""
        return self.offset_seconds is not None

    def observe(self, response: requests.Response | None) -> None:
        """Learn the offset from ``response``'s ``Date`` header; a missing or malformed header is ignored."""
        if response is None:
            return
        self.observe_header(response.headers.get("Date"))

    def observe_header(self, value: str | None) -> None:
        """Learn the offset from one ``Date`` header value (IMF-fixdate, e.g. ``Wed, 02 Dec 2026 01:00:00 GMT``)."""
        if not value:
            return
        try:
            vendor = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return
        if vendor.tzinfo is None:
            vendor = vendor.replace(tzinfo=timezone.utc)
        with self._lock:
            self.offset_seconds = vendor.timestamp() - self.local()

    def now(self) -> datetime:
        """The vendor's current time (UTC); the machine's while no ``Date`` has been seen."""
        return datetime.fromtimestamp(self.local() + (self.offset_seconds or 0.0), timezone.utc)

    def safe_now(self) -> datetime:
        """``now() - margin``: the latest moment a window may end and a bookmark may take."""
        return self.now() - self.margin

    def safe_today(self) -> date:
        """The vendor's UTC day at ``safe_now()`` (a day is "today" until ``margin`` after its midnight)."""
        return self.safe_now().date()

    def clamp(self, end: datetime | None) -> datetime:
        """``end`` (a configured ``end_date``), but never after ``safe_now()``; ``safe_now()`` when ``None``."""
        safe = self.safe_now()
        return safe if end is None or end > safe else end
