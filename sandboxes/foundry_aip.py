"""Palantir Foundry AIP Agents emulator: OAuth token, List Sessions, Get Content.

Follows the documented contract (palantir.com/docs/foundry/api/aip-agents-v2-resources):

* ``POST /multipass/api/oauth2/token``: form ``grant_type=client_credentials``,
  ``client_id``, ``client_secret``, ``scope`` (space-separated); answers
  ``access_token``, ``token_type``, ``expires_in`` (3600 s). The token carries
  only the scopes requested. A fixed personal token works too.
* ``GET /api/v2/aipAgents/agents/{agentRid}/sessions?pageSize&pageToken&preview=true``:
  ``{"data": [Session], "nextPageToken"?}``, most recently updated first;
  only the sessions that the calling user created through the calling OAuth
  client are listed (another client sees none); ``pageSize`` defaults to 100
  and is a suggestion (values above 100 are served as 100; zero or negative
  is ``InvalidPageSize``); page tokens are offsets into the live ordering
  (so updates between pages shift rows, as documented) and expire
  ``page_token_ttl`` seconds (60) after they were issued: ``InvalidPageToken``.
* ``GET .../sessions/{sessionRid}/content?preview=true``: ``{"exchanges": [...]}``
  in chronological order.
* Errors use Foundry's documented body ``{"errorCode", "errorName",
  "errorInstanceId", "parameters"}``: ``ApiFeaturePreviewUsageOnly`` (400,
  no ``preview=true``), ``Default:Unauthorized`` (401), ``ApiUsageDenied``
  (403, token without ``api:aip-agents-read``), ``AgentNotFound`` and
  ``SessionNotFound`` (404), ``InvalidPageSize`` / ``InvalidPageToken`` (400).
  ``throttle()`` arms 429/503 answers with ``Retry-After``.

Data is deterministic from ``seed``: the documented example session verbatim
(agent ``ri.aip-agents..agent.732cd5b4-...``), generated sessions for two
agents over several pages, with ties on ``updatedTime`` across page
boundaries, sessions with no exchanges, unicode, emoji, quotes, newlines and
nulls. ``update_sessions`` and ``add_sessions`` change data between (or
during) runs, moving the sessions to the front of the listing.
"""

from __future__ import annotations

import base64
import copy
import random
import secrets
import time
import typing as t
import uuid
from datetime import datetime, timedelta, timezone

from typing_extensions import override

from sandboxes.base import Grant, Route, SandboxApp, SandboxRequest, SandboxResponse, json_response

DOCUMENTED_AGENT_RID = "ri.aip-agents..agent.732cd5b4-7ca7-4219-aabb-6e976faf63b1"
SECOND_AGENT_RID = "ri.aip-agents..agent.0b7f3c9e-5d1a-4e2b-9c3f-6a8d2e4f1b70"
READ_SCOPE = "api:aip-agents-read"

#: The "List Sessions" documentation example, verbatim.
DOCUMENTED_SESSION: dict[str, t.Any] = {
    "metadata": {
        "updatedTime": "2024-10-01T22:04:24.962583055Z",
        "estimatedExpiresTime": "2024-10-02T22:04:24.962583055Z",
        "messageCount": 6,
        "createdTime": "2024-10-01T20:04:24.962583055Z",
        "title": "What is the status of my order?",
    },
    "agentRid": "ri.aip-agents..agent.732cd5b4-7ca7-4219-aabb-6e976faf63b1",
    "agentVersion": "1.0",
    "rid": "ri.aip-agents..session.292db3b2-b653-4de6-971c-7e97a7b881d6",
}

QUESTIONS = [
    "What is the status of my order?",
    'Which suppliers are flagged "high risk" this week?',
    "Zeige mir die offenen Wartungsaufträge für Anlage Ä-17.",
    "Résume les incidents 🚨 d'hier",
    "List aircraft due for inspection\nand their hangar",
    "What's the ETA for shipment #4471 — Rotterdam → Houston?",
    "在库存中查找缺货的零件",
    "Backslash test C:\\reports\\q3.csv",
]
ANSWERS = [
    "Your order **#1042** shipped on Monday and should arrive on *Thursday*.",
    "Three suppliers are flagged:\n\n| Supplier | Score |\n|---|---|\n| Acme | 0.91 |\n| Globex | 0.87 |\n| Initech | 0.80 |",
    "Es gibt **4** offene Aufträge für Ä-17.",
    "Deux incidents 🚨 ont été signalés : panne réseau et retard de livraison.",
    "- N123AB — hangar 2\n- N456CD — hangar 5",
    'ETA is 2026-11-30. The carrier said "weather permitting".',
    "缺货零件：**3** 种。",
    "I found `C:\\reports\\q3.csv` in the project folder.",
]
BASE_TIME = datetime(2026, 9, 1, 8, 0, tzinfo=timezone.utc)


def foundry_time(dt: datetime, nanos: int = 0) -> str:
    """Foundry's timestamp form: UTC, nine fractional digits, ``Z``."""
    dt = dt.astimezone(timezone.utc)
    return f"{dt:%Y-%m-%dT%H:%M:%S}.{dt.microsecond:06d}{nanos % 1000:03d}Z"


def foundry_error(status: int, code: str, name: str, parameters: dict | None = None,
                  headers: dict[str, str] | None = None) -> SandboxResponse:
    """A Foundry error answer: ``{"errorCode", "errorName", "errorInstanceId", "parameters"}``."""
    body = {"errorCode": code, "errorName": name, "errorInstanceId": str(uuid.uuid4()),
            "parameters": parameters or {}}
    return json_response(body, status, headers)


class FoundryAIPSandbox(SandboxApp):
    """In-memory Foundry stack with two AIP agents; see the module docstring.

    Attributes:
        clients: OAuth client id -> secret. ``client_id`` created the sessions;
            ``other_client_id`` created none (its listing is empty).
        page_token_ttl: seconds a page token stays valid (60, as documented).
        token_lifetime: seconds an OAuth access token lives (3600).
        clock: seconds since the epoch; the server adds ``clock_offset``.
        sessions: agent rid -> session rid -> Session (vendor shape).
        contents: session rid -> list of exchanges.
    """

    name = "foundry_aip"
    token_path = "/multipass/api/oauth2/token"

    def __init__(self, *, seed: int = 11, sessions_per_agent: tuple[int, int] = (236, 143),
                 page_token_ttl: float = 60.0, clock: t.Callable[[], float] = time.time) -> None:
        """Args:
        seed: random seed for the generated data.
        sessions_per_agent: generated sessions for the documented agent (besides
            the documented session) and for the second agent.
        page_token_ttl: page token lifetime in seconds.
        clock: time source (tests may replace it).
        """
        super().__init__()
        self.user_token = "sandbox-foundry-user-token"
        self.client_id = "sandbox-foundry-client"
        self.client_secret = "sandbox-foundry-client-secret"
        self.other_client_id = "sandbox-foundry-other-client"
        self.clients = {self.client_id: self.client_secret, self.other_client_id: "sandbox-foundry-other-secret"}
        self.page_token_ttl = page_token_ttl
        self.clock = clock
        self.clock_offset = 0.0
        #: the user tokens never expire.
        self.tokens.update({
            self.user_token: Grant(self.client_id, frozenset({READ_SCOPE, "api:aip-agents-write"}), float("inf")),
            "sandbox-foundry-token-without-scope": Grant(self.client_id, frozenset({"api:ontologies-read"}), float("inf")),
        })
        self.page_tokens: dict[str, tuple[str, str, int, float]] = {}
        self.sessions: dict[str, dict[str, dict]] = {DOCUMENTED_AGENT_RID: {}, SECOND_AGENT_RID: {}}
        self.owners: dict[str, str] = {}  # session rid -> OAuth client that created it
        self.contents: dict[str, list[dict]] = {}
        self._hooks: list[tuple[int, t.Callable[[], object]]] = []
        #: agent rid -> sessions updated before every page after the first (see ``churn_on_every_page``)
        self.churn: dict[str, int] = {}
        self._list_calls = 0
        self._rng = random.Random(seed)
        self._generate(sessions_per_agent)

    # --- data -----------------------------------------------------------------

    def now(self) -> float:
        """The emulator's current time in epoch seconds (``clock() + clock_offset``)."""
        return self.clock() + self.clock_offset

    def _generate(self, counts: tuple[int, int]) -> None:
        rng = self._rng
        documented = copy.deepcopy(DOCUMENTED_SESSION)
        self._store(DOCUMENTED_AGENT_RID, documented, self._documented_exchanges())
        for agent_rid, count in zip((DOCUMENTED_AGENT_RID, SECOND_AGENT_RID), counts, strict=False):
            stamp = BASE_TIME
            made = 0
            while made < count:
                # Ties: groups of sessions updated at the same nanosecond, some
                # as large as 7 so they straddle page boundaries at small page sizes.
                group = rng.choice([1, 1, 1, 2, 3]) if made % 50 else 7
                nanos = rng.randint(0, 999)
                for _ in range(min(group, count - made)):
                    self._store(agent_rid, *self._new_session(agent_rid, stamp, nanos, made))
                    made += 1
                stamp += timedelta(minutes=rng.randint(5, 400), microseconds=rng.randint(1, 999_999))

    def _documented_exchanges(self) -> list[dict]:
        """Three exchanges (messageCount 6) in the documented Content shape."""
        return [
            self._exchange(0, "What is the status of my order?",
                           "Your order **#1042** has shipped and should arrive on Thursday.", 6448),
            self._exchange(1, "Can you tell me the carrier?", "It ships with *Northwind Freight*.", 1207),
            self._exchange(2, "Thanks!", "You're welcome. Anything else?", None),
        ]

    def _exchange(self, i: int, question: str, answer: str, tokens: int | None) -> dict:
        rng = self._rng
        contexts: dict[str, t.Any] | None
        kind = i % 4
        if kind == 0:
            contexts = {"objectContexts": [{
                "objectRids": [f"ri.phonograph2-objects.main.object.{uuid.UUID(int=rng.getrandbits(128), version=4)}"],
                "propertyTypeRids": [f"ri.ontology.main.property.{uuid.UUID(int=rng.getrandbits(128), version=4)}"],
                "type": "objectContext",
            }]}
        elif kind == 1:
            contexts = {"objectContexts": []}
        elif kind == 2:
            contexts = {"objectContexts": [], "functionRetrievedContexts": [{
                "functionRid": f"ri.function-registry.main.function.{uuid.UUID(int=rng.getrandbits(128), version=4)}",
                "functionVersion": "0.3.1",
                "retrievedPrompt": "Order 1042: status=SHIPPED\ncarrier=\"Northwind\"",
                "type": "functionRetrievedContext",
            }]}
        else:
            contexts = None
        exchange: dict[str, t.Any] = {
            "userInput": {"text": question},
            "result": {
                "agentMarkdownResponse": answer,
                "parameterUpdates": {} if i % 3 else {"orderStatus": {"value": "SHIPPED", "type": "string"}},
                "interruptedOutput": i % 11 == 5,
                "sessionTraceId": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            },
        }
        if tokens is not None:
            exchange["result"]["totalTokensUsed"] = tokens
        if contexts is not None:
            exchange["contexts"] = contexts
        return exchange

    def _new_session(self, agent_rid: str, updated: datetime, nanos: int, n: int) -> tuple[dict, list[dict]]:
        rng = self._rng
        exchanges_count = 0 if n % 19 == 4 else rng.randint(1, 5)
        exchanges = [
            self._exchange(i, QUESTIONS[(n + i) % len(QUESTIONS)], ANSWERS[(n + i) % len(ANSWERS)],
                           None if (n + i) % 7 == 3 else rng.randint(200, 9000))
            for i in range(exchanges_count)
        ]
        created = updated - timedelta(minutes=rng.randint(0, 180))
        rid = f"ri.aip-agents..session.{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        session = {
            "metadata": {
                "updatedTime": foundry_time(updated, nanos),
                "estimatedExpiresTime": foundry_time(updated + timedelta(days=1), nanos),
                "messageCount": 2 * exchanges_count,
                "createdTime": foundry_time(created, nanos),
                "title": QUESTIONS[n % len(QUESTIONS)] if exchanges_count else "",
            },
            "agentRid": agent_rid,
            "agentVersion": rng.choice(["1.0", "1.1", "2.0", "3.4"]),
            "rid": rid,
        }
        return session, exchanges

    def _store(self, agent_rid: str, session: dict, exchanges: list[dict], owner: str | None = None) -> None:
        self.sessions[agent_rid][session["rid"]] = session
        self.contents[session["rid"]] = exchanges
        self.owners[session["rid"]] = owner or self.client_id

    def update_sessions(self, session_rids: t.Iterable[str], exchanges: int = 1) -> list[str]:
        """Add ``exchanges`` exchanges to each session (as a user continuing the
        chat): ``updatedTime`` becomes now, so they move to the front of the listing.

        Returns:
            The updated session rids.
        """
        done = []
        with self.lock:
            for k, rid in enumerate(session_rids):
                agent_rid = next(a for a, s in self.sessions.items() if rid in s)
                session = self.sessions[agent_rid][rid]
                stamp = datetime.fromtimestamp(self.now(), timezone.utc) + timedelta(microseconds=k)
                start = len(self.contents[rid])
                for i in range(start, start + exchanges):
                    self.contents[rid].append(self._exchange(i, QUESTIONS[i % len(QUESTIONS)], ANSWERS[i % len(ANSWERS)], 512 + i))
                meta = session["metadata"]
                meta["updatedTime"] = foundry_time(stamp)
                meta["estimatedExpiresTime"] = foundry_time(stamp + timedelta(days=1))
                meta["messageCount"] = 2 * len(self.contents[rid])
                done.append(rid)
        return done

    def add_sessions(self, agent_rid: str, count: int, *, owner: str | None = None) -> list[str]:
        """Create ``count`` new sessions (updated now) for ``agent_rid``; returns their rids.

        ``owner`` is the OAuth client that "created" them (default ``client_id``).
        """
        rids = []
        with self.lock:
            for k in range(count):
                stamp = datetime.fromtimestamp(self.now(), timezone.utc) + timedelta(microseconds=k)
                session, exchanges = self._new_session(agent_rid, stamp, 0, len(self.sessions[agent_rid]) + k)
                self._store(agent_rid, session, exchanges, owner)
                rids.append(session["rid"])
        return rids

    def ordered(self, agent_rid: str, client_id: str | None = None) -> list[dict]:
        """Sessions of ``agent_rid`` visible to ``client_id`` (default ``client_id``),
        most recently updated first (ties by rid, descending), as listed."""
        client_id = client_id or self.client_id
        with self.lock:
            rows = [s for s in self.sessions[agent_rid].values() if self.owners[s["rid"]] == client_id]
        return sorted(rows, key=lambda s: (s["metadata"]["updatedTime"], s["rid"]), reverse=True)

    # --- test controls --------------------------------------------------------

    def before_list_request(self, n: int, action: t.Callable[[], object]) -> None:
        """Run ``action()`` just before answering the ``n``-th List Sessions request
        from now on (1-based): e.g. ``lambda: app.update_sessions([...])`` to change
        data in the middle of a listing."""
        with self.lock:
            self._hooks.append((self._list_calls + n, action))

    def churn_on_every_page(self, agent_rid: str, count: int) -> None:
        """Before every List Sessions request of ``agent_rid`` that carries a page
        token, its ``count`` least recently updated sessions get a new exchange and
        jump to the front: a listing that pages never sees the same front twice."""
        with self.lock:
            self.churn[agent_rid] = count

    def stall_before_list_request(self, n: int) -> None:
        """Before answering the ``n``-th List Sessions request from now on (1-based),
        let ``page_token_ttl + 1`` seconds pass, as if the client had paused:
        every page token issued so far expires."""

        def stall() -> None:
            self.clock_offset += self.page_token_ttl + 1

        self.before_list_request(n, stall)

    def expire_tokens(self) -> None:
        """Make every OAuth access token issued so far expire now (the user token stays)."""
        with self.lock:
            for token, grant in list(self.tokens.items()):
                if grant.expires_at != float("inf"):
                    self.tokens[token] = grant._replace(expires_at=0.0)

    def throttle(self, status: int = 429, *, times: int = 1, retry_after: str | None = "0",
                 path: str = r"/api/v2/aipAgents/", after: int = 0) -> None:
        """Answer the next ``times`` matching requests with ``status`` (429 or 503)
        and a Foundry error body, with ``Retry-After`` when given."""
        name = "TooManyRequests" if status == 429 else "ServiceUnavailable"
        code = "TOO_MANY_REQUESTS" if status == 429 else "INTERNAL"
        body = {"errorCode": code, "errorName": name, "errorInstanceId": str(uuid.uuid4()), "parameters": {}}
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.faults.add("status", path, status=status, body=body, headers=headers, times=times, after=after)

    def list_requests(self) -> list[SandboxRequest]:
        """Logged List Sessions requests, in order."""
        return self.requests_to(r"/sessions$")

    # --- HTTP -----------------------------------------------------------------

    @override
    def routes(self) -> list[Route]:
        """List Sessions and Get Session Content (bearer token)."""
        return [Route("GET", r"/api/v2/aipAgents/agents/([^/]+)/sessions(?:/([^/]+)/content)?", self._sessions)]

    @override
    def not_found(self, request: SandboxRequest) -> SandboxResponse:
        """Foundry's 404 body."""
        return foundry_error(404, "NOT_FOUND", "Default:NotFound", {"path": request.path})

    @override
    def unauthorized(self, request: SandboxRequest, reason: str) -> SandboxResponse:
        """Foundry's 401 body."""
        return foundry_error(401, "UNAUTHORIZED", "Default:Unauthorized")

    @override
    def client_valid(self, client_id: str, secret: str) -> bool:
        """A registered OAuth client (``clients``)."""
        return bool(client_id) and self.clients.get(client_id) == secret

    @override
    def token_extras(self, grant: Grant) -> dict[str, t.Any]:
        """The granted ``scope``."""
        return {"scope": " ".join(sorted(grant.scopes))}

    @override
    def token_refused(self, request: SandboxRequest, error: str) -> SandboxResponse:
        """Multipass's token errors."""
        if error == "invalid_client":
            return json_response({"error": "invalid_client", "error_description": "Client authentication failed"}, 401)
        return json_response({"error": error}, 400)

    def _sessions(self, request: SandboxRequest, agent_rid: str, session_rid: str | None) -> SandboxResponse:
        """The preview flag, the read scope and the agent, then a listing or one session's content."""
        grant = request.grant
        client_id, scopes = (grant.client_id, grant.scopes) if grant is not None else ("", frozenset())
        if (request.arg("preview") or "").lower() != "true":
            return foundry_error(400, "INVALID_ARGUMENT", "ApiFeaturePreviewUsageOnly")
        if READ_SCOPE not in scopes:
            return foundry_error(403, "PERMISSION_DENIED", "ApiUsageDenied", {"missingScope": READ_SCOPE})
        if agent_rid not in self.sessions:
            return foundry_error(404, "NOT_FOUND", "AgentNotFound", {"agentRid": agent_rid})
        if session_rid is None:
            return self._list(request, agent_rid, client_id)
        return self._content(agent_rid, session_rid, client_id)

    def _list(self, request: SandboxRequest, agent_rid: str, client_id: str) -> SandboxResponse:
        with self.lock:
            self._list_calls += 1
            due = [action for when, action in self._hooks if when == self._list_calls]
            for action in due:
                action()
            churn = self.churn.get(agent_rid, 0) if request.arg("pageToken") else 0
            if churn:
                self.update_sessions([row["rid"] for row in self.ordered(agent_rid, client_id)[-churn:]])
        try:
            page_size = int(request.arg("pageSize") or 100)
        except ValueError:
            page_size = 0
        if page_size <= 0:
            return foundry_error(400, "INVALID_ARGUMENT", "InvalidPageSize", {"pageSize": request.arg("pageSize")})
        page_size = min(page_size, 100)
        offset = 0
        page_token = request.arg("pageToken")
        if page_token:
            with self.lock:
                entry = self.page_tokens.get(page_token)
            if entry is None or entry[0] != agent_rid or entry[1] != client_id or entry[3] <= self.now():
                return foundry_error(400, "INVALID_ARGUMENT", "InvalidPageToken", {"pageToken": page_token})
            offset = entry[2]
        rows = self.ordered(agent_rid, client_id)
        chunk = copy.deepcopy(rows[offset:offset + page_size])
        body: dict[str, t.Any] = {"data": chunk}
        if offset + page_size < len(rows):
            token = "v1." + base64.urlsafe_b64encode(secrets.token_bytes(30)).decode("ascii")
            with self.lock:
                self.page_tokens[token] = (agent_rid, client_id, offset + page_size, self.now() + self.page_token_ttl)
            body["nextPageToken"] = token
        return json_response(body)

    def _content(self, agent_rid: str, session_rid: str, client_id: str) -> SandboxResponse:
        with self.lock:
            visible = session_rid in self.sessions[agent_rid] and self.owners[session_rid] == client_id
            exchanges = copy.deepcopy(self.contents.get(session_rid, [])) if visible else None
        if exchanges is None:
            return foundry_error(404, "NOT_FOUND", "SessionNotFound", {"agentRid": agent_rid, "sessionRid": session_rid})
        return json_response({"exchanges": exchanges})

    def demo_config(self, url: str) -> dict[str, t.Any]:
        """A ready-to-use tap config for this sandbox at ``url`` (client credentials)."""
        return {
            "api_url": url,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "agent_rids": [DOCUMENTED_AGENT_RID, SECOND_AGENT_RID],
            "start_date": "2024-01-01T00:00:00Z",
        }


__all__ = ["DOCUMENTED_AGENT_RID", "DOCUMENTED_SESSION", "SECOND_AGENT_RID", "FoundryAIPSandbox", "foundry_time"]
