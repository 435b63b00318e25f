"""P2 throughput: tap-salesloft ``conversations`` to stdout, against a plain loop.

The sandbox serves ``--conversations`` conversations (5,000 by default) with
a points budget large enough that pacing never waits. Two programs read them
all, each in its own process, stdout to a file:

* the tap: ``python -m taps.salesloft`` with only ``conversations`` selected;
* the plain loop (``benchmarks/raw_salesloft.py``): ``requests`` + ``json``,
  the same endpoint paged the same way (``sort_by=updated_at`` ascending,
  100 per page, keyset on ``updated_at[gte]``), one Singer-shaped RECORD
  line per conversation.

Repetitions alternate (tap, loop, tap, loop ...); the ratio printed is the
median records/s of the tap over that of the loop. Goal: >= 0.8.

Usage: python -m benchmarks.throughput [--conversations 5000] [--repetitions 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import discover, interleave, median, program_env, run_tap, select_only
from sandboxes.base import SandboxServer
from sandboxes.salesloft import SalesloftSandbox

RAW_LOOP = Path(__file__).with_name("raw_salesloft.py")


def raw_run(app: SalesloftSandbox, url: str, api_key: str) -> tuple[float, int, float]:
    """Run the plain loop once: (wall seconds, records written, CPU seconds)."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out_path = Path(tmp) / "out.jsonl"
        with app.lock:
            app.requests.clear()
        started = time.perf_counter()
        with out_path.open("wb") as out:
            proc = subprocess.Popen([sys.executable, str(RAW_LOOP), url, api_key], stdout=out, env=program_env())
            _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            msg = "the plain loop failed"
            raise RuntimeError(msg)
        with out_path.open("rb") as fh:
            records = sum(1 for _ in fh)
    return seconds, records, usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print both rates and their ratio, then a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=5000)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args(argv)
    app = SalesloftSandbox(conversations=args.conversations - 1, budget=10**9)  # + the documented one
    with SandboxServer(app) as server:
        config = app.demo_config(server.url)
        catalog = select_only(discover("taps.salesloft", config), ["conversations"])

        def tap() -> tuple[float, int, float]:
            run = run_tap(app, "taps.salesloft", config, catalog=catalog)
            return run.seconds, run.records.get("conversations", 0), run.cpu_seconds

        results = interleave({"tap": tap, "loop": lambda: raw_run(app, server.url, config["api_key"])},
                             args.repetitions)
    rates = {}
    for name, runs in results.items():
        records = runs[0][1]
        if any(r[1] != records for r in runs):
            msg = f"{name} wrote different record counts across runs: {[r[1] for r in runs]}"
            raise RuntimeError(msg)
        wall, cpu = median(r[0] for r in runs), median(r[2] for r in runs)
        rates[name] = records / wall
        print(f"{name:5s} {records} records  wall {wall:6.2f} s  CPU {cpu:5.2f} s  "
              f"{records / wall:8.0f} records/s", flush=True)
    ratio = rates["tap"] / rates["loop"]
    print(f"ratio tap/loop {ratio:.2f}x (goal >= 0.8)")
    print(json.dumps({"records_per_second": {k: round(v) for k, v in rates.items()}, "ratio": round(ratio, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
