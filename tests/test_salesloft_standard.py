"""The singer-sdk standard tap tests for tap-salesloft, against a sandbox on a free port."""

from __future__ import annotations

import atexit
import shutil
import tempfile

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandboxes.base import SandboxServer
from sandboxes.salesloft import SalesloftSandbox
from taps.salesloft.tap import TapSalesloft

_APP = SalesloftSandbox(budget=1_000_000, conversations=120)
_SERVER = SandboxServer(_APP).start()
atexit.register(_SERVER.stop)
_STORAGE = tempfile.mkdtemp(prefix="salesloft-standard-")
atexit.register(shutil.rmtree, _STORAGE, ignore_errors=True)

TestTapSalesloft = get_tap_test_class(
    tap_class=TapSalesloft,
    config={**_APP.demo_config(_SERVER.url), "rate_limit_reserve": 0, "storage_url": _STORAGE},
    suite_config=SuiteConfig(max_records_limit=250),
)
