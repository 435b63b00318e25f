"""tap-salesloft: the Tap class, its settings and its authenticator.

Auth (developers.salesloft.com, "API Key" / "OAuth - Client Credentials"):
either an API key, or an OAuth private app's client id and secret exchanged
at ``token_url`` for a 2-hour token. Both go in ``Authorization: Bearer``.
"""

from __future__ import annotations

import typing as t
from functools import cached_property

from singer_sdk import typing as th
from typing_extensions import override

from taps.common.auth import StaticBearerAuthenticator
from taps.common.concurrency import concurrency_setting
from taps.common.storage import FileStore
from taps.common.tap import (
    VendorTap,
    api_url_setting,
    config_schema,
    http_settings,
    lookback_setting,
    progress_setting,
    secret_setting,
    start_date_setting,
    token_url_setting,
)
from taps.salesloft import streams
from taps.salesloft.client import SalesloftSettings
from taps.salesloft.ratelimit import RateBudget

if t.TYPE_CHECKING:
    from taps.common.auth import TapAuthenticator

TOKEN_LIFETIME_SECONDS = 7200


class TapSalesloft(VendorTap[SalesloftSettings]):
    """Salesloft conversations, their extensive view, transcriptions, sentences and transcript files."""

    name = "tap-salesloft"
    package_name = "conversation-archive-taps"
    settings_class = SalesloftSettings

    config_jsonschema = config_schema(
        secret_setting(
            "api_key", "Salesloft API key (needs the conversations:read scope). Set this, or client_id + client_secret."
        ),
        secret_setting("client_id", "OAuth client id of a private, admin-enabled Salesloft app (client credentials)."),
        secret_setting("client_secret", "OAuth client secret of that app."),
        token_url_setting("https://accounts.salesloft.com/oauth/token", "Salesloft"),
        api_url_setting("https://api.salesloft.com", "Salesloft"),
        start_date_setting(),
        lookback_setting(1),
        th.Property(
            "rate_limit_reserve",
            th.IntegerType(minimum=0, maximum=590),
            default=60,
            description=(
                "Points of the team's 600-a-minute budget left for other integrations: "
                "the tap waits for the next minute rather than go below this. Scaled to the budget "
                "Salesloft reports (60 of 600 keeps 4 of a 40-point minute)."
            ),
        ),
        th.Property(
            "storage_url",
            th.StringType(min_length=1),
            description=(
                "Folder or fsspec URL (s3://bucket/prefix) where transcript files (transcription artifacts) are stored. "
                "Without it transcription_artifacts is skipped with a warning."
            ),
        ),
        th.Property(
            "download_files",
            th.BooleanType(),
            default=True,
            description="Download each transcription's transcript file (artifact) to storage_url.",
        ),
        *http_settings(),
        progress_setting(),
        concurrency_setting(),
    )

    @override
    def config_errors(self) -> list[str]:
        """Exactly one credential: ``api_key``, or ``client_id`` with ``client_secret``."""
        has_key = bool(self.settings.api_key)
        has_id, has_secret = bool(self.settings.client_id), bool(self.settings.client_secret)
        if has_key and (has_id or has_secret):
            return ["Set either api_key or client_id + client_secret, not both."]
        if not has_key and not (has_id or has_secret):
            return ["No Salesloft credentials: set api_key, or client_id and client_secret (OAuth client credentials)."]
        if not has_key and not has_id:
            return ["client_secret is set but client_id is missing."]
        if not has_key and not has_secret:
            return ["client_id is set but client_secret is missing."]
        return []

    @override
    def build_authenticator(self) -> TapAuthenticator:
        """Static bearer for an API key; client credentials otherwise."""
        if self.settings.api_key:
            return StaticBearerAuthenticator(self.settings.api_key)
        return self.client_credentials_authenticator(
            vendor="Salesloft",
            default_expiration=TOKEN_LIFETIME_SECONDS,
            renew_before_seconds=300,
            settings_hint="client_id and client_secret",
        )

    @cached_property
    def rate_budget(self) -> RateBudget:
        """The team's rate budget as Salesloft reports it, shared by every stream."""
        return RateBudget(reserve=self.settings.rate_limit_reserve)

    @cached_property
    def file_store(self) -> FileStore | None:
        """Where transcript files go (``storage_url``); ``None`` when not set or ``download_files`` is off."""
        if not self.settings.download_files or not self.settings.storage_url:
            return None
        return FileStore(self.settings.storage_url)

    @override
    def discover_streams(self) -> list:
        """The five Salesloft streams."""
        return [
            streams.ConversationsStream(self),
            streams.ConversationExtensiveStream(self),
            streams.TranscriptionsStream(self),
            streams.TranscriptionSentencesStream(self),
            streams.TranscriptionArtifactsStream(self),
        ]
