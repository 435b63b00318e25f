"""Lean Singer output: msgspec encoding, one SCHEMA per stream, flush at STATE.

singer-sdk lets a tap plug its message writer (``Tap.message_writer_class``;
singer-sdk docs, "Performance": ``singer_sdk.contrib.msgspec.MsgSpecWriter``,
installed with the ``singer-sdk[msgspec]`` extra). ``LeanWriter`` encodes with
msgspec like ``MsgSpecWriter`` and, unlike it, does not flush stdout after
every message: it flushes after each STATE message (and when the buffer fills).
A target therefore always receives every RECORD before the STATE that covers
it, and a killed tap loses only records no STATE has claimed yet, which the
next run reads again. When stdout's binary layer is unbuffered (Python run
with ``-u`` or ``PYTHONUNBUFFERED=1``, common in container images), the writer
keeps its own buffer with the same flush points, so each message is not a
``write`` system call of its own (P2: 1.18 s against 1.09 s for 5,000 records).
"""

from __future__ import annotations

import atexit
import io
import sys
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import SchemaMessage, StateMessage
from typing_extensions import override

if t.TYPE_CHECKING:
    from singer_sdk.singerlib.encoding.simple import Message


class LeanWriter(MsgSpecWriter):
    """msgspec-encoded Singer messages on stdout, flushed at every STATE message.

    Writes bytes to ``sys.stdout.buffer`` (looked up at each message, so a
    redirected ``sys.stdout`` works); a text-only stdout (``io.StringIO``)
    gets the same line decoded as UTF-8.
    """

    #: bytes kept for an unbuffered stdout before they are written (64 KiB).
    CHUNK_BYTES = 64 * 1024

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """singer-sdk's writer; an unbuffered stdout gets an ``io.BufferedWriter`` here (flushed at exit at the latest)."""
        super().__init__(*args, **kwargs)
        self._buffered: io.BufferedWriter | None = None
        atexit.register(self.flush_pending)

    @override
    def write_message(self, message: Message) -> None:
        """Write one message as a JSON line; flush after STATE messages."""
        out = sys.stdout
        line = self.format_message(message)
        buffer = getattr(out, "buffer", None)
        if isinstance(buffer, io.RawIOBase):  # unbuffered stdout: buffer here, same flush points
            buffer = self._buffer_for(buffer)
        if buffer is not None:
            buffer.write(line)
            if isinstance(message, StateMessage):
                buffer.flush()
                out.flush()
        else:
            out.write(line.decode("utf-8"))
            if isinstance(message, StateMessage):
                out.flush()

    def _buffer_for(self, raw: io.RawIOBase) -> io.BufferedWriter:
        """The ``io.BufferedWriter`` (``CHUNK_BYTES``) over ``raw``; a new one when stdout changed."""
        if self._buffered is None or self._buffered.raw is not raw:
            self.flush_pending()
            self._buffered = io.BufferedWriter(raw, buffer_size=self.CHUNK_BYTES)
        return self._buffered

    def flush_pending(self) -> None:
        """Write what an unbuffered stdout's buffer holds and let go of it (the raw stream stays open)."""
        buffered, self._buffered = self._buffered, None
        if buffered is not None and not buffered.raw.closed:
            buffered.flush()
            buffered.detach()  # so that collecting the buffer never closes stdout


class SchemaOnce:
    """Remembers which streams have had their SCHEMA message this run.

    singer-sdk writes a SCHEMA message every time a stream syncs, so a child
    stream repeats it once per parent record (8,773 SCHEMA messages for 5,000
    Salesloft conversations). A stream's schema does not change during a run,
    so the first one is enough for every Singer target.
    """

    def __init__(self) -> None:
        """Start with no stream seen."""
        self._seen: set[str] = set()

    def wanted(self, message: t.Any) -> bool:
        """False for a SCHEMA message of a stream that already had one; True otherwise."""
        if not isinstance(message, SchemaMessage):
            return True
        if message.stream in self._seen:
            return False
        self._seen.add(message.stream)
        return True
