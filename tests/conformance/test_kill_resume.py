"""SIGKILL at random moments, resume from the last STATE until done: nothing lost, nothing torn.

Each tap runs as ``python -m <tap>`` against its sandbox; the kit kills it
(SIGKILL) after a random number of output lines (seeded, so a failure
reproduces), takes the last STATE it wrote and starts it again from there,
ten times, then lets the last run finish. The primary-key merge of every
run's records (what a warehouse holds) must equal a clean run's; every
stored file must match the sha256 its record gives; no partial file may sit
under a final name (temporary ``.part-`` files are not final names). Zoom's
window-keyed streams are compared by the conversations in their history files
(``kit.archive_view``): a resumed run asks other windows than a clean run.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conformance.kit import KITS, archive_view, assert_files_match
from tests.helpers import REPO, TapRun, complete_json_lines, parse_singer, run_tap

KILLS = 10


def _run_until_killed(module: str, config: dict, state: dict | None, kill_after: int | None,
                      tmp: Path) -> tuple[TapRun, bool]:
    """Run the tap; SIGKILL it after ``kill_after`` output lines (``None``: let it finish).
    Returns the run's parsed output and whether it was killed."""
    (tmp / "config.json").write_text(json.dumps(config))
    args = [sys.executable, "-m", module, "--config", str(tmp / "config.json")]
    if state:
        (tmp / "state.json").write_text(json.dumps(state))
        args += ["--state", str(tmp / "state.json")]
    out_path = tmp / "out.jsonl"
    killed = False
    with out_path.open("wb") as out:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert proc.stdout is not None
        for lines, line in enumerate(proc.stdout, start=1):
            out.write(line)
            if kill_after is not None and lines >= kill_after:
                proc.send_signal(signal.SIGKILL)
                killed = True
                break
        proc.stdout.close()
        code = proc.wait(timeout=300)
    if not killed:
        assert code == 0, f"{module} exited {code}"
    return parse_singer(complete_json_lines(out_path.read_text(errors="replace"))), killed


@pytest.mark.parametrize("kit_name", sorted(KITS))
def test_sigkill_at_random_moments_then_resume_loses_nothing(kit_name: str, tmp_path: Path) -> None:
    kit = KITS[kit_name]
    rng = random.Random(f"kill-{kit_name}")  # noqa: S311 - reproducible kill moments, not crypto
    with kit.serve() as server:
        config = kit.config(server.app, server.url, tmp_path)
        clean = run_tap(kit.load_class(), {**config, **({"storage_url": str(tmp_path / "clean")}
                                                         if "storage_url" in config else {})})
        total_lines = sum(len(r) for r in clean.records.values()) + len(clean.states) + len(clean.schemas)
        runs: list[TapRun] = []
        state: dict | None = None
        kills, bound = 0, max(2, total_lines)
        for _attempt in range(4 * KILLS):  # a run that finishes before its kill moment is resumed again
            with tempfile.TemporaryDirectory() as work:
                run, killed = _run_until_killed(kit.module, config, state, rng.randint(1, bound), Path(work))
            runs.append(run)
            state = run.final_state or state
            kills += killed
            if not killed:  # what is left to do is smaller now: draw kill moments within it
                bound = max(2, sum(len(r) for r in run.records.values()) + len(run.states) + len(run.schemas))
            if kills == KILLS:
                break
        with tempfile.TemporaryDirectory() as work:
            last, _ = _run_until_killed(kit.module, config, state, None, Path(work))
        runs.append(last)
    assert kills == KILLS, f"only {kills} runs were killed before finishing"
    got, want = archive_view(kit_name, runs), archive_view(kit_name, [clean])
    for stream, keys in want.items():
        have = got.get(stream, set())
        assert have == keys, f"{stream}: missing {len(keys - have)}, extra {len(have - keys)}"
    if "storage_url" in config:  # a killed run may leave .part- files; none under a final name unvouched
        assert_files_match(runs, Path(config["storage_url"]), partial_ok=True)
