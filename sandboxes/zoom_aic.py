"""Zoom emulator: S2S OAuth, users, AI Companion conversation archives and their files.

Follows the documented contract (developers.zoom.us: Server-to-Server OAuth,
Users, and the AI Companion archive API pages):

* ``POST /oauth/token?grant_type=account_credentials&account_id=...`` with
  HTTP Basic ``client_id:client_secret``; tokens last 3600 s; the token's
  scopes are the app's scopes when it was minted.
* Every API call needs ``Authorization: Bearer``; a missing, unknown or
  expired token, or one in the query string, gets 401
  ``{"code":124,"message":"Invalid access token."}``. ``expire_tokens_after(n)``
  makes every token issued so far expire after ``n`` more API calls.
* ``GET /v2/users``: ``status`` (active|inactive|pending, default active),
  ``page_size`` (default 30, max 2000), ``next_page_token`` (opaque, expires
  after 15 minutes: 400 code 300); envelope ``page_count``, ``page_number``,
  ``page_size``, ``total_records``, ``next_page_token`` ("" on the last page),
  ``users``. ``GET /v2/users/{id-or-email}``: 404 code 1001 if unknown.
  Scope ``user:read:admin`` (granular ``user:read:list_users:admin`` /
  ``user:read:user:admin``), else 400 code 4711.
* ``GET /v2/aic/users/{userId}/conversation_archive?from=&to=``: ``from``/``to``
  as ``yyyy-MM-dd'T'HH:mm:ss'Z'``, ``to`` inclusive, at most 30 days apart
  (400 code 300 otherwise; both ASSUMED, see ``taps.zoom_aic.client``). The
  answer covers exactly the window asked (``start_time``=from,
  ``end_time``=to); a window without activity has no file fields and an empty
  ``physical_files``; ``physical_files`` holds at most 300 entries. The
  documented example is served verbatim for its own window (only the host of
  its two download URLs is this sandbox's, so they can be fetched). Unknown or
  deleted user: 404 code 20524; ``archive_permission = False``: 403 code 20514;
  missing scope: 400 code 4711 (``missing_scope_code = 4700`` for the other form).
* ``GET /rest/v1/aic/archive/conversations/download/{id}`` and
  ``.../attached/download/{id}``: need the bearer header (401 code 124 without).
* Rate limits: ``qps_limit`` (requests per second, off by default) answers 429
  ``X-RateLimit-Type: QPS`` with ``Retry-After`` seconds; ``rate_limit_fault()``
  arms one such 429 with a small ``Retry-After``; ``daily_limit_after(n)``
  answers the documented daily-limit 429 (``Retry-After`` = next 00:00 UTC as
  an ISO timestamp) once ``n`` more API calls were served.

Data is deterministic from ``seed``: the documented user and archive, then
generated users over several pages (some with no activity, some inactive, one
pending, unicode names), conversations from 2021-03 to 2021-09 (two exactly on
a 30-day window boundary), attachments for some users and one user with more
than 300 attachments inside a single window.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import secrets
import threading
import time
import typing as t
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

from typing_extensions import override

from sandboxes.base import Grant, Route, SandboxApp, SandboxRequest, SandboxResponse, json_response

DOCUMENTED_ARCHIVE: dict[str, t.Any] = {
    "user_id": "ABCDEF123456",
    "email": "jchill@example.com",
    "display_name": "Jill Chill",
    "start_time": "2021-04-26T05:23:18Z",
    "end_time": "2021-05-26T05:23:18Z",
    "timezone": "Asia/Shanghai",
    "aic_history_download_url": "https://aic.zoom.us/rest/v1/aic/archive/conversations/download/Qg75t7xZBtEbAkjdlgbfdngBBBB",
    "file_extension": "JSON",
    "file_size": 165743,
    "file_type": "AIC_CONVERSATION",
    "physical_files": [
        {
            "file_id": "pvKocCqVSMygaOcKus5Afw",
            "file_name": "Screenshot 2025-02-12 at 10.42.27 AM.png",
            "file_size": 540680,
            "download_url": "https://aic.zoom.us/rest/v1/aic/archive/attached/download/HBAXbHc15BXbnq0JoDu6tc5MWlww9MAo9JJq2d14VAWkpcT5FEA.AK5calud4EJB7bMq",
        }
    ],
}
DOC_HISTORY_TOKEN = "Qg75t7xZBtEbAkjdlgbfdngBBBB"
DOC_ATTACHMENT_TOKEN = "HBAXbHc15BXbnq0JoDu6tc5MWlww9MAo9JJq2d14VAWkpcT5FEA.AK5calud4EJB7bMq"
ZOOM_TIME = "%Y-%m-%dT%H:%M:%SZ"
MAX_SPAN = timedelta(days=30)
MAX_PAGE_SIZE = 2000
DEFAULT_PAGE_SIZE = 30
PAGE_TOKEN_TTL = 15 * 60
TOKEN_TTL = 3600
MAX_PHYSICAL_FILES = 300
DATA_START = datetime(2021, 3, 1, tzinfo=timezone.utc)
DATA_END = datetime(2021, 9, 30, tzinfo=timezone.utc)

INVALID_TOKEN = {"code": 124, "message": "Invalid access token."}
NO_PERMISSION = {"code": 20514, "message": "User does not have permission to access this resource."}
QPS_BODY = {"code": 429, "message": "You have reached the maximum per-second rate limit for this API. Try again later."}
DAILY_BODY = {"code": 429, "message": "You have reached the maximum daily rate limit for this API. "
              "Refer to the response header for details on when you can make another request."}
SCOPES = {
    "users": ("user:read:admin", "user:read:list_users:admin"),
    "user": ("user:read:admin", "user:read:user:admin"),
    "archive": ("aic_archive:read:admin", "aic:read:conversation_archives:admin"),
}
PROMPTS = [
    "Summarise my last meeting with Ångström GmbH",
    'What did she mean by "ship it by Q3"?',
    "Rédige un e-mail de suivi 🚀",
    "会議の要点を教えてください",
    "List action items\nand owners",
    "Draft a reply to O'Brien — keep it short 📈",
]
ANSWERS = [
    "Here is a summary:\n- pricing agreed\n- follow-up on Monday",
    'She meant the release must be "feature complete" by September.',
    "Voici un brouillon ✉️ : Bonjour…",
    "要点: 1) 予算 2) 日程",
    "1. Send quote — Zoë\n2. Book demo — Raj",
    "Thanks, Pat — I'll circle back tomorrow. 👍",
]
NAMES = ["Zoë Ångström", "Raj Patel", "Ólafur Jónsson", "Mei 李", "Pat O'Brien", "José Müller",
         "Ana \"AJ\" Silva", "Chidi Okafor", "Sven Ødegaard", "Yuki 山田", "Fatima Al-Sayed", "Léa Dubois"]


def fmt(value: datetime) -> str:
    """A UTC datetime in Zoom's archive form ``yyyy-MM-dd'T'HH:mm:ss'Z'``."""
    return value.astimezone(timezone.utc).strftime(ZOOM_TIME)


def parse_strict(value: str) -> datetime:
    """Parse ``yyyy-MM-dd'T'HH:mm:ss'Z'`` exactly (``ValueError`` otherwise)."""
    return datetime.strptime(value, ZOOM_TIME).replace(tzinfo=timezone.utc)


def pseudo_bytes(label: str, size: int, prefix: bytes = b"") -> t.Iterator[bytes]:
    """``size`` deterministic bytes derived from ``label`` (after ``prefix``), in 64 KiB chunks."""
    chunk_size = 65536
    counter = 0
    pending = bytearray(prefix[:size])
    sent = 0
    while sent < size:
        want = min(chunk_size, size - sent)
        while len(pending) < want:
            pending += hashlib.sha256(f"{label}:{counter}".encode()).digest()
            counter += 1
        chunk = bytes(pending[:want])
        del pending[:want]
        sent += want
        yield chunk


@dataclass
class Attachment:
    """One file a user attached to an AI Companion prompt."""

    file_id: str
    file_name: str
    file_size: int
    user_id: str
    time: datetime
    token: str
    prefix: bytes = b""

    def chunks(self) -> t.Iterator[bytes]:
        """The file's bytes."""
        return pseudo_bytes(self.file_id, self.file_size, self.prefix)

    def sha256(self) -> str:
        """Hex sha256 of the file's bytes."""
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(chunk)
        return digest.hexdigest()


@dataclass
class Conversation:
    """One AI Companion exchange (prompt, answer, attachments)."""

    conversation_id: str
    time: datetime
    prompt: str
    answer: str
    attachment_ids: list[str] = field(default_factory=list)


class ZoomAICSandbox(SandboxApp):
    """The Zoom emulator; see the module docstring for the contract."""

    name = "zoom_aic"
    token_path = "/oauth/token"
    token_grant_type = "account_credentials"
    token_lifetime = TOKEN_TTL

    def __init__(self, seed: int = 3, user_count: int = 24, clock: t.Callable[[], float] = time.time) -> None:
        """Args:
        seed: data seed.
        user_count: generated users besides the documented one.
        clock: seconds since the epoch (tests may freeze or move it).
        """
        super().__init__()
        self.clock = clock
        self.account_id = "sandbox-zoom-account"
        self.client_id = "sandbox-zoom-client-id"
        self.client_secret = "sandbox-zoom-client-secret-" + "x" * 8
        self.scopes = {"user:read:admin", "aic_archive:read:admin"}
        self.archive_permission = True
        self.missing_scope_code = 4711
        self.qps_limit: int | None = None
        self.page_tokens: dict[str, tuple[str, int, int, float]] = {}
        self.deleted_users: set[str] = set()
        self._expire_countdown: int | None = None
        self._daily_countdown: int | None = None
        self._qps_window: tuple[int, int] = (0, 0)
        self._lock = threading.Lock()
        self.users: list[dict] = []
        self.conversations: dict[str, list[Conversation]] = {}
        self.attachments: dict[str, Attachment] = {}
        self.attachments_by_token: dict[str, Attachment] = {}
        self.history_tokens: dict[str, tuple[str, datetime, datetime]] = {}
        self._build(random.Random(seed), user_count)

    # --- data -----------------------------------------------------------------

    def _build(self, rng: random.Random, user_count: int) -> None:
        doc_start = parse_strict(DOCUMENTED_ARCHIVE["start_time"])
        self._add_user({"id": "ABCDEF123456", "email": "jchill@example.com", "display_name": "Jill Chill",
                        "first_name": "Jill", "last_name": "Chill", "timezone": "Asia/Shanghai"}, "active", 0)
        doc_file = DOCUMENTED_ARCHIVE["physical_files"][0]
        shot = Attachment(doc_file["file_id"], doc_file["file_name"], doc_file["file_size"], "ABCDEF123456",
                          doc_start + timedelta(days=9, hours=3), DOC_ATTACHMENT_TOKEN, b"\x89PNG\r\n\x1a\n")
        self._add_attachment(shot)
        self.conversations["ABCDEF123456"] = [
            Conversation(f"doc-{k}", doc_start + timedelta(days=k * 3, minutes=k), PROMPTS[k % 6], ANSWERS[k % 6],
                         [shot.file_id] if k == 3 else [])
            for k in range(1, 10)
        ]
        for i in range(1, user_count + 1):
            status = "pending" if i == user_count else ("inactive" if i % 6 == 5 else "active")
            name = NAMES[i % len(NAMES)]
            user_id = base64.urlsafe_b64encode(hashlib.sha256(f"user{i}".encode()).digest())[:22].decode()
            first, _, last = name.partition(" ")
            self._add_user({"id": user_id, "email": f"user{i:02d}@example.com", "display_name": name,
                            "first_name": first, "last_name": last or None,
                            "timezone": rng.choice(["Europe/Berlin", "America/New_York", "Asia/Tokyo", None])},
                           status, i)
            self.conversations[user_id] = self._conversations_for(rng, i, user_id, status)

    def _add_user(self, base: dict, status: str, index: int) -> None:
        created = datetime(2019, 1, 1, tzinfo=timezone.utc) + timedelta(days=index * 11)
        user = {
            "id": base["id"], "email": base["email"], "display_name": base["display_name"],
            "first_name": base["first_name"], "last_name": base["last_name"], "type": 2 if index % 3 else 1,
            "pmi": 1000000000 + index, "timezone": base["timezone"], "verified": 1, "dept": "Compliance" if index % 2 else "",
            "created_at": fmt(created), "user_created_at": fmt(created),
            "last_login_time": fmt(created + timedelta(days=400)) if status == "active" else None,
            "last_client_version": "5.17.11.34827(mac)", "language": "en-US", "phone_number": "",
            "status": status, "role_id": "2", "group_ids": [], "employee_unique_id": "",
            "im_group_ids": [], "plan_united_type": "1" if index % 5 == 2 else None,
        }
        if user["plan_united_type"] is None:
            user.pop("plan_united_type")
        if index % 7 == 3:
            user.pop("last_client_version")  # Zoom omits fields a user never had
        self.users.append(user)

    def _conversations_for(self, rng: random.Random, i: int, user_id: str, status: str) -> list[Conversation]:
        if i % 4 == 0 or status == "pending":
            return []  # no AI Companion activity at all
        count = rng.randint(2, 12)
        span = int((DATA_END - DATA_START).total_seconds())
        times = sorted(DATA_START + timedelta(seconds=rng.randrange(span)) for _ in range(count))
        if i == 1:  # exactly on the documented window's end, and one second later
            doc_end = parse_strict(DOCUMENTED_ARCHIVE["end_time"])
            times = sorted([*times, doc_end, doc_end + timedelta(seconds=1)])
        convs = []
        for n, when in enumerate(times):
            conv = Conversation(f"{user_id[:6]}-{n}", when, PROMPTS[(i + n) % 6], ANSWERS[(i + n) % 6])
            if i % 3 == 1 and n % 2 == 0:
                for k in range(rng.randint(1, 3)):
                    conv.attachment_ids.append(self._new_attachment(rng, user_id, when, f"{i}-{n}-{k}"))
            convs.append(conv)
        if i == 2:  # more attachments in one window than one answer can list (maxItems 300)
            base = datetime(2021, 7, 5, 9, 0, tzinfo=timezone.utc)
            for n in range(320):
                when = base + timedelta(minutes=n * 7)
                conv = Conversation(f"{user_id[:6]}-bulk-{n}", when, PROMPTS[n % 6], ANSWERS[n % 6])
                conv.attachment_ids.append(self._new_attachment(rng, user_id, when, f"bulk-{n}", small=True))
                convs.append(conv)
            convs.sort(key=lambda c: c.time)
        return convs

    def _new_attachment(self, rng: random.Random, user_id: str, when: datetime, label: str, *, small: bool = False) -> str:
        file_id = base64.urlsafe_b64encode(hashlib.sha256(f"file-{label}".encode()).digest())[:22].decode()
        ext = rng.choice(["png", "pdf", "docx", "txt"])
        size = rng.randint(200, 900) if small else rng.randint(1_000, 120_000)
        token = base64.urlsafe_b64encode(hashlib.sha256(f"tok-{label}".encode()).digest()).decode().rstrip("=")
        self._add_attachment(Attachment(file_id, f"Notes {label} — résumé.{ext}", size, user_id, when, token))
        return file_id

    def _add_attachment(self, attachment: Attachment) -> None:
        self.attachments[attachment.file_id] = attachment
        self.attachments_by_token[attachment.token] = attachment

    def user_by_ref(self, ref: str) -> dict | None:
        """The user whose id or email (case-insensitive) is ``ref``."""
        for user in self.users:
            if user["id"] == ref or user["email"].lower() == ref.lower():
                return user
        return None

    def conversations_in(self, user_id: str, start: datetime, end: datetime) -> list[Conversation]:
        """The user's conversations with ``start <= time <= end``."""
        return [c for c in self.conversations.get(user_id, []) if start <= c.time <= end]

    def history_bytes(self, user_id: str, start: datetime, end: datetime) -> bytes:
        """The AIC_CONVERSATION JSON file for one user and window (padded for the documented one)."""
        convs = self.conversations_in(user_id, start, end)
        doc = {
            "user_id": user_id,
            "start_time": fmt(start),
            "end_time": fmt(end),
            "conversations": [
                {
                    "conversation_id": c.conversation_id,
                    "messages": [
                        {"role": "user", "timestamp": fmt(c.time), "content": c.prompt,
                         "attachments": c.attachment_ids},
                        {"role": "assistant", "timestamp": fmt(c.time + timedelta(seconds=4)), "content": c.answer,
                         "sources": None},
                    ],
                }
                for c in convs
            ],
        }
        body = json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8")
        if self._is_documented(user_id, start, end):
            target = DOCUMENTED_ARCHIVE["file_size"]
            body = body + b"\n" + b" " * (target - len(body) - 1)
        return body

    @staticmethod
    def _is_documented(user_id: str, start: datetime, end: datetime) -> bool:
        return (user_id == DOCUMENTED_ARCHIVE["user_id"] and fmt(start) == DOCUMENTED_ARCHIVE["start_time"]
                and fmt(end) == DOCUMENTED_ARCHIVE["end_time"])

    def archive_for(self, base_url: str, user: dict, start: datetime, end: datetime) -> dict:
        """The archive descriptor for one user and window, as the endpoint answers it."""
        if self._is_documented(user["id"], start, end):
            doc = copy.deepcopy(DOCUMENTED_ARCHIVE)
            doc["aic_history_download_url"] = doc["aic_history_download_url"].replace("https://aic.zoom.us", base_url)
            for entry in doc["physical_files"]:
                entry["download_url"] = entry["download_url"].replace("https://aic.zoom.us", base_url)
            self.history_tokens[DOC_HISTORY_TOKEN] = (user["id"], start, end)
            return doc
        answer: dict[str, t.Any] = {
            "user_id": user["id"], "email": user["email"], "display_name": user["display_name"],
            "start_time": fmt(start), "end_time": fmt(end), "timezone": user["timezone"], "physical_files": [],
        }
        convs = self.conversations_in(user["id"], start, end)
        if not convs:
            return answer
        token = base64.urlsafe_b64encode(hashlib.sha256(f"{user['id']}{start}{end}".encode()).digest()).decode().rstrip("=")
        with self._lock:
            self.history_tokens[token] = (user["id"], start, end)
        files = [self.attachments[f] for c in convs for f in c.attachment_ids]
        answer.update({
            "aic_history_download_url": f"{base_url}/rest/v1/aic/archive/conversations/download/{token}",
            "file_extension": "JSON",
            "file_size": len(self.history_bytes(user["id"], start, end)),
            "file_type": "AIC_CONVERSATION",
            "physical_files": [
                {"file_id": a.file_id, "file_name": a.file_name, "file_size": a.file_size,
                 "download_url": f"{base_url}/rest/v1/aic/archive/attached/download/{a.token}"}
                for a in files[:MAX_PHYSICAL_FILES]
            ],
        })
        return answer

    # --- expectations for tests ---------------------------------------------------

    def archived_users(self, statuses: t.Iterable[str] = ("active", "inactive")) -> list[dict]:
        """Users a listing of ``statuses`` returns."""
        wanted = set(statuses)
        return [u for u in self.users if u["status"] in wanted]

    def attachments_between(self, user_id: str, start: datetime, end: datetime) -> list[Attachment]:
        """Attachments of ``user_id`` whose conversation lies in ``[start, end]``."""
        return [self.attachments[f] for c in self.conversations_in(user_id, start, end) for f in c.attachment_ids]

    # --- switches for tests ---------------------------------------------------------

    def expire_tokens_after(self, calls: int) -> None:
        """Every token issued so far stops working after ``calls`` more API calls."""
        with self._lock:
            self._expire_countdown = calls

    def daily_limit_after(self, calls: int | None) -> None:
        """Answer the daily-limit 429 once ``calls`` more API calls were served (``None``: off)."""
        with self._lock:
            self._daily_countdown = calls

    def rate_limit_fault(self, path: str = r"^/v2/", times: int = 1, retry_after: str = "0.01", after: int = 0) -> None:
        """Arm ``times`` per-second 429s (documented body and headers) on ``path``."""
        self.faults.add("status", path, status=429, body=QPS_BODY, times=times, after=after,
                        headers={"Retry-After": retry_after, "X-RateLimit-Category": "Light",
                                 "X-RateLimit-Type": "QPS", "X-RateLimit-Limit": "30"})

    # --- HTTP -------------------------------------------------------------------------

    @override
    def routes(self) -> list[Route]:
        """The users, archive and file-download endpoints (all need a bearer token)."""
        def scoped(handler: t.Callable[..., SandboxResponse]) -> t.Callable[..., SandboxResponse]:
            def call(request: SandboxRequest, *groups: str) -> SandboxResponse:
                scopes = request.grant.scopes if request.grant is not None else frozenset()
                return handler(request, scopes, f"http://{request.headers.get('host', '127.0.0.1')}", *groups)
            return call

        return [
            Route("GET", r"/v2/users", scoped(self._list_users)),
            Route("GET", r"/v2/users/([^/]+)", scoped(self._get_user)),
            Route("GET", r"/v2/aic/users/([^/]+)/conversation_archive", scoped(self._archive)),
            Route("GET", r"/rest/v1/aic/archive/conversations/download/([^/]+)", scoped(self._download_history)),
            Route("GET", r"/rest/v1/aic/archive/attached/download/([^/]+)", scoped(self._download_attachment)),
        ]

    @override
    def not_found(self, request: SandboxRequest) -> SandboxResponse:
        """Zoom's unknown-endpoint answer."""
        return json_response({"code": 2300, "message": "This API endpoint is not recognized."}, 404)

    @override
    def method_not_allowed(self, request: SandboxRequest) -> SandboxResponse:
        """405 on the token endpoint; an API path with another method is not recognized."""
        if request.path == self.token_path:
            return json_response({"reason": "Method not allowed"}, 405)
        return self.not_found(request)

    @override
    def authorize(self, request: SandboxRequest) -> SandboxResponse | None:
        """A bearer header (never ``access_token`` in the query), ``expire_tokens_after``, then the QPS/daily limits."""
        if "access_token" in request.query:
            return json_response(INVALID_TOKEN, 401)
        with self._lock:
            if self._expire_countdown is not None:
                if self._expire_countdown <= 0:
                    self.expire_tokens()
                    self._expire_countdown = None
                else:
                    self._expire_countdown -= 1
        denied = super().authorize(request)
        return denied if denied is not None else self._rate_limit()

    @override
    def unauthorized(self, request: SandboxRequest, reason: str) -> SandboxResponse:
        """Zoom's code 124."""
        return json_response(INVALID_TOKEN, 401)

    @override
    def client_credentials(self, request: SandboxRequest, form: dict[str, str]) -> tuple[str, str]:
        """HTTP Basic only (Zoom's Server-to-Server OAuth)."""
        if not request.headers.get("authorization", "").startswith("Basic "):
            return "", ""
        return super().client_credentials(request, form)

    @override
    def client_valid(self, client_id: str, secret: str) -> bool:
        """The sandbox app's credentials."""
        return (client_id, secret) == (self.client_id, self.client_secret)

    @override
    def check_token_request(self, request: SandboxRequest, form: dict[str, str]) -> SandboxResponse | None:
        """``account_id`` must be the sandbox account."""
        if (request.arg("account_id") or form.get("account_id")) != self.account_id:
            return json_response({"reason": "Invalid request : Account does not exist.", "error": "invalid_request"}, 400)
        return None

    @override
    def token_scopes(self, client_id: str, form: dict[str, str]) -> t.Iterable[str]:
        """The app's scopes (``scopes``), whatever the request says."""
        return self.scopes

    @override
    def token_extras(self, grant: Grant) -> dict[str, t.Any]:
        """``scope`` and ``api_url``."""
        return {"scope": " ".join(sorted(grant.scopes)), "api_url": "https://api.zoom.us"}

    @override
    def token_refused(self, request: SandboxRequest, error: str) -> SandboxResponse:
        """Zoom's token errors."""
        if error == "invalid_client":
            return json_response({"reason": "Invalid client_id or client_secret", "error": "invalid_client"}, 401)
        return json_response({"reason": "unsupported grant type", "error": "unsupported_grant_type"}, 400)

    def _rate_limit(self) -> SandboxResponse | None:
        with self._lock:
            if self._daily_countdown is not None:
                if self._daily_countdown <= 0:
                    now = datetime.fromtimestamp(self.clock(), timezone.utc)
                    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
                    return json_response(DAILY_BODY, 429, {
                        "Retry-After": fmt(midnight), "X-RateLimit-Category": "Light",
                        "X-RateLimit-Type": "Daily-limit", "X-RateLimit-Limit": "6000", "X-RateLimit-Remaining": "0"})
                self._daily_countdown -= 1
            if self.qps_limit:
                second = int(self.clock())
                count = self._qps_window[1] + 1 if self._qps_window[0] == second else 1
                self._qps_window = (second, count)
                if count > self.qps_limit:
                    return json_response(QPS_BODY, 429, {"Retry-After": "1", "X-RateLimit-Category": "Light",
                                                         "X-RateLimit-Type": "QPS", "X-RateLimit-Limit": str(self.qps_limit)})
        return None

    def _missing_scope(self, scopes: frozenset[str], kind: str) -> SandboxResponse | None:
        if scopes & set(SCOPES[kind]):
            return None
        names = ", ".join(SCOPES[kind])
        message = f"Invalid access token, does not contain scopes:[{names}]."
        return json_response({"code": self.missing_scope_code, "message": message}, 400)

    def _list_users(self, request: SandboxRequest, scopes: frozenset[str], _base: str) -> SandboxResponse:
        denied = self._missing_scope(scopes, "users")
        if denied:
            return denied
        token = request.arg("next_page_token") or ""
        status = request.arg("status") or "active"
        if status not in ("active", "inactive", "pending"):
            return json_response({"code": 300, "message": "Invalid field.", "errors": [{"field": "status", "message": "Invalid field."}]}, 400)
        try:
            page_size = min(MAX_PAGE_SIZE, max(1, int(request.arg("page_size") or DEFAULT_PAGE_SIZE)))
        except ValueError:
            return json_response({"code": 300, "message": "Invalid field.", "errors": [{"field": "page_size", "message": "Invalid field."}]}, 400)
        offset = 0
        if token:
            with self._lock:
                saved = self.page_tokens.get(token)
            if saved is None or self.clock() - saved[3] > PAGE_TOKEN_TTL or saved[:2] != (status, page_size):
                return json_response({"code": 300, "message": "The next page token is invalid or expired."}, 400)
            offset = saved[2]
        rows = [u for u in self.users if u["status"] == status]
        chunk = rows[offset:offset + page_size]
        next_token = ""
        if offset + page_size < len(rows):
            next_token = secrets.token_urlsafe(24)
            with self._lock:
                self.page_tokens[next_token] = (status, page_size, offset + page_size, self.clock())
        return json_response({
            "next_page_token": next_token,
            "page_count": max(1, -(-len(rows) // page_size)),
            "page_number": offset // page_size + 1,
            "page_size": page_size,
            "total_records": len(rows),
            "users": [self._with_fields(u, request.arg("include_fields") or "") for u in chunk],
        })

    @staticmethod
    def _with_fields(user: dict, include_fields: str) -> dict:
        """A listed user, with ``custom_attributes`` when ``include_fields`` asks for it."""
        user = copy.deepcopy(user)
        if "custom_attributes" in include_fields.split(","):
            user["custom_attributes"] = [{"key": "cbf_cost_center", "name": "Cost center", "value": "ZÜR-01"}]
        return user

    def _get_user(self, _request: SandboxRequest, scopes: frozenset[str], _base: str, ref: str) -> SandboxResponse:
        denied = self._missing_scope(scopes, "user")
        if denied:
            return denied
        user = self.user_by_ref(unquote(ref))
        if user is None or user["id"] in self.deleted_users:
            return json_response({"code": 1001, "message": f"User does not exist: {unquote(ref)}."}, 404)
        return json_response(copy.deepcopy(user))

    def _archive(self, request: SandboxRequest, scopes: frozenset[str], base_url: str, user_id: str) -> SandboxResponse:
        denied = self._missing_scope(scopes, "archive")
        if denied:
            return denied
        if not self.archive_permission:
            return json_response(NO_PERMISSION, 403)
        user = next((u for u in self.users if u["id"] == user_id), None)
        if user is None or user_id in self.deleted_users:
            return json_response({"code": 20524, "message": f"User does not exist: {user_id}"}, 404)
        now = datetime.fromtimestamp(self.clock(), timezone.utc).replace(microsecond=0)
        try:
            to_arg, from_arg = request.arg("to"), request.arg("from")
            end = parse_strict(to_arg) if to_arg else now
            start = parse_strict(from_arg) if from_arg else end - MAX_SPAN
        except ValueError:
            return json_response({"code": 300, "message": "Invalid date format for from/to; use yyyy-MM-dd'T'HH:mm:ss'Z'."}, 400)
        if start > end or end - start > MAX_SPAN:
            return json_response({"code": 300, "message": "The date range must be within 30 days and from must not be after to."}, 400)
        return json_response(self.archive_for(base_url, user, start, end))

    def _download_history(self, _request: SandboxRequest, scopes: frozenset[str], _base: str, token: str) -> SandboxResponse:
        denied = self._missing_scope(scopes, "archive")
        if denied:
            return denied
        with self._lock:
            found = self.history_tokens.get(token)
        if found is None:
            return json_response({"code": 3001, "message": "File does not exist."}, 404)
        body = self.history_bytes(*found)
        return SandboxResponse(200, body, {"Content-Type": "application/json",
                                           "Content-Disposition": 'attachment; filename="aic_conversation.json"'})

    def _download_attachment(self, _request: SandboxRequest, scopes: frozenset[str], _base: str, token: str) -> SandboxResponse:
        denied = self._missing_scope(scopes, "archive")
        if denied:
            return denied
        attachment = self.attachments_by_token.get(token)
        if attachment is None:
            return json_response({"code": 3001, "message": "File does not exist."}, 404)
        return SandboxResponse(200, attachment.chunks(), {"Content-Type": "application/octet-stream"},
                               content_length=attachment.file_size)

    def demo_config(self, url: str) -> dict[str, t.Any]:
        """A ready-to-use tap config for this sandbox at ``url``."""
        return {
            "api_url": f"{url}/v2",
            "token_url": f"{url}/oauth/token",
            "account_id": self.account_id,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "start_date": DOCUMENTED_ARCHIVE["start_time"],
            "storage_url": "output/storage/zoom_aic",
        }
