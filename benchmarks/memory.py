"""P3 memory (a benchmark, not a test): tap-knovvu's peak RSS on a ~100 MB and a ~1 GB hourly ZIP.

Starts the Knovvu emulator in this process, makes yesterday's only available
hour a ZIP of the given size (stored entries of pseudo-random bytes, generated
while streaming, never held in memory), runs ``python -m taps.knovvu`` in a
subprocess for each size with fresh state and storage, and reports the
child's peak RSS from ``os.wait4`` (``ru_maxrss``, KiB on Linux): sizes
interleaved (100, 1024, 100, 1024 ...), the median per size, and the ratio of
the largest median to the smallest. Goal: <= 200 MB, ratio <= 1.2.

``--hours 8`` puts 8 such archives in the day, which the tap downloads at once
(``max_concurrency`` 8): each streams to its own temporary file, so the peak
should not grow with them.

Usage: python -m benchmarks.memory [--sizes-mb 100 1024] [--files 50] [--repetitions 2] [--hours 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from benchmarks.harness import REPO, interleave, median, program_env
from sandboxes.base import SandboxServer
from sandboxes.knovvu import KnovvuSandbox


def run_once(app: KnovvuSandbox, url: str, size_bytes: int, files: int, hours: int = 1) -> dict:
    """One tap run on a day of ``hours`` archives each ``size_bytes`` long; returns the measurements."""
    day = app.documented_day
    app.set_bulk_day(day, size_bytes, files=files, hours=hours)
    zip_size = sum(app.archive_size(day, f"{h:02d}") for h in range(hours))  # CRCs up front, outside the timed run
    with tempfile.TemporaryDirectory(prefix="knovvu-bench-") as tmp:
        config = {**app.demo_config(url), "storage_url": f"{tmp}/storage", "downloads_per_hour": 0,
                  "start_date": f"{day}T00:00:00Z", "request_timeout": 300}
        (Path(tmp) / "config.json").write_text(json.dumps(config))
        out_path = Path(tmp) / "out.jsonl"
        started = time.monotonic()
        with open(out_path, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "taps.knovvu", "--config", f"{tmp}/config.json"],
                                    cwd=REPO, stdout=out, stderr=subprocess.DEVNULL,
                                    env=program_env(TMPDIR=tmp))
            _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.monotonic() - started
        messages = (json.loads(line) for line in out_path.open() if line.strip())
        stored = sum(1 for m in messages if m.get("type") == "RECORD" and m.get("stream") == "recording_files")
        stored_bytes = sum(p.stat().st_size for p in Path(f"{tmp}/storage").rglob("*.opus"))
    return {"zip_bytes": zip_size, "exit_status": os.waitstatus_to_exitcode(status),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1), "seconds": round(elapsed, 1),
            "files_recorded": stored, "audio_bytes_stored": stored_bytes}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per size and repetition, the medians, and a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mb", type=int, nargs="+", default=[100, 1024])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--repetitions", type=int, default=2)
    parser.add_argument("--hours", type=int, default=1,
                        help="archives of that size in the day (> 1: max_concurrency of them download at once)")
    args = parser.parse_args(argv)
    app = KnovvuSandbox(retention_days=1, downloads_per_hour=1_000_000)
    with SandboxServer(app) as server:

        def size_run(mb: int) -> t.Callable[[], dict]:
            def run() -> dict:
                result = run_once(app, server.url, mb * 1024 * 1024, args.files, args.hours)
                print(f"{args.hours} ZIP(s) {result['zip_bytes'] / 1e6:8.1f} MB: peak RSS {result['peak_rss_mb']:6.1f} MB, "
                      f"{result['seconds']:5.1f} s, {result['files_recorded']} files "
                      f"({result['audio_bytes_stored'] / 1e6:.1f} MB) stored, exit {result['exit_status']}", flush=True)
                return result
            return run

        runs = interleave({str(mb): size_run(mb) for mb in args.sizes_mb}, args.repetitions)
    results = []
    for mb, done in runs.items():
        results.append({"size_mb": int(mb), "zip_bytes": done[0]["zip_bytes"],
                        "peak_rss_mb": round(median(r["peak_rss_mb"] for r in done), 1),
                        "seconds": round(median(r["seconds"] for r in done), 1),
                        "files_recorded": done[0]["files_recorded"],
                        "exit_status": max(r["exit_status"] for r in done)})
    peaks = [r["peak_rss_mb"] for r in results]
    ratio = max(peaks) / min(peaks)
    print("median peak RSS: " + ", ".join(f"{r['zip_bytes'] / 1e6:.1f} MB ZIP {r['peak_rss_mb']:.1f} MB" for r in results))
    print(f"peak RSS {max(peaks):.1f} MB at most (goal <= 200), largest/smallest {ratio:.2f} (goal <= 1.2)")
    print(json.dumps({"runs": results, "peak_rss_mb": max(peaks), "ratio": round(ratio, 2)}))
    return 0 if all(r["exit_status"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
