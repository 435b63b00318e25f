"""Quiet logs by default: what an operator reads is the run summary, not the SDK's chatter.

* singer-sdk's METRIC lines (``singer_sdk.metrics`` logger) are kept off the
  output unless ``TAPS_LOG_METRICS`` is ``on`` (or ``true``/``1``/``yes``).
  The logger itself stays at its level, so the SDK still measures; only its
  records stop propagating to the console handlers.
* singer-sdk's per-partition lines ("Beginning sync of 'x' ... with context
  keys", "Pagination stopped after N pages because no records were found")
  are written only at DEBUG (``LOGLEVEL=DEBUG`` or ``meltano --log-level=debug``):
  a child stream synced once per parent record would otherwise log one line
  per record. The run summary counts the partitions instead. Of "Starting
  incremental sync of 'x' with bookmark value" only the first per stream is kept.
* singer-sdk's "An unhandled error occurred while syncing 'x'" is written only
  at DEBUG: an expected failure ends in one ERROR line from ``taps.common.cli``
  (which names the stream's endpoint), and a real bug keeps its traceback.
* singer-sdk's start-up lines that say nothing to an operator ("Skipping parse
  of env var settings...", "Added 'x' as child stream to 'y'"; Meltano starts
  each tap twice, so they came twice) are written only at DEBUG.
* singer-sdk's warning "Stream is assumed to be unsorted, progress is not
  resumable if interrupted", written once per partition (Foundry: once per
  agent), is written once per run.

Retries are logged once, by ``VendorRESTStream.backoff_handler`` (the
backoff library's own "Backing off" line is switched off there).
"""

from __future__ import annotations

import logging
import os

from singer_sdk.metrics import METRICS_LOGGER_NAME
from typing_extensions import override

METRICS_SWITCH = "TAPS_LOG_METRICS"
_ON = {"1", "true", "on", "yes"}
#: singer-sdk message templates that are written once per partition
PARTITION_TEMPLATES = (
    "Beginning sync of '%s' in %s mode with context keys: %s",
    "Pagination stopped after %d pages because no records were found in the last response",
    "Skipping parse of env var settings...",
    "Added '%s' as child stream to '%s'",
)
#: singer-sdk warnings repeated once per partition: the first is kept, the repeats dropped
ONCE_PER_RUN_WARNINGS = ("Stream is assumed to be unsorted, progress is not resumable if interrupted",)


def metrics_enabled() -> bool:
    """Whether the ``TAPS_LOG_METRICS`` switch asks for METRIC lines."""
    return os.environ.get(METRICS_SWITCH, "").strip().lower() in _ON


#: singer-sdk's ERROR line before re-raising a stream's failure (the CLI guard writes the one line that matters)
SYNC_FAILED_TEMPLATE = "An unhandled error occurred while syncing '%s'"

#: singer-sdk lines written once per partition, of which the first per stream is worth reading
FIRST_ONLY_TEMPLATES = ("Starting incremental sync of '%s' with bookmark value: %s",)


class PartitionChatterFilter(logging.Filter):
    """Drops singer-sdk's once-per-partition INFO lines and its "unhandled error while syncing"
    ERROR line unless the root logger is at DEBUG.

    Of ``FIRST_ONLY_TEMPLATES`` the first line per stream is kept, of
    ``ONCE_PER_RUN_WARNINGS`` the first line (at any level).
    """

    def __init__(self) -> None:
        """Start with no stream seen."""
        super().__init__()
        self.seen: set[str] = set()
        self.warned: set[str] = set()

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        """``False`` for a per-partition line at INFO, the sync-failed line and a repeated warning, when DEBUG is off."""
        if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
            return True
        if record.msg == SYNC_FAILED_TEMPLATE:
            return False
        if record.msg in ONCE_PER_RUN_WARNINGS:
            if record.msg in self.warned:
                return False
            self.warned.add(record.msg)
            return True
        if record.levelno != logging.INFO:
            return True
        if record.msg in PARTITION_TEMPLATES:
            return False
        if record.msg in FIRST_ONLY_TEMPLATES:
            stream = str(record.args[0]) if isinstance(record.args, tuple) and record.args else ""
            if stream in self.seen:
                return False
            self.seen.add(stream)
        return True


def quiet_sdk_logging() -> None:
    """Apply the defaults above to this process (idempotent; call once logging is set up).

    The per-partition filter goes on the root logger's handlers, where every
    stream logger's records end up.
    """
    metrics = logging.getLogger(METRICS_LOGGER_NAME)
    metrics.propagate = metrics_enabled()
    if not any(isinstance(h, logging.NullHandler) for h in metrics.handlers):
        metrics.addHandler(logging.NullHandler())  # no "last resort" output either
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, PartitionChatterFilter) for f in handler.filters):
            handler.addFilter(PartitionChatterFilter())
