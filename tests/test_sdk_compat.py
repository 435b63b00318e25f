"""The private singer-sdk names ``taps.common.sdk_compat`` wraps exist on the installed SDK and still move state.

A minimal singer-sdk tap (no vendor code) runs in-process; its Singer output is read back.
"""

from __future__ import annotations

import contextlib
import copy
import io
import re
import typing as t
from datetime import datetime
from importlib.metadata import requires, version

import pytest
import requests
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from singer_sdk import RESTStream, Stream, Tap
from singer_sdk import typing as th

from taps.common.sdk_compat import (
    SDK_RANGE,
    BookmarkHook,
    before_sync,
    sdk_increment_state,
    set_requests_session,
    tap_of,
    write_state_now,
)
from tests.helpers import REPO, parse_singer

ROWS = [{"id": 1, "ts": "2026-01-01T00:00:00+00:00"}, {"id": 2, "ts": "2026-01-02T00:00:00+00:00"},
        {"id": 3, "ts": "2026-01-03T00:00:00+00:00"}]


class Rows(BookmarkHook):
    """Three sorted rows; bookmark kept off for ``id`` 3 (through ``bookmark_record``), STATE written after row 1."""

    name = "rows"
    primary_keys = ("id",)
    replication_key = "ts"
    is_sorted = True
    schema = th.PropertiesList(th.Property("id", th.IntegerType), th.Property("ts", th.DateTimeType)).to_dict()

    def get_records(self, context: t.Any) -> t.Iterable[dict]:
        for row in ROWS:
            yield row
            if row["id"] == 1:
                write_state_now(self)

    def bookmark_record(self, latest_record: dict, *, context: t.Any = None) -> None:
        if latest_record["id"] != 3:
            super().bookmark_record(latest_record, context=context)


class MiniTap(Tap):
    """A tap with the one stream."""

    name = "tap-mini"
    config_jsonschema = th.PropertiesList().to_dict()

    def discover_streams(self) -> list[Stream]:
        return [Rows(self)]


def _sync() -> list[dict]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        MiniTap(config={}).sync_all()
    return parse_singer(buffer.getvalue()).states


def _bookmark(state: dict) -> t.Any:
    return state.get("bookmarks", {}).get("rows", {}).get("replication_key_value")


def test_installed_sdk_is_in_the_checked_range_and_pyproject_pins_it() -> None:
    assert version("singer-sdk") in SpecifierSet(SDK_RANGE)
    pins = [r for r in map(Requirement, requires("conversation-archive-taps") or [])
            if r.name == "singer-sdk" and r.marker is None]
    assert pins, "singer-sdk is a runtime dependency"
    assert all(p.specifier == SpecifierSet(SDK_RANGE) for p in pins)


PRIVATE_SDK_NAMES = re.compile(r"\b(_tap|_requests_session|_write_state_message|_increment_stream_state|"
                               r"_generate_record_messages|_tap_state|_state_manager|_write_starting_replication_value)\b")


def test_private_sdk_names_appear_only_in_sdk_compat() -> None:
    """ruff's SLF001 catches ``stream._tap`` but not ``getattr(stream, "_tap")``: no runtime module
    but ``sdk_compat`` names a private singer-sdk attribute at all."""
    offenders = [f"{path.relative_to(REPO)}:{number}" for path in sorted((REPO / "taps").rglob("*.py"))
                 if path.name != "sdk_compat.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1) if PRIVATE_SDK_NAMES.search(line)]
    assert not offenders


def test_private_names_exist_on_the_installed_sdk() -> None:
    for owner, name in ((Stream, "_increment_stream_state"), (Stream, "_write_state_message"),
                        (Stream, "_generate_record_messages"), (Stream, "_write_starting_replication_value")):
        assert callable(getattr(owner, name, None)), f"singer-sdk has no {owner.__name__}.{name}"
    tap = MiniTap(config={})
    stream = tap.streams["rows"]
    assert tap_of(stream) is tap
    assert hasattr(stream.state_manager, "is_flushed")
    assert hasattr(stream, "_tap_state")
    assert hasattr(stream.state_manager, "_logger")
    assert hasattr(_Rest(tap), "_requests_session")


def test_bookmark_hook_and_write_state_now_move_state() -> None:
    states = _sync()
    # STATE mid-partition, right after row 1 (write_state_now), already at row 1's ts
    assert _bookmark(states[0]) == ROWS[0]["ts"]
    # row 2 moved it (singer-sdk's step via bookmark_record), row 3 did not (our override said no)
    assert _bookmark(states[-1]) == ROWS[1]["ts"]


def test_sdk_increment_state_moves_the_bookmark_and_write_state_now_writes_it() -> None:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        stream = MiniTap(config={}).streams["rows"]
        sdk_increment_state(stream, ROWS[0])
        write_state_now(stream)
        write_state_now(stream)  # unchanged: singer-sdk's writer drops the repeat
        sdk_increment_state(stream, ROWS[2])
        write_state_now(stream)
    states = parse_singer(buffer.getvalue()).states
    assert [_bookmark(s) for s in states] == [ROWS[0]["ts"], ROWS[2]["ts"]]


class _Rest(RESTStream):
    name = "rest"
    url_base = "http://127.0.0.1:1"
    path = "/"
    schema = th.PropertiesList(th.Property("id", th.IntegerType)).to_dict()


def test_set_requests_session_replaces_the_sdk_session() -> None:
    stream = _Rest(MiniTap(config={}))
    session = requests.Session()
    assert stream.requests_session is not session
    set_requests_session(stream, session)
    assert stream.requests_session is session


class Parts(Stream):
    """Two partitions, bookmarked on ``ts``."""

    name = "parts"
    replication_key = "ts"
    partitions: t.ClassVar[list[dict]] = [{"p": 1}, {"p": 2}]
    schema = th.PropertiesList(th.Property("p", th.IntegerType), th.Property("ts", th.DateTimeType)).to_dict()

    def get_records(self, context: t.Any) -> t.Iterable[dict]:
        return []


class PartsTap(Tap):
    """A tap with ``Parts`` and a ``start_date``."""

    name = "tap-parts"
    config_jsonschema = th.PropertiesList(th.Property("start_date", th.DateTimeType)).to_dict()

    def discover_streams(self) -> list[Stream]:
        return [Parts(self)]


@pytest.mark.parametrize(("start_date", "first", "second"), [
    ("2026-01-01T00:00:00+00:00", "2026-01-02T00:00:00+00:00", "2026-01-01T00:00:00+00:00"),
    ("2026-01-03T00:00:00+00:00", "2026-01-03T00:00:00+00:00", "2026-01-03T00:00:00+00:00"),  # start_date later
])
def test_before_sync_gives_singer_sdks_starting_timestamp_without_creating_state(start_date, first, second) -> None:
    saved = {"bookmarks": {"parts": {"partitions": [
        {"context": {"p": 1}, "replication_key": "ts", "replication_key_value": "2026-01-02T00:00:00+00:00"}]}}}
    tap = PartsTap(config={"start_date": start_date}, state=copy.deepcopy(saved))
    stream = tap.streams["parts"]
    views = {p: before_sync(stream, {"p": p}) for p in (1, 2)}
    assert stream.tap_state == saved  # no entry for partition 2, no starting value written
    assert views[1].get_starting_timestamp({"p": 1}) == datetime.fromisoformat(first)
    assert views[2].get_starting_timestamp({"p": 2}) == datetime.fromisoformat(second)
    # what singer-sdk itself answers once each partition's sync has begun
    for p, view in views.items():
        stream._write_starting_replication_value({"p": p})
        assert stream.get_starting_timestamp({"p": p}) == view.get_starting_timestamp({"p": p})
