"""The Salesloft client stream: envelope, errors, rate pacing.

Salesloft v2 list endpoints answer ``{"data": [...], "metadata": {"paging":
{"per_page", "current_page", "next_page", "prev_page"}}}``; errors carry
``error`` (401/403/404) or ``errors`` (422: field -> messages)
(developers.salesloft.com, "Request & Response Format").
"""

from __future__ import annotations

import dataclasses
import typing as t

import requests
from typing_extensions import override

from taps.common.client import VendorAPIError, VendorRESTStream, response_json
from taps.common.schemas import schema_directory
from taps.common.settings import TapSettings, secret_field

if t.TYPE_CHECKING:
    from taps.salesloft.ratelimit import RateBudget
    from taps.salesloft.tap import TapSalesloft

SCHEMAS = schema_directory("salesloft")
PER_PAGE = 100  # the documented maximum


@dataclasses.dataclass(frozen=True, kw_only=True)
class SalesloftSettings(TapSettings):
    """Salesloft's settings beyond the shared ones (``TapSalesloft.config_jsonschema``).

    Attributes:
        api_key: the API key (``""`` when the tap uses ``client_id`` + ``client_secret``).
        rate_limit_reserve: points of the team's 600-a-minute budget left to other integrations.
        storage_url: folder or fsspec URL for transcript files (``""``: artifacts are skipped).
        download_files: download each transcription's transcript file.
    """

    api_key: str = secret_field()
    rate_limit_reserve: int
    storage_url: str = ""
    download_files: bool


class SalesloftStream(VendorRESTStream[SalesloftSettings]):
    """Base for every Salesloft stream."""
    #: list endpoints answer ``{"data": [...], "metadata": {...}}``; single-record ones ``{"data": {...}}``
    envelope: t.ClassVar[dict[str, type | tuple[type, ...]]] = {"data": list}

    vendor = "Salesloft"
    records_jsonpath = "$.data[*]"

    @property
    def salesloft_tap(self) -> TapSalesloft:
        """The tap this stream belongs to, typed (its rate budget and file store)."""
        return t.cast("TapSalesloft", self.vendor_tap)

    @property
    def rate_budget(self) -> RateBudget:
        """The tap's shared per-team rate budget."""
        return self.salesloft_tap.rate_budget

    @override
    def request_decorator(self, func: t.Callable) -> t.Callable:
        """Pace every attempt (first and retries) inside the rate budget."""

        def paced(prepared_request: requests.PreparedRequest, context: t.Any) -> requests.Response:
            """Wait for budget if needed, then send."""
            self.rate_budget.before_request()
            try:
                return func(prepared_request, context)
            finally:
                self.rate_budget.after_request()

        return super().request_decorator(paced)

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Record the rate headers, then classify (see ``VendorRESTStream``)."""
        self.rate_budget.observe(response)
        super().validate_response(response)

    @override
    def rate_limit_wait(self, response: requests.Response) -> float | None:
        """On 429 without ``Retry-After``, wait for the next minute (Salesloft's budget window)."""
        wait = super().rate_limit_wait(response)
        if wait is None and response.status_code == 429:  # noqa: PLR2004
            self.rate_budget.wait_for_next_minute("429 Too Many Requests")
            return 0.0
        return wait

    @override
    def vendor_error_text(self, response: requests.Response) -> str:
        """``error``, or the 422 ``errors`` object as ``field: message; …``."""
        try:
            body = response.json()
        except ValueError:
            return response.text[:300].strip()
        if isinstance(body, dict) and isinstance(body.get("errors"), dict):
            return "; ".join(f"{field} {', '.join(map(str, msgs))}" for field, msgs in body["errors"].items())
        return super().vendor_error_text(response)

    @override
    def error_hint(self, response: requests.Response) -> str:
        """What to do about a Salesloft error."""
        status = response.status_code
        oauth = not self.settings.api_key
        if status == 401:  # noqa: PLR2004
            if oauth:
                return (
                    "Salesloft refused the OAuth token: check client_id and client_secret "
                    "(a private, admin-enabled app) and token_url"
                )
            return "Salesloft refused the API key: check api_key (Salesloft > Your Applications > API Keys)"
        if status == 403:  # noqa: PLR2004
            return ("The credentials lack a permission: grant the conversations:read scope to the API key or OAuth app"
                    " (transcription artifacts also need the 'Download Conversations' role permission)")
        if status == 422:  # noqa: PLR2004
            return f"Salesloft rejected a request parameter (see above); request was {self.path}"
        return ""

    @override
    def parse_response(self, response: requests.Response) -> t.Iterable[dict]:
        """Records under ``data``.

        Raises:
            VendorAPIError: the body has no ``data`` envelope (an API change).
        """
        body = response_json(response)
        if not isinstance(body, dict) or "data" not in body:
            msg = f"Salesloft answered without the documented data envelope for {self.path}"
            raise VendorAPIError(msg, status=response.status_code)
        data = body["data"]
        yield from data if isinstance(data, list) else [data]
