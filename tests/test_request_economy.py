"""Request economy (issue 11) and checkpoints (issue 10 defect 10) of Salesloft and Foundry, over real HTTP.

Counts come from the sandboxes' own request logs: a no-change rerun lists each
partition and requests no child whose parent did not change; a changed parent's
children are fetched again; a run killed (SIGKILL) mid-way and resumed from its
last STATE repeats at most one page of parent work and, PK-merged, equals a
clean run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from sandboxes.base import SandboxServer
from sandboxes.foundry_aip import DOCUMENTED_AGENT_RID, SECOND_AGENT_RID, FoundryAIPSandbox
from sandboxes.salesloft import SalesloftSandbox
from taps.common.concurrency import LOOKAHEAD_PER_WORKER
from taps.foundry_aip.tap import TapFoundryAIP
from taps.salesloft.tap import TapSalesloft
from tests.conformance.kit import pk_merged
from tests.helpers import REPO, catalog_for, parse_singer, run_tap

LISTINGS = r"^/v2/(conversations|transcriptions)$"
SALESLOFT_CHILDREN = r"^/v2/(conversations/[^/]+/extensive|transcriptions/[^/]+/(sentences|artifact))$"


def salesloft_config(app: SalesloftSandbox, server: SandboxServer, tmp: Path, **extra: object) -> dict:
    return {**app.demo_config(server.url), "retry_base_seconds": 0.01, "rate_limit_reserve": 0,
            "storage_url": str(tmp / "storage"), **extra}


def test_salesloft_no_change_rerun_lists_and_fetches_no_unchanged_child(tmp_path: Path) -> None:
    app = SalesloftSandbox(budget=10**9, conversations=150)
    with SandboxServer(app) as server:
        config = salesloft_config(app, server, tmp_path)
        catalog = catalog_for(TapSalesloft, config)
        first = run_tap(TapSalesloft, config, catalog=catalog)
        assert len(app.requests_to(SALESLOFT_CHILDREN)) > 300
        app.requests.clear()
        second = run_tap(TapSalesloft, config, state=first.final_state, catalog=catalog)
        listings = app.requests_to(LISTINGS)
        children = app.requests_to(SALESLOFT_CHILDREN)
        # one listing request per stream (the lookback fits a page) ...
        assert len(app.requests_to(r"^/v2/conversations$")) == 1
        assert len(app.requests_to(r"^/v2/transcriptions$")) == 1
        # ... and no child at all: rows older than the bookmark, and the rows at its own timestamp listed in
        # ids_at_bookmark, were archived with their children by the first run
        assert children == [], [r.path for r in children]
        assert first.final_state["bookmarks"]["conversations"]["ids_at_bookmark"]
        assert len(listings) == 2
        # the rerun still emits the lookback's parents (at least once delivery), no state moves back
        assert second.records["conversations"]
        assert second.final_state["bookmarks"]["conversations"] == first.final_state["bookmarks"]["conversations"]

        # a changed conversation (and its transcription) gets its children again
        changed = next(c for c in app.conversations.values()
                       if c.get("transcription") and c["transcription"]["id"] in app.transcriptions)
        app.touch([changed["id"]])
        app.requests.clear()
        third = run_tap(TapSalesloft, config, state=second.final_state, catalog=catalog)
        paths = {r.path for r in app.requests_to(SALESLOFT_CHILDREN)}
        tr_id = changed["transcription"]["id"]
        assert {f"/v2/conversations/{changed['id']}/extensive", f"/v2/transcriptions/{tr_id}/sentences",
                f"/v2/transcriptions/{tr_id}/artifact"} <= paths
        assert any(r["id"] == changed["id"] for r in third.records["conversation_extensive"])


def test_foundry_no_change_rerun_lists_once_per_agent_and_reads_no_unchanged_content() -> None:
    app = FoundryAIPSandbox()
    with SandboxServer(app) as server:
        config = {**app.demo_config(server.url), "retry_base_seconds": 0.01}
        first = run_tap(TapFoundryAIP, config)
        app.requests.clear()
        second = run_tap(TapFoundryAIP, config, state=first.final_state)
        for agent in (DOCUMENTED_AGENT_RID, SECOND_AGENT_RID):
            assert len([r for r in app.list_requests() if f"/agents/{agent}/sessions" in r.path]) == 1
        assert app.requests_to(r"/content$") == []
        assert second.final_state["bookmarks"] == first.final_state["bookmarks"]

        moved = [app.ordered(SECOND_AGENT_RID)[5]["rid"]]
        app.update_sessions(moved)
        app.requests.clear()
        third = run_tap(TapFoundryAIP, config, state=second.final_state)
        assert [r.path.split("/")[-2] for r in app.requests_to(r"/content$")] == moved
        assert {k[0] for k in third.keys("session_exchanges")} == set(moved)
        assert len(third.records["session_exchanges"]) == len(app.contents[moved[0]])


def _run_until_killed(module: str, config: dict, state: dict | None, app: object, path: str, pages: int,
                      tmp: Path) -> tuple[str, bool]:
    """Run ``module`` as Meltano does; SIGKILL it once the sandbox served ``pages`` requests to ``path``.

    Returns the stdout written before the kill and whether the run finished by itself first.
    """
    (tmp / "config.json").write_text(json.dumps(config))
    args = [sys.executable, "-m", module, "--config", str(tmp / "config.json")]
    if state is not None:
        (tmp / "state.json").write_text(json.dumps(state))
        args += ["--state", str(tmp / "state.json")]
    out = (tmp / "out.jsonl").open("wb")
    start = len(app.requests_to(path))  # type: ignore[attr-defined]
    proc = subprocess.Popen(args, stdout=out, stderr=subprocess.DEVNULL, cwd=REPO,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    finished = False
    while True:
        if proc.poll() is not None:
            finished = True
            break
        if len(app.requests_to(path)) - start >= pages:  # type: ignore[attr-defined]
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            break
        time.sleep(0.002)
    out.close()
    text = (tmp / "out.jsonl").read_text()
    complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]  # a line cut by the kill is lost
    return complete, finished


def test_salesloft_killed_run_repeats_at_most_one_listing_page(tmp_path: Path) -> None:
    """Defect 10: SIGKILL after 3 conversation pages; the resume re-requests at most one page of conversations
    and at most one page's children; PK-merged, the two runs equal a clean run."""
    app = SalesloftSandbox(budget=10**9, conversations=520)
    with SandboxServer(app) as server:
        config = salesloft_config(app, server, tmp_path, lookback_days=0, max_concurrency=1)
        with tempfile.TemporaryDirectory() as tmp:
            killed_out, finished = _run_until_killed("taps.salesloft", config, None, app, r"^/v2/conversations$",
                                                     3, Path(tmp))
        assert not finished
        killed = parse_singer(killed_out)
        emitted = {r["id"] for r in killed.records["conversations"]}
        assert emitted and killed.states
        app.requests.clear()
        resumed = run_tap(TapSalesloft, config, state=killed.final_state)
        refetched = [r for r in resumed.records["conversations"] if r["id"] in emitted]
        assert len(refetched) <= 100  # at most one keyset page of parent work again
        extensive_again = [r for r in app.requests_to(r"/extensive$") if r.path.split("/")[3] in emitted]
        assert len(extensive_again) <= 100
        clean_app = SalesloftSandbox(budget=10**9, conversations=520)
        with SandboxServer(clean_app) as clean_server:
            clean = run_tap(TapSalesloft, salesloft_config(clean_app, clean_server, tmp_path / "clean"))
        merged, expected = pk_merged([killed, resumed]), pk_merged(clean)
        for stream in ("conversations", "conversation_extensive", "transcriptions", "transcription_sentences"):
            assert merged[stream] == expected[stream], stream


def test_salesloft_rows_at_the_bookmark_not_yet_emitted_still_get_their_children(tmp_path: Path) -> None:
    """A bookmark inside a tie group (a kill mid-group): only the ids listed beside it skip their children."""
    app = SalesloftSandbox(budget=10**9, conversations=400)
    stamps = [c["updated_at"] for c in app.conversations.values()]
    tie = max(set(stamps), key=stamps.count)  # the 130-row bulk-import group
    group = sorted(c["id"] for c in app.conversations.values() if c["updated_at"] == tie)
    done = group[:10]
    state = {"bookmarks": {"conversations": {"replication_key": "updated_at", "replication_key_value": tie,
                                             "ids_at_bookmark": done, "ids_at_bookmark_of": tie}}}
    with SandboxServer(app) as server:
        config = salesloft_config(app, server, tmp_path, lookback_days=0)
        catalog = catalog_for(TapSalesloft, config, {"transcriptions": False, "transcription_sentences": False,
                                                     "transcription_artifacts": False})
        run = run_tap(TapSalesloft, config, state=state, catalog=catalog)
    fetched = {r.path.split("/")[3] for r in app.requests_to(r"/extensive$")}
    later = {c["id"] for c in app.conversations.values() if c["updated_at"] > tie}
    assert fetched == (set(group) - set(done)) | later
    assert {r["id"] for r in run.records["conversation_extensive"]} == fetched


@pytest.mark.parametrize("workers", [1, 8])
def test_foundry_killed_run_repeats_at_most_the_agent_it_was_on(tmp_path: Path, workers: int) -> None:
    """Defect 10: SIGKILL once the second agent's partition began; the resume neither lists nor reads the first
    agent again (its STATE was written when the second began), and PK-merged the runs equal a clean run.

    Serially the kill comes while the second agent is listed. With workers that listing (and its first
    ``8 * LOOKAHEAD_PER_WORKER`` contents) runs ahead, while the first agent's contents are read: the kill comes
    at the second agent's next content request, which only its own partition makes."""
    app = FoundryAIPSandbox()
    with SandboxServer(app) as server:
        config = {**app.demo_config(server.url), "retry_base_seconds": 0.01, "page_size": 10, "lookback_days": 0,
                  "max_concurrency": workers}
        if workers == 1:
            kill_at, count = rf"/agents/{SECOND_AGENT_RID}/sessions$", 3
        else:
            kill_at, count = rf"/agents/{SECOND_AGENT_RID}/sessions/[^/]+/content$", workers * LOOKAHEAD_PER_WORKER + 1
        killed_out, finished = _run_until_killed("taps.foundry_aip", config, None, app, kill_at, count, tmp_path)
        assert not finished
        killed = parse_singer(killed_out)
        first_rids = {s["rid"] for s in app.ordered(DOCUMENTED_AGENT_RID)}
        assert {r["rid"] for r in killed.records["sessions"] if r["agent_rid"] == DOCUMENTED_AGENT_RID} == first_rids
        if workers == 1:
            assert {r["agent_rid"] for r in killed.records["sessions"]} == {DOCUMENTED_AGENT_RID}
        app.requests.clear()
        resumed = run_tap(TapFoundryAIP, config, state=killed.final_state)
        first_agent = [r for r in app.requests if f"/agents/{DOCUMENTED_AGENT_RID}/" in r.path]
        assert [r for r in first_agent if r.path.endswith("/content")] == []  # no content read again
        assert len(first_agent) == 1  # one listing page: from its saved bookmark
        clean = run_tap(TapFoundryAIP, config)
    merged, expected = pk_merged([killed, resumed]), pk_merged(clean)
    assert merged["sessions"] == expected["sessions"]
    assert merged["session_exchanges"] == expected["session_exchanges"]
