"""Shared benchmark plumbing: a sandbox in this process, a tap in a subprocess.

A tap runs as ``python -m taps.<tap>`` (as Meltano runs it), with its config,
optional catalog and state in a temporary folder, stdout to a file. Wall time
is the subprocess's, from spawn to exit (startup included). Requests are read
from the sandbox's own log (``app.requests``), so they count what reached the
"vendor", retries included.

Repetitions of the variants being compared are interleaved (A B A B ...), so
a slow minute on the shared machine hits both sides, and medians are reported.

Every program measured runs in ``program_env()``: the caller's environment
without ``PYTHONUNBUFFERED`` and ``PYTHONDONTWRITEBYTECODE`` (Python's defaults,
as ``meltano run`` starts a tap on a machine that does not set them), with the
project's bytecode compiled once beforehand, so no run pays for compiling, and this
checkout first on ``PYTHONPATH``: a program runs from a temporary folder, where
``python -m taps.<tap>`` would otherwise import the taps the interpreter's
environment has installed (another checkout's, when benchmarking a worktree).
"""

from __future__ import annotations

import compileall
import functools
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from sandboxes.base import SandboxApp  # noqa: E402

#: variables that change how Python buffers stdout or caches bytecode, left out of ``program_env``.
PYTHON_MODE_VARIABLES = ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")


@functools.lru_cache(maxsize=1)
def _compiled() -> None:
    for package in ("taps", "sandboxes", "benchmarks"):
        compileall.compile_dir(str(REPO / package), quiet=1)


def program_env(**extra: str) -> dict[str, str]:
    """The environment for a measured program: ours without ``PYTHON_MODE_VARIABLES``, this
    checkout (``REPO``) first on ``PYTHONPATH``, plus ``extra``.

    Compiles the project's bytecode on the first call (``compileall`` writes it even where
    ``PYTHONDONTWRITEBYTECODE`` is set), so every measured run starts as a second run would.
    """
    _compiled()
    env = {k: v for k, v in os.environ.items() if k not in PYTHON_MODE_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    return {**env, **extra}


@dataclass
class TapRun:
    """One tap run: wall seconds, exit code, requests served, messages written.

    Attributes:
        seconds: wall time of the subprocess (seconds).
        exit_code: the tap's exit code.
        requests: ``(method, path)`` of every request the sandbox saw during the run.
        counts: messages by type (``RECORD``, ``SCHEMA``, ``STATE``).
        records: RECORD messages by stream.
        state: the value of the last STATE message (``{}`` if none).
        output_bytes: bytes written to stdout.
        cpu_seconds: user + system CPU of the subprocess.
    """

    seconds: float
    exit_code: int
    requests: list[tuple[str, str]]
    counts: dict[str, int] = field(default_factory=dict)
    records: dict[str, int] = field(default_factory=dict)
    state: dict = field(default_factory=dict)
    output_bytes: int = 0
    cpu_seconds: float = 0.0


def run_tap(app: SandboxApp, module: str, config: dict, *, state: dict | None = None,
            catalog: dict | None = None, parse_output: bool = True) -> TapRun:
    """Run ``python -m <module>`` against ``app`` once; see ``TapRun``.

    Raises:
        RuntimeError: the tap exited non-zero (its stderr tail is quoted).
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        folder = Path(tmp)
        args = [sys.executable, "-m", module, "--config", str(folder / "config.json")]
        (folder / "config.json").write_text(json.dumps(config))
        if state is not None:
            (folder / "state.json").write_text(json.dumps(state))
            args += ["--state", str(folder / "state.json")]
        if catalog is not None:
            (folder / "catalog.json").write_text(json.dumps(catalog))
            args += ["--catalog", str(folder / "catalog.json")]
        with app.lock:
            app.requests.clear()
        out_path, err_path = folder / "out.jsonl", folder / "err.log"
        started = time.perf_counter()
        with out_path.open("wb") as out, err_path.open("wb") as err:
            proc = subprocess.Popen(args, cwd=folder, stdout=out, stderr=err, env=program_env(TMPDIR=tmp))
            _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            tail = err_path.read_text(errors="replace")[-2000:]
            msg = f"{module} exited {code}:\n{tail}"
            raise RuntimeError(msg)
        with app.lock:
            requests = [(r.method, r.path) for r in app.requests]
        run = TapRun(seconds, code, requests, output_bytes=out_path.stat().st_size,
                     cpu_seconds=usage.ru_utime + usage.ru_stime)
        if parse_output:
            for line in out_path.open("rb"):
                message = json.loads(line)
                kind = message.get("type", "?")
                run.counts[kind] = run.counts.get(kind, 0) + 1
                if kind == "RECORD":
                    run.records[message["stream"]] = run.records.get(message["stream"], 0) + 1
                elif kind == "STATE":
                    run.state = message["value"]
        return run


def discover(module: str, config: dict) -> dict:
    """The tap's catalog (``--discover``)."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        path = Path(tmp) / "config.json"
        path.write_text(json.dumps(config))
        out = subprocess.run([sys.executable, "-m", module, "--config", str(path), "--discover"],
                             check=True, capture_output=True, cwd=tmp, env=program_env())
    return json.loads(out.stdout)


def select_only(catalog: dict, streams: t.Iterable[str]) -> dict:
    """``catalog`` with only ``streams`` selected (stream-level metadata)."""
    wanted = set(streams)
    for entry in catalog["streams"]:
        for meta in entry["metadata"]:
            if not meta["breadcrumb"]:
                meta["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    return catalog


def interleave(variants: dict[str, t.Callable[[], t.Any]], repetitions: int) -> dict[str, list[t.Any]]:
    """Call each variant once per repetition, in turn (A B A B ...); results per variant."""
    results: dict[str, list[t.Any]] = {name: [] for name in variants}
    for _ in range(repetitions):
        for name, run in variants.items():
            results[name].append(run())
    return results


def median(values: t.Iterable[float]) -> float:
    """The median of ``values``."""
    return statistics.median(list(values))


_ID_SEGMENT = re.compile(r"^(?=.*\d)[^/]{6,}$|^(?=.*[a-z])(?=.*[A-Z])[^/]{12,}$|.*@")


def endpoint(path: str) -> str:
    """A path with its identifier segments replaced by ``{id}`` (``/v2/conversations/{id}/extensive``)."""
    return "/".join("{id}" if _ID_SEGMENT.match(part) else part for part in path.split("/"))


def by_endpoint(requests: t.Iterable[tuple[str, str]]) -> dict[str, int]:
    """Request counts per ``METHOD endpoint``, most frequent first."""
    counts: dict[str, int] = {}
    for method, path in requests:
        key = f"{method} {endpoint(path)}"
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))
