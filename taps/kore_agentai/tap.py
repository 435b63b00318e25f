"""``tap-kore-agentai``: Kore.ai Agent AI conversations and their messages.

Vendor doc: docs.kore.ai "API for Duration-Based Conversation Records".
Auth: every request carries ``auth`` (a JWT signed HS256 with the JWT app's
client secret, claim ``appId`` = client id) and ``accountId``.
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from singer_sdk import typing as th
from typing_extensions import override

from taps.common.auth import HS256JWTAuthenticator
from taps.common.tap import (
    VendorTap,
    api_url_setting,
    config_schema,
    http_settings,
    lookback_setting,
    secret_setting,
)
from taps.kore_agentai.client import KoreSettings
from taps.kore_agentai.streams import ConversationMessagesStream, ConversationsStream

DEFAULT_API_URL = "https://platform.kore.ai"


class TapKoreAgentAI(VendorTap[KoreSettings]):
    """Singer tap for Kore.ai Agent AI conversation records (with their messages)."""

    name = "tap-kore-agentai"
    package_name = "conversation-archive-taps"
    settings_class = KoreSettings

    config_jsonschema = config_schema(
        api_url_setting(DEFAULT_API_URL, "Kore.ai environment (host)"),
        th.Property("bot_id", th.StringType(nullable=False), required=True, title="Bot ID",
                    description="The bot (stream) id whose Agent AI conversations to read, e.g. st-79a76d65-...."),
        secret_setting("account_id", "Kore.ai account id, sent in the accountId header.", required=True),
        secret_setting("client_id", "Client ID (cs-...) of the JWT app mapped to the 'AgentAssist Analytics' API scope.",
                       required=True),
        secret_setting("client_secret", "Client Secret of that app; signs the HS256 JWT in the auth header.",
                       required=True),
        th.Property("start_date", th.DateTimeType(nullable=False), required=True, title="Start date",
                    description="Where the first run starts (ISO 8601, UTC if no offset); the API is read in "
                                "date windows from this day."),
        th.Property("end_date", th.DateTimeType(nullable=True), title="End date",
                    description="Last UTC day to read (ISO 8601; its day is used), default today; with "
                                "start_date, one window per run for a 7-day partition."),
        lookback_setting(2),
        th.Property("include_history", th.BooleanType(nullable=False), default=True, title="Include history",
                    description="Ask for each conversation's messages (includeHistory) and emit conversation_messages."),
        *http_settings(),
    )

    @override
    def config_errors(self) -> list[str]:
        """Problems the JSON Schema cannot catch, each naming its setting."""
        errors = []
        settings = self.settings
        url = urlsplit(settings.api_url)
        if url.scheme not in ("http", "https") or not url.netloc:
            errors.append("api_url must be an http(s) URL such as https://platform.kore.ai")
        for name in ("bot_id", "account_id", "client_id", "client_secret"):
            if not str(getattr(settings, name)).strip():
                errors.append(f"{name} must not be empty")
        start, end = settings.start_date, settings.end_date
        if start is None:
            errors.append("start_date is required: the API is queried by date windows, starting from this date")
        elif end is not None and end.date() < start.date():
            errors.append("end_date must not be before start_date")
        return errors

    @override
    def build_authenticator(self) -> HS256JWTAuthenticator:
        """``auth``: HS256 JWT with ``appId`` = client_id; ``accountId`` header on every request."""
        return HS256JWTAuthenticator(
            secret=self.settings.client_secret,
            claims={"appId": self.settings.client_id},
            header_name="auth",
            extra_headers={"accountId": self.settings.account_id},
        )

    @override
    def discover_streams(self) -> list[t.Any]:
        """``conversations`` and its child ``conversation_messages``."""
        return [ConversationsStream(self), ConversationMessagesStream(self)]
