"""Deterministic, streamed ZIP archives for the Knovvu emulator.

Archives hold *stored* (uncompressed) entries so their exact size is known
before a single byte is produced: the emulator announces it as ``sizeBytes``
and as ``Content-Length``, then streams the archive in chunks, so a 1 GB
archive never sits in memory on either side. Entry content is pseudo-random
bytes derived from a seed string (``random.Random(seed)``), regenerated on
every pass: one pass computes the CRC-32 values, another streams the bytes.

Format: PKWARE APPNOTE 6.3 local file headers, central directory and end of
central directory record; no ZIP64 (archives and entries stay below 4 GiB).
"""

from __future__ import annotations

import random
import struct
import typing as t
import zlib
from dataclasses import dataclass, field

CHUNK = 1 << 20
LOCAL_HEADER = 30
CENTRAL_HEADER = 46
END_RECORD = 22
DOS_TIME = 0
DOS_DATE = (2025 - 1980) << 9 | 12 << 5 | 13  # 2025-12-13, a fixed date keeps bytes deterministic


@dataclass
class Entry:
    """One archive member.

    Attributes:
        name: path inside the archive (``conv-1/session-1/message_1_agent_tts.opus``).
        size: content length in bytes.
        seed: seed string for pseudo-random content (ignored when ``data`` is set).
        data: literal content (``metadata.json``).
        prefix: bytes that start the pseudo-random content (``OggS`` for Opus files).
    """

    name: str
    size: int = 0
    seed: str = ""
    data: bytes | None = None
    prefix: bytes = b""
    crc: int | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        """Literal entries take their size from ``data``."""
        if self.data is not None:
            self.size = len(self.data)

    def chunks(self) -> t.Iterator[bytes]:
        """The entry's content in chunks of at most 1 MiB."""
        if self.data is not None:
            yield self.data
            return
        rng = random.Random(self.seed)
        head = self.prefix[: self.size]
        if head:
            yield head
        remaining = self.size - len(head)
        while remaining > 0:
            n = min(CHUNK, remaining)
            yield rng.randbytes(n)
            remaining -= n

    def checksum(self) -> int:
        """CRC-32 of the content (computed once, streaming)."""
        if self.crc is None:
            crc = 0
            for chunk in self.chunks():
                crc = zlib.crc32(chunk, crc)
            self.crc = crc
        return self.crc


def overhead(names: t.Iterable[str]) -> int:
    """Bytes a stored archive adds around its entries' content (headers, directory)."""
    return END_RECORD + sum(LOCAL_HEADER + CENTRAL_HEADER + 2 * len(n.encode("utf-8")) for n in names)


def archive_size(entries: t.Sequence[Entry]) -> int:
    """Exact size in bytes of the archive ``stream_archive(entries)`` produces."""
    return overhead(e.name for e in entries) + sum(e.size for e in entries)


def _local_header(entry: Entry, name: bytes) -> bytes:
    return struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0x0800, 0, DOS_TIME, DOS_DATE,
        entry.checksum(), entry.size, entry.size, len(name), 0,
    ) + name


def _central_header(entry: Entry, name: bytes, offset: int) -> bytes:
    return struct.pack(
        "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0x0800, 0, DOS_TIME, DOS_DATE,
        entry.checksum(), entry.size, entry.size, len(name), 0, 0, 0, 0, 0, offset,
    ) + name


def stream_archive(entries: t.Sequence[Entry], *, corrupt: bool = False) -> t.Iterator[bytes]:
    """Yield a stored ZIP archive of ``entries`` chunk by chunk.

    Args:
        entries: members in archive order.
        corrupt: flip bytes inside the last non-empty member's content, so the
            archive keeps its size and structure but fails its CRC check.
    """
    victim = max((i for i, e in enumerate(entries) if e.size > 0), default=-1) if corrupt else -1
    offset = 0
    directory = []
    for index, entry in enumerate(entries):
        name = entry.name.encode("utf-8")
        directory.append(_central_header(entry, name, offset))
        header = _local_header(entry, name)
        yield header
        offset += len(header)
        for chunk_index, chunk in enumerate(entry.chunks()):
            if index == victim and chunk_index == 0:
                chunk = bytes(b ^ 0xFF for b in chunk[:16]) + chunk[16:]  # noqa: PLW2901
            yield chunk
        offset += entry.size
    central = b"".join(directory)
    yield central
    yield struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(central), offset, 0)
