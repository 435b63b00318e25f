"""Fault injection for the sandboxes: what can go wrong on the wire, armed per request.

Tests arm faults with ``app.faults.add(kind, path_regex, **options)``; the server
(``sandboxes.base``) takes the first armed fault matching each request (method and
a regex searched in the path), consuming one of its ``times`` after letting
``after`` matching requests through, and records it in ``FaultPlan.fired``.

Kinds:
    status    answer ``status`` with ``body`` and ``headers`` instead of the real answer
              (429 + ``Retry-After``, a 5xx, a 401 ...)
    drop      close the connection without answering
    stall     wait ``seconds`` before answering at all: a response slower than the client's timeout
    slow      send the body in ``SLOW_PIECE_BYTES`` pieces, waiting ``seconds`` before each (a slow download)
    truncate  a short body: announce the full ``Content-Length``, send half the body, close
              (the client sees ``IncompleteRead``)
    cut       a complete answer whose body is the first half of the real one, ``Content-Length``
              matching the half: truncated JSON (or a short file) that only a parser or a size check notices
    mutate    the real JSON answer passed through ``transform(body) -> body`` (an unexpected field,
              an unexpected type)

Vendors add kinds of their own through ``SandboxApp.fault_response``.
"""

from __future__ import annotations

import json
import re
import threading
import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from sandboxes.base import SandboxRequest

#: piece size of a ``slow`` fault's body
SLOW_PIECE_BYTES = 256 * 1024

#: kinds whose answer is the real one with its body reshaped (``reshape_body``)
RESHAPING_KINDS = frozenset({"cut", "mutate"})


@dataclass
class Fault:
    """A fault to inject; see the module docstring for the kinds.

    Attributes:
        kind: one of the kinds above, or a vendor's own.
        path: regex searched in the request path.
        method: only requests with this method (``None``: any).
        times: how many matching requests it fires on.
        status, body, headers: the answer of a ``status`` fault.
        after: matching requests let through before it fires.
        seconds: ``stall``: the wait before answering; ``slow``: the wait before each piece.
        transform: ``mutate``: the real JSON body -> the body sent.
    """

    kind: str
    path: str = ".*"
    method: str | None = None
    times: int = 1
    status: int = 500
    body: t.Any = None
    headers: dict[str, str] = field(default_factory=dict)
    after: int = 0
    seconds: float = 0.0
    transform: t.Callable[[t.Any], t.Any] | None = None

    def matches(self, request: SandboxRequest) -> bool:
        """True when this fault applies to ``request``."""
        if self.method and self.method.upper() != request.method:
            return False
        return re.search(self.path, request.path) is not None


class FaultPlan:
    """Faults waiting to fire, in the order added; thread-safe."""

    def __init__(self) -> None:
        """Start with no faults."""
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        #: ``(kind, request path)`` of every fault fired, in order.
        self.fired: list[tuple[str, str]] = []

    def add(self, kind: str, path: str = ".*", **options: t.Any) -> Fault:
        """Arm a fault.

        Args:
            kind: see the module docstring (vendors may add their own).
            path: regex searched in the request path.
            **options: the other ``Fault`` attributes: ``method``, ``times`` (default 1),
                ``status``, ``body`` (bytes, str or JSON-able), ``headers``, ``after``,
                ``seconds``, ``transform``.

        Returns:
            The armed fault.
        """
        fault = Fault(kind=kind, path=path, **options)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, request: SandboxRequest) -> Fault | None:
        """The fault to apply to ``request``, if any, consuming one of its ``times``."""
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.matches(request):
                    if fault.after > 0:
                        fault.after -= 1
                        continue
                    fault.times -= 1
                    self.fired.append((fault.kind, request.path))
                    return fault
        return None

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()


def reshape_body(fault: Fault, body: bytes) -> bytes:
    """The body a ``cut`` or ``mutate`` fault sends instead of ``body`` (the real answer's).

    ``cut``: the first half (at least one byte). ``mutate``: ``body`` parsed as JSON,
    passed through ``fault.transform``, serialized again (UTF-8); a body that is not
    JSON is sent unchanged.
    """
    if fault.kind == "cut":
        return body[: max(1, len(body) // 2)]
    if fault.kind == "mutate" and fault.transform is not None:
        try:
            payload = json.loads(body)
        except ValueError:
            return body
        return json.dumps(fault.transform(payload), ensure_ascii=False).encode("utf-8")
    return body
