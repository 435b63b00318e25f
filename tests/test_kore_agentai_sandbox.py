"""The Kore.ai emulator follows the documented contract (auth, limits, paging fields)."""

from __future__ import annotations

import time
from datetime import date, timedelta

import jwt
import pytest
import requests

from sandboxes.base import SandboxServer
from sandboxes.kore_agentai import DOCUMENTED_RECORDS, KoreAgentAISandbox, day_start

LAST_DAY = date(2026, 3, 31)


@pytest.fixture(scope="module")
def server():
    """A sandbox with 30 generated days ending 2026-03-31."""
    with SandboxServer(KoreAgentAISandbox(last_day=LAST_DAY)) as srv:
        yield srv


def token(app_id: str, secret: str, **claims) -> str:
    """A JWT as the docs describe: HS256, claim appId."""
    return jwt.encode({"appId": app_id, **claims}, secret, algorithm="HS256")


def post(server, body, *, auth=None, account=None, bot=None):
    """POST the conversation endpoint; defaults are the demo credentials."""
    app = server.app
    headers = {"Content-Type": "application/json"}
    if auth is not False:
        headers["auth"] = auth or token(app.client_id, app.client_secret)
    if account is not False:
        headers["accountId"] = account or app.account_id
    url = f"{server.url}/agentassist/api/v1/public/{bot or app.bot_id}/aaconversation"
    return requests.post(url, json=body, headers=headers, timeout=10)


def busiest_day(app: KoreAgentAISandbox) -> tuple[date, int]:
    """The generated day with the most conversations, and that count."""
    first = app.last_day - timedelta(days=29)
    counts = {first + timedelta(days=i): len(app.conversations_between(first + timedelta(days=i), first + timedelta(days=i)))
              for i in range(30)}
    day = max(counts, key=counts.__getitem__)
    return day, counts[day]


def test_documented_sample_records_are_served_verbatim(server):
    response = post(server, {"from": "2025-10-13", "to": "2025-10-13", "page": 1, "limit": 20, "includeHistory": False})
    assert response.status_code == 200
    body = response.json()
    assert body["results"] == DOCUMENTED_RECORDS
    assert {k: body[k] for k in ("skip", "limit", "hasMore", "totalPages", "totalResults")} == {
        "skip": 0, "limit": 20, "hasMore": False, "totalPages": 1, "totalResults": 2}


def test_paging_fields_follow_the_documented_arithmetic(server):
    day, total = busiest_day(server.app)
    assert total > 40  # the generated data has a day needing three pages
    pages = []
    for page in (1, 2, 3, 4):
        body = post(server, {"from": day.isoformat(), "to": day.isoformat(), "page": page, "limit": 20}).json()
        pages.append(body)
        assert body["skip"] == (page - 1) * 20
        assert body["limit"] == 20
        assert body["totalResults"] == total
        assert body["totalPages"] == -(-total // 20)
        assert body["hasMore"] is (page * 20 < total)
    assert [len(p["results"]) for p in pages] == [20, 20, total - 40, 0]
    ids = [r["_id"] for p in pages for r in p["results"]]
    assert len(set(ids)) == total


def test_history_only_when_asked(server):
    day, _ = busiest_day(server.app)
    without = post(server, {"from": day.isoformat(), "to": day.isoformat()}).json()["results"]
    with_history = post(server, {"from": day.isoformat(), "to": day.isoformat(), "includeHistory": True}).json()["results"]
    assert all("messages" not in r for r in without)
    assert all(isinstance(r["messages"], list) for r in with_history)
    assert any(r["messages"] for r in with_history)
    assert any(not r["messages"] for r in with_history)


@pytest.mark.parametrize(("body", "fragment"), [
    ({"from": "2026-03-01", "to": "2026-03-08"}, "maximum duration supported for the date range is 7 days"),
    ({"from": "2026-03-01", "to": "2026-03-07", "limit": 21}, "'limit' must be between 1 and 20"),
    ({"from": "2026-03-01", "to": "2026-03-07", "limit": 0}, "'limit' must be between 1 and 20"),
    ({"from": "2026-03-01", "to": "2026-03-07", "page": 0}, "'page' must be a positive integer"),
    ({"from": "2026-03-07", "to": "2026-03-01"}, "'to' must not be before 'from'"),
    ({"from": "03/01/2026", "to": "2026-03-07"}, "YYYY-MM-DD"),
    ({"to": "2026-03-07"}, "YYYY-MM-DD"),
])
def test_limits_are_enforced_with_400(server, body, fragment):
    response = post(server, body)
    assert response.status_code == 400
    assert fragment in response.json()["errors"][0]["msg"]


def test_seven_inclusive_days_are_accepted(server):
    assert post(server, {"from": "2026-03-01", "to": "2026-03-07"}).status_code == 200


def test_jwt_and_account_checks(server):
    app = server.app
    body = {"from": "2026-03-01", "to": "2026-03-07"}
    wrong_secret = token(app.client_id, "not-the-secret-but-long-enough-000000")
    expired = token(app.client_id, app.client_secret, exp=int(time.time()) - 60)
    unknown_app = token("cs-unknown", app.client_secret)
    for auth in (False, wrong_secret, expired, unknown_app, "not-a-jwt"):
        response = post(server, body, auth=auth)
        assert response.status_code == 401, auth
        assert response.json() == {"msg": "Invalid SDK credentials", "code": 4002}
    assert post(server, body, account=False).status_code == 400
    assert post(server, body, account="someone-elses-account").status_code == 401
    no_scope = post(server, body, auth=token("cs-sandbox-no-scope", app.apps["cs-sandbox-no-scope"][0]))
    assert no_scope.status_code == 403
    assert "AgentAssist Analytics" in no_scope.json()["errors"][0]["msg"]
    assert post(server, body, bot="st-unknown").status_code == 404


def test_429_on_demand(server):
    server.app.rate_limit(times=1, retry_after="3")
    first = post(server, {"from": "2026-03-01", "to": "2026-03-07"})
    assert first.status_code == 429
    assert first.headers["Retry-After"] == "3"
    assert post(server, {"from": "2026-03-01", "to": "2026-03-07"}).status_code == 200


def test_new_conversations_and_late_edits_between_runs(server):
    app = server.app
    added = app.add_conversation(day_start(app.last_day) + timedelta(hours=1), messages=3)
    edited = app.edit_message(added["_id"], 1, "edited later ✏️")
    served = app.conversations_between(app.last_day, app.last_day)
    match = next(r for r in served if r["_id"] == added["_id"])
    assert match["messages"][1] == edited
    assert edited["components"][0]["data"]["text"] == "edited later ✏️"
    assert edited["__lModifiedOn__"] > match["startTime"]
