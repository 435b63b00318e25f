"""Emit a STATE message in the middle of a stream.

singer-sdk writes STATE every ``STATE_MSG_FREQUENCY`` records and at the end
of a partition. Taps whose progress is not one record at a time (Kore.ai's
date windows, Knovvu's per-hour map) checkpoint when a unit of work is done.
"""

from __future__ import annotations

from singer_sdk import Stream


def write_state_now(stream: Stream) -> None:
    """Write the tap's current state as a STATE message now, even if nothing changed since the last one.

    Relies on singer-sdk 0.54 internals (``state_manager.is_flushed`` and
    ``Stream._write_state_message``): kept here, in one place, for the next SDK upgrade.
    """
    stream.state_manager.is_flushed = False
    stream._write_state_message()  # noqa: SLF001
