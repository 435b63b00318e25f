"""``LeanRecords`` (``taps.common.sdk_compat``) writes the RECORD messages singer-sdk's own path writes.

The fast path skips singer-sdk's removal of deselected properties and its
ROOT_ONLY type conformance when they would change nothing. Two checks that it
changes nothing:

* every tap against its sandbox (the conformance kit's small data, real HTTP):
  the records of a run with the fast path equal those of a run with
  ``LeanRecords.SDK_RECORD_PATH = True`` (singer-sdk's ``_generate_record_messages``),
  field for field but ``downloaded_at`` (the wall clock of the download);
* a minimal singer-sdk stream whose records carry what singer-sdk does change
  (an int under a boolean-only schema, NaN, a datetime, an undeclared key, a
  deselected property): the same records on both paths, and what singer-sdk
  makes of them.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import typing as t
from datetime import datetime, timezone
from pathlib import Path

import pytest
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel

from taps.common.sdk_compat import LeanRecords
from tests.conformance.kit import KITS
from tests.helpers import parse_singer, run_tap

if t.TYPE_CHECKING:
    from singer_sdk.singerlib import SelectionMask


@pytest.mark.parametrize("kit_name", sorted(KITS))
def test_every_tap_writes_the_records_singer_sdk_would(kit_name: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    kit = KITS[kit_name]
    tap_class = kit.load_class()
    with kit.serve() as server:
        config = kit.config(server.app, server.url, tmp_path)
        lean = run_tap(tap_class, config)
        monkeypatch.setattr(LeanRecords, "SDK_RECORD_PATH", True)
        sdk = run_tap(tap_class, config)
    assert sum(len(r) for r in lean.records.values()) > 0
    assert _without_clock(lean.records) == _without_clock(sdk.records)


#: record fields that are this run's wall clock (when a file was fetched), not vendor data.
RUN_CLOCK_FIELDS = ("downloaded_at",)


def _without_clock(records: t.Mapping[str, list[dict]]) -> dict[str, list[dict]]:
    return {stream: [{k: v for k, v in r.items() if k not in RUN_CLOCK_FIELDS} for r in rows]
            for stream, rows in records.items()}


WHEN = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
ROWS: list[dict[str, t.Any]] = [
    {"id": 1, "ok": True, "score": 1.5, "meta": {"a": [1]}, "secret": "s1"},     # as is
    {"id": 2, "ok": 1, "score": 2.0, "meta": None, "secret": "s2"},               # int under boolean-only
    {"id": 3, "ok": None, "score": math.nan, "meta": {}, "secret": "s3"},         # NaN -> null
    {"id": 4, "ok": False, "score": 0.0, "at": WHEN, "secret": "s4"},             # datetime -> ISO text
    {"id": 5, "ok": False, "score": 1.0, "undeclared": "x", "secret": "s5"},      # dropped, warned
]


class Rows(LeanRecords):
    """Fixed rows at ROOT_ONLY, like the vendor streams."""

    name = "rows"
    primary_keys = ("id",)
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY
    schema = th.PropertiesList(
        th.Property("id", th.IntegerType), th.Property("ok", th.BooleanType), th.Property("score", th.NumberType),
        th.Property("meta", th.ObjectType(th.Property("a", th.ArrayType(th.IntegerType)))),
        th.Property("at", th.DateTimeType), th.Property("secret", th.StringType),
    ).to_dict()

    def get_records(self, context: t.Any) -> t.Iterable[dict]:
        for row in ROWS:
            yield dict(row)


class MiniTap(Tap):
    """A tap with the one stream."""

    name = "tap-lean-mini"
    config_jsonschema = th.PropertiesList().to_dict()

    def discover_streams(self) -> list[Stream]:
        return [Rows(self)]


def _records(catalog: dict | None) -> list[dict]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        MiniTap(config={}, catalog=catalog).sync_all()
    return parse_singer(buffer.getvalue()).records["rows"]


def _catalog(*, deselect: str | None) -> dict:
    catalog = json.loads(json.dumps(MiniTap(config={}, validate_config=False).catalog_dict))
    for meta in catalog["streams"][0]["metadata"]:
        meta["metadata"]["selected"] = meta["breadcrumb"] != ["properties", deselect]
    return catalog


@pytest.mark.parametrize("deselect", [None, "secret"])
def test_values_singer_sdk_changes_come_out_as_singer_sdk_makes_them(deselect: str | None,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = _catalog(deselect=deselect)
    lean = _records(catalog)
    monkeypatch.setattr(LeanRecords, "SDK_RECORD_PATH", True)
    sdk = _records(catalog)
    assert lean == sdk
    assert [r["ok"] for r in lean] == [True, True, None, False, False]
    assert lean[2]["score"] is None
    assert str(lean[3]["at"]).startswith("2026-01-02T03:04:05")
    assert "undeclared" not in lean[4]
    assert lean[0]["meta"] == {"a": [1]}
    assert all(("secret" in r) == (deselect is None) for r in lean)


#: root values of every kind ``RecordPlan.conformed_as_is`` tells apart, under each kind of property schema.
VALUES: list[t.Any] = [None, True, False, 0, 7, -1, 1.5, 0.0, math.nan, math.inf, -math.inf, "", "x", [], [1, "a"],
                       {}, {"a": None}, WHEN, b"bytes", (1, 2)]


@pytest.mark.parametrize("additional", [False, True])
def test_conformed_as_is_says_yes_only_when_singer_sdk_changes_nothing(additional: bool) -> None:
    """Both of ``conformed_as_is``'s checks (declared keys only: one pass over the values; a schema keeping
    undeclared keys: key by key) against singer-sdk's ROOT_ONLY conformance itself, every value under a
    boolean-only, a number, a string and an any-JSON property and an undeclared key, alone and in pairs:
    a yes is always a record singer-sdk returns unchanged, and every plain JSON value that singer-sdk keeps
    gets a yes (NaN, infinities, a datetime, bytes, a tuple, a non-bool under boolean-only, an undeclared
    key it drops: no, and singer-sdk conforms them)."""
    import logging

    from singer_sdk.helpers._typing import conform_record_data_types  # the slow path the fast one stands for

    from taps.common.sdk_compat import RecordPlan

    schema = th.PropertiesList(
        th.Property("ok", th.BooleanType), th.Property("score", th.NumberType), th.Property("name", th.StringType),
        th.Property("blob", th.ObjectType()),
    ).to_dict()
    schema["additionalProperties"] = additional
    plan = RecordPlan.of(schema, t.cast("SelectionMask", {(): True}))
    keys = ["ok", "score", "name", "blob", "undeclared"]
    records = [{key: value} for key in keys for value in VALUES]
    records += [{"ok": a, "score": b} for a in VALUES for b in VALUES]
    records += [{"name": "x", "undeclared": v} for v in VALUES] + [{}]
    quiet = logging.getLogger("test-conformed-as-is")
    quiet.disabled = True
    yes = 0
    for record in records:
        conformed = conform_record_data_types("rows", dict(record), schema, TypeConformanceLevel.ROOT_ONLY, quiet)
        unchanged = list(conformed) == list(record) and all(
            type(conformed[k]) is type(v) and (conformed[k] is v or conformed[k] == v) for k, v in record.items())
        plain = all(_plain_json(k, v, additional=additional) for k, v in record.items())
        assert plan.conformed_as_is(record) == (unchanged and plain), record
        yes += plan.conformed_as_is(record)
    assert 0 < yes < len(records)


def _plain_json(key: str, value: t.Any, *, additional: bool) -> bool:
    """A value ``conformed_as_is`` must pass: JSON-typed (finite floats), a bool or null under boolean-only,
    under a declared key, or any value under an undeclared one the schema keeps."""
    if key == "undeclared":
        return additional
    if key == "ok":
        return value is None or type(value) is bool
    if type(value) is float:
        return math.isfinite(value)
    return type(value) in (str, int, bool, list, dict, type(None))
