"""``max_concurrency``: the same records, in the same order, and the same state as a serial run.

Each tap runs twice against one sandbox, serially (``max_concurrency: 1``)
and with 8 workers, and the two outputs are compared message by message:
every stream's records in emission order (``downloaded_at`` aside, a wall
clock), every STATE value, and the stored files. A sandbox latency makes the
workers overlap for real. (singer-sdk's ``replication_key_signpost``, the
run's start time, is the one state value left out.)
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

import pytest

from sandboxes.base import SandboxServer
from sandboxes.foundry_aip import FoundryAIPSandbox
from sandboxes.salesloft import SalesloftSandbox
from sandboxes.zoom_aic import ZoomAICSandbox
from taps.foundry_aip.tap import TapFoundryAIP
from taps.salesloft.tap import TapSalesloft
from taps.zoom_aic.tap import TapZoomAIC
from tests.helpers import TapRun, run_tap

LATENCY_SECONDS = 0.005


def comparable(run: TapRun, storage_root: str | None) -> dict[str, t.Any]:
    """Records (in order) and STATE values, with wall-clock and folder-specific values normalised."""
    records = {}
    for stream, rows in run.records.items():
        out = []
        for original in rows:
            row = {k: v for k, v in original.items() if k != "downloaded_at"}
            if storage_root and isinstance(row.get("storage_uri"), str):
                row["storage_uri"] = row["storage_uri"].replace(storage_root, "<storage>")
            out.append(row)
        records[stream] = out
    return {"records": records, "states": [without_signposts(state) for state in run.states]}


def without_signposts(value: t.Any) -> t.Any:
    """``value`` without ``replication_key_signpost`` entries (singer-sdk sets them to the run's start time)."""
    if isinstance(value, dict):
        return {k: without_signposts(v) for k, v in value.items() if k != "replication_key_signpost"}
    if isinstance(value, list):
        return [without_signposts(v) for v in value]
    return value


def run_both(tap_class: type, app: t.Any, config_for: t.Callable[[str, int], dict], tmp_path) -> tuple[dict, dict]:
    """Serial and 8-worker runs of ``tap_class`` against ``app``: their comparable outputs."""
    app.latency_seconds = LATENCY_SECONDS
    outputs = []
    for workers in (1, 8):
        storage = str(tmp_path / f"storage-{workers}")
        run = run_tap(tap_class, config_for(storage, workers))
        outputs.append(comparable(run, storage))
    return outputs[0], outputs[1]


def test_foundry_concurrent_equals_serial(tmp_path) -> None:
    app = FoundryAIPSandbox()
    with SandboxServer(app) as server:
        serial, concurrent = run_both(
            TapFoundryAIP, app, lambda _s, n: {**app.demo_config(server.url), "max_concurrency": n}, tmp_path)
    assert len(serial["records"]["session_exchanges"]) == sum(len(v) for v in app.contents.values())
    assert concurrent == serial


def test_salesloft_concurrent_equals_serial(tmp_path) -> None:
    app = SalesloftSandbox(conversations=150, budget=10**9)
    with SandboxServer(app) as server:
        serial, concurrent = run_both(
            TapSalesloft, app, lambda _s, n: {**app.demo_config(server.url), "max_concurrency": n}, tmp_path)
    assert len(serial["records"]["conversation_extensive"]) == len(app.conversations)
    assert concurrent == serial


@pytest.mark.parametrize("user_count", [12])
def test_zoom_concurrent_equals_serial(tmp_path, user_count: int) -> None:
    app = ZoomAICSandbox(user_count=user_count)
    # one end for both runs' last window, older than Zoom's now minus the clock margin (the tap clamps an
    # end_date to that moment, which moves between the two runs)
    end = (datetime.now(timezone.utc) - timedelta(minutes=10)).replace(microsecond=0).isoformat()
    with SandboxServer(app) as server:
        serial, concurrent = run_both(
            TapZoomAIC, app,
            lambda storage, n: {**app.demo_config(server.url), "storage_url": storage, "end_date": end,
                                "max_concurrency": n},
            tmp_path)
    assert serial["records"]["conversation_archives"]
    assert serial["records"]["archive_attachments"]
    assert concurrent == serial
    for name in ("storage-1", "storage-8"):
        assert not list((tmp_path / name).rglob("*.part-*"))  # every file renamed into place
    files = sorted(p.relative_to(tmp_path / "storage-1") for p in (tmp_path / "storage-1").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "storage-8") for p in (tmp_path / "storage-8").rglob("*")
                           if p.is_file())
