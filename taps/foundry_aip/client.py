"""The Foundry client stream: preview mode, Foundry error bodies and hints.

Foundry answers errors as ``{"errorCode", "errorName", "errorInstanceId",
"parameters"}`` (palantir.com/docs/foundry/api/general/overview/errors). Every
message this tap raises quotes ``errorName`` and ``errorInstanceId`` (what
Palantir support asks for) and says what to do. 429 and 503 (Foundry's
throttling answers) and other 5xx are retried by ``VendorRESTStream``.
"""

from __future__ import annotations

import dataclasses
import json
import typing as t
from datetime import datetime, timezone
from http import HTTPStatus

from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from taps.common.client import MAX_BODY_QUOTE, VendorRESTStream
from taps.common.schemas import schema_directory
from taps.common.settings import TapSettings, secret_field

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

SCHEMAS = schema_directory("foundry_aip")
READ_SCOPE = "api:aip-agents-read"



def bookmark_time(value: datetime) -> str:
    """The replication-key form: UTC, always six fractional digits, ``+00:00``.

    singer-sdk compares bookmark strings as text, so every value must have the
    same shape (it is also the shape of singer-sdk's own signpost).
    """
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


class FoundryError(dict):
    """A parsed Foundry error body (empty when the body was not one)."""

    @classmethod
    def of(cls, response: requests.Response) -> FoundryError:
        """Parse ``response``'s body; ``{}`` if it is not a Foundry error."""
        try:
            body = response.json()
        except ValueError:
            return cls()
        return cls(body) if isinstance(body, dict) and "errorName" in body else cls()

    @property
    def name(self) -> str:
        """``errorName`` (``AgentNotFound``...), or ``""``."""
        return str(self.get("errorName") or "")


class PageTokenRejected(FatalAPIError):
    """Foundry refused a page token (``InvalidPageToken``): it expired (they
    live about a minute) or was never valid. The listing must restart."""


class SessionGone(FatalAPIError):
    """The session or its content no longer exists (``SessionNotFound`` /
    ``ContentNotFound``): it expired between listing and reading it."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class FoundrySettings(TapSettings):
    """Foundry's settings beyond the shared ones (``TapFoundryAIP.config_jsonschema``).

    Attributes:
        agent_rids: the AIP Agents whose sessions are read (``ri.…`` RIDs), one partition each.
        token: a user token (``""`` when the tap uses ``client_id`` + ``client_secret``).
        page_size: sessions per List Sessions page (1-100).
    """

    agent_rids: tuple[str, ...] = ()
    token: str = secret_field()
    page_size: int


class FoundryStream(VendorRESTStream[FoundrySettings]):
    """Base stream for the AIP Agents endpoints (always ``preview=true``)."""

    vendor = "Palantir Foundry"
    extra_retry_statuses: t.Sequence[int] = [HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE]

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict[str, t.Any]:
        """``preview=true`` on every call: the AIP Agents endpoints are preview-only."""
        return {"preview": "true"}

    @override
    def vendor_error_text(self, response: requests.Response) -> str:
        """``"<errorName> (<errorCode>, errorInstanceId <id>) parameters {...}"`` for a
        Foundry error body; the base class's text otherwise."""
        error = FoundryError.of(response)
        if not error:
            return super().vendor_error_text(response)
        text = f"{error.name} ({error.get('errorCode')}, errorInstanceId {error.get('errorInstanceId')})"
        parameters = error.get("parameters")
        if parameters:
            text += f" parameters {json.dumps(parameters, ensure_ascii=False)[:MAX_BODY_QUOTE]}"
        return text

    @override
    def error_hint(self, response: requests.Response) -> str:
        """What to do about a Foundry error, by ``errorName`` then status."""
        error = FoundryError.of(response)
        name = error.name
        parameters = error.get("parameters") or {}
        if name == "AgentNotFound":
            rid = parameters.get("agentRid") or "(unknown)"
            return (f"Agent {rid} does not exist or this user cannot see it: fix agent_rids "
                    "(the agent's RID from AIP Agent Studio) or grant the user access to the agent")
        if name == "ApiFeaturePreviewUsageOnly":
            return "The endpoint needs preview=true; this tap always sends it, so report this as a tap bug"
        if name == "InvalidPageSize":
            return "Set page_size between 1 and 100"
        if response.status_code == HTTPStatus.UNAUTHORIZED:
            return ("Foundry refused the credentials: check token, or client_id and client_secret "
                    f"(the token must carry the {READ_SCOPE} scope), and api_url")
        if response.status_code == HTTPStatus.FORBIDDEN:
            return (f"The token lacks the {READ_SCOPE} operation scope or access to this agent: in Developer Console "
                    f"grant the application the {READ_SCOPE} scope (AIP Agents platform SDK resource) and the "
                    "Ontology resources the agent uses, and make sure the calling user can use the agent")
        return ""

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Like the base class, plus: ``InvalidPageToken`` raises ``PageTokenRejected``;
        ``SessionNotFound``/``ContentNotFound`` raise ``SessionGone``.

        Raises:
            PageTokenRejected, SessionGone, VendorAPIError, RetriableAPIError.
        """
        if response.status_code in (HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND):
            name = FoundryError.of(response).name
            if name == "InvalidPageToken":
                raise PageTokenRejected(self.response_error_message(response))
            if name in ("SessionNotFound", "ContentNotFound"):
                raise SessionGone(self.response_error_message(response))
        super().validate_response(response)
