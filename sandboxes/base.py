"""Base for the local vendor emulators ("sandboxes").

A sandbox is a ``SandboxApp`` (the vendor's contract: routes, auth, paging,
errors, rate limits, data) served by ``SandboxServer``: a threaded HTTP/1.1
server on 127.0.0.1, port 0 by default (the OS picks a free one), started and
stopped from Python. Tests switch faults on with ``app.faults.add(...)`` and
read ``app.requests`` to assert what the tap asked for.

What the base gives every emulator, so an emulator holds only vendor behaviour:

* a route table: ``routes()`` returns ``Route(method, pattern, handler, bearer)``;
  ``handle`` matches the path (``re.fullmatch``), checks the method, runs
  ``authorize`` for routes that need a token, and calls
  ``handler(request, *groups)``; ``not_found``/``method_not_allowed`` give the
  vendor's error bodies;
* an OAuth 2.0 token endpoint at ``token_path`` (``token_endpoint``): grant
  type, client credentials (HTTP Basic or form), ``issue_token`` into
  ``tokens`` (``Grant``: client, scopes, expiry on ``clock``), the
  ``access_token``/``token_type``/``expires_in`` answer; vendors add their own
  checks and refusal bodies through small hooks;
* bearer checks: ``authorize`` finds the ``Authorization: Bearer`` token's
  unexpired grant (on ``now()``) and puts it on ``request.grant``, else answers
  ``unauthorized``; ``expire_tokens()`` expires every token issued.

``app.clock`` is the sandbox's "now" (``sandboxes.clock.SandboxClock``): emulators read
time through it, the ``Date`` header comes from it, and a test moves it with
``app.clock.set_offset(seconds)`` or ``POST /_sandbox/clock``.

``app.latency_seconds`` (default 0) delays every answer by that many seconds,
as a remote vendor would; the benchmarks use it (``--latency`` on ``python -m sandboxes``).
``app.max_in_flight`` is the most requests answered at once (a concurrency test's proof of overlap).

Faults (``Fault``, ``FaultPlan`` and their kinds: ``status``, ``drop``, ``stall``, ``slow``,
``truncate``, ``cut``, ``mutate``) live in ``sandboxes.faults``; the server here applies them.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
import time
import typing as t
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from sandboxes.clock import CLOCK_PATH, SandboxClock
from sandboxes.faults import RESHAPING_KINDS, SLOW_PIECE_BYTES, Fault, FaultPlan, reshape_body

__all__ = ["Fault", "FaultPlan", "Grant", "Route", "SandboxApp", "SandboxRequest", "SandboxResponse",
           "SandboxServer", "json_response"]


@dataclass
class SandboxRequest:
    """One request as the emulator sees it.

    Attributes:
        method: ``GET``, ``POST`` ...
        path: URL path without the query.
        query: parsed query string, each name to its list of values.
        headers: request headers, names lower-cased.
        body: raw request body.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""
    #: the bearer token's grant, set by ``SandboxApp.authorize``.
    grant: Grant | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of query parameter ``name``, or ``default``."""
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> t.Any:
        """The body parsed as JSON (``ValueError`` if it is not)."""
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        """The body parsed as ``application/x-www-form-urlencoded`` (first values)."""
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8")).items()}


@dataclass
class SandboxResponse:
    """What the emulator answers.

    ``body`` is bytes, or an iterable of byte chunks with ``content_length``
    set (for large files, so memory stays bounded on both sides).
    """

    status: int = 200
    body: bytes | t.Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_length: int | None = None


def json_response(payload: t.Any, status: int = 200, headers: dict[str, str] | None = None) -> SandboxResponse:
    """A JSON answer (UTF-8, ``Content-Type: application/json``)."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return SandboxResponse(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


class Grant(t.NamedTuple):
    """An access token the sandbox issued: to whom, with which scopes, valid until ``expires_at`` (``clock`` seconds)."""

    client_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclass(frozen=True)
class Route:
    """One entry of an emulator's route table.

    Attributes:
        method: HTTP method (``GET``, ``POST`` ...).
        pattern: regex the whole path must match; its groups are passed to ``handler``.
        handler: ``handler(request, *groups) -> SandboxResponse``.
        bearer: whether the request needs a valid token first (``SandboxApp.authorize``).
    """

    method: str
    pattern: str
    handler: t.Callable[..., SandboxResponse]
    bearer: bool = True


class SandboxApp:
    """A vendor emulator: a route table, OAuth tokens and bearer checks, faults and the request log come free.

    Emulators give ``routes()`` and override the hooks whose answers are the vendor's own.
    """

    name = "sandbox"
    #: path of the OAuth 2.0 token endpoint (POST), or ``None`` when the vendor has none.
    token_path: str | None = None
    #: the ``grant_type`` the token endpoint accepts.
    token_grant_type = "client_credentials"
    #: ``token_type`` in the token answer.
    token_type = "bearer"
    #: seconds an issued token lives.
    token_lifetime: float = 3600.0

    def __init__(self) -> None:
        """Start with no faults, no tokens and an empty request log."""
        self.faults = FaultPlan()
        self.requests: list[SandboxRequest] = []
        self.lock = threading.RLock()
        #: seconds added before every answer (network and vendor latency); 0 = none.
        self.latency_seconds = 0.0
        #: requests being answered now, and the most at once since the app was made (concurrency tests).
        self.in_flight = 0
        self.max_in_flight = 0
        #: the emulator's time source (a ``SandboxClock`` around ``time.time``; emulators may replace the base).
        self.clock = time.time
        #: access token -> its grant.
        self.tokens: dict[str, Grant] = {}
        self.tokens_issued = 0

    # --- routing ----------------------------------------------------------------

    def routes(self) -> list[Route]:
        """The emulator's route table (emulators override)."""
        return []

    @property
    def clock(self) -> SandboxClock:
        """The sandbox's now (``SandboxClock``); assigning a plain callable wraps it, keeping the offset."""
        clock = self.__dict__.get("_clock")
        if clock is None:
            clock = self.__dict__["_clock"] = SandboxClock()
        return clock

    @clock.setter
    def clock(self, base: t.Callable[[], float]) -> None:
        if isinstance(base, SandboxClock):
            self.__dict__["_clock"] = base
        else:
            self.clock.base = base

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """Answer one request: the token endpoint, else the first route whose pattern matches the path."""
        if self.token_path is not None and request.path == self.token_path:
            return self.token_endpoint(request) if request.method == "POST" else self.method_not_allowed(request)
        wrong_method = False
        for route in self.routes():
            match = re.fullmatch(route.pattern, request.path)
            if match is None:
                continue
            if request.method != route.method:
                wrong_method = True
                continue
            if route.bearer:
                denied = self.authorize(request)
                if denied is not None:
                    return denied
            return route.handler(request, *match.groups())
        return self.method_not_allowed(request) if wrong_method else self.not_found(request)

    def not_found(self, request: SandboxRequest) -> SandboxResponse:
        """The answer for a path no route matches (vendors override with their body)."""
        return json_response({"error": "Not Found"}, 404)

    def method_not_allowed(self, request: SandboxRequest) -> SandboxResponse:
        """The answer for a known path with the wrong method (default: as ``not_found``)."""
        return self.not_found(request)

    # --- bearer tokens ----------------------------------------------------------

    def now(self) -> float:
        """The emulator's current time in epoch seconds (``clock()``; tokens expire on it)."""
        return self.clock()

    def authorize(self, request: SandboxRequest) -> SandboxResponse | None:
        """``None`` when the request carries an unexpired bearer token (its grant goes to ``request.grant``),
        else ``unauthorized``. Vendors with another scheme override this."""
        header = request.headers.get("authorization", "")
        if not header.startswith("Bearer "):
            return self.unauthorized(request, "missing")
        with self.lock:
            grant = self.tokens.get(header[len("Bearer "):])
        if grant is None or grant.expires_at <= self.now():
            return self.unauthorized(request, "invalid")
        request.grant = grant
        return None

    def unauthorized(self, request: SandboxRequest, reason: str) -> SandboxResponse:
        """The 401 answer; ``reason`` is ``"missing"`` (no bearer header) or ``"invalid"`` (unknown or expired)."""
        return json_response({"error": "invalid_token"}, 401)

    def issue_token(self, client_id: str = "", scopes: t.Iterable[str] = (), lifetime: float | None = None) -> str:
        """A new random access token for ``client_id`` with ``scopes``, valid ``lifetime`` seconds (``token_lifetime``)."""
        token = secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = Grant(client_id, frozenset(scopes),
                                       self.now() + (self.token_lifetime if lifetime is None else lifetime))
            self.tokens_issued += 1
        return token

    def expire_tokens(self) -> None:
        """Make every access token issued so far expire now."""
        with self.lock:
            self.tokens = {token: grant._replace(expires_at=0.0) for token, grant in self.tokens.items()}

    # --- OAuth 2.0 token endpoint -------------------------------------------------

    def token_endpoint(self, request: SandboxRequest) -> SandboxResponse:
        """``POST token_path``: grant type, client credentials, the vendor's checks, then a token.

        Answers ``{"access_token", "token_type", "expires_in", **token_extras(grant)}``.
        """
        form = request.form() if request.body else {}
        if (form.get("grant_type") or request.arg("grant_type")) != self.token_grant_type:
            return self.token_refused(request, "unsupported_grant_type")
        client_id, secret = self.client_credentials(request, form)
        if not self.client_valid(client_id, secret):
            return self.token_refused(request, "invalid_client")
        refused = self.check_token_request(request, form)
        if refused is not None:
            return refused
        token = self.issue_token(client_id, self.token_scopes(client_id, form))
        return json_response({"access_token": token, "token_type": self.token_type,
                              "expires_in": self.token_lifetime, **self.token_extras(self.tokens[token])})

    def client_credentials(self, request: SandboxRequest, form: dict[str, str]) -> tuple[str, str]:
        """Client id and secret: HTTP Basic auth when sent, else ``client_id``/``client_secret`` in the form."""
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(header[len("Basic "):]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return "", ""
            return client_id, secret
        return form.get("client_id", ""), form.get("client_secret", "")

    def client_valid(self, client_id: str, secret: str) -> bool:
        """Whether the client credentials are known (emulators with a token endpoint override)."""
        return False

    def check_token_request(self, request: SandboxRequest, form: dict[str, str]) -> SandboxResponse | None:
        """The vendor's own refusal of a token request (scope, account ...), or ``None``."""
        return None

    def token_scopes(self, client_id: str, form: dict[str, str]) -> t.Iterable[str]:
        """The scopes a new token gets (default: those the form asks for)."""
        return (form.get("scope") or "").split()

    def token_extras(self, grant: Grant) -> dict[str, t.Any]:
        """Fields the vendor adds to the token answer."""
        return {}

    def token_refused(self, request: SandboxRequest, error: str) -> SandboxResponse:
        """The answer to a refused token request; ``error`` is ``unsupported_grant_type`` or ``invalid_client``."""
        return json_response({"error": error}, 401 if error == "invalid_client" else 400)

    def fault_response(self, fault: Fault, request: SandboxRequest) -> SandboxResponse | None:
        """The answer for a ``status`` fault; ``None`` for kinds handled by the server."""
        if fault.kind != "status":
            return None
        body = fault.body
        if body is None or isinstance(body, (dict, list)):
            return json_response(body if body is not None else {"error": "injected fault"}, fault.status, fault.headers)
        raw = body.encode("utf-8") if isinstance(body, str) else body
        return SandboxResponse(fault.status, raw, {"Content-Type": "text/plain", **fault.headers})

    def demo_config(self, url: str) -> dict[str, t.Any]:
        """A ready-to-use tap config pointing at this emulator at ``url`` (vendor emulators override this)."""
        raise NotImplementedError

    def requests_to(self, path_regex: str) -> list[SandboxRequest]:
        """Logged requests whose path matches ``path_regex``."""
        return [r for r in self.requests if re.search(path_regex, r.path)]


def _clock_answer(app: SandboxApp, request: SandboxRequest) -> SandboxResponse:
    """``GET``/``POST /_sandbox/clock``: read, or set with ``{"offset_seconds": N}``."""
    if request.method == "POST":
        try:
            app.clock.set_offset(float(request.json()["offset_seconds"]))
        except (ValueError, KeyError, TypeError):
            return json_response({"error": 'POST {"offset_seconds": <number>}'}, 400)
    return json_response(app.clock.describe())


def _make_handler(app: SandboxApp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        """Turns each HTTP request into a ``SandboxRequest`` for ``app``, applying armed faults."""

        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once: no 40 ms delayed-ACK stall
        server_version = f"{app.name}-sandbox"

        def log_message(self, format: str, *args: t.Any) -> None:  # noqa: A002
            """Silence the default per-request stderr log."""

        def _dispatch(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            request = SandboxRequest(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            if request.path == CLOCK_PATH:
                self._send(_clock_answer(app, request), truncate=False)
                return
            with app.lock:
                app.requests.append(request)
            if app.latency_seconds > 0:
                time.sleep(app.latency_seconds)
            fault = app.faults.take(request)
            if fault is not None and fault.kind == "drop":
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault is not None and fault.kind == "stall":
                time.sleep(fault.seconds)
            response = app.fault_response(fault, request) if fault is not None else None
            if response is None:
                try:
                    response = app.handle(request)
                except Exception as exc:  # noqa: BLE001 - an emulator bug must answer 500, not hang
                    response = json_response({"error": f"sandbox error: {type(exc).__name__}: {exc}"}, 500)
            if fault is not None and fault.kind in RESHAPING_KINDS:
                response = _reshaped(fault, response)
            truncate = fault is not None and fault.kind == "truncate"
            slow = fault.seconds if fault is not None and fault.kind == "slow" else 0.0
            try:
                self._send(response, truncate=truncate, slow=slow)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a stall past its timeout)
                self.close_connection = True

        def _send(self, response: SandboxResponse, *, truncate: bool, slow: float = 0.0) -> None:
            body = response.body
            if isinstance(body, (bytes, bytearray)):
                length = len(body)
                chunks: t.Iterable[bytes] = [bytes(body)]
            else:
                if response.content_length is None:
                    msg = "streamed sandbox bodies need content_length"
                    raise ValueError(msg)
                length = response.content_length
                chunks = body
            self.send_response_only(response.status)
            names = {n.lower() for n in response.headers}
            if "date" not in names:
                self.send_header("Date", app.clock.http_date())
            self.send_header("Server", self.version_string())
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            if self.command == "HEAD":
                return
            if truncate:
                data = b"".join(chunks)
                self.wfile.write(data[: max(1, len(data) // 2)])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if slow > 0:
                chunks = _pieces(chunks, slow)
            try:
                for chunk in chunks:
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _counted(self) -> None:
            """``_dispatch``, counted in ``app.in_flight`` / ``app.max_in_flight`` until the answer is sent."""
            with app.lock:
                app.in_flight += 1
                app.max_in_flight = max(app.max_in_flight, app.in_flight)
            try:
                self._dispatch()
            finally:
                with app.lock:
                    app.in_flight -= 1

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _counted

    return Handler


def _reshaped(fault: Fault, response: SandboxResponse) -> SandboxResponse:
    """``response`` with its body reshaped by a ``cut`` or ``mutate`` fault (``Content-Length`` follows)."""
    body = response.body if isinstance(response.body, (bytes, bytearray)) else b"".join(response.body)
    return SandboxResponse(response.status, reshape_body(fault, bytes(body)), dict(response.headers))


def _pieces(chunks: t.Iterable[bytes], wait: float) -> t.Iterator[bytes]:
    """``chunks`` re-cut into ``SLOW_PIECE_BYTES`` pieces, each sent after ``wait`` seconds."""
    for chunk in chunks:
        for start in range(0, len(chunk), SLOW_PIECE_BYTES):
            time.sleep(wait)
            yield chunk[start:start + SLOW_PIECE_BYTES]


class _Server(ThreadingHTTPServer):
    """The threaded server with a listen backlog for many clients connecting at once: the default 5
    makes the kernel drop the 6th concurrent connect, which then waits ~200 ms for a SYN-ACK resend."""

    request_queue_size = 128


class SandboxServer:
    """Serve a ``SandboxApp`` on 127.0.0.1 in a background thread.

    Usage::

        with SandboxServer(SalesloftSandbox()) as server:
            config = {"api_url": server.url, ...}
    """

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> None:
        """Args:
        app: the emulator.
        host: interface to bind (loopback by default).
        port: TCP port; 0 lets the OS choose a free one.
        """
        self.app = app
        self.httpd = _Server((host, port), _make_handler(app))
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SandboxServer:
        """Start serving in a daemon thread (once: a started server is returned as is); returns ``self``."""
        if self._thread is not None:
            return self  # a second serve_forever on one socket would outlive stop(): its shutdown stops only one
        self._thread = threading.Thread(target=self.httpd.serve_forever, name=f"{self.app.name}-sandbox", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        """Start, for ``with``."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop, for ``with``."""
        self.stop()
