"""Authenticators shared by the taps.

All of them are built once per tap instance (one per process under Meltano),
so every stream shares one token: see ``VendorTap.authenticator``.

* ``StaticBearerAuthenticator``: an API key or personal token sent as
  ``Authorization: Bearer``; it cannot be renewed, so a 401 is retried once
  after a short wait (vendors answer an occasional 401 for a valid key) and a
  second 401 in a row is final.
* ``ClientCredentialsAuthenticator``: OAuth 2.0 client credentials
  (RFC 6749 §4.4). One token at a time, renewed ``renew_before_seconds``
  before it runs out, re-minted once when the API answers 401.
* ``HS256JWTAuthenticator``: a JWT signed with a shared secret, sent in a
  vendor-named header (Kore.ai's ``auth``), minted fresh for every request;
  a 401 is retried once with a freshly signed token.
"""

from __future__ import annotations

import logging
import threading
import time
import typing as t
import uuid
from http import HTTPStatus
from urllib.parse import urlsplit

import requests
from singer_sdk.authenticators import APIAuthenticatorBase, OAuthAuthenticator
from singer_sdk.exceptions import FatalAPIError
from typing_extensions import override

from taps.common.clock import VendorClock
from taps.common.redact import redact
from taps.common.retry import RetryPolicy, parse_retry_after

logger = logging.getLogger(__name__)


#: a 2xx token answer whose body did not parse (cut short): retried like a 5xx
_UNPARSEABLE = object()

#: token requests: a few quick tries unless the tap passes its own policy (settings max_retries, request_timeout)
TOKEN_RETRY_POLICY = RetryPolicy(max_tries=4, base_seconds=0.5, cap_seconds=10.0, timeout=60.0)


class TapAuthenticator(t.Protocol):
    """What streams and downloads need from a tap's authenticator, beyond singer-sdk's.

    Every authenticator here provides it; ``VendorTap.build_authenticator`` returns one.
    """

    @property
    def secrets(self) -> list[str]:
        """Values that must never appear in output (credentials, current token)."""
        ...

    def __call__(self, request: requests.PreparedRequest, /) -> requests.PreparedRequest:
        """Authenticate ``request`` (the ``requests`` auth hook)."""
        ...

    def authenticate_request(self, request: requests.PreparedRequest, /) -> requests.PreparedRequest:
        """Add the credentials to ``request`` and return it."""
        ...

    def handle_401(self, sent: str | None = None) -> bool:
        """The vendor answered 401: ``True`` if a retry may succeed.

        ``sent`` is the Authorization header the refused request carried (to tell a
        token another worker already renewed from one that is refused)."""
        ...

    def request_succeeded(self) -> None:
        """A request went through: a later 401 may be answered by one re-mint again."""
        ...


class AuthenticationFailed(FatalAPIError):
    """The vendor refused our credentials; the run cannot go on.

    The message names the vendor, quotes its error (secrets removed) and says
    which setting or permission to check.
    """


class StaticBearerAuthenticator(APIAuthenticatorBase):
    """``Authorization: Bearer <token>`` with a fixed token (API key, user token)."""

    def __init__(self, token: str) -> None:
        """Args:
        token: the API key or token; never logged.
        """
        super().__init__()
        self.token = token
        self.auth_headers["Authorization"] = f"Bearer {token}"
        self._one_401 = OneRetryAfter401()

    @property
    def secrets(self) -> list[str]:
        """Values that must never appear in output."""
        return [self.token]

    #: a 401 is retried after a short wait (the token is the same): vendors answer an occasional 401
    #: for a valid credential. ``False`` means the retry needs no wait (a fresh token is minted).
    wait_before_401_retry = True

    def handle_401(self, sent: str | None = None) -> bool:  # noqa: ARG002
        """Called when the API answered 401 to a request carrying our token.

        Returns:
            ``True`` the first time (retry once after a short wait: vendors answer an
            occasional 401 for a valid key); ``False`` when the retry was refused too
            (the credential is wrong: end the run with the vendor's message).
        """
        return self._one_401.handle(self)

    def request_succeeded(self) -> None:
        """A request went through: a later one-off 401 may be retried again."""
        self._one_401.reset()


class OneRetryAfter401:
    """One retry per run of consecutive 401s, for credentials that cannot be re-minted
    (static API key or token) or are re-signed on every request (Kore.ai's JWT)."""

    def __init__(self) -> None:
        """Start with no 401 seen."""
        self.retried = False

    def handle(self, authenticator: object) -> bool:
        """``True`` (retry) on the first 401 since the last success, ``False`` on the second."""
        if self.retried:
            return False
        logger.warning("%s answered 401 to a credential that worked or may work; retrying once",
                       type(authenticator).__name__)
        self.retried = True
        return True

    def reset(self) -> None:
        """A request succeeded."""
        self.retried = False


class ClientCredentialsAuthenticator(OAuthAuthenticator):
    """OAuth 2.0 client-credentials token, shared by every stream of a tap.

    The token is requested lazily, kept until ``renew_before_seconds`` before
    ``expires_in`` runs out, then requested again. When the API answers 401
    the caller asks ``handle_401()``: the first time it drops the token so the
    retried request mints a new one; if the new token is refused too, it
    answers ``False`` and the run ends.

    Vendors: Salesloft (``POST https://accounts.salesloft.com/oauth/token``,
    form body), Zoom S2S (``grant_type=account_credentials&account_id=`` in the
    query, HTTP Basic ``client_id:client_secret``), Knovvu (form body with
    ``scope=dataservice_external``), Foundry (``/multipass/api/oauth2/token``
    with ``scope=api:aip-agents-read``).
    """

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        vendor: str,
        grant_type: str = "client_credentials",
        scope: str | None = None,
        extra_body: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        basic_auth: bool = False,
        renew_before_seconds: int = 300,
        default_expiration: int = 3600,
        policy: RetryPolicy = TOKEN_RETRY_POLICY,
        settings_hint: str = "client_id and client_secret",
    ) -> None:
        """Args:
        token_url: the vendor's token endpoint (a setting, so the sandbox can stand in).
        client_id: OAuth client id.
        client_secret: OAuth client secret; never logged.
        vendor: vendor name for messages ("Salesloft").
        grant_type: ``client_credentials`` or a vendor's variant (Zoom: ``account_credentials``).
        scope: space-separated scopes, sent as ``scope`` when given.
        extra_body: more form fields.
        query: query-string parameters for the token request (Zoom).
        basic_auth: send the client credentials as HTTP Basic instead of form fields.
        renew_before_seconds: renew this many seconds before expiry.
        default_expiration: lifetime in seconds when the answer has no ``expires_in``.
        policy: attempts on connection errors, 429 and 5xx, their waits (``Retry-After`` wins)
            and the seconds per token request; taps pass ``VendorTap.retry_policy``.
        settings_hint: the settings to name when the vendor refuses the credentials.
        """
        super().__init__(
            auth_endpoint=token_url,
            oauth_scopes=scope,
            default_expiration=default_expiration,
            client_id=client_id,
            client_secret=client_secret,
        )
        self.vendor = vendor
        self.grant_type = grant_type
        self.extra_body = extra_body or {}
        self.query = query or {}
        self.basic_auth = basic_auth
        self.renew_before_seconds = renew_before_seconds
        self.policy = policy
        self.settings_hint = settings_hint
        self.tokens_minted = 0
        #: the tap's ``VendorClock`` (set by ``VendorTap``): token answers carry the vendor's Date too
        self.vendor_clock: VendorClock | None = None
        self._minted_after_401 = False
        self._minted_at: float | None = None
        #: one mint at a time, shared by every worker thread (one token per process).
        self._token_lock = threading.RLock()

    @property
    def secrets(self) -> list[str]:
        """Values that must never appear in output: the secret and the current token."""
        return [s for s in (self.client_secret, self.access_token) if s]

    @override
    @property
    def oauth_request_body(self) -> dict[str, t.Any]:
        """The form body of the token request."""
        body: dict[str, str] = {"grant_type": self.grant_type}
        if not self.basic_auth:
            body["client_id"] = self.client_id or ""
            body["client_secret"] = self.client_secret or ""
        if self.oauth_scopes:
            body["scope"] = self.oauth_scopes
        body.update(self.extra_body)
        return body

    @override
    def is_token_valid(self) -> bool:
        """True while a token exists and is more than ``renew_before_seconds`` from expiry."""
        if self.access_token is None or self._minted_at is None:
            return False
        lifetime = self.expires_in or self._default_expiration or 3600
        margin = min(self.renew_before_seconds, lifetime / 2)
        return time.monotonic() - self._minted_at < lifetime - margin

    @override
    def update_access_token(self) -> None:
        """Request a new token from ``token_url``.

        Raises:
            AuthenticationFailed: the vendor refused the credentials (4xx), answered an
                HTML page or JSON without ``access_token``, or kept failing (429, 5xx, connection
                errors, timeouts, bodies cut short) for ``policy.max_tries`` attempts.
                The message quotes the vendor's error with secrets removed.
        """
        logger.info("Requesting a new %s access token", self.vendor)
        auth = (self.client_id or "", self.client_secret or "") if self.basic_auth else None
        last_problem = ""
        for attempt in range(1, self.policy.max_tries + 1):
            asked: float | None = None
            try:
                response = requests.post(
                    self.auth_endpoint,
                    params=self.query or None,
                    data=self.oauth_request_payload,
                    auth=auth,
                    headers={"Accept": "application/json"},
                    timeout=self.policy.timeout,
                )
            except requests.RequestException as exc:
                last_problem = f"connection error ({type(exc).__name__})"
            else:
                status = response.status_code
                if response.ok:
                    payload = self._token_payload(response)
                    if payload is not _UNPARSEABLE:
                        self._accept(response, payload)
                        return
                    last_problem = f"HTTP {status} with an incomplete or non-JSON body"
                elif status != HTTPStatus.TOO_MANY_REQUESTS and status < HTTPStatus.INTERNAL_SERVER_ERROR:
                    raise AuthenticationFailed(self._refusal_message(response))
                else:
                    last_problem = f"HTTP {status}"
                    asked = parse_retry_after(response.headers.get("Retry-After"))
            if attempt < self.policy.max_tries:
                time.sleep(self.policy.wait(attempt, asked))
        msg = (
            f"{self.vendor} token endpoint kept failing ({last_problem}) after "
            f"{self.policy.max_tries} attempts; check token_url and try again later."
        )
        raise AuthenticationFailed(msg)

    def _token_payload(self, response: requests.Response) -> t.Any:
        """The parsed body of a 2xx token answer; ``_UNPARSEABLE`` when it is cut short or not JSON (retried).

        Raises:
            AuthenticationFailed: the answer is an HTML page (a login page or another service: not retried).
        """
        if response.headers.get("Content-Type", "").split(";")[0].strip().lower() in ("text/html",
                                                                                        "application/xhtml+xml"):
            raise AuthenticationFailed(self._not_a_token_answer(response))
        try:
            return response.json()
        except ValueError:
            return _UNPARSEABLE

    def _not_a_token_answer(self, response: requests.Response) -> str:
        endpoint = urlsplit(str(self.auth_endpoint))
        return (f"{self.vendor} token endpoint {endpoint.scheme}://{endpoint.netloc}{endpoint.path} answered "
                f"{response.status_code} without an access_token (not the OAuth token envelope); check token_url "
                "(it defaults from api_url) points at the vendor's token endpoint.")

    def _accept(self, response: requests.Response, payload: t.Any) -> None:
        """Take the token from a 2xx answer's parsed ``payload``.

        Raises:
            AuthenticationFailed: ``payload`` has no string ``access_token`` (not the OAuth token envelope).
        """
        if self.vendor_clock is not None:
            self.vendor_clock.observe(response)
        token = payload.get("access_token") if isinstance(payload, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthenticationFailed(self._not_a_token_answer(response))
        self.access_token = token
        expires = payload.get("expires_in", self._default_expiration)
        self.expires_in = int(expires) if expires else None
        self._minted_at = time.monotonic()
        self.last_refreshed = None  # the SDK's clock is not used; see is_token_valid
        self.tokens_minted += 1

    def _refusal_message(self, response: requests.Response) -> str:
        body = redact(response.text[:500], self.secrets)
        return (
            f"{self.vendor} refused the OAuth client credentials (HTTP {response.status_code}): "
            f"{body}. Check {self.settings_hint} (and token_url)."
        )

    def ensure_token(self) -> None:
        """Mint a token now unless a valid one is held (its answer feeds ``vendor_clock``).

        Raises:
            AuthenticationFailed: as ``update_access_token``.
        """
        with self._token_lock:
            if not self.is_token_valid():
                self.update_access_token()

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Set ``Authorization: Bearer <token>``, minting or renewing the token first if needed."""
        with self._token_lock:
            if not self.is_token_valid():
                self.update_access_token()
            token = self.access_token
        request.headers["Authorization"] = f"Bearer {token}"
        return request

    wait_before_401_retry = False

    def handle_401(self, sent: str | None = None) -> bool:
        """Called when the API answered 401 to a request carrying our token.

        Returns:
            ``True`` if the token was dropped and the request should be retried
            with a fresh one; ``False`` if a freshly minted token was refused
            as well (the credentials lack access: end the run).

        Args:
            sent: the ``Authorization`` header the refused request carried. When
                another worker thread has renewed the token since, the request
                is simply retried with the new one (nothing is dropped).
        """
        with self._token_lock:
            if sent is not None and sent != f"Bearer {self.access_token}":
                return True  # another worker already dropped or renewed that token
            if self._minted_after_401:
                return False
            logger.warning("%s answered 401; requesting a new access token once", self.vendor)
            self.access_token = None
            self._minted_at = None
            self._minted_after_401 = True
            return True

    def request_succeeded(self) -> None:
        """A request went through: a later 401 may again be answered by one re-mint."""
        self._minted_after_401 = False


class HS256JWTAuthenticator(APIAuthenticatorBase):
    """A JWT signed HS256 with a shared secret, in a vendor-named header.

    Kore.ai public APIs: header ``auth: <JWT>`` whose payload holds
    ``appId`` = the app's client id, signed with its client secret. A fresh
    token (new ``iat``, ``exp``, ``jti``) is minted for every request, so apps
    that enforce JTI accept it too.
    """

    def __init__(
        self,
        *,
        secret: str,
        claims: dict[str, t.Any],
        header_name: str = "auth",
        lifetime_seconds: int = 300,
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        """Args:
        secret: signing secret; never logged.
        claims: fixed claims (e.g. ``{"appId": client_id}``).
        header_name: the header carrying the token.
        lifetime_seconds: ``exp`` is ``iat`` plus this.
        extra_headers: other headers every request needs (Kore.ai ``accountId``).
        """
        super().__init__()
        self.secret = secret
        self.claims = dict(claims)
        self.header_name = header_name
        self.lifetime_seconds = lifetime_seconds
        self.extra_headers = dict(extra_headers or {})
        self._one_401 = OneRetryAfter401()
        #: the tap's ``VendorClock`` (set by ``VendorTap``): ``iat``/``exp`` are the vendor's time once an
        #: answer has been seen, so a machine clock ahead or behind does not get every token refused.
        self.vendor_clock: VendorClock | None = None

    @property
    def secrets(self) -> list[str]:
        """Values that must never appear in output."""
        return [self.secret]

    def mint(self) -> str:
        """Return a freshly signed token, ``iat`` and ``exp`` (seconds since the epoch) on the vendor's clock
        (the machine's until a first answer; a 401 answer teaches the clock, and the one 401 retry re-signs).

        PyJWT is imported here: it pulls in ``cryptography``, about 0.3 s of start-up that only the
        JWT-signing tap needs."""
        import jwt  # noqa: PLC0415 - lazy: keeps --about and the other taps' start-up fast

        now = int(self.vendor_clock.now().timestamp()) if self.vendor_clock is not None else int(time.time())
        payload = {**self.claims, "iat": now, "exp": now + self.lifetime_seconds, "jti": uuid.uuid4().hex}
        return jwt.encode(payload, self.secret, algorithm="HS256")

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add the signed token header and the fixed headers."""
        request.headers.update(self.extra_headers)
        request.headers[self.header_name] = self.mint()
        return request

    wait_before_401_retry = True

    def handle_401(self, sent: str | None = None) -> bool:  # noqa: ARG002
        """A 401 is retried once, after a short wait, with a freshly signed token (every
        request is re-signed); a second 401 in a row ends the run. Returns whether to retry."""
        return self._one_401.handle(self)

    def request_succeeded(self) -> None:
        """A request went through: a later one-off 401 may be retried again."""
        self._one_401.reset()
