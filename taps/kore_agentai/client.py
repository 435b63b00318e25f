"""The Kore.ai Agent AI REST stream base: POST bodies, page numbers, Kore errors.

Vendor doc followed: docs.kore.ai "API for Duration-Based Conversation
Records" (``POST {host}/agentassist/api/v1/public/{botId}/aaconversation``).
Auth (the ``auth`` JWT and the ``accountId`` header) comes from the tap's
shared ``HS256JWTAuthenticator``; retries, ``Retry-After`` and redaction from
``VendorRESTStream``.
"""

from __future__ import annotations

import dataclasses
import typing as t
from http import HTTPStatus

from singer_sdk.pagination import PageNumberPaginator
from typing_extensions import override

from taps.common.client import VendorRESTStream
from taps.common.settings import TapSettings, secret_field

if t.TYPE_CHECKING:
    import requests

SCOPE = "AgentAssist Analytics"
#: the documented maximum ``limit`` per page.
PAGE_SIZE = 20

AUTH_HINT = (
    "Kore.ai rejected the request's credentials: check client_id and client_secret (the Client ID and "
    "Client Secret of the JWT app), that account_id is the account the app was created in, and that the "
    f"app is mapped to the '{SCOPE}' API scope with the scope change published "
    "(Admin Console > Security & Control > API Scopes)"
)


class HasMorePaginator(PageNumberPaginator):
    """Page numbers from 1 while the body says ``"hasMore": true``.

    Also stops when the body's ``totalPages`` says the page just read was the
    last one, so a vendor answer with a stale ``hasMore`` cannot loop forever.
    """

    @override
    def has_more(self, response: requests.Response) -> bool:
        """``hasMore`` from the body, and the current page below ``totalPages`` when given."""
        body = response.json()
        if not body.get("hasMore"):
            return False
        total_pages = body.get("totalPages")
        return not (isinstance(total_pages, int) and self.current_value >= total_pages)


@dataclasses.dataclass(frozen=True, kw_only=True)
class KoreSettings(TapSettings):
    """Kore.ai's settings beyond the shared ones (``TapKoreAgentAI.config_jsonschema``).

    Attributes:
        bot_id: the bot whose conversations are read (path segment).
        account_id: the Kore.ai account, sent in the ``accountId`` header.
        include_history: ask for each conversation's messages (``includeHistory``).
    """

    bot_id: str = ""
    account_id: str = secret_field()
    include_history: bool


class KoreAgentAIStream(VendorRESTStream[KoreSettings]):
    """Base for Kore.ai Agent AI streams: POST with a JSON body, ``results`` envelope."""
    envelope: t.ClassVar[dict[str, type | tuple[type, ...]]] = {"results": list}

    vendor = "Kore.ai"
    http_method = "POST"
    records_jsonpath = "$.results[*]"

    @override
    def get_new_paginator(self) -> HasMorePaginator:
        """Pages 1, 2, ... while ``hasMore`` (see ``HasMorePaginator``)."""
        return HasMorePaginator(start_value=1)

    @override
    def vendor_error_text(self, response: requests.Response) -> str:
        """Kore's error text: ``{"errors": [{"msg": ...}]}`` or ``{"msg": ..., "code": ...}``."""
        try:
            body = response.json()
        except ValueError:
            return super().vendor_error_text(response)
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            texts = [str(e.get("msg")) for e in body["errors"] if isinstance(e, dict) and e.get("msg")]
            if texts:
                return "; ".join(texts)
        return super().vendor_error_text(response)

    @override
    def error_hint(self, response: requests.Response) -> str:
        """What to do about a Kore.ai error: credentials and scope, account id, bot id."""
        status = response.status_code
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN):
            return AUTH_HINT
        if status == HTTPStatus.NOT_FOUND:
            return "Check bot_id (the bot's id, st-...) and api_url (the environment's host, e.g. https://platform.kore.ai)"
        if status == HTTPStatus.BAD_REQUEST:
            if "accountid" in self.vendor_error_text(response).lower():
                return "Check the account_id setting"
            return "The request was built from bot_id, account_id and the date window; check those settings"
        return ""
