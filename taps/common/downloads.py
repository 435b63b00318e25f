"""One streamed download path for every file a tap stores.

``Download`` fetches one URL with the shared retry policy and writes the body in
1 MiB chunks either into a ``FileStore`` (temporary name, atomic rename, sha256,
size) or into an open file (a ZIP staged before it is unpacked):

* retries on connection errors, timeouts, bodies cut short (fewer bytes than
  ``Content-Length``, or a complete answer with fewer bytes than the vendor
  announced for the file: ``IncompleteFile``) and whatever the vendor's classifier calls retriable
  (by default 429 and 5xx), up to ``RetryPolicy.max_tries`` attempts; the wait
  is the vendor's ``Retry-After`` when it gave one, else exponential backoff
  with jitter;
* one token re-mint on 401 through the authenticator's ``handle_401`` (the
  bearer token goes only to URLs ``send_auth`` accepts: presigned URLs get no
  ``Authorization`` header);
* a size check against what the vendor announced (``expected_size``), and for
  JSON files (``JSONBody``) a check that the body parses to its end;
* a progress hook ``on_progress(done_bytes, total_bytes)`` after every chunk
  (``total_bytes`` is the announced size, else ``Content-Length``, else ``None``),
  given per call (one ``taps.common.progress.DownloadProgress`` per file, so
  concurrent workers sharing one ``Download`` each report their own file) or
  for every call of the downloader;
* every message redacted (URL queries and secrets removed).

A vendor keeps only its status rules, as a small classifier: a function from the
response to a ``Verdict`` (read the body, retry, re-mint, fail), which may also
raise the vendor's own exceptions (Zoom's daily limit, an expired Knovvu link).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import typing as t
from dataclasses import dataclass
from http import HTTPStatus

import requests

from taps.common.redact import strip_query
from taps.common.retry import RetryPolicy, parse_retry_after
from taps.common.storage import FileIntegrityError, FileStore, IncompleteFile, StoredFile

if t.TYPE_CHECKING:
    from taps.common.auth import TapAuthenticator

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
TRANSIENT_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)

#: called after every chunk with (bytes written so far, bytes expected or ``None``)
ProgressHook = t.Callable[[int, int | None], None]
T = t.TypeVar("T")


class DownloadError(Exception):
    """A file could not be downloaded intact: refused, wrong size, or still failing after every retry.

    The message names the vendor and the URL path (never its query) and says what happened.
    """


class _Truncated(Exception):
    """The body ended before ``Content-Length`` bytes, or before the size the vendor announced: retried."""


@dataclass(frozen=True)
class Verdict:
    """What to do with a response, as a vendor's classifier decides.

    Attributes:
        action: ``"read"`` the body; ``"retry"`` after ``wait`` seconds (``None``: backoff);
            ``"remint"`` the token once and retry at once (else fail with ``message``);
            ``"fail"`` with ``message``.
        wait: seconds to wait before the retry, when the vendor said (``Retry-After``).
        message: what went wrong, quoting the vendor (redacted before it is raised).
    """

    action: t.Literal["read", "retry", "remint", "fail"]
    wait: float | None = None
    message: str = ""


READ = Verdict("read")

#: a vendor's status rules: response -> verdict (may raise the vendor's own exceptions)
Classifier = t.Callable[[requests.Response], Verdict]


def default_classifier(response: requests.Response) -> Verdict:
    """2xx: read; 401: re-mint once; 429 and 5xx: retry (honouring ``Retry-After``); other: fail."""
    status = response.status_code
    if status < HTTPStatus.MULTIPLE_CHOICES:
        return READ
    message = f"HTTP {status} {response.reason}"
    if status == HTTPStatus.UNAUTHORIZED:
        return Verdict("remint", message=message)
    if status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return Verdict("retry", wait=parse_retry_after(response.headers.get("Retry-After")), message=message)
    return Verdict("fail", message=message)


class Download:
    """Fetch files for one vendor: retries, one 401 re-mint, size check, sha256, progress.

    Args:
        vendor: vendor name for messages (``"Zoom"``).
        policy: attempts, backoff and timeout.
        session: the HTTP session (a plain one by default: presigned URLs need no cookies or auth).
        classify: the vendor's status rules (default: ``default_classifier``).
        authenticator: the tap's authenticator, for URLs ``send_auth`` accepts; ``None`` sends no token.
        send_auth: whether ``url`` may receive the bearer token (the vendor's own hosts only).
        headers: request headers sent on every attempt.
        before_request: called before every attempt (a vendor's download budget).
        on_progress: the progress hook for every call that gives none (see ``ProgressHook``).
        on_retry: called before each retry's wait (a run summary's retry count).
        redact: removes secrets from a message (URL queries are always removed).
        error: the exception class raised for a failed download (a ``DownloadError`` by default).
        sleep: how to wait (tests replace it).
    """

    def __init__(
        self,
        *,
        vendor: str,
        policy: RetryPolicy,
        session: requests.Session | None = None,
        classify: Classifier = default_classifier,
        authenticator: TapAuthenticator | None = None,
        send_auth: t.Callable[[str], bool] | None = None,
        headers: t.Mapping[str, str] | None = None,
        before_request: t.Callable[[], None] | None = None,
        on_progress: ProgressHook | None = None,
        on_retry: t.Callable[[], None] | None = None,
        redact: t.Callable[[str], str] | None = None,
        error: type[Exception] = DownloadError,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        """See the class docstring."""
        self.vendor = vendor
        self.policy = policy
        self.session = session or requests.Session()
        self.classify = classify
        self.authenticator = authenticator
        self.send_auth = send_auth or (lambda _url: authenticator is not None)
        self.headers = dict(headers or {})
        self.before_request = before_request
        self.on_progress = on_progress
        self.on_retry = on_retry
        self.redact = redact or (lambda text: text)
        self.error = error
        self.sleep = sleep
        self.requests_made = 0

    def to_store(
        self,
        url: str,
        store: FileStore,
        key: str,
        expected_size: int | None = None,
        *,
        check: t.Callable[[bytes], None] | None = None,
        wrap: t.Callable[[t.Iterator[bytes]], t.Iterator[bytes]] | None = None,
        classify: Classifier | None = None,
        on_progress: ProgressHook | None = None,
    ) -> StoredFile:
        """Download ``url`` into ``store`` under ``key``.

        Args:
            url: the file's URL (its query is never logged or raised).
            store: where the file goes; a failed attempt leaves nothing under ``key``.
            key: stable storage key derived from the vendor's identifiers.
            expected_size: bytes the vendor announced; a mismatch fails the download.
            check: called with the first chunk; raise ``FileIntegrityError`` to refuse the file.
            wrap: sees the chunks on their way to storage (e.g. to parse a small JSON file).
            classify: this call's status rules, instead of the downloader's.
            on_progress: this file's progress hook, instead of the downloader's.

        Returns:
            The stored file: URI, key, sha256, size in bytes.

        Raises:
            DownloadError (or the ``error`` class): refused, ``check`` refused, or still
                failing (a wrong size included) after ``policy.max_tries`` attempts.
        """

        hook = on_progress or self.on_progress

        def consume(response: requests.Response) -> StoredFile:
            chunks = self._chunks(response, expected_size, hook)
            if wrap is not None:
                chunks = wrap(chunks)
            try:
                return store.write(key, chunks, expected_size=expected_size, check=check)
            except IncompleteFile as exc:
                raise _Truncated(str(exc)) from exc
            except FileIntegrityError as exc:
                raise self.error(self.redact(f"{strip_query(url)}: {exc}")) from exc

        return self._run(url, consume, classify or self.classify)

    def to_file(self, url: str, dest: t.BinaryIO, expected_size: int | None = None, *,
                on_progress: ProgressHook | None = None) -> tuple[str, int]:
        """Download ``url`` into the open binary file ``dest`` (rewound for every attempt).

        ``on_progress`` is this file's progress hook, instead of the downloader's.

        Returns:
            ``(sha256 hex digest, size in bytes)`` of the body.

        Raises:
            DownloadError (or the ``error`` class): refused, or still failing (a size other
                than ``expected_size`` included) after ``policy.max_tries`` attempts.
        """

        hook = on_progress or self.on_progress

        def consume(response: requests.Response) -> tuple[str, int]:
            dest.seek(0)
            dest.truncate()
            digest = hashlib.sha256()
            size = 0
            for chunk in self._chunks(response, expected_size, hook):
                digest.update(chunk)
                dest.write(chunk)
                size += len(chunk)
            if expected_size is not None and size != expected_size:
                msg = f"received {size} bytes, the vendor announced {expected_size}"
                raise _Truncated(msg)
            dest.flush()
            return digest.hexdigest(), size

        return self._run(url, consume, self.classify)

    @staticmethod
    def _chunks(response: requests.Response, expected_size: int | None, hook: ProgressHook | None) -> t.Iterator[bytes]:
        """The body in chunks, reporting progress; ``_Truncated`` if it ends before ``Content-Length``."""
        announced = response.headers.get("Content-Length")
        identity = not response.headers.get("Content-Encoding")
        total = expected_size if expected_size is not None else (int(announced) if announced and identity else None)
        done = 0
        for chunk in response.iter_content(CHUNK_BYTES):
            if not chunk:
                continue
            done += len(chunk)
            if hook is not None:
                hook(done, total)
            yield chunk
        if announced is not None and identity and int(announced) != done:
            msg = f"truncated body ({done} of {announced} bytes)"
            raise _Truncated(msg)

    def _run(self, url: str, consume: t.Callable[[requests.Response], T], classify: Classifier) -> T:
        """Attempt the GET until ``consume`` returns, a verdict fails, or the attempts run out."""
        where = strip_query(url)
        problem = ""
        for attempt in range(1, self.policy.max_tries + 1):
            outcome = self._attempt(url, consume, classify, attempt)
            if isinstance(outcome, _Done):
                return outcome.value
            wait, problem = outcome
            logger.warning("%s download %s failed (%s); retrying", self.vendor, where, self.redact(problem))
            if attempt < self.policy.max_tries:
                if self.on_retry is not None:
                    self.on_retry()
                self.sleep(wait)
        msg = f"{self.vendor} download {where} kept failing after {self.policy.max_tries} attempts: {problem}"
        raise self.error(self.redact(msg))

    def _attempt(
        self, url: str, consume: t.Callable[[requests.Response], T], classify: Classifier, attempt: int
    ) -> _Done[T] | tuple[float, str]:
        """One GET: ``_Done(result)``, else ``(seconds to wait, problem)`` to retry.

        Raises:
            the ``error`` class: the verdict is "fail", or a re-mint was refused.
        """
        if self.before_request is not None:
            self.before_request()
        self.requests_made += 1
        request = self.session.prepare_request(requests.Request("GET", url, headers=self.headers))
        if self.authenticator is not None and self.send_auth(url):
            self.authenticator.authenticate_request(request)
        try:
            with self.session.send(request, stream=True, timeout=self.policy.timeout, allow_redirects=True) as response:
                verdict = classify(response)
                if verdict.action == "read":
                    result = consume(response)
                    if self.authenticator is not None:
                        self.authenticator.request_succeeded()
                    return _Done(result)
        except _Truncated as exc:
            return self.policy.wait(attempt), str(exc)
        except TRANSIENT_ERRORS as exc:
            return self.policy.wait(attempt), f"connection error ({type(exc).__name__})"
        problem = verdict.message or f"HTTP {response.status_code}"
        sent = request.headers.get("Authorization")
        if verdict.action == "remint" and self.authenticator is not None and self.authenticator.handle_401(sent):
            return 0.0, problem
        if verdict.action == "retry":
            return self.policy.wait(attempt, verdict.wait), problem
        raise self.error(self.redact(verdict.message or f"{self.vendor} download {strip_query(url)} was refused"))


class JSONBody:
    """A ``wrap`` for ``Download.to_store`` of a JSON file: the chunks pass through to storage, and
    when they end they must parse as one JSON document (UTF-8, a BOM allowed), else ``IncompleteFile``
    (a body cut short on the way, with framing that did not show it: retried like a short body).

    The file is held in memory to parse it, so use it for JSON files only (transcripts, chat
    histories). ``content`` is the parsed document of the last complete attempt (``None`` before).
    """

    def __init__(self) -> None:
        """Nothing read yet."""
        self.content: t.Any = None

    def __call__(self, chunks: t.Iterator[bytes]) -> t.Iterator[bytes]:
        """Pass ``chunks`` through, then parse them (every attempt starts afresh).

        Raises:
            IncompleteFile: the bytes are not one complete JSON document.
        """
        kept = bytearray()
        for chunk in chunks:
            kept += chunk
            yield chunk
        try:
            self.content = json.loads(kept.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as exc:
            msg = f"the downloaded file is not complete JSON ({type(exc).__name__})"
            raise IncompleteFile(msg) from exc


@dataclass(frozen=True)
class _Done(t.Generic[T]):
    """A successful attempt's result."""

    value: T
