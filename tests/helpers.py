"""Helpers shared by the test modules: run a tap and read its Singer output.

``run_tap`` runs a tap in-process (fast, lets tests patch the clock);
``run_tap_cli`` runs it as a subprocess, the way Meltano does, so its exit
code and everything it prints (stdout and stderr) can be checked.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import typing as t
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass
class TapRun:
    """The Singer messages one run wrote, sorted by kind.

    Attributes:
        records: stream name -> list of record dicts, in emission order.
        states: every STATE value, in order.
        schemas: stream name -> last SCHEMA message.
        stdout: the raw output.
        error: the exception that ended the run, if any (in-process runs).
    """

    records: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    states: list[dict] = field(default_factory=list)
    schemas: dict[str, dict] = field(default_factory=dict)
    stdout: str = ""
    error: BaseException | None = None

    @property
    def final_state(self) -> dict:
        """The last STATE value ({} when none)."""
        return self.states[-1] if self.states else {}

    def keys(self, stream: str, *fields: str) -> list[tuple]:
        """The primary-key tuples of ``stream``'s records (``fields`` default: the SCHEMA's key_properties)."""
        names = fields or tuple(self.schemas[stream]["key_properties"])
        return [tuple(r[f] for f in names) for r in self.records[stream]]

    def duplicates(self, stream: str, *fields: str) -> dict[tuple, int]:
        """Keys emitted more than once."""
        return {k: n for k, n in Counter(self.keys(stream, *fields)).items() if n > 1}


def parse_singer(stdout: str) -> TapRun:
    """Parse Singer JSON lines into a ``TapRun``."""
    run = TapRun(stdout=stdout)
    for line in stdout.splitlines():
        if not line.strip():
            continue
        message = json.loads(line)
        kind = message.get("type")
        if kind == "RECORD":
            run.records[message["stream"]].append(message["record"])
        elif kind == "STATE":
            run.states.append(message["value"])
        elif kind == "SCHEMA":
            run.schemas[message["stream"]] = message
    return run


def run_tap(tap_class: type, config: dict, state: dict | None = None, catalog: dict | None = None,
            *, expect_error: bool = False) -> TapRun:
    """Run ``tap_class`` in-process and collect its output.

    Args:
        tap_class: a ``singer_sdk.Tap`` subclass.
        config, state, catalog: as the CLI would read them.
        expect_error: return the run with ``error`` set instead of raising.
    """
    buffer = io.StringIO()
    error: BaseException | None = None
    with contextlib.redirect_stdout(buffer):
        try:
            tap = tap_class(config=config, state=state, catalog=catalog)
            tap.sync_all()
        except Exception as exc:
            if not expect_error:
                raise
            error = exc
    run = parse_singer(buffer.getvalue())
    run.error = error
    return run


def catalog_for(tap_class: type, config: dict, select: dict[str, bool] | None = None) -> dict:
    """The tap's discovered catalog, with streams (de)selected per ``select``."""
    tap = tap_class(config=config, validate_config=False)
    catalog = json.loads(json.dumps(tap.catalog_dict))
    for entry in catalog["streams"]:
        if select and entry["tap_stream_id"] in select:
            for meta in entry["metadata"]:
                if meta["breadcrumb"] == []:
                    meta["metadata"]["selected"] = select[entry["tap_stream_id"]]
    return catalog


@dataclass
class CliRun:
    """A tap run as a subprocess: exit code, parsed stdout, raw stderr."""

    returncode: int
    run: TapRun
    stderr: str

    @property
    def output(self) -> str:
        """Everything the process printed."""
        return self.run.stdout + self.stderr


def run_tap_cli(module: str, config: dict, state: dict | None = None, catalog: dict | None = None,
                extra_args: t.Sequence[str] = (), timeout: float = 600,
                env: t.Mapping[str, str] | None = None) -> CliRun:
    """Run ``python -m <module>`` with the given config/state/catalog files (``env``: extra variables)."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [sys.executable, "-m", module]
        for name, payload in (("config", config), ("state", state), ("catalog", catalog)):
            if payload is not None:
                path = Path(tmp) / f"{name}.json"
                path.write_text(json.dumps(payload))
                args += [f"--{name}", str(path)]
        proc = subprocess.run([*args, *extra_args], capture_output=True, text=True, timeout=timeout,
                              cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, check=False)
    return CliRun(proc.returncode, parse_singer(proc.stdout) if proc.returncode == 0 else _lenient(proc.stdout), proc.stderr)


def complete_json_lines(text: str) -> str:
    """The lines of ``text`` that parse as JSON (a failed or killed tap may leave a cut last line)."""
    lines = []
    for line in text.splitlines():
        try:
            json.loads(line)
        except ValueError:
            continue
        lines.append(line)
    return "\n".join(lines)


def _lenient(stdout: str) -> TapRun:
    run = parse_singer(complete_json_lines(stdout))
    run.stdout = stdout
    return run
