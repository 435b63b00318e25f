"""tap-knovvu: Sestek Knovvu Daily Conversation Audio Recordings.

Auth: OAuth client credentials against the Knovvu identity server (form
``grant_type=client_credentials``, ``client_id``, ``client_secret``,
``scope=dataservice_external``; the token lives about a day).
"""

from __future__ import annotations

import typing as t
from functools import cached_property

from singer_sdk import typing as th
from typing_extensions import override

from taps.common.auth import ClientCredentialsAuthenticator
from taps.common.concurrency import concurrency_setting
from taps.common.tap import (
    VendorTap,
    api_url_setting,
    config_schema,
    http_settings,
    progress_setting,
    secret_setting,
    start_date_setting,
    token_url_setting,
)
from taps.knovvu.client import TOKEN_HINT, KnovvuSettings
from taps.knovvu.streams import (
    DailyRecordingManifestsStream,
    HourlyArchivesStream,
    KnovvuRun,
    RecordingFilesStream,
    RecordingSessionsStream,
)

SCOPE = "dataservice_external"


class TapKnovvu(VendorTap[KnovvuSettings]):
    """Knovvu daily audio recordings: every retained day's hourly ZIPs, unpacked and verified."""

    name = "tap-knovvu"
    settings_class = KnovvuSettings
    package_name = "conversation-archive-taps"
    config_jsonschema = config_schema(
        api_url_setting("https://eu.va.knovvu.com", "Knovvu"),
        token_url_setting("https://identity.eu.va.knovvu.com/connect/token", "Knovvu identity server"),
        secret_setting("client_id", "OAuth client id of an application with the dataservice_external scope.",
                       required=True),
        secret_setting("client_secret", "OAuth client secret of that application.", required=True),
        start_date_setting(),
        th.Property("end_date", th.DateTimeType(nullable=True), title="End date",
                    description="Last UTC day to fetch (ISO 8601; its day is used), default yesterday; "
                                "with start_date, one day per run for a day partition."),
        th.Property("storage_url", th.StringType(nullable=False), required=True,
                    description="Folder or fsspec URL (s3://...) where audio files are stored."),
        th.Property("keep_archives", th.BooleanType, default=False,
                    description="Also store each hourly ZIP as <day>/<hour>/archive.zip."),
        th.Property("wait_on_rate_limit", th.BooleanType, default=False,
                    description="On the 5-downloads-per-hour limit, wait and go on instead of stopping "
                                "cleanly with state saved."),
        th.Property("rate_limit_wait_seconds", th.NumberType(minimum=0, maximum=3600), default=720,
                    description="Seconds to wait on 429 when Knovvu sends no Retry-After (wait_on_rate_limit)."),
        th.Property("downloads_per_hour", th.IntegerType(minimum=0, maximum=1000), default=5,
                    description="Knovvu's documented 5 downloads per rolling hour, kept in state: applied to "
                                "manifest calls, and to ZIP downloads once Knovvu has answered 429 on one; "
                                "0 relies on the vendor's 429 alone."),
        th.Property("temp_dir", th.StringType(nullable=False),
                    description="Local folder where hourly ZIPs are staged while they download (default: "
                                ".knovvu-tmp inside a local storage_url, else the system temp folder); "
                                "leftovers of interrupted runs are removed at the next run."),
        *http_settings(),
        concurrency_setting(),
        progress_setting(),
    )

    @override
    def config_errors(self) -> list[str]:
        """Cross-field checks: URLs must be http(s), storage_url non-empty."""
        errors = []
        settings = self.settings
        for name in ("api_url", "token_url"):
            if not getattr(settings, name).startswith(("http://", "https://")):
                errors.append(f"{name} must be an http(s) URL")
        if not settings.storage_url.strip():
            errors.append("storage_url must name a folder or fsspec URL")
        start, end = settings.start_date, settings.end_date
        if start is not None and end is not None and end.date() < start.date():
            errors.append("end_date must not be before start_date")
        return errors

    @override
    def build_authenticator(self) -> ClientCredentialsAuthenticator:
        """OAuth client credentials, scope ``dataservice_external``, one token per run."""
        return self.client_credentials_authenticator(
            vendor="Knovvu",
            scope=SCOPE,
            default_expiration=86399,
            settings_hint=TOKEN_HINT.removeprefix("Check "),
        )

    @cached_property
    def run(self) -> KnovvuRun:
        """State shared by the streams during one sync."""
        return KnovvuRun()

    @override
    def discover_streams(self) -> list[t.Any]:
        """Manifests, hourly archives, recording sessions, recording files."""
        return [
            DailyRecordingManifestsStream(self),
            HourlyArchivesStream(self),
            RecordingSessionsStream(self),
            RecordingFilesStream(self),
        ]

    @override
    def sync_streams(self) -> None:
        """Sync, then summarise hour-level errors (the run still exits 0 with state saved)."""
        super().sync_streams()
        if self.run.errors:
            self.logger.error("Knovvu: %d hour(s) failed and will be retried next run: %s",
                              len(self.run.errors), " | ".join(self.run.errors))
        if self.run.stopped:
            self.logger.warning("Knovvu: run stopped early at the download limit; state saved.")
