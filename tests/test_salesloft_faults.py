"""tap-salesloft under faults: retries, token expiry, rate limits, vendor errors, secrets."""

from __future__ import annotations

import typing as t

import pytest

from sandboxes.base import SandboxServer
from sandboxes.salesloft import SalesloftSandbox
from taps.common.auth import ClientCredentialsAuthenticator
from taps.salesloft import ratelimit
from taps.salesloft.tap import TapSalesloft
from tests.helpers import catalog_for, run_tap, run_tap_cli

BIG_BUDGET = 1_000_000


@pytest.fixture
def sandbox() -> t.Iterator[tuple[SalesloftSandbox, SandboxServer]]:
    app = SalesloftSandbox(budget=BIG_BUDGET, conversations=150)
    with SandboxServer(app) as server:
        yield app, server


def config_for(app: SalesloftSandbox, server: SandboxServer, **extra: t.Any) -> dict:
    return {**app.demo_config(server.url), "retry_base_seconds": 0.01, "rate_limit_reserve": 0, **extra}


def oauth_config(app: SalesloftSandbox, server: SandboxServer, **extra: t.Any) -> dict:
    config = config_for(app, server)
    del config["api_key"]
    return {**config, "client_id": app.client_id, "client_secret": app.client_secret,
            "token_url": f"{server.url}/oauth/token", **extra}


def assert_complete(app: SalesloftSandbox, run) -> None:
    assert {r["id"] for r in run.records["conversations"]} == set(app.conversations)
    assert {r["id"] for r in run.records["transcriptions"]} == set(app.transcriptions)
    expected = {(tr, s["order_number"]) for tr, rows in app.sentences.items() for s in rows}
    assert set(run.keys("transcription_sentences")) == expected
    assert run.duplicates("conversations") == {}


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("status", {"status": 429, "headers": {"Retry-After": "1"}, "body": {"error": "Too Many Requests"}}),
        ("status", {"status": 503, "times": 3, "body": "<html>Service Unavailable</html>"}),
        ("status", {"status": 500, "times": 2}),
        ("drop", {}),
        ("truncate", {}),
    ],
    ids=["429-retry-after", "503-burst", "500-burst", "dropped-connection", "truncated-body"],
)
def test_transient_faults_lose_nothing(sandbox, kind: str, options: dict) -> None:
    app, server = sandbox
    for path in (r"^/v2/conversations$", r"/sentences$"):
        app.faults.add(kind, path, after=1, **options)
    config = config_for(app, server)
    run = run_tap(TapSalesloft, config, catalog=catalog_for(TapSalesloft, config, {"conversation_extensive": False}))
    assert len(app.faults.fired) == 2 * options.get("times", 1)
    assert_complete(app, run)


def test_retry_after_is_honoured(sandbox, monkeypatch) -> None:
    app, server = sandbox
    waits: list[float] = []
    import backoff._sync

    monkeypatch.setattr(backoff._sync.time, "sleep", waits.append)
    app.faults.add("status", r"^/v2/transcriptions$", status=429, headers={"Retry-After": "7"})
    config = config_for(app, server)
    run_tap(TapSalesloft, config, catalog=catalog_for(TapSalesloft, config, {"conversation_extensive": False}))
    assert waits == [7.0]


def test_expired_oauth_token_is_reminted_once(sandbox) -> None:
    app, server = sandbox
    original = app.handle
    calls = {"n": 0}

    def handle(request):
        if request.path.endswith("/sentences"):
            calls["n"] += 1
            if calls["n"] == 40:
                app.expire_tokens()
        return original(request)

    app.handle = handle
    config = oauth_config(app, server)
    tap = TapSalesloft(config=config, catalog=catalog_for(TapSalesloft, config, {"conversation_extensive": False}))
    import contextlib
    import io

    from tests.helpers import parse_singer

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        tap.sync_all()
    run = parse_singer(out.getvalue())
    assert_complete(app, run)
    assert t.cast(ClientCredentialsAuthenticator, tap.authenticator).tokens_minted == 2
    assert len(app.requests_to("^/oauth/token$")) == 2


def test_refused_oauth_client_names_the_settings(sandbox) -> None:
    app, server = sandbox
    config = oauth_config(app, server, client_secret="wrong-secret-value-123")
    result = run_tap_cli("taps.salesloft", config)
    assert result.returncode != 0
    assert "invalid_client" in result.stderr
    assert "client_id and client_secret" in result.stderr
    assert "wrong-secret-value-123" not in result.output


class FakeClock:
    """A clock shared by the sandbox (its rate-limit minute) and the tap's pacing sleeps."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock(1_800_000_000.0)
    monkeypatch.setattr(ratelimit, "_sleep", fake.sleep)
    return fake


def test_rate_budget_paces_before_running_out(clock: FakeClock) -> None:
    """With 600 points a minute and 1,000+ calls, the tap waits for the next minute instead of hitting 429."""
    app = SalesloftSandbox(clock=clock)
    slept = clock.slept
    with SandboxServer(app) as server:
        config = config_for(app, server, rate_limit_reserve=60)
        run = run_tap(TapSalesloft, config, catalog=catalog_for(TapSalesloft, config))
    assert app.points_spent > 600
    assert app.rate_limited == 0
    assert len(slept) >= app.points_spent // 540
    assert all(0 < s <= 61 for s in slept)
    assert_complete(app, run)
    assert {r["id"] for r in run.records["conversation_extensive"]} == set(app.extensive)


def test_budget_spent_by_another_integration_waits_for_next_minute(clock: FakeClock) -> None:
    """A 429 with no Retry-After (another integration ate the budget): wait for the next minute and go on."""
    clock.now += 30  # half-way through a minute
    app = SalesloftSandbox(conversations=50, clock=clock)
    app._charge(600)  # the team's other integrations spent this minute's points
    slept = clock.slept
    with SandboxServer(app) as server:
        config = config_for(app, server)
        run = run_tap(TapSalesloft, config, catalog=catalog_for(TapSalesloft, config, {"conversation_extensive": False}))
    assert app.rate_limited == 1
    assert slept and slept[0] == pytest.approx(31.0, abs=1.0)
    assert_complete(app, run)


def test_wrong_api_key_fails_with_vendor_message_and_no_secret(sandbox) -> None:
    app, server = sandbox
    secret = "ak_" + "f00d" * 16
    result = run_tap_cli("taps.salesloft", config_for(app, server, api_key=secret))
    assert result.returncode != 0
    assert "Invalid Bearer Token" in result.stderr
    assert "check api_key" in result.stderr
    assert secret not in result.output
    assert not result.run.records


def test_missing_scope_names_conversations_read(sandbox) -> None:
    app, server = sandbox
    result = run_tap_cli("taps.salesloft", config_for(app, server, api_key="sandbox-key-without-scopes"))
    assert result.returncode != 0
    assert "403" in result.stderr
    assert "conversations:read" in result.stderr


def test_422_names_the_rejected_parameter(sandbox) -> None:
    app, server = sandbox
    app.faults.add("status", r"^/v2/conversations$", status=422,
                   body={"errors": {"updated_at[gte]": ["must be a valid iso8601 timestamp"]}})
    config = config_for(app, server)
    run = run_tap(TapSalesloft, config, expect_error=True)
    assert run.error is not None
    assert "updated_at[gte] must be a valid iso8601 timestamp" in str(run.error)
    assert "422" in str(run.error)


def test_interrupted_run_resumes_without_gap(sandbox) -> None:
    """A run that dies mid-way (retries exhausted) leaves a bookmark a second run resumes from."""
    app, server = sandbox
    app.faults.add("status", r"^/v2/conversations$", status=502, after=1, times=99)
    config = config_for(app, server, max_retries=1)
    catalog = catalog_for(TapSalesloft, config, {"conversation_extensive": False, "transcriptions": False,
                                                 "transcription_sentences": False})
    first = run_tap(TapSalesloft, config, catalog=catalog, expect_error=True)
    assert first.error is not None and "502" in str(first.error)
    assert 0 < len(first.records["conversations"]) < len(app.conversations)
    app.faults.clear()
    second = run_tap(TapSalesloft, config, state=first.final_state, catalog=catalog)
    seen = {r["id"] for r in first.records["conversations"]} | {r["id"] for r in second.records["conversations"]}
    assert seen == set(app.conversations)


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({}, "set api_key, or client_id and client_secret"),
        ({"client_id": "abc"}, "client_secret is missing"),
        ({"api_key": "k", "client_id": "a", "client_secret": "b"}, "not both"),
        ({"api_key": "k", "page_size": 5}, "page_size"),
        ({"api_key": "k", "lookback_days": -1}, "lookback_days"),
    ],
)
def test_bad_config_names_the_setting(config: dict, needle: str) -> None:
    result = run_tap_cli("taps.salesloft", {"api_url": "http://127.0.0.1:9", **config})
    assert result.returncode != 0
    assert needle in result.stderr


@pytest.mark.parametrize("max_concurrency", [1, 8])
def test_small_team_budget_is_used_not_waited_out(clock: FakeClock, max_concurrency: int) -> None:
    """Defect 4: a 40-point minute, 8 of them spent by another integration, and the default reserve (60 of 600).

    The reserve scales to the observed budget (32 points available: 4 kept), so
    every full minute the tap spends at least 80% of the 32 points (it used to
    send one request a minute), never gets a 429, and emits every record.
    """
    clock.now += 5
    app = SalesloftSandbox(conversations=40, budget=40, clock=clock)
    app.other_points_per_minute = 8
    with SandboxServer(app) as server:
        config = config_for(app, server, rate_limit_reserve=60, max_concurrency=max_concurrency)
        run = run_tap(TapSalesloft, config, catalog=catalog_for(TapSalesloft, config))
    assert app.rate_limited == 0
    assert_complete(app, run)
    assert {r["id"] for r in run.records["conversation_extensive"]} == set(app.extensive)
    minutes = sorted(app.points_by_minute)
    assert len(minutes) >= 3
    available = app.budget - app.other_points_per_minute
    full = [app.points_by_minute[m] for m in minutes[:-1]]  # the run ends in the last minute
    assert minutes == list(range(minutes[0], minutes[-1] + 1)), app.points_by_minute  # no idle minute
    assert all(points >= 0.8 * available for points in full), app.points_by_minute
