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

With ``max_concurrency`` above 1 the waits overlap, with the same records and
STATE: the next agent is listed in the tap's pool while this agent's contents
are read (its floor read from saved state without creating its STATE entry,
its errors raised when its partition begins), and the first sessions a listing
keeps have their content requested while the listing pages on.

The bookmark is the maximum ``updated_time`` emitted; singer-sdk keeps it as a
progress marker (the stream is unsorted) and promotes it when the agent's
partition is complete, so an interrupted run never advances it.
"""

from __future__ import annotations

import functools
import typing as t
from concurrent.futures import Future
from dataclasses import dataclass, field

from singer_sdk import StreamSchema
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.pagination import JSONPathPaginator
from typing_extensions import override

from taps.common.concurrency import PARENT_UNCHANGED, FanOutChild, FanOutParent, Key, fan_out_of
from taps.common.sdk_compat import before_sync, write_state_now
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


@dataclass
class Listing:
    """One agent's listing (``SessionsStream._list_sessions``), before anything of it is emitted.

    Attributes:
        floor: the oldest ``updatedTime`` listed (``None``: every session).
        sessions: rid -> newest version of each session kept.
        listed: rows the endpoint returned (0: the agent has no visible sessions at all).
        incomplete: why the listing may be incomplete (``None``: complete).
        early: keys of the content requests started while listing (``FanOut.start``).
    """

    floor: datetime | None
    sessions: dict[str, dict] = field(default_factory=dict)
    listed: int = 0
    incomplete: str | None = None
    early: list[Key] = field(default_factory=list)


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

    @functools.cached_property
    def _bookmarks_at_start(self) -> dict[str, str | None]:
        """agent rid -> its bookmark when its partition began (``None``: first run for the agent)."""
        return {}

    @functools.cached_property
    def _listed_ahead(self) -> dict[str, Future[Listing]]:
        """agent rid -> its listing, started in the tap's pool while the agent before it is emitted."""
        return {}

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

        With the pool enabled the next agent's listing starts now, in the pool
        (``_list_next_agent``); this agent's may have been started so, by the
        agent before.

        Raises:
            FatalAPIError: page tokens kept being refused after
                ``MAX_LISTING_RESTARTS`` restarts; or any ``VendorAPIError``.
        """
        agent_rid = (context or {})["agent_rid"]
        write_state_now(self)  # the agents before this one are done: a kill from here redoes only this one
        ahead = self._listed_ahead.pop(agent_rid, None)
        listing = self._list_agent(self, context) if ahead is None else ahead.result()  # its error raised here
        self._list_next_agent(context)
        try:
            yield from self._emit(listing, context)
        finally:
            fan_out_of(self).discard(listing.early)  # early requests of sessions not emitted

    def _list_agent(self, view: SessionsStream, context: Context | None) -> Listing:
        """The agent's listing from its floor, read through ``view`` (this stream, or ``before_sync`` of it)."""
        self._bookmarks_at_start[(context or {})["agent_rid"]] = \
            view.get_context_state(context).get("replication_key_value")
        floor = view.listing_floor(context)
        return self._list_sessions(context, floor)

    def _list_next_agent(self, context: Context | None) -> None:
        """Start the listing of the agent after ``context``'s in the tap's pool (nothing when serial).

        Its saved state is copied now, on the thread that writes state
        (``before_sync``: no STATE entry before its partition begins, and
        nothing writes that partition until then); its bookmark and floor are
        read from that copy by ``_list_agent``, the same code as serially. Any
        error is kept in the future and raised when its partition begins.
        """
        partitions = self.partitions
        index = partitions.index({"agent_rid": (context or {})["agent_rid"]})
        fan_out = fan_out_of(self)
        if not fan_out.enabled or index + 1 == len(partitions):
            return
        following = partitions[index + 1]
        future: Future[Listing]
        try:
            view = before_sync(self, following)
            future = fan_out.submit(functools.partial(self._list_agent, view, following))
        except Exception as exc:  # noqa: BLE001 - raised when that agent's partition begins
            future = Future()
            future.set_exception(exc)
        self._listed_ahead[following["agent_rid"]] = future

    def _emit(self, listing: Listing, context: Context | None) -> t.Iterator[dict]:
        """Log the listing's outcome, then yield its sessions newest first, their contents fetched ahead."""
        agent_rid = (context or {})["agent_rid"]
        if listing.incomplete is not None:
            self.logger.error("Listing of agent %s may be INCOMPLETE: %s", agent_rid, listing.incomplete)
            report_gap(self, f"sessions of agent {agent_rid} updated during the listing", "error", listing.incomplete)
        if listing.listed == 0:
            self.logger.warning("Foundry listed no sessions at all for agent %s. %s", agent_rid, ZERO_SESSIONS_HINT)
        self.logger.info("Agent %s: %d sessions updated since %s", agent_rid, len(listing.sessions),
                         bookmark_time(listing.floor) if listing.floor else "the beginning")
        newest_first = sorted(listing.sessions.values(), key=lambda s: (s.get("updated_time") or "", s["rid"]),
                              reverse=True)
        if listing.early:
            emitted = {key for record in newest_first for key, _work in self.child_jobs(record, context)}
            fan_out_of(self).discard(key for key in listing.early if key not in emitted)
        yield from self.fan_out_ahead(newest_first, context)

    def _list_sessions(self, context: Context | None, floor: datetime | None) -> Listing:
        """List until below ``floor``; re-list, bounded, when the front moved while paging.

        Page tokens are offsets into the live "most recently updated first"
        ordering: a session updated while we page jumps to the front (a page
        already read) and is never listed by this pass. So after a pass of more
        than one page the first page is asked for again (one request); if its
        front (newest ``updatedTime`` and rid) changed, the sessions updated since
        the pass began (newer than its front) are listed again, up to
        ``MAX_RELISTS`` times. If the front still moves, the listing may be
        incomplete: ``Listing.incomplete`` says why (logged as an error naming
        the agent and reported as a gap when the partition is emitted; those
        sessions come with the next run, being newer).

        With the pool enabled, the first sessions kept (up to the look-ahead
        window) have their content requested at once (``Listing.early``); on an
        error those requests are discarded.
        """
        listing = Listing(floor)
        try:
            self._fill(listing, context)
        except BaseException:
            fan_out_of(self).discard(listing.early)
            raise
        return listing

    def _fill(self, listing: Listing, context: Context | None) -> None:
        """``_list_sessions``' passes, into ``listing``."""
        agent_rid = (context or {}).get("agent_rid")
        page_size = self.settings.page_size
        pass_floor = bookmark_time(listing.floor) if listing.floor is not None else None
        for relist in range(MAX_RELISTS + 1):
            front, rows = self._list_pass(context, pass_floor, listing)
            listing.listed += rows
            if rows <= page_size:
                return  # one request: nothing can shift inside it
            now = self._front(context)
            if now == front:
                return
            if relist == MAX_RELISTS or front is None:
                break
            self.logger.info("Agent %s: sessions were updated while listing (the newest went from %s to %s); "
                             "listing again those updated since %s (re-list %d of %d)", agent_rid,
                             front[0], now and now[0], front[0], relist + 1, MAX_RELISTS)
            pass_floor = max(pass_floor or "", front[0] or "") or None
        listing.incomplete = (
            f"sessions of agent {agent_rid} kept being updated while they were listed ({MAX_RELISTS} re-lists): "
            "Foundry's offset page tokens shift, so sessions updated during this run may be missing from it; "
            "they are newer than this run's bookmark and come with the next run")
        # Keep the bookmark below every session this run may have missed (they were all updated after the
        # last pass's front): sessions newer than that front wait for the next run too.
        cut = front[0] if front is not None else None
        if cut is not None:
            listing.sessions = {rid: row for rid, row in listing.sessions.items()
                                if (row.get("updated_time") or "") <= cut}

    def _list_pass(self, context: Context | None, floor: str | None,
                   listing: Listing) -> tuple[tuple[str | None, str] | None, int]:
        """One listing from the first page until below ``floor`` (a bookmark-form time), merged into ``listing``.

        A refused page token restarts the pass (up to ``MAX_LISTING_RESTARTS``).

        Returns:
            the pass's front ``(updated_time, rid)`` (``None`` for an empty
            listing) and the rows read (the one below ``floor`` included).

        Raises:
            FatalAPIError: page tokens kept being refused.
        """
        kept = listing.sessions
        fan_out = fan_out_of(self)
        early = fan_out.window if self.fan_out_children else 0
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
                        if len(listing.early) < early:
                            listing.early += fan_out.start(self.child_jobs(record, context))
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
        start = self._bookmarks_at_start.get(record["agent_rid"])
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
