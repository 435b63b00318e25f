"""Every use of a private singer-sdk name, in one place.

Why: singer-sdk gives no public way to do three things these taps need.

* **Write STATE now** (``write_state_now``): singer-sdk writes STATE every
  ``STATE_MSG_FREQUENCY`` records and at the end of a partition. Kore.ai
  checkpoints after each date window and Knovvu after each hour, so a run cut
  short resumes where it was; that needs ``Stream._write_state_message`` with
  ``state_manager.is_flushed`` reset.
* **Decide per record whether the bookmark moves** (``BookmarkHook``):
  singer-sdk advances the bookmark in ``Stream._increment_stream_state``,
  called for every emitted record. ``VendorRESTStream`` keeps re-read records
  (inside the lookback) from pulling it back, Kore.ai moves it only per
  finished window, Zoom bookmarks empty windows. ``BookmarkHook`` overrides the
  private hook once and hands over to the public ``bookmark_record``.
* **Emit a RECORD without re-walking JSON that is already conformed**
  (``LeanRecords``): singer-sdk's ``Stream._generate_record_messages`` walks
  every record twice, once to drop deselected properties and once to conform
  types, a third of a Salesloft run's CPU. ``LeanRecords`` skips each walk
  exactly when singer-sdk's own would change nothing and runs singer-sdk's
  otherwise.
* **Build and send a page request outside singer-sdk's loop** (``prepare_page_request``,
  ``send_request``): ``taps.common.prefetch`` requests a listing's next page
  while the current page is emitted, with singer-sdk's own request building
  (``RESTStream._prepare_request``) and sending (``RESTStream._request`` under
  ``request_decorator``: retries, the rate gate).
* **Read a partition's starting state before its sync** (``before_sync``): singer-sdk
  writes a partition's starting value into the tap's state (``Stream._write_starting_replication_value``)
  only when the partition's sync begins; Foundry lists the next agent ahead, which needs its floor
  then without creating its state entry early (a copy's ``Stream._tap_state`` and ``_state_manager``).
* **Reach the tap from a stream** (``tap_of``) and **install our own HTTP
  session** (``set_requests_session``): ``Stream._tap`` and
  ``RESTStream._requests_session`` have no public accessor.

Checked against singer-sdk ``SDK_RANGE`` (0.54.5 to 0.54.9 installed when
written); pyproject pins the dependency to the same range. On an upgrade,
``tests/test_sdk_compat.py`` fails first if one of these names moved or
stopped moving state; fix it here, nowhere else.
"""

from __future__ import annotations

import copy
import logging
import math
import typing as t
from dataclasses import dataclass

import singer_sdk.singerlib as singer
from singer_sdk import Stream
from singer_sdk.helpers._catalog import pop_deselected_record_properties
from singer_sdk.helpers._typing import _is_exclusive_boolean_type, conform_record_data_types
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

if t.TYPE_CHECKING:
    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context, Record
    from singer_sdk.pagination import BaseAPIPaginator
    from singer_sdk.singerlib import SelectionMask
    from singer_sdk.streams import RESTStream

#: the singer-sdk versions this module was checked against (the pin in pyproject.toml).
SDK_RANGE = ">=0.54.5,<0.55"
#: where singer-sdk's "Starting incremental sync" line of a ``before_sync`` view goes: nowhere (the real sync logs it).
_VIEW_LOGGER = logging.getLogger(f"{__name__}.before_sync")
_VIEW_LOGGER.disabled = True
S = t.TypeVar("S", bound=Stream)


def write_state_now(stream: Stream) -> None:
    """Write the tap's current state as a STATE message now, not at singer-sdk's next checkpoint.

    singer-sdk's state writer still skips a state equal to the last one it wrote.
    Uses ``state_manager.is_flushed`` and ``Stream._write_state_message`` (private).
    """
    stream.state_manager.is_flushed = False
    stream._write_state_message()  # noqa: SLF001 - no public way to checkpoint mid-partition


def before_sync(stream: S, context: Context) -> S:
    """``stream`` as partition ``context`` will see its state once singer-sdk begins syncing it; state untouched.

    When a partition's sync begins, singer-sdk writes its starting value (the
    bookmark, or ``start_date`` when later or when there is no bookmark) into
    the tap's state, creating the partition's entry, and ``get_starting_timestamp``
    reads it back. This returns a shallow copy of ``stream`` whose state is a copy
    of the stream's saved state with singer-sdk's own step done on it, so its
    ``get_context_state`` and ``get_starting_timestamp`` (and what is computed
    from them) answer now as they will then, while the tap's state gets no entry
    for the partition before its sync (STATE messages stay those of a serial
    run). Call it on the thread that writes state. Uses ``Stream._tap_state``,
    ``Stream._state_manager``, ``StreamStateManager._logger`` and
    ``Stream._write_starting_replication_value``.
    """
    view = copy.copy(stream)
    saved = stream.tap_state.get("bookmarks", {}).get(stream.name)
    view._tap_state = {"bookmarks": {stream.name: copy.deepcopy(saved)}} if saved is not None else {}  # noqa: SLF001
    view._state_manager = None  # noqa: SLF001 - singer-sdk builds one over the copy
    view.state_manager._logger = _VIEW_LOGGER  # noqa: SLF001
    view._write_starting_replication_value(context)  # noqa: SLF001
    return view


def sdk_increment_state(stream: Stream, latest_record: Record, *, context: Context | None = None) -> None:
    """singer-sdk's own bookmark step for ``latest_record`` (``Stream._increment_stream_state``).

    Moves ``replication_key_value`` of ``context``'s state to the record's
    replication key value when the stream is incremental; raises singer-sdk's
    ``InvalidStreamSortException`` when a sorted stream goes backwards.
    """
    Stream._increment_stream_state(stream, latest_record, context=context)  # noqa: SLF001


def tap_of(stream: Stream) -> Tap:
    """The tap that owns ``stream`` (``Stream._tap``; singer-sdk has no public accessor).

    The only reader of ``Stream._tap``: ``VendorRESTStream.vendor_tap`` (the typed way a vendor
    stream reaches its tap's settings, authenticator, file store and budgets), the hand-off,
    fan-out and run summary in ``taps.common``, and Knovvu's streams (their ``KnovvuRun``).
    """
    return stream._tap  # noqa: SLF001


def set_requests_session(stream: RESTStream, session: requests.Session) -> None:
    """Make ``session`` the stream's ``requests_session`` (``RESTStream._requests_session``)."""
    stream._requests_session = session  # noqa: SLF001


def prepare_page_request(stream: RESTStream, context: Context | None,
                         paginator: BaseAPIPaginator[t.Any]) -> requests.PreparedRequest:
    """The request for ``paginator``'s current page, built as singer-sdk's ``request_records`` builds it."""
    return stream._prepare_request(context=context, page=paginator)  # noqa: SLF001


def send_request(stream: RESTStream) -> t.Callable[[requests.PreparedRequest, Context | None], requests.Response]:
    """singer-sdk's request sender with the stream's ``request_decorator`` (retries, gate), as
    ``request_records`` uses it: ``send(prepared, context) -> response`` (validated)."""
    return stream.request_decorator(stream._request)  # noqa: SLF001


class BookmarkHook(Stream):
    """A stream whose per-record bookmark step is the public ``bookmark_record``.

    singer-sdk calls the private ``_increment_stream_state`` after each emitted
    record; this class routes it to ``bookmark_record``, which subclasses
    override (and which code may call to bookmark without a record, e.g. an
    empty window). The default is singer-sdk's own step.
    """

    @override
    def _increment_stream_state(self, latest_record: Record, *, context: Context | None = None) -> None:
        """singer-sdk's private per-record hook: hands over to ``bookmark_record``."""
        self.bookmark_record(latest_record, context=context)

    def bookmark_record(self, latest_record: Record, *, context: Context | None = None) -> None:
        """Advance the bookmark of ``context``'s state past ``latest_record`` (singer-sdk's rule)."""
        sdk_increment_state(self, latest_record, context=context)


#: value types singer-sdk's ROOT_ONLY conformance returns unchanged for any property schema but an
#: exclusive boolean one (``_conform_primitive_property`` changes only date/time, bytes, non-finite
#: float/Decimal, and non-booleans under a boolean-only schema; lists and objects stay as they are).
_UNCHANGED_TYPES = frozenset((str, int, bool, list, dict, type(None)))


@dataclass(frozen=True)
class RecordPlan:
    """What a stream's records need before they are written, worked out once per stream and run.

    ``all_selected``: every entry of the selection mask is selected, so singer-sdk's
    ``pop_deselected_record_properties`` removes nothing (a missing breadcrumb
    inherits its parent's value, down to the selected stream).
    ``properties``: the root property names of the effective schema.
    ``boolean_only``: those whose schema is boolean(-or-null) only.
    ``additional``: the schema keeps undeclared root properties as they are.
    """

    all_selected: bool
    properties: frozenset[str]
    boolean_only: frozenset[str]
    additional: bool

    @classmethod
    def of(cls, schema: dict[str, t.Any], mask: SelectionMask) -> RecordPlan:
        """The plan for a stream with effective ``schema`` and selection ``mask``."""
        properties = schema.get("properties") or {}
        return cls(
            all_selected=all(mask.values()),
            properties=frozenset(properties),
            boolean_only=frozenset(k for k, v in properties.items() if _is_exclusive_boolean_type(v)),
            additional=bool(schema.get("additionalProperties")),
        )

    def conformed_as_is(self, record: t.Mapping[str, t.Any]) -> bool:
        """True when singer-sdk's ROOT_ONLY conformance would return ``record`` unchanged.

        Every root key is declared (or the schema allows undeclared ones) and every
        value is a string, int, bool, finite float, list, object or null, a boolean-only
        property holding a bool or null. Anything else (a datetime, bytes, NaN, an
        undeclared key to drop and warn about): False, and singer-sdk conforms it.
        """
        if self.additional:
            return self._conformed_as_is_keeping_undeclared(record)
        if not self.properties.issuperset(record):
            return False  # an undeclared key: singer-sdk drops it (and warns)
        if not _UNCHANGED_TYPES.issuperset(map(type, record.values())):  # one pass in C, the usual answer
            for value in record.values():
                kind = type(value)
                if kind not in _UNCHANGED_TYPES and not (kind is float and math.isfinite(value)):
                    return False
        for key in self.boolean_only:
            value = record.get(key)
            if value is not None and type(value) is not bool:
                return False
        return True

    def _conformed_as_is_keeping_undeclared(self, record: t.Mapping[str, t.Any]) -> bool:
        """``conformed_as_is`` for a schema keeping undeclared root properties (their values are not checked)."""
        properties, boolean_only = self.properties, self.boolean_only
        for key, value in record.items():
            if key not in properties:
                continue
            if key in boolean_only:
                if value is not None and type(value) is not bool:
                    return False
            elif type(value) is float:
                if not math.isfinite(value):
                    return False
            elif type(value) not in _UNCHANGED_TYPES:
                return False
        return True


class LeanRecords(Stream):
    """A stream whose RECORD messages skip singer-sdk's two per-record walks when they change nothing.

    Same messages as singer-sdk's ``Stream._generate_record_messages`` (0.54):
    deselected properties removed, types conformed at ``TYPE_CONFORMANCE_LEVEL``,
    every stream map applied, ``time_extracted`` now. Faster at ``ROOT_ONLY``:
    the removal is skipped when every property is selected (``RecordPlan.all_selected``),
    the conformance when the record's root values are already what it would
    return (``RecordPlan.conformed_as_is``); the record is then copied as is.
    ``SDK_RECORD_PATH = True`` restores singer-sdk's own method (the identity test compares both).
    """

    #: True: singer-sdk's ``_generate_record_messages`` unchanged (no fast path).
    SDK_RECORD_PATH: t.ClassVar[bool] = False
    _record_plan: RecordPlan | None = None

    @override
    def _generate_record_messages(self, record: Record) -> t.Generator[singer.RecordMessage, None, None]:
        """singer-sdk's hook that turns one record into RECORD messages (one per stream map)."""
        if self.SDK_RECORD_PATH or self.TYPE_CONFORMANCE_LEVEL != TypeConformanceLevel.ROOT_ONLY:
            yield from super()._generate_record_messages(record)
            return
        schema = self.effective_schema
        plan = self._record_plan
        if plan is None:
            plan = self._record_plan = RecordPlan.of(schema, self.mask)
        if not plan.all_selected:
            pop_deselected_record_properties(record, self.schema, self.mask)
        if plan.conformed_as_is(record):
            record = dict(record)
        else:
            record = conform_record_data_types(
                stream_name=self.name, record=record, schema=schema, level=self.TYPE_CONFORMANCE_LEVEL,
                logger=self.logger,
            )
        for stream_map in self.stream_maps:
            mapped_record = stream_map.transform(record)
            if mapped_record is not None:
                yield singer.RecordMessage(
                    stream=stream_map.stream_alias, record=mapped_record, version=self._stream_version,
                    time_extracted=utc_now(),
                )
