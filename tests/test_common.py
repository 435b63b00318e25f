"""Unit tests of the shared layer: Retry-After, redaction, windows, storage, authenticators."""

from __future__ import annotations

import hashlib
import threading
from datetime import date, datetime, timedelta, timezone

import jwt
import pytest
import requests

from sandboxes.base import SandboxApp, SandboxRequest, SandboxServer, json_response
from taps.common.auth import AuthenticationFailed, ClientCredentialsAuthenticator, HS256JWTAuthenticator
from taps.common.redact import redact, strip_query
from taps.common.retry import parse_retry_after
from taps.common.storage import FileIntegrityError, FileStore, open_url
from taps.common.windows import date_windows, datetime_windows, utc_days

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Sun, 22 Nov 2026 12:00:30 GMT", 30.0),
        ("2026-11-22T12:01:00Z", 60.0),
        ("2026-11-22T11:00:00Z", 0.0),  # in the past: no wait
        ("soon", None),
        (None, None),
        ("", None),
    ],
)
def test_parse_retry_after(value, expected) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def test_redact_removes_secrets_tokens_and_url_queries() -> None:
    text = (
        'failed for https://minio.example/bucket/h00.zip?X-Amz-Signature=abc123&X-Amz-Credential=k '
        'with {"access_token": "eyJhbGciOiJIUzI1NiJ9.payload.sig"} and Authorization: Bearer '
        'AAAABBBBCCCCDDDDEEEE and secret s3cr3t-value'
    )
    out = redact(text, ["s3cr3t-value"])
    for leaked in ("X-Amz-Signature", "abc123", "eyJhbGci", "AAAABBBBCCCCDDDDEEEE", "s3cr3t-value"):
        assert leaked not in out
    assert "https://minio.example/bucket/h00.zip" in out
    assert "Invalid Bearer Token" in redact("Invalid Bearer Token")  # vendor prose survives


def test_strip_query() -> None:
    assert strip_query("https://h/p/a.zip?sig=1#frag") == "https://h/p/a.zip"
    assert strip_query(None) is None


def test_date_windows_cover_without_gap_or_overlap() -> None:
    windows = date_windows(date(2026, 1, 1), date(2026, 1, 30), 7)
    assert windows[0] == (date(2026, 1, 1), date(2026, 1, 7))
    assert windows[-1] == (date(2026, 1, 29), date(2026, 1, 30))
    days = [d for a, b in windows for d in utc_days(a, b)]
    assert days == utc_days(date(2026, 1, 1), date(2026, 1, 30))
    assert all((b - a).days <= 6 for a, b in windows)
    assert date_windows(date(2026, 1, 2), date(2026, 1, 1), 7) == []
    with pytest.raises(ValueError, match="max_days"):
        date_windows(date(2026, 1, 1), date(2026, 1, 2), 0)


def test_datetime_windows_are_half_open() -> None:
    start = NOW
    windows = datetime_windows(start, start + timedelta(days=10), timedelta(days=4))
    assert [b - a for a, b in windows] == [timedelta(days=4), timedelta(days=4), timedelta(days=2)]
    assert all(windows[i][1] == windows[i + 1][0] for i in range(len(windows) - 1))


def test_file_store_writes_atomically_with_sha256(tmp_path) -> None:
    store = FileStore(str(tmp_path / "files"))
    chunks = [b"hello ", b"", b"world"]
    stored = store.write("a/b/c.bin", iter(chunks), expected_size=11)
    assert stored.sha256 == hashlib.sha256(b"hello world").hexdigest()
    assert stored.size_bytes == 11
    assert (tmp_path / "files/a/b/c.bin").read_bytes() == b"hello world"
    assert stored.uri.startswith("file://")
    assert [p.name for p in (tmp_path / "files/a/b").iterdir()] == ["c.bin"]


def test_file_store_size_mismatch_leaves_nothing(tmp_path) -> None:
    store = FileStore(str(tmp_path))
    with pytest.raises(FileIntegrityError, match="announced 12"):
        store.write("x.bin", [b"short"], expected_size=12)
    assert list(tmp_path.iterdir()) == []


def test_file_store_check_refuses_first_chunk(tmp_path) -> None:
    store = FileStore(str(tmp_path))

    def no_html(chunk: bytes) -> None:
        if chunk.lstrip().startswith(b"<"):
            raise FileIntegrityError("HTML instead of JSON")

    with pytest.raises(FileIntegrityError, match="HTML"):
        store.write("h.json", [b"<html>login</html>"], check=no_html)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("key", ["../evil", "/abs/path", "a/../../b", "a//b", "./a"])
def test_file_store_refuses_unsafe_keys(tmp_path, key) -> None:
    with pytest.raises(ValueError, match="unsafe"):
        FileStore(str(tmp_path)).path_for(key)


def test_file_store_works_on_fsspec_memory() -> None:
    store = FileStore("memory://archive-test")
    stored = store.write("k/v.txt", [b"abc"])
    assert stored.uri.startswith("memory://") and stored.uri.endswith("archive-test/k/v.txt")
    with open_url(stored.uri) as fh:  # the recorded URI opens the stored bytes
        assert fh.read() == b"abc"


class TokenApp(SandboxApp):
    """A token endpoint that counts tokens and can refuse."""

    def __init__(self, lifetime: int = 3600) -> None:
        super().__init__()
        self.lifetime = lifetime
        self.issued = 0
        self.refuse = False

    def handle(self, request: SandboxRequest):
        if self.refuse:
            return json_response({"error": "invalid_client", "error_description": "bad secret"}, 401)
        self.issued += 1
        return json_response({"access_token": f"token-{self.issued}-xxxxxxxxxxxxxxxx", "expires_in": self.lifetime})


def _authenticate(auth) -> str:
    prepared = requests.Request("GET", "http://example.invalid/").prepare()
    return auth(prepared).headers["Authorization"]


def test_client_credentials_one_token_renewed_before_expiry_and_once_on_401() -> None:
    app = TokenApp(lifetime=3600)
    with SandboxServer(app) as server:
        auth = ClientCredentialsAuthenticator(token_url=server.url, client_id="id", client_secret="sec", vendor="V",
                                              scope="a b", extra_body={"x": "y"})
        headers = {_authenticate(auth) for _ in range(5)}
        assert headers == {"Bearer token-1-xxxxxxxxxxxxxxxx"}
        form = app.requests[0].form()
        assert form == {"grant_type": "client_credentials", "client_id": "id", "client_secret": "sec",
                        "scope": "a b", "x": "y"}
        assert auth.handle_401() is True  # first 401: re-mint
        assert _authenticate(auth) == "Bearer token-2-xxxxxxxxxxxxxxxx"
        assert auth.handle_401() is False  # the fresh token refused too: give up
        auth.request_succeeded()
        assert auth.handle_401() is True
    short = TokenApp(lifetime=200)
    with SandboxServer(short) as server:
        auth = ClientCredentialsAuthenticator(token_url=server.url, client_id="id", client_secret="sec", vendor="V",
                                              renew_before_seconds=300)
        _authenticate(auth)
        assert auth._minted_at is not None
        auth._minted_at -= 101  # more than half the 200 s lifetime has passed
        _authenticate(auth)
        assert short.issued == 2


def test_client_credentials_basic_auth_and_query() -> None:
    app = TokenApp()
    with SandboxServer(app) as server:
        auth = ClientCredentialsAuthenticator(token_url=server.url, client_id="id", client_secret="sec", vendor="Zoom",
                                              grant_type="account_credentials", basic_auth=True,
                                              query={"grant_type": "account_credentials", "account_id": "acc"})
        _authenticate(auth)
    request = app.requests[0]
    assert request.arg("account_id") == "acc"
    assert request.headers["authorization"].startswith("Basic ")
    assert "client_secret" not in request.form()


def test_refused_credentials_quote_vendor_without_secret() -> None:
    app = TokenApp()
    app.refuse = True
    with SandboxServer(app) as server:
        auth = ClientCredentialsAuthenticator(token_url=server.url, client_id="id", client_secret="very-secret-1",
                                              vendor="Knovvu", settings_hint="client_id, client_secret and scope")
        with pytest.raises(AuthenticationFailed) as excinfo:
            _authenticate(auth)
    message = str(excinfo.value)
    assert "invalid_client" in message and "client_id, client_secret and scope" in message
    assert "very-secret-1" not in message


def test_hs256_jwt_is_fresh_and_verifiable() -> None:
    secret = "k" * 40
    auth = HS256JWTAuthenticator(secret=secret, claims={"appId": "cs-1"}, extra_headers={"accountId": "acc"})
    prepared = requests.Request("POST", "http://example.invalid/").prepare()
    first = auth(prepared).headers["auth"]
    second = auth(requests.Request("POST", "http://example.invalid/").prepare()).headers["auth"]
    claims = jwt.decode(first, secret, algorithms=["HS256"])
    assert claims["appId"] == "cs-1" and claims["exp"] > claims["iat"]
    assert first != second  # new jti each request
    assert prepared.headers["accountId"] == "acc"


def test_sandbox_faults_and_concurrency() -> None:
    class Echo(SandboxApp):
        def handle(self, request):
            return json_response({"path": request.path})

    app = Echo()
    with SandboxServer(app) as server:
        app.faults.add("status", "/x", status=429, headers={"Retry-After": "3"}, after=1)
        assert requests.get(server.url + "/x", timeout=5).status_code == 200
        limited = requests.get(server.url + "/x", timeout=5)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
        app.faults.add("drop", "/y")
        with pytest.raises(requests.ConnectionError):
            requests.get(server.url + "/y", timeout=5)
        app.faults.add("truncate", "/z")
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(server.url + "/z", timeout=5)
        results: list[int] = []
        threads = [threading.Thread(target=lambda: results.append(requests.get(server.url + "/ok", timeout=5).status_code))
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == [200] * 8
