"""What the conformance kit needs to know about each tap: its sandbox, a config, its endpoints.

Each ``TapKit`` starts the tap's emulator over real HTTP with small data (the
kill and fault tests run many times), builds a config for it, and names the
streams whose primary keys the kit merges and the endpoint paths faults are
armed on.
"""

from __future__ import annotations

import json
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema

from sandboxes.base import SandboxServer
from tests.helpers import TapRun


@dataclass
class TapKit:
    """One tap under test.

    Attributes:
        name: tap name (``salesloft``).
        module: ``python -m`` module of the tap.
        tap_class: import path ``module:Class``.
        make_app: builds a fresh, small sandbox app.
        config: ``(app, url, tmp) -> config`` for the sandbox at ``url``.
        endpoints: endpoint name -> path regex the tap calls (for faults).
        api_key_path: the endpoint regex of the main listing (for wrong-host and 401 tests).
    """

    name: str
    module: str
    tap_class: str
    make_app: t.Callable[[], t.Any]
    config: t.Callable[[t.Any, str, Path], dict]
    endpoints: dict[str, str] = field(default_factory=dict)
    api_url_suffix: str = ""

    def load_class(self) -> type:
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
    return {**app.demo_config(url), **FAST}


def _foundry_config(app: t.Any, url: str, tmp: Path) -> dict:
    return {**app.demo_config(url), **FAST}


def _kore_config(app: t.Any, url: str, tmp: Path) -> dict:
    from datetime import timedelta

    return {**app.demo_config(url), "start_date": f"{app.last_day - timedelta(days=12)}T00:00:00Z", **FAST}


def _knovvu_config(app: t.Any, url: str, tmp: Path) -> dict:
    return {**_with_storage(app, url, tmp), "downloads_per_hour": 0}


KITS: dict[str, TapKit] = {
    "salesloft": TapKit(
        "salesloft", "taps.salesloft", "taps.salesloft.tap:TapSalesloft", _salesloft_app, _salesloft_config,
        {"conversations": r"^/v2/conversations$", "transcriptions": r"^/v2/transcriptions$"},
    ),
    "zoom_aic": TapKit(
        "zoom_aic", "taps.zoom_aic", "taps.zoom_aic.tap:TapZoomAIC", _zoom_app, _with_storage,
        {"users": r"^/v2/users$", "archive": r"/conversation_archive$", "token": r"^/oauth/token$",
         "download": r"/download/"},
    ),
    "knovvu": TapKit(
        "knovvu", "taps.knovvu", "taps.knovvu.tap:TapKnovvu", _knovvu_app, _knovvu_config,
        {"manifest": r"daily-audio-recordings", "token": r"^/connect/token$", "download": r"^/minio/"},
    ),
    "foundry_aip": TapKit(
        "foundry_aip", "taps.foundry_aip", "taps.foundry_aip.tap:TapFoundryAIP", _foundry_app, _foundry_config,
        {"sessions": r"/sessions$", "content": r"/content$", "token": r"/oauth2/token$"},
    ),
    "kore_agentai": TapKit(
        "kore_agentai", "taps.kore_agentai", "taps.kore_agentai.tap:TapKoreAgentAI", _kore_app, _kore_config,
        {"conversations": r"/aaconversation$"},
    ),
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
