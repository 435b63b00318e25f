"""Defect 8: a bad config, or an unreachable host, ends with one line naming the setting, and no traceback."""

from __future__ import annotations

import os
import re
import socket
import time
import typing as t
from pathlib import Path

import pytest

from tests.conformance.kit import KITS
from tests.helpers import run_tap_cli


def _budget(seconds: float) -> float:
    """``seconds`` of wall time, stretched by how oversubscribed the machine's cores are (a shared CI box)."""
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    return seconds * max(1.0, load)


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there once the socket is closed


def _base_config(kit_name: str, tmp: Path) -> tuple[dict, t.Any]:
    kit = KITS[kit_name]
    app = kit.make_app()
    return kit.config(app, "http://127.0.0.1:9", tmp), kit


def _dropping(name: str) -> t.Callable[[dict], None]:
    """A config breaker that drops ``name``."""
    return lambda c: c.pop(name, None)


def _cases(kit_name: str) -> list[tuple[str, str, t.Callable[[dict], None]]]:
    """(case id, the setting the message must name, how to break the config)."""
    kit = KITS[kit_name]
    required = kit.load_class().config_jsonschema.get("required", [])
    cases: list[tuple[str, str, t.Callable[[dict], None]]] = [
        (f"missing-{name}", name, _dropping(name)) for name in required
    ]
    cases += [
        ("wrong-type", "request_timeout", lambda c: c.update(request_timeout="soon")),
        ("unknown-key", "colour", lambda c: c.update(colour="blue")),
        ("malformed-url", "api_url", lambda c: c.update(api_url="not a url")),
        ("bad-start-date", "start_date", lambda c: c.update(start_date="yesterday")),
    ]
    return cases


MATRIX = [(k, *case) for k in sorted(KITS) for case in _cases(k)]


@pytest.mark.parametrize(("kit_name", "case", "setting", "breaks"), MATRIX, ids=[f"{m[0]}-{m[1]}" for m in MATRIX])
def test_bad_config_names_the_setting_in_one_line(kit_name: str, case: str, setting: str,
                                                  breaks: t.Callable[[dict], None], tmp_path: Path) -> None:
    config, kit = _base_config(kit_name, tmp_path)
    breaks(config)
    started = time.monotonic()
    result = run_tap_cli(kit.module, config, timeout=120)
    elapsed = time.monotonic() - started
    assert result.returncode != 0, case
    assert elapsed < _budget(5), f"{case}: a bad config must fail fast, took {elapsed:.1f} s"
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1, result.stderr[-2000:]
    assert setting in errors[0], errors[0]
    assert not any(result.run.records.values())


@pytest.mark.parametrize("kit_name", sorted(KITS))
def test_unreachable_host_names_the_setting_and_the_sandbox(kit_name: str, tmp_path: Path) -> None:
    config, kit = _base_config(kit_name, tmp_path)
    url = _closed_port_url()
    for name in ("api_url", "token_url"):
        if name in config:
            config[name] = url + config[name].split("127.0.0.1:9", 1)[-1]
    config["max_retries"] = 0
    result = run_tap_cli(kit.module, config, timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1, result.stderr[-2000:]
    assert re.search(r"(api_url|token_url)", errors[0]) and "sandbox may not be running" in errors[0], errors[0]


def test_debug_log_level_keeps_the_traceback(tmp_path: Path) -> None:
    """The one-line message hides the traceback only below DEBUG (``LOGLEVEL=debug``, as meltano --log-level)."""
    config, kit = _base_config("salesloft", tmp_path)
    config["start_date"] = "yesterday"
    result = run_tap_cli(kit.module, config, timeout=120, env={"LOGLEVEL": "debug"})
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "start_date" in result.stderr
