"""The singer-sdk standard tap tests against the Knovvu emulator (module-level server)."""

from __future__ import annotations

import tempfile

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandboxes.base import SandboxServer
from sandboxes.knovvu import KnovvuSandbox
from taps.knovvu.tap import TapKnovvu

SANDBOX = SandboxServer(KnovvuSandbox(downloads_per_hour=100_000))  # served by conftest's module_sandbox
SANDBOX_STORAGE = tempfile.mkdtemp(prefix="knovvu-standard-")
CONFIG = {**SANDBOX.app.demo_config(SANDBOX.url), "storage_url": SANDBOX_STORAGE, "downloads_per_hour": 0,
          "retry_base_seconds": 0.01}

TestTapKnovvu = get_tap_test_class(
    tap_class=TapKnovvu,
    config=CONFIG,
    suite_config=SuiteConfig(),
)
