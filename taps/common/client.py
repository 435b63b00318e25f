"""The REST stream every tap's client stream derives from.

What it adds to singer-sdk's ``RESTStream``:

* a request timeout from the ``request_timeout`` setting (seconds);
* retries on 429, 5xx, connection errors, timeouts, truncated bodies and
  unparseable JSON, up to ``max_retries``; the wait honours ``Retry-After``
  (seconds, HTTP date or ISO timestamp), else exponential backoff with jitter;
* one token re-mint on 401 when the authenticator can renew its token;
* error messages that name the vendor, quote its error body, add a hint
  (which setting, scope or permission) and never carry a secret or a URL query.

A vendor's client stream sets ``vendor`` and overrides ``error_hint`` (and,
where the vendor signals errors differently, ``classify_response``).
"""

from __future__ import annotations

import json
import typing as t
from datetime import datetime
from functools import cached_property
from http import HTTPStatus
from urllib.parse import urlsplit

import backoff
import requests
from singer_sdk import RESTStream
from singer_sdk.exceptions import FatalAPIError, RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from taps.common.clock import VendorClock
from taps.common.http import lean_session
from taps.common.prefetch import prefetched_records
from taps.common.redact import redact
from taps.common.retry import exponential_wait, parse_retry_after
from taps.common.sdk_compat import BookmarkHook, LeanRecords, set_requests_session, tap_of
from taps.common.settings import SettingsT
from taps.common.summary import count_responses, tally_for
from taps.common.timestamps import parse_timestamp

if t.TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers.types import Context

    from taps.common.auth import TapAuthenticator
    from taps.common.tap import VendorTap

MAX_BODY_QUOTE = 600


class VendorAPIError(FatalAPIError):
    """The vendor answered with an error the run cannot get past.

    ``status`` is the HTTP status; ``vendor_message`` the vendor's own text.
    """

    def __init__(self, message: str, *, status: int | None = None, vendor_message: str = "") -> None:
        """Args:
        message: the full, redacted message.
        status: HTTP status code.
        vendor_message: the vendor's error text (redacted).
        """
        super().__init__(message)
        self.status = status
        self.vendor_message = vendor_message


def sent_authorization(response: requests.Response) -> str | None:
    """The ``Authorization`` header of the request behind ``response`` (``None`` if unknown)."""
    request = response.request
    return request.headers.get("Authorization") if request is not None else None


_JSON_BODY = "_vendor_json_body"


def response_json(response: requests.Response) -> t.Any:
    """``response.json()``, parsed once per response: ``validate_response`` (the envelope
    check), a stream's ``parse_response`` and its paginator share the one parse.

    The records a stream yields are this body's objects, and singer-sdk may change them in
    place once yielded (deselected properties removed); a paginator reading the body after them
    reads only what singer-sdk keeps (primary and replication keys are always selected).

    Raises:
        ValueError: the body is not JSON (not remembered: a later call raises again).
    """
    cached = response.__dict__.get(_JSON_BODY, _JSON_BODY)
    if cached is _JSON_BODY:
        cached = response.__dict__[_JSON_BODY] = response.json()
    return cached


class EnvelopeMismatch(FatalAPIError):
    """A 2xx answer whose body is not the vendor's documented envelope: never "no data"."""


class VendorRESTStream(LeanRecords, BookmarkHook, RESTStream, t.Generic[SettingsT]):
    """Base REST stream: timeouts, retries, Retry-After, redacted vendor errors.

    Subclasses set ``vendor`` (used in messages) and may override
    ``error_hint(response)`` to say what the user should do for a given error,
    and ``vendor_error_text(response)`` when the vendor's error body has a
    particular shape.
    """

    vendor: str = "Vendor"
    #: conform only top-level values (singer-sdk docs, "Performance"): records are parsed JSON,
    #: already JSON types, and nested objects the vendor does not document are declared as any
    #: JSON (GUIDE §3), so recursing changes nothing but costs a third of a run's CPU.
    #: ``LeanRecords`` then skips even the root walk for records it would not change.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.ROOT_ONLY
    #: the JSON body of a 2xx answer must parse; a truncated body is retried.
    expect_json: bool = True
    #: statuses retried besides 5xx.
    extra_retry_statuses: t.Sequence[int] = [HTTPStatus.TOO_MANY_REQUESTS]
    #: request the next page while this page's records are emitted (``taps.common.prefetch``):
    #: for listings whose next request depends on the response only, read to their end.
    prefetch_next_page: bool = False

    @property
    def vendor_tap(self) -> VendorTap[SettingsT]:
        """The tap this stream belongs to."""
        return t.cast("VendorTap[SettingsT]", tap_of(self))

    @property
    def settings(self) -> SettingsT:
        """The tap's typed settings (``taps.common.settings``), typed by ``VendorRESTStream[XSettings]``."""
        return self.vendor_tap.settings

    @override
    @property
    def url_base(self) -> str:
        """The ``api_url`` setting, without a trailing slash."""
        return self.settings.api_url.rstrip("/")

    @override
    @property
    def authenticator(self) -> TapAuthenticator:
        """The tap's single authenticator (one token per process)."""
        return self.vendor_tap.authenticator

    @override
    @property
    def timeout(self) -> int:
        """Seconds to wait for a response (setting ``request_timeout``)."""
        return int(self.settings.request_timeout)

    @property
    def vendor_clock(self) -> VendorClock:
        """The tap's ``VendorClock``: the vendor's now from its ``Date`` headers (windows end there)."""
        return self.vendor_tap.vendor_clock

    @property
    def request_gate(self) -> t.Any:
        """The tap's shared ``RequestGate`` (one ``Retry-After`` for every worker)."""
        return self.vendor_tap.request_gate

    @override
    def backoff_max_tries(self) -> int:
        """Attempts per request: the first plus ``max_retries``."""
        return 1 + self.settings.max_retries

    @override
    def backoff_jitter(self, value: float) -> float:
        """No extra jitter: ``retry_wait`` adds its own, and keeps server-requested waits exact."""
        return value

    @override
    def backoff_wait_generator(self) -> t.Generator[float, t.Any, None]:
        """Yield the wait before each retry, computed from the exception by ``retry_wait``."""
        attempt = 0
        exc = yield 0.0
        while True:
            attempt += 1
            exc = yield self.retry_wait(exc, attempt)

    def retry_wait(self, exc: Exception, attempt: int) -> float:
        """Seconds to wait before retry ``attempt`` (1-based) after ``exc``.

        ``Retry-After`` wins; a 401 re-mint retries at once, a 401 with a static
        or re-signed credential after one backoff step; otherwise
        exponential backoff from ``retry_base_seconds``.
        """
        response = getattr(exc, "response", None)
        if response is not None:
            if response.status_code == HTTPStatus.UNAUTHORIZED:
                if getattr(self.authenticator, "wait_before_401_retry", False):
                    return exponential_wait(1, base=self.retry_base_seconds)
                return 0.0
            rate_wait = self.rate_limit_wait(response)
            if rate_wait is not None:
                self.request_gate.hold(rate_wait)
                return rate_wait
        return exponential_wait(attempt, base=self.retry_base_seconds)

    @property
    def retry_base_seconds(self) -> float:
        """First exponential wait in seconds (setting ``retry_base_seconds``, default 1)."""
        return self.settings.retry_base_seconds

    def rate_limit_wait(self, response: requests.Response) -> float | None:
        """Seconds the vendor asked us to wait, from ``Retry-After``; ``None`` if it did not say."""
        return parse_retry_after(response.headers.get("Retry-After"))

    @override
    @property
    def requests_session(self) -> requests.Session:
        """singer-sdk's session with the proxy environment read once (``taps.common.http``),
        every response counted into the run summary."""
        session = super().requests_session
        if session.trust_env:  # singer-sdk's own session (its __init__ makes one): replace it, once
            session = lean_session(self.url_base)
            set_requests_session(self, session)
        count_responses(session, tally_for(self))
        return session

    @override
    def request_decorator(self, func: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
        """singer-sdk's retry decorator, without the backoff library's own log lines.

        The SDK passes its logger to ``backoff``, which then logs "Backing off ..."
        beside ``backoff_handler``'s line: every retry was logged twice. Same
        exceptions, waits, tries and handler as ``RESTStream.request_decorator``.
        Every attempt first waits at the tap's request gate (one ``Retry-After``
        pauses every worker).
        """

        def gated(prepared_request: requests.PreparedRequest, context: t.Any) -> requests.Response:
            """Wait while a ``Retry-After`` holds the gate, then send."""
            self.request_gate.wait()
            return t.cast("requests.Response", func(prepared_request, context))

        return backoff.on_exception(
            self.backoff_wait_generator,
            (
                ConnectionResetError,
                RetriableAPIError,
                requests.exceptions.Timeout,
                requests.exceptions.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ),
            max_tries=self.backoff_max_tries,
            on_backoff=self.backoff_handler,
            jitter=self.backoff_jitter,
            logger=None,
        )(gated)

    @override
    def backoff_handler(self, details: Details) -> None:
        """Log each retry once, without URLs' query strings or secrets, and count it."""
        tally_for(self).count(retries=1)
        exc = details.get("exception")
        self.logger.warning(
            "Retrying %s %s in %.1f s (attempt %d): %s",
            self.vendor,
            self.path,
            details.get("wait") or 0.0,
            details.get("tries") or 0,
            self.safe_message(str(exc) if exc else "unknown error"),
        )

    @override
    def request_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """singer-sdk's paging loop; with ``prefetch_next_page``, one request ahead (same requests and records)."""
        if self.prefetch_next_page:
            return prefetched_records(self, context)
        return super().request_records(context)

    # --- incremental ------------------------------------------------------------

    def get_lookback_start(self, context: t.Mapping[str, t.Any] | None) -> datetime | None:
        """Where this run starts reading, in UTC: ``TapSettings.run_start`` of this partition's bookmark.

        The bookmark (singer-sdk's starting timestamp: the later of bookmark and
        ``start_date``) minus ``lookback_days`` when state has one (late updates
        are re-read; the primary key deduplicates), else ``start_date``, else ``None``.
        """
        if self.get_context_state(context).get("replication_key_value") is None:
            return self.settings.run_start(None)
        return self.settings.run_start(self.get_starting_timestamp(context))

    @override
    def bookmark_record(self, latest_record: dict[str, t.Any], *, context: Context | None = None) -> None:
        """Advance the bookmark, never moving it back.

        Records re-read inside the lookback sort below the saved bookmark;
        they are emitted again (at least once) but must not pull it back.
        """
        if self.replication_key and self.is_sorted:
            current = self.get_context_state(context).get("replication_key_value")
            new = latest_record.get(self.replication_key)
            if current is not None and new is not None and new != current \
                    and parse_timestamp(new) < parse_timestamp(current):  # equal values: not back, nothing to parse
                return
        super().bookmark_record(latest_record, context=context)

    # --- errors ---------------------------------------------------------------

    @cached_property
    def secrets(self) -> list[str]:
        """The ``secret`` settings' values (``TapSettings.secrets``), which must never reach output."""
        return list(self.settings.secrets)

    def safe_message(self, text: str) -> str:
        """``text`` with every secret and URL query removed."""
        auth_secrets = self.authenticator.secrets
        return redact(text, [*self.secrets, *auth_secrets])

    def vendor_error_text(self, response: requests.Response) -> str:
        """The vendor's error message from a response body (its JSON ``error``/``message``
        fields when present, else the first characters of the body)."""
        try:
            body = response.json()
        except ValueError:
            return response.text[:MAX_BODY_QUOTE].strip()
        if isinstance(body, dict):
            for key in ("error_description", "message", "error", "errors", "msg", "errorName"):
                if body.get(key):
                    value = body[key]
                    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        return json.dumps(body, ensure_ascii=False)[:MAX_BODY_QUOTE]

    def error_hint(self, response: requests.Response) -> str:  # noqa: ARG002
        """What the user should do about this error response; vendors override."""
        return ""

    @override
    def response_error_message(self, response: requests.Response) -> str:
        """``"<Vendor> API answered <status> <reason> for <METHOD> <path>: <vendor text>. <hint>"``,
        redacted (no query string, no secret)."""
        method = response.request.method if response.request is not None else "GET"
        path = urlsplit(response.url).path or self.path
        vendor_text = self.vendor_error_text(response)
        hint = self.error_hint(response)
        msg = f"{self.vendor} API answered {response.status_code} {response.reason} for {method} {path}"
        if vendor_text:
            msg += f": {vendor_text}"
        if hint:
            msg += f". {hint}"
        return self.safe_message(msg)

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Sort a response into success, retry or fatal.

        Raises:
            RetriableAPIError: 429, 5xx, a first 401 with a renewable token, or a
                2xx body that is not the complete JSON document we expected.
            VendorAPIError: any other 4xx, with the vendor's message and a hint.
        """
        self.vendor_clock.observe(response)
        status = response.status_code
        if status == HTTPStatus.UNAUTHORIZED and self.authenticator.handle_401(sent_authorization(response)):
            raise RetriableAPIError(self.response_error_message(response), response)
        if status in self.extra_retry_statuses or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            raise RetriableAPIError(self.response_error_message(response), response)
        if status >= HTTPStatus.BAD_REQUEST:
            raise VendorAPIError(
                self.response_error_message(response),
                status=status,
                vendor_message=self.safe_message(self.vendor_error_text(response)),
            )
        if self.expect_json:
            content_type = response.headers.get("Content-Type", "")
            if content_type.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
                msg = (f"{self.vendor} answered {status} for {self.path} at api_url {self.url_base} with an HTML page, "
                       "not the documented JSON envelope; nothing was emitted or checkpointed from it. Check that "
                       "api_url points at the vendor's API (not a proxy, login page or another service)")
                raise EnvelopeMismatch(self.safe_message(msg))
            try:
                body = response_json(response)
            except ValueError as exc:
                msg = (f"{self.vendor} answered {status} with an incomplete or non-JSON body for {self.path} at "
                       f"api_url {self.url_base}; if this persists, check that api_url points at the vendor's API")
                raise RetriableAPIError(msg, response) from exc
            self.check_envelope(body)
        self.authenticator.request_succeeded()

    #: the documented envelope of a 2xx body: required top-level key -> accepted type(s).
    #: Vendors declare theirs; ``{}`` checks nothing.
    envelope: t.ClassVar[dict[str, type | tuple[type, ...]]] = {}

    def documented_envelope(self) -> t.Mapping[str, type | tuple[type, ...]]:
        """The envelope this request's answer must have (``envelope``; streams whose shape
        depends on the settings override this)."""
        return self.envelope

    def check_envelope(self, body: t.Any) -> None:
        """Refuse a 2xx body that is not the documented envelope (a wrong host, a proxy page, an API change).

        Nothing from such a body is emitted or checkpointed: the run ends here with
        the bookmark where it was.

        Raises:
            EnvelopeMismatch: naming the endpoint, ``api_url`` and what was wrong.
        """
        envelope = self.documented_envelope()
        if not envelope:
            return
        problem = ""
        if not isinstance(body, dict):
            problem = f"a JSON {type(body).__name__}, not an object"
        else:
            for key, kinds in envelope.items():
                if key not in body:
                    problem = f"no {key!r} member"
                    break
                if not isinstance(body[key], kinds):
                    problem = f"{key!r} is a JSON {type(body[key]).__name__}"
                    break
        if problem:
            msg = (f"{self.vendor} answered 200 for {self.path} at api_url {self.url_base} with a body that is not "
                   f"the documented envelope ({problem}); nothing was emitted or checkpointed from it. Check that "
                   "api_url points at the vendor's API (not a proxy, login page or another service)")
            raise EnvelopeMismatch(self.safe_message(msg))


