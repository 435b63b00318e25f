"""Kore.ai Agent AI emulator: "Duration-Based Conversation Records".

Follows the documented contract (docs.kore.ai, "API for Duration-Based
Conversation Records"):

* ``POST /agentassist/api/v1/public/{botId}/aaconversation`` with a JSON body
  ``from``, ``to`` (``YYYY-MM-DD``, inclusive, read as UTC days), ``page``
  (default 1), ``limit`` (default and maximum 20), ``includeHistory``
  (default false).
* Header ``auth``: a JWT signed HS256 with the app's client secret whose
  claim ``appId`` is the app's client id (signature, ``appId`` and, when
  present, ``exp`` and ``iat`` are verified against the sandbox's clock). Header ``accountId``: the app's account.
* Envelope ``{"results": [...], "skip", "limit", "hasMore", "totalPages",
  "totalResults"}`` with ``skip = (page - 1) * limit``; a page past the end is
  empty with ``hasMore: false``.
* Limits enforced with 400: a range over 7 days (``to - from`` at most 6 days,
  the strict reading of "maximum duration ... 7 days"), ``limit`` over 20 or
  under 1, ``page`` under 1, missing or malformed dates, ``to`` before ``from``.
* Errors: a rejected JWT answers 401 ``{"msg": "Invalid SDK credentials",
  "code": 4002}`` (the body Kore's community documents); an app not mapped to
  the "AgentAssist Analytics" scope answers 403; other errors use Kore's
  ``{"errors": [{"msg", "code"}]}`` shape. The 403 status and the texts of
  the messages other than ``Invalid SDK credentials`` are this emulator's
  guesses: the vendor does not document them.
* 429 on demand (``rate_limit(times, retry_after)``), with the message from
  Kore's rate-limit article.

Results are returned in ``_id`` order (MongoDB natural order, roughly
creation time), not by ``startTime``: the vendor documents no order, so the
tap must not rely on one.

Data is deterministic from ``seed``: the two documented sample records
verbatim (the vendor's sample JSON has a trailing comma after the last
record, which is dropped; values are otherwise unchanged), then about
``days`` days of generated conversations ending ``last_day`` (default:
yesterday, UTC): some days empty, a day of exactly 20 and one of 41 conversations (page
boundaries), conversations with and without messages, unicode and emoji,
quotes and newlines in texts, optional fields absent or null.
Between runs, ``add_conversation()`` adds new conversations and
``edit_message()`` edits a message late (new text and ``__lModifiedOn__``).
"""

from __future__ import annotations

import copy
import math
import random
import re
import typing as t
from datetime import date, datetime, timedelta, timezone

import jwt
from typing_extensions import override

from sandboxes.base import Route, SandboxApp, SandboxRequest, SandboxResponse, json_response

PATH_PREFIX = "/agentassist/api/v1/public/"
MAX_LIMIT = 20
MAX_RANGE_DAYS = 7
SCOPE = "AgentAssist Analytics"

# The vendor's sample response records, verbatim (page 2 of a one-day query).
DOCUMENTED_RECORDS: list[dict[str, t.Any]] = [
    {
        "_id": "68ececc87a98f960ee0xxxxx",
        "convId": "UAT-Master-Bot-1xxxxx",
        "botId": "st-841b5cd4-6393-5561-9218-34e3c62xxxxx",
        "channelType": "voice",
        "isExtAD": True,
        "startTime": "2025-10-13T12:12:56.561Z",
        "aaSessionId": "68ececc803cec129ea9xxxxx",
        "aaUserId": "u-b92404aa-f0cd-541f-ad4a-9ed4dd8xxxxx",
    },
    {
        "_id": "68ecee337a98f960ee0xxxxx",
        "convId": "UAT-Master-Bot-1xxxxx",
        "botId": "st-841b5cd4-6393-5561-9218-34e3c62xxxxx",
        "channelType": "voice",
        "isExtAD": True,
        "startTime": "2025-10-13T12:18:59.357Z",
        "aaSessionId": "68ecee3303cec129ea9xxxxx",
        "aaUserId": "u-bae3f44c-4523-5eb5-b28e-01b9e24xxxxx",
    },
]

INVALID_CREDENTIALS = {"msg": "Invalid SDK credentials", "code": 4002}
RATE_LIMITED = {"msg": "Rate limit for this API has been reached. Please try again later", "code": 429}

TEXTS = [
    "hi",
    "I'd like to check my order status, please.",
    'The agent said "it ships Monday" — is that right?',
    "Können Sie mir helfen? Ich habe ein Problem mit der Rechnung.",
    "Merci 🙏 ça marche !",
    "Line one\nline two of the same message.",
    "日本語のサポートはありますか？",
    "Refund approved ✅ 💸",
    "Tab\tseparated and a backslash \\ here",
    "",
]


def iso_ms(moment: datetime) -> str:
    """``2025-10-13T12:12:56.561Z``: the vendor's timestamp format (UTC, milliseconds)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or offset); naive means UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def object_id(moment: datetime, counter: int) -> str:
    """A MongoDB-style ObjectId: 8 hex digits of epoch seconds, then 16 of counter."""
    return f"{int(moment.timestamp()):08x}{counter:016x}"


class KoreAgentAISandbox(SandboxApp):
    """In-memory Kore.ai account with one bot; see the module docstring.

    Attributes:
        bot_id, account_id, client_id, client_secret: the demo credentials.
        apps: client id -> (client secret, account id, scopes).
        conversations: ``_id`` -> conversation, each with its ``messages`` list
            (``None`` for the documented records, which carry no history).
    """

    name = "kore_agentai"

    def __init__(self, *, seed: int = 6, days: int = 30, last_day: date | None = None) -> None:
        """Args:
        seed: random seed for the generated data.
        days: how many days of generated conversations.
        last_day: the last generated day (default: yesterday, UTC, so no
            conversation starts in the future).
        """
        super().__init__()
        self.bot_id = DOCUMENTED_RECORDS[0]["botId"]
        self.account_id = "660aafa0c0971e56e27xxxxx"
        # The appId of the vendor's sample JWT; the secret is the sandbox's own.
        self.client_id = "cs-55d888d3-8502-5b59-a5cd-328c2e2fbb3d"
        self.client_secret = "sandbox-kore-client-secret-4f1c-9a7e2d"
        self.apps: dict[str, tuple[str, str, set[str]]] = {
            self.client_id: (self.client_secret, self.account_id, {SCOPE}),
            "cs-sandbox-no-scope": ("sandbox-no-scope-secret-0123456789abcdef", self.account_id, {"Chat History"}),
        }
        self.conversations: dict[str, dict[str, t.Any]] = {}
        self._counter = 0
        self._rng = random.Random(seed)
        self.last_day = last_day or self.clock.now().date() - timedelta(days=1)
        for record in DOCUMENTED_RECORDS:
            self.conversations[record["_id"]] = {**copy.deepcopy(record), "messages": None}
        self._generate(days)

    # --- data -----------------------------------------------------------------

    def _generate(self, days: int) -> None:
        first = self.last_day - timedelta(days=days - 1)
        for offset in range(days):
            day = first + timedelta(days=offset)
            if offset in (3, 4, 11):
                count = 0  # days with no conversations (one whole quiet stretch)
            elif offset == 8:
                count = 20  # exactly one full page
            elif offset == 16:
                count = 41  # three pages, the last with one row
            else:
                count = self._rng.randint(1, 9)
            for _ in range(count):
                start = day_start(day) + timedelta(
                    seconds=self._rng.randint(0, 86_399), milliseconds=self._rng.randint(0, 999))
                self.add_conversation(start, with_history=self._rng.random() < 0.75)

    def add_conversation(self, start: datetime, *, with_history: bool = True, messages: int | None = None) -> dict:
        """Add a conversation starting at ``start`` (UTC); returns it (messages included).

        Args:
            start: the conversation's ``startTime``.
            with_history: whether it has messages (``False``: an empty history).
            messages: how many messages (default: random 1..12).
        """
        rng = self._rng
        with self.lock:
            self._counter += 1
            counter = self._counter
        conv_id = f"c-{counter:05d}-{rng.randrange(16**6):06x}"
        experience = rng.choice(["chat", "voice"])
        record: dict[str, t.Any] = {
            # inserted up to 3 h after it started: _id order is not startTime order
            "_id": object_id(start + timedelta(seconds=rng.randint(0, 10_800)), counter),
            "convId": conv_id,
            "botId": self.bot_id,
            "channelType": experience if rng.random() < 0.8 else rng.choice(["rtm", "msteams", "audiocodes"]),
            "isExtAD": rng.random() < 0.5,
            "startTime": iso_ms(start),
            "experience": experience,
            "aaSessionId": f"{rng.randrange(16**24):024x}",
            "aaUserId": f"u-{rng.randrange(16**8):08x}-agentassist",
        }
        if rng.random() < 0.6:
            record["mbSessionId"] = f"{rng.randrange(16**24):024x}"
            record["mbUserId"] = None if rng.random() < 0.3 else f"u-{rng.randrange(16**8):08x}-mb"
        if rng.random() < 0.3:
            record["summaries"] = [{
                "summaryId": f"sum-{counter}",
                "participant": {"identity": f"agent{rng.randint(1, 9)}@example.com", "name": "Zoë Agent", "type": "AGENT"},
                "summary": "Customer asked about an invoice; agent explained the \"late fee\".",
                "editedSummary": None,
                "type": rng.choice(["interim", "final"]),
                "generationTimeInSecs": round(rng.uniform(0.5, 9.0), 2),
                "feedbackInfo": {"agentDetails": {"identity": "agent1@example.com", "name": "Zoë Agent"},
                                 "feedback": rng.choice(["like", "dislike"]), "comment": "",
                                 "feedbackDetails": []},
            }]
        history: list[dict] = []
        if with_history:
            count = messages if messages is not None else rng.randint(1, 12)
            moment = start
            for n in range(count):
                moment += timedelta(seconds=rng.randint(1, 90), milliseconds=rng.randint(0, 999))
                incoming = n % 2 == 0
                message: dict[str, t.Any] = {
                    "botId": self.bot_id,
                    "type": "incoming" if incoming else "outgoing",
                    "status": rng.choice(["received", "delivered", "pending"]),
                    "components": [{
                        "_id": f"cp-{counter:05d}-{n:03d}-{rng.randrange(16**6):06x}",
                        "cT": "text",
                        "data": {"text": TEXTS[(counter + n) % len(TEXTS)]},
                        "thumbnails": [],
                    }],
                    "author": {"type": "USER" if incoming else "AGENT"},
                    "conversationId": conv_id,
                    "__lModifiedOn__": iso_ms(moment),
                    "timestampValue": int(moment.timestamp() * 1000),
                }
                if n % 4 != 3:
                    message["sT"] = n + 1
                history.append(message)
        record["messages"] = history
        with self.lock:
            self.conversations[record["_id"]] = record
        return copy.deepcopy(record)

    def edit_message(self, conversation_id: str, index: int, text: str, when: datetime | None = None) -> dict:
        """Edit message ``index`` of conversation ``conversation_id`` (its ``_id``) late.

        Sets the first component's text and ``__lModifiedOn__`` (default: now);
        ``startTime`` is unchanged, as with the vendor. Returns the message.
        """
        with self.lock:
            message = self.conversations[conversation_id]["messages"][index]
            message["components"][0]["data"]["text"] = text
            message["__lModifiedOn__"] = iso_ms(when or self.clock.now())
            return copy.deepcopy(message)

    def rate_limit(self, times: int = 1, retry_after: str | None = "0.01") -> None:
        """Answer the next ``times`` conversation calls with 429 (``Retry-After`` if given)."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.faults.add("status", r"/aaconversation$", status=429, times=times, headers=headers, body=RATE_LIMITED)

    def conversations_between(self, first: date, last: date) -> list[dict]:
        """Stored conversations whose UTC ``startTime`` day is in ``first..last``, in ``_id`` order."""
        with self.lock:
            rows = [copy.deepcopy(r) for r in self.conversations.values()
                    if first <= parse_iso(r["startTime"]).date() <= last]
        return sorted(rows, key=lambda r: r["_id"])

    # --- HTTP -----------------------------------------------------------------

    @override
    def routes(self) -> list[Route]:
        """``POST {PATH_PREFIX}{botId}/aaconversation`` (JWT in the ``auth`` header: ``authorize``)."""
        return [Route("POST", re.escape(PATH_PREFIX) + r"(.*)/aaconversation", self._conversations)]

    @override
    def not_found(self, request: SandboxRequest) -> SandboxResponse:
        """Kore.ai's 404 body."""
        return self._error(404, "Resource not found")

    @override
    def method_not_allowed(self, request: SandboxRequest) -> SandboxResponse:
        """Kore.ai's 405 body."""
        return self._error(405, f"Cannot {request.method} {request.path}")

    def _conversations(self, request: SandboxRequest, bot_id: str) -> SandboxResponse:
        """The bot's conversation records for the body's window and page."""
        if bot_id != self.bot_id:
            return self._error(404, "Bot not found or not accessible for this app")
        try:
            body = request.json()
        except ValueError:
            return self._error(400, "Request body must be valid JSON")
        if not isinstance(body, dict):
            return self._error(400, "Request body must be a JSON object")
        return self._list(body)

    @staticmethod
    def _error(status: int, message: str) -> SandboxResponse:
        return json_response({"errors": [{"msg": message, "code": status}]}, status)

    @override
    def authorize(self, request: SandboxRequest) -> SandboxResponse | None:
        """The ``auth`` JWT (HS256, signed with the app's secret), the ``accountId`` header and the API scope."""
        token = request.headers.get("auth")
        if not token:
            return json_response(INVALID_CREDENTIALS, 401)
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            app = self.apps.get(str(unverified.get("appId")))
            if app is None:
                return json_response(INVALID_CREDENTIALS, 401)
            claims = jwt.decode(token, app[0], algorithms=["HS256"],
                                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})
        except jwt.PyJWTError:
            return json_response(INVALID_CREDENTIALS, 401)
        if not self._in_time(claims):
            return json_response(INVALID_CREDENTIALS, 401)
        _secret, account, scopes = app
        account_header = request.headers.get("accountid")
        if not account_header:
            return self._error(400, "accountId header is required")
        if account_header != account:
            return json_response(INVALID_CREDENTIALS, 401)
        if SCOPE not in scopes:
            return json_response({"errors": [{"msg": f"The app is not authorized to access this API. Required API scope: {SCOPE}", "code": 403}]}, 403)
        return None

    def _in_time(self, claims: dict[str, t.Any]) -> bool:
        """``exp`` (when present) not passed and ``iat`` not in the future, on this sandbox's clock
        (``self.clock``, which tests move): PyJWT's own checks, against Kore.ai's time, not the machine's."""
        now = self.clock.now().timestamp()
        exp, iat = claims.get("exp"), claims.get("iat")
        if exp is not None and (not isinstance(exp, (int, float)) or exp <= now):
            return False
        return not (iat is not None and (not isinstance(iat, (int, float)) or iat > now))

    def _list(self, body: dict[str, t.Any]) -> SandboxResponse:
        try:
            first = date.fromisoformat(str(body["from"]))
            last = date.fromisoformat(str(body["to"]))
        except (KeyError, ValueError):
            return self._error(400, "'from' and 'to' are required dates in YYYY-MM-DD format")
        if last < first:
            return self._error(400, "'to' must not be before 'from'")
        if (last - first).days >= MAX_RANGE_DAYS:
            return self._error(400, "The maximum duration supported for the date range is 7 days")
        page, limit = body.get("page", 1), body.get("limit", MAX_LIMIT)
        if not isinstance(page, int) or isinstance(page, bool) or page < 1:
            return self._error(400, "'page' must be a positive integer")
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
            return self._error(400, f"'limit' must be between 1 and {MAX_LIMIT}")
        include_history = body.get("includeHistory", False) is True
        rows = self.conversations_between(first, last)
        skip = (page - 1) * limit
        chunk = rows[skip:skip + limit]
        results = []
        for row in chunk:
            messages = row.pop("messages")
            if include_history and messages is not None:
                row["messages"] = messages
            results.append(row)
        return json_response({
            "results": results,
            "skip": skip,
            "limit": limit,
            "hasMore": skip + len(chunk) < len(rows),
            "totalPages": math.ceil(len(rows) / limit),
            "totalResults": len(rows),
        })

    def demo_config(self, url: str) -> dict[str, t.Any]:
        """A ready-to-use tap config for this sandbox at ``url``."""
        return {
            "api_url": url,
            "bot_id": self.bot_id,
            "account_id": self.account_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "start_date": "2025-10-01T00:00:00Z",
        }
