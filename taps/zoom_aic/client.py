"""Zoom's REST conventions: error bodies, scopes, rate limits and archive windows.

Vendor docs followed (developers.zoom.us: REST API errors, rate limits, AI Companion archive APIs):

* errors are ``{"code": <int>, "message": "<text>"}``; a missing scope is
  HTTP 400 code 4700/4711, a role without permission HTTP 403 code 20514, an
  unknown user HTTP 404 code 20524 (archive) or 1001 (``GET /users/{id}``);
  an expired or invalid token is code 124 (HTTP 401, some endpoints 400);
* 429s carry ``X-RateLimit-Type: QPS`` (wait ``Retry-After`` seconds) or
  ``Daily-limit`` (``Retry-After`` is an ISO timestamp, next 00:00 UTC);
* the archive endpoint's ``from``/``to`` window (added 2026-05-28, format and
  span undocumented): see ``ARCHIVE_DATETIME_FORMAT`` and ``MAX_ARCHIVE_SPAN``.
"""

from __future__ import annotations

import dataclasses
import typing as t
from datetime import datetime, timedelta, timezone
from http import HTTPStatus

import requests
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from typing_extensions import override

from taps.common.client import VendorRESTStream, sent_authorization
from taps.common.settings import TapSettings, secret_field
from taps.common.windows import datetime_windows

if t.TYPE_CHECKING:
    from taps.zoom_aic.tap import TapZoomAIC

# --- the archive window: ONE place -------------------------------------------
#: ``from``/``to`` format sent to ``/aic/users/{userId}/conversation_archive``.
#: Zoom did not document it; this is the form of Zoom's other archive API
#: (``GET /archive_files``: ``yyyy-MM-dd'T'HH:mm:ss'Z'``, UTC, whole seconds),
#: and the form of the ``start_time``/``end_time`` the endpoint itself returns.
ARCHIVE_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

#: Longest ``to - from`` sent in one archive request (``to`` inclusive).
#: Zoom did not document a maximum. The only evidence for this endpoint is its
#: documented example, whose ``start_time``/``end_time`` are exactly 30 days
#: apart (2021-04-26T05:23:18Z .. 2021-05-26T05:23:18Z), i.e. the span the API
#: itself serves; ``/archive_files`` allows 7 days. 30 days keeps the request
#: count per user low (12-13 per year, LIGHT rate label) while staying inside
#: what the vendor demonstrably returns; ``physical_files`` is capped at 300
#: per answer, so a window that comes back full is split in half and re-asked.
MAX_ARCHIVE_SPAN = timedelta(days=30)

#: ``physical_files`` maxItems in the spec: a full list may hide attachments.
MAX_PHYSICAL_FILES = 300

ONE_SECOND = timedelta(seconds=1)


def format_archive_time(value: datetime) -> str:
    """``value`` (aware or naive-as-UTC) as ``ARCHIVE_DATETIME_FORMAT`` in UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime(ARCHIVE_DATETIME_FORMAT)



def archive_windows(start: datetime, end: datetime, span: timedelta = MAX_ARCHIVE_SPAN) -> list[tuple[datetime, datetime]]:
    """Inclusive whole-second windows ``(from, to)`` covering ``start..end``.

    Each window has ``to - from <= span``; the next window starts one second
    after the previous ``to``, so windows neither overlap nor leave a gap at
    Zoom's one-second resolution. Sub-second parts are dropped.

    Example: start 2021-04-26T05:23:18Z, span 30 days gives a first window
    (2021-04-26T05:23:18Z, 2021-05-26T05:23:18Z), the documented example's.

    Returns:
        An empty list when ``start > end``.
    """
    start = start.replace(microsecond=0)
    end = end.replace(microsecond=0)
    return [(a, b - ONE_SECOND) for a, b in datetime_windows(start, end + ONE_SECOND, span + ONE_SECOND)]


# --- errors --------------------------------------------------------------------

ARCHIVE_SCOPES = "aic_archive:read:admin (granular: aic:read:conversation_archives:admin)"
USER_SCOPES = "user:read:admin (granular: user:read:list_users:admin and user:read:user:admin)"
MISSING_SCOPE_CODES = {4700, 4711}
PERMISSION_CODE = 20514
ARCHIVE_USER_GONE_CODE = 20524
USER_NOT_FOUND_CODE = 1001
TOKEN_INVALID_CODE = 124
PAGE_TOKEN_EXPIRED_CODE = 300


def zoom_error_code(response: requests.Response) -> int | None:
    """The ``code`` of a Zoom error body, or ``None`` when the body has none."""
    try:
        body = response.json()
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None


def is_daily_limit(response: requests.Response) -> bool:
    """True for a 429 telling us the account's daily quota is spent."""
    if response.status_code != HTTPStatus.TOO_MANY_REQUESTS:
        return False
    kind = response.headers.get("X-RateLimit-Type", "")
    return kind.lower().startswith("daily") or "daily" in response.text.lower()


class DailyLimitReached(FatalAPIError):
    """Zoom's daily request quota for the account is spent; the message says when to resume."""


class PageTokenExpired(FatalAPIError):
    """Zoom refused a ``next_page_token`` as invalid or expired (400 code 300; tokens live 15 minutes)."""


class UserNotFound(FatalAPIError):
    """Zoom says the user does not exist (404 code 20524 or 1001); the caller skips it."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ZoomSettings(TapSettings):
    """Zoom's settings beyond the shared ones (``TapZoomAIC.config_jsonschema``).

    Attributes:
        account_id: the Server-to-Server OAuth app's account (a query parameter of the token request).
        user_statuses: statuses listed with ``GET /users``, one listing each.
        user_ids: only these users (ids or emails); empty lists every user.
        user_shards, user_shard: read only shard ``user_shard`` of ``user_shards`` (``None``: every user).
        page_size: users per ``GET /users`` page.
        storage_url: folder or fsspec URL for history files and attachments.
        download_files: download attachments (histories follow their stream's selection).
    """

    account_id: str = secret_field()
    user_statuses: tuple[str, ...]
    user_ids: tuple[str, ...] = ()
    user_shards: int | None = None
    user_shard: int | None = None
    page_size: int
    storage_url: str = ""
    download_files: bool


class ZoomStream(VendorRESTStream[ZoomSettings]):
    """Base for Zoom streams: Zoom error codes, scope hints, daily-limit stop."""

    vendor = "Zoom"
    #: the scope to name when Zoom says one is missing (streams override).
    required_scopes: str = USER_SCOPES

    @property
    def zoom_tap(self) -> TapZoomAIC:
        """The tap this stream belongs to, typed (its file store and failure list)."""
        return t.cast("TapZoomAIC", self.vendor_tap)

    @override
    def error_hint(self, response: requests.Response) -> str:
        """What the admin must change, by Zoom error code."""
        code = zoom_error_code(response)
        if code in MISSING_SCOPE_CODES:
            return (
                f"Add the scope {self.required_scopes} to the Server-to-Server OAuth app in the "
                "Zoom App Marketplace, then re-activate the app"
            )
        if code == PERMISSION_CODE or response.status_code == HTTPStatus.FORBIDDEN:
            return (
                f"The app needs {self.required_scopes}, and the admin who created it a role that "
                "can view users (User:Read) and AI Companion archives"
            )
        if code == TOKEN_INVALID_CODE or response.status_code == HTTPStatus.UNAUTHORIZED:
            return "Check account_id, client_id and client_secret, and that the app is activated"
        if code == PAGE_TOKEN_EXPIRED_CODE:
            url = (response.request.url or "") if response.request is not None else ""
            if "next_page_token=" in url:
                return "A next_page_token expired (15 minutes); run again"
            return ("Zoom refused the from/to window (from after to, a span over 30 days, or a malformed time); "
                    "windows end at Zoom's own clock (its Date header "
                    f"{response.headers.get('Date', 'missing')}) minus a margin, so check start_date and end_date")
        return ""

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Zoom-specific sorting of answers before the shared rules.

        Raises:
            DailyLimitReached: a daily-limit 429 (the tap stops cleanly).
            UserNotFound: 404 code 20524/1001.
            PageTokenExpired: 400 code 300 on a request carrying ``next_page_token``.
            RetriableAPIError: code 124 on a 400 (an expired token on endpoints
                that answer 400), once, after dropping the token.
            VendorAPIError: other 4xx, with the scope to add where relevant.
        """
        status = response.status_code
        if is_daily_limit(response):
            resume_at = response.headers.get("Retry-After")
            msg = self.response_error_message(response)
            error = DailyLimitReached(f"{msg}. Daily quota spent; resume after {resume_at or '00:00 UTC'}")
            self.request_gate.close(error)  # requests other workers queued are not sent
            raise error
        code = zoom_error_code(response) if status >= HTTPStatus.BAD_REQUEST else None
        if status == HTTPStatus.NOT_FOUND and code in (ARCHIVE_USER_GONE_CODE, USER_NOT_FOUND_CODE):
            raise UserNotFound(self.response_error_message(response))
        if status == HTTPStatus.BAD_REQUEST and code == PAGE_TOKEN_EXPIRED_CODE and \
                "next_page_token=" in ((response.request.url or "") if response.request is not None else ""):
            raise PageTokenExpired(self.response_error_message(response))
        if (
            status == HTTPStatus.BAD_REQUEST
            and code == TOKEN_INVALID_CODE
            and self.authenticator.handle_401(sent_authorization(response))
        ):
            raise RetriableAPIError(self.response_error_message(response), response)
        super().validate_response(response)
