"""Defect 2: the vendor's clock ahead of or behind the machine's loses nothing.

The sandbox's clock is moved (``app.clock``, ``sandboxes.clock``); the tap is not
patched and reads the machine's real clock. Between two runs new data appears
at the vendor's now while its clock moves on ten minutes; the second run,
resuming from the first one's last STATE, must get all of it: the union of
both runs equals what the vendor holds (Zoom: every conversation in the
stored history files; others: every key at its latest replication value).
"""

from __future__ import annotations

import json
import typing as t
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sandboxes.base import SandboxServer
from taps.common.clock import DEFAULT_MARGIN
from tests.conformance.kit import KITS
from tests.helpers import TapRun, run_tap

SKEW = 600  # seconds: the vendor ten minutes ahead of (+) or behind (-) the machine


def _zoom_new(app: t.Any, n: int) -> None:
    from sandboxes.zoom_aic import Conversation

    user_id = next(u["id"] for u in app.users if u["id"] in app.conversations)
    app.conversations[user_id].append(
        Conversation(f"skew-{n}", app.clock.now().replace(microsecond=0), "late prompt", "late answer"))


def _kore_new(app: t.Any, n: int) -> None:
    app.add_conversation(app.clock.now(), messages=2)


def _salesloft_new(app: t.Any, n: int) -> None:
    ids = sorted(app.conversations)
    app.touch([ids[n % len(ids)]], when=app.clock.now())


def _foundry_new(app: t.Any, n: int) -> None:
    agent = sorted(app.sessions)[n % len(app.sessions)]
    app.add_sessions(agent, 1)


NEW_DATA: dict[str, t.Callable[[t.Any, int], None]] = {
    "zoom_aic": _zoom_new, "kore_agentai": _kore_new, "salesloft": _salesloft_new, "foundry_aip": _foundry_new,
}


def _zoom_conversations(runs: list[TapRun]) -> set[str]:
    """Conversation ids in every history file the runs stored."""
    found: set[str] = set()
    for run in runs:
        for record in run.records.get("conversation_histories", []):
            content = record.get("content")
            if not isinstance(content, dict):
                content = json.loads(Path(str(record["storage_uri"]).removeprefix("file://")).read_text())
            found.update(c["conversation_id"] for c in content.get("conversations", []))
    return found


def _latest(runs: list[TapRun], tap_class: type, config: dict) -> dict[str, dict[tuple, t.Any]]:
    """Stream -> key -> the latest replication value seen (what a PK-merged warehouse holds)."""
    tap = tap_class(config=config, validate_config=False)
    out: dict[str, dict[tuple, t.Any]] = {}
    for run in runs:
        for stream, records in run.records.items():
            keys = run.schemas[stream]["key_properties"]
            rep = tap.streams[stream].replication_key
            table = out.setdefault(stream, {})
            for record in records:
                key = tuple(repr(record.get(k)) for k in keys)
                value = record.get(rep) if rep else None
                if key not in table or (value is not None and str(value) > str(table[key])):
                    table[key] = value
    return out


@pytest.mark.parametrize("skew", [SKEW, -SKEW], ids=["vendor-ahead", "vendor-behind"])
@pytest.mark.parametrize("kit_name", sorted(NEW_DATA))
def test_clock_skew_loses_nothing(kit_name: str, skew: int, tmp_path: Path) -> None:
    kit = KITS[kit_name]
    tap_class = kit.load_class()
    with kit.serve() as server:
        app = server.app
        app.clock.set_offset(skew)
        config = kit.config(app, server.url, tmp_path)
        first = run_tap(tap_class, config)
        for n in range(5):  # ten minutes of new activity at the vendor's own now
            app.clock.shift(120)
            NEW_DATA[kit_name](app, n)
        app.clock.shift(DEFAULT_MARGIN.total_seconds() + 5)
        second = run_tap(tap_class, config, state=first.final_state)
        clean = run_tap(tap_class, {**config, "storage_url": str(tmp_path / "clean")} if "storage_url" in config
                        else config)
        if kit_name == "zoom_aic":
            held = _zoom_conversations([clean])
            got = _zoom_conversations([first, second])
            assert {f"skew-{n}" for n in range(5)} <= held, sorted(held)
            assert held - got == set(), f"lost: {sorted(held - got)}"
            return
    assert _latest([first, second], tap_class, config) == _latest([clean], tap_class, config)


def test_knovvu_asks_only_for_days_the_vendor_has_closed(tmp_path: Path) -> None:
    """The machine just past midnight, Knovvu five minutes before it: the tap asks for Knovvu's
    yesterday at most (Knovvu refuses its own today), so the run completes with every retained day."""
    from sandboxes.knovvu import KnovvuSandbox

    machine = datetime.now(timezone.utc)
    vendor_now = machine.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(minutes=5)
    app = KnovvuSandbox(retention_days=2, downloads_per_hour=10_000, today=vendor_now.date())
    app.clock.set_offset((vendor_now - machine).total_seconds())
    kit = KITS["knovvu"]
    with SandboxServer(app) as server:
        run = run_tap(kit.load_class(), kit.config(app, server.url, tmp_path))
    asked = {r.path.rsplit("/", 1)[-1] for r in app.requests_to(r"daily-audio-recordings")}
    assert max(asked) == (vendor_now.date() - timedelta(days=1)).isoformat(), sorted(asked)  # never Knovvu's today
    assert {r["date"] for r in run.records["daily_recording_manifests"]} == set(app.retained_days())


def test_zoom_window_refusal_names_the_window_not_a_page_token(tmp_path: Path) -> None:
    """Zoom's 400 code 300 on an archive window is about from/to (and the clocks), not an expired page token."""
    kit = KITS["zoom_aic"]
    with kit.serve() as server:
        server.app.faults.add("status", path=kit.endpoints["archive"], status=400, body={
            "code": 300, "message": "The date range must be within 30 days and from must not be after to."})
        run = run_tap(kit.load_class(), kit.config(server.app, server.url, tmp_path), expect_error=True)
    message = str(run.error)
    assert "from/to window" in message and "Date" in message, message
    assert "next_page_token" not in message, message
