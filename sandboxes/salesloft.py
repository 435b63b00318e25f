"""Salesloft emulator: conversations, transcriptions, sentences, extensive views.

Follows the documented contract (developers.salesloft.com: Conversations,
Transcriptions, "Fetch a Transcription Artifact", Rate Limits):

* ``Authorization: Bearer`` on every call; no token gives the documented 401
  body; API keys and OAuth client-credential tokens (``POST /oauth/token``,
  7200 s) both work; a key without ``conversations:read`` gets 403.
* ``GET /v2/conversations`` and ``GET /v2/transcriptions``: filters
  ``updated_at[gte|gt|lte|lt]``, ``created_at[...]``, ``ids[]``; ``sort_by``,
  ``sort_direction`` (asc/desc, any case, default desc); ``per_page`` clamped to
  1..100 (default 25); ``page`` (default 1); ``include_paging_counts``;
  envelope ``{"data": [...], "metadata": {"filtering", "paging", "sorting"}}``;
  unknown filter names ignored, invalid values 422 with ``errors``.
* ``GET /v2/transcriptions/{id}/sentences`` (paged) and
  ``GET /v2/conversations/{id}/extensive`` (``{"data": {...}}``).
* ``GET /v2/transcriptions/{id}/artifact``: ``{"data": {id, language_code, url,
  content_type, created_at, updated_at, conversation}}`` where ``url`` is a signed
  link (``Expires`` + ``Signature`` in the query, valid ``artifact_ttl_seconds``)
  to the transcript file, served without a bearer token (a request that sends one
  gets 400, as S3 answers a second auth mechanism); a key whose user lacks the
  "Download Conversations" role permission gets 403
  ``{"error": "Download Conversations role permission required"}``.
* Rate limit: 600 points per team per minute; each call costs 1, pages past
  100 cost 3/8/10/30; headers ``x-ratelimit-endpoint-cost`` and
  ``x-ratelimit-remaining-minute``; 429 once the minute's budget is spent.

Data is deterministic from ``seed``: the documented example record verbatim,
then generated conversations with ties on ``updated_at`` across page
boundaries (one bulk-import group larger than a page), unicode and emoji,
quotes, newlines and nulls; sentence ids repeat across transcriptions.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import random
import secrets
import time
import typing as t
import uuid
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from typing_extensions import override

from sandboxes.base import Grant, Route, SandboxApp, SandboxRequest, SandboxResponse, json_response

DOCUMENTED_CONVERSATION: dict[str, t.Any] = {
    "id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "duration": 0,
    "is_api": True,
    "platform": "zoom",
    "media_type": "audio",
    "organization_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "title": "string",
    "owner_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "user_guid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "started_recording_at": 0,
    "event_end_date": "2025-02-13T22:11:57.792Z",
    "event_start_date": "2025-02-13T22:11:57.792Z",
    "language_code": "string",
    "created_at": "2025-02-13T22:11:57.792Z",
    "updated_at": "2025-02-13T22:11:57.792Z",
    "call_id": "string",
    "account": {"id": "string", "_href": "string"},
    "person": {"id": "string", "_href": "string"},
    "recording": {"id": "string", "_href": "string"},
    "transcription": {"id": "string", "_href": "string"},
    "transcription_sentences": {"id": "string", "_href": "string"},
    "transcription_artifact": {"id": "string", "_href": "string"},
}

NO_DOWNLOAD_ROLE_KEY = "sandbox-key-without-download-role"
DOWNLOAD_ROLE_BODY = {"error": "Download Conversations role permission required"}
NO_TOKEN_BODY = {"error": "No Bearer Token attached to request, please see documentation at developers.salesloft.com"}
BAD_TOKEN_BODY = {"error": "Invalid Bearer Token"}
PLATFORMS = ["bluejeans", "gotomeeting", "joinme", "manual_upload", "ms_teams", "salesloft",
             "uberconference", "webex", "zoom", "google_meet", "external_audio"]
LANGUAGES = ["en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "nl-NL", None]
TITLES = [
    "Discovery call with Ångström GmbH",
    'Renewal: "Gold" plan — pricing review',
    "Démo produit 🚀 (équipe Paris)",
    "日本語での打ち合わせ",
    "Follow-up\nwith procurement",
    "O'Brien & Sons — QBR 📈",
    "Café ☕ chat, tab\tseparated",
    "Backslash \\ path C:\\temp",
]
SENTENCES = [
    "Hi, thanks for joining today.",
    'She said "we need this by Q3" — is that right?',
    "Können wir über den Preis sprechen?",
    "Ça marche 👍",
    "Line one\nline two of the same sentence.",
    "The budget's approved; let's move on.",
    "🎉🎉 Great news!",
    "Unicode test: ñ, ø, 漢字, עברית, العربية.",
]
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 25
BUDGET_PER_MINUTE = 600
BASE_TIME = datetime(2026, 9, 1, tzinfo=timezone.utc)


def iso(dt: datetime) -> str:
    """Salesloft-style ISO 8601 with milliseconds and ``Z``."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or offset; naive means UTC).

    Raises:
        ValueError: not a timestamp.
    """
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def page_cost(page: int) -> int:
    """Rate points for one list call at ``page`` (Salesloft's deep-page surcharge)."""
    if page <= 100:
        return 1
    if page <= 150:
        return 3
    if page <= 250:
        return 8
    if page <= 500:
        return 10
    return 30


class SalesloftSandbox(SandboxApp):
    """In-memory Salesloft team with deterministic data; see the module docstring.

    Attributes:
        api_keys: key -> scopes; the default key has every read scope.
        clients: OAuth client id -> secret.
        budget: rate points per minute (600 by default; shared by the "team").
        other_points_per_minute: points the team's other integrations spend at the
            start of every minute (they share the budget; 0 by default).
        points_by_minute: minute number (clock // 60) -> points this tap spent in it.
        clock: seconds since the epoch; tests may replace it.
    """

    name = "salesloft"
    token_path = "/oauth/token"
    token_lifetime = 7200

    def __init__(
        self,
        *,
        seed: int = 7,
        conversations: int = 520,
        budget: int = BUDGET_PER_MINUTE,
        clock: t.Callable[[], float] = time.time,
    ) -> None:
        """Args:
        seed: random seed for the generated data.
        conversations: how many conversations to generate besides the documented one.
        budget: rate points per minute.
        clock: time source for the rate-limit minute and ``Date`` headers.
        """
        super().__init__()
        self.api_key = "sandbox-salesloft-api-key"
        self.client_id = "sandbox-salesloft-client"
        self.client_secret = "sandbox-salesloft-client-secret"
        self.api_keys: dict[str, set[str]] = {
            self.api_key: {"conversations:read"},
            "sandbox-key-without-scopes": {"people:read"},
            NO_DOWNLOAD_ROLE_KEY: {"conversations:read"},
        }
        #: keys whose user lacks the "Download Conversations" role permission
        self.download_role_denied: set[str] = {NO_DOWNLOAD_ROLE_KEY}
        self.artifact_ttl_seconds = 300
        self._signing_key = secrets.token_bytes(16)
        self.clients = {self.client_id: self.client_secret}
        self.budget = budget
        self.other_points_per_minute = 0
        self.clock = clock
        self._window = -1
        self._spent = 0
        self.points_spent = 0
        self.points_by_minute: dict[int, int] = {}
        self.rate_limited = 0  # 429s answered because the minute's budget was spent
        self.conversations: dict[str, dict] = {}
        self.transcriptions: dict[str, dict] = {}
        self.sentences: dict[str, list[dict]] = {}
        self.extensive: dict[str, dict] = {}
        self._generate(random.Random(seed), conversations)

    # --- data -----------------------------------------------------------------

    def _generate(self, rng: random.Random, count: int) -> None:
        self.conversations[DOCUMENTED_CONVERSATION["id"]] = copy.deepcopy(DOCUMENTED_CONVERSATION)
        self.extensive[DOCUMENTED_CONVERSATION["id"]] = self._extensive_for(DOCUMENTED_CONVERSATION, rng)
        stamps = self._updated_at_sequence(rng, count)
        for i in range(count):
            conv_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            created = BASE_TIME + timedelta(minutes=17 * i, milliseconds=rng.randint(0, 999))
            updated = stamps[i]
            has_transcript = i % 10 != 3
            tr_id = str(uuid.UUID(int=rng.getrandbits(128), version=4)) if has_transcript else None
            def ref(kind: str, rid: str | None) -> dict | None:
                return {"id": rid, "_href": f"https://api.salesloft.com/v2/{kind}/{rid}"} if rid else None
            conv = {
                "id": conv_id,
                "duration": rng.randint(30_000, 3_600_000),
                "is_api": rng.random() < 0.2,
                "platform": rng.choice(PLATFORMS),
                "media_type": rng.choice(["audio", "video"]),
                "organization_id": "5b2e1c3a-0000-4000-8000-00000000cafe",
                "title": f"{TITLES[i % len(TITLES)]} #{i}",
                "owner_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "user_guid": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "started_recording_at": int(created.timestamp() * 1000),
                "event_end_date": None if i % 4 == 0 else iso(created + timedelta(minutes=30)),
                "event_start_date": iso(created),
                "language_code": rng.choice(LANGUAGES),
                "created_at": iso(created),
                "updated_at": iso(updated),
                "call_id": None if i % 5 == 0 else str(rng.randint(10_000_000, 99_999_999)),
                "account": ref("accounts", str(rng.randint(1, 5000))) if i % 6 else None,
                "person": ref("people", str(rng.randint(1, 90000))) if i % 7 else None,
                "recording": ref("recordings", str(uuid.UUID(int=rng.getrandbits(128), version=4))),
                "transcription": ref("transcriptions", tr_id),
                "transcription_sentences": ref("transcriptions", tr_id) if tr_id else None,
                "transcription_artifact": ref("transcriptions", tr_id) if tr_id else None,
            }
            self.conversations[conv_id] = conv
            self.extensive[conv_id] = self._extensive_for(conv, rng)
            if tr_id:
                self._add_transcription(rng, conv, tr_id, i)

    @staticmethod
    def _updated_at_sequence(rng: random.Random, count: int) -> list[datetime]:
        """Ascending stamps with ties: small groups everywhere, one group of 130
        (a bulk import larger than a page) and ties straddling positions 99/100
        and 199/200 of the ascending order."""
        stamps: list[datetime] = []
        cursor = BASE_TIME + timedelta(days=1)
        while len(stamps) < count:
            position = len(stamps)
            if position == 250:
                size = 130
            elif position in (96, 196):
                size = 8
            else:
                size = rng.choice([1, 1, 1, 2, 3])
            stamps.extend([cursor] * size)
            cursor += timedelta(minutes=rng.randint(1, 90), milliseconds=rng.randint(1, 999))
        return stamps[:count]

    def _add_transcription(self, rng: random.Random, conv: dict, tr_id: str, i: int) -> None:
        created = parse_iso(conv["created_at"]) + timedelta(minutes=40)
        updated = parse_iso(conv["updated_at"]) + timedelta(minutes=(i % 5) * 3)
        self.transcriptions[tr_id] = {
            "id": tr_id,
            "language_code": conv["language_code"],
            "created_at": iso(created),
            "updated_at": iso(updated),
            "conversation": {"id": conv["id"], "_href": f"https://api.salesloft.com/v2/conversations/{conv['id']}"},
            "transcription_sentences": {"id": tr_id, "_href": f"https://api.salesloft.com/v2/transcriptions/{tr_id}/sentences"},
            "transcription_artifact": {"id": tr_id, "_href": f"https://api.salesloft.com/v2/transcriptions/{tr_id}/artifact"},
        }
        count = 0 if i % 23 == 0 else (rng.randint(101, 230) if i % 17 == 0 else rng.randint(1, 40))
        sentences = []
        clock_ms = 0
        for n in range(count):
            length = rng.randint(800, 9000)
            sentences.append({
                "id": str(n + 1),  # repeats across transcriptions: not a key on its own
                "start_time": clock_ms / 1000,
                "end_time": (clock_ms + length) / 1000,
                "order_number": n,
                "recording_attendee_id": None if n % 9 == 4 else str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "text": SENTENCES[(i + n) % len(SENTENCES)],
                "conversation": {"id": conv["id"], "_href": f"https://api.salesloft.com/v2/conversations/{conv['id']}"},
            })
            clock_ms += length + rng.randint(0, 400)
        self.sentences[tr_id] = sentences

    @staticmethod
    def _extensive_for(conv: dict, rng: random.Random) -> dict:
        ext = copy.deepcopy(conv)
        ext.update({
            "owner_email": f"rep{rng.randint(1, 40)}@example.com",
            "opportunity": None if rng.random() < 0.5 else {"id": str(rng.randint(1, 999)), "_href": "https://api.salesloft.com/v2/opportunities"},
            "key_moments": {"status": "completed", "items": [{"id": str(uuid.uuid4()), "name": "Pricing", "start_time": 1200}]},
            "summary": {"id": str(rng.randint(1, 10**6)), "text": "Customer asked about \"pricing\" 💸\nNext: send quote.", "status": "completed", "created_at": conv["created_at"]},
            "action_items": {"status": "completed", "items": [{"id": str(rng.randint(1, 10**6)), "text": "Send quote"}]},
            "attendees": [{"email": "buyer@example.org", "name": "Zoë Buyer"}],
            "invitees": [{"email": "cfo@example.org", "name": None}],
            "meddpicc": None,
        })
        return ext

    def touch(self, ids: t.Iterable[str], when: datetime | None = None) -> None:
        """Mark conversations (and their transcriptions) as updated at ``when`` (default: now)."""
        stamp = iso(when or datetime.fromtimestamp(self.clock(), timezone.utc))
        with self.lock:
            for conv_id in ids:
                self.conversations[conv_id]["updated_at"] = stamp
                ref = self.conversations[conv_id].get("transcription")
                if ref and ref["id"] in self.transcriptions:
                    self.transcriptions[ref["id"]]["updated_at"] = stamp

    # --- HTTP -----------------------------------------------------------------

    @override
    def routes(self) -> list[Route]:
        """The v2 endpoints (bearer: API key or OAuth token) and the signed transcript file (no token)."""
        return [
            Route("GET", r"/signed/transcripts/([^/]+)\.json", self._signed_artifact, bearer=False),
            Route("GET", r"/v2/conversations", self._list_conversations),
            Route("GET", r"/v2/transcriptions", self._list_transcriptions),
            Route("GET", r"/v2/transcriptions/([^/]+)/sentences", self._sentences),
            Route("GET", r"/v2/conversations/([^/]+)/extensive", self._extensive),
            Route("GET", r"/v2/transcriptions/([^/]+)/artifact", self._artifact),
        ]

    @override
    def authorize(self, request: SandboxRequest) -> SandboxResponse | None:
        """An API key (with the ``conversations:read`` scope) or an unexpired OAuth token."""
        header = request.headers.get("authorization", "")
        key = header[len("Bearer "):] if header.startswith("Bearer ") else None
        if key is not None and key in self.api_keys:
            if "conversations:read" not in self.api_keys[key]:
                return json_response({"error": "This API key is missing the required scope: conversations:read"}, 403)
            return None
        return super().authorize(request)

    @override
    def unauthorized(self, request: SandboxRequest, reason: str) -> SandboxResponse:
        """Salesloft's two 401 bodies."""
        return json_response(NO_TOKEN_BODY if reason == "missing" else BAD_TOKEN_BODY, 401)

    @override
    def client_valid(self, client_id: str, secret: str) -> bool:
        """A registered OAuth app (``clients``)."""
        return bool(client_id) and self.clients.get(client_id) == secret

    @override
    def token_extras(self, grant: Grant) -> dict[str, t.Any]:
        """``scope`` and ``created_at``."""
        return {"scope": "conversations:read", "created_at": int(self.clock())}

    @override
    def token_refused(self, request: SandboxRequest, error: str) -> SandboxResponse:
        """Salesloft's token errors."""
        if error == "invalid_client":
            return json_response({"error": "invalid_client", "error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."}, 401)
        return json_response({"error": error}, 400)

    def _charge(self, cost: int) -> tuple[bool, int]:
        """Spend ``cost`` points of this minute's budget; returns (ok, remaining)."""
        with self.lock:
            window = int(self.clock() // 60)
            if window != self._window:
                self._window, self._spent = window, min(self.other_points_per_minute, self.budget)
            if self._spent + cost > self.budget:
                return False, self.budget - self._spent
            self._spent += cost
            self.points_spent += cost
            self.points_by_minute[window] = self.points_by_minute.get(window, 0) + cost
            return True, self.budget - self._spent

    def _respond(self, payload: t.Any, cost: int, status: int = 200) -> SandboxResponse:
        ok, remaining = self._charge(cost)
        headers = {
            "x-ratelimit-endpoint-cost": str(cost),
            "x-ratelimit-remaining-minute": str(max(remaining, 0)),
            "Date": format_datetime(datetime.fromtimestamp(self.clock(), timezone.utc), usegmt=True),
        }
        if not ok:
            self.rate_limited += 1
            return json_response({"error": "Rate limit exceeded. Try again in the next minute."}, 429, headers)
        return json_response(payload, status, headers)

    def _list(self, request: SandboxRequest, rows: list[dict], sortable: tuple[str, ...]) -> SandboxResponse:
        errors: dict[str, list[str]] = {}
        filtered = rows
        for field in ("updated_at", "created_at"):
            for op in ("gte", "gt", "lte", "lt"):
                raw = request.arg(f"{field}[{op}]")
                if raw is None:
                    continue
                try:
                    bound = parse_iso(raw)
                except ValueError:
                    errors[f"{field}[{op}]"] = ["must be a valid iso8601 timestamp"]
                    continue
                compare = {"gte": lambda a, b: a >= b, "gt": lambda a, b: a > b,
                           "lte": lambda a, b: a <= b, "lt": lambda a, b: a < b}[op]
                filtered = [r for r in filtered if compare(parse_iso(r[field]), bound)]
        ids = request.query.get("ids[]") or request.query.get("ids")
        if ids:
            wanted = {i for value in ids for i in value.split(",")}
            filtered = [r for r in filtered if r["id"] in wanted]
        sort_by = request.arg("sort_by", "created_at") or ""
        direction = (request.arg("sort_direction") or "desc").lower()
        if sort_by not in sortable:
            errors["sort_by"] = ["is not included in the list"]
        if direction not in ("asc", "desc"):
            errors["sort_direction"] = ["is not included in the list"]
        per_page, page = self._paging_args(request, errors)
        if errors:
            return self._respond({"errors": errors}, 1, 422)
        ordered = sorted(filtered, key=lambda r: (parse_iso(r[sort_by]) if sort_by.endswith("_at") else r[sort_by], r["id"]),
                         reverse=direction == "desc")
        body = self._page_envelope(ordered, per_page, page, request)
        body["metadata"]["sorting"] = {"sort_by": sort_by, "sort_direction": direction.upper()}
        body["metadata"]["filtering"] = {k: v[0] for k, v in request.query.items() if "[" in k}
        return self._respond(body, page_cost(page))

    @staticmethod
    def _paging_args(request: SandboxRequest, errors: dict[str, list[str]]) -> tuple[int, int]:
        try:
            per_page = min(MAX_PER_PAGE, max(1, int(request.arg("per_page", str(DEFAULT_PER_PAGE)) or DEFAULT_PER_PAGE)))
            page = max(1, int(request.arg("page", "1") or 1))
        except ValueError:
            errors["per_page"] = ["must be an integer"]
            return DEFAULT_PER_PAGE, 1
        return per_page, page

    @staticmethod
    def _page_envelope(rows: list[dict], per_page: int, page: int, request: SandboxRequest) -> dict:
        start = (page - 1) * per_page
        chunk = rows[start:start + per_page]
        has_next = start + per_page < len(rows)
        paging: dict[str, t.Any] = {
            "per_page": per_page,
            "current_page": page,
            "next_page": page + 1 if has_next else None,
            "prev_page": page - 1 if page > 1 else None,
        }
        if (request.arg("include_paging_counts") or "").lower() == "true":
            paging["total_pages"] = max(1, -(-len(rows) // per_page))
            paging["total_count"] = len(rows)
        return {"data": copy.deepcopy(chunk), "metadata": {"paging": paging}}

    def _list_conversations(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            rows = list(self.conversations.values())
        return self._list(request, rows, ("created_at", "updated_at", "duration"))

    def _list_transcriptions(self, request: SandboxRequest) -> SandboxResponse:
        with self.lock:
            rows = list(self.transcriptions.values())
        return self._list(request, rows, ("created_at", "updated_at"))

    def _sentences(self, request: SandboxRequest, tr_id: str) -> SandboxResponse:
        if tr_id not in self.sentences:
            return self._respond({"error": "Not Found"}, 1, 404)
        errors: dict[str, list[str]] = {}
        per_page, page = self._paging_args(request, errors)
        if errors:
            return self._respond({"errors": errors}, 1, 422)
        return self._respond(self._page_envelope(self.sentences[tr_id], per_page, page, request), page_cost(page))

    def _extensive(self, request: SandboxRequest, conv_id: str) -> SandboxResponse:
        with self.lock:
            record = self.extensive.get(conv_id)
            if record is not None:
                record = {**record, "updated_at": self.conversations[conv_id]["updated_at"]}
        if record is None:
            return self._respond({"error": "Not Found"}, 1, 404)
        return self._respond({"data": record}, 1)

    def artifact_bytes(self, tr_id: str) -> bytes:
        """The transcript file behind a transcription's signed artifact URL (JSON, UTF-8)."""
        tr = self.transcriptions[tr_id]
        fields = ("order_number", "start_time", "end_time", "recording_attendee_id", "text")
        document = {
            "transcription_id": tr_id,
            "language_code": tr["language_code"],
            "conversation_id": tr["conversation"]["id"],
            "sentences": [{k: s[k] for k in fields} for s in self.sentences.get(tr_id, [])],
        }
        return json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8")

    def _signature(self, tr_id: str, expires: str) -> str:
        return hmac.new(self._signing_key, f"{tr_id}:{expires}".encode(), hashlib.sha256).hexdigest()

    def _artifact(self, request: SandboxRequest, tr_id: str) -> SandboxResponse:
        tr = self.transcriptions.get(tr_id)
        if tr is None:
            return self._respond({"error": "Not Found"}, 1, 404)
        if request.headers.get("authorization", "")[len("Bearer "):] in self.download_role_denied:
            return self._respond(DOWNLOAD_ROLE_BODY, 1, 403)
        expires = str(int(self.clock()) + self.artifact_ttl_seconds)
        host = request.headers.get("host", "127.0.0.1")
        url = f"http://{host}/signed/transcripts/{tr_id}.json?Expires={expires}&Signature={self._signature(tr_id, expires)}"
        return self._respond({"data": {
            "id": tr_id, "language_code": tr["language_code"], "url": url, "content_type": "application/json",
            "created_at": tr["created_at"], "updated_at": tr["updated_at"], "conversation": tr["conversation"],
        }}, 1)

    def _signed_artifact(self, request: SandboxRequest, tr_id: str) -> SandboxResponse:
        def refuse(status: int, code: str, message: str) -> SandboxResponse:
            body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
            return SandboxResponse(status, body, {"Content-Type": "application/xml"})

        if "authorization" in request.headers:
            return refuse(400, "InvalidArgument", "Only one auth mechanism allowed")
        expires, signature = request.arg("Expires") or "", request.arg("Signature") or ""
        if tr_id not in self.transcriptions or not hmac.compare_digest(signature, self._signature(tr_id, expires)):
            return refuse(403, "SignatureDoesNotMatch", "The request signature does not match")
        if not expires.isdigit() or int(expires) < self.clock():
            return refuse(403, "AccessDenied", "Request has expired")
        return SandboxResponse(200, self.artifact_bytes(tr_id), {"Content-Type": "application/json"})

    def demo_config(self, url: str) -> dict[str, t.Any]:
        """A ready-to-use tap config for this sandbox at ``url``."""
        return {"api_url": url, "api_key": self.api_key, "start_date": "2020-01-01T00:00:00Z"}
