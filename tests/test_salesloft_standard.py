"""The singer-sdk standard tap tests for tap-salesloft, against a sandbox on a free port."""

from __future__ import annotations

import tempfile

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandboxes.base import SandboxServer
from sandboxes.salesloft import SalesloftSandbox
from taps.salesloft.tap import TapSalesloft

_APP = SalesloftSandbox(budget=1_000_000, conversations=120)
#: served by conftest's module_sandbox while this module's tests run (which then removes the storage)
SANDBOX = SandboxServer(_APP)
SANDBOX_STORAGE = tempfile.mkdtemp(prefix="salesloft-standard-")

TestTapSalesloft = get_tap_test_class(
    tap_class=TapSalesloft,
    config={**_APP.demo_config(SANDBOX.url), "rate_limit_reserve": 0, "storage_url": SANDBOX_STORAGE},
    suite_config=SuiteConfig(max_records_limit=250),
)
