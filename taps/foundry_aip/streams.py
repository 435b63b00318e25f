"""Streams: ``sessions`` (per agent) and their ``session_exchanges``.

Foundry's List Sessions endpoint returns the most recently updated sessions
first, offers no time filter, and hands out page tokens that expire after
about a minute. So, per agent (one state partition each):

1. list the pages back to back into memory, stopping once sessions fall
   below the bookmark minus ``lookback_days`` (or ``start_date``), and
   de-duplicating by ``rid`` (rows shift while we page);
2. if a page token is refused (``InvalidPageToken``), restart the listing
   and keep de-duplicating; if the first page changed while we paged (a
   session updated mid-listing jumped to a page already read), list again
   the sessions updated since, bounded (``MAX_RELISTS``), and say so loudly
   if the listing still cannot be made complete;
3. only then emit the sessions, and for each one read its content (one
   ``session_exchanges`` record per exchange).

The bookmark is the maximum ``updated_time`` emitted; singer-sdk keeps it as a
progress marker (the stream is unsorted) and promotes it when the agent's
partition is complete, so an interrupted run never advances it.
"""

from __future__ import annotations

import typing as t

from singer_sdk import StreamSchema
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.pagination import JSONPathPaginator
from typing_extensions import override

from taps.common.concurrency import PARENT_UNCHANGED, FanOutChild, FanOutParent
from taps.common.sdk_compat import write_state_now
from taps.common.summary import report_gap
from taps.common.timestamps import parse_timestamp
from taps.foundry_aip.client import (
    SCHEMAS,
    FoundryStream,
    PageTokenRejected,
    SessionGone,
    bookmark_time,
)

if t.TYPE_CHECKING:
    from datetime import datetime

    import requests
    from singer_sdk.helpers.types import Context

MAX_LISTING_RESTARTS = 3
#: listings again of the sessions updated while an agent was listed (see ``_list_sessions``)
MAX_RELISTS = 3
ZERO_SESSIONS_HINT = (
    "Foundry lists only the sessions that the calling user created through the same OAuth client "
    "(sessions from AIP Agent Studio or from another application are never listed). Run the tap with the "
    "client_id/client_secret of the application that creates the sessions (or that user's token)."
)


class SessionsStream(FanOutParent, FoundryStream):
    """AIP Agent sessions, one state partition per configured agent.

    Endpoint: ``GET /api/v2/aipAgents/agents/{agentRid}/sessions`` (pageSize,
    pageToken, preview=true). Records keep Foundry's fields and add
    ``agent_rid`` and ``updated_time`` (the replication key).
    """
    envelope: t.ClassVar[dict[str, type | tuple[type, ...]]] = {"data": list}

    name = "sessions"
    path = "/api/v2/aipAgents/agents/{agent_rid}/sessions"
    primary_keys = ("rid",)
    replication_key = "updated_time"
    is_sorted = False  # newest first: the bookmark is finalised per agent
    records_jsonpath = "$.data[*]"
    schema = StreamSchema(SCHEMAS)
    #: the agent's bookmark when its partition began (``None``: first run for the agent)
    _bookmark_at_start: str | None = None

    @override
    @property
    def partitions(self) -> list[dict]:
        """One context per configured agent, ``{"agent_rid": ...}``, duplicates dropped."""
        return [{"agent_rid": rid} for rid in dict.fromkeys(self.settings.agent_rids)]

    @override
    def get_new_paginator(self) -> JSONPathPaginator:
        """Follow ``nextPageToken`` until it is absent or empty."""
        return JSONPathPaginator("$.nextPageToken")

    @override
    def get_url_params(self, context: Context | None, next_page_token: str | None) -> dict[str, t.Any]:
        """``pageSize`` (setting ``page_size``), ``pageToken`` after the first page, ``preview=true``."""
        return {
            "pageSize": self.settings.page_size,
            "pageToken": next_page_token or None,
            **super().get_url_params(context, next_page_token),
        }

    def listing_floor(self, context: Context | None) -> datetime | None:
        """The oldest ``updatedTime`` this run needs: bookmark (or ``start_date``)
        minus ``lookback_days``; ``None`` reads every session."""
        return self.get_lookback_start(context)

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """List the agent's sessions completely, then yield them newest first.

        Raises:
            FatalAPIError: page tokens kept being refused after
                ``MAX_LISTING_RESTARTS`` restarts; or any ``VendorAPIError``.
        """
        agent_rid = (context or {})["agent_rid"]
        write_state_now(self)  # the agents before this one are done: a kill from here redoes only this one
        self._bookmark_at_start = self.get_context_state(context).get("replication_key_value")
        floor = self.listing_floor(context)
        sessions, listed = self._list_sessions(context, floor)
        if listed == 0:
            self.logger.warning("Foundry listed no sessions at all for agent %s. %s", agent_rid, ZERO_SESSIONS_HINT)
        self.logger.info("Agent %s: %d sessions updated since %s", agent_rid, len(sessions),
                         bookmark_time(floor) if floor else "the beginning")
        newest_first = sorted(sessions.values(), key=lambda s: (s.get("updated_time") or "", s["rid"]), reverse=True)
        yield from self.fan_out_ahead(newest_first, context)

    def _list_sessions(self, context: Context | None, floor: datetime | None) -> tuple[dict[str, dict], int]:
        """List until below ``floor``; re-list, bounded, when the front moved while paging.

        Page tokens are offsets into the live "most recently updated first"
        ordering: a session updated while we page jumps to the front (a page
        already read) and is never listed by this pass. So after a pass of more
        than one page the first page is asked for again (one request); if its
        front (newest ``updatedTime`` and rid) changed, the sessions updated since
        the pass began (newer than its front) are listed again, up to
        ``MAX_RELISTS`` times. If the front still moves, the listing may be
        incomplete: that is logged as an error naming the agent and reported as
        a gap (those sessions come with the next run, being newer).

        Returns:
            rid -> newest version of each session at or above ``floor``, and how
            many rows the endpoint returned in total (0 means the agent has no
            visible sessions at all).
        """
        agent_rid = (context or {}).get("agent_rid")
        page_size = self.settings.page_size
        kept: dict[str, dict] = {}
        listed = 0
        pass_floor = bookmark_time(floor) if floor is not None else None
        for relist in range(MAX_RELISTS + 1):
            front, rows = self._list_pass(context, pass_floor, kept)
            listed += rows
            if rows <= page_size:
                return kept, listed  # one request: nothing can shift inside it
            now = self._front(context)
            if now == front:
                return kept, listed
            if relist == MAX_RELISTS or front is None:
                break
            self.logger.info("Agent %s: sessions were updated while listing (the newest went from %s to %s); "
                             "listing again those updated since %s (re-list %d of %d)", agent_rid,
                             front[0], now and now[0], front[0], relist + 1, MAX_RELISTS)
            pass_floor = max(pass_floor or "", front[0] or "") or None
        detail = (f"sessions of agent {agent_rid} kept being updated while they were listed ({MAX_RELISTS} re-lists): "
                  "Foundry's offset page tokens shift, so sessions updated during this run may be missing from it; "
                  "they are newer than this run's bookmark and come with the next run")
        self.logger.error("Listing of agent %s may be INCOMPLETE: %s", agent_rid, detail)
        report_gap(self, f"sessions of agent {agent_rid} updated during the listing", "error", detail)
        # Keep the bookmark below every session this run may have missed (they were all updated after the
        # last pass's front): sessions newer than that front wait for the next run too.
        cut = front[0] if front is not None else None
        if cut is not None:
            kept = {rid: row for rid, row in kept.items() if (row.get("updated_time") or "") <= cut}
        return kept, listed

    def _list_pass(self, context: Context | None, floor: str | None,
                   kept: dict[str, dict]) -> tuple[tuple[str | None, str] | None, int]:
        """One listing from the first page until below ``floor`` (a bookmark-form time), merged into ``kept``.

        A refused page token restarts the pass (up to ``MAX_LISTING_RESTARTS``).

        Returns:
            the pass's front ``(updated_time, rid)`` (``None`` for an empty
            listing) and the rows read (the one below ``floor`` included).

        Raises:
            FatalAPIError: page tokens kept being refused.
        """
        for attempt in range(MAX_LISTING_RESTARTS + 1):
            front: tuple[str | None, str] | None = None
            rows = 0
            try:
                for row in self.request_records(context):
                    rows += 1
                    record = self._with_keys(row, context)
                    updated = record.get("updated_time")
                    if front is None:
                        front = (updated, record["rid"])
                    if floor is not None and updated is not None and updated < floor:
                        return front, rows  # newest first: everything after is older
                    previous = kept.get(record["rid"])
                    if previous is None or (updated or "") >= (previous.get("updated_time") or ""):
                        kept[record["rid"]] = record
                return front, rows
            except PageTokenRejected as exc:
                self.logger.warning(
                    "Restarting the session listing of agent %s (restart %d of %d): %s",
                    context and context.get("agent_rid"), attempt + 1, MAX_LISTING_RESTARTS, exc,
                )
        msg = (f"Palantir Foundry kept refusing page tokens (InvalidPageToken) while listing sessions of agent "
               f"{context and context.get('agent_rid')}, after {MAX_LISTING_RESTARTS} restarts. Page tokens expire "
               "about a minute after they are issued: check the network latency to api_url and lower page_size.")
        raise FatalAPIError(msg)

    def _front(self, context: Context | None) -> tuple[str | None, str] | None:
        """The listing's front now, ``(updated_time, rid)`` of its first row (one request), ``None`` if empty."""
        for row in self.request_records(context):
            record = self._with_keys(row, context)
            return record.get("updated_time"), record["rid"]
        return None

    @staticmethod
    def _with_keys(row: dict, context: Context | None) -> dict:
        """Add ``agent_rid`` and ``updated_time`` (normalised ``metadata.updatedTime``)."""
        record = dict(row)
        record["agent_rid"] = (context or {}).get("agent_rid") or row.get("agentRid")
        raw = (row.get("metadata") or {}).get("updatedTime")
        record["updated_time"] = bookmark_time(parse_timestamp(raw)) if raw else None
        return record

    @override
    def get_child_context(self, record: dict, context: Context | None) -> dict:
        """Context for ``session_exchanges``: the agent, the session and its update time.

        Request economy (issue 11): a session whose ``updated_time`` is at or
        before the agent's bookmark this run started from is marked
        ``PARENT_UNCHANGED`` and its content is not read again. That bookmark
        is saved only once an agent's listing (complete, see ``_list_sessions``)
        and every content are emitted, so every session up to it was archived
        with its exchanges; Foundry bumps ``updatedTime`` on every new exchange.
        """
        child = {
            "agent_rid": record["agent_rid"],
            "session_rid": record["rid"],
            "session_updated_time": record.get("updated_time"),
        }
        start = self._bookmark_at_start
        updated = record.get("updated_time")
        if start and updated and updated <= start:
            child[PARENT_UNCHANGED] = True
        return child


class SessionExchangesStream(FanOutChild, FoundryStream):
    """Exchanges of each emitted session, in chronological order.

    Endpoint: ``GET /api/v2/aipAgents/agents/{agentRid}/sessions/{sessionRid}/content``
    (preview=true), ``{"exchanges": [...]}``. Primary key: ``session_rid`` +
    ``exchange_index`` (Foundry gives exchanges no id). A session that expired
    between listing and reading (``SessionNotFound``) is logged and skipped.
    """
    envelope: t.ClassVar[dict[str, type | tuple[type, ...]]] = {"exchanges": list}

    name = "session_exchanges"
    parent_stream_type = SessionsStream
    path = "/api/v2/aipAgents/agents/{agent_rid}/sessions/{session_rid}/content"
    primary_keys = ("session_rid", "exchange_index")
    state_partitioning_keys: t.ClassVar[list[str]] = []  # no per-session state
    records_jsonpath = "$.exchanges[*]"
    schema = StreamSchema(SCHEMAS)

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """One record per exchange; nothing (with a warning) if the session is gone."""
        try:
            yield from super().get_records(context)
        except SessionGone as exc:
            self.logger.warning("Session %s could not be read (it has probably expired): %s",
                                (context or {}).get("session_rid"), exc)
            report_gap(self, f"session {(context or {}).get('session_rid')}", "retention", str(exc))

    @override
    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        """Number the exchanges 0, 1, ... in the order Foundry returns them (chronological)."""
        for index, exchange in enumerate(super().parse_response(response)):
            yield {"exchange_index": index, **exchange}

    @override
    def post_process(self, row: dict, context: Context | None = None) -> dict:
        """Add the parent keys: ``session_rid``, ``agent_rid``, ``session_updated_time``."""
        context = context or {}
        return {
            "session_rid": context["session_rid"],
            "agent_rid": context["agent_rid"],
            "session_updated_time": context.get("session_updated_time"),
            **row,
        }
