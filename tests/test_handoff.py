"""The parent-to-child hand-off (``taps.common.handoff``), over real HTTP against the Kore.ai sandbox."""

from __future__ import annotations

import contextlib
import io

from sandboxes.base import SandboxServer
from sandboxes.kore_agentai import KoreAgentAISandbox
from taps.common.handoff import Handoff
from taps.kore_agentai.tap import TapKoreAgentAI
from tests.helpers import parse_singer


def test_payload_is_held_only_while_its_record_is_emitted() -> None:
    handoff = Handoff()
    with handoff.handing("parent", {"id": 1}, ["payload"]):
        assert handoff.get("parent", {"id": 1}) == ["payload"]
        assert handoff.has("parent", {"id": 1})
        assert not handoff.has("parent", {"id": 2})
        assert not handoff.has("other", {"id": 1})
    assert len(handoff) == 0
    with handoff.handing("parent", {"id": 1}, None):
        assert not handoff.has("parent", {"id": 1})


def test_children_of_records_a_stream_map_filters_out_are_not_emitted_and_nothing_is_left_held() -> None:
    app = KoreAgentAISandbox()
    with SandboxServer(app) as server:
        config = {**app.demo_config(server.url), "retry_base_seconds": 0.01,
                  "stream_maps": {"conversations": {"__filter__": "'1' in _id[-1:]"}}}
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            tap = TapKoreAgentAI(config=config)
            tap.sync_all()
    run = parse_singer(buffer.getvalue())
    kept = {r["_id"] for r in run.records["conversations"]}
    assert kept, "the filter keeps some conversations"
    assert all(i.endswith("1") for i in kept)
    parents = {m["conversation_record_id"] for m in run.records["conversation_messages"]}
    assert parents
    assert parents <= kept
    assert len(tap.handoff) == 0
    # the payload (messages) never went into a context: the messages stream's state holds no message
    assert "components" not in str(run.final_state)
