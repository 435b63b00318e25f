"""Vendor timestamps as aware UTC ``datetime`` objects.

Every vendor here sends ISO 8601: Salesloft ``2025-02-13T22:11:57.792Z``,
Zoom ``2021-05-26T05:23:18Z``, Kore.ai ``...Z``, Foundry up to nine
fractional digits (``2024-10-01T22:04:24.962583055Z``). One parser for all.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime, timezone

_FRACTION_RE = re.compile(r"^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(.*)$")


def parse_timestamp(value: str | datetime) -> datetime:
    """An ISO 8601 value (``Z``, an offset, or naive meaning UTC) as an aware UTC ``datetime``.

    Fractions of a second beyond microseconds (Foundry sends nanoseconds) are cut;
    a ``datetime`` passes through (naive taken as UTC). Text is parsed once and
    remembered (``_parse_text``: a record's replication key is read by the
    paginator, the bookmark step and the child context alike).

    Raises:
        ValueError: not an ISO 8601 date or date-time.
    """
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc) if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return _parse_text(value if isinstance(value, str) else str(value))


@functools.lru_cache(maxsize=8192)
def _parse_text(value: str) -> datetime:
    """``parse_timestamp`` of a string (cached: ``datetime`` is immutable)."""
    text = value.strip()
    match = _FRACTION_RE.match(text)
    if match and match.group(2):
        head, fraction, zone = match.groups()
        text = f"{head}.{fraction[:6].ljust(6, '0')}{zone}"
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        msg = f"not an ISO 8601 timestamp: {text[:40]!r}"
        raise ValueError(msg) from None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def utc_now() -> datetime:
    """The current time, aware, in UTC: the one clock the taps read."""
    return datetime.now(timezone.utc)
