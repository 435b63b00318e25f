"""What the conformance kit needs to know about each tap: its sandbox, a config, its endpoints.

Each ``TapKit`` starts the tap's emulator over real HTTP with small data (the
kill and fault tests run many times), builds a config for it, and names every
endpoint the tap calls (API, token, file downloads) with what it answers, so
faults can be armed on each.
"""

from __future__ import annotations

import hashlib
import json
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
from singer_sdk import Tap

from sandboxes.base import SandboxServer
from tests.helpers import TapRun


@dataclass(frozen=True)
class Answer:
    """What one endpoint answers, for the fault matrix.

    Attributes:
        kind: ``api`` (a JSON API answer), ``token`` (an OAuth token answer) or
            ``download`` (a file body streamed into storage).
        records: where the answer's records are: a top-level key whose value is a
            list of records or one record, ``""`` for the body itself, ``None`` when
            it carries no records (token answers, files).
        loose: a permissive (any-JSON) field of those records -> a value of a type
            the vendor's docs do not show there (``{}``: the records have no such field).
    """

    kind: str = "api"
    records: str | None = None
    loose: dict[str, t.Any] = field(default_factory=dict)


TOKEN = Answer("token")
FILE = Answer("download")


@dataclass
class TapKit:
    """One tap under test.

    Attributes:
        name: tap name (``salesloft``).
        module: ``python -m`` module of the tap.
        tap_class: import path ``module:Class``.
        make_app: builds a fresh, small sandbox app.
        config: ``(app, url, tmp) -> config`` for the sandbox at ``url``.
        endpoints: endpoint name -> path regex (searched in the request path) of every endpoint
            the tap calls with this config: API, token and downloads (for faults).
        answers: endpoint name -> what it answers (``Answer``); every name in ``endpoints``.
    """

    name: str
    module: str
    tap_class: str
    make_app: t.Callable[[], t.Any]
    config: t.Callable[[t.Any, str, Path], dict]
    endpoints: dict[str, str] = field(default_factory=dict)
    answers: dict[str, Answer] = field(default_factory=dict)
    api_url_suffix: str = ""

    def load_class(self) -> type[Tap]:
        """The tap class."""
        import importlib

        module, cls = self.tap_class.split(":")
        return getattr(importlib.import_module(module), cls)

    def serve(self) -> SandboxServer:
        """A started sandbox server with fresh data."""
        return SandboxServer(self.make_app()).start()


def _salesloft_app() -> t.Any:
    from sandboxes.salesloft import SalesloftSandbox

    return SalesloftSandbox(conversations=40)


def _zoom_app() -> t.Any:
    from sandboxes.zoom_aic import ZoomAICSandbox

    return ZoomAICSandbox(user_count=4)


def _knovvu_app() -> t.Any:
    from sandboxes.knovvu import KnovvuSandbox

    return KnovvuSandbox(retention_days=2, downloads_per_hour=10_000)


def _foundry_app() -> t.Any:
    from sandboxes.foundry_aip import FoundryAIPSandbox

    return FoundryAIPSandbox(sessions_per_agent=(30, 12))


def _kore_app() -> t.Any:
    from sandboxes.kore_agentai import KoreAgentAISandbox

    return KoreAgentAISandbox(days=10)


FAST = {"retry_base_seconds": 0.01, "max_retries": 4, "request_timeout": 10}


def _with_storage(app: t.Any, url: str, tmp: Path) -> dict:
    return {**app.demo_config(url), "storage_url": str(tmp / "storage"), **FAST}


def _salesloft_config(app: t.Any, url: str, tmp: Path) -> dict:
    return _with_storage(app, url, tmp)  # transcript files (transcription_artifacts) are archived too


def _foundry_config(app: t.Any, url: str, tmp: Path) -> dict:
    return {**app.demo_config(url), **FAST}


def _kore_config(app: t.Any, url: str, tmp: Path) -> dict:
    from datetime import timedelta

    return {**app.demo_config(url), "start_date": f"{app.last_day - timedelta(days=12)}T00:00:00Z", **FAST}


def _knovvu_config(app: t.Any, url: str, tmp: Path) -> dict:
    return {**_with_storage(app, url, tmp), "downloads_per_hour": 0}


def _kit(name: str, tap_class: str, make_app: t.Callable[[], t.Any], config: t.Callable[[t.Any, str, Path], dict],
         endpoints: dict[str, tuple[str, Answer]]) -> TapKit:
    return TapKit(name, f"taps.{name}", f"taps.{name}.tap:{tap_class}", make_app, config,
                  {n: path for n, (path, _) in endpoints.items()}, {n: answer for n, (_, answer) in endpoints.items()})


#: a permissive field given a type the vendor's docs do not show: strings, a number and a null
#: where objects are expected, inside structures the schemas declare as any JSON
LOOSE_ITEMS = ["a plain string", 7, None, ["nested"]]

KITS: dict[str, TapKit] = {
    "salesloft": _kit("salesloft", "TapSalesloft", _salesloft_app, _salesloft_config, {
        "conversations": (r"^/v2/conversations$", Answer(records="data")),
        "extensive": (r"^/v2/conversations/[^/]+/extensive$",
                      Answer(records="data", loose={"action_items": {"items": LOOSE_ITEMS}})),
        "transcriptions": (r"^/v2/transcriptions$", Answer(records="data")),
        "sentences": (r"^/v2/transcriptions/[^/]+/sentences$", Answer(records="data")),
        "artifact": (r"^/v2/transcriptions/[^/]+/artifact$", Answer(records="data")),
        "download": (r"^/signed/transcripts/", FILE),
    }),
    "zoom_aic": _kit("zoom_aic", "TapZoomAIC", _zoom_app, _with_storage, {
        "users": (r"^/v2/users$", Answer(records="users")),
        "archive": (r"/conversation_archive$", Answer(records="")),
        "token": (r"^/oauth/token$", TOKEN),
        "history": (r"^/rest/v1/aic/archive/conversations/download/", FILE),
        "attachment": (r"^/rest/v1/aic/archive/attached/download/", FILE),
    }),
    "knovvu": _kit("knovvu", "TapKnovvu", _knovvu_app, _knovvu_config, {
        "manifest": (r"daily-audio-recordings", Answer(records="links")),
        "token": (r"^/connect/token$", TOKEN),
        "download": (r"^/minio/", FILE),
    }),
    "foundry_aip": _kit("foundry_aip", "TapFoundryAIP", _foundry_app, _foundry_config, {
        "sessions": (r"/sessions$", Answer(records="data")),
        "content": (r"/content$", Answer(records="exchanges")),
        "token": (r"/oauth2/token$", TOKEN),
    }),
    "kore_agentai": _kit("kore_agentai", "TapKoreAgentAI", _kore_app, _kore_config, {
        # one endpoint: conversation_messages come from the same answers (includeHistory)
        "conversations": (r"/aaconversation$", Answer(records="results", loose={
            "summaries": [{"feedbackInfo": {"feedbackDetails": LOOSE_ITEMS}}]})),
    }),
}


def pk_merged(run_or_runs: TapRun | t.Iterable[TapRun]) -> dict[str, set[tuple]]:
    """Stream -> set of primary-key tuples over one or more runs (what a warehouse holds after PK merge)."""
    runs = [run_or_runs] if isinstance(run_or_runs, TapRun) else list(run_or_runs)
    keys: dict[str, list[str]] = {}
    for run in runs:
        for stream, schema in run.schemas.items():
            keys[stream] = list(schema["key_properties"])
    merged: dict[str, set[tuple]] = {}
    for run in runs:
        for stream, records in run.records.items():
            names = keys[stream]
            merged.setdefault(stream, set()).update(tuple(_freeze(r.get(n)) for n in names) for r in records)
    return merged


def _freeze(value: t.Any) -> t.Any:
    return repr(value) if isinstance(value, (dict, list)) else value


def assert_records_match_schemas(run: TapRun) -> int:
    """Validate every RECORD against its stream's SCHEMA (strict JSON Schema, as a strict loader does).

    Returns the number of records checked. Raises ``AssertionError`` naming the
    stream, the record's key and the first violation.
    """
    checked = 0
    for stream, records in run.records.items():
        schema = run.schemas[stream]["schema"]
        validator_cls = jsonschema.validators.validator_for(schema)
        validator = validator_cls(schema, format_checker=validator_cls.FORMAT_CHECKER)
        keys = run.schemas[stream]["key_properties"]
        for record in records:
            error = next(iter(validator.iter_errors(record)), None)
            if error is not None:
                key = tuple(record.get(k) for k in keys)
                path = "/".join(map(str, error.absolute_path))
                msg = f"{stream} record {key} fails its schema at {path or '(root)'}: {error.message[:300]}"
                raise AssertionError(msg)
            checked += 1
    return checked


#: Zoom streams keyed by the window asked (Zoom answers per ``from``/``to`` window, and a window holding the
#: 100-attachment cap is halved): a run resumed mid-user asks other windows than a clean run, so these two
#: streams are compared by the conversations inside their stored history files.
WINDOW_KEYED = ("conversation_archives", "conversation_histories")


def archive_view(kit_name: str, runs: t.Iterable[TapRun]) -> dict[str, set]:
    """What a warehouse holds after PK merge of ``runs``; for Zoom, the window-keyed streams are replaced by
    the set of conversation ids in their history files (read from ``storage_uri``)."""
    runs = list(runs)
    merged: dict[str, set] = dict(pk_merged(runs))
    if kit_name != "zoom_aic":
        return merged
    for stream in WINDOW_KEYED:
        merged.pop(stream, None)
    conversations: set = set()
    for run in runs:
        for record in run.records.get("conversation_histories", []):
            content = json.loads(Path(str(record["storage_uri"]).removeprefix("file://")).read_text())
            conversations.update(c["conversation_id"] for c in content.get("conversations", []))
    merged["conversations in history files"] = conversations
    return merged


def assert_files_match(runs: t.Iterable[TapRun], storage: Path, *, partial_ok: bool = False,
                       unvouched_ok: bool = False) -> None:
    """Every file a record of ``runs`` vouches for (``storage_uri`` + ``sha256``) sits under ``storage`` with
    that sha256.

    Args:
        runs: the runs whose records vouch for files.
        storage: the ``storage_url`` folder.
        partial_ok: temporary ``.part-`` files may be left (a killed run); else none may be.
        unvouched_ok: files under a final name that no record vouches for may exist (a failed run may have
            stored whole files whose records it never reached; a resumed run's "before" records are partial).

    Raises:
        AssertionError: naming the first file at fault.
    """
    recorded = {str(r["storage_uri"]).removeprefix("file://"): r["sha256"] for run in runs
                for records in run.records.values() for r in records if r.get("storage_uri") and r.get("sha256")}
    files = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in storage.rglob("*") if p.is_file()}
    finals = {p: d for p, d in files.items() if ".part-" not in Path(p).name}
    partial = sorted(set(files) - set(finals))
    assert partial_ok or not partial, f"partial files left behind: {partial[:3]}"
    for path, digest in recorded.items():
        assert finals.get(path) == digest, f"{path}: stored file does not match its record's sha256"
    unvouched = [p for p in finals if p not in recorded]
    assert unvouched_ok or not unvouched, f"files under a final name that no record vouches for: {unvouched[:3]}"
