"""The singer-sdk standard tap tests, against a Zoom sandbox (served by conftest's ``module_sandbox``)."""

from __future__ import annotations

import tempfile

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandboxes.base import SandboxServer
from sandboxes.zoom_aic import ZoomAICSandbox
from taps.zoom_aic.tap import TapZoomAIC

_APP = ZoomAICSandbox()
SANDBOX = SandboxServer(_APP)
SANDBOX_STORAGE = tempfile.mkdtemp(prefix="zoom-aic-standard-")

CONFIG = {
    **_APP.demo_config(SANDBOX.url),
    "end_date": "2021-10-31T00:00:00Z",
    "page_size": 10,
    "storage_url": SANDBOX_STORAGE,
    "retry_base_seconds": 0.01,
}

TestTapZoomAIC = get_tap_test_class(
    tap_class=TapZoomAIC,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=40),
)
