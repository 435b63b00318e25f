"""Knovvu streams: daily manifests -> hourly archives -> recording sessions and files.

Flow per run (``progress.py`` holds the state shape): for each UTC day to
fetch, oldest first, ONE manifest call; for each hour of it not done yet, the
ZIP is downloaded (presigned, no auth header), unpacked to storage, and the
hour's records are emitted (archive, then its sessions and files); only then
is the hour marked done and a STATE message written. The hours' downloads run
ahead in the tap's pool (``max_concurrency``, see ``HourlyArchivesStream``);
they are emitted in hour order all the same. singer-sdk syncs a
parent record's children before writing the parent record, so the manifest
record of a day follows its hours.

On the vendor's 429 (or the proactive 5-per-hour budget on manifest calls, and
on ZIP GETs once the vendor has 429'd one: see ``DownloadBudget``) the run
stops cleanly with state saved, or waits when ``wait_on_rate_limit`` is on. An expired presigned link
(401 "download link has expired") triggers one fresh manifest call for the
day. A corrupt archive is logged as an error; its hour stays undone and is
retried next run. 404 days (past retention) are reported loudly as lost.
"""

from __future__ import annotations

import functools
import threading
import time
import typing as t
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from singer_sdk import Stream, StreamSchema
from typing_extensions import override

from taps.common.auth import ClientCredentialsAuthenticator
from taps.common.client import VendorAPIError
from taps.common.concurrency import FanOut, Job, Key, RequestGate, context_key, fan_out_of
from taps.common.handoff import PayloadChild, PayloadParent
from taps.common.progress import progress_for
from taps.common.redact import strip_query
from taps.common.schemas import schema_directory
from taps.common.sdk_compat import tap_of, write_state_now
from taps.common.storage import FileStore
from taps.common.summary import count_responses, report_gap, tally_for
from taps.common.timestamps import utc_now
from taps.knovvu.archive import (
    ArchiveError,
    ArchiveFetcher,
    LinkExpired,
    StoredArchive,
    fetch_archive,
    temp_folder,
)
from taps.knovvu.client import DayOutOfRetention, KnovvuSettings, KnovvuStream, RateLimited
from taps.knovvu.progress import DownloadBudget, Progress, plan_days

if t.TYPE_CHECKING:
    from concurrent.futures import Future

    from singer_sdk.helpers import types

    from taps.common.tap import VendorTap

SCHEMAS = schema_directory("knovvu")
MANIFEST_PATH = "/api/external/conversations/daily-audio-recordings/{utcDay}"
MAX_RATE_LIMIT_WAITS = 48



@dataclass
class KnovvuRun:
    """What one run shares between its streams.

    Attributes:
        manifests: day -> the manifest being worked on.
        day_ok: day -> whether every hour of it is done (set by ``hourly_archives``).
        stopped: why the run stopped early (rate limit), or ``""``.
        errors: hour-level errors (corrupt archive, size mismatch ...).
        lost_days: days the API answered 404 for.
    """

    manifests: dict[str, dict] = field(default_factory=dict)
    day_ok: dict[str, bool] = field(default_factory=dict)
    stopped: str = ""
    errors: list[str] = field(default_factory=list)
    lost_days: list[str] = field(default_factory=list)


class _StateMixin(Stream):
    def flush_state(self) -> None:
        """Write a STATE message now (progress and the download budget are stored in the manifests bookmark)."""
        self.manifest_stream.budget.save()
        write_state_now(self)

    @property
    def settings(self) -> KnovvuSettings:
        """The tap's typed settings."""
        return t.cast("KnovvuSettings", t.cast("VendorTap", tap_of(self)).settings)

    @property
    def run(self) -> KnovvuRun:
        """The run shared by every stream of this tap."""
        return tap_of(self).run  # type: ignore[attr-defined]

    @property
    def manifest_stream(self) -> DailyRecordingManifestsStream:
        """The ``daily_recording_manifests`` stream instance (owner of the state)."""
        return t.cast("DailyRecordingManifestsStream", tap_of(self).streams["daily_recording_manifests"])


class DailyRecordingManifestsStream(_StateMixin, KnovvuStream):
    """One record per UTC day: ``GET /api/external/conversations/daily-audio-recordings/{utcDay}``.

    Replication key ``date`` (``YYYY-MM-DD``); see ``progress.py`` for the state.
    """

    name = "daily_recording_manifests"
    path = MANIFEST_PATH
    primary_keys = ("date",)
    replication_key = "date"
    is_sorted = True
    check_sorted = False  # an unfinished older day may be retried after newer ones
    records_jsonpath = "$"
    schema = StreamSchema(SCHEMAS)

    @cached_property
    def progress(self) -> Progress:
        """Day/hour progress in this stream's bookmark."""
        return Progress(self.stream_state)

    @cached_property
    def budget(self) -> DownloadBudget:
        """The proactive download budget, persisted in this stream's bookmark."""
        return DownloadBudget(self.stream_state, self.settings.downloads_per_hour,
                              wait=self.settings.wait_on_rate_limit)

    def fetch_manifest(self, day: str) -> dict:
        """One manifest call for ``day``; in wait mode a 429 is waited out.

        Raises:
            DayOutOfRetention: 404.
            RateLimited: 429 and ``wait_on_rate_limit`` is off.
            VendorAPIError: 400/403 and other refusals.
        """
        for attempt in range(MAX_RATE_LIMIT_WAITS + 1):
            try:
                self.budget.acquire_manifest()  # waits by itself in wait mode
                try:
                    return next(iter(self.request_records({"utcDay": day})))
                except (DayOutOfRetention, RateLimited, VendorAPIError):
                    self.budget.refund_manifest()
                    raise
            except RateLimited as exc:
                if not self.settings.wait_on_rate_limit or attempt == MAX_RATE_LIMIT_WAITS:
                    raise
                wait_on(self, exc)
        raise AssertionError  # pragma: no cover

    @override
    def get_records(self, context: types.Context | None) -> t.Iterable[dict]:
        """Manifests for each day to fetch, oldest first; children download the hours."""
        start, end = self.settings.start_date, self.settings.end_date
        start_day = start.date() if start else None
        end_day = end.date() if end else None
        # Knovvu's day, not the machine's (a day asked before Knovvu closed it is refused or partial):
        # when there is something to ask and Knovvu has not answered yet, its token answer's Date tells it.
        plan = plan_days(self.progress, start_day, self.vendor_clock.safe_today(), end_day)
        if plan.days and not self.vendor_clock.known and isinstance(self.authenticator, ClientCredentialsAuthenticator):
            self.authenticator.ensure_token()
            plan = plan_days(self.progress, start_day, self.vendor_clock.safe_today(), end_day)
        if plan.beyond_retention:
            first, last = plan.beyond_retention
            self.logger.warning(
                "LOST RECORDINGS: Knovvu keeps audio at most 7 days, so the days %s to %s can no longer be "
                "fetched and are skipped. Run the tap at least daily to stay inside retention.", first, last)
            report_gap(self, f"{first}..{last}", "retention", "older than the 7 days any Knovvu tenant keeps")
            self.flush_state()
        for day in plan.days:
            if self.run.stopped:
                break
            try:
                manifest = self.fetch_manifest(day)
            except DayOutOfRetention:
                self.run.lost_days.append(day)
                self.progress.lost_day(day)
                self.flush_state()
                continue
            except RateLimited as exc:
                self.stop_run(exc)
                break
            self.run.manifests[day] = manifest
            record = {k: v for k, v in manifest.items() if k != "links"}
            record["date"] = record.get("date") or day
            record["hour_count"] = len(manifest.get("links") or [])
            yield record  # children (hours) run first; we resume once the record is written
            self.finish_day(day)
        self.report_lost()

    def finish_day(self, day: str) -> None:
        """Update the bookmark once ``day``'s record and children were emitted."""
        ok = self.run.day_ok.pop(day, None)
        self.run.manifests.pop(day, None)
        if ok is None:
            self.logger.warning("hourly_archives and its children are not selected: no recordings are "
                                "downloaded and %s stays unfinished", day)
            return
        self.progress.finish_day(day, complete=ok)
        self.stream_state["replication_key_value"] = self.progress.watermark  # the SDK set the record's date
        self.flush_state()

    def stop_run(self, exc: RateLimited) -> None:
        """End the run early and cleanly (state is saved as it stands)."""
        self.run.stopped = exc.message
        when = ("" if exc.wait_seconds is None else
                f"; {'Knovvu asks to wait' if exc.by_vendor else 'the hourly budget frees a slot in'} "
                f"{exc.wait_seconds:.0f} s: run again after "
                f"{(utc_now() + timedelta(seconds=exc.wait_seconds)).strftime('%Y-%m-%dT%H:%M:%SZ')}")
        self.logger.warning(
            "Knovvu download limit reached (%s%s). Stopping cleanly with state saved; the next run resumes at the "
            "next hour not yet downloaded. Set wait_on_rate_limit: true to wait instead.", exc.message, when)
        report_gap(self, "hours not yet downloaded", "quota", f"{exc.message}; the next run resumes")

    def report_lost(self) -> None:
        """Say loudly which days the API no longer holds."""
        if self.run.lost_days:
            self.logger.warning(
                "LOST RECORDINGS: Knovvu answered 404 (older than the tenant's retention period) for %s; "
                "these days' recordings cannot be retrieved any more. Run the tap at least daily.",
                ", ".join(self.run.lost_days))
            report_gap(self, ", ".join(self.run.lost_days), "retention",
                       "Knovvu answered 404: older than the tenant's retention period")


def rate_limit_wait(stream: _StateMixin, exc: RateLimited) -> float:
    """Seconds to wait on ``exc`` (the vendor's ``Retry-After``, else ``rate_limit_wait_seconds``), logged once."""
    seconds = exc.wait_seconds if exc.wait_seconds is not None else stream.settings.rate_limit_wait_seconds
    stream.logger.warning("Knovvu download limit reached; waiting %.0f s (wait_on_rate_limit is on)", seconds)
    return seconds


def wait_on(stream: _StateMixin, exc: RateLimited) -> None:
    """Sleep as the vendor asked, else ``rate_limit_wait_seconds`` (the main thread's manifest calls)."""
    time.sleep(rate_limit_wait(stream, exc))


@dataclass
class DayLinks:
    """The links of a day's latest manifest, read by the download workers.

    ``generation`` is 0 for the manifest the day started with and grows by one
    with each renewal (main thread only), so an expired link tells whether a
    newer manifest has already been fetched since it was read.
    """

    manifest: dict
    generation: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def current(self, hour: str) -> tuple[dict, int]:
        """The hour's link in the latest manifest and that manifest's generation."""
        with self._lock:
            manifest, generation = self.manifest, self.generation
        link: dict = next((x for x in manifest.get("links") or [] if str(x.get("hour")) == hour), {})
        return link, generation

    def renew(self, manifest: dict) -> None:
        """A fresh manifest for the day (after a link expired)."""
        with self._lock:
            self.manifest = manifest
            self.generation += 1


@dataclass(frozen=True)
class ExpiredLink:
    """An hour's download met an expired presigned link (the main thread renews the manifest).

    Attributes:
        message: what the vendor said (no URL query).
        generation: the ``DayLinks.generation`` of the link that expired.
    """

    message: str
    generation: int


class HourlyArchivesStream(_StateMixin, PayloadParent):
    """One record per manifest link (day + hour); available hours are downloaded and unpacked.

    Primary key ``(date, hour)``. ``url`` is recorded without its query string.

    Concurrency (``max_concurrency``, the tap's ``FanOut`` pool): a day's
    available hours download and unpack ahead in the pool (``download_hour``:
    ZIP streamed to a temporary file, audio written into storage with sha256),
    while this stream emits them strictly in hour order, so records and STATE
    are the same as a serial run's and an hour is marked done only after its
    records were emitted. Every worker shares one download budget
    (``DownloadBudget``, under a lock) and one gate (``zip_gate``): a 429 on one
    ZIP holds every worker for the vendor's wait (``wait_on_rate_limit``) or
    closes the gate so no worker sends another GET (the run then stops after
    emitting the hours already downloaded). An expired link is renewed by the
    main thread only (one manifest call), and the hours whose links expired
    are fetched again with the fresh links.
    """

    name = "hourly_archives"
    parent_stream_type = DailyRecordingManifestsStream
    state_partitioning_keys: t.ClassVar[list[str]] = []
    primary_keys = ("date", "hour")
    schema = StreamSchema(SCHEMAS)

    @cached_property
    def store(self) -> FileStore:
        """Where audio files go (``storage_url``)."""
        return FileStore(self.settings.storage_url)

    @cached_property
    def temp_dir(self) -> str:
        """Folder where ZIPs are staged (setting ``temp_dir``, else beside storage); cleaned at start."""
        return temp_folder(self.store, self.settings.temp_dir)

    @cached_property
    def fetcher(self) -> ArchiveFetcher:
        """Presigned downloads: a plain session without the bearer token, shared by the workers."""
        tally = tally_for(self)

        def count_retry() -> None:
            tally.count(retries=1)

        fetcher = ArchiveFetcher(timeout=self.settings.request_timeout,
                                 max_retries=self.settings.max_retries,
                                 retry_base_seconds=self.settings.retry_base_seconds,
                                 on_retry=count_retry, connections=self.fan_out.max_workers)
        count_responses(fetcher.session, tally)
        return fetcher

    @cached_property
    def zip_gate(self) -> RequestGate:
        """One pause (a ZIP 429's wait) and one stop (the limit reached) for every download worker."""
        return RequestGate()

    @property
    def fan_out(self) -> FanOut:
        """The tap's pool (setting ``max_concurrency``)."""
        return fan_out_of(self)

    @override
    def get_records(self, context: types.Context | None) -> t.Iterable[dict]:
        """Each link of the day not done yet, in hour order; an available hour is stored before its record
        is yielded (downloads run ahead in the tap's pool, see the class docstring)."""
        assert context is not None  # noqa: S101 - always a child of a manifest
        day = context["date"]
        progress = self.manifest_stream.progress
        done = progress.hours_done(day)
        links = DayLinks(self.run.manifests[day])
        listed = sorted(str(link.get("hour")) for link in links.manifest.get("links") or [])
        if len(listed) < 24:  # noqa: PLR2004
            self.logger.info("Knovvu manifest for %s lists %d of 24 hours: %s", day, len(listed), ", ".join(listed))
        ok = True
        todo = [hour for hour in listed if hour not in done]
        for hour in self.fan_out.ahead(todo, functools.partial(self._plan, day, links)):
            future = self.fan_out.take(self._job_key(day, hour))
            if self.run.stopped and (future is None or future.cancel()):
                ok = False  # nothing downloaded for it before the stop: left for the next run
                continue
            link, _ = links.current(hour)
            status = link.get("status")
            stored = None
            if status == "available" and link.get("url"):
                try:
                    stored = self.resolve(day, hour, links, future)
                except RateLimited as exc:
                    if not self.run.stopped:
                        self.manifest_stream.stop_run(exc)
                    ok = False
                    continue
                except ArchiveError as exc:
                    self.logger.error("%s. The hour is not marked done and is retried next run.", exc)  # noqa: TRY400
                    self.run.errors.append(str(exc))
                    report_gap(self, f"hour {day} {hour}", "error", f"{exc}; retried next run")
                    ok = False
                    continue
                if stored is None:  # the link expired and the run has stopped: no renewal now
                    ok = False
                    continue
                link, _ = links.current(hour)
            elif status != "no_data":
                self.logger.warning("Knovvu hour %s %s has status %r; it is retried next run", day, hour, status)
                report_gap(self, f"hour {day} {hour}", "error", f"status {status!r}; retried next run")
                ok = False
                continue
            record = self.base_record(day, link)
            if stored is not None:
                record.update(self.stored_fields(day, hour, stored))
            with self.hand_to_children({"date": day, "hour": hour}, stored):  # the unpacked archive, if any
                yield record
            progress.mark_hour(day, hour)
            self.flush_state()
        self.run.day_ok[day] = ok

    def _job_key(self, day: str, hour: str) -> Key:
        return context_key(self.name, {"date": day, "hour": hour})

    def _plan(self, day: str, links: DayLinks, hour: str) -> list[Job]:
        """The hour's download, to run ahead in the pool (none when the hour has nothing to download
        or the run is stopping)."""
        link, _ = links.current(hour)
        if self.run.stopped or self.zip_gate.closed or link.get("status") != "available" or not link.get("url"):
            return []
        return [(self._job_key(day, hour), functools.partial(self.download_hour, day, hour, links))]

    def resolve(self, day: str, hour: str, links: DayLinks, future: Future[t.Any] | None) -> StoredArchive | None:
        """The hour's stored archive (main thread): the pool's result, else downloaded now; an expired
        link renews the day's manifest once (unless a newer one came since) and is tried again.

        Returns:
            The archive, or ``None`` when the link expired after the run stopped (no manifest call then).

        Raises:
            RateLimited: budget spent or 429, and ``wait_on_rate_limit`` is off.
            ArchiveError: the hour failed, or its link expired again after a fresh manifest.
        """
        outcome = future.result() if future is not None else self.download_hour(day, hour, links)
        if not isinstance(outcome, ExpiredLink):
            return outcome
        if self.run.stopped:
            return None
        if outcome.generation == links.generation:
            self.logger.info("%s; requesting a fresh manifest for %s", outcome.message, day)
            manifest = self.manifest_stream.fetch_manifest(day)
            self.run.manifests[day] = manifest
            links.renew(manifest)
        again = self.download_hour(day, hour, links)
        if isinstance(again, ExpiredLink):
            msg = f"{again.message}, again right after a fresh manifest; giving up on this hour for this run"
            raise ArchiveError(msg)
        return again

    def stored_fields(self, day: str, hour: str, stored: StoredArchive) -> dict:
        """``archive_fields`` of a downloaded hour, after naming its refused entries (``report_refused``)."""
        if stored.refused:
            self.report_refused(day, hour, stored.refused)
        return self.archive_fields(stored)

    def report_refused(self, day: str, hour: str, names: list[str]) -> None:
        """Name, loudly, the ZIP entries of an hour that were refused as unsafe (zip slip: an absolute
        path or ``..``): they are never written, so they are lost to the archive; the hour's other
        recordings are stored and the hour is done (its record lists them in ``refused_entries``)."""
        listed = ", ".join(names)
        self.logger.warning("LOST RECORDINGS: Knovvu hour %s %s: %d ZIP entries refused as unsafe paths and not "
                            "stored: %s. Ask Knovvu support for these recordings.", day, hour, len(names), listed)
        report_gap(self, f"hour {day} {hour} entries {listed}", "error", "unsafe ZIP entry paths (zip slip), not stored")

    @staticmethod
    def base_record(day: str, link: dict) -> dict:
        """The link's fields; ``url`` without its query (the signature is a credential)."""
        return {
            "date": day,
            "hour": str(link.get("hour")),
            "status": link.get("status"),
            "url": strip_query(link.get("url")),
            "sessionCount": link.get("sessionCount"),
            "fileCount": link.get("fileCount"),
            "sizeBytes": link.get("sizeBytes"),
        }

    @staticmethod
    def archive_fields(stored: StoredArchive) -> dict:
        """What we add for a downloaded hour."""
        return {
            "storage_uri": stored.storage_uri,
            "sha256": stored.sha256,
            "size_bytes": stored.size_bytes,
            "downloaded_at": utc_now().isoformat(),
            "metadata_generated_at": stored.metadata.get("generatedAt"),
            "metadata_total_sessions": stored.metadata.get("totalSessions"),
            "refused_entries": stored.refused,
        }

    def download_hour(self, day: str, hour: str, links: DayLinks) -> StoredArchive | ExpiredLink:
        """Download and unpack one hour with its latest link (any thread: a pool worker or the main one).

        A 429 in wait mode holds ``zip_gate`` for the vendor's wait (every worker pauses) and tries again;
        otherwise it closes the gate (no worker sends another GET) and raises.

        Returns:
            The stored archive, or ``ExpiredLink`` (the main thread renews the manifest).

        Raises:
            RateLimited: budget spent, 429 or the gate closed, and ``wait_on_rate_limit`` is off.
            ArchiveError: the hour failed (refused, wrong size, corrupt, no longer available).
        """
        waits = 0
        while True:
            link, generation = links.current(hour)
            if link.get("status") != "available" or not link.get("url"):
                msg = f"Knovvu hour {day} {hour} is no longer available (status {link.get('status')!r})"
                raise ArchiveError(msg)
            try:
                return fetch_archive(self.fetcher, self.store, day=day, hour=hour, url=link["url"],
                                     expected_size=link.get("sizeBytes"),
                                     keep_archive=self.settings.keep_archives,
                                     before_request=self.before_zip_request,
                                     temp_dir=self.temp_dir,
                                     on_progress=progress_for(f"Knovvu {day} hour {hour} archive", self.logger,
                                                              self.settings))
            except LinkExpired as exc:
                return ExpiredLink(str(exc), generation)
            except RateLimited as exc:
                waits += 1
                self.zip_rate_limited(exc, waits)

    def before_zip_request(self) -> None:
        """Before every ZIP GET, in any worker: wait at the shared gate, then take a budget slot.

        Raises:
            RateLimited: the gate is closed (the run is stopping) or the budget is spent (no wait mode).
        """
        self.zip_gate.wait()
        self.manifest_stream.budget.acquire_zip()

    def zip_rate_limited(self, exc: RateLimited, waits: int) -> None:
        """A ZIP GET met the limit (the vendor's 429 or our budget): learn it, then hold or close the gate.

        Raises:
            RateLimited: ``exc``, when the run stops (``wait_on_rate_limit`` off, or waited too often).
        """
        budget = self.manifest_stream.budget
        if exc.by_vendor and budget.learn_zip_limit():
            self.logger.warning("Knovvu answered 429 on a ZIP download: ZIP downloads count toward its "
                                "hourly limit; pacing them too from now on (kept in state)")
        if not self.settings.wait_on_rate_limit or waits > MAX_RATE_LIMIT_WAITS:
            self.zip_gate.close(RateLimited(exc.message, exc.wait_seconds, by_vendor=exc.by_vendor))
            raise exc
        self.zip_gate.hold(rate_limit_wait(self, exc))  # every worker waits, not only this one

    @override
    def generate_child_contexts(self, record: dict, context: types.Context | None) -> t.Iterable[dict]:
        """Sessions and files exist only for downloaded hours."""
        child_context = {"date": record["date"], "hour": record["hour"]}
        if self.handing_to(child_context):
            yield child_context


class RecordingSessionsStream(_StateMixin, PayloadChild):
    """One record per session in an hour's ``metadata.json``. Primary key ``(date, hour, sessionId)``."""

    name = "recording_sessions"
    parent_stream_type = HourlyArchivesStream
    primary_keys = ("date", "hour", "sessionId")
    schema = StreamSchema(SCHEMAS)

    @override
    def records_from(self, payload: StoredArchive, context: types.Context) -> t.Iterable[dict]:
        """Sessions of the archive just unpacked (handed over by ``hourly_archives``)."""
        stored = payload
        for session in stored.metadata.get("sessions") or []:
            yield {
                "date": context["date"],
                "hour": context["hour"],
                "externalConversationId": session.get("externalConversationId"),
                "sessionId": session.get("sessionId"),
                "file_count": len(session.get("files") or []),
            }


class RecordingFilesStream(_StateMixin, PayloadChild):
    """One record per audio file listed in ``metadata.json``, with where it was stored.

    Primary key ``(sessionId, messageId, type)``: stable vendor identifiers
    (``fileName`` is ``message_<messageId>_<type>.opus``). ``storage_uri`` is
    null when the archive held no safe entry for a listed file.
    """

    name = "recording_files"
    parent_stream_type = HourlyArchivesStream
    primary_keys = ("sessionId", "messageId", "type")
    schema = StreamSchema(SCHEMAS)

    @override
    def records_from(self, payload: StoredArchive, context: types.Context) -> t.Iterable[dict]:
        """Files of the archive just unpacked (handed over by ``hourly_archives``)."""
        stored = payload
        for session in stored.metadata.get("sessions") or []:
            for meta in session.get("files") or []:
                where = stored.files.get((str(session.get("sessionId")), str(meta.get("fileName")))) or {}
                yield {
                    "date": context["date"],
                    "hour": context["hour"],
                    "externalConversationId": session.get("externalConversationId"),
                    "sessionId": session.get("sessionId"),
                    **{k: meta.get(k) for k in ("fileName", "originalPath", "messageId", "type",
                                                "timestamp", "originalSizeBytes")},
                    "archive_path": where.get("archive_path"),
                    "storage_uri": where.get("storage_uri"),
                    "storage_key": where.get("storage_key"),
                    "sha256": where.get("sha256"),
                    "size_bytes": where.get("size_bytes"),
                }
