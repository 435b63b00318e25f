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
from taps.common.timestamps import parse_timestamp
from taps.kore_agentai.client import KoreSettings
from taps.kore_agentai.streams import ConversationMessagesStream, ConversationsStream

DEFAULT_API_URL = "https://platform.kore.ai"


class TapKoreAgentAI(VendorTap):
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
        url = urlsplit(str(self.config.get("api_url", "")))
        if url.scheme not in ("http", "https") or not url.netloc:
            errors.append("api_url must be an http(s) URL such as https://platform.kore.ai")
        for name in ("bot_id", "account_id", "client_id", "client_secret"):
            if not str(self.config.get(name) or "").strip():
                errors.append(f"{name} must not be empty")
        start = self.config.get("start_date")
        if not start:
            errors.append("start_date is required: the API is queried by date windows, starting from this date")
        else:
            try:
                parse_timestamp(str(start))
            except ValueError:
                errors.append("start_date must be an ISO 8601 date-time, e.g. 2025-10-01T00:00:00Z")
        end = self.config.get("end_date")
        if start and end:
            try:
                if parse_timestamp(str(end)).date() < parse_timestamp(str(start)).date():
                    errors.append("end_date must not be before start_date")
            except ValueError:
                errors.append("end_date must be an ISO 8601 date-time, e.g. 2025-10-07T23:59:59Z")
        return errors

    @override
    def build_authenticator(self) -> HS256JWTAuthenticator:
        """``auth``: HS256 JWT with ``appId`` = client_id; ``accountId`` header on every request."""
        return HS256JWTAuthenticator(
            secret=self.config["client_secret"],
            claims={"appId": self.config["client_id"]},
            header_name="auth",
            extra_headers={"accountId": self.config["account_id"]},
        )

    @override
    def discover_streams(self) -> list[t.Any]:
        """``conversations`` and its child ``conversation_messages``."""
        return [ConversationsStream(self), ConversationMessagesStream(self)]
