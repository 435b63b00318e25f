"""``clock_margin_seconds`` (shared setting, default 60) is honoured against the sandbox's clock.

The sandbox's clock is moved ten minutes behind the machine's (the tap is not
patched). Zoom ends its last window at Zoom's now minus the margin: with a
margin of one hour a conversation Zoom recorded 30 minutes ago is not read yet
and no bookmark passes Zoom's now minus one hour; the next run with the default
margin gets it (Kore.ai and Knovvu read the same ``VendorClock.safe_today``).
"""

from __future__ import annotations

import json
import typing as t
from datetime import timedelta
from pathlib import Path

from taps.common.timestamps import parse_timestamp
from tests.conformance.kit import KITS
from tests.helpers import TapRun, run_tap

if t.TYPE_CHECKING:
    from sandboxes.zoom_aic import ZoomAICSandbox

HOUR = 3600


def _zoom_conversation_ids(run: TapRun) -> set[str]:
    found: set[str] = set()
    for record in run.records.get("conversation_histories", []):
        content = json.loads(Path(str(record["storage_uri"]).removeprefix("file://")).read_text())
        found.update(c["conversation_id"] for c in content.get("conversations", []))
    return found


def test_zoom_clock_margin_holds_the_bookmark_back(tmp_path: Path) -> None:
    from sandboxes.zoom_aic import Conversation

    kit = KITS["zoom_aic"]
    tap_class = kit.load_class()
    with kit.serve() as server:
        app = t.cast("ZoomAICSandbox", server.app)
        app.clock.set_offset(-600)
        user_id = next(u["id"] for u in app.users if u["id"] in app.conversations)
        recent = app.clock.now().replace(microsecond=0) - timedelta(minutes=30)
        app.conversations[user_id].append(Conversation("margin-recent", recent, "prompt", "answer"))
        config = {**kit.config(app, server.url, tmp_path), "clock_margin_seconds": HOUR}
        first = run_tap(tap_class, config)
        vendor_now = app.clock.now()
        bookmarks = [parse_timestamp(p["replication_key_value"])
                     for p in first.final_state["bookmarks"]["conversation_archives"]["partitions"]
                     if p.get("replication_key_value")]
        asked_to = [parse_timestamp(r.arg("to") or "") for r in app.requests_to(kit.endpoints["archive"])]
        second = run_tap(tap_class, {**config, "clock_margin_seconds": 60}, state=first.final_state)
    assert bookmarks and asked_to
    assert max(bookmarks) <= vendor_now - timedelta(seconds=HOUR), (max(bookmarks), vendor_now)
    assert max(asked_to) <= vendor_now - timedelta(seconds=HOUR), (max(asked_to), vendor_now)
    assert "margin-recent" not in _zoom_conversation_ids(first)
    assert "margin-recent" in _zoom_conversation_ids(second)
