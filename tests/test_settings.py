"""Typed settings (``taps.common.settings``): built once per tap from the validated config, defaults from the schema."""

from __future__ import annotations

import ast
import dataclasses
import typing as t
from datetime import datetime, timedelta, timezone

import pytest
from singer_sdk.exceptions import ConfigValidationError

from taps.common.client import VendorRESTStream
from taps.common.settings import TapSettings
from taps.common.tap import VendorTap
from taps.foundry_aip.client import FoundrySettings
from taps.foundry_aip.tap import TapFoundryAIP
from taps.knovvu.client import KnovvuSettings
from taps.knovvu.tap import TapKnovvu
from taps.kore_agentai.tap import TapKoreAgentAI
from taps.salesloft.client import SalesloftSettings
from taps.salesloft.tap import TapSalesloft
from taps.zoom_aic.client import ZoomSettings
from taps.zoom_aic.tap import TapZoomAIC
from tests.helpers import REPO

KORE = {"start_date": "2026-01-01T02:00:00+02:00", "bot_id": "st-1", "account_id": "a", "client_id": "cs-1",
        "client_secret": "s"}
ZOOM = {"account_id": "a", "client_id": "c", "client_secret": "s", "start_date": "2026-01-01T00:00:00Z",
        "storage_url": "/tmp/zoom-files", "user_ids": ["u1", "u2"]}


def test_settings_are_typed_frozen_and_carry_schema_defaults() -> None:
    tap = TapKoreAgentAI(config=KORE)
    settings = tap.settings
    assert settings is tap.settings  # built once
    assert settings.start_date == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert settings.lookback_days == 2  # Kore.ai's schema default
    assert (settings.request_timeout, settings.max_retries, settings.retry_base_seconds) == (60, 5, 1.0)
    assert settings.api_url == "https://platform.kore.ai"
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.lookback_days = 9  # type: ignore[misc]


def test_schema_defaults_apply_without_validation_too() -> None:
    tap = TapZoomAIC(config=ZOOM, validate_config=False)
    settings = tap.settings
    assert isinstance(settings, ZoomSettings)
    assert settings.user_ids == ("u1", "u2")
    assert settings.user_statuses == ("active", "inactive")
    assert settings.page_size == 2000
    assert settings.download_files is True
    assert settings.max_concurrency == 8  # concurrency_setting's default
    assert settings.token_url == "https://zoom.us/oauth/token"


def test_vendor_settings_class() -> None:
    tap = TapKnovvu(config={"client_id": "c", "client_secret": "s", "storage_url": "/tmp/k", "downloads_per_hour": 7})
    assert isinstance(tap.settings, KnovvuSettings)
    assert (tap.settings.downloads_per_hour, tap.settings.rate_limit_wait_seconds, tap.settings.temp_dir) == (7, 720, None)


def test_zero_retry_base_means_no_wait() -> None:
    """``retry_base_seconds: 0`` (allowed by the schema) used to become 1 s (``or 1.0``)."""
    tap = TapKoreAgentAI(config={**KORE, "retry_base_seconds": 0})
    assert tap.retry_policy.base_seconds == 0
    stream = tap.streams["conversations"]
    assert stream.retry_wait(RuntimeError("x"), 3) == 0  # type: ignore[attr-defined]


def test_run_start() -> None:
    start = datetime(2026, 1, 10, tzinfo=timezone.utc)
    http: dict[str, t.Any] = {"request_timeout": 60, "max_retries": 5, "retry_base_seconds": 1.0, "clock_margin_seconds": 60}
    settings = TapSettings(start_date=start, lookback_days=3, **http)
    assert settings.run_start(None) == start
    bookmark = datetime(2026, 2, 1, 5, tzinfo=timezone(timedelta(hours=2)))
    assert settings.run_start(bookmark) == datetime(2026, 1, 29, 3, tzinfo=timezone.utc)
    assert settings.run_start(datetime(2026, 1, 11, tzinfo=timezone.utc), floor_at_start_date=True) == start
    assert settings.run_start(datetime(2026, 1, 11, tzinfo=timezone.utc)) == datetime(2026, 1, 8, tzinfo=timezone.utc)
    assert TapSettings(**http).run_start(None) is None


def _config_reads(tree: ast.AST) -> t.Iterator[tuple[int, str]]:
    """``(line, enclosing function)`` of every ``<x>.config`` attribute and every ``config.get(...)`` /
    ``config[...]`` on a name ``config``, in ``tree``."""
    stack: list[tuple[ast.AST, str]] = [(tree, "")]
    while stack:
        node, function = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        mapping = isinstance(node, ast.Attribute) and node.attr == "config"  # tap.config, self.config
        read = (isinstance(node, (ast.Attribute, ast.Subscript)) and isinstance(node.value, ast.Name)
                and node.value.id == "config")  # config.get(...), config[...]
        if mapping or read:
            assert isinstance(node, (ast.Attribute, ast.Subscript))
            yield node.lineno, function
        stack.extend((child, function) for child in ast.iter_child_nodes(node))


def test_runtime_code_reads_settings_not_the_config_mapping() -> None:
    """Every runtime read goes through ``self.settings``; the raw config is read only where settings are
    built (``taps.common.settings``), by the checks that must quote a value that does not parse
    (``common_config_errors``) and by the CLI's redaction (``_secrets_of``)."""
    allowed = {"__init__", "settings", "common_config_errors", "_secrets_of"}
    offenders = []
    for path in sorted((REPO / "taps").rglob("*.py")):
        if path.name == "settings.py" and path.parent.name == "common":
            continue
        for line, function in _config_reads(ast.parse(path.read_text())):
            if not (path.name == "tap.py" and path.parent.name == "common" and function in allowed):
                offenders.append(f"{path.relative_to(REPO)}:{line} ({function})")
    assert not offenders


def test_salesloft_and_foundry_settings_are_typed_and_keep_credentials_out_of_repr() -> None:
    salesloft = TapSalesloft(config={"api_key": "sl-key-0123456789"}).settings
    assert isinstance(salesloft, SalesloftSettings)
    assert (salesloft.rate_limit_reserve, salesloft.download_files, salesloft.storage_url) == (60, True, "")
    assert salesloft.api_key == "sl-key-0123456789"
    assert salesloft.secrets == ("sl-key-0123456789",)
    assert "sl-key-0123456789" not in repr(salesloft)

    foundry = TapFoundryAIP(config={"api_url": "https://acme.palantirfoundry.com", "agent_rids": ["ri.a", "ri.b"],
                                    "client_id": "fd-client-0123", "client_secret": "fd-secret-0123"}).settings
    assert isinstance(foundry, FoundrySettings)
    assert (foundry.page_size, foundry.agent_rids, foundry.token) == (100, ("ri.a", "ri.b"), "")
    assert set(foundry.secrets) == {"fd-client-0123", "fd-secret-0123"}
    assert "fd-secret-0123" not in repr(foundry) and "fd-client-0123" not in repr(foundry)


def test_a_value_that_does_not_parse_is_a_config_error_naming_the_setting() -> None:
    with pytest.raises(ConfigValidationError) as info:
        TapKoreAgentAI(config={**KORE, "end_date": "next tuesday"})
    assert info.value.errors == ["end_date must be an ISO 8601 date-time such as 2026-01-01T00:00:00Z, not 'next tuesday'"]
    unchecked = TapKoreAgentAI(config={**KORE, "end_date": "next tuesday"}, validate_config=False)
    with pytest.raises(ValueError, match="end_date is not a valid ISO 8601 date-time: 'next tuesday'"):
        _ = unchecked.settings


def _parameter_of(cls: type, generic: type) -> t.Any:
    """``X`` of the first ``generic[X]`` among ``cls``'s bases (its MRO)."""
    for klass in cls.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            if t.get_origin(base) is generic:
                return t.get_args(base)[0]
    return None


TAPS = {TapZoomAIC: ZOOM, TapKoreAgentAI: KORE, TapKnovvu: {"client_id": "c", "client_secret": "s", "storage_url": "/tmp/k"},
        TapSalesloft: {"api_key": "k"}, TapFoundryAIP: {"api_url": "https://a.b", "agent_rids": ["ri.a"], "token": "x"}}


@pytest.mark.parametrize("tap_class", list(TAPS), ids=lambda c: c.name)
def test_the_settings_type_is_named_once_per_tap_and_its_streams_agree(tap_class: type[VendorTap[t.Any]]) -> None:
    """``VendorTap[XSettings]`` (static type), ``settings_class`` (runtime) and every REST stream's
    ``VendorRESTStream[XSettings]`` name the same class, and the tap builds an instance of it."""
    declared = _parameter_of(tap_class, VendorTap)
    assert tap_class.settings_class is declared
    tap = tap_class(config=TAPS[tap_class])
    assert type(tap.settings) is declared
    rest = [stream for stream in tap.streams.values() if isinstance(stream, VendorRESTStream)]
    assert rest
    for stream in rest:  # (hand-off children are plain singer-sdk streams, not REST streams)
        assert _parameter_of(type(stream), VendorRESTStream) is declared, stream.name
