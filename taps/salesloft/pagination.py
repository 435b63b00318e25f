"""Keyset paging over ``updated_at`` for Salesloft list endpoints.

Salesloft pages by number (``page``/``per_page`` ≤ 100) and charges more for
deep pages (101–150: 3 points, …, 501+: 30). Page numbers over a result sorted
by a timestamp that changes also lose rows: an update moves a row to the end,
later pages shift left, and a row that slides across a page boundary is never
seen. So every request after the first asks again from the last
``updated_at`` seen (``updated_at[gte]``) at page 1, skipping the ids already
emitted at exactly that timestamp; page numbers are used only to walk a group
of rows that all share one timestamp (a bulk update larger than a page).
See developers.salesloft.com "Rate Limits" /
"Building an Efficient Cursor Poller".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import requests
from singer_sdk.pagination import BaseAPIPaginator
from typing_extensions import override

from taps.common.client import response_json
from taps.common.timestamps import parse_timestamp


@dataclass(frozen=True)
class KeysetToken:
    """One request's position.

    Attributes:
        since: the ``updated_at[gte]`` bound (ISO 8601), ``None`` for "from the beginning".
        page: page number under that bound (1 except inside a timestamp group).
        skip_ids: ids already emitted whose ``updated_at`` equals ``since``.
    """

    since: str | None
    page: int = 1
    skip_ids: frozenset[str] = field(default_factory=frozenset)


class UpdatedAtKeysetPaginator(BaseAPIPaginator[KeysetToken]):
    """Next request from the last page's ``data`` and ``metadata.paging.next_page``."""

    def __init__(self, since: str | None, replication_key: str = "updated_at") -> None:
        """Args:
        since: the first request's lower bound (bookmark − lookback, or start_date).
        replication_key: the timestamp field sorted on.
        """
        super().__init__(KeysetToken(since))
        self.replication_key = replication_key

    @override
    def get_next(self, response: requests.Response) -> KeysetToken | None:
        """The next position, or ``None`` once Salesloft reports no next page."""
        body = response_json(response)
        rows = body.get("data") or []
        if not rows or not (body.get("metadata") or {}).get("paging", {}).get("next_page"):
            return None
        current = self.current_value
        last = rows[-1][self.replication_key]
        tail = {row["id"] for row in rows if row[self.replication_key] == last}
        if current.since is not None and parse_timestamp(last) == parse_timestamp(current.since):
            # The whole page shares the bound's timestamp: walk that group by page number.
            return KeysetToken(current.since, current.page + 1, current.skip_ids | tail)
        return KeysetToken(last, 1, frozenset(tail))

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        """A page whose rows were all emitted already is empty after skipping; ``get_next`` decides."""
        return True
