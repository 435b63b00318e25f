"""``tap-zoom-aic``: Zoom AI Companion conversation archives, with their files.

Auth is Zoom Server-to-Server OAuth: ``POST {token_url}?grant_type=
account_credentials&account_id=...`` with HTTP Basic ``client_id:client_secret``;
one token per process (3600 s, renewed 5 minutes early, re-minted once on a
401 code 124). Scopes the app needs: ``user:read:admin`` and
``aic_archive:read:admin`` (granular: ``user:read:list_users:admin``,
``user:read:user:admin``, ``aic:read:conversation_archives:admin``).
"""

from __future__ import annotations

import typing as t
from functools import cached_property
from urllib.parse import urlsplit

from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from taps.common.auth import ClientCredentialsAuthenticator
from taps.common.concurrency import concurrency_setting
from taps.common.storage import FileStore
from taps.common.summary import Gap
from taps.common.tap import (
    VendorTap,
    api_url_setting,
    config_schema,
    http_settings,
    lookback_setting,
    progress_setting,
    secret_setting,
    token_url_setting,
)
from taps.zoom_aic.client import DailyLimitReached, ZoomSettings
from taps.zoom_aic.streams import (
    ArchiveAttachmentsStream,
    ConversationArchivesStream,
    ConversationHistoriesStream,
    UsersStream,
)

USER_STATUSES = ["active", "inactive", "pending"]
MAX_PAGE_SIZE = 2000  # GET /users page_size maximum in Zoom's current spec


class TapZoomAIC(VendorTap[ZoomSettings]):
    """Zoom AI Companion conversation archives (users, archives, histories, attachments)."""

    name = "tap-zoom-aic"
    package_name = "conversation-archive-taps"
    settings_class = ZoomSettings

    config_jsonschema = config_schema(
        secret_setting("account_id", "Zoom account ID of the Server-to-Server OAuth app.", required=True),
        secret_setting("client_id", "Client ID of the Server-to-Server OAuth app.", required=True),
        secret_setting("client_secret", "Client secret of the Server-to-Server OAuth app.", required=True),
        token_url_setting("https://zoom.us/oauth/token", "Zoom"),
        api_url_setting("https://api.zoom.us/v2", "Zoom"),
        th.Property(
            "start_date",
            th.DateTimeType(nullable=False),
            required=True,
            title="Start date",
            description="Earliest date-time whose archives are read on the first run (ISO 8601, UTC if no offset).",
        ),
        th.Property(
            "end_date",
            th.DateTimeType(nullable=True),
            description="Last date-time to extract (ISO 8601, UTC if no offset); default: now. For backfills.",
        ),
        lookback_setting(0),
        th.Property(
            "user_statuses",
            th.ArrayType(th.StringType(allowed_values=USER_STATUSES)),
            default=["active", "inactive"],
            description="User statuses listed with GET /users, one listing each (inactive = deactivated staff).",
        ),
        th.Property(
            "user_ids",
            th.ArrayType(th.StringType(min_length=1)),
            description="Only these users (Zoom user IDs or emails), looked up one by one instead of listing everyone.",
        ),
        th.Property(
            "user_shards",
            th.IntegerType(minimum=1),
            description="Split the users into this many shards (sha256 of the user id modulo user_shards); "
                        "this run reads only shard user_shard. For parallel runs, one per shard.",
        ),
        th.Property(
            "user_shard",
            th.IntegerType(minimum=0),
            description="Which shard (0 to user_shards - 1) this run reads; needs user_shards.",
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=MAX_PAGE_SIZE),
            default=MAX_PAGE_SIZE,
            description=f"Users per GET /users page (Zoom maximum {MAX_PAGE_SIZE}).",
        ),
        th.Property(
            "storage_url",
            th.StringType(min_length=1),
            required=True,
            description="Folder or fsspec URL (s3://bucket/prefix) where history JSON files and attachments are stored.",
        ),
        th.Property(
            "download_files",
            th.BooleanType(),
            default=True,
            description=(
                "Download attachments (physical_files) to storage_url. "
                "History files are downloaded whenever conversation_histories is selected."
            ),
        ),
        *http_settings(),
        progress_setting(),
        concurrency_setting(),
    )

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Validate the config (see ``config_errors``) and start with no file failures."""
        self.file_failures: list[str] = []
        super().__init__(*args, **kwargs)

    @override
    def config_errors(self) -> list[str]:
        """Cross-field checks, each naming its setting."""
        errors = []
        settings = self.settings
        for setting in ("api_url", "token_url"):
            value = getattr(settings, setting)
            if value and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname):
                errors.append(f"{setting} must be an http(s) URL")
        if settings.start_date is None:
            errors.append("start_date is required: the first date-time whose AI Companion archives are read")
        elif settings.end_date is not None and settings.end_date < settings.start_date:
            errors.append("end_date must not be before start_date")
        shard, shards = settings.user_shard, settings.user_shards
        if shard is not None and not shards:
            errors.append("user_shard needs user_shards (the number of shards)")
        elif shards and shard is None:
            errors.append("user_shards needs user_shard (which shard this run reads, 0 to user_shards - 1)")
        elif shards and shard is not None and not 0 <= shard < shards:
            errors.append(f"user_shard must be between 0 and user_shards - 1 ({shards - 1})")
        if not settings.user_statuses and not settings.user_ids:
            errors.append("user_statuses must name at least one status (active, inactive, pending)")
        return errors

    @override
    def build_authenticator(self) -> ClientCredentialsAuthenticator:
        """Zoom Server-to-Server OAuth (``account_credentials`` grant, HTTP Basic client auth)."""
        return self.client_credentials_authenticator(
            vendor="Zoom",
            grant_type="account_credentials",
            query={"grant_type": "account_credentials", "account_id": self.settings.account_id},
            basic_auth=True,
            settings_hint="account_id, client_id and client_secret",
        )

    @cached_property
    def file_store(self) -> FileStore:
        """Where downloaded files go (``storage_url``)."""
        return FileStore(self.settings.storage_url)

    @override
    def discover_streams(self) -> list:
        """users, conversation_archives, conversation_histories, archive_attachments."""
        return [
            UsersStream(self),
            ConversationArchivesStream(self),
            ConversationHistoriesStream(self),
            ArchiveAttachmentsStream(self),
        ]

    @override
    def sync_streams(self) -> None:
        """Sync every stream; stop cleanly with state saved when Zoom's daily quota
        runs out; fail at the end (state already written) if any file did not download.

        Raises:
            FatalAPIError: one or more files could not be downloaded intact.
        """
        try:
            super().sync_streams()
        except DailyLimitReached as exc:
            for stream in self.streams.values():
                stream.finalize_state_progress_markers()
            self.state_writer.write_state(self.state)
            self.logger.warning("Stopping: %s. State is saved; the next run resumes where this one stopped.", exc)
            self.run_summary.tally("conversation_archives").gaps.append(
                Gap("the rest of this run", "quota", f"{exc}; the next run resumes"))
        if self.file_failures:
            listed = "; ".join(self.file_failures[:20])
            msg = (
                f"{len(self.file_failures)} Zoom archive file(s) did not download intact; their archives "
                f"were not bookmarked and will be retried next run: {listed}"
            )
            raise FatalAPIError(msg)
