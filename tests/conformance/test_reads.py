"""Every tap against its sandbox: records valid against their schemas, second read only the lookback."""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest

from tests.conformance.kit import KITS, assert_records_match_schemas, pk_merged
from tests.helpers import run_tap

if t.TYPE_CHECKING:
    from sandboxes.salesloft import SalesloftSandbox


@pytest.mark.parametrize("kit_name", sorted(KITS))
def test_every_record_matches_its_schema_and_a_second_read_adds_nothing_new(kit_name: str, tmp_path: Path) -> None:
    """Defect 7 (strict schema validation of every emitted record) and two sequential reads."""
    kit = KITS[kit_name]
    tap_class = kit.load_class()
    with kit.serve() as server:
        config = kit.config(server.app, server.url, tmp_path)
        first = run_tap(tap_class, config)
        assert sum(len(r) for r in first.records.values()) > 0
        assert assert_records_match_schemas(first) > 0
        second = run_tap(tap_class, config, state=first.final_state)
    assert_records_match_schemas(second)
    merged_first = pk_merged(first)
    for stream, keys in pk_merged(second).items():
        assert keys <= merged_first.get(stream, set()), f"{stream}: the second read found keys the first missed"
    assert sum(len(r) for r in second.records.values()) <= sum(len(r) for r in first.records.values())


def test_undocumented_inner_shapes_accept_any_json(tmp_path: Path) -> None:
    """Salesloft does not document the items of action_items, key_moments, attendees ...: strings, numbers
    or objects there must all pass the declared schema (defect 7)."""
    kit = KITS["salesloft"]
    with kit.serve() as server:
        app = t.cast("SalesloftSandbox", server.app)
        for n, view in enumerate(app.extensive.values()):
            shapes = ["Send the quote", 42, {"id": "1", "text": "Call back"}, ["nested"], None]
            view["action_items"] = {"status": "completed", "items": [shapes[n % 5], shapes[(n + 1) % 5]]}
            view["key_moments"] = {"items": [shapes[(n + 2) % 5]]}
            view["attendees"] = [shapes[(n + 3) % 5]]
        run = run_tap(kit.load_class(), kit.config(app, server.url, tmp_path))
    assert run.records["conversation_extensive"]
    assert_records_match_schemas(run)
