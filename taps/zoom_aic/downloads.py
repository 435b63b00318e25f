"""Download AI Companion archive files (history JSON, attachments) into storage.

Zoom documents both download URLs (``https://aic.zoom.us/rest/v1/aic/archive/
conversations/download/<id>`` and ``.../attached/download/<id>``) as needing
``Authorization: Bearer <token>``; tokens in the query string are refused since
2023. We send the tap's Server-to-Server token in the header, and only to
Zoom's own hosts (``*.zoom.us``, ``*.zoomgov.com``, or the ``api_url`` host so
the sandbox works); ``requests`` drops the header itself on a redirect to
another host (a CDN). Bodies are streamed in 1 MiB chunks to ``FileStore``
(temporary name, rename, sha256), checked against the announced ``file_size``,
through the shared ``taps.common.downloads.Download``; this module keeps only
Zoom's status rules (``zoom_classifier``) and host rule (``is_zoom_host``).
An HTML page where a file was expected is refused (Zoom answers 200 with a
login page when a download is not authorised).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

import requests

from taps.common.downloads import READ, Classifier, Download, DownloadError, JSONBody, Verdict
from taps.common.progress import progress_for
from taps.common.retry import RetryPolicy
from taps.common.storage import FileIntegrityError, FileStore, StoredFile
from taps.common.summary import count_responses, tally_for
from taps.zoom_aic.client import TOKEN_INVALID_CODE, DailyLimitReached, is_daily_limit, zoom_error_code

if t.TYPE_CHECKING:
    from taps.zoom_aic.client import ZoomStream

ZOOM_HOST_SUFFIXES = (".zoom.us", ".zoomgov.com")
ZOOM_HOSTS = ("zoom.us", "zoomgov.com")


class FileDownloadError(DownloadError):
    """One file could not be downloaded intact; its archive is not bookmarked past."""


@dataclass
class DownloadedJSON:
    """A stored JSON file and its parsed content."""

    stored: StoredFile
    content: t.Any


def is_zoom_host(url: str, api_url: str) -> bool:
    """True when ``url`` is on a host that may receive the Zoom bearer token."""
    host = (urlsplit(url).hostname or "").lower()
    api_host = (urlsplit(api_url).hostname or "").lower()
    return host == api_host or host in ZOOM_HOSTS or host.endswith(ZOOM_HOST_SUFFIXES)


def _refuse_html(first_chunk: bytes) -> None:
    head = first_chunk[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")):
        msg = "the download answered with an HTML page instead of the file"
        raise FileIntegrityError(msg)


def zoom_classifier(stream: ZoomStream, where: str, *, html_allowed: bool) -> Classifier:
    """Zoom's status rules for a download of ``where`` (a URL path).

    2xx reads the body unless it is an HTML page (``html_allowed`` off); the
    daily-quota 429 raises ``DailyLimitReached``; 401 or code 124 re-mints the
    token once; 429 and 5xx retry after Zoom's ``Retry-After``; anything else fails
    quoting Zoom's error.
    """

    def classify(response: requests.Response) -> Verdict:
        status = response.status_code
        if status < HTTPStatus.BAD_REQUEST:
            if not html_allowed and "text/html" in response.headers.get("Content-Type", "").lower():
                return Verdict("fail", message=f"{where}: Zoom answered with an HTML page instead of the file")
            return READ
        if is_daily_limit(response):
            resume_at = response.headers.get("Retry-After")
            msg = f"Zoom answered 429 for download {where}. Daily quota spent; resume after {resume_at or '00:00 UTC'}"
            error = DailyLimitReached(msg)
            stream.request_gate.close(error)  # downloads and requests other workers queued are not sent
            raise error
        remint = status == HTTPStatus.UNAUTHORIZED or zoom_error_code(response) == TOKEN_INVALID_CODE
        if not remint and (status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR):
            return Verdict("retry", wait=stream.rate_limit_wait(response), message=f"HTTP {status}")
        failure = f"Zoom answered {status} for download {where}: {stream.vendor_error_text(response)}"
        return Verdict("remint" if remint else "fail", message=failure)

    return classify


class Downloader:
    """Fetch Zoom files with the tap's token, retries and rate-limit handling.

    Args:
        stream: the Zoom stream (its ``authenticator``, ``config``,
            ``rate_limit_wait`` and ``safe_message`` are used).
        store: where files go.
    """

    def __init__(self, stream: ZoomStream, store: FileStore) -> None:
        """See class docstring."""
        self.stream = stream
        self.store = store
        api_url = stream.settings.api_url
        session = requests.Session()
        count_responses(session, tally_for(stream))

        def count_retry() -> None:
            tally_for(stream).count(retries=1)

        self.download = Download(
            session=session,
            on_retry=count_retry,
            vendor="Zoom",
            policy=RetryPolicy(max_tries=stream.backoff_max_tries(), base_seconds=stream.retry_base_seconds,
                               timeout=stream.timeout),
            authenticator=stream.authenticator,
            send_auth=lambda url: is_zoom_host(url, api_url),
            headers={"Accept": "application/json, */*"},
            redact=stream.safe_message,
            error=FileDownloadError,
        )

    def fetch_json(self, url: str, key: str, expected_size: int | None) -> DownloadedJSON:
        """Store the JSON file at ``url`` under ``key`` and return it parsed.

        Raises:
            FileDownloadError: HTML answer, an HTTP error, or (after every retry) wrong size or not complete JSON.
            DailyLimitReached: Zoom's daily quota is spent.
        """
        body = JSONBody()
        stored = self._fetch(url, key, expected_size, wrap=body)
        return DownloadedJSON(stored, body.content)

    def fetch_file(self, url: str, key: str, expected_size: int | None, *, html_allowed: bool = False) -> StoredFile:
        """Store the file at ``url`` under ``key``.

        Raises:
            FileDownloadError: HTML answer (unless ``html_allowed``), wrong size or HTTP error.
            DailyLimitReached: Zoom's daily quota is spent.
        """
        return self._fetch(url, key, expected_size, wrap=None, html_allowed=html_allowed)

    def _fetch(
        self,
        url: str,
        key: str,
        expected_size: int | None,
        *,
        wrap: t.Callable[[t.Iterator[bytes]], t.Iterator[bytes]] | None,
        html_allowed: bool = False,
    ) -> StoredFile:
        classify = zoom_classifier(self.stream, urlsplit(url).path, html_allowed=html_allowed)
        self.stream.request_gate.wait()  # one Retry-After pause, and no download once the daily quota is spent
        progress = progress_for(f"Zoom file {key}", self.stream.logger, self.stream.settings)
        return self.download.to_store(url, self.store, key, expected_size, wrap=wrap,
                                      check=None if html_allowed else _refuse_html, classify=classify,
                                      on_progress=progress)
