"""Every use of a private singer-sdk name, in one place.

Why: singer-sdk gives no public way to do three things these taps need.

* **Write STATE now** (``write_state_now``): singer-sdk writes STATE every
  ``STATE_MSG_FREQUENCY`` records and at the end of a partition. Kore.ai
  checkpoints after each date window and Knovvu after each hour, so a run cut
  short resumes where it was; that needs ``Stream._write_state_message`` with
  ``state_manager.is_flushed`` reset.
* **Decide per record whether the bookmark moves** (``BookmarkHook``):
  singer-sdk advances the bookmark in ``Stream._increment_stream_state``,
  called for every emitted record. ``VendorRESTStream`` keeps re-read records
  (inside the lookback) from pulling it back, Kore.ai moves it only per
  finished window, Zoom bookmarks empty windows. ``BookmarkHook`` overrides the
  private hook once and hands over to the public ``bookmark_record``.
* **Reach the tap from a stream** (``tap_of``) and **install our own HTTP
  session** (``set_requests_session``): ``Stream._tap`` and
  ``RESTStream._requests_session`` have no public accessor.

Checked against singer-sdk ``SDK_RANGE`` (0.54.5 to 0.54.9 installed when
written); pyproject pins the dependency to the same range. On an upgrade,
``tests/test_sdk_compat.py`` fails first if one of these names moved or
stopped moving state; fix it here, nowhere else.
"""

from __future__ import annotations

import typing as t

from singer_sdk import Stream
from typing_extensions import override

if t.TYPE_CHECKING:
    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context, Record
    from singer_sdk.streams import RESTStream

#: the singer-sdk versions this module was checked against (the pin in pyproject.toml).
SDK_RANGE = ">=0.54.5,<0.55"


def write_state_now(stream: Stream) -> None:
    """Write the tap's current state as a STATE message now, not at singer-sdk's next checkpoint.

    singer-sdk's state writer still skips a state equal to the last one it wrote.
    Uses ``state_manager.is_flushed`` and ``Stream._write_state_message`` (private).
    """
    stream.state_manager.is_flushed = False
    stream._write_state_message()  # noqa: SLF001 - no public way to checkpoint mid-partition


def sdk_increment_state(stream: Stream, latest_record: Record, *, context: Context | None = None) -> None:
    """singer-sdk's own bookmark step for ``latest_record`` (``Stream._increment_stream_state``).

    Moves ``replication_key_value`` of ``context``'s state to the record's
    replication key value when the stream is incremental; raises singer-sdk's
    ``InvalidStreamSortException`` when a sorted stream goes backwards.
    """
    Stream._increment_stream_state(stream, latest_record, context=context)  # noqa: SLF001


def tap_of(stream: Stream) -> Tap:
    """The tap that owns ``stream`` (``Stream._tap``; singer-sdk has no public accessor).

    The only reader of ``Stream._tap``: ``VendorRESTStream.vendor_tap`` (the typed way a vendor
    stream reaches its tap's settings, authenticator, file store and budgets), the hand-off,
    fan-out and run summary in ``taps.common``, and Knovvu's streams (their ``KnovvuRun``).
    """
    return stream._tap  # noqa: SLF001


def set_requests_session(stream: RESTStream, session: requests.Session) -> None:
    """Make ``session`` the stream's ``requests_session`` (``RESTStream._requests_session``)."""
    stream._requests_session = session  # noqa: SLF001


def has_requests_session(stream: RESTStream) -> bool:
    """Whether the stream already made its ``requests_session``."""
    return bool(stream._requests_session)  # noqa: SLF001


class BookmarkHook(Stream):
    """A stream whose per-record bookmark step is the public ``bookmark_record``.

    singer-sdk calls the private ``_increment_stream_state`` after each emitted
    record; this class routes it to ``bookmark_record``, which subclasses
    override (and which code may call to bookmark without a record, e.g. an
    empty window). The default is singer-sdk's own step.
    """

    @override
    def _increment_stream_state(self, latest_record: Record, *, context: Context | None = None) -> None:
        """singer-sdk's private per-record hook: hands over to ``bookmark_record``."""
        self.bookmark_record(latest_record, context=context)

    def bookmark_record(self, latest_record: Record, *, context: Context | None = None) -> None:
        """Advance the bookmark of ``context``'s state past ``latest_record`` (singer-sdk's rule)."""
        sdk_increment_state(self, latest_record, context=context)
