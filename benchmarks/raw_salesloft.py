"""The plain loop P2 compares tap-salesloft with: ``requests`` + ``json``, nothing else.

Pages ``GET /v2/conversations`` as the tap does (``sort_by=updated_at``
ascending, 100 per page, keyset on ``updated_at[gte]`` skipping ids already
written at the bound's timestamp) and writes one Singer-shaped RECORD line per
conversation to stdout.

Usage: python benchmarks/raw_salesloft.py API_URL API_KEY
"""

from __future__ import annotations

import json
import sys
import typing as t

import requests


def main() -> int:
    """Read every conversation; exit code 0."""
    url, key = sys.argv[1], sys.argv[2]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    out = sys.stdout
    since: str | None = None
    page = 1
    seen_at_since: set[t.Any] = set()
    while True:
        params: dict[str, str | int] = {"sort_by": "updated_at", "sort_direction": "asc", "per_page": 100, "page": page}
        if since:
            params["updated_at[gte]"] = since
        body = session.get(f"{url}/v2/conversations", params=params, timeout=60).json()
        rows = [r for r in body["data"] if r["id"] not in seen_at_since]
        for row in rows:
            out.write(json.dumps({"type": "RECORD", "stream": "conversations", "record": row}) + "\n")
        if not body["data"] or body["metadata"]["paging"].get("next_page") is None:
            return 0
        last = body["data"][-1]["updated_at"]
        same = {r["id"] for r in body["data"] if r["updated_at"] == last}
        if body["data"][0]["updated_at"] == last:  # the whole page shares one timestamp: next page number
            page, seen_at_since = page + 1, seen_at_since | same
        else:
            since, page, seen_at_since = last, 1, same


if __name__ == "__main__":
    sys.exit(main())
