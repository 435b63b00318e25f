"""The singer-sdk standard tap tests against the Knovvu emulator (module-level server)."""

from __future__ import annotations

import tempfile

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandboxes.base import SandboxServer
from sandboxes.knovvu import KnovvuSandbox
from taps.knovvu.tap import TapKnovvu

SERVER = SandboxServer(KnovvuSandbox(downloads_per_hour=100_000)).start()
STORAGE = tempfile.mkdtemp(prefix="knovvu-standard-")
CONFIG = {**SERVER.app.demo_config(SERVER.url), "storage_url": STORAGE, "downloads_per_hour": 0,
          "retry_base_seconds": 0.01}

TestTapKnovvu = get_tap_test_class(
    tap_class=TapKnovvu,
    config=CONFIG,
    suite_config=SuiteConfig(),
)
