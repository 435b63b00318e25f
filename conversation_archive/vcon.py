"""``conversation-archive export-vcon``: one vCon JSON file per archived conversation.

Reads the unified archive that ``transform/`` (dbt) builds in a DuckDB warehouse
(``archive.conversations``, ``parties``, ``messages``, ``media_files``) and writes
``<uuid>.vcon.json`` per conversation, following the IETF draft
draft-ietf-vcon-vcon-core-04 ("The JSON format for vCon"), unsigned form:

* ``uuid``: the conversation's ``vcon_uuid`` (a version 8 UUID from the MD5 of
  ``"vcon:" + conversation_key``; :func:`vcon_uuid` computes the same value), so a
  conversation keeps its file name across exports.
* ``created_at``: the conversation's start (it "should not change once the vcon object
  is created"), else its first message or file time.
* No top-level ``vcon`` version member: core-04 deprecates it.
* ``parties``: one Party Object per archive party (``name``, ``mailto``, ``type``
  person/bot/organization, ``validation: "none"`` beside a name); the vendor itself is
  added as an organization party when it supplied a file no party sent (Zoom's history
  file, Salesloft's transcript).
* ``dialog``: a ``text`` dialog per message (``body``, ``encoding: "none"``,
  ``mediatype: "text/plain"``, ``parties`` with the speaker first, so the originator is
  the implied first party and ``originator`` is left out as the draft asks); a
  ``recording`` dialog per stored audio file, referenced by ``url`` with its
  ``content_hash``, all tied by a ``recording-set`` dialog (core-04 §Dialog Object).
* ``attachments``: Zoom attachments and history files, Salesloft transcripts, each by
  ``url`` and ``content_hash``.

``content_hash`` lists ``sha512-<base64url>`` (the algorithm the draft requires) and
``sha256-<base64url>`` (the hash the tap recorded). The exporter reads every stored file
once to compute SHA-512 and checks its SHA-256 against the archive on the way; a file
that is missing or changed is named on stderr, its vCon keeps the archive's SHA-256 only,
and the command exits 1.

Output is deterministic: an unchanged conversation exports byte-identical, and a file
whose bytes did not change is not rewritten.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import sys
import tempfile
import typing as t
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

SOURCES = ("zoom_aic", "knovvu", "salesloft", "foundry_aip", "kore_agentai")
APPLICATIONS = {
    "zoom_aic": "Zoom AI Companion",
    "knovvu": "Sestek Knovvu",
    "salesloft": "Salesloft",
    "foundry_aip": "Palantir Foundry AIP Agents",
    "kore_agentai": "Kore.ai Agent AI",
}
# the vendor as an organization party, for files it supplied that no party sent
VENDORS = {
    "zoom_aic": "Zoom Video Communications",
    "knovvu": "Sestek",
    "salesloft": "Salesloft",
    "foundry_aip": "Palantir Technologies",
    "kore_agentai": "Kore.ai",
}
BOT_ROLES = {"ai_assistant", "bot"}
CHUNK = 1 << 20  # bytes read per step while hashing a stored file
UNKNOWN_TIME = "1970-01-01T00:00:00Z"


class ExportError(Exception):
    """A problem the operator must fix (bad path, warehouse without the archive); one line."""


def vcon_uuid(conversation_key: str) -> str:
    """The vCon uuid of a conversation, as ``archive.conversations.vcon_uuid`` holds it.

    A version 8 UUID (RFC 9562 §5.8): the MD5 of ``"vcon:" + conversation_key`` with the
    version nibble set to 8 and the variant bits to ``10``. Same as the dbt macro
    ``vcon_uuid`` in ``transform/macros/portable.sql``.
    """
    h = hashlib.md5(f"vcon:{conversation_key}".encode(), usedforsecurity=False).hexdigest()
    return f"{h[0:8]}-{h[8:12]}-8{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


def vcon_date(value: datetime | None) -> str | None:
    """An RFC 3339 UTC date string (``2021-04-29T05:24:18Z``, fraction only when non-zero).

    Naive datetimes are UTC (the archive stores UTC without a zone).
    """
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += f".{value.microsecond:06d}".rstrip("0")
    return text + "Z"


def _b64url(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def hex_to_content_hash(algorithm: str, hex_digest: str) -> str:
    """A vCon ContentHash token (``sha256-<base64url digest>``) from a hex digest."""
    return f"{algorithm}-{_b64url(bytes.fromhex(hex_digest))}"


@dataclass
class FileCheck:
    """What reading one stored file found: its SHA-512 token, or the problem."""

    sha512: str | None
    problem: str | None


def check_file(storage_uri: str, sha256_hex: str | None) -> FileCheck:
    """Stream ``storage_uri`` (a local path or any fsspec URL) once: SHA-512 and a SHA-256 check.

    Memory is bounded (1 MiB chunks). Returns the ``sha512-...`` token, or a problem text
    when the file cannot be read or its SHA-256 differs from ``sha256_hex``.
    """
    import fsspec  # noqa: PLC0415  (only the export needs it)

    sha512, sha256 = hashlib.sha512(), hashlib.sha256()
    try:
        with fsspec.open(storage_uri, "rb") as fh:
            while chunk := fh.read(CHUNK):
                sha512.update(chunk)
                sha256.update(chunk)
    except (OSError, ValueError) as exc:
        return FileCheck(None, f"cannot read {storage_uri}: {type(exc).__name__}")
    if sha256_hex and sha256.hexdigest() != sha256_hex.lower():
        return FileCheck(None, f"{storage_uri} changed since it was archived: sha256 {sha256.hexdigest()} != {sha256_hex}")
    return FileCheck(_b64url(sha512.digest()), None)


@dataclass
class Archive:
    """The archive's rows, grouped by conversation_key (each a list of column dicts)."""

    conversations: list[dict[str, t.Any]]
    parties: dict[str, list[dict[str, t.Any]]] = field(default_factory=lambda: defaultdict(list))
    messages: dict[str, list[dict[str, t.Any]]] = field(default_factory=lambda: defaultdict(list))
    media: dict[str, list[dict[str, t.Any]]] = field(default_factory=lambda: defaultdict(list))


def read_archive(warehouse: Path, schema: str = "archive") -> Archive:
    """Read ``<schema>.conversations/parties/messages/media_files`` from a DuckDB file.

    Raises:
        ExportError: the file is missing, is not DuckDB, or has no archive tables.
    """
    try:
        import duckdb  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ExportError("export-vcon needs duckdb: pip install 'conversation-archive-taps[vcon]'") from exc
    if not warehouse.is_file():
        raise ExportError(f"--warehouse {warehouse}: no such file")
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error as exc:
        raise ExportError(f"--warehouse {warehouse}: not a DuckDB warehouse ({str(exc).splitlines()[0]})") from exc
    with con:
        tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]).fetchall()}
        missing = {"conversations", "parties", "messages", "media_files"} - tables
        if missing:
            raise ExportError(f"--warehouse {warehouse}: no {schema}.{sorted(missing)[0]}; "
                              "build the archive first: meltano invoke dbt-duckdb build")

        def rows(sql: str) -> list[dict[str, t.Any]]:
            cur = con.execute(sql)
            names = [d[0] for d in cur.description or []]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

        archive = Archive(rows(f'SELECT * FROM "{schema}".conversations ORDER BY conversation_key'))  # noqa: S608
        for row in rows(f'SELECT * FROM "{schema}".parties ORDER BY conversation_key, party_key'):  # noqa: S608
            archive.parties[row["conversation_key"]].append(row)
        for row in rows(f'SELECT * FROM "{schema}".messages ORDER BY conversation_key, sequence, message_key'):  # noqa: S608
            archive.messages[row["conversation_key"]].append(row)
        for row in rows(f'SELECT * FROM "{schema}".media_files ORDER BY conversation_key, started_at NULLS LAST, media_key'):  # noqa: S608
            archive.media[row["conversation_key"]].append(row)
    return archive


def _party_object(row: dict[str, t.Any]) -> dict[str, t.Any]:
    party: dict[str, t.Any] = {}
    if row.get("name"):
        party["name"] = row["name"]
        party["validation"] = "none"
    if row.get("email"):
        party["mailto"] = row["email"]
    party["type"] = "bot" if row["role"] in BOT_ROLES else ("organization" if row["role"] == "system" else "person")
    return party


class VconBuilder:
    """Builds the vCon of one conversation from its archive rows.

    ``checks`` maps a storage URI to its :class:`FileCheck` (shared across conversations,
    so a history file carried by many conversations is read once).
    """

    def __init__(self, conversation: dict[str, t.Any], archive: Archive, checks: dict[str, FileCheck],
                 rewrite: list[tuple[str, str]]) -> None:
        """``conversation``: its ``archive.conversations`` row; ``archive``: every archive row, by
        conversation key; ``rewrite``: ``(prefix, replacement)`` pairs for storage URIs."""
        self.conv = conversation
        self.key = conversation["conversation_key"]
        self.archive = archive
        self.checks = checks
        self.rewrite = rewrite
        self.party_rows = archive.parties.get(self.key, [])
        self.parties = [_party_object(r) for r in self.party_rows]
        self.party_index = {r["party_key"]: i for i, r in enumerate(self.party_rows)}
        self.vendor_party: int | None = None
        self.problems: list[str] = []

    def created_at(self) -> str:
        """The conversation's start, else its earliest message, file or end time."""
        if self.conv.get("started_at") is not None:
            return vcon_date(self.conv["started_at"]) or UNKNOWN_TIME
        times = [m["sent_at"] for m in self.archive.messages.get(self.key, [])]
        times += [f["started_at"] for f in self.archive.media.get(self.key, [])]
        times += [self.conv.get("ended_at")]
        known = [x for x in times if x is not None]
        return (vcon_date(min(known)) if known else None) or UNKNOWN_TIME

    def url_of(self, storage_uri: str) -> str:
        """``storage_uri`` with the first matching ``--rewrite-url`` prefix replaced."""
        for prefix, replacement in self.rewrite:
            if storage_uri.startswith(prefix):
                return replacement + storage_uri[len(prefix):]
        return storage_uri

    def content_hash(self, media: dict[str, t.Any]) -> list[str]:
        """``[sha512-..., sha256-...]`` for a stored file (sha256 only if it could not be read)."""
        uri = media["storage_uri"]
        if uri not in self.checks:
            self.checks[uri] = check_file(uri, media["sha256"])
        check = self.checks[uri]
        if check.problem:
            self.problems.append(check.problem)
        tokens = [f"sha512-{check.sha512}"] if check.sha512 else []
        return [*tokens, hex_to_content_hash("sha256", media["sha256"])]

    def party_of(self, party_key: str | None) -> int:
        """The party index of a file's sender, else the vendor (an organization party)."""
        if party_key in self.party_index:
            return self.party_index[party_key]
        if self.vendor_party is None:
            self.parties.append({"name": VENDORS.get(self.conv["source"], self.conv["source"]),
                                 "validation": "none", "type": "organization"})
            self.vendor_party = len(self.parties) - 1
        return self.vendor_party

    def text_dialogs(self, start: str) -> list[dict[str, t.Any]]:
        """One ``text`` dialog per message, speaker first in ``parties``."""
        dialogs = []
        for msg in self.archive.messages.get(self.key, []):
            speaker = self.party_index.get(msg["party_key"])
            others = [i for i in range(len(self.party_rows)) if i != speaker]
            dialog: dict[str, t.Any] = {
                "type": "text",
                "start": vcon_date(msg["sent_at"]) or start,
                "parties": [speaker, *others] if speaker is not None else [],
                "mediatype": "text/plain",
                "encoding": "none",
                "body": msg["text"],
                "message_id": msg["source_message_id"],
                "application": APPLICATIONS.get(self.conv["source"], self.conv["source"]),
            }
            dialogs.append(dialog)
        return dialogs

    def recording_dialogs(self, first_index: int, start: str) -> list[dict[str, t.Any]]:
        """A ``recording`` dialog per stored recording, then one ``recording-set`` tying them."""
        recordings = [m for m in self.archive.media.get(self.key, []) if m["kind"] == "recording"]
        if not recordings:
            return []
        set_index = first_index + len(recordings)
        dialogs = []
        for media in recordings:
            dialogs.append({
                "type": "recording",
                "start": vcon_date(media["started_at"]) or start,
                "parties": [self.party_of(media["party_key"])],
                "mediatype": media["mediatype"],
                "filename": media["filename"],
                "url": self.url_of(media["storage_uri"]),
                "content_hash": self.content_hash(media),
                "recording_set": set_index,
                "application": APPLICATIONS.get(self.conv["source"], self.conv["source"]),
            })
        recording_set: dict[str, t.Any] = {"type": "recording-set", "start": start}
        began, ended = self.conv.get("started_at"), self.conv.get("ended_at")
        if began is not None and ended is not None and ended >= began:
            recording_set["duration"] = round((ended - began).total_seconds(), 3)
        recording_set.update({
            "parties": list(range(len(self.party_rows))),
            "recordings": list(range(first_index, set_index)),
            "application": APPLICATIONS.get(self.conv["source"], self.conv["source"]),
        })
        dialogs.append(recording_set)
        return dialogs

    def attachments(self, dialogs: list[dict[str, t.Any]], start: str) -> list[dict[str, t.Any]]:
        """Attachment Objects for every stored file that is not a recording."""
        out = []
        for media in self.archive.media.get(self.key, []):
            if media["kind"] == "recording":
                continue
            party = self.party_of(media["party_key"])
            when = vcon_date(media["started_at"]) or start
            attachment: dict[str, t.Any] = {"purpose": media["kind"], "start": when, "party": party}
            dialog = self._dialog_for(dialogs, party, when, media["kind"])
            if dialog is not None:
                attachment["dialog"] = dialog
            attachment.update({
                "mediatype": media["mediatype"],
                "filename": media["filename"],
                "url": self.url_of(media["storage_uri"]),
                "content_hash": self.content_hash(media),
            })
            out.append(attachment)
        return out

    @staticmethod
    def _dialog_for(dialogs: list[dict[str, t.Any]], party: int, when: str, kind: str) -> int | None:
        """The dialog an attachment belongs to: the sender's message sent with it, else the first."""
        if not dialogs:
            return None
        if kind == "attachment":
            for i, d in enumerate(dialogs):
                if d.get("parties") and d["parties"][0] == party and d["start"] == when:
                    return i
        return 0

    def build(self) -> dict[str, t.Any]:
        """The unsigned vCon object of the conversation (insertion-ordered, deterministic)."""
        start = self.created_at()
        dialogs = self.text_dialogs(start)
        dialogs += self.recording_dialogs(len(dialogs), start)
        attachments = self.attachments(dialogs, start)
        vcon: dict[str, t.Any] = {"uuid": self.conv["vcon_uuid"], "created_at": start}
        if self.conv.get("title"):
            vcon["subject"] = self.conv["title"]
        vcon["parties"] = self.parties
        if dialogs:
            vcon["dialog"] = dialogs
        if attachments:
            vcon["attachments"] = attachments
        return vcon


def render(vcon: dict[str, t.Any]) -> bytes:
    """The file bytes of a vCon: UTF-8 JSON, Unicode as is, 2-space indent, trailing newline."""
    return (json.dumps(vcon, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically unless it already holds exactly those bytes."""
    if path.is_file() and path.read_bytes() == data:
        return False
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".vcon.json")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


@dataclass
class ExportSummary:
    """Counts per source of what was exported, and every file problem met."""

    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def table(self) -> str:
        """A ``source | conversations | parties | messages | media_files | written | unchanged`` table."""
        cols = ["conversations", "parties", "messages", "media_files", "written", "unchanged"]
        lines = ["source       | " + " | ".join(cols), "-------------|-" + "-|-".join("-" * len(c) for c in cols)]
        total = dict.fromkeys(cols, 0)
        for source in sorted(self.rows, key=lambda s: SOURCES.index(s) if s in SOURCES else len(SOURCES)):
            counts = self.rows[source]
            lines.append(f"{source:<12} | " + " | ".join(f"{counts[c]:>{len(c)}}" for c in cols))
            for c in cols:
                total[c] += counts[c]
        lines.append(f"{'total':<12} | " + " | ".join(f"{total[c]:>{len(c)}}" for c in cols))
        return "\n".join(lines)


def export(warehouse: Path, out: Path, *, rewrite: list[tuple[str, str]] | None = None,
           schema: str = "archive") -> ExportSummary:
    """Write one ``<uuid>.vcon.json`` per conversation of the archive into ``out``.

    Args:
        warehouse: DuckDB file holding ``<schema>.*`` (built by ``transform/``).
        out: output folder (created if missing).
        rewrite: ``(prefix, replacement)`` pairs applied to storage URIs to form each
            file's ``url`` (e.g. ``file:///srv/archive/`` -> ``https://files.example.com/``).
        schema: the archive's schema.

    Returns:
        Per-source counts and the file problems met (missing or changed stored files).

    Raises:
        ExportError: see :func:`read_archive`.
    """
    archive = read_archive(warehouse, schema)
    out.mkdir(parents=True, exist_ok=True)
    checks: dict[str, FileCheck] = {}
    summary = ExportSummary()
    for conv in archive.conversations:
        key = conv["conversation_key"]
        builder = VconBuilder(conv, archive, checks, rewrite or [])
        data = render(builder.build())
        written = write_if_changed(out / f"{conv['vcon_uuid']}.vcon.json", data)
        counts = summary.rows.setdefault(conv["source"], dict.fromkeys(
            ["conversations", "parties", "messages", "media_files", "written", "unchanged"], 0))
        counts["conversations"] += 1
        counts["parties"] += len(archive.parties.get(key, []))
        counts["messages"] += len(archive.messages.get(key, []))
        counts["media_files"] += len(archive.media.get(key, []))
        counts["written" if written else "unchanged"] += 1
        summary.problems.extend(p for p in builder.problems if p not in summary.problems)
    return summary


def _rewrite_rule(text: str) -> tuple[str, str]:
    prefix, sep, replacement = text.partition("=")
    if not sep or not prefix:
        raise argparse.ArgumentTypeError(f"expected PREFIX=REPLACEMENT, got {text!r}")
    return prefix, replacement


def main(argv: list[str]) -> int:
    """``conversation-archive export-vcon --warehouse PATH --out DIR``; returns the exit code.

    0: every conversation exported; 1: exported, but some stored files are missing or
    changed (named on stderr); 2: bad arguments or a warehouse without the archive.
    """
    parser = argparse.ArgumentParser(
        prog="conversation-archive export-vcon",
        description="Write one vCon (draft-ietf-vcon-vcon-core-04) JSON file per archived conversation.")
    parser.add_argument("--warehouse", required=True, type=Path, help="DuckDB file with the archive schema (dbt-built)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the <uuid>.vcon.json files")
    parser.add_argument("--schema", default="archive", help="schema of the unified archive (default: archive)")
    parser.add_argument("--rewrite-url", action="append", type=_rewrite_rule, default=[], metavar="PREFIX=REPLACEMENT",
                        help="turn storage URIs starting with PREFIX into URLs starting with REPLACEMENT (repeatable)")
    args = parser.parse_args(argv)
    try:
        summary = export(args.warehouse, args.out, rewrite=args.rewrite_url, schema=args.schema)
    except ExportError as exc:
        print(f"export-vcon: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    print(summary.table())  # noqa: T201
    print(f"vCon files in {args.out}")  # noqa: T201
    for problem in summary.problems:
        print(f"export-vcon: WARNING {problem}; its vCon carries the archived sha256 only", file=sys.stderr)  # noqa: T201
    return 1 if summary.problems else 0
