"""Defect 1: a one-off 401 is retried once for every auth kind; a second 401 in a row ends the run clearly."""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest

from tests.conformance.kit import KITS, pk_merged
from tests.helpers import run_tap

#: (kit, endpoint, how the config authenticates, config changes)
AUTH_KINDS = [
    ("salesloft", "conversations", "static API key", {}),
    ("kore_agentai", "conversations", "JWT signed per request", {}),
    ("foundry_aip", "sessions", "static token", {"client_id": None, "client_secret": None}),
    ("foundry_aip", "sessions", "OAuth client credentials", {}),
    ("zoom_aic", "archive", "OAuth client credentials", {}),
    ("knovvu", "manifest", "OAuth client credentials", {}),
]


def _config(kit_name: str, app: t.Any, url: str, tmp: Path, changes: dict) -> dict:
    config = KITS[kit_name].config(app, url, tmp)
    if kit_name == "foundry_aip" and "client_id" in changes:
        config["token"] = app.user_token
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return config


@pytest.mark.parametrize(("kit_name", "endpoint", "kind", "changes"), AUTH_KINDS,
                         ids=[f"{k}-{kind}" for k, _, kind, _ in AUTH_KINDS])
def test_one_off_401_is_retried_once(kit_name: str, endpoint: str, kind: str, changes: dict, tmp_path: Path) -> None:
    kit = KITS[kit_name]
    tap_class = kit.load_class()
    with kit.serve() as clean_server:
        clean = run_tap(tap_class, _config(kit_name, clean_server.app, clean_server.url, tmp_path / "a", changes))
    with kit.serve() as server:
        app = server.app
        app.faults.add("status", kit.endpoints[endpoint], status=401, body={"error": "Unauthorized"})
        run = run_tap(tap_class, _config(kit_name, app, server.url, tmp_path / "b", changes), expect_error=True)
        assert run.error is None, f"{kind}: one 401 ended the run: {run.error}"
        assert len(app.faults.fired) == 1
    assert pk_merged(run) == pk_merged(clean)
    if kit_name == "kore_agentai":
        calls = app.requests_to(kit.endpoints[endpoint])
        assert len({r.headers["auth"] for r in calls}) == len(calls)  # the retry carried a freshly signed JWT


@pytest.mark.parametrize(("kit_name", "endpoint", "kind", "changes"),
                         [k for k in AUTH_KINDS if k[2] != "OAuth client credentials"],
                         ids=[f"{k}-{kind}" for k, _, kind, _ in AUTH_KINDS if kind != "OAuth client credentials"])
def test_second_401_in_a_row_ends_the_run_clearly(kit_name: str, endpoint: str, kind: str, changes: dict,
                                                 tmp_path: Path) -> None:
    kit = KITS[kit_name]
    with kit.serve() as server:
        app = server.app
        app.faults.add("status", kit.endpoints[endpoint], status=401, body={"error": "Unauthorized"}, times=2)
        run = run_tap(kit.load_class(), _config(kit_name, app, server.url, tmp_path, changes), expect_error=True)
    assert run.error is not None, kind
    assert "401" in str(run.error)
    assert not any(run.records.values())
