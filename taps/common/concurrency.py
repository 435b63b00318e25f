"""Bounded concurrency for independent child requests, keeping Singer's order.

singer-sdk syncs a child stream for each parent record, one after the other:
with 100 ms of vendor latency a tap spends nearly all its time waiting. Here
the parent's records are read a few ahead, and each one's child requests
(a Foundry session's content, a Salesloft conversation's extensive view, a
Zoom user's archives and files) start in a thread pool of ``max_concurrency``
workers. The SDK still emits everything in the serial order: when it syncs the
child for parent N it takes parent N's result, waiting for it if needed, and
raises the worker's exception at that very point. So:

* a partition's records come out in the same order as with ``max_concurrency: 1``;
* STATE is written by the main thread only, after the records it covers;
* a bookmark moves only when the SDK emits the record, as before;
* workers share the tap's authenticator (one token, minted under a lock),
  its rate budget and ``RequestGate`` (one ``Retry-After`` pauses them all).

``max_concurrency: 1`` (or an unselected child) runs nothing ahead: the child
fetches inline as it always did.
"""

from __future__ import annotations

import collections
import functools
import threading
import time
import typing as t
from concurrent.futures import Future, ThreadPoolExecutor

from singer_sdk import typing as th

from taps.common.sdk_compat import tap_of

if t.TYPE_CHECKING:
    from singer_sdk import Stream

    from taps.common.tap import VendorTap

DEFAULT_MAX_CONCURRENCY = 8
#: child-context key a parent sets to True when the record was archived unchanged, children included,
#: by an earlier run (request economy: the child is not requested again; see ``FanOutChild.should_fetch``).
PARENT_UNCHANGED = "parent_unchanged"
#: parents read ahead per worker, so the pool stays busy while the main thread emits (and, for Foundry, while
#: a listing pages on: its first ``max_workers * LOOKAHEAD_PER_WORKER`` sessions' contents start at once).
#: 4 rather than 2: P1 Foundry 5.84-6.06x -> 6.16-6.21x (interleaved, quiet machine); up to 32 children's
#: results (records, not files: those are on disk) wait in memory at the default concurrency.
LOOKAHEAD_PER_WORKER = 4

T = t.TypeVar("T")
#: a child partition's key (``context_key``).
Key = tuple[t.Any, ...]
#: work for a worker: the key its result is taken by, and the function to run.
Job = tuple[Key, t.Callable[[], t.Any]]


def concurrency_setting() -> th.Property[t.Any]:
    """``max_concurrency``: child requests in flight at once (1 = serial)."""
    return th.Property(
        "max_concurrency",
        th.IntegerType(minimum=1, maximum=64),
        default=DEFAULT_MAX_CONCURRENCY,
        title="Max concurrency",
        description=(
            "Independent child requests (per user, session, conversation, file or Knovvu hour) in flight at once; "
            "1 reads serially. Records, their order and state are the same for every value."
        ),
    )


def context_key(stream_name: str, context: t.Mapping[str, t.Any] | None) -> Key:
    """A hashable key for one child partition: the stream name and its context items."""
    return (stream_name, tuple(sorted((k, repr(v)) for k, v in (context or {}).items())))


class FanOut:
    """A thread pool whose results are consumed in submission order.

    Args:
        max_workers: pool size; 1 disables look-ahead entirely.
    """

    def __init__(self, max_workers: int) -> None:
        """See class docstring."""
        self.max_workers = max(1, int(max_workers))
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[Key, Future[t.Any]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        """True when more than one worker is allowed."""
        return self.max_workers > 1

    @property
    def window(self) -> int:
        """Parents whose children may be fetched ahead at once: ``max_workers * LOOKAHEAD_PER_WORKER``
        (0 when the pool is disabled)."""
        return self.max_workers * LOOKAHEAD_PER_WORKER if self.enabled else 0

    def ahead(self, items: t.Iterable[T], prepare: t.Callable[[T], list[Job]]) -> t.Iterator[T]:
        """Yield ``items`` in order while their child work runs ahead in the pool.

        ``prepare(item)`` runs in the calling thread, as soon as an item is read
        (up to ``max_workers * LOOKAHEAD_PER_WORKER`` items before it is
        yielded), and returns ``(key, work)`` pairs: ``work()`` runs in a worker
        and its result (or exception) is handed to whoever calls ``take(key)``;
        work already pending under a key (started early, ``start``) is kept.
        Work not taken when the caller stops is cancelled or discarded.
        """
        if not self.enabled:
            yield from items
            return
        window: collections.deque[tuple[T, list[Key]]] = collections.deque()
        iterator = iter(items)
        exhausted = False
        limit = self.window
        try:
            while True:
                while not exhausted and len(window) < limit:
                    try:
                        item = next(iterator)
                    except StopIteration:
                        exhausted = True
                        break
                    window.append((item, self.start(prepare(item))))
                if not window:
                    return
                item, _keys = window.popleft()
                yield item
        finally:
            for _item, keys in window:
                self.discard(keys)

    def submit(self, work: t.Callable[[], t.Any]) -> Future[t.Any]:
        """Run ``work()`` in the pool; the caller keeps the future (and consumes it in order)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="fan-out")
        return self._pool.submit(work)

    def start_all(self, jobs: t.Sequence[t.Callable[[], T]]) -> list[Future[T]]:
        """Start ``jobs`` (independent of each other) and return their futures, in order.

        With the pool enabled and more than one job, they run in the pool; the
        caller takes the results in order (``future.result()`` raises a job's
        exception there). Otherwise they run now, in this thread, one after the
        other, stopping at the first that raises (its future holds the
        exception; the later ones are cancelled, never run), as a serial loop
        would. Jobs must not wait for other pool work (a worker may call this:
        it returns without waiting).
        """
        if self.enabled and len(jobs) > 1:
            return [self.submit(job) for job in jobs]
        futures: list[Future[T]] = []
        failed = False
        for job in jobs:
            future: Future[T] = Future()
            if failed:
                future.cancel()
            else:
                try:
                    future.set_result(job())
                except Exception as exc:  # noqa: BLE001 - handed to whoever takes the result
                    future.set_exception(exc)
                    failed = True
            futures.append(future)
        return futures

    def start(self, jobs: t.Iterable[Job]) -> list[Key]:
        """Submit each ``(key, work)`` unless work under ``key`` is already pending (that work is kept);
        the keys, for ``take`` or ``discard``. Safe from any thread."""
        keys = []
        for key, work in jobs:
            with self._lock:
                if key not in self._pending:
                    self._pending[key] = self.submit(work)
            keys.append(key)
        return keys

    def take(self, key: Key) -> Future[t.Any] | None:
        """The future of the work submitted under ``key`` (removed), or ``None`` if there is none."""
        with self._lock:
            return self._pending.pop(key, None)

    def discard(self, keys: t.Iterable[Key]) -> None:
        """Forget (and cancel, if not started) the work under ``keys``."""
        for key in keys:
            future = self.take(key)
            if future is not None:
                future.cancel()

    def shutdown(self) -> None:
        """Cancel queued work and stop the workers (running ones finish)."""
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for future in pending:
            future.cancel()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RequestGate:
    """One pause for every worker: when the vendor says "wait", nobody sends.

    ``hold(seconds)`` (after a 429's ``Retry-After``) moves the time before
    which no request may start; ``wait()`` (before every request) sleeps until
    then. Monotonic clock, seconds. ``close(error)`` (a quota spent for the
    day) makes every later ``wait()`` raise ``error``, so the requests other
    workers had queued are never sent.
    """

    def __init__(self, sleep: t.Callable[[float], None] = time.sleep) -> None:
        """Args:
        sleep: the sleep function (tests may replace it).
        """
        self._not_before = 0.0
        self._lock = threading.Lock()
        self._sleep = sleep
        self._closed: BaseException | None = None

    def close(self, error: BaseException) -> None:
        """No request starts any more: every later ``wait()`` raises ``error``."""
        with self._lock:
            if self._closed is None:
                self._closed = error

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called (no request starts any more)."""
        return self._closed is not None

    def hold(self, seconds: float) -> None:
        """No request starts in the next ``seconds`` seconds."""
        if seconds <= 0:
            return
        with self._lock:
            self._not_before = max(self._not_before, time.monotonic() + seconds)

    def wait(self) -> None:
        """Sleep until the gate is open.

        Raises:
            BaseException: the error the gate was closed with, if it was.
        """
        while True:
            with self._lock:
                if self._closed is not None:
                    raise self._closed
                remaining = self._not_before - time.monotonic()
            if remaining <= 0:
                return
            self._sleep(remaining)


class FanOutChild:
    """Mixin for a child REST stream whose requests may run ahead of the SDK.

    The parent stream (a ``FanOutParent``) submits ``fetch(context)`` for
    each child context; ``request_records`` then serves that result, or
    requests inline when nothing was submitted. Put it before the vendor's
    stream class: ``class Exchanges(FanOutChild, FoundryStream)``.
    """

    def should_fetch(self, context: t.Any) -> bool:
        """Whether the child partition needs a request at all: not when the parent marked its
        context ``PARENT_UNCHANGED`` (an earlier run archived it and its children)."""
        return not (context or {}).get(PARENT_UNCHANGED)

    def fetch(self, context: t.Any) -> list[dict[str, t.Any]]:
        """Every raw record of the child partition (runs in a worker thread)."""
        return list(super().request_records(context))  # type: ignore[misc]

    def request_records(self, context: t.Any) -> t.Iterable[dict[str, t.Any]]:
        """The records fetched ahead for ``context``, else requested now; none when ``should_fetch`` says no."""
        if not self.should_fetch(context):
            return
        future = fan_out_of(self).take(context_key(self.name, context))  # type: ignore[attr-defined]
        if future is None:
            yield from super().request_records(context)  # type: ignore[misc]
        else:
            yield from future.result()


class FanOutParent:
    """Mixin for a parent stream whose ``FanOutChild`` children are fetched ahead.

    Only selected children (or children with selected descendants) are
    fetched; ``get_child_context(record, context)`` must be what the SDK passes
    the child (the record as ``get_records`` yields it).
    """

    def get_records(self, context: t.Any) -> t.Iterable[dict[str, t.Any]]:
        """The parent's records, in order, with their children's requests started ahead.

        A stream that overrides ``get_records`` itself passes its records
        through ``fan_out_ahead`` instead.
        """
        return self.fan_out_ahead(super().get_records(context), context)  # type: ignore[misc]

    def fan_out_ahead(self, records: t.Iterable[dict[str, t.Any]], context: t.Any) -> t.Iterator[dict[str, t.Any]]:
        """``records`` in order, each one's ``FanOutChild`` requests started ahead in the tap's pool."""
        fan_out = fan_out_of(self)
        if not self.fan_out_children or not fan_out.enabled:
            yield from records
            return
        yield from fan_out.ahead(records, functools.partial(self.child_jobs, context=context))

    @property
    def fan_out_children(self) -> list[FanOutChild]:
        """The selected ``FanOutChild`` children (or those with selected descendants)."""
        return [c for c in self.child_streams  # type: ignore[attr-defined]
                if isinstance(c, FanOutChild) and (c.selected or c.has_selected_descendents)]  # type: ignore[attr-defined]

    def child_jobs(self, record: dict[str, t.Any], context: t.Any) -> list[Job]:
        """The ``(key, work)`` of each child request of ``record`` (none when a child need not fetch),
        under the key its ``FanOutChild.request_records`` takes."""
        child_context = self.get_child_context(record, context)  # type: ignore[attr-defined]
        if child_context is None:
            return []
        return [(context_key(child.name, child_context), functools.partial(child.fetch, dict(child_context)))  # type: ignore[attr-defined]
                for child in self.fan_out_children if child.should_fetch(child_context)]


def fan_out_of(stream: object) -> FanOut:
    """The ``FanOut`` pool (setting ``max_concurrency``) of the tap that owns ``stream`` (a ``VendorTap``);
    for streams that are not ``VendorRESTStream`` s (Knovvu's file streams) as for those that are."""
    return t.cast("VendorTap[t.Any]", tap_of(t.cast("Stream", stream))).fan_out
