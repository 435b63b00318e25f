"""The shared sandbox clock (``sandboxes/clock.py``) and the taps' ``VendorClock`` over real HTTP."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import requests

from taps.common.clock import VendorClock
from tests.conformance.kit import KITS


def test_clock_endpoint_moves_now_and_the_date_header() -> None:
    """``POST /_sandbox/clock`` sets the offset; every answer's Date follows it; the call is not logged."""
    with KITS["kore_agentai"].serve() as server:
        answer = requests.post(f"{server.url}/_sandbox/clock", json={"offset_seconds": -3600}, timeout=5)
        assert answer.status_code == 200 and answer.json()["offset_seconds"] == -3600
        vendor = requests.get(f"{server.url}/anything", timeout=5)
        date = parsedate_to_datetime(vendor.headers["Date"]).timestamp()
        assert abs(date - (time.time() - 3600)) < 5
        clock = VendorClock()
        clock.observe(vendor)
        assert abs(clock.now().timestamp() - (time.time() - 3600)) < 5
        assert clock.safe_now() < clock.now()
        assert not server.app.requests_to(r"_sandbox")
        bad = requests.post(f"{server.url}/_sandbox/clock", json={"offset": "soon"}, timeout=5)
        assert bad.status_code == 400


def test_vendor_clock_ignores_a_missing_or_malformed_date() -> None:
    """Before any valid Date the machine's clock stands in."""
    clock = VendorClock()
    clock.observe_header(None)
    clock.observe_header("yesterday")
    assert not clock.known
    assert abs(clock.now().timestamp() - time.time()) < 1
