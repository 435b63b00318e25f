"""P1 fan-out: how close a tap gets to its requests' latency, run in parallel.

Each sandbox answers every request after ``--latency`` seconds (50 ms by
default, as a vendor across the internet would). The serial lower bound of a
run is ``requests x latency``: the wall time a tap that never has two requests
in flight cannot beat. The speedup printed is that bound divided by the run's
wall time (median of interleaved repetitions, tap startup included), for each
``max_concurrency`` compared. Goal: >= 6x for Zoom and Foundry at the default
concurrency. Salesloft runs with a large points budget, so pacing is not what
is measured. Knovvu serves 7 days of 24 small hourly ZIPs (one manifest call
per day, serial by nature, then the day's downloads in parallel).
``foundry-2000`` is Foundry with 2,000 sessions instead of the sandbox's 380.

Usage: python -m benchmarks.fanout [--taps zoom foundry salesloft knovvu foundry-2000] [--latency 0.05]
                                   [--concurrency 1 default] [--repetitions 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import typing as t

from benchmarks.harness import interleave, median, run_tap
from sandboxes.base import SandboxApp, SandboxServer
from sandboxes.foundry_aip import FoundryAIPSandbox
from sandboxes.knovvu import KnovvuSandbox
from sandboxes.salesloft import SalesloftSandbox
from sandboxes.zoom_aic import ZoomAICSandbox


def busy_knovvu() -> KnovvuSandbox:
    """Knovvu with 7 retained days of 24 small hourly ZIPs each (168 downloads), no download limit."""
    app = KnovvuSandbox(retention_days=7, downloads_per_hour=10**9)
    app.fill_every_hour()
    return app


TAPS: dict[str, tuple[str, t.Callable[[], SandboxApp]]] = {
    "zoom": ("taps.zoom_aic", ZoomAICSandbox),
    "foundry": ("taps.foundry_aip", FoundryAIPSandbox),
    # a tenant's volume: 2,000 sessions over the two agents (the fixed costs, start-up and each agent's
    # serial listing, weigh less than in the sandbox's default 380)
    "foundry-2000": ("taps.foundry_aip", lambda: FoundryAIPSandbox(sessions_per_agent=(999, 1000))),
    "salesloft": ("taps.salesloft", lambda: SalesloftSandbox(budget=10**9)),
    "knovvu": ("taps.knovvu", busy_knovvu),
}
#: config beside the sandbox's demo config: Knovvu stores into the run's folder, without the
#: proactive 5-per-hour budget (each repetition starts from empty state)
EXTRA_CONFIG = {"knovvu": {"storage_url": "storage", "downloads_per_hour": 0}}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print one line per tap and concurrency, then a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--taps", nargs="+", default=["zoom", "foundry", "salesloft", "knovvu"], choices=list(TAPS))
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every answer")
    parser.add_argument("--concurrency", nargs="+", default=["1", "default"],
                        help="max_concurrency values to compare; 'default' leaves the setting out")
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args(argv)
    summary = []
    for name in args.taps:
        module, factory = TAPS[name]
        app = factory()
        app.latency_seconds = args.latency
        with SandboxServer(app) as server:
            base = {**app.demo_config(server.url), **EXTRA_CONFIG.get(name, {})}

            def variant(value: str, base: dict = base, module: str = module, app: SandboxApp = app):
                config = dict(base) if value == "default" else {**base, "max_concurrency": int(value)}
                return lambda: run_tap(app, module, config, parse_output=False)

            results = interleave({v: variant(v) for v in args.concurrency}, args.repetitions)
        for value, runs in results.items():
            requests = median(len(r.requests) for r in runs)
            wall = median(r.seconds for r in runs)
            cpu = median(r.cpu_seconds for r in runs)
            bound = requests * args.latency
            row = {"tap": name, "max_concurrency": value, "requests": requests, "wall_seconds": round(wall, 2),
                   "serial_bound_seconds": round(bound, 2), "speedup": round(bound / wall, 2), "tap_cpu_seconds": round(cpu, 2)}
            summary.append(row)
            print(f"{name:10s} max_concurrency={value:8s} {requests:6.0f} requests  wall {wall:6.2f} s  "
                  f"serial bound {bound:6.2f} s  speedup {bound / wall:5.2f}x  (tap CPU {cpu:5.2f} s)", flush=True)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
