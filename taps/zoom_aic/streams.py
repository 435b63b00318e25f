"""Zoom AI Companion streams: users -> conversation_archives -> histories, attachments.

* ``users``: ``GET /users`` per status in ``user_statuses`` (``page_size``,
  ``next_page_token``), or ``GET /users/{id-or-email}`` per entry of
  ``user_ids``. Each listing chain is read to its end before any archive is
  fetched, because ``next_page_token`` expires after 15 minutes. With
  ``user_shards``, only the users of shard ``user_shard`` are kept (see
  ``user_in_shard``), so parallel runs split one account's users between them.
* ``conversation_archives``: ``GET /aic/users/{userId}/conversation_archive``
  with ``from``/``to`` windows (``client.archive_windows``), incremental per
  user on ``end_time``. A window whose files do not download intact stops that
  user's run at the window before (its bookmark stays there).
* ``conversation_histories`` and ``archive_attachments``: the files behind an
  archive, downloaded before the archive record is emitted, and emitted as its
  children.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
import typing as t
from datetime import datetime, timezone
from functools import cached_property
from urllib.parse import quote

from singer_sdk import StreamSchema
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.pagination import JSONPathPaginator
from typing_extensions import override

from taps.common.handoff import PayloadChild, PayloadParent
from taps.common.redact import strip_query
from taps.common.schemas import schema_directory
from taps.common.summary import report_gap
from taps.common.timestamps import parse_timestamp
from taps.zoom_aic.client import (
    ARCHIVE_SCOPES,
    MAX_PHYSICAL_FILES,
    ONE_SECOND,
    USER_SCOPES,
    PageTokenExpired,
    UserNotFound,
    ZoomStream,
    archive_windows,
    format_archive_time,
)
from taps.zoom_aic.downloads import Downloader, FileDownloadError

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

SCHEMAS = schema_directory("zoom_aic")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_key_part(value: str) -> str:
    """A storage-key segment from a vendor identifier: unsafe characters become ``_``."""
    cleaned = _UNSAFE.sub("_", value).strip(".") or "_"
    return cleaned[:200]


def compact_time(value: datetime) -> str:
    """``20210426T052318Z``: a window bound as a storage-key segment."""
    return value.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def utc_now_iso() -> str:
    """The current UTC time, ISO 8601 with ``Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def user_in_shard(user_id: str, shard: int, shards: int) -> bool:
    """Whether Zoom user ``user_id`` belongs to shard ``shard`` of ``shards`` (0-based).

    The shard is ``sha256(user_id) mod shards`` (first 8 bytes, big-endian): stable
    across processes, machines and Python versions (unlike ``hash()``), so every run
    of one shard reads the same users and the shards together read every user once.
    """
    digest = hashlib.sha256(user_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards == shard


class UsersStream(ZoomStream):
    """Zoom users whose archives are read (``GET /users``, scope ``user:read:admin``)."""

    name = "users"
    primary_keys = ("id",)
    schema = StreamSchema(SCHEMAS)
    required_scopes = USER_SCOPES

    @override
    def documented_envelope(self) -> t.Mapping[str, type | tuple[type, ...]]:
        """A page of ``GET /users`` has ``users``; ``GET /users/{id}`` is one user with an ``id``."""
        return {"id": str} if self.user_refs else {"users": list}

    @property
    def user_refs(self) -> list[str]:
        """The ``user_ids`` setting (ids or emails); empty means list every user."""
        return list(self.settings.user_ids)

    @override
    @property
    def partitions(self) -> list[dict]:
        """One partition per configured user, else one per status in ``user_statuses``."""
        if self.user_refs:
            return [{"user_ref": ref} for ref in self.user_refs]
        return [{"status": status} for status in self.settings.user_statuses or ("active", "inactive")]

    @override
    @property
    def path(self) -> str:  # type: ignore[override]
        """``/users/{user_ref}`` for configured users, else ``/users``."""
        return "/users/{user_ref}" if self.user_refs else "/users"

    @override
    @property
    def records_jsonpath(self) -> str:
        """A single user object, or the ``users`` array of a page."""
        return "$" if self.user_refs else "$.users[*]"

    @override
    def get_url(self, context: Context | None) -> str:
        """The URL, with an email or id percent-encoded into the path."""
        if context and "user_ref" in context:
            return f"{self.url_base}/users/{quote(str(context['user_ref']), safe='@')}"
        return super().get_url(context)

    @override
    def get_new_paginator(self) -> JSONPathPaginator | None:
        """``next_page_token`` paging for the listing; none for single users."""
        return None if self.user_refs else JSONPathPaginator("$.next_page_token")

    @override
    def get_url_params(self, context: Context | None, next_page_token: str | None) -> dict[str, t.Any]:
        """``status``, ``page_size`` and ``next_page_token`` (identical on every page of a chain)."""
        if not context or "status" not in context:
            return {}
        params: dict[str, t.Any] = {
            "status": context["status"],
            "page_size": self.settings.page_size,
            "include_fields": "custom_attributes",
        }
        if next_page_token:
            params["next_page_token"] = next_page_token
        return params

    @cached_property
    def _seen(self) -> set[str]:
        return set()

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """Each user once. A listing chain is read completely first (its token lives 15 min);
        a chain whose ``next_page_token`` Zoom refuses as expired is read again from its first
        page, once (a second refusal ends the run with Zoom's message and no archive bookmark
        moved); a configured user Zoom does not know is skipped with a warning."""
        try:
            try:
                users = list(self.request_records(context))
            except PageTokenExpired as exc:
                self.logger.warning("Zoom refused a next_page_token (%s); listing %s users again from the first "
                                    "page", exc, (context or {}).get("status", ""))
                users = list(self.request_records(context))
        except UserNotFound as exc:
            self.logger.warning("Skipping configured user %s: %s", (context or {}).get("user_ref"), exc)
            report_gap(self, f"user {(context or {}).get('user_ref')}", "permission", str(exc))
            return
        yield from self.zoom_tap.fan_out.ahead(self._new_users(users), self._archive_work)

    def _new_users(self, users: list[dict]) -> t.Iterator[dict]:
        shard, shards = self.settings.user_shard, self.settings.user_shards
        for user in users:
            if user.get("id") and user["id"] not in self._seen:
                self._seen.add(user["id"])
                if shards and not user_in_shard(str(user["id"]), shard or 0, shards):
                    continue
                yield user

    def _archive_work(self, user: dict) -> list:
        """Start the user's archive windows and files in the tap's pool (``max_concurrency``)."""
        for archives in self.child_streams:
            if isinstance(archives, ConversationArchivesStream) and (
                    archives.selected or archives.has_selected_descendents):
                archives.plan_user(self.get_child_context(user, None))
        return []

    @override
    def get_child_context(self, record: dict, context: Context | None) -> dict:
        """Children get the user's id."""
        return {"user_id": record["id"]}


class ConversationArchivesStream(PayloadParent, ZoomStream):
    """One record per user and window that holds AI Companion activity.

    Incremental on ``end_time``, bookmarked per user; windows without an
    archive advance the bookmark too (to their ``to``), so the next run asks
    only for what is new.
    """
    envelope: t.ClassVar[dict[str, type | tuple[type, ...]]] = {"user_id": str, "start_time": str, "end_time": str}

    name = "conversation_archives"
    parent_stream_type = UsersStream
    path = "/aic/users/{user_id}/conversation_archive"
    records_jsonpath = "$"
    primary_keys = ("user_id", "start_time", "end_time")
    replication_key = "end_time"
    is_sorted = True
    check_sorted = False
    # State is partitioned by the child context, which is exactly {"user_id"}.
    # (Naming state_partitioning_keys explicitly would make singer-sdk treat the
    # stream as unsorted and its progress as not resumable.)
    schema = StreamSchema(SCHEMAS)
    required_scopes = ARCHIVE_SCOPES

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """``from`` and ``to`` of the request's window (``window_from``/``window_to`` of its context)."""
        if not context or "window_from" not in context:
            return {}
        return {"from": context["window_from"], "to": context["window_to"]}

    def first_from(self, context: Context | None) -> datetime:
        """Where this user's windows start (UTC): one second after the bookmark (minus
        ``lookback_days``), else ``start_date``.

        Raises:
            ConfigValidationError: no ``start_date`` (only with config validation off).
        """
        bookmark = self._saved_partition_state(context).get("replication_key_value")
        start = self.settings.run_start(parse_timestamp(str(bookmark)) + ONE_SECOND if bookmark else None)
        if start is None:  # config_errors requires start_date
            msg = "start_date is required"
            raise ConfigValidationError(msg)
        return start

    def _saved_partition_state(self, context: Context | None) -> dict:
        """This user's saved state, read without creating an entry (users planned ahead of
        their sync must not appear in STATE before a serial run would list them)."""
        wanted = dict(context or {})
        for partition in self.stream_state.get("partitions") or []:
            if partition.get("context") == wanted:
                return partition
        return {}

    def last_to(self) -> datetime:
        """``end_date`` when set, but never after Zoom's own now minus a margin
        (``VendorClock.safe_now``, from the ``Date`` header of Zoom's answers): a window
        ending at the machine's now would bookmark past what Zoom has when the
        machine's clock runs ahead. A window that would start after this end is
        not asked for (``archive_windows`` returns none)."""
        return self.vendor_clock.clamp(self.settings.end_date)

    @property
    def histories_wanted(self) -> bool:
        """Whether the history JSON files are downloaded (their stream is selected)."""
        return self.child_selected("conversation_histories")

    @property
    def attachments_wanted(self) -> bool:
        """Whether attachments are downloaded (selected and ``download_files``)."""
        return self.child_selected("archive_attachments") and self.settings.download_files

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict]:
        """Archives of one user, window by window, oldest first.

        A 404 code 20524 skips the user with a warning; a file that does not
        download intact ends this user's windows (the error is reported at the
        end of the run) so the bookmark stays before that archive. Each
        window's request and downloads may have run ahead in the tap's pool
        (``plan_user``); their outcomes are applied here, in window order, on
        the main thread, exactly as a serial run would.
        """
        user_id = str((context or {}).get("user_id"))
        steps = self._planned.pop(user_id, None)
        if steps is None:
            ctx = dict(context or {})
            steps = [(w, functools.partial(self._window_list, ctx, w))
                     for w in archive_windows(self.first_from(context), self.last_to())]
        for index, (window, outcome) in enumerate(steps):
            try:
                events = self._with_files(outcome())
            except UserNotFound as exc:
                self.logger.warning("Skipping Zoom user %s: %s", user_id, exc)
                report_gap(self, f"user {user_id}", "permission", str(exc))
                self._cancel(steps[index + 1:])
                return
            except FileDownloadError as exc:
                self.logger.error("Zoom user %s: archive %s..%s not bookmarked: %s", user_id,  # noqa: TRY400
                                  format_archive_time(window[0]), format_archive_time(window[1]), exc)
                report_gap(self, f"user {user_id} from {format_archive_time(window[0])}", "error",
                           f"a file did not download intact ({exc}); retried next run")
                self.zoom_tap.file_failures.append(f"user {user_id}, window starting {format_archive_time(window[0])}: {exc}")
                self._cancel(steps[index + 1:])
                return
            except BaseException:
                self._cancel(steps[index + 1:])
                raise
            for event in events:
                if event[0] == "advance":
                    self._advance(context, event[1])
                else:
                    with self.hand_to_children(self.get_child_context(event[1], context), event[2]):
                        yield event[1]

    @cached_property
    def _planned(self) -> dict[str, list[tuple[tuple[datetime, datetime], t.Callable[..., t.Any]]]]:
        """user id -> its windows with the outcome of each (a future's ``result``), planned ahead."""
        return {}

    def plan_user(self, context: Context) -> None:
        """Start every window of a user in the tap's pool (state is read now, on the caller's thread)."""
        ctx = dict(context)
        fan_out = self.zoom_tap.fan_out
        steps: list[tuple[tuple[datetime, datetime], t.Callable[..., t.Any]]] = []
        for window in archive_windows(self.first_from(context), self.last_to()):
            future = fan_out.submit(functools.partial(self._window_list, ctx, window))
            steps.append((window, future.result))
        self._planned[ctx["user_id"]] = steps

    @staticmethod
    def _cancel(steps: list[tuple[t.Any, t.Callable]]) -> None:
        for _window, outcome in steps:
            future = getattr(outcome, "__self__", None)
            if future is not None:
                future.cancel()

    def _window_list(self, context: dict[str, t.Any], window: tuple[datetime, datetime]) -> list[tuple[t.Any, ...]]:
        return list(self._window_events(context, window))

    def _window_events(self, context: dict[str, t.Any], window: tuple[datetime, datetime]
                       ) -> t.Iterator[tuple[t.Any, ...]]:
        """What one window produced, without touching state or output: ``("advance", to)``
        for an empty window, ``("record", archive, files)`` for an archive (files downloaded).

        Raises:
            UserNotFound, FileDownloadError, DailyLimitReached, VendorAPIError.
        """
        request_context = {**context, "window_from": format_archive_time(window[0]),
                           "window_to": format_archive_time(window[1])}
        answers = list(self.request_records(request_context))
        descriptor = answers[0] if answers else {}
        files = descriptor.get("physical_files") or []
        if len(files) >= MAX_PHYSICAL_FILES and window[1] - window[0] > ONE_SECOND:
            middle = window[0] + (window[1] - window[0]) / 2
            middle = middle.replace(microsecond=0)
            self.logger.info("%d attachments (the cap) in one answer; splitting the window", len(files))
            yield from self._window_events(context, (window[0], middle))
            yield from self._window_events(context, (middle + ONE_SECOND, window[1]))
            return
        if not descriptor.get("aic_history_download_url") and not files:
            yield ("advance", window[1])
            return
        record = self._record(descriptor, window)
        yield ("record", record, self._download(record, descriptor))

    @staticmethod
    def _with_files(events: list[tuple[t.Any, ...]]) -> list[tuple[t.Any, ...]]:
        """``events`` with each record's attachment downloads (futures, ``_download``) taken, in order.

        Raises:
            FileDownloadError, DailyLimitReached: the first attachment that failed, in file order
            (the window's downloads not yet started are cancelled).
        """
        taken: list[tuple[t.Any, ...]] = []
        try:
            for event in events:
                if event[0] == "record":
                    files = event[2]
                    taken.append(("record", event[1], {**files, "attachments": [f.result() for f in files["attachments"]]}))
                else:
                    taken.append(event)
        except BaseException:
            for event in events:
                for future in event[2]["attachments"] if event[0] == "record" else ():
                    future.cancel()
            raise
        return taken

    def _advance(self, context: Context | None, to: datetime) -> None:
        """Bookmark an empty window: nothing to emit, but nothing left to ask for either."""
        if self.selected:
            self.bookmark_record({self.replication_key: format_archive_time(to)}, context=context)

    @staticmethod
    def _record(descriptor: dict, window: tuple[datetime, datetime]) -> dict:
        record = dict(descriptor)
        record["start_time"] = record.get("start_time") or format_archive_time(window[0])
        record["end_time"] = record.get("end_time") or format_archive_time(window[1])
        record["window_from"] = format_archive_time(window[0])
        record["window_to"] = format_archive_time(window[1])
        record["aic_history_download_url"] = strip_query(record.get("aic_history_download_url"))
        record["physical_files"] = [
            {**f, "download_url": strip_query(f.get("download_url"))} for f in record.get("physical_files") or []
        ]
        return record

    def _downloader(self) -> Downloader:
        """This thread's ``Downloader`` (one HTTP session per worker, its connections reused)."""
        local = self._downloaders
        if getattr(local, "downloader", None) is None:
            local.downloader = Downloader(self, self.zoom_tap.file_store)
        return t.cast("Downloader", local.downloader)

    @cached_property
    def _downloaders(self) -> threading.local:
        return threading.local()

    def _download(self, record: dict, descriptor: dict) -> dict[str, t.Any]:
        """Download the archive's history file now and start its attachments; returns the child records' data.

        ``{"history": record or None, "attachments": [Future of record]}``: the
        attachments download in the tap's pool (``FanOut.start_all``; inline with
        ``max_concurrency: 1``), their records taken in file order by ``_with_files``.

        Raises:
            FileDownloadError: the history file did not arrive intact.
            DailyLimitReached: Zoom's daily quota is spent.
        """
        downloader = self._downloader()
        user = safe_key_part(record["user_id"])
        start, end = parse_timestamp(record["start_time"]), parse_timestamp(record["end_time"])
        out: dict[str, t.Any] = {"history": None, "attachments": []}
        url = descriptor.get("aic_history_download_url")
        if url and self.histories_wanted:
            key = f"{user}/history/{compact_time(start)}_{compact_time(end)}.json"
            got = downloader.fetch_json(url, key, descriptor.get("file_size"))
            out["history"] = {
                "user_id": record["user_id"],
                "start_time": record["start_time"],
                "end_time": record["end_time"],
                "window_from": record["window_from"],
                "window_to": record["window_to"],
                "file_type": descriptor.get("file_type"),
                "file_extension": descriptor.get("file_extension"),
                "file_size": descriptor.get("file_size"),
                "storage_uri": got.stored.uri,
                "sha256": got.stored.sha256,
                "size_bytes": got.stored.size_bytes,
                "downloaded_at": utc_now_iso(),
                "content": got.content,
            }
        jobs = [functools.partial(self._attachment, record, entry, user) for entry in descriptor.get("physical_files") or []]
        out["attachments"] = self.zoom_tap.fan_out.start_all(jobs)
        return out

    def _attachment(self, record: dict, entry: dict, user: str) -> dict:
        """One ``archive_attachments`` record, its file downloaded when wanted (runs in any thread).

        Raises:
            FileDownloadError: the file did not arrive intact.
            DailyLimitReached: Zoom's daily quota is spent.
        """
        row = {
            "user_id": record["user_id"],
            "file_id": entry.get("file_id"),
            "file_name": entry.get("file_name"),
            "file_size": entry.get("file_size"),
            "download_url": strip_query(entry.get("download_url")),
            "archive_start_time": record["start_time"],
            "archive_end_time": record["end_time"],
            "storage_uri": None,
            "sha256": None,
            "size_bytes": None,
            "downloaded_at": None,
        }
        if self.attachments_wanted and entry.get("download_url") and entry.get("file_id"):
            name = str(entry.get("file_name") or "")
            suffix = safe_key_part(name.rsplit(".", 1)[1])[:16] if "." in name else "bin"
            key = f"{user}/attachments/{safe_key_part(entry['file_id'])}.{suffix}"
            html_ok = name.lower().endswith((".html", ".htm"))
            stored = self._downloader().fetch_file(entry["download_url"], key, entry.get("file_size"), html_allowed=html_ok)
            row.update(storage_uri=stored.uri, sha256=stored.sha256, size_bytes=stored.size_bytes,
                       downloaded_at=utc_now_iso())
        return row

    @override
    def get_child_context(self, record: dict, context: Context | None) -> dict:
        """The archive's user and time span (children read the archive's files handed over with it)."""
        return {"user_id": record["user_id"], "start_time": record["start_time"], "end_time": record["end_time"]}


class _ArchiveFileStream(PayloadChild, ZoomStream):
    """A stream whose records were produced by the parent archive's downloads (no own request).

    The payload is ``{"history": record or None, "attachments": [records]}`` (``_download``).
    """

    parent_stream_type = ConversationArchivesStream
    schema = StreamSchema(SCHEMAS)
    required_scopes = ARCHIVE_SCOPES
    path = ""


class ConversationHistoriesStream(_ArchiveFileStream):
    """The AIC_CONVERSATION JSON file of each archive, stored and parsed (PK user + span)."""

    name = "conversation_histories"
    primary_keys = ("user_id", "start_time", "end_time")

    @override
    def records_from(self, payload: dict[str, t.Any], context: Context) -> t.Iterable[dict]:
        """The archive's history record, when it has one."""
        if payload.get("history"):
            yield payload["history"]


class ArchiveAttachmentsStream(_ArchiveFileStream):
    """Each ``physical_files`` entry of each archive (PK user + ``file_id``)."""

    name = "archive_attachments"
    primary_keys = ("user_id", "file_id")

    @override
    def records_from(self, payload: dict[str, t.Any], context: Context) -> t.Iterable[dict]:
        """The archive's attachments."""
        yield from payload.get("attachments", [])
