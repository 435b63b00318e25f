"""Lean Singer output (``taps.common.output``, ``taps.common.http``) against the Salesloft sandbox.

One SCHEMA message per stream per run however many parents a child stream
has; every message a JSON line; the last message a STATE; the proxy
environment honoured (``NO_PROXY`` included) although it is read only once.
"""

from __future__ import annotations

import json
import typing as t
from collections import Counter

import pytest

from sandboxes.base import SandboxServer
from sandboxes.salesloft import SalesloftSandbox
from tests.helpers import run_tap_cli


@pytest.fixture
def sandbox() -> t.Iterator[tuple[SalesloftSandbox, SandboxServer]]:
    """A small Salesloft sandbox with a budget that never paces."""
    app = SalesloftSandbox(conversations=40, budget=10**9)
    with SandboxServer(app) as server:
        yield app, server


def test_one_schema_per_stream_before_its_records(sandbox) -> None:
    app, server = sandbox
    result = run_tap_cli("taps.salesloft", app.demo_config(server.url))
    assert result.returncode == 0, result.stderr
    messages = [json.loads(line) for line in result.run.stdout.splitlines()]
    schemas = Counter(m["stream"] for m in messages if m["type"] == "SCHEMA")
    assert schemas == {"conversations": 1, "conversation_extensive": 1, "transcriptions": 1,
                       "transcription_sentences": 1, "transcription_artifacts": 1}
    seen_schema: set[str] = set()
    for message in messages:
        if message["type"] == "SCHEMA":
            seen_schema.add(message["stream"])
        elif message["type"] == "RECORD":
            assert message["stream"] in seen_schema
    assert len(result.run.records["conversation_extensive"]) == len(app.conversations)
    assert messages[-1]["type"] == "STATE"


def test_proxy_environment_is_honoured(sandbox, monkeypatch) -> None:
    app, server = sandbox
    dead_proxy = "http://127.0.0.1:9"  # discard port: nothing listens there
    config = {**app.demo_config(server.url), "max_retries": 0}
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    through_proxy = run_tap_cli("taps.salesloft", config)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1")
    bypassed = run_tap_cli("taps.salesloft", config)
    assert through_proxy.returncode != 0
    assert not through_proxy.run.records
    assert bypassed.returncode == 0, bypassed.stderr
    assert len(bypassed.run.records["conversations"]) == len(app.conversations)


class _RawStdout:
    """An unbuffered binary stdout (``io.RawIOBase``) that takes at most 7 bytes per ``write``."""

    def __init__(self) -> None:
        import io

        class Raw(io.RawIOBase):
            def __init__(self) -> None:
                self.data = bytearray()
                self.calls = 0

            def writable(self) -> bool:
                return True

            def write(self, b) -> int:
                self.calls += 1
                chunk = bytes(b[:7])
                self.data += chunk
                return len(chunk)

        self.buffer = Raw()

    def flush(self) -> None:
        """Nothing to flush above the raw layer."""


def test_unbuffered_stdout_gets_whole_lines_at_state_and_at_exit(monkeypatch) -> None:
    from singer_sdk.singerlib import RecordMessage, StateMessage

    from taps.common.output import LeanWriter

    stdout = _RawStdout()
    monkeypatch.setattr("sys.stdout", stdout)
    writer = LeanWriter()
    for n in range(3):
        writer.write_message(RecordMessage(stream="s", record={"id": n}))
    assert stdout.buffer.data == b""  # kept until a STATE covers them
    writer.write_message(StateMessage(value={"bookmarks": {"s": {"n": 2}}}))
    lines = stdout.buffer.data.decode().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["RECORD", "RECORD", "RECORD", "STATE"]
    assert [json.loads(line)["record"]["id"] for line in lines[:3]] == [0, 1, 2]  # partial writes resumed
    writer.write_message(RecordMessage(stream="s", record={"id": 3}))
    writer.flush_pending()  # what the exit hook does
    assert json.loads(stdout.buffer.data.decode().splitlines()[-1])["record"] == {"id": 3}


def test_records_and_state_match_with_and_without_python_unbuffered(sandbox) -> None:
    app, server = sandbox
    runs = [run_tap_cli("taps.salesloft", app.demo_config(server.url), env={"PYTHONUNBUFFERED": value})
            for value in ("1", "")]
    for result in runs:
        assert result.returncode == 0, result.stderr
    unbuffered, buffered = (r.run for r in runs)
    assert {s: len(rows) for s, rows in unbuffered.records.items()} == {s: len(rows) for s, rows in buffered.records.items()}
    assert len(unbuffered.records["conversations"]) == len(app.conversations)
    assert unbuffered.states[-1]["bookmarks"]["conversations"] == buffered.states[-1]["bookmarks"]["conversations"]


def test_api_requests_do_not_look_up_the_proxy_environment(sandbox, monkeypatch) -> None:
    """The listing's session reads the proxy environment once (``lean_session``), not per request."""
    import requests.utils

    from taps.salesloft.tap import TapSalesloft
    from tests.helpers import run_tap

    app, server = sandbox
    looked_up: list[str] = []
    original = requests.utils.should_bypass_proxies  # what requests calls per request with trust_env on

    def counting(url: str, *args: t.Any, **kwargs: t.Any) -> bool:
        looked_up.append(url)
        return original(url, *args, **kwargs)

    monkeypatch.setattr(requests.utils, "should_bypass_proxies", counting)
    run = run_tap(TapSalesloft, app.demo_config(server.url))
    assert len(run.records["conversations"]) == len(app.conversations)
    assert len(app.requests_to(r"^/v2/conversations$")) > 0
    assert not [url for url in looked_up if url.startswith(server.url + "/v2/")]
