"""Pace requests inside Salesloft's per-team budget of 600 points a minute.

Salesloft ("Rate Limits", developers.salesloft.com) charges each call
``x-ratelimit-endpoint-cost`` points and reports ``x-ratelimit-remaining-minute``;
the budget is per team and shared with every other integration, and a call
over it gets 429 (no ``Retry-After`` documented). We stop before the budget
runs out, keeping a reserve for the team's other integrations, and wait for
the next minute (by the server's ``Date`` header) when it is low or after a 429.

The reserve is configured in points of the documented 600-point budget and
scales with the budget actually observed: a team whose minute holds 40 points
(a smaller plan, or other integrations spending first) keeps
``reserve * 40 / 600`` points, not 60 it can never have (which made the tap
send one request a minute forever). The observed budget is the most points
Salesloft has reported available at once: ``x-ratelimit-remaining-minute``
plus the answering call's ``x-ratelimit-endpoint-cost``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import typing as t
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

import requests

logger = logging.getLogger(__name__)

#: the documented per-team budget (points a minute) that ``reserve`` is expressed in.
DOCUMENTED_BUDGET = 600


def _sleep(seconds: float) -> None:
    """Sleep; module-level so tests can drive a fake clock instead."""
    time.sleep(seconds)


class RateBudget:
    """What Salesloft last said about this minute's budget, shared by all streams of a tap.

    Attributes:
        remaining: points left this minute (``None`` until the first answer).
        last_cost: points the last call cost.
        observed_budget: the most points reported available at once (remaining
            + the call's cost), ``None`` until the first answer with rate headers.
        server_time: the server's clock from the last ``Date`` header (UTC).
        waits: seconds slept for pacing or 429s, for logs and tests.
        sleep: the sleep function.
    """

    def __init__(self, reserve: int = 60, sleep: t.Callable[[float], None] | None = None) -> None:
        """Args:
        reserve: points of a 600-point budget left untouched for the team's
            other integrations; scaled to the observed budget (see ``effective_reserve``).
        sleep: called with seconds to wait (default: this module's ``_sleep``).
        """
        self.reserve = reserve
        self.observed_budget: int | None = None
        self.sleep = sleep or (lambda seconds: _sleep(seconds))  # noqa: PLW0108 - looked up late, so tests can patch _sleep
        self.remaining: int | None = None
        self.last_cost = 1
        self.server_time: datetime | None = None
        self.waits: list[float] = []
        self._lock = threading.Condition()  # also signalled when a call in flight is answered
        self._in_flight = 0  # calls reserved and not yet answered
        self._lowest_reported: int | None = None  # lowest remaining Salesloft reported this minute
        self._wait_lock = threading.Lock()  # one waiter sleeps; the others wait for it, then go on
        self._minutes_waited = 0  # bumped by every wait into a next minute
        self._fresh_from: datetime | None = None  # answers dated before this are from a minute already waited out

    def observe(self, response: requests.Response) -> None:
        """Read the rate headers and ``Date`` of any Salesloft answer.

        Within one server minute the lower of our own count (points reserved
        by calls in flight) and the header's wins: answers of concurrent calls
        arrive out of order.
        """
        headers = response.headers
        with self._lock:
            try:
                server_time = parsedate_to_datetime(headers["Date"]).astimezone(timezone.utc)
            except (KeyError, TypeError, ValueError):
                server_time = None
            if server_time is not None and self._fresh_from is not None and server_time < self._fresh_from:
                return  # answered before the minute we waited out: its numbers are stale
            same_minute = (server_time is not None and self.server_time is not None
                           and server_time.replace(second=0, microsecond=0)
                           == self.server_time.replace(second=0, microsecond=0))
            if headers.get("x-ratelimit-remaining-minute", "").lstrip("-").isdigit():
                reported = int(headers["x-ratelimit-remaining-minute"])
                keep_lower = same_minute and self.remaining is not None
                self.remaining = min(reported, self.remaining) if keep_lower else reported  # type: ignore[type-var]
                lowest = self._lowest_reported if same_minute and self._lowest_reported is not None else reported
                self._lowest_reported = min(lowest, reported)
            if headers.get("x-ratelimit-endpoint-cost", "").isdigit():
                self.last_cost = int(headers["x-ratelimit-endpoint-cost"])
                if headers.get("x-ratelimit-remaining-minute", "").isdigit():
                    available = int(headers["x-ratelimit-remaining-minute"]) + self.last_cost
                    self.observed_budget = max(self.observed_budget or 0, available)
            self.server_time = server_time

    @property
    def effective_reserve(self) -> int:
        """Points kept back this minute: ``reserve`` scaled from 600 to the observed budget (rounded up).

        Before any answer the configured ``reserve`` stands (it is never
        consulted then: the first call of a minute always goes out).
        """
        if self.observed_budget is None or self.observed_budget >= DOCUMENTED_BUDGET:
            return self.reserve
        return min(self.reserve, math.ceil(self.reserve * self.observed_budget / DOCUMENTED_BUDGET))

    def seconds_to_next_minute(self) -> float:
        """Seconds from the server's last ``Date`` to one second past the next minute (1–61)."""
        now = self.server_time or datetime.now(timezone.utc)
        return 61.0 - now.second - now.microsecond / 1e6

    def wait_for_next_minute(self, reason: str, seen: int | None = None) -> None:
        """Sleep into the next rate-limit minute and forget this minute's numbers.

        Concurrent workers that decide to wait in the same minute sleep once
        together: the first sleeps, the others wait for it and then go on
        without sleeping again (``seen``: the wait count when the caller decided).
        """
        with self._lock:
            seen = self._minutes_waited if seen is None else seen
        with self._wait_lock:
            if self._minutes_waited != seen:
                return  # another worker already waited into a new minute
            seconds = self.seconds_to_next_minute()
            logger.info("Salesloft rate budget: %s; waiting %.0f s for the next minute", reason, seconds)
            self.waits.append(seconds)
            self.sleep(seconds)
            with self._lock:
                self.remaining = None
                self._lowest_reported = None
                self._minutes_waited += 1
                if self.server_time is not None:
                    self._fresh_from = self.server_time.replace(second=0, microsecond=0) + timedelta(minutes=1)

    def before_request(self, cost: int = 1) -> None:
        """Reserve this call's points, waiting for the next minute if they would eat into the reserve.

        Thread-safe: concurrent workers each reserve their points under the
        lock, so together they never spend more than the budget allows. Our
        own count (points reserved by calls in flight) is pessimistic, so
        before waiting out a minute the calls still in flight are let finish
        and Salesloft's own lowest figure of this minute decides. Every call
        reserved must be closed with ``after_request``.
        """
        while True:
            with self._lock:
                remaining = self.remaining
                need = max(cost, self.last_cost)
                reserve = self.effective_reserve
                if remaining is None or remaining - need >= reserve:
                    if remaining is not None:
                        self.remaining = remaining - need
                    self._in_flight += 1
                    return
                if self._in_flight > 0:
                    self._lock.wait(timeout=1.0)  # an answer may show more points than we counted
                    continue
                seen = self._minutes_waited
            self.wait_for_next_minute(f"{remaining} points left, keeping {reserve} in reserve", seen)

    def after_request(self) -> None:
        """A call reserved by ``before_request`` is answered (or failed).

        With no call left in flight, Salesloft's lowest reported figure of this
        minute replaces our own count (it has seen every call of ours).
        """
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            if self._in_flight == 0 and self._lowest_reported is not None and self.remaining is not None:
                self.remaining = self._lowest_reported
            self._lock.notify_all()
