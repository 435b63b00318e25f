"""P4 request economy: what a no-change rerun asks each vendor for.

Each tap runs twice against its sandbox: once from ``start_date`` (a full
read), then again from the final state of the first run, with nothing changed
at the vendor. The second run's requests are counted per endpoint and sorted
into listings (one chain per partition: a user, an agent, a day, a stream),
children (a request per listed parent: contents, sentences, downloads) and
auth. Goal: <= 1 listing request per partition, 0 requests for children whose
parent did not change.

Usage: python -m benchmarks.economy [--taps zoom foundry salesloft knovvu kore] [--small]

``--small`` runs Salesloft (120 conversations) and Foundry (40 + 20 sessions)
on smaller sandboxes, for a quick check on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import typing as t

from benchmarks.harness import by_endpoint, run_tap
from sandboxes.base import SandboxServer
from sandboxes.foundry_aip import FoundryAIPSandbox
from sandboxes.knovvu import KnovvuSandbox
from sandboxes.kore_agentai import KoreAgentAISandbox
from sandboxes.salesloft import SalesloftSandbox
from sandboxes.zoom_aic import ZoomAICSandbox

#: smaller sandboxes for ``--small``
SMALL: dict[str, t.Callable[[], t.Any]] = {
    "foundry": lambda: FoundryAIPSandbox(sessions_per_agent=(40, 20)),
    "salesloft": lambda: SalesloftSandbox(budget=10**9, conversations=120),
}

#: tap -> (module, sandbox factory, {endpoint regex: kind}, partitions(state) -> count)
TAPS: dict[str, tuple[str, t.Callable[[], t.Any], dict[str, str]]] = {
    "zoom": ("taps.zoom_aic", ZoomAICSandbox, {
        r"/oauth/token": "auth", r"/users$": "listing", r"/conversation_archive$": "listing",
        r".": "child"}),
    "foundry": ("taps.foundry_aip", FoundryAIPSandbox, {
        r"/oauth2/token|/token": "auth", r"/sessions$": "listing", r"/content$": "child", r".": "child"}),
    "salesloft": ("taps.salesloft", lambda: SalesloftSandbox(budget=10**9), {
        r"/oauth/token": "auth", r"/v2/(conversations|transcriptions)$": "listing", r".": "child"}),
    "knovvu": ("taps.knovvu", KnovvuSandbox, {
        r"/connect/token": "auth", r"daily-audio-recordings": "listing", r".": "child"}),
    "kore": ("taps.kore_agentai", KoreAgentAISandbox, {r"token": "auth", r".": "listing"}),
}


def kind_of(rules: dict[str, str], endpoint: str) -> str:
    """The first rule's kind whose regex is found in ``endpoint``."""
    return next(kind for pattern, kind in rules.items() if re.search(pattern, endpoint))


def partitions(state: dict) -> dict[str, int]:
    """State partitions per stream (1 for an unpartitioned stream with a bookmark)."""
    out = {}
    for stream, value in (state.get("bookmarks") or {}).items():
        count = len(value.get("partitions") or []) or (1 if value.get("replication_key_value") else 0)
        if count:
            out[stream] = count
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every tap twice; print the rerun's requests per endpoint and a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--taps", nargs="+", default=list(TAPS), choices=list(TAPS))
    parser.add_argument("--small", action="store_true", help="smaller Salesloft and Foundry sandboxes")
    args = parser.parse_args(argv)
    summary = {}
    for name in args.taps:
        module, factory, rules = TAPS[name]
        if args.small and name in SMALL:
            factory = SMALL[name]
        app = factory()
        with SandboxServer(app) as server:
            config = app.demo_config(server.url)
            if name == "knovvu":
                config = {**config, "storage_url": "storage"}
            first = run_tap(app, module, config)
            second = run_tap(app, module, config, state=first.state)
        endpoints = by_endpoint(second.requests)
        kinds: dict[str, int] = {}
        for ep, count in endpoints.items():
            kinds[kind_of(rules, ep)] = kinds.get(kind_of(rules, ep), 0) + count
        parts = partitions(first.state)
        summary[name] = {"first_run_requests": len(first.requests), "rerun_requests": len(second.requests),
                         "rerun_by_kind": kinds, "rerun_by_endpoint": endpoints, "partitions": parts,
                         "rerun_records": second.records}
        print(f"{name}: first run {len(first.requests)} requests, rerun {len(second.requests)}: "
              + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())) + f"; state partitions {parts}")
        for ep, count in endpoints.items():
            print(f"    {count:6d}  {kind_of(rules, ep):8s} {ep}")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
