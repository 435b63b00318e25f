"""Kore.ai Agent AI streams: ``conversations`` and their ``conversation_messages``.

``conversations`` walks inclusive UTC date windows of at most 7 days (the
vendor's maximum range) from the bookmark minus ``lookback_days`` (or from
``start_date``) to today, pages each window with ``page``/``limit=20`` while
``hasMore``, and checkpoints after each window: the bookmark (``startTime``,
the latest emitted) only moves once every page of a window has been emitted,
so an interrupted run resumes at the window it was in.

``conversation_messages`` holds the messages of each conversation
(``includeHistory``), one record per message. The vendor gives messages no id:
the primary key is ``(conversation_record_id, message_index)``, the parent's
``_id`` and the message's 0-based position in the vendor's ``messages`` list.
"""

from __future__ import annotations

import typing as t
from datetime import date, datetime

from singer_sdk import StreamSchema
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from taps.common.handoff import PayloadChild, PayloadParent
from taps.common.schemas import schema_directory
from taps.common.sdk_compat import write_state_now
from taps.common.timestamps import parse_timestamp
from taps.common.windows import date_windows
from taps.kore_agentai.client import PAGE_SIZE, KoreAgentAIStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context, Record

SCHEMAS = schema_directory("kore_agentai")
#: the vendor's maximum range: ``from``..``to`` inclusive spans at most 7 days.
MAX_WINDOW_DAYS = 7



class ConversationsStream(PayloadParent, KoreAgentAIStream):
    """Agent AI conversation records (``POST .../{botId}/aaconversation``).

    Records are the vendor's ``results[]`` without ``messages`` (those go to
    ``conversation_messages``). Primary key ``_id``; replication key
    ``startTime`` (the vendor has no updated-at field, so late edits are
    caught only inside the lookback).
    """

    name = "conversations"
    path = "/agentassist/api/v1/public/{bot_id}/aaconversation"
    primary_keys = ("_id",)
    replication_key = "startTime"
    schema = StreamSchema(SCHEMAS)

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Set up the per-window bookkeeping (see ``get_records``)."""
        super().__init__(*args, **kwargs)
        self._window_max: tuple[datetime, str] | None = None

    # --- windows --------------------------------------------------------------

    def today(self) -> date:
        """Kore.ai's current UTC date (its ``Date`` header minus a margin, ``VendorClock.safe_today``;
        the machine's clock until Kore.ai has answered): the last day of the last window."""
        return self.vendor_clock.safe_today()

    def window_range(self, context: Context | None) -> tuple[date, date]:
        """First and last UTC day to request.

        First: ``start_date``'s day on the first run; afterwards the bookmark's
        day minus ``lookback_days``, never before ``start_date``. Last: today,
        or ``end_date``'s day when set (an orchestrator's 7-day partition).

        Raises:
            ConfigValidationError: no ``start_date`` (only with config validation off).
        """
        start = self.settings.run_start(self.get_starting_timestamp(context), floor_at_start_date=True)
        if start is None:  # config_errors requires start_date
            msg = "start_date is required"
            raise ConfigValidationError(msg)
        last = self.today()
        if self.settings.end_date is not None:
            last = min(last, self.settings.end_date.date())
        return start.date(), last

    @override
    def prepare_request_payload(self, context: Context | None, next_page_token: int | None) -> dict:
        """The documented body: ``from``/``to`` (the window), ``page``, ``limit`` 20, ``includeHistory``."""
        window = context or {}
        return {
            "from": window["from"],
            "to": window["to"],
            "page": next_page_token or 1,
            "limit": PAGE_SIZE,
            "includeHistory": self.include_history,
        }

    @property
    def include_history(self) -> bool:
        """Ask for messages only when ``include_history`` is on and ``conversation_messages`` is selected."""
        return self.settings.include_history and self.has_selected_descendents

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """Every conversation from the first window to today, checkpointing after each window.

        A record seen twice within one window (pages shifting as conversations
        arrive during the run) is emitted once.

        Raises:
            VendorAPIError: the vendor refused a request (credentials, scope, 400).
        """
        first, last = self.window_range(context)
        windows = date_windows(first, last, MAX_WINDOW_DAYS)
        self.logger.info("Reading %s conversations %s..%s in %d windows of at most %d days",
                         self.vendor, first, last, len(windows), MAX_WINDOW_DAYS)
        for start, end in windows:
            self._window_max = None
            seen: set[t.Any] = set()
            for record in self.request_records({"from": start.isoformat(), "to": end.isoformat()}):
                key = record.get("_id")
                if key in seen:
                    continue
                seen.add(key)
                self._track(record)
                messages = record.pop("messages", None)  # to conversation_messages, not in this record
                payload = (messages or []) if self.has_selected_descendents else None
                with self.hand_to_children(self.get_child_context(record, None), payload):
                    yield record
            self._checkpoint()

    def _track(self, record: dict) -> None:
        value = record.get(self.replication_key)
        if not value:
            return
        moment = parse_timestamp(value)
        if self._window_max is None or moment > self._window_max[0]:
            self._window_max = (moment, value)

    @override
    def bookmark_record(self, latest_record: Record, *, context: Context | None = None) -> None:
        """Do not move the bookmark per record: results are not sorted by
        ``startTime``, so the bookmark moves only in ``_checkpoint``, once a
        window is fully emitted."""

    def _checkpoint(self) -> None:
        """Advance the bookmark to the latest ``startTime`` of the finished window and emit STATE."""
        if not self.selected or self._window_max is None:
            return
        state = self.stream_state
        old = state.get("replication_key_value")
        if old is None or self._window_max[0] > parse_timestamp(str(old)):
            state["replication_key"] = self.replication_key
            state["replication_key_value"] = self._window_max[1]
            write_state_now(self)

    # --- records and children -------------------------------------------------

    @override
    def get_child_context(self, record: dict, context: Context | None) -> dict:
        """``{"conversation_record_id": <_id>}``: small, so it can be logged."""
        return {"conversation_record_id": record["_id"]}


class ConversationMessagesStream(PayloadChild):
    """One record per message of a conversation's history (``includeHistory``).

    Fields: the vendor's message fields (``botId``, ``type``, ``status``,
    ``components``, ``sT``, ``author``, ``conversationId``,
    ``__lModifiedOn__``, ``timestampValue``) plus ``conversation_record_id``
    (the parent's ``_id``) and ``message_index`` (0-based position in the
    vendor's list). Primary key ``(conversation_record_id, message_index)``:
    stable while the vendor appends messages and edits them in place.
    """

    name = "conversation_messages"
    parent_stream_type = ConversationsStream
    primary_keys = ("conversation_record_id", "message_index")
    schema = StreamSchema(SCHEMAS)

    @override
    def records_from(self, payload: list[dict[str, t.Any]], context: Context) -> t.Iterable[dict[str, t.Any]]:
        """The messages the parent record carried (no HTTP request of its own)."""
        conversation = context["conversation_record_id"]
        for index, message in enumerate(payload):
            yield {**message, "conversation_record_id": conversation, "message_index": index}
