"""Keep secrets out of log lines, records and exception messages.

Secrets here are: tokens, client secrets, API keys, JWTs, and the query
string of a presigned URL (its signature is a credential).
"""

from __future__ import annotations

import re
import typing as t
from urllib.parse import urlsplit, urlunsplit

REDACTED = "<redacted>"
#: shorter values are not treated as secrets (they would mask ordinary words)
MIN_SECRET_LENGTH = 4

# A bearer/JWT-looking value after "Bearer " or in a JSON "access_token" field.
_BEARER_RE = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{16,}")
_TOKEN_FIELD_RE = re.compile(
    r'(?i)("?(?:access_token|refresh_token|client_secret|api_key|token|auth)"?\s*[:=]\s*"?)'
    r'[^"&\s,}]+'
)
_URL_RE = re.compile(r"https?://[^\s\"'<>]+")


def strip_query(url: str | None) -> str | None:
    """Return ``url`` without its query string and fragment.

    Presigned URLs (S3/MinIO ``X-Amz-Signature``, Zoom download tokens in the
    query) carry their credential in the query, so this is what may be logged
    or recorded. ``None`` stays ``None``.
    """
    if url is None:
        return None
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def redact(text: str, secrets: t.Iterable[str | None] = ()) -> str:
    """Return ``text`` with every known secret and every URL query removed.

    Args:
        text: any message about to be logged or raised.
        secrets: literal secret values (config credentials, current tokens);
            empty and very short values (< 4 chars) are ignored.

    Returns:
        The text with each secret replaced by ``<redacted>``, bearer tokens and
        ``access_token``-style fields masked, and URLs cut to scheme+host+path.
    """
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _BEARER_RE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _TOKEN_FIELD_RE.sub(lambda m: m.group(1) + REDACTED, text)
    return _URL_RE.sub(lambda m: strip_query(m.group(0)) or "", text)
