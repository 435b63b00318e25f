"""Fixtures shared by every test module."""

from __future__ import annotations

import shutil
import typing as t

import pytest

from sandboxes.base import SandboxServer

# Real PostgreSQL and S3-compatible servers, started by the session (see tests/servers.py).
from tests.servers import postgres_database, postgres_server, s3_bucket, s3_server  # noqa: F401


@pytest.fixture(scope="module", autouse=True)
def module_sandbox(request: pytest.FixtureRequest) -> t.Iterator[SandboxServer | None]:
    """Serve the test module's ``SANDBOX`` while its tests run; remove its ``SANDBOX_STORAGE`` folder after.

    singer-sdk's standard test classes take their config when the module is imported, so a
    module makes its ``SandboxServer`` then (the port is bound, so the URL is known) and this
    fixture starts it before the module's first test and stops it after the last.
    """
    server = getattr(request.module, "SANDBOX", None)
    storage = getattr(request.module, "SANDBOX_STORAGE", None)
    try:
        if server is None:
            yield None
        else:
            with server:
                yield server
    finally:
        if storage:
            shutil.rmtree(storage, ignore_errors=True)
