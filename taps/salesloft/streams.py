"""Salesloft streams.

=========================  ===================================================  ==========================
stream                     endpoint                                             key / replication
=========================  ===================================================  ==========================
conversations              GET /v2/conversations                                id / updated_at
conversation_extensive     GET /v2/conversations/{id}/extensive (child)         id / (with parent)
transcriptions             GET /v2/transcriptions                               id / updated_at
transcription_sentences    GET /v2/transcriptions/{id}/sentences (child)        transcription_id +
                                                                                order_number
transcription_artifacts    GET /v2/transcriptions/{id}/artifact (child), then   transcription_id
                           the signed URL it gives, into storage_url
=========================  ===================================================  ==========================

A sentence's ``id`` is not unique on its own (public clients describe it as the
transcription's id; it repeats across transcriptions), so
``transcription_sentences`` is keyed by the parent ``transcription_id`` plus
``order_number``, the sentence's position in its transcription.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timezone
from functools import cached_property

import requests
from singer_sdk import StreamSchema
from singer_sdk.helpers.types import Context
from singer_sdk.pagination import JSONPathPaginator
from typing_extensions import override

from taps.common.client import VendorAPIError
from taps.common.concurrency import PARENT_UNCHANGED, FanOutChild, FanOutParent
from taps.common.downloads import Download, JSONBody
from taps.common.progress import progress_for
from taps.common.storage import FileStore, key_part
from taps.common.summary import count_responses, report_gap, tally_for
from taps.common.timestamps import parse_timestamp
from taps.salesloft.client import PER_PAGE, SCHEMAS, SalesloftStream
from taps.salesloft.pagination import KeysetToken, UpdatedAtKeysetPaginator

#: state key beside the bookmark: ids emitted whose ``updated_at`` equals it (see ``UpdatedAtStream``)
IDS_AT_BOOKMARK = "ids_at_bookmark"


class UpdatedAtStream(SalesloftStream):
    """A list endpoint read incrementally on ``updated_at``, ascending, by keyset.

    The bookmark advances with each record (``is_sorted``) and is checkpointed
    every page, so an interrupted run resumes from the last record emitted.
    """

    replication_key = "updated_at"
    is_sorted = True
    primary_keys: t.ClassVar[list[str]] = ["id"]
    STATE_MSG_FREQUENCY = PER_PAGE
    prefetch_next_page = True

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Set up the keyset position (see ``UpdatedAtKeysetPaginator``)."""
        super().__init__(*args, **kwargs)
        self._skip_ids: frozenset[str] = frozenset()
        self._last_seen: datetime | None = None
        self._bookmark_at_start: datetime | bool | None = False  # False: not read yet
        self._ids_at_start: frozenset[str] = frozenset()

    def bookmark_at_start(self) -> datetime | None:
        """The bookmark this run started from (``None`` on a first run), read once, before it moves.

        Also reads ``ids_at_bookmark`` then: the ids emitted, children first,
        whose ``updated_at`` equals that bookmark (see ``bookmark_record``).
        """
        if self._bookmark_at_start is False:
            state = self.get_context_state(self.context)
            value = state.get("replication_key_value")
            self._bookmark_at_start = parse_timestamp(value) if value else None
            same = value and state.get(IDS_AT_BOOKMARK + "_of") == value
            self._ids_at_start = frozenset(state.get(IDS_AT_BOOKMARK) or ()) if same else frozenset()
        return t.cast("datetime | None", self._bookmark_at_start)

    @override
    def bookmark_record(self, latest_record: dict[str, t.Any], *, context: Context | None = None) -> None:
        """Advance the bookmark (never back), and keep beside it the ids emitted at its timestamp.

        ``ids_at_bookmark`` lists every id emitted whose ``updated_at`` equals
        the bookmark, in the same STATE: a rerun knows those rows (and their
        children) are archived although the bookmark stands inside their tie
        group, and requests no child for them.
        """
        super().bookmark_record(latest_record, context=context)
        state = self.get_context_state(context)
        value = state.get("replication_key_value")
        if value is None:
            return
        updated_at = latest_record["updated_at"]
        if updated_at != value and parse_timestamp(updated_at) != parse_timestamp(value):
            return  # (the same text is the same moment: the usual case, the bookmark just moved to this record)
        ids = state.get(IDS_AT_BOOKMARK) if state.get(IDS_AT_BOOKMARK + "_of") == value else None
        state[IDS_AT_BOOKMARK] = sorted({*ids, latest_record["id"]}) if ids else [latest_record["id"]]
        state[IDS_AT_BOOKMARK + "_of"] = value

    def child_context_for(self, record: dict, key: str) -> dict:
        """``{key: record["id"]}``, plus ``PARENT_UNCHANGED`` when an earlier run archived the record unchanged.

        Request economy (issue 11): a record whose ``updated_at`` is older than
        the bookmark this run started from was emitted by an earlier run, and
        singer-sdk syncs a record's children before the record and the bookmark
        moves only after it, so its children were archived too: re-read inside
        the lookback, it gets no child requests. A record *at* the bookmark's
        timestamp is unchanged only if its id is in ``ids_at_bookmark`` (the
        bookmark may stand inside a group of rows sharing it, some not emitted
        yet). A record that first appears
        late inside the lookback with an ``updated_at`` older than the
        bookmark gets its record but not its children (Salesloft bumps
        ``updated_at`` on every change, so this is not expected).
        """
        context: dict[str, t.Any] = {key: record["id"]}
        start = self.bookmark_at_start()
        if start is not None:
            updated = parse_timestamp(record["updated_at"])
            if updated < start or (updated == start and record["id"] in self._ids_at_start):
                context[PARENT_UNCHANGED] = True
        return context

    @override
    def get_new_paginator(self) -> UpdatedAtKeysetPaginator:
        """Keyset paginator starting at bookmark − lookback (or start_date)."""
        self.bookmark_at_start()  # before this run moves it
        start = self.get_lookback_start(self.context)
        self._last_seen = None
        return UpdatedAtKeysetPaginator(start.isoformat().replace("+00:00", "Z") if start else None)

    @override
    def get_url_params(self, context: Context | None, next_page_token: KeysetToken | None) -> dict[str, t.Any]:
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

    @override
    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        """Rows not yet emitted at the bound's timestamp, checked to be in ascending order.

        Without a lookback (``lookback_days`` 0: a run resumed where the last
        stopped), rows at the bookmark this run started from whose ids an earlier run
        listed in ``ids_at_bookmark`` are not emitted again (defect 10): they
        were emitted with that very ``updated_at``, so a run killed inside a
        tie group larger than a page repeats at most the group's listing pages,
        not its records.

        Raises:
            VendorAPIError: Salesloft returned rows out of ``updated_at`` order
                (``sort_direction`` not honoured): going on would lose rows.
        """
        for row in super().parse_response(response):
            if row["id"] in self._skip_ids:
                continue
            stamp = parse_timestamp(row["updated_at"])
            if row["id"] in self._ids_at_start and not self.settings.lookback_days \
                    and stamp == self.bookmark_at_start():
                continue
            if self._last_seen is not None and stamp < self._last_seen:
                msg = (f"Salesloft returned {self.name} out of updated_at order ({row['updated_at']} after "
                       f"{self._last_seen.isoformat()}); the incremental sync cannot go on safely.")
                raise VendorAPIError(msg)
            self._last_seen = stamp
            yield row


class SalesloftChild(SalesloftStream):
    """A stream read once per parent record (a conversation or a transcription), with no state of its own.

    No request at all when the parent marked the context ``PARENT_UNCHANGED``
    (see ``UpdatedAtStream.child_context_for``). A 404 (the parent is gone
    since it was listed) is skipped with ``gone_warning`` when a stream sets it.
    """

    state_partitioning_keys: t.ClassVar[list[str]] = []
    schema: t.ClassVar[StreamSchema] = StreamSchema(SCHEMAS)
    #: the context key holding the parent's id
    parent_key: t.ClassVar[str] = ""
    #: logged (with the parent's id) for a 404, which is then skipped; ``None``: a 404 ends the run
    gone_warning: t.ClassVar[str | None] = None

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """The child's records; none for an unchanged parent; a 404 skipped with ``gone_warning`` if set.

        Raises:
            VendorAPIError: any other Salesloft error.
        """
        if (context or {}).get(PARENT_UNCHANGED):
            return
        try:
            yield from super().get_records(context)
        except VendorAPIError as exc:
            if exc.status != 404 or self.gone_warning is None:  # noqa: PLR2004
                raise
            self.logger.warning(self.gone_warning, (context or {}).get(self.parent_key))


class SingleObjectChild(SalesloftChild):
    """A child endpoint answering one object, ``{"data": {...}}``: no paging."""

    envelope: t.ClassVar[dict[str, type | tuple[type, ...]]] = {"data": dict}

    @override
    def get_new_paginator(self) -> None:
        """Single object answer: no paging."""
        return


class ConversationsStream(FanOutParent, UpdatedAtStream):
    """Recorded conversations (``GET /v2/conversations``), newest changes last."""

    name = "conversations"
    path = "/v2/conversations"
    schema: t.ClassVar[StreamSchema] = StreamSchema(SCHEMAS)

    @override
    def get_child_context(self, record: dict, context: Context | None) -> dict:
        """Children get the conversation id (and whether it is unchanged since the last run)."""
        return self.child_context_for(record, "conversation_id")


class ConversationExtensiveStream(FanOutChild, SingleObjectChild):
    """One conversation's extensive view (``GET /v2/conversations/{id}/extensive``).

    One call per conversation, so it is deselected by default in meltano.yml.
    A conversation deleted since it was listed (404) is skipped with a warning.
    """

    name = "conversation_extensive"
    path = "/v2/conversations/{conversation_id}/extensive"
    parent_stream_type = ConversationsStream
    primary_keys: t.ClassVar[list[str]] = ["id"]
    parent_key = "conversation_id"
    gone_warning = "Conversation %s is gone (404); no extensive record"

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict:
        """Carry the parent key."""
        row["conversation_id"] = (context or {}).get("conversation_id", row.get("id"))
        return row


class TranscriptionsStream(FanOutParent, UpdatedAtStream):
    """Transcriptions (``GET /v2/transcriptions``), incremental on ``updated_at``."""

    name = "transcriptions"
    path = "/v2/transcriptions"
    schema: t.ClassVar[StreamSchema] = StreamSchema(SCHEMAS)

    @override
    def get_child_context(self, record: dict, context: Context | None) -> dict:
        """Sentences and artifacts are fetched per transcription (unless it is unchanged since the last run)."""
        return self.child_context_for(record, "transcription_id")


class TranscriptionSentencesStream(FanOutChild, SalesloftChild):
    """Every sentence of a transcription (``GET /v2/transcriptions/{id}/sentences``), every page.

    Primary key: ``transcription_id`` + ``order_number`` (sentence ids repeat).
    """

    name = "transcription_sentences"
    path = "/v2/transcriptions/{transcription_id}/sentences"
    parent_stream_type = TranscriptionsStream
    primary_keys: t.ClassVar[list[str]] = ["transcription_id", "order_number"]
    parent_key = "transcription_id"

    @override
    def get_new_paginator(self) -> JSONPathPaginator:
        """Page numbers from ``metadata.paging.next_page`` (null on the last page)."""
        return JSONPathPaginator("$.metadata.paging.next_page")

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict[str, t.Any]:
        """``per_page=100`` and the page number."""
        return {"per_page": PER_PAGE, "page": next_page_token or 1}

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict:
        """Carry the parent key."""
        row["transcription_id"] = (context or {})["transcription_id"]
        return row


DOWNLOAD_ROLE_HINT = (
    "Grant the 'Download Conversations' role permission (Salesloft > Settings > Roles) to the user "
    "whose API key or OAuth app the tap uses, then run once with --full-refresh: transcriptions listed "
    "in this run are behind the bookmark afterwards and are not asked for their files again"
)


class TranscriptionArtifactsStream(SingleObjectChild):
    """Each transcription's transcript file, stored with its sha256 (``GET /v2/transcriptions/{id}/artifact``).

    Salesloft answers ``{"data": {id, language_code, url, content_type, created_at,
    updated_at, conversation}}`` where ``url`` is a short-lived signed link (its
    query is the credential). The file is fetched from it at once, with no
    ``Authorization`` header, through the shared download path (retries, size
    check, sha256) into ``storage_url`` under ``transcriptions/<id>/artifact.json``
    (stable: a re-run overwrites). The record carries ``storage_uri``, ``sha256``
    and ``size_bytes``, never the URL.

    Without the "Download Conversations" role permission Salesloft answers 403:
    that is logged once, naming what to grant, the stream is skipped for the rest
    of the run (a ``permission`` gap in the run summary) and the other streams go on.
    Without ``storage_url`` (or with ``download_files`` off) the stream is skipped with a warning.
    """

    name = "transcription_artifacts"
    path = "/v2/transcriptions/{transcription_id}/artifact"
    parent_stream_type = TranscriptionsStream
    primary_keys: t.ClassVar[list[str]] = ["transcription_id"]
    parent_key = "transcription_id"
    gone_warning = "Transcription %s has no artifact (404)"

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """No reason to skip yet."""
        super().__init__(*args, **kwargs)
        self.skipped_because: str | None = None

    @property
    def store(self) -> FileStore | None:
        """The tap's file store, or ``None`` when files are not downloaded."""
        return self.salesloft_tap.file_store

    @cached_property
    def downloads(self) -> Download:
        """Signed-URL downloads: a plain session, no bearer token (the signature is the credential)."""
        session = requests.Session()
        count_responses(session, tally_for(self))
        tally = tally_for(self)

        def count_retry() -> None:
            tally.count(retries=1)

        return Download(vendor="Salesloft", policy=self.salesloft_tap.retry_policy,
                        session=session, redact=self.safe_message, on_retry=count_retry)

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """The transcription's artifact, its file stored; nothing once the stream is skipped.

        Raises:
            VendorAPIError: any Salesloft error but the 403 permission refusal and a 404.
            DownloadError: the file could not be downloaded intact.
        """
        if self.skipped_because is None and self.store is None:
            self._skip("storage_url is not set (or download_files is off): transcript files are not archived; "
                       "set storage_url to archive them", reason=None)
        if self.skipped_because is not None:
            return
        try:
            yield from super().get_records(context)
        except VendorAPIError as exc:
            if exc.status == 403:  # noqa: PLR2004
                where = f"/v2/transcriptions/{(context or {}).get('transcription_id')}/artifact"
                self._skip(f"Salesloft answered 403 for {where}: {exc.vendor_message}. {DOWNLOAD_ROLE_HINT}; "
                           "the other streams go on", reason="permission")
                return
            raise

    def _skip(self, why: str, *, reason: str | None) -> None:
        """Skip the stream for the rest of the run, saying why once."""
        self.skipped_because = why
        if reason is None:
            self.logger.warning("transcription_artifacts skipped: %s", why)
        else:
            self.logger.error("transcription_artifacts skipped: %s", why)
            report_gap(self, "transcription artifacts (transcript files)", reason, why)

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict:
        """Download the file behind ``url`` into storage; the record says where it went, without the URL.

        Raises:
            VendorAPIError: the answer has no ``url``.
            DownloadError: the file could not be downloaded intact.
        """
        transcription_id = (context or {})["transcription_id"]
        url = row.pop("url", None)
        if not isinstance(url, str) or not url:
            msg = f"Salesloft answered without a url for the artifact of transcription {transcription_id}"
            raise VendorAPIError(msg)
        store = t.cast("FileStore", self.store)
        progress = progress_for(f"Salesloft artifact of transcription {transcription_id}", self.logger, self.settings)
        json_file = "json" in str(row.get("content_type") or "application/json").lower()
        stored = self.downloads.to_store(url, store, f"transcriptions/{key_part(transcription_id)}/artifact.json",
                                         on_progress=progress, wrap=JSONBody() if json_file else None)
        return {
            **row,
            "transcription_id": transcription_id,
            "storage_uri": stored.uri,
            "sha256": stored.sha256,
            "size_bytes": stored.size_bytes,
            "downloaded_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        }
