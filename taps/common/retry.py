"""How long to wait before retrying a request.

``Retry-After`` follows RFC 9110 §10.2.3 (delay-seconds or HTTP-date); some
vendors (Zoom daily limits) send an ISO 8601 timestamp instead, which is
accepted too.
"""

from __future__ import annotations

import random
import typing as t
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

if t.TYPE_CHECKING:
    from taps.common.settings import TapSettings


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Return the wait in seconds that a ``Retry-After`` value asks for.

    Args:
        value: the header value: ``"120"``, ``"Wed, 21 Oct 2026 07:28:00 GMT"``
            or ``"2026-10-21T07:28:00Z"``.
        now: the current UTC time (defaults to the clock).

    Returns:
        Seconds to wait (>= 0), or ``None`` when the value is absent or
        unparseable (the caller then falls back to exponential backoff).
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when: datetime | None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def exponential_wait(attempt: int, base: float = 1.0, cap: float = 60.0) -> float:
    """Exponential backoff with jitter: ``base * 2**(attempt-1)``, capped, times 0.5–1.0.

    Args:
        attempt: 1 for the first retry.
        base: seconds for the first retry before jitter.
        cap: maximum seconds before jitter.
    """
    return float(min(cap, base * 2 ** max(0, attempt - 1)) * random.uniform(0.5, 1.0))  # noqa: S311


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry a request: the same rules for API calls, token requests and downloads.

    Attributes:
        max_tries: attempts in all (the first plus ``max_retries``).
        base_seconds: first backoff wait in seconds, doubled each retry (setting ``retry_base_seconds``).
        cap_seconds: longest backoff wait in seconds (before jitter).
        timeout: seconds to wait for each response (setting ``request_timeout``).
    """

    max_tries: int = 6
    base_seconds: float = 1.0
    cap_seconds: float = 60.0
    timeout: float = 60.0

    @classmethod
    def from_settings(cls, settings: TapSettings) -> RetryPolicy:
        """The policy from the shared settings ``max_retries``, ``retry_base_seconds`` and ``request_timeout``."""
        return cls(
            max_tries=1 + settings.max_retries,
            base_seconds=settings.retry_base_seconds,
            timeout=settings.request_timeout,
        )

    def wait(self, attempt: int, asked: float | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (1-based): ``asked`` (the vendor's ``Retry-After``) wins."""
        if asked is not None:
            return asked
        return exponential_wait(attempt, base=self.base_seconds, cap=self.cap_seconds)
