"""Download AI Companion archive files (history JSON, attachments) into storage.

Zoom documents both download URLs (``https://aic.zoom.us/rest/v1/aic/archive/
conversations/download/<id>`` and ``.../attached/download/<id>``) as needing
``Authorization: Bearer <token>``; tokens in the query string are refused since
2023. We send the tap's Server-to-Server token in the header, and only to
Zoom's own hosts (``*.zoom.us``, ``*.zoomgov.com``, or the ``api_url`` host so
the sandbox works); ``requests`` drops the header itself on a redirect to
another host (a CDN). Bodies are streamed in 1 MiB chunks to ``FileStore``
(temporary name, rename, sha256), checked against the announced ``file_size``.
An HTML page where a file was expected is refused (Zoom answers 200 with a
login page when a download is not authorised).
"""

from __future__ import annotations

import io
import json
import logging
import time
import typing as t
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

import requests

from taps.common.client import sent_authorization
from taps.common.retry import exponential_wait
from taps.common.storage import FileIntegrityError, FileStore, StoredFile
from taps.common.summary import count_responses, tally_for
from taps.zoom_aic.client import TOKEN_INVALID_CODE, DailyLimitReached, is_daily_limit, zoom_error_code

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20
ZOOM_HOST_SUFFIXES = (".zoom.us", ".zoomgov.com")
ZOOM_HOSTS = ("zoom.us", "zoomgov.com")


class FileDownloadError(Exception):
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


class Downloader:
    """Fetch Zoom files with the tap's token, retries and rate-limit handling.

    Args:
        stream: the Zoom stream (its ``authenticator``, ``config``,
            ``rate_limit_wait`` and ``safe_message`` are used).
        store: where files go.
    """

    def __init__(self, stream: t.Any, store: FileStore) -> None:
        """See class docstring."""
        self.stream = stream
        self.store = store
        self.session = requests.Session()
        count_responses(self.session, tally_for(stream))
        self.api_url = str(stream.config["api_url"])
        self.timeout = stream.timeout
        self.max_tries = stream.backoff_max_tries()

    def fetch_json(self, url: str, key: str, expected_size: int | None) -> DownloadedJSON:
        """Store the JSON file at ``url`` under ``key`` and return it parsed.

        Raises:
            FileDownloadError: HTML answer, wrong size, not JSON, or an HTTP error.
            DailyLimitReached: Zoom's daily quota is spent.
        """
        buffer = io.BytesIO()

        def tee(chunks: t.Iterable[bytes]) -> t.Iterator[bytes]:
            for chunk in chunks:
                buffer.write(chunk)
                yield chunk
            try:
                json.loads(buffer.getvalue().decode("utf-8-sig"))
            except (UnicodeDecodeError, ValueError) as exc:
                msg = f"the downloaded file is not complete JSON ({type(exc).__name__})"
                raise FileIntegrityError(msg) from exc

        stored = self._fetch(url, key, expected_size, wrap=tee)
        return DownloadedJSON(stored, json.loads(buffer.getvalue().decode("utf-8-sig")))

    def fetch_file(self, url: str, key: str, expected_size: int | None, *, html_allowed: bool = False) -> StoredFile:
        """Store the file at ``url`` under ``key``.

        Raises:
            FileDownloadError: HTML answer (unless ``html_allowed``), wrong size or HTTP error.
            DailyLimitReached: Zoom's daily quota is spent.
        """
        return self._fetch(url, key, expected_size, wrap=None, html_allowed=html_allowed)

    def _fetch(self, url: str, key: str, expected_size: int | None, *, wrap: t.Callable | None,
               html_allowed: bool = False) -> StoredFile:
        where = urlsplit(url).path
        for attempt in range(1, self.max_tries + 1):
            request = requests.Request("GET", url, headers={"Accept": "application/json, */*"}).prepare()
            if is_zoom_host(url, self.api_url):
                self.stream.authenticator.authenticate_request(request)
            try:
                with self.session.send(request, stream=True, timeout=self.timeout) as response:
                    wait = self._check_status(response, where, attempt)
                    if wait is None:
                        if not html_allowed and "text/html" in response.headers.get("Content-Type", "").lower():
                            msg = f"{where}: Zoom answered with an HTML page instead of the file"
                            raise FileDownloadError(msg)
                        chunks = response.iter_content(CHUNK_BYTES)
                        if wrap is not None:
                            chunks = wrap(chunks)
                        stored = self.store.write(key, chunks, expected_size=expected_size,
                                                  check=None if html_allowed else _refuse_html)
                        self.stream.authenticator.request_succeeded()
                        return stored
            except FileIntegrityError as exc:
                raise FileDownloadError(self.stream.safe_message(f"{where}: {exc}")) from exc
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                wait = exponential_wait(attempt, base=self.stream.retry_base_seconds)
                logger.warning("Zoom download %s failed (%s); retrying", where, type(exc).__name__)
            if attempt < self.max_tries:
                tally_for(self.stream).retries += 1
                time.sleep(wait)
        msg = self.stream.safe_message(f"{where}: Zoom download kept failing after {self.max_tries} attempts")
        raise FileDownloadError(msg)

    def _check_status(self, response: requests.Response, where: str, attempt: int) -> float | None:
        """``None`` when the body should be read; else seconds to wait before retrying.

        Raises:
            DailyLimitReached, FileDownloadError.
        """
        status = response.status_code
        if status < HTTPStatus.BAD_REQUEST:
            return None
        if is_daily_limit(response):
            resume_at = response.headers.get("Retry-After")
            msg = f"Zoom answered 429 for download {where}. Daily quota spent; resume after {resume_at or '00:00 UTC'}"
            raise DailyLimitReached(msg, resume_at)
        if status == HTTPStatus.UNAUTHORIZED or zoom_error_code(response) == TOKEN_INVALID_CODE:
            if self.stream.authenticator.handle_401(sent_authorization(response)):
                return 0.0
        elif status == HTTPStatus.TOO_MANY_REQUESTS or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            wait = self.stream.rate_limit_wait(response)
            return wait if wait is not None else exponential_wait(attempt, base=self.stream.retry_base_seconds)
        text = self.stream.vendor_error_text(response)
        msg = self.stream.safe_message(f"Zoom answered {status} for download {where}: {text}")
        raise FileDownloadError(msg)
