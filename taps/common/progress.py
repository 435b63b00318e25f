"""Progress lines for long downloads (Knovvu hourly ZIPs, Zoom files, Salesloft artifacts).

``DownloadProgress`` is an ``on_progress(done_bytes, total_bytes)`` hook for
the shared download path: it logs at most once every ``interval`` seconds
(default 10) what is downloading, bytes done of the total, the share and the
rate since the download began::

    Downloading Knovvu 2026-11-28 hour 14 archive: 41.9 MB of 120.0 MB (35%), 4.2 MB/s

A download that ends within the first interval logs nothing (the run summary
counts it); one that took longer logs a last line when the total is reached.

The taps that store files (Knovvu, Zoom, Salesloft) create one per file and hand
it to ``taps.common.downloads.Download`` as the call's ``on_progress``; the
interval is the tap setting ``progress_interval_seconds`` (``progress_for``).
"""

from __future__ import annotations

import logging
import time
import typing as t

from taps.common.summary import human_bytes

if t.TYPE_CHECKING:
    from taps.common.settings import TapSettings

DEFAULT_INTERVAL_SECONDS = 10.0


def progress_for(what: str, logger: logging.Logger, settings: TapSettings) -> DownloadProgress:
    """A ``DownloadProgress`` for one file, every ``settings.progress_interval_seconds`` (the tap setting
    ``progress_interval_seconds``, ``taps.common.tap.progress_setting``; default 10 s).

    Args:
        what: what is downloading (vendor identifiers; never a URL, whose query may be a signature).
        logger: the stream's logger.
        settings: the tap's typed settings.
    """
    return DownloadProgress(what, logger, interval=settings.progress_interval_seconds)


class DownloadProgress:
    """Log the progress of one download at most every ``interval`` seconds.

    Args:
        what: what is downloading, for the log line (no URL query, no secret).
        logger: where the lines go (the stream's logger).
        interval: seconds between lines (at least that long apart).
        clock: monotonic seconds (tests replace it).
    """

    def __init__(self, what: str, logger: logging.Logger, *, interval: float = DEFAULT_INTERVAL_SECONDS,
                 clock: t.Callable[[], float] = time.monotonic) -> None:
        """See the class docstring."""
        self.what = what
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.last_logged = self.started
        self.lines = 0
        self.finished = False

    def __call__(self, done_bytes: int, total_bytes: int | None) -> None:
        """Report ``done_bytes`` of ``total_bytes`` (``None`` when the size is unknown)."""
        now = self.clock()
        complete = total_bytes is not None and done_bytes >= total_bytes
        if complete and not self.finished:
            self.finished = True
            if now - self.started >= self.interval:
                self._log(done_bytes, total_bytes, now)
            return
        if not complete and now - self.last_logged >= self.interval:
            self._log(done_bytes, total_bytes, now)

    def _log(self, done: int, total: int | None, now: float) -> None:
        self.last_logged = now
        self.lines += 1
        elapsed = max(now - self.started, 1e-9)
        rate = f"{human_bytes(int(done / elapsed))}/s"
        if total:
            self.logger.info("Downloading %s: %s of %s (%d%%), %s", self.what, human_bytes(done), human_bytes(total),
                             int(100 * done / total), rate)
        else:
            self.logger.info("Downloading %s: %s (size not announced), %s", self.what, human_bytes(done), rate)
