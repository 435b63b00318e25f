"""Run ``meltano run <tap> <loader>`` for one partition, as a subprocess, the way a user runs it.

Two things make parallel partitions of one Meltano project safe:

* Meltano writes each plugin's config, catalog and state files to
  ``.meltano/run/<plugin>/`` under its system directory, so two runs of the same
  tap at once would overwrite each other's files. Each partition run therefore
  gets its own ``MELTANO_SYS_DIR_ROOT`` (a scratch folder whose plugin folders,
  ``extractors/``, ``loaders/``, ... are symlinks to the project's installed
  plugins), so only ``run/``, ``logs/`` and the run's job record are private.
* State goes to one shared state backend (``MELTANO_STATE_BACKEND_URI``):
  the project's ``file://.../.meltano/state`` by default, ``s3://...`` in production.
  Meltano's default ``systemdb`` backend would live in each run's private
  system directory, so it is not used here.

Each partition has its own state id (``--state-id-suffix``):
``<environment>:<tap>-to-<loader>:<suffix>``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import typing as t
from dataclasses import dataclass
from pathlib import Path

#: ``.meltano/`` folders holding installed plugins, shared read-only by every partition run.
PLUGIN_DIRS = ("extractors", "loaders", "utilities", "mappers", "transformers", "orchestrators", "files")
#: the repository holding ``meltano.yml`` (the parent of this package).
DEFAULT_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class MeltanoRunError(RuntimeError):
    """``meltano run`` exited non-zero; the message holds the state id, exit code and the log tail."""


@dataclass(frozen=True)
class MeltanoRun:
    """What one partition run did.

    Attributes:
        state_id: the Meltano state id the run read and wrote.
        returncode: ``meltano``'s exit code (0 here; failures raise).
        duration_seconds: wall-clock seconds of the subprocess.
        log: everything Meltano and the plugins logged (stderr).
        log_tail: its last lines, without Meltano's boxed traceback.
        warehouse: the DuckDB file the run loaded into, or ``None`` for other loaders.
    """

    state_id: str
    returncode: int
    duration_seconds: float
    log: str
    log_tail: str
    warehouse: Path | None


def meltano_executable() -> str:
    """The ``meltano`` beside the running Python (the project's ``.venv``), else the one on ``PATH``."""
    beside = Path(sys.executable).parent / "meltano"
    return str(beside) if beside.exists() else (shutil.which("meltano") or "meltano")


def state_id(environment: str, tap: str, loader: str, suffix: str) -> str:
    """Meltano's state id for ``meltano run --state-id-suffix``: ``<env>:<tap>-to-<loader>:<suffix>``."""
    return f"{environment}:{tap}-to-{loader}:{suffix}"


@dataclass(frozen=True)
class MeltanoProject:
    """A Meltano project and how partition runs use it.

    Attributes:
        root: folder holding ``meltano.yml`` (plugins installed with ``meltano install``).
        environment: the Meltano environment (``dev`` points every tap at its sandbox).
        loader: loader plugin, e.g. ``target-duckdb``.
        state_backend_uri: shared state backend; empty means ``file://<root>/.meltano/state``.
        warehouse_dir: where ``target-duckdb`` partitions write their DuckDB files
            (``<warehouse_dir>/<tap>/<suffix>.duckdb``); empty means ``<root>/output/dagster``.
        extra_env: environment added to every run (tests point the taps at sandboxes with it).
        timeout_seconds: a run taking longer is killed and fails.
    """

    root: str = str(DEFAULT_PROJECT_ROOT)
    environment: str = "dev"
    loader: str = "target-duckdb"
    state_backend_uri: str = ""
    warehouse_dir: str = ""
    extra_env: t.Mapping[str, str] | None = None
    timeout_seconds: float = 6 * 3600

    @property
    def state_backend(self) -> str:
        """The state backend URI every partition shares."""
        return self.state_backend_uri or f"file://{Path(self.root) / '.meltano' / 'state'}"

    def warehouse_path(self, tap: str, suffix: str) -> Path:
        """The DuckDB file of one partition (DuckDB allows one writer per file).

        The file's stem is DuckDB's catalog name, which target-duckdb puts in its
        SQL unquoted, so every character but letters, digits and ``_`` becomes ``_``.
        """
        base = Path(self.warehouse_dir) if self.warehouse_dir else Path(self.root) / "output" / "dagster"
        return base / tap / f"{re.sub(r'[^A-Za-z0-9_]', '_', suffix)}.duckdb"

    def _base_env(self, sys_dir: Path) -> dict[str, str]:
        env = {**os.environ, **(self.extra_env or {})}
        env.update({
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_ENVIRONMENT": self.environment,
            "MELTANO_SYS_DIR_ROOT": str(sys_dir),
            "MELTANO_STATE_BACKEND_URI": self.state_backend,
        })
        return env

    def _private_sys_dir(self, scratch: Path) -> Path:
        """A system directory whose plugin folders point at the project's installed plugins."""
        shared = Path(self.root) / ".meltano"
        sys_dir = scratch / ".meltano"
        sys_dir.mkdir(parents=True)
        for name in PLUGIN_DIRS:
            if (shared / name).is_dir():
                (sys_dir / name).symlink_to(shared / name, target_is_directory=True)
        return sys_dir

    def run(self, tap: str, suffix: str, tap_env: t.Mapping[str, str]) -> MeltanoRun:
        """``meltano run --state-id-suffix <suffix> <tap> <loader>`` with ``tap_env`` added.

        Args:
            tap: extractor name, e.g. ``tap-zoom-aic``.
            suffix: the partition's state id suffix, e.g. ``shard-0-of-4``.
            tap_env: the partition's settings as Meltano environment variables,
                e.g. ``{"TAP_ZOOM_AIC_USER_SHARD": "0"}``.

        Returns:
            The finished run.

        Raises:
            MeltanoRunError: Meltano exited non-zero or timed out (message: state id,
                exit code, the last log lines; the taps keep secrets out of their logs).
        """
        sid = state_id(self.environment, tap, self.loader, suffix)
        warehouse = None
        with tempfile.TemporaryDirectory(prefix="meltano-partition-") as scratch:
            env = self._base_env(self._private_sys_dir(Path(scratch)))
            env.update(tap_env)
            if self.loader == "target-duckdb":
                warehouse = self.warehouse_path(tap, suffix)
                warehouse.parent.mkdir(parents=True, exist_ok=True)
                env["TARGET_DUCKDB_FILEPATH"] = str(warehouse)
            cmd = [meltano_executable(), "run", "--state-id-suffix", suffix, tap, self.loader]
            started = time.monotonic()
            try:
                proc = subprocess.run(cmd, cwd=self.root, env=env, capture_output=True, text=True,  # noqa: S603
                                      timeout=self.timeout_seconds, check=False)
            except subprocess.TimeoutExpired as exc:
                msg = f"meltano run for state id {sid} did not finish within {self.timeout_seconds:.0f} s"
                raise MeltanoRunError(msg) from exc
            duration = time.monotonic() - started
        tail = log_tail(proc.stderr)
        if proc.returncode != 0:
            msg = f"meltano run for state id {sid} failed with exit code {proc.returncode}:\n{tail}"
            raise MeltanoRunError(msg)
        return MeltanoRun(sid, proc.returncode, duration, proc.stderr, tail, warehouse)

    def get_state(self, sid: str) -> dict:
        """The state stored under ``sid`` (``meltano state get``), ``{}`` when there is none.

        Raises:
            MeltanoRunError: Meltano could not read the state backend.
        """
        with tempfile.TemporaryDirectory(prefix="meltano-state-") as scratch:
            env = self._base_env(self._private_sys_dir(Path(scratch)))
            proc = subprocess.run([meltano_executable(), "state", "get", sid],  # noqa: S603
                                  cwd=self.root, env=env, capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0:
            if "does not exist" in proc.stderr or "No state" in proc.stderr:
                return {}
            msg = f"meltano state get {sid} failed with exit code {proc.returncode}:\n{log_tail(proc.stderr)}"
            raise MeltanoRunError(msg)
        out = proc.stdout.strip()
        return json.loads(out) if out else {}


def log_tail(stderr: str, lines: int = 40) -> str:
    """The last ``lines`` log lines, without Meltano's boxed traceback frames."""
    kept = [line for line in stderr.splitlines() if line.strip() and not line.startswith(("│", "╭", "╰"))]
    return "\n".join(kept[-lines:])
