"""Defect 3: a host answering 200 with something that is not the vendor's envelope poisons nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sandboxes.base import SandboxApp, SandboxRequest, SandboxResponse, SandboxServer, json_response
from tests.conformance.kit import KITS, pk_merged
from tests.helpers import run_tap, run_tap_cli


class WrongHost(SandboxApp):
    """Answers 200 to everything: an HTML page, or JSON that is no vendor's envelope."""

    name = "wrong-host"

    def __init__(self, html: bool) -> None:
        """Args:
        html: serve an HTML page instead of JSON.
        """
        super().__init__()
        self.html = html

    def handle(self, request: SandboxRequest) -> SandboxResponse:
        """200 whatever was asked."""
        if self.html:
            return SandboxResponse(200, b"<html><body>Welcome to nginx!</body></html>", {"Content-Type": "text/html"})
        return json_response({"status": "ok", "items": [], "version": "1.2.3"})


#: Keys singer-sdk writes when a partition starts, before any record: they record where the run began,
#: not progress (``context`` names the partition), so they may appear on a failed run without the bookmark having moved.
_STARTING_KEYS = {"context", "replication_key", "replication_key_signpost", "starting_replication_value"}


def _progress(state: object) -> object:
    """``state`` without the starting keys and empty containers: what is left is progress (a bookmark)."""
    if isinstance(state, dict):
        kept = {k: _progress(v) for k, v in state.items() if k not in _STARTING_KEYS}
        return {k: v for k, v in kept.items() if v not in ({}, [], None)}
    if isinstance(state, list):
        return [p for p in (_progress(v) for v in state) if p not in ({}, [], None)]
    return state


def _point_at(config: dict, right: str, wrong: str) -> dict:
    """``config`` with ``api_url`` moved from the right host to the wrong one (``token_url`` stays right)."""
    return {**config, "api_url": config["api_url"].replace(right, wrong)}


@pytest.mark.parametrize("html", [False, True], ids=["json-not-envelope", "html-page"])
@pytest.mark.parametrize("kit_name", sorted(KITS))
def test_wrong_host_fails_clearly_with_state_unmoved(kit_name: str, html: bool, tmp_path: Path) -> None:
    """A 200 that is not the envelope ends the run naming the host and the setting; no record, no STATE
    that differs from the input; the next run against the right host gets everything a clean run gets."""
    kit = KITS[kit_name]
    tap_class = kit.load_class()
    with kit.serve() as server, SandboxServer(WrongHost(html)) as wrong:
        config = kit.config(server.app, server.url, tmp_path)
        config["max_retries"] = 1
        bad = run_tap(tap_class, _point_at(config, server.url, wrong.url), expect_error=True)
        assert bad.error is not None, "a wrong host answering 200 must not end the run as 'no data'"
        message = str(bad.error)
        # Foundry derives token_url from api_url, so there the token endpoint is the first to answer wrongly
        assert wrong.url.split("//", 1)[1] in message, message
        assert "api_url" in message or "token_url" in message, message
        assert not any(bad.records.values())
        moved = [state for state in bad.states if _progress(state) != {}]
        assert not moved, f"state moved on a wrong host: {moved[-1]}"
        good = run_tap(tap_class, config, state=bad.final_state or None)
        clean = run_tap(tap_class, config)
    assert pk_merged(good) == pk_merged(clean)
    assert sum(map(len, pk_merged(good).values())) > 0


@pytest.mark.parametrize("kit_name", sorted(KITS))
def test_wrong_host_cli_one_line_no_traceback(kit_name: str, tmp_path: Path) -> None:
    """From the command line a wrong host is exit 1 and one ERROR line naming the setting, no traceback."""
    kit = KITS[kit_name]
    with kit.serve() as server, SandboxServer(WrongHost(html=True)) as wrong:
        config = _point_at(kit.config(server.app, server.url, tmp_path), server.url, wrong.url)
        result = run_tap_cli(kit.module, config, timeout=120)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1, errors
    assert re.search(r"api_url|token_url", errors[0]), errors[0]
    assert not any(result.run.records.values())
