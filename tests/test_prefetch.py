"""``prefetch_next_page`` (``taps.common.prefetch``): Salesloft listings with the next page fetched ahead
make the requests, records and STATE of singer-sdk's serial paging loop, against the sandbox over real HTTP.

The default sandbox has ties straddling page boundaries and a tie group larger
than a page (the keyset paginator's awkward cases), so the next request's
``updated_at[gte]``, ``page`` and skipped ids all come from the page before.
"""

from __future__ import annotations

import typing as t

import pytest

from sandboxes.base import SandboxServer
from sandboxes.salesloft import SalesloftSandbox
from taps.salesloft.streams import UpdatedAtStream
from taps.salesloft.tap import TapSalesloft
from tests.helpers import TapRun, catalog_for, run_tap

LISTINGS = {"conversations": True, "transcriptions": True, "conversation_extensive": False,
            "transcription_sentences": False, "transcription_artifacts": False}


def _run(app: SalesloftSandbox, config: dict, catalog: dict, state: dict | None = None) -> tuple[TapRun, list]:
    with app.lock:
        app.requests.clear()
    run = run_tap(TapSalesloft, config, state=state, catalog=catalog)
    with app.lock:
        asked = [(r.path, sorted(r.query.items())) for r in app.requests]
    return run, asked


def test_prefetched_listing_makes_the_serial_requests_records_and_state(monkeypatch: pytest.MonkeyPatch) -> None:
    app = SalesloftSandbox(budget=1_000_000)
    with SandboxServer(app) as server:
        config = {**app.demo_config(server.url), "retry_base_seconds": 0.01, "rate_limit_reserve": 0}
        catalog = catalog_for(TapSalesloft, config, select=LISTINGS)
        assert UpdatedAtStream.prefetch_next_page
        ahead, ahead_asked = _run(app, config, catalog)
        rerun_ahead, rerun_ahead_asked = _run(app, config, catalog, state=ahead.final_state)
        monkeypatch.setattr(UpdatedAtStream, "prefetch_next_page", False)
        serial, serial_asked = _run(app, config, catalog)
        rerun_serial, rerun_serial_asked = _run(app, config, catalog, state=serial.final_state)
    assert len(ahead.records["conversations"]) > 300  # several pages
    assert ahead_asked == serial_asked
    assert dict(ahead.records) == dict(serial.records)
    assert _states(ahead.states) == _states(serial.states)
    assert rerun_ahead_asked == rerun_serial_asked
    assert dict(rerun_ahead.records) == dict(rerun_serial.records)
    assert _states(rerun_ahead.states) == _states(rerun_serial.states)


def _states(states: list[dict]) -> list[t.Any]:
    """The STATE values without ``replication_key_signpost`` (singer-sdk's clock at the run's start)."""
    return [_drop_signposts(s) for s in states]


def _drop_signposts(value: t.Any) -> t.Any:
    if isinstance(value, dict):
        return {k: _drop_signposts(v) for k, v in value.items() if k != "replication_key_signpost"}
    if isinstance(value, list):
        return [_drop_signposts(v) for v in value]
    return value
