"""Write downloaded files to a folder or any fsspec URL, with sha256 and size.

``storage_url`` is a local folder (``./storage``, ``/data/archive``) or an
fsspec URL (``s3://bucket/prefix``, ``memory://x``). Each file is written in
chunks under a temporary name and renamed into place only once complete and
verified, so a half-written file never sits under its final key and memory
stays bounded by the chunk size.
"""

from __future__ import annotations

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


class FileStore:
    """Write byte streams under ``storage_url`` with a temporary name and a rename."""

    def __init__(self, storage_url: str) -> None:
        """Args:
        storage_url: a local folder or fsspec URL; created if missing.
        """
        self.storage_url = storage_url
        self.fs, root = url_to_fs(storage_url)
        self.root = root.rstrip("/")
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
            FileIntegrityError: size mismatch or ``check`` refused; nothing is
                left under ``key`` (an older complete copy stays untouched).
        """
        final = self.path_for(key)
        parent = final.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        temp = f"{final}.part-{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        size = 0
        try:
            with self.fs.open(temp, "wb") as out:
                for chunk in chunks:
                    if not chunk:
                        continue
                    if size == 0 and check is not None:
                        check(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            if expected_size is not None and size != expected_size:
                msg = f"{key}: received {size} bytes, the vendor announced {expected_size}"
                raise FileIntegrityError(msg)
            self.fs.mv(temp, final)
        except BaseException:
            if self.fs.exists(temp):
                self.fs.rm(temp)
            raise
        return StoredFile(uri=self.uri_for(key), key=key, sha256=digest.hexdigest(), size_bytes=size)


def open_url(url: str, mode: str = "rb") -> t.IO[bytes]:
    """Open a recorded ``storage_uri`` (any fsspec URL) for reading."""
    return t.cast("t.IO[bytes]", fsspec.open(url, mode).open())
