"""No credential, token, JWT or presigned signature the sandboxes issue or accept ends up in
stdout (records and STATE), stderr (logs, run summary) of a full tap run, for every tap."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from taps.common.settings import secret_values
from tests.conformance.kit import KITS
from tests.helpers import run_tap_cli

MIN_SECRET = 8  # shorter values (ids like "1") would match by chance


def _secrets(app: object, config: dict, schema: dict) -> set[str]:
    """Config secrets (the settings ``schema`` marks ``secret``, but ``client_id``), every Authorization credential the tap sent (bearer tokens, JWTs, Basic
    pairs), and every signature / token / credential query value of the requests it made."""
    found = set(secret_values({k: v for k, v in config.items() if k != "client_id"}, schema))
    for request in app.requests:  # type: ignore[attr-defined]
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        if value:
            found.add(value)
            if scheme.lower() == "basic":
                found.update(base64.b64decode(value).decode("utf-8", "replace").split(":", 1)[1:])
        for name, values in request.query.items():
            if any(word in name.lower() for word in ("sig", "token", "credential", "secret")):
                found.update(values)
        form = request.form() if request.method == "POST" and b"=" in request.body else {}
        found.update(v for k, v in form.items() if "secret" in k or k == "assertion")
    return {s for s in found if len(s) >= MIN_SECRET}


@pytest.mark.parametrize("kit_name", sorted(KITS))
def test_no_secret_in_output_logs_or_state(kit_name: str, tmp_path: Path) -> None:
    kit = KITS[kit_name]
    with kit.serve() as server:
        config = kit.config(server.app, server.url, tmp_path)
        result = run_tap_cli(kit.module, config, timeout=300)
        secrets = _secrets(server.app, config, kit.load_class().config_jsonschema)
    assert result.returncode == 0, result.stderr[-2000:]
    assert secrets, "the scan found no credential to look for"
    state_text = str(result.run.states)
    for secret in secrets:
        for where, text in (("stdout", result.run.stdout), ("stderr", result.stderr), ("state", state_text)):
            assert secret not in text, f"a credential ({secret[:4]}...) appears in {where}"
