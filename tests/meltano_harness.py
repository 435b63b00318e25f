"""Run the repository's Meltano project against a sandbox, for end-to-end tests.

``meltano install`` runs once per test session (plugins go to the project's
``.meltano/``, shared with the demo). Each ``meltano_run`` gets its own DuckDB
file and its own state backend, and points the tap at a sandbox through the
tap's environment variables (``TAP_SALESLOFT_API_URL`` ...), which override
the ``dev`` environment's config.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import duckdb

from tests.helpers import REPO

MELTANO = str(Path(sys.executable).parent / "meltano")


def meltano(*args: str, env: dict[str, str] | None = None, timeout: float = 1200) -> subprocess.CompletedProcess:
    """Run ``meltano <args>`` in the repository; raises with its output if it fails."""
    full_env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})}
    proc = subprocess.run([MELTANO, *args], cwd=REPO, env=full_env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        # keep the plugins' own log lines, not Meltano's boxed traceback
        lines = [line for line in proc.stderr.splitlines() if not line.startswith(("│", "╭", "╰"))]
        msg = f"meltano {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n" + "\n".join(lines[-120:])
        raise AssertionError(msg)
    return proc


def ensure_installed(plugin_type: str, name: str) -> None:
    """``meltano install`` one plugin unless its virtualenv already has its executable.

    ``scripts/test.sh`` installs every plugin before the tests; reinstalling
    here while another test worker runs the same plugin would swap its files
    under it, so an installed plugin is left alone. Serialised with a file lock.

    Args:
        plugin_type: ``extractor`` or ``loader``.
        name: the plugin (and executable) name, e.g. ``tap-salesloft``.
    """
    (REPO / ".meltano").mkdir(exist_ok=True)
    executable = REPO / ".meltano" / f"{plugin_type}s" / name / "venv" / "bin" / name
    with open(REPO / ".meltano" / "test-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not executable.exists():
            meltano("install", f"--plugin-type={plugin_type}", name)


def meltano_run(tap: str, target: str, tmp_path: Path, tap_env: dict[str, str]) -> tuple[Path, subprocess.CompletedProcess]:
    """``meltano run <tap> <target>`` into ``tmp_path/warehouse.duckdb`` with a fresh state backend.

    Args:
        tap: extractor name, e.g. ``tap-salesloft``.
        target: loader name, e.g. ``target-duckdb``.
        tmp_path: folder for the DuckDB file and state.
        tap_env: environment overrides, e.g. ``{"TAP_SALESLOFT_API_URL": server.url}``.

    Returns:
        The DuckDB path and the finished process.
    """
    db = tmp_path / "warehouse.duckdb"
    env = {
        "MELTANO_ENVIRONMENT": "dev",
        "TARGET_DUCKDB_FILEPATH": str(db),
        "MELTANO_STATE_BACKEND_URI": f"file://{tmp_path / 'state'}",
        **tap_env,
    }
    # Meltano writes each plugin's config under the project's .meltano/run/<plugin>/: two runs of
    # the same loader at once (parallel test workers) would overwrite each other's files.
    with open(REPO / ".meltano" / "test-run.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = meltano("run", tap, target, env=env)
    return db, proc


def table_rows(db: Path, schema: str, table: str, columns: t.Sequence[str]) -> list[tuple]:
    """Rows of ``schema.table`` projected on ``columns``."""
    with duckdb.connect(str(db), read_only=True) as con:
        cols = ", ".join(f'"{c}"' for c in columns)
        return con.execute(f'SELECT {cols} FROM "{schema}"."{table}"').fetchall()  # noqa: S608


def table_counts(db: Path) -> dict[str, int]:
    """``schema.table`` -> row count for every table in the DuckDB file."""
    with duckdb.connect(str(db), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2"
        ).fetchall()
        return {f"{s}.{n}": t.cast("tuple[int]", con.execute(f'SELECT count(*) FROM "{s}"."{n}"').fetchone())[0]  # noqa: S608
                for s, n in tables}
