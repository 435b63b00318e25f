"""Salesloft streams.

=========================  ===================================================  ==========================
stream                     endpoint                                             key / replication
=========================  ===================================================  ==========================
conversations              GET /v2/conversations                                id / updated_at
conversation_extensive     GET /v2/conversations/{id}/extensive (child)         id / (with parent)
transcriptions             GET /v2/transcriptions                               id / updated_at
transcription_sentences    GET /v2/transcriptions/{id}/sentences (child)        transcription_id +
                                                                                order_number
=========================  ===================================================  ==========================

A sentence's ``id`` is not unique on its own (public clients describe it as the
transcription's id; it repeats across transcriptions), so
``transcription_sentences`` is keyed by the parent ``transcription_id`` plus
``order_number``, the sentence's position in its transcription.
"""

from __future__ import annotations

import typing as t
from datetime import datetime

import requests
from singer_sdk import StreamSchema
from singer_sdk.helpers.types import Context
from singer_sdk.pagination import JSONPathPaginator

from taps.common.client import VendorAPIError
from taps.common.concurrency import FanOutChild, FanOutParent
from taps.common.timestamps import parse_timestamp
from taps.salesloft.client import PER_PAGE, SCHEMAS, SalesloftStream
from taps.salesloft.pagination import KeysetToken, UpdatedAtKeysetPaginator


class UpdatedAtStream(SalesloftStream):
    """A list endpoint read incrementally on ``updated_at``, ascending, by keyset.

    The bookmark advances with each record (``is_sorted``) and is checkpointed
    every page, so an interrupted run resumes from the last record emitted.
    """

    replication_key = "updated_at"
    is_sorted = True
    primary_keys: t.ClassVar[list[str]] = ["id"]
    STATE_MSG_FREQUENCY = PER_PAGE

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Set up the keyset position (see ``UpdatedAtKeysetPaginator``)."""
        super().__init__(*args, **kwargs)
        self._skip_ids: frozenset[str] = frozenset()
        self._last_seen: datetime | None = None

    def get_new_paginator(self) -> UpdatedAtKeysetPaginator:
        """Keyset paginator starting at bookmark − lookback (or start_date)."""
        start = self.get_lookback_start(self.context)
        self._last_seen = None
        return UpdatedAtKeysetPaginator(start.isoformat().replace("+00:00", "Z") if start else None)

    def get_url_params(self, context: Context | None, next_page_token: KeysetToken | None) -> dict[str, t.Any]:  # noqa: ARG002
        """``sort_by=updated_at``, ascending, 100 per page, ``updated_at[gte]`` from the token."""
        token = next_page_token or KeysetToken(None)
        self._skip_ids = token.skip_ids
        params: dict[str, t.Any] = {
            "sort_by": "updated_at",
            "sort_direction": "asc",
            "per_page": PER_PAGE,
            "page": token.page,
        }
        if token.since is not None:
            params["updated_at[gte]"] = token.since
        return params

    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        """Rows not yet emitted at the bound's timestamp, checked to be in ascending order.

        Raises:
            VendorAPIError: Salesloft returned rows out of ``updated_at`` order
                (``sort_direction`` not honoured): going on would lose rows.
        """
        for row in super().parse_response(response):
            if row["id"] in self._skip_ids:
                continue
            stamp = parse_timestamp(row["updated_at"])
            if self._last_seen is not None and stamp < self._last_seen:
                msg = (f"Salesloft returned {self.name} out of updated_at order ({row['updated_at']} after "
                       f"{self._last_seen.isoformat()}); the incremental sync cannot go on safely.")
                raise VendorAPIError(msg)
            self._last_seen = stamp
            yield row


class ConversationsStream(FanOutParent, UpdatedAtStream):
    """Recorded conversations (``GET /v2/conversations``), newest changes last."""

    name = "conversations"
    path = "/v2/conversations"
    schema: t.ClassVar[StreamSchema] = StreamSchema(SCHEMAS)

    def get_child_context(self, record: dict, context: Context | None) -> dict:  # noqa: ARG002
        """Children get the conversation id."""
        return {"conversation_id": record["id"]}


class ConversationExtensiveStream(FanOutChild, SalesloftStream):
    """One conversation's extensive view (``GET /v2/conversations/{id}/extensive``).

    One call per conversation, so it is deselected by default in meltano.yml.
    """

    name = "conversation_extensive"
    path = "/v2/conversations/{conversation_id}/extensive"
    parent_stream_type = ConversationsStream
    primary_keys: t.ClassVar[list[str]] = ["id"]
    state_partitioning_keys: t.ClassVar[list[str]] = []
    schema: t.ClassVar[StreamSchema] = StreamSchema(SCHEMAS)

    def get_new_paginator(self) -> None:
        """Single object answer: no paging."""
        return

    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """The extensive view; a conversation deleted since it was listed (404) is skipped with a warning."""
        try:
            yield from super().get_records(context)
        except VendorAPIError as exc:
            if exc.status != 404:  # noqa: PLR2004
                raise
            self.logger.warning("Conversation %s is gone (404); no extensive record", (context or {}).get("conversation_id"))

    def post_process(self, row: dict, context: Context | None = None) -> dict:
        """Carry the parent key."""
        row["conversation_id"] = (context or {}).get("conversation_id", row.get("id"))
        return row


class TranscriptionsStream(FanOutParent, UpdatedAtStream):
    """Transcriptions (``GET /v2/transcriptions``), incremental on ``updated_at``."""

    name = "transcriptions"
    path = "/v2/transcriptions"
    schema: t.ClassVar[StreamSchema] = StreamSchema(SCHEMAS)

    def get_child_context(self, record: dict, context: Context | None) -> dict:  # noqa: ARG002
        """Sentences are fetched per transcription."""
        return {"transcription_id": record["id"]}


class TranscriptionSentencesStream(FanOutChild, SalesloftStream):
    """Every sentence of a transcription (``GET /v2/transcriptions/{id}/sentences``), every page.

    Primary key: ``transcription_id`` + ``order_number`` (sentence ids repeat).
    """

    name = "transcription_sentences"
    path = "/v2/transcriptions/{transcription_id}/sentences"
    parent_stream_type = TranscriptionsStream
    primary_keys: t.ClassVar[list[str]] = ["transcription_id", "order_number"]
    state_partitioning_keys: t.ClassVar[list[str]] = []
    schema: t.ClassVar[StreamSchema] = StreamSchema(SCHEMAS)

    def get_new_paginator(self) -> JSONPathPaginator:
        """Page numbers from ``metadata.paging.next_page`` (null on the last page)."""
        return JSONPathPaginator("$.metadata.paging.next_page")

    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:  # noqa: ARG002
        """``per_page=100`` and the page number."""
        return {"per_page": PER_PAGE, "page": next_page_token or 1}

    def post_process(self, row: dict, context: Context | None = None) -> dict:
        """Carry the parent key."""
        row["transcription_id"] = (context or {})["transcription_id"]
        return row
