"""Defect 10 (sparse checkpoints): a killed run repeats at most one page of parent work.

The tap runs as Meltano runs it: ``python -m <tap>`` writing to a pipe, without
``PYTHONUNBUFFERED`` (so a STATE that is written but not flushed is lost to the
kill, as it would be under Meltano). The kit SIGKILLs it once the sandbox has
served a number of listing pages, resumes from the last STATE that reached the
pipe, and measures the parent work done twice: parent records the killed run
had already emitted and the resumed run emits again, and listing pages the
resumed run asks for. Salesloft, killed late inside its 130-row tie group (one
``updated_at`` shared by more rows than a page, walked by page number): at most
one keyset page (100 rows) emitted again (was the whole part of the group
already emitted, 110+ rows) and no more listing pages than the rest of the
listing plus one. Foundry: the agent
already done is listed once (from its bookmark) and none of its contents is read
again. PK-merged, the two runs equal a clean run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandboxes.base import SandboxServer
from sandboxes.foundry_aip import DOCUMENTED_AGENT_RID, SECOND_AGENT_RID, FoundryAIPSandbox
from sandboxes.salesloft import SalesloftSandbox
from taps.common.concurrency import LOOKAHEAD_PER_WORKER
from taps.foundry_aip.tap import TapFoundryAIP
from taps.salesloft.tap import TapSalesloft
from tests.conformance.kit import FAST, pk_merged
from tests.helpers import REPO, TapRun, complete_json_lines, parse_singer, run_tap

PAGE = 100  # Salesloft rows per keyset page (per_page maximum)
Sandbox = SalesloftSandbox | FoundryAIPSandbox


def _killed_after(module: str, config: dict, app: Sandbox, path: str, pages: int, tmp: Path) -> TapRun:
    """Run ``module`` (stdout a pipe, block-buffered); SIGKILL it once ``pages`` requests to ``path`` were served."""
    (tmp / "config.json").write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen([sys.executable, "-m", module, "--config", str(tmp / "config.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=REPO, env=env)
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    chunks: list[bytes] = []
    killed = False
    while proc.poll() is None:
        chunks.append(proc.stdout.read() or b"")
        if len(app.requests_to(path)) >= pages:
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.002)
    proc.wait()
    chunks.append(proc.stdout.read() or b"")
    proc.stdout.close()
    assert killed, f"{module} finished before {pages} requests to {path}"
    return parse_singer(complete_json_lines(b"".join(chunks).decode(errors="replace")))


def test_salesloft_kill_repeats_at_most_one_keyset_page(tmp_path: Path) -> None:
    app = SalesloftSandbox(budget=10**9, conversations=400)
    stamps = [c["updated_at"] for c in app.conversations.values()]
    tie = max(set(stamps), key=stamps.count)
    with SandboxServer(app) as server:
        config = {**app.demo_config(server.url), **FAST, "rate_limit_reserve": 0, "lookback_days": 0}
        killed = _killed_after("taps.salesloft", config, app, r"/extensive$", 380, tmp_path)
        emitted = {r["id"] for r in killed.records["conversations"]}
        in_group = sum(r["updated_at"] == tie for r in killed.records["conversations"])
        assert in_group > 0, "the kill came before the tie group"
        app.requests.clear()
        resumed = run_tap(TapSalesloft, config, state=killed.final_state)
        again = [r["id"] for r in resumed.records["conversations"] if r["id"] in emitted]
        pages = len(app.requests_to(r"^/v2/conversations$"))
    clean_app = SalesloftSandbox(budget=10**9, conversations=400)
    with SandboxServer(clean_app) as clean_server:
        clean = run_tap(TapSalesloft, {**config, **clean_app.demo_config(clean_server.url)})
    rest = -(-(len(clean.records["conversations"]) - len(emitted)) // PAGE)
    assert len(again) <= PAGE, (f"{len(again)} of {len(emitted)} conversations emitted again after the kill "
                               f"({in_group} of them in the tie group)")
    assert pages <= rest + 1, f"the resumed run asked {pages} listing pages; {rest} were left"
    merged, want = pk_merged([killed, resumed]), pk_merged(clean)
    for stream, keys in want.items():
        assert merged.get(stream) == keys, stream


@pytest.mark.parametrize("workers", [1, 8])
def test_foundry_kill_repeats_at_most_the_agent_it_was_on(tmp_path: Path, workers: int) -> None:
    """Killed once the second agent's partition began: serially while it is listed; with workers (its listing
    and first ``LOOKAHEAD_PER_WORKER`` contents per worker run ahead, during the first agent's contents) at its
    next content request, which only its own partition makes."""
    app = FoundryAIPSandbox()
    with SandboxServer(app) as server:
        config = {**app.demo_config(server.url), **FAST, "page_size": 10, "lookback_days": 0,
                  "max_concurrency": workers}
        if workers == 1:
            kill_at, count = rf"/agents/{SECOND_AGENT_RID}/sessions$", 3
        else:
            kill_at, count = rf"/agents/{SECOND_AGENT_RID}/sessions/[^/]+/content$", workers * LOOKAHEAD_PER_WORKER + 1
        killed = _killed_after("taps.foundry_aip", config, app, kill_at, count, tmp_path)
        first_rids = {s["rid"] for s in app.ordered(DOCUMENTED_AGENT_RID)}
        assert {r["rid"] for r in killed.records["sessions"] if r["agent_rid"] == DOCUMENTED_AGENT_RID} == first_rids
        if workers == 1:
            assert {r["agent_rid"] for r in killed.records["sessions"]} == {DOCUMENTED_AGENT_RID}
        app.requests.clear()
        resumed = run_tap(TapFoundryAIP, config, state=killed.final_state)
        first_agent = [r for r in app.requests if f"/agents/{DOCUMENTED_AGENT_RID}/" in r.path]
        clean = run_tap(TapFoundryAIP, config)
    contents = [r for r in first_agent if r.path.endswith("/content")]
    assert contents == [], f"{len(contents)} contents of the finished agent read again"
    assert len(first_agent) == 1, f"{len(first_agent)} requests for the finished agent (one listing page expected)"
    merged, want = pk_merged([killed, resumed]), pk_merged(clean)
    for stream, keys in want.items():
        assert merged.get(stream) == keys, stream
