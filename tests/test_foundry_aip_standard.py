"""The singer-sdk standard tap/stream tests against the Foundry emulator."""

from __future__ import annotations

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandboxes.base import SandboxServer
from sandboxes.foundry_aip import FoundryAIPSandbox
from taps.foundry_aip.tap import TapFoundryAIP

_APP = FoundryAIPSandbox()
SANDBOX = SandboxServer(_APP)  # the suite takes its config at import; conftest's module_sandbox serves it

TestTapFoundryAIP = get_tap_test_class(
    TapFoundryAIP,
    config={**_APP.demo_config(SANDBOX.url), "page_size": 50},
    parse_env_config=False,
    suite_config=SuiteConfig(max_records_limit=None),
)
