"""The one way a parent stream hands data to its child streams.

Some children make no request of their own: their records come from what the
parent already has when it emits a record (Zoom's downloaded archive files,
Knovvu's unpacked hour, Kore.ai's messages of a conversation). The parent puts
that payload in the tap's ``Handoff`` under the child context of the record,
for exactly as long as the record is being emitted; the children read it by
the context singer-sdk passes them.

Why not the context itself: singer-sdk logs contexts, puts them in METRIC
lines and copies them; a payload (file contents, a file map) must not be
logged and can be large. The context stays small; the payload sits beside it.

Lifetime: singer-sdk syncs a record's children while the record is being
processed, before the parent's ``get_records`` generator resumes, so::

    with self.hand_to_children(self.get_child_context(record, context), payload):
        yield record

covers every child read, and drops the payload even when a stream map filters
the record out (its children are then not synced) or the run stops.
"""

from __future__ import annotations

import contextlib
import json
import typing as t

from singer_sdk import Stream
from typing_extensions import override

from taps.common.sdk_compat import tap_of

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from taps.common.tap import VendorTap


def _key(parent: str, child_context: t.Mapping[str, t.Any]) -> str:
    return json.dumps([parent, child_context], sort_keys=True, default=str)


class Handoff:
    """Payloads of the records being emitted, by parent stream name and child context (one per tap)."""

    def __init__(self) -> None:
        """Start empty."""
        self._payloads: dict[str, t.Any] = {}

    @contextlib.contextmanager
    def handing(self, parent: str, child_context: t.Mapping[str, t.Any], payload: t.Any) -> t.Iterator[None]:
        """Hold ``payload`` for ``parent``'s children with ``child_context`` inside the ``with`` block.

        A ``None`` payload holds nothing (``has`` is false: the record has no children to emit).
        """
        key = _key(parent, child_context)
        if payload is not None:
            self._payloads[key] = payload
        try:
            yield
        finally:
            self._payloads.pop(key, None)

    def get(self, parent: str, child_context: t.Mapping[str, t.Any] | None) -> t.Any:
        """The payload held for ``child_context``, or ``None``."""
        return self._payloads.get(_key(parent, child_context or {}))

    def __len__(self) -> int:
        """Payloads held now (0 between records)."""
        return len(self._payloads)

    def has(self, parent: str, child_context: t.Mapping[str, t.Any]) -> bool:
        """Whether a payload is held for ``child_context``."""
        return _key(parent, child_context) in self._payloads


def handoff_of(stream: Stream) -> Handoff:
    """The ``Handoff`` of the tap (a ``VendorTap``) that owns ``stream``."""
    return t.cast("VendorTap[t.Any]", tap_of(stream)).handoff


class PayloadParent(Stream):
    """A parent stream whose children read what it hands them (see the module docstring)."""

    def hand_to_children(self, child_context: t.Mapping[str, t.Any], payload: t.Any) -> t.ContextManager[None]:
        """Hold ``payload`` for the children of the record with ``child_context`` while the ``with`` block runs."""
        return handoff_of(self).handing(self.name, child_context, payload)

    def handing_to(self, child_context: t.Mapping[str, t.Any]) -> bool:
        """Whether a payload is held for ``child_context`` (e.g. to skip children of a record without one)."""
        return handoff_of(self).has(self.name, child_context)

    def child_selected(self, name: str) -> bool:
        """Whether this stream's child stream ``name`` is selected."""
        return any(child.name == name and child.selected for child in self.child_streams)


class PayloadChild(Stream):
    """A child stream whose records come from the payload its parent hands over (no request of its own).

    Subclasses set ``parent_stream_type`` to a ``PayloadParent`` and read ``parent_payload(context)``.
    """

    #: the children's state is one per stream, not one per parent record.
    state_partitioning_keys: t.ClassVar[list[str]] = []

    def parent_payload(self, context: Context | None) -> t.Any:
        """What the parent handed over for ``context``, or ``None``.

        Raises:
            TypeError: the stream has no ``parent_stream_type`` (a hand-off child needs one).
        """
        parent = self.parent_stream_type
        if parent is None:
            msg = f"{self.name} has no parent_stream_type"
            raise TypeError(msg)
        return handoff_of(self).get(parent.name, context)  # type: ignore[misc]  # a class attribute on every stream here

    @override
    def get_records(self, context: Context | None) -> t.Iterable[dict[str, t.Any]]:
        """The records built from the parent's payload (``records_from``); none without a payload."""
        payload = self.parent_payload(context)
        if payload is None:
            return
        yield from self.records_from(payload, context or {})

    def records_from(self, payload: t.Any, context: Context) -> t.Iterable[dict[str, t.Any]]:
        """This stream's records from the parent's ``payload``; subclasses implement."""
        raise NotImplementedError
