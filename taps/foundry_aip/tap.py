"""``tap-foundry-aip``: Palantir Foundry AIP Agents sessions and their exchanges.

Auth: a bearer ``token`` (a user token), or OAuth2 client credentials
(``client_id``, ``client_secret``) at ``token_url`` (default
``{api_url}/multipass/api/oauth2/token``) with scope ``api:aip-agents-read``:
one token per process, renewed before expiry, re-minted once on 401.
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from singer_sdk import typing as th
from typing_extensions import override

from taps.common.auth import StaticBearerAuthenticator
from taps.common.concurrency import concurrency_setting
from taps.common.tap import (
    VendorTap,
    api_url_setting,
    config_schema,
    http_settings,
    lookback_setting,
    secret_setting,
    start_date_setting,
)
from taps.foundry_aip.client import READ_SCOPE, FoundrySettings
from taps.foundry_aip.streams import SessionExchangesStream, SessionsStream

if t.TYPE_CHECKING:
    from taps.common.auth import TapAuthenticator

VENDOR = "Palantir Foundry"
TOKEN_PATH = "/multipass/api/oauth2/token"  # noqa: S105 - a URL path, not a password
MAX_PAGE_SIZE = 100


class TapFoundryAIP(VendorTap[FoundrySettings]):
    """Singer tap for Palantir Foundry AIP Agents sessions (preview API)."""

    name = "tap-foundry-aip"
    package_name = "conversation-archive-taps"
    settings_class = FoundrySettings

    config_jsonschema = config_schema(
        api_url_setting(None, VENDOR),
        th.Property(
            "agent_rids",
            th.ArrayType(th.StringType(nullable=False)),
            required=True,
            title="Agent RIDs",
            description="RIDs of the AIP Agents whose sessions to extract (Foundry has no list-agents endpoint).",
        ),
        secret_setting("token", "Foundry user token (Bearer). Set this, or client_id and client_secret."),
        secret_setting("client_id", "OAuth2 client id of the application that creates the sessions."),
        secret_setting("client_secret", "OAuth2 client secret of that application."),
        th.Property(
            "token_url",
            th.StringType(nullable=False),
            title="Token URL",
            description="Foundry OAuth2 token endpoint; default {api_url}/multipass/api/oauth2/token.",
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=MAX_PAGE_SIZE),
            default=MAX_PAGE_SIZE,
            description="Sessions per List Sessions page (1-100).",
        ),
        start_date_setting(),
        lookback_setting(1),
        *http_settings(),
        concurrency_setting(),
    )

    @override
    def config_errors(self) -> list[str]:
        """Cross-field checks: one auth mode, a usable api_url, non-empty agent_rids."""
        errors = []
        settings = self.settings
        has_token = bool(settings.token)
        has_client = bool(settings.client_id) or bool(settings.client_secret)
        if has_token and has_client:
            errors.append("Set either token or client_id + client_secret, not both.")
        elif not has_token and not (settings.client_id and settings.client_secret):
            errors.append("Set token, or both client_id and client_secret.")
        for setting in ("api_url", "token_url"):
            value = getattr(settings, setting)
            if value and (urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).netloc):
                errors.append(f"{setting} must be an http(s) URL such as https://example.palantirfoundry.com.")
        rids = settings.agent_rids
        if not rids:
            errors.append("agent_rids must list at least one agent RID.")
        bad = [r for r in rids if not r.startswith("ri.") or "/" in r]
        if bad:
            errors.append(f"agent_rids has values that are not Foundry RIDs (ri.…): {', '.join(bad[:3])}.")
        return errors

    @override
    def build_authenticator(self) -> TapAuthenticator:
        """``StaticBearerAuthenticator`` for ``token``, else client credentials with
        scope ``api:aip-agents-read`` at ``token_url`` (default ``{api_url}`` + ``TOKEN_PATH``)."""
        if self.settings.token:
            return StaticBearerAuthenticator(self.settings.token)
        token_url = self.settings.token_url or self.settings.api_url.rstrip("/") + TOKEN_PATH
        return self.client_credentials_authenticator(
            token_url=token_url,
            vendor=VENDOR,
            scope=READ_SCOPE,
            renew_before_seconds=60,
            settings_hint="client_id and client_secret",
        )

    @override
    def discover_streams(self) -> list:
        """``sessions`` and its child ``session_exchanges``."""
        return [SessionsStream(self), SessionExchangesStream(self)]
