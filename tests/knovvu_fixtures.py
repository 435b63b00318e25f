"""Shared fixtures for the tap-knovvu tests: a sandbox over real HTTP and a config for it."""

from __future__ import annotations

import hashlib
import typing as t
from pathlib import Path

import pytest

from sandboxes.base import SandboxServer
from sandboxes.knovvu import KnovvuSandbox
from taps.common.storage import open_url


class Clock:
    """A movable clock for the sandbox (seconds since the epoch)."""

    def __init__(self) -> None:
        """Start at the real time."""
        import time

        self.offset = 0.0
        self._time = time.time

    def __call__(self) -> float:
        """Current (shifted) time."""
        return self._time() + self.offset


class KnovvuServer(SandboxServer):
    """A ``SandboxServer`` of a ``KnovvuSandbox``: ``app`` typed as the emulator the tests read."""

    app: KnovvuSandbox


def make_server(**options: t.Any) -> KnovvuServer:
    """A started sandbox server on a free port."""
    server = KnovvuServer(KnovvuSandbox(**options))
    server.start()
    return server


def config_for(server: SandboxServer, storage: Path, **extra: t.Any) -> dict:
    """Tap config pointing at ``server`` and storing under ``storage``; fast retries, no proactive budget."""
    return {**server.app.demo_config(server.url), "storage_url": str(storage), "downloads_per_hour": 0,
            "retry_base_seconds": 0.01, **extra}


def stored_sha256(uri: str) -> str:
    """SHA-256 of a stored file, read back from storage."""
    digest = hashlib.sha256()
    with open_url(uri) as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@pytest.fixture
def clock() -> Clock:
    """A movable clock."""
    return Clock()


def file_key(record: dict) -> tuple:
    """``(day, hour, sessionId, fileName)`` of a recording_files record (the sandbox's key)."""
    return (record["date"], record["hour"], record["sessionId"], record["fileName"])
