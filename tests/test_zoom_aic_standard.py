"""The singer-sdk standard tap tests, against a Zoom sandbox started at import."""

from __future__ import annotations

import tempfile

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandboxes.base import SandboxServer
from sandboxes.zoom_aic import ZoomAICSandbox
from taps.zoom_aic.tap import TapZoomAIC

_APP = ZoomAICSandbox()
_SERVER = SandboxServer(_APP).start()
_STORAGE = tempfile.mkdtemp(prefix="zoom-aic-standard-")

CONFIG = {
    **_APP.demo_config(_SERVER.url),
    "end_date": "2021-10-31T00:00:00Z",
    "page_size": 10,
    "storage_url": _STORAGE,
    "retry_base_seconds": 0.01,
}

TestTapZoomAIC = get_tap_test_class(
    tap_class=TapZoomAIC,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=40),
)
