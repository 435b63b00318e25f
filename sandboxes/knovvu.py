"""Knovvu emulator: identity token endpoint, daily audio manifests, presigned ZIPs.

Follows the documented contract (docs.knovvu.com "Daily Conversation Audio
Recordings API"):

* ``POST /connect/token`` (form: ``grant_type=client_credentials``,
  ``client_id``, ``client_secret``, ``scope=dataservice_external``) answers
  ``{"access_token", "token_type": "Bearer", "expires_in": 86399, "scope"}``;
  OpenIddict-style 400 ``invalid_client`` / ``invalid_scope`` otherwise.
* ``GET /api/external/conversations/daily-audio-recordings/{utcDay}`` with
  ``Authorization: Bearer``: the day's manifest, or the documented errors
  (400 invalid date, 400 today/future, 401 token, 403 feature disabled,
  404 older than retention), bodies ``{"error": "..."}`` verbatim.
* Presigned links ``GET /minio/knovvu-va-audio/...zip?X-Amz-...`` serve a
  stored ZIP (``metadata.json`` + ``<conversation>/<session>/<file>.opus``)
  streamed in chunks, ``Content-Length`` = the link's ``sizeBytes``. They
  refuse a request carrying ``Authorization`` (MinIO: 400 InvalidArgument),
  answer 403 on a bad signature, 401 "download link has expired" after
  ``link_ttl_seconds`` or ``expire_links()``.
* 429 "Download limit exceeded" past ``downloads_per_hour`` counted calls in
  a rolling hour. The docs do not say what a "download" is, so what counts is
  configurable: ``limit_counts`` holds ``"manifests"`` (the API calls; the
  default), ``"zips"`` (the presigned GETs) or both (one shared counter).

Data is deterministic: yesterday (UTC) is the documented example manifest
(hours 00, 01 no_data, 02, 23 with their counts, sizes and day totals
verbatim; only the dates move inside retention); two more retained days are
generated (24 links, mostly ``no_data``), one holding the documented
``metadata.json`` session in hour 14. Conversation ids include unicode and a
slash. ``corrupt_hours`` / ``zip_slip_hours`` switch the awkward archives on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import re
import secrets
import threading
import time
import typing as t
from datetime import date, datetime, timedelta, timezone
from urllib.parse import quote, unquote

from typing_extensions import override

from sandboxes.base import Grant, Route, SandboxApp, SandboxRequest, SandboxResponse, json_response
from sandboxes.knovvu_zipgen import Entry, archive_size, overhead, stream_archive

ERR_INVALID_DATE = "Invalid date format for 'utcDay'. Please use the format YYYY-MM-DD."
ERR_FUTURE = "'utcDay' cannot be in the future. Please provide a past date."
ERR_TOKEN = "Unauthorized access. The provided token is invalid or has expired. Please authenticate again."
ERR_LINK_EXPIRED = "The download link has expired. Please request a new presigned URL to access the audio files."
ERR_FEATURE = ("The daily conversation audio recordings feature is not enabled for this tenant. "
               "Please contact your administrator.")
ERR_RETENTION = "The requested date is older than the allowed retention period and cannot be retrieved."
ERR_RATE = "Download limit exceeded. Please try again later."
MANIFEST_PATH = re.compile(r"^/api/external/conversations/daily-audio-recordings/([^/]*)$")
DOWNLOAD_PATH = re.compile(r"^/minio/knovvu-va-audio/sandbox-tenant/([^/]+)/([^/]+)\.zip$")
SCOPE = "dataservice_external"

#: the documented manifest's links: hour -> (sessionCount, fileCount, sizeBytes), None = no_data
DOCUMENTED_LINKS: dict[str, tuple[int, int, int] | None] = {
    "00": (12, 67, 15360000),
    "01": None,
    "02": (8, 42, 9870000),
    "23": (9, 45, 12300000),
}
DOCUMENTED_TOTALS = {"totalSessions": 287, "totalFiles": 1543, "totalSizeBytes": 1567890432}
DOCUMENTED_SESSION = {
    "externalConversationId": "conv-123",
    "sessionId": "session-456",
    "files": [{
        "fileName": "message_789_agent_tts.opus",
        "originalPath": "knovvu-va/tenant/project/conversations/...",
        "messageId": 789,
        "type": "agent_tts",
        "timestamp": "2025-12-12T14:23:45Z",
        "originalSizeBytes": 45000,
    }],
}
AWKWARD_CONVERSATIONS = ["conv-ünïcode-😀", "conv/with/slash", "conv with spaces"]
TYPES = ["agent_tts", "user_audio"]


def iso(dt: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``."""
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


class KnovvuSandbox(SandboxApp):
    """An in-memory Knovvu tenant; see the module docstring.

    Attributes:
        days: UTC day (``YYYY-MM-DD``) -> hour (``"00"``) -> hour spec
            (``status``, ``sessions`` as in ``metadata.json`` with each file's
            content ``size`` and ``seed``, optional ``pad_to``).
        feature_enabled: False answers 403 on manifests.
        corrupt_hours / zip_slip_hours: ``(day, hour)`` pairs served as a
            CRC-broken ZIP / with extra ``../`` and absolute entries.
        downloads: clock times of counted calls (rate limit window).
        served: ``(day, hour)`` of every archive served.
    """

    name = "knovvu"
    token_path = "/connect/token"
    token_type = "Bearer"
    token_lifetime = 86399

    def __init__(
        self,
        *,
        seed: int = 11,
        retention_days: int = 3,
        downloads_per_hour: int = 5,
        limit_counts: t.Iterable[str] = ("manifests",),
        link_ttl_seconds: float = 3600,
        retry_after: str | None = None,
        today: date | None = None,
        clock: t.Callable[[], float] = time.time,
    ) -> None:
        """Args:
        seed: seed for generated sessions and audio bytes.
        retention_days: tenant retention (1-7 days; older days answer 404).
        downloads_per_hour: counted calls allowed per rolling hour.
        limit_counts: which calls count: ``"manifests"``, ``"zips"`` or both.
        link_ttl_seconds: presigned link lifetime.
        retry_after: ``Retry-After`` value sent with 429 (the vendor documents none).
        today: the emulator's current UTC day (default: from ``clock``).
        clock: seconds since the epoch.
        """
        super().__init__()
        self.client_id = "va_external_dataservice_client_sandbox"
        self.client_secret = "sandbox-knovvu-client-secret"
        self.clock = clock
        self.today = today or datetime.fromtimestamp(clock(), timezone.utc).date()
        self.retention_days = retention_days
        self.downloads_per_hour = downloads_per_hour
        self.limit_counts = set(limit_counts)
        if not self.limit_counts <= {"manifests", "zips"}:
            msg = f"limit_counts must hold 'manifests' and/or 'zips', not {sorted(self.limit_counts)}"
            raise ValueError(msg)
        self.link_ttl_seconds = link_ttl_seconds
        self.retry_after = retry_after
        self.feature_enabled = True
        self.corrupt_hours: set[tuple[str, str]] = set()
        self._expire_countdown: int | None = None
        self.zip_slip_hours: set[tuple[str, str]] = set()
        self.links: dict[str, float] = {}  # signature -> expiry (clock seconds)
        self.downloads: list[float] = []
        self.served: list[tuple[str, str]] = []  # (day, hour) of every archive served, in order
        self.rate_limited = 0  # 429s answered because the hour's limit was spent
        self._signing_key = hashlib.sha256(f"sandbox-{seed}".encode()).digest()
        self._entries_cache: dict[tuple[str, str, bool], list[Entry]] = {}
        self._cache_lock = threading.Lock()
        self.days: dict[str, dict[str, dict]] = {}
        self._generate(seed)

    # --- data -----------------------------------------------------------------

    def retained_days(self) -> list[str]:
        """Days inside retention, oldest first (yesterday is the newest)."""
        return [(self.today - timedelta(days=n)).isoformat() for n in range(self.retention_days, 0, -1)]

    @property
    def documented_day(self) -> str:
        """The day serving the documented example manifest (yesterday)."""
        return (self.today - timedelta(days=1)).isoformat()

    def _generate(self, seed: int) -> None:
        rng = random.Random(seed)
        for n, day in enumerate(reversed(self.retained_days())):
            if n == 0:
                self.days[day] = self._documented_day(rng, day)
            else:
                available = sorted(rng.sample(range(24), 4 + n) + ([14] if n == 1 else []))
                self.days[day] = {
                    f"{h:02d}": self._generated_hour(rng, day, f"{h:02d}", rng.randint(1, 4), documented=(n == 1 and h == 14))
                    if h in available else {"status": "no_data", "sessions": []}
                    for h in range(24)
                }

    def _documented_day(self, rng: random.Random, day: str) -> dict[str, dict]:
        hours = {}
        for hour, spec in DOCUMENTED_LINKS.items():
            if spec is None:
                hours[hour] = {"status": "no_data", "sessions": []}
                continue
            sessions, files, size = spec
            hours[hour] = self._generated_hour(rng, day, hour, sessions, files=files, pad_to=size)
        return hours

    def _generated_hour(self, rng: random.Random, day: str, hour: str, sessions: int, *,
                        files: int | None = None, pad_to: int | None = None, documented: bool = False) -> dict:
        total_files = files or sessions * rng.randint(1, 4)
        per_session = [1] * sessions
        for _ in range(total_files - sessions):
            per_session[rng.randrange(sessions)] += 1
        out = []
        message_id = 1000 * int(hour) + 1
        for s, count in enumerate(per_session):
            conv = AWKWARD_CONVERSATIONS[s] if (hour in {"02", "14"} and s < len(AWKWARD_CONVERSATIONS)) else \
                f"conv-{day.replace('-', '')}-{hour}-{s:03d}"
            session_id = f"session-{rng.getrandbits(40):010x}"
            session_files = []
            for _ in range(count):
                kind = TYPES[message_id % 2]
                name = f"message_{message_id}_{kind}.opus"
                stamp = datetime.fromisoformat(f"{day}T{hour}:00:00+00:00") + timedelta(seconds=rng.randrange(3600))
                session_files.append({
                    "fileName": name,
                    "originalPath": f"knovvu-va/sandbox-tenant/project-1/conversations/{conv}/{session_id}/{name}",
                    "messageId": message_id,
                    "type": kind,
                    "timestamp": iso(stamp),
                    "originalSizeBytes": rng.randint(20_000, 400_000),
                    "size": rng.randint(2_000, 30_000),
                })
                message_id += 1
            out.append({"externalConversationId": conv, "sessionId": session_id, "files": session_files})
        if documented:
            doc = json.loads(json.dumps(DOCUMENTED_SESSION))
            doc["files"][0]["timestamp"] = f"{day}T14:23:45Z"
            doc["files"][0]["size"] = 4_500
            out[0] = doc
        return {"status": "available", "sessions": out, "pad_to": pad_to}

    def set_bulk_day(self, day: str, zip_bytes: int, files: int = 200, hours: int = 1) -> None:
        """Replace ``day`` with ``hours`` available hours (``"00"``, ``"01"`` ...) whose ZIPs are each
        ``zip_bytes`` long (``files`` audio files of pseudo-random bytes in one session); for the
        memory benchmark (``hours`` > 1: that many ZIPs downloading at once)."""

        def bulk(hour: int) -> dict:
            return {"status": "available", "pad_to": zip_bytes, "sessions": [{
                "externalConversationId": "conv-bulk", "sessionId": f"session-bulk-{hour:02d}" if hour else "session-bulk",
                "files": [{
                    "fileName": f"message_{i}_agent_tts.opus",
                    "originalPath": f"knovvu-va/sandbox-tenant/bulk/message_{i}_agent_tts.opus",
                    "messageId": i, "type": "agent_tts", "timestamp": f"{day}T{hour:02d}:00:00Z",
                    "originalSizeBytes": 1, "size": 1,
                } for i in range(1, files + 1)],
            }]}

        with self._cache_lock:
            self.days[day] = {f"{h:02d}": bulk(h) if h < hours else {"status": "no_data", "sessions": []}
                              for h in range(24)}
            self._entries_cache = {k: v for k, v in self._entries_cache.items() if k[0] != day}

    def fill_every_hour(self, sessions: int = 2, seed: int = 7) -> None:
        """Make every hour of every retained day available, each a small archive of ``sessions``
        generated sessions (a busy tenant: 24 ZIPs a day; for the fan-out benchmark)."""
        rng = random.Random(seed)
        with self._cache_lock:
            for day in self.retained_days():
                self.days[day] = {f"{h:02d}": self._generated_hour(rng, day, f"{h:02d}", sessions) for h in range(24)}
                self._entries_cache = {k: v for k, v in self._entries_cache.items() if k[0] != day}

    # --- archives -------------------------------------------------------------

    def metadata(self, day: str, hour: str) -> dict:
        """The hour's ``metadata.json`` content (what the tap must reproduce)."""
        spec = self.days[day][hour]
        sessions = [{
            "externalConversationId": s["externalConversationId"],
            "sessionId": s["sessionId"],
            "files": [{k: v for k, v in f.items() if k != "size"} for f in s["files"]],
        } for s in spec["sessions"]]
        generated = datetime.fromisoformat(f"{day}T02:15:32+00:00") + timedelta(days=1)
        return {"generatedAt": iso(generated), "utcDay": day, "hour": hour,
                "totalSessions": len(sessions), "sessions": sessions}

    def entries(self, day: str, hour: str) -> list[Entry]:
        """The archive's members in order: ``metadata.json`` then each audio file
        under ``<externalConversationId>/<sessionId>/<fileName>`` (plus zip-slip entries when on)."""
        slip = (day, hour) in self.zip_slip_hours
        key = (day, hour, slip)
        with self._cache_lock:
            if key in self._entries_cache:
                return self._entries_cache[key]
        spec = self.days[day][hour]
        meta = json.dumps(self.metadata(day, hour), ensure_ascii=False, indent=2).encode("utf-8")
        audio = [Entry(f"{s['externalConversationId']}/{s['sessionId']}/{f['fileName']}", f["size"],
                       seed=f"{day}/{hour}/{s['sessionId']}/{f['fileName']}", prefix=b"OggS\x00\x02")
                 for s in spec["sessions"] for f in s["files"]]
        entries = [Entry("metadata.json", data=meta), *audio]
        if slip:
            entries += [Entry("../../escaped.opus", 64, seed="slip-1", prefix=b"OggS"),
                        Entry("/tmp/absolute-escape.opus", 64, seed="slip-2", prefix=b"OggS")]  # noqa: S108
        if spec.get("pad_to"):
            self._pad(entries, audio, spec["pad_to"])
        with self._cache_lock:
            self._entries_cache[key] = entries
        return entries

    @staticmethod
    def _pad(entries: list[Entry], audio: list[Entry], target: int) -> None:
        """Size the audio entries so the whole archive is exactly ``target`` bytes."""
        fixed = overhead(e.name for e in entries) + sum(e.size for e in entries if e not in audio)
        budget = target - fixed
        if budget < len(audio) * 8:
            msg = f"archive target {target} too small for {len(audio)} files"
            raise ValueError(msg)
        share, extra = divmod(budget, len(audio))
        for i, entry in enumerate(audio):
            entry.size = share + (1 if i < extra else 0)

    def archive_size(self, day: str, hour: str) -> int:
        """``sizeBytes`` of the hour's ZIP."""
        return archive_size(self.entries(day, hour))

    def archive_bytes(self, day: str, hour: str) -> bytes:
        """The whole ZIP in memory (tests only; small archives)."""
        return b"".join(stream_archive(self.entries(day, hour), corrupt=(day, hour) in self.corrupt_hours))

    def expected_files(self) -> dict[tuple[str, str, str, str], dict]:
        """Every audio file the retained days hold: ``(day, hour, sessionId, fileName)`` ->
        its metadata plus ``sha256`` and ``size`` of its content (computed by streaming)."""
        out = {}
        for day in self.retained_days():
            for hour, spec in self.days[day].items():
                if spec["status"] != "available":
                    continue
                by_name = {e.name: e for e in self.entries(day, hour)}
                for s in spec["sessions"]:
                    for f in s["files"]:
                        entry = by_name[f"{s['externalConversationId']}/{s['sessionId']}/{f['fileName']}"]
                        digest = hashlib.sha256()
                        for chunk in entry.chunks():
                            digest.update(chunk)
                        meta = {k: v for k, v in f.items() if k != "size"}
                        out[(day, hour, s["sessionId"], f["fileName"])] = {
                            **meta, "externalConversationId": s["externalConversationId"],
                            "sha256": digest.hexdigest(), "size": entry.size}
        return out

    # --- HTTP -----------------------------------------------------------------

    @override
    def routes(self) -> list[Route]:
        """The manifest (bearer token) and the presigned ZIP download (no token)."""
        return [
            Route("GET", MANIFEST_PATH.pattern, lambda request, day: self._manifest(request, unquote(day))),
            Route("GET", DOWNLOAD_PATH.pattern, self._download, bearer=False),
        ]

    @override
    def unauthorized(self, request: SandboxRequest, reason: str) -> SandboxResponse:
        """The identity server's 401 body."""
        return json_response({"error": ERR_TOKEN}, 401)

    @override
    def client_valid(self, client_id: str, secret: str) -> bool:
        """The one sandbox client."""
        return (client_id, secret) == (self.client_id, self.client_secret)

    @override
    def check_token_request(self, request: SandboxRequest, form: dict[str, str]) -> SandboxResponse | None:
        """The client must ask for the ``dataservice_external`` scope."""
        if SCOPE not in (form.get("scope") or "").split():
            return json_response({"error": "invalid_scope",
                                  "error_description": "The specified 'scope' is not allowed for this client."}, 400)
        return None

    @override
    def token_extras(self, grant: Grant) -> dict[str, t.Any]:
        """The granted ``scope``."""
        return {"scope": SCOPE}

    @override
    def token_refused(self, request: SandboxRequest, error: str) -> SandboxResponse:
        """The identity server's 400 bodies."""
        description = {"unsupported_grant_type": "The specified 'grant_type' is not supported.",
                       "invalid_client": "The specified client credentials are invalid."}[error]
        return json_response({"error": error, "error_description": description}, 400)

    def expire_tokens_after(self, calls: int) -> None:
        """Every access token issued so far stops working after ``calls`` more manifest calls (mid-run expiry)."""
        with self.lock:
            self._expire_countdown = calls

    @override
    def authorize(self, request: SandboxRequest) -> SandboxResponse | None:
        """The bearer check, after ``expire_tokens_after``'s countdown."""
        with self.lock:
            countdown = self._expire_countdown
            if countdown is not None:
                if countdown <= 0:
                    self.expire_tokens()
                    self._expire_countdown = None
                else:
                    self._expire_countdown = countdown - 1
        return super().authorize(request)

    def expire_links(self) -> None:
        """Make every presigned link issued so far expire now."""
        with self.lock:
            for sig in self.links:
                self.links[sig] = 0.0

    def _manifest(self, request: SandboxRequest, raw_day: str) -> SandboxResponse:
        if not self.feature_enabled:
            return json_response({"error": ERR_FEATURE}, 403)
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw_day):
                raise ValueError(raw_day)
            day = date.fromisoformat(raw_day)
        except ValueError:
            return json_response({"error": ERR_INVALID_DATE}, 400)
        if day >= self.today:
            return json_response({"error": ERR_FUTURE}, 400)
        if day < self.today - timedelta(days=self.retention_days) or raw_day not in self.days:
            return json_response({"error": ERR_RETENTION}, 404)
        if "manifests" in self.limit_counts and (limited := self._count_download()) is not None:
            return limited
        return json_response(self._manifest_body(raw_day, f"http://{request.headers.get('host', '127.0.0.1')}"))

    def _manifest_body(self, day: str, base: str) -> dict:
        generated = datetime.fromisoformat(f"{day}T02:15:32+00:00") + timedelta(days=1)
        links = []
        for hour, spec in self.days[day].items():
            if spec["status"] != "available":
                links.append({"hour": hour, "url": None, "sessionCount": 0, "fileCount": 0,
                              "sizeBytes": 0, "status": spec["status"]})
                continue
            links.append({
                "hour": hour,
                "url": self._presign(base, day, hour),
                "sessionCount": len(spec["sessions"]),
                "fileCount": sum(len(s["files"]) for s in spec["sessions"]),
                "sizeBytes": self.archive_size(day, hour),
                "status": "available",
            })
        totals = DOCUMENTED_TOTALS if day == self.documented_day else {
            "totalSessions": sum(x["sessionCount"] for x in links),
            "totalFiles": sum(x["fileCount"] for x in links),
            "totalSizeBytes": sum(x["sizeBytes"] for x in links),
        }
        return {"date": day, **totals, "generatedAt": iso(generated), "retentionDays": self.retention_days,
                "expiresAt": iso(generated + timedelta(days=self.retention_days)), "links": links}

    def _presign(self, base: str, day: str, hour: str) -> str:
        now = self.clock()
        stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        nonce = secrets.token_hex(8)
        path = f"/minio/knovvu-va-audio/sandbox-tenant/{day}/{hour}.zip"
        signature = hmac.new(self._signing_key, f"{path}|{stamp}|{nonce}".encode(), hashlib.sha256).hexdigest()
        with self.lock:
            self.links[signature] = now + self.link_ttl_seconds
        query = (f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={quote(nonce)}&X-Amz-Date={stamp}"
                 f"&X-Amz-Expires={int(self.link_ttl_seconds)}&X-Amz-SignedHeaders=host&X-Amz-Signature={signature}")
        return f"{base}{path}?{query}"

    def _download(self, request: SandboxRequest, day: str, hour: str) -> SandboxResponse:
        if "authorization" in request.headers:
            return self._s3_error(400, "InvalidArgument", "Only one auth mechanism allowed; only the X-Amz-Algorithm "
                                  "query parameter, Signature query string parameter or the Authorization header should be specified")
        path = f"/minio/knovvu-va-audio/sandbox-tenant/{day}/{hour}.zip"
        signature = request.arg("X-Amz-Signature") or ""
        signed = f"{path}|{request.arg('X-Amz-Date')}|{request.arg('X-Amz-Credential')}"
        good = hmac.new(self._signing_key, signed.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature, good) or signature not in self.links:
            return self._s3_error(403, "SignatureDoesNotMatch",
                                  "The request signature we calculated does not match the signature you provided.")
        now = self.clock()
        if self.links[signature] <= now:
            return json_response({"error": ERR_LINK_EXPIRED}, 401)
        if "zips" in self.limit_counts and (limited := self._count_download()) is not None:
            return limited
        with self.lock:
            self.served.append((day, hour))
        entries = self.entries(day, hour)
        return SandboxResponse(200, stream_archive(entries, corrupt=(day, hour) in self.corrupt_hours),
                               {"Content-Type": "application/zip"}, content_length=archive_size(entries))

    def _count_download(self) -> SandboxResponse | None:
        """Count one call toward the hourly limit; the 429 answer once it is spent, else ``None``."""
        now = self.clock()
        with self.lock:
            self.downloads = [d for d in self.downloads if d > now - 3600]
            if len(self.downloads) >= self.downloads_per_hour:
                self.rate_limited += 1
                headers = {"Retry-After": self.retry_after} if self.retry_after else {}
                return json_response({"error": ERR_RATE}, 429, headers)
            self.downloads.append(now)
        return None

    @staticmethod
    def _s3_error(status: int, code: str, message: str) -> SandboxResponse:
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error>").encode()
        return SandboxResponse(status, body, {"Content-Type": "application/xml"})

    def demo_config(self, url: str) -> dict[str, t.Any]:
        """A ready-to-use tap config for this sandbox at ``url`` (downloads limited like the vendor's)."""
        return {"api_url": url, "token_url": f"{url}/connect/token", "client_id": self.client_id,
                "client_secret": self.client_secret, "storage_url": "output/storage/knovvu"}
