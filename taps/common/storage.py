"""Write downloaded files to a folder or any fsspec URL, with sha256 and size.

``storage_url`` is a local folder (``./storage``, ``/data/archive``) or an
fsspec URL (``s3://bucket/prefix``, ``memory://x``). Memory stays bounded by
the chunk size (and, on object stores, one upload part of
``UPLOAD_PART_BYTES``), and a half-written file never sits under its final key:

- on a filesystem (a local folder, ``memory://``) the file is written under a
  temporary name beside its key and renamed into place once complete and
  verified;
- on an object store (S3 and the other fsspec object stores) there is no
  rename, so the file is uploaded with fsspec's transactional write
  (``autocommit=False``: an S3 multipart upload), its size checked, and only
  then committed (the multipart upload completed): the object appears under
  its key whole or not at all. A failed or refused file aborts the upload; a
  process killed mid-file leaves only an incomplete multipart upload, which
  no key shows (a bucket lifecycle rule ``AbortIncompleteMultipartUpload``
  reclaims its parts). After the commit the object's size is read back from
  the store before the caller emits the record that points to it.

S3 credentials and endpoint come from the usual AWS settings (environment
variables ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``,
``AWS_PROFILE``, ``AWS_ENDPOINT_URL`` for an S3-compatible server, instance
roles) as botocore resolves them, or fsspec's ``FSSPEC_S3_*`` variables; they
are never part of ``storage_url`` and never reach a record or a log line.
S3 needs the ``s3`` extra (``pip install 'conversation-archive-taps[s3]'``).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import typing as t
import uuid
from dataclasses import dataclass

import fsspec
from fsspec.core import url_to_fs


def key_part(value: object) -> str:
    """One storage-key component from a vendor value: ``/``, ``\\`` and control
    characters become ``_``; empty, ``.`` and ``..`` become ``_``."""
    text = re.sub(r"[/\\\x00-\x1f]", "_", "" if value is None else str(value))
    return "_" if text in ("", ".", "..") else text


class FileIntegrityError(Exception):
    """A downloaded file did not match what the vendor announced (size, format)."""


class IncompleteFile(FileIntegrityError):
    """The body ended before the file did: fewer (or more) bytes than the vendor announced, or a
    JSON file that does not parse to its end. A transfer problem, so downloads retry it."""


@dataclass(frozen=True)
class StoredFile:
    """Where a file went and what it was.

    Attributes:
        uri: the final location (``file:///…`` or the fsspec URL).
        key: the key relative to ``storage_url``.
        sha256: hex digest of the bytes written.
        size_bytes: number of bytes written.
    """

    uri: str
    key: str
    sha256: str
    size_bytes: int


# protocols whose filesystems rename in place; every other fsspec filesystem is treated as an
# object store (copy + delete on "rename"), written with a transactional upload instead
RENAMING_PROTOCOLS = frozenset({"file", "local", "memory"})
# object-store upload part (bytes held in memory per file; S3 allows 10,000 parts, so files up to 80 GiB)
UPLOAD_PART_BYTES = 8 << 20


class FileStore:
    """Write byte streams under ``storage_url``: whole or not at all (see the module docstring)."""

    def __init__(self, storage_url: str) -> None:
        """Args:
        storage_url: a local folder or fsspec URL; a folder is created if
            missing, an S3 bucket must already exist.
        """
        self.storage_url = storage_url
        self.fs, root = url_to_fs(storage_url)
        self.root = root.rstrip("/")
        protocols = self.fs.protocol if isinstance(self.fs.protocol, (tuple, list)) else (self.fs.protocol,)
        self.renames = bool(RENAMING_PROTOCOLS & set(protocols))
        if self.renames:  # object stores have no folders (and a missing bucket should fail, not be created)
            self.fs.makedirs(self.root, exist_ok=True)

    def path_for(self, key: str) -> str:
        """The filesystem path for ``key`` (``a/b/c.opus``).

        Raises:
            ValueError: ``key`` is absolute or climbs out with ``..``.
        """
        parts = key.split("/")
        if key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            msg = f"Refusing unsafe storage key {key!r}"
            raise ValueError(msg)
        return f"{self.root}/{key}"

    def uri_for(self, key: str) -> str:
        """The URI recorded for ``key`` (``file://`` URL for local storage)."""
        return t.cast("str", self.fs.unstrip_protocol(self.path_for(key)))

    def write(
        self,
        key: str,
        chunks: t.Iterable[bytes],
        *,
        expected_size: int | None = None,
        check: t.Callable[[bytes], None] | None = None,
    ) -> StoredFile:
        """Stream ``chunks`` to ``key``, hashing as it goes.

        Args:
            key: relative key; parents are created.
            chunks: the file's bytes, in order (e.g. ``response.iter_content(1 << 20)``).
            expected_size: bytes the vendor announced; a mismatch is an error.
            check: called with the first chunk (e.g. to refuse an HTML page);
                raise ``FileIntegrityError`` to refuse the file.

        Returns:
            The stored file's URI, key, sha256 and size in bytes.

        Raises:
            IncompleteFile: size mismatch (a ``FileIntegrityError``).
            FileIntegrityError: ``check`` refused. Either way nothing is
                left under ``key`` (an older complete copy stays untouched).
        """
        final = self.path_for(key)
        if not self.renames:
            return self._upload(key, final, chunks, expected_size, check)
        parent = final.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        temp = f"{final}.part-{uuid.uuid4().hex}"
        try:
            with self.fs.open(temp, "wb") as out:
                digest, size = _copy(chunks, out, check)
            _check_size(key, size, expected_size)
            self.fs.mv(temp, final)
        except BaseException:
            if self.fs.exists(temp):
                self.fs.rm(temp)
            raise
        return StoredFile(uri=self.uri_for(key), key=key, sha256=digest, size_bytes=size)

    def _upload(self, key: str, final: str, chunks: t.Iterable[bytes], expected_size: int | None,
                check: t.Callable[[bytes], None] | None) -> StoredFile:
        """Object store: transactional upload, size check, commit, then read the size back."""
        out = self.fs.open(final, "wb", autocommit=False, block_size=UPLOAD_PART_BYTES)
        try:
            digest, size = _copy(chunks, out, check)
            _check_size(key, size, expected_size)
            out.close()  # uploads the last part; nothing is visible under the key yet
        except BaseException:
            with contextlib.suppress(Exception):  # the original error matters more than a failed abort
                out.discard()  # aborts the multipart upload: no object, an older copy stays
                out.closed = True  # nothing left to flush when the file object is collected
            raise
        out.commit()
        self.fs.invalidate_cache(final)
        stored = int(self.fs.info(final)["size"])
        if stored != size:
            msg = f"{key}: the store holds {stored} bytes after upload, {size} were sent"
            raise FileIntegrityError(msg)
        return StoredFile(uri=self.uri_for(key), key=key, sha256=digest, size_bytes=size)


def _copy(chunks: t.Iterable[bytes], out: t.IO[bytes], check: t.Callable[[bytes], None] | None) -> tuple[str, int]:
    """Write ``chunks`` to ``out``; returns (sha256 hex digest, size in bytes)."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        if not chunk:
            continue
        if size == 0 and check is not None:
            check(chunk)
        digest.update(chunk)
        size += len(chunk)
        out.write(chunk)
    return digest.hexdigest(), size


def _check_size(key: str, size: int, expected_size: int | None) -> None:
    if expected_size is not None and size != expected_size:
        msg = f"{key}: received {size} bytes, the vendor announced {expected_size}"
        raise IncompleteFile(msg)


def open_url(url: str, mode: str = "rb") -> t.IO[bytes]:
    """Open a recorded ``storage_uri`` (any fsspec URL) for reading."""
    return t.cast("t.IO[bytes]", fsspec.open(url, mode).open())
