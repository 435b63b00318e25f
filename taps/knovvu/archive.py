"""Download one hourly Knovvu ZIP from its presigned URL and unpack it to storage.

* The presigned URL (MinIO) is fetched with a plain ``requests`` session: no
  ``Authorization`` header (the bearer token goes only to ``api_url``; S3/MinIO
  refuse a second auth mechanism). The URL's query is its signature: it is
  never logged, raised or recorded (``strip_query``).
* The body streams to a temporary file in 1 MiB chunks (memory stays flat
  whatever the archive size), hashed on the way, and its length is checked
  against the manifest's ``sizeBytes``.
* The archive is read entry by entry with ``zipfile``: ``metadata.json`` is
  parsed, each audio file it lists is copied in chunks to storage under
  ``<day>/<hour>/<externalConversationId>/<sessionId>/<fileName>``. Entries
  with absolute paths or ``..`` are refused (never extracted). A CRC error or
  an unreadable archive raises ``ArchiveError`` for the hour.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import tempfile
import typing as t
import zipfile
from dataclasses import dataclass, field
from http import HTTPStatus

import requests
from requests.adapters import DEFAULT_POOLSIZE, HTTPAdapter

from taps.common.downloads import READ, Classifier, Download, DownloadError, ProgressHook, Verdict
from taps.common.redact import strip_query
from taps.common.retry import RetryPolicy, parse_retry_after
from taps.common.storage import FileIntegrityError, FileStore, key_part
from taps.knovvu.client import RateLimited

CHUNK = 1 << 20
logger = logging.getLogger(__name__)


class ArchiveError(DownloadError):
    """The hour's archive could not be fetched or read; the hour is not done."""


class LinkExpired(Exception):
    """The presigned URL's validity period has passed (401 "download link has expired")."""


@dataclass
class StoredArchive:
    """What one hour's archive held and where its files went.

    Attributes:
        sha256, size_bytes: of the ZIP as downloaded.
        storage_uri: where the ZIP was kept (``keep_archives``), else ``None``.
        metadata: the parsed ``metadata.json`` (``generatedAt``, ``totalSessions``, ``sessions``...).
        files: per audio file, ``(sessionId, fileName)`` -> stored-file facts
            (``archive_path``, ``storage_uri``, ``storage_key``, ``sha256``, ``size_bytes``),
            or ``None`` when the archive had no safe entry for it.
        refused: names of entries refused as unsafe.
    """

    sha256: str
    size_bytes: int
    storage_uri: str | None
    metadata: dict
    files: dict[tuple[str, str], dict | None] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)


def unsafe_entry(name: str) -> bool:
    """True for a ZIP entry name that could escape the extraction folder
    (absolute, drive-qualified, or containing a ``..`` part)."""
    normal = name.replace("\\", "/")
    return normal.startswith("/") or bool(re.match(r"^[A-Za-z]:", normal)) or ".." in normal.split("/")


def file_key(day: str, hour: str, conversation: object, session: object, file_name: object) -> str:
    """Stable storage key ``<day>/<hour>/<conversation>/<session>/<fileName>``."""
    return "/".join([key_part(day), key_part(hour), key_part(conversation), key_part(session), key_part(file_name)])


class ArchiveFetcher:
    """Downloads presigned archives (no auth header) with the shared download path.

    Knovvu's rules (``knovvu_classifier``): 429 raises ``RateLimited`` (the caller
    decides to stop or wait), 401/403 "expired" raises ``LinkExpired``, 5xx is
    retried, any other refusal is an ``ArchiveError``.
    """

    def __init__(self, *, timeout: float, max_retries: int, retry_base_seconds: float,
                 on_retry: t.Callable[[], None] | None = None, connections: int = 1) -> None:
        """Args:
        timeout: seconds per request (connect and read).
        max_retries: retries on connection errors, 5xx and truncated bodies.
        retry_base_seconds: first backoff wait.
        on_retry: called before each retry's wait (the run summary's retry count).
        connections: downloads that may run at once (the pool's workers share this session);
            connections kept open per host.
        """
        self.session = requests.Session()  # deliberately not the authenticated stream session
        self.session.trust_env = False
        if connections > DEFAULT_POOLSIZE:
            adapter = HTTPAdapter(pool_connections=DEFAULT_POOLSIZE, pool_maxsize=connections)
            self.session.mount("http://", adapter)
            self.session.mount("https://", adapter)
        self.policy = RetryPolicy(max_tries=max_retries + 1, base_seconds=retry_base_seconds, timeout=timeout)
        self.on_retry = on_retry

    def download(
        self, url: str, expected_size: int | None, dest: t.BinaryIO, before_request: t.Callable[[], None],
        on_progress: ProgressHook | None = None,
    ) -> tuple[str, int]:
        """Stream ``url`` into ``dest``; returns ``(sha256, size_bytes)``.

        ``before_request`` is called before every GET (the download budget);
        ``on_progress(done_bytes, total_bytes)`` after every chunk (``DownloadProgress``).

        Raises:
            LinkExpired: the URL's validity has passed.
            RateLimited: 429 from the download host.
            ArchiveError: other refusals, a size other than the manifest's
                ``sizeBytes``, or still failing after ``max_retries``.
        """
        download = Download(vendor="Knovvu", policy=self.policy, session=self.session,
                            classify=knovvu_classifier(strip_query(url) or ""), before_request=before_request,
                            error=ArchiveError, on_retry=self.on_retry)
        return download.to_file(url, dest, expected_size, on_progress=on_progress)


def knovvu_classifier(where: str) -> Classifier:
    """Knovvu's status rules for a presigned archive download of ``where`` (URL without its query)."""

    def classify(response: requests.Response) -> Verdict:
        status = response.status_code
        if status == HTTPStatus.OK:
            return READ
        text = response.text[:300]
        if status == HTTPStatus.TOO_MANY_REQUESTS:
            raise RateLimited(f"Knovvu answered 429 for {where}: {_error_text(text)}",
                              parse_retry_after(response.headers.get("Retry-After")))
        if status in (HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN) and "expired" in text.lower():
            raise LinkExpired(f"Knovvu download link for {where} has expired")
        if status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            return Verdict("retry", message=f"HTTP {status}")
        return Verdict("fail", message=f"Knovvu download host answered {status} for {where}: {_error_text(text)}")

    return classify


def _error_text(body: str) -> str:
    try:
        payload = json.loads(body)
    except ValueError:
        match = re.search(r"<Message>(.*?)</Message>", body, re.S)
        return match.group(1) if match else body.strip()
    return str(payload.get("error") if isinstance(payload, dict) else payload)


TEMP_PREFIX = "knovvu-"
TEMP_SUFFIX = ".zip"


def temp_folder(store: FileStore, configured: str | None) -> str:
    """Where hourly ZIPs are staged while they download: ``configured`` (setting
    ``temp_dir``), else ``<storage folder>/.knovvu-tmp`` for local storage, else
    ``<system temp>/tap-knovvu``. Created if missing; leftovers of killed runs
    are removed (``clean_temp``)."""
    if configured:
        folder = configured
    elif "file" in (store.fs.protocol if isinstance(store.fs.protocol, (tuple, list)) else (store.fs.protocol,)):
        folder = os.path.join(store.root, ".knovvu-tmp")
    else:
        folder = os.path.join(tempfile.gettempdir(), "tap-knovvu")
    os.makedirs(folder, exist_ok=True)
    clean_temp(folder)
    return folder


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_temp(folder: str) -> list[str]:
    """Remove staged ZIPs left by runs that are no longer alive (a kill mid-download).

    Staged names are ``knovvu-<pid>-<day>-<hour>-<random>.zip``; files of a
    process still running (a parallel run sharing the folder) are kept.
    Returns the names removed.
    """
    removed = []
    for name in os.listdir(folder):
        if not (name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)):
            continue
        pid_text = name[len(TEMP_PREFIX):].split("-", 1)[0]
        if pid_text.isdigit() and int(pid_text) != os.getpid() and _pid_alive(int(pid_text)):
            continue
        try:
            os.remove(os.path.join(folder, name))
        except FileNotFoundError:
            continue
        removed.append(name)
    if removed:
        logger.info("Removed %d staged Knovvu archive(s) left by an interrupted run in %s", len(removed), folder)
    return removed


def fetch_archive(
    fetcher: ArchiveFetcher,
    store: FileStore,
    *,
    day: str,
    hour: str,
    url: str,
    expected_size: int | None,
    keep_archive: bool,
    before_request: t.Callable[[], None],
    temp_dir: str | None = None,
    on_progress: ProgressHook | None = None,
) -> StoredArchive:
    """Download and unpack one hour; see the module docstring.

    ``on_progress`` reports the ZIP's download (``taps.common.progress.DownloadProgress``).

    Raises:
        LinkExpired, RateLimited: from the download (nothing stored yet).
        ArchiveError: download refused/failed, size mismatch, corrupt ZIP,
            missing or invalid ``metadata.json``.
    """
    fd, path = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-{day}-{hour}-", suffix=TEMP_SUFFIX, dir=temp_dir)
    try:
        with os.fdopen(fd, "w+b") as tmp:
            sha256, size = fetcher.download(url, expected_size, tmp, before_request, on_progress)
        uri = None
        if keep_archive:
            with open(path, "rb") as fh:
                uri = store.write(f"{key_part(day)}/{key_part(hour)}/archive.zip",
                                  iter(lambda: fh.read(CHUNK), b""), expected_size=size).uri
        try:
            result = unpack(path, store, day=day, hour=hour)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, FileIntegrityError) as exc:
            msg = f"Knovvu archive for {day} hour {hour} is corrupt: {exc}"
            raise ArchiveError(msg) from exc
        result.sha256, result.size_bytes, result.storage_uri = sha256, size, uri
        return result
    finally:
        if os.path.exists(path):
            os.remove(path)


def unpack(path: str, store: FileStore, *, day: str, hour: str) -> StoredArchive:
    """Read the ZIP at ``path`` entry by entry and store every file ``metadata.json`` lists.

    Raises:
        zipfile.BadZipFile: unreadable archive or CRC mismatch.
        ArchiveError: ``metadata.json`` missing or not the documented shape.
    """
    result = StoredArchive(sha256="", size_bytes=0, storage_uri=None, metadata={})
    with zipfile.ZipFile(path) as archive:
        safe: dict[str, zipfile.ZipInfo] = {}
        for info in archive.infolist():
            if unsafe_entry(info.filename):
                result.refused.append(info.filename)
                logger.error("Refusing unsafe entry %r in the Knovvu archive for %s hour %s (zip slip)",
                             info.filename, day, hour)
            elif not info.is_dir():
                safe[info.filename.replace("\\", "/")] = info
        result.metadata = _read_metadata(archive, safe, day, hour)
        by_basename: dict[str, list[str]] = {}
        for name in safe:
            by_basename.setdefault(name.rsplit("/", 1)[-1], []).append(name)
        for session in result.metadata.get("sessions") or []:
            conv, sid = session.get("externalConversationId"), session.get("sessionId")
            for meta in session.get("files") or []:
                name = meta.get("fileName")
                entry = _locate(safe, by_basename, conv, sid, name)
                if entry is None:
                    logger.error("Knovvu archive for %s hour %s lists %r (session %s) but holds no safe entry for it",
                                 day, hour, name, sid)
                    result.files[(str(sid), str(name))] = None
                    continue
                key = file_key(day, hour, conv, sid, name)
                with archive.open(entry) as src:
                    stored = store.write(key, iter(functools.partial(src.read, CHUNK), b""), expected_size=entry.file_size)
                result.files[(str(sid), str(name))] = {
                    "archive_path": entry.filename, "storage_uri": stored.uri, "storage_key": stored.key,
                    "sha256": stored.sha256, "size_bytes": stored.size_bytes,
                }
    return result


def _read_metadata(archive: zipfile.ZipFile, safe: dict[str, zipfile.ZipInfo], day: str, hour: str) -> dict:
    info = safe.get("metadata.json") or next((i for n, i in safe.items() if n.endswith("/metadata.json")), None)
    if info is None:
        msg = f"Knovvu archive for {day} hour {hour} has no metadata.json"
        raise ArchiveError(msg)
    with archive.open(info) as fh:
        try:
            metadata = json.load(fh)
        except ValueError as exc:
            msg = f"Knovvu archive for {day} hour {hour}: metadata.json is not valid JSON ({exc})"
            raise ArchiveError(msg) from exc
    if not isinstance(metadata, dict) or not isinstance(metadata.get("sessions", []), list):
        msg = f"Knovvu archive for {day} hour {hour}: metadata.json is not the documented shape"
        raise ArchiveError(msg)
    return metadata


def _locate(safe: dict[str, zipfile.ZipInfo], by_basename: dict[str, list[str]],
            conv: object, sid: object, name: object) -> zipfile.ZipInfo | None:
    """The entry for a listed file: ``conv/session/name``, ``session/name``, ``name``, or a unique basename."""
    if not isinstance(name, str) or not name:
        return None
    for candidate in (f"{conv}/{sid}/{name}", f"{sid}/{name}", name):
        if candidate in safe:
            return safe[candidate]
    matches = [n for n in by_basename.get(name, []) if f"/{sid}/" in f"/{n}" or n.startswith(f"{sid}/")]
    if len(matches) == 1:
        return safe[matches[0]]
    candidates = by_basename.get(name, [])
    return safe[candidates[0]] if len(candidates) == 1 else None
