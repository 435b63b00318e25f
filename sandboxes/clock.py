"""The sandboxes' clock: the machine's time plus an offset, so a test can run a vendor ahead or behind.

Every sandbox reads its "now" through ``app.clock`` (a ``SandboxClock``): token
and link expiry, windows ending at "now", generated data, and the ``Date``
header of every answer. Moving it moves all of them together, as a vendor
whose clock differs from the machine running the tap.

Set it:
* in Python: ``app.clock.set_offset(-600)`` (ten minutes behind) or ``app.clock.shift(30)``;
* over HTTP: ``POST /_sandbox/clock`` with ``{"offset_seconds": -600}`` (answers the new
  offset and time; ``GET`` reads them); such requests are not logged in ``app.requests``;
* from the command line: ``python -m sandboxes --clock-offset -600`` (also applied to the
  data each sandbox generates when it starts).
"""

from __future__ import annotations

import time
import typing as t
from datetime import datetime, timezone
from email.utils import formatdate

#: the path of the clock endpoint every sandbox serves
CLOCK_PATH = "/_sandbox/clock"

_default_offset = 0.0


def set_default_offset(seconds: float) -> None:
    """Offset (seconds) given to every ``SandboxClock`` created from now on (``--clock-offset``)."""
    global _default_offset  # noqa: PLW0603 - one process-wide command-line setting
    _default_offset = float(seconds)


class SandboxClock:
    """``base() + offset_seconds``: seconds since the epoch as the emulated vendor sees them.

    Args:
        base: the underlying clock (``time.time``, or a test's frozen clock).
        offset_seconds: added to ``base()``; default: the process default (``set_default_offset``).
    """

    def __init__(self, base: t.Callable[[], float] = time.time, offset_seconds: float | None = None) -> None:
        """Wrap ``base``."""
        self.base = base
        self.offset_seconds = _default_offset if offset_seconds is None else float(offset_seconds)

    def __call__(self) -> float:
        """The vendor's now, seconds since the epoch."""
        return self.base() + self.offset_seconds

    def set_offset(self, seconds: float) -> None:
        """Run ``seconds`` ahead of ``base`` (negative: behind)."""
        self.offset_seconds = float(seconds)

    def shift(self, seconds: float) -> None:
        """Move the clock by ``seconds`` (time passing, or a step)."""
        self.offset_seconds += float(seconds)

    def now(self) -> datetime:
        """The vendor's now as an aware UTC datetime."""
        return datetime.fromtimestamp(self(), timezone.utc)

    def http_date(self) -> str:
        """The ``Date`` header value for now (IMF-fixdate, RFC 9110)."""
        return formatdate(self(), usegmt=True)

    def describe(self) -> dict[str, t.Any]:
        """``{"offset_seconds", "now"}`` as the clock endpoint answers."""
        return {"offset_seconds": self.offset_seconds, "now": self.now().isoformat().replace("+00:00", "Z")}
