"""The singer-sdk standard tap tests against the Kore.ai emulator (over real HTTP)."""

from __future__ import annotations

from datetime import timedelta

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandboxes.base import SandboxServer
from sandboxes.kore_agentai import KoreAgentAISandbox
from taps.kore_agentai.tap import TapKoreAgentAI

_APP = KoreAgentAISandbox()
#: served by conftest's module_sandbox while this module's tests run
SANDBOX = SandboxServer(_APP)

CONFIG = {
    **_APP.demo_config(SANDBOX.url),
    # the last 12 generated days: a few windows, paging, messages with and without history
    "start_date": f"{_APP.last_day - timedelta(days=12)}T00:00:00Z",
    "retry_base_seconds": 0.01,
}

TestTapKoreAgentAI = get_tap_test_class(
    TapKoreAgentAI,
    config=CONFIG,
    parse_env_config=False,
    suite_config=SuiteConfig(max_records_limit=500),
)
