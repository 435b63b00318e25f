"""Knovvu REST client stream: the daily audio manifest call and its errors.

Vendor doc: docs.knovvu.com "Daily Conversation Audio Recordings API"
(``GET {api_url}/api/external/conversations/daily-audio-recordings/{utcDay}``,
errors as ``{"error": "..."}``). No paging: one call per UTC day.
"""

from __future__ import annotations

import dataclasses
import typing as t
from http import HTTPStatus

from typing_extensions import override

from taps.common.client import VendorAPIError, VendorRESTStream
from taps.common.settings import TapSettings

if t.TYPE_CHECKING:
    import requests

FEATURE_HINT = (
    "A Knovvu host administrator must switch on the tenant feature 'Enable daily conversation audio "
    "recordings' (tenant feature settings); the tap cannot fetch recordings until then"
)
TOKEN_HINT = (
    "Check client_id and client_secret, and that the application has the dataservice_external scope"  # noqa: S105 - a hint
)


class DayOutOfRetention(VendorAPIError):
    """404: the day is older than the tenant's retention period; its recordings are gone."""


class RateLimited(Exception):
    """The vendor's download budget (5 per hour) is spent.

    Attributes:
        wait_seconds: the vendor's ``Retry-After`` in seconds, or ``None``.
        message: what happened, without URLs' query strings.
    """

    def __init__(self, message: str, wait_seconds: float | None = None, *, by_vendor: bool = True) -> None:
        """Args:
        message: redacted description.
        wait_seconds: seconds the vendor asked us to wait, if it said.
        by_vendor: ``True`` for the vendor's 429, ``False`` for our own proactive budget.
        """
        super().__init__(message)
        self.message = message
        self.wait_seconds = wait_seconds
        self.by_vendor = by_vendor


@dataclasses.dataclass(frozen=True, kw_only=True)
class KnovvuSettings(TapSettings):
    """Knovvu's settings beyond the shared ones (``TapKnovvu.config_jsonschema``).

    Attributes:
        storage_url: folder or fsspec URL where audio files go.
        keep_archives: keep each hour's ZIP beside its files.
        wait_on_rate_limit: wait out the download limit instead of stopping with state saved.
        rate_limit_wait_seconds: wait when the vendor gives no ``Retry-After``, seconds.
        downloads_per_hour: the proactive budget of manifest (and, once learnt, ZIP) calls per hour.
        temp_dir: where ZIPs are staged (``None``: beside storage).
    """

    storage_url: str = ""
    keep_archives: bool
    wait_on_rate_limit: bool
    rate_limit_wait_seconds: float
    downloads_per_hour: int
    temp_dir: str | None = None


class KnovvuStream(VendorRESTStream[KnovvuSettings]):
    """Base for Knovvu streams: vendor name, error hints, 404/429 sorted out.

    ``validate_response`` raises ``DayOutOfRetention`` on 404 and
    ``RateLimited`` on 429 (the caller decides to stop or wait), and
    ``VendorAPIError`` with a hint on 400/403.
    """
    envelope: t.ClassVar[dict[str, type | tuple[type, ...]]] = {"date": str, "links": list}

    vendor = "Knovvu"

    @override
    def get_new_paginator(self) -> None:
        """One manifest per day: no paging."""
        return

    @override
    def error_hint(self, response: requests.Response) -> str:
        """What to do about a Knovvu error answer."""
        if response.status_code == HTTPStatus.FORBIDDEN:
            return FEATURE_HINT
        if response.status_code == HTTPStatus.UNAUTHORIZED:
            return TOKEN_HINT
        if response.status_code == HTTPStatus.BAD_REQUEST:
            return "The tap only asks for past UTC days; check the machine's clock"
        return ""

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Sort a manifest answer into success, retry, stop or failure.

        Raises:
            DayOutOfRetention: 404 (older than retention).
            RateLimited: 429.
            RetriableAPIError / VendorAPIError: see ``VendorRESTStream``.
        """
        if response.status_code == HTTPStatus.NOT_FOUND:
            raise DayOutOfRetention(self.response_error_message(response), status=404,
                                    vendor_message=self.safe_message(self.vendor_error_text(response)))
        if response.status_code == HTTPStatus.TOO_MANY_REQUESTS:
            raise RateLimited(self.response_error_message(response), self.rate_limit_wait(response))
        super().validate_response(response)
