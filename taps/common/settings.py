"""Settings as one typed, frozen object per tap, and where a run starts reading.

``VendorTap.settings`` builds a ``TapSettings`` (or the vendor's subclass,
``VendorTap.settings_class``) once from the validated config. singer-sdk has
already filled the schema's defaults into the config; when validation is off
the schema's ``default`` is used here, so a default is written once, in the
setting's definition (``taps.common.tap`` or the vendor's ``tap.py``), and code
reads ``settings.lookback_days`` instead of ``config.get("lookback_days") or 0``.

Where a new setting goes: its ``th.Property`` (name, type, default, description)
in the tap's ``config_jsonschema``; a field of the same name in the tap's
``TapSettings`` subclass (``class TapX(VendorTap[XSettings])`` with
``settings_class = XSettings``; its base stream ``VendorRESTStream[XSettings]``) with *no* default when the schema
gives one (``from_config`` fills it; a missing one is a ``TypeError`` at once),
else the value that means "not set" (``""``, ``None``, ``()``); a credential
with ``secret_field()`` (kept out of ``repr``). Code reads ``self.settings.<name>``,
on the tap and on every ``VendorRESTStream``; only the cross-field checks that
report a value which does not parse (``common_config_errors``) and the CLI's
redaction (``secret_values``) read the raw config mapping.

Date-time settings are parsed to aware UTC ``datetime`` (``parse_timestamp``);
list settings become tuples.
"""

from __future__ import annotations

import dataclasses
import typing as t
from datetime import datetime, timedelta, timezone

from taps.common.timestamps import parse_timestamp

S = t.TypeVar("S", bound="TapSettings")
#: a tap's ``TapSettings`` subclass: ``VendorTap[XSettings]`` and ``VendorRESTStream[XSettings]`` type ``.settings``.
SettingsT = t.TypeVar("SettingsT", bound="TapSettings")


def secret_field() -> t.Any:
    """A credential field: ``""`` when not set, never shown in ``repr`` (so never in a log line)."""
    return dataclasses.field(default="", repr=False)


def secret_values(config: t.Mapping[str, t.Any], schema: t.Mapping[str, t.Any]) -> tuple[str, ...]:
    """The non-empty string values of the settings ``schema`` marks ``secret`` (credentials).

    Reads the raw ``config`` on purpose: the CLI redacts its one failure line
    with these even when the config does not parse into settings.
    """
    declared = schema.get("properties", {})
    return tuple(v for k, v in config.items() if declared.get(k, {}).get("secret") and isinstance(v, str) and v)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TapSettings:
    """The settings every tap shares (``taps.common.tap`` defines them).

    A field without a default is a setting every tap declares with a default
    (``http_settings``): its value always comes from the config or that
    definition. A field's default here is only what a tap that does not declare
    the setting gets (``lookback_days`` 0 for Knovvu, ``max_concurrency`` 1 for
    the taps without ``concurrency_setting``); where a tap declares the setting,
    its definition's default wins.

    Attributes:
        api_url: the vendor API base URL.
        token_url: the vendor's OAuth token endpoint (``""`` where the tap has none).
        start_date: where the first run starts (UTC), or ``None``.
        end_date: the last moment a run reads (UTC; orchestrator partitions), or ``None``.
        lookback_days: days behind the bookmark every run re-reads.
        request_timeout: seconds to wait for each HTTP response.
        max_retries: retries per request (attempts are ``1 + max_retries``).
        retry_base_seconds: first exponential backoff wait, seconds.
        max_concurrency: child requests in flight at once (1 where the tap has no such setting).
        progress_interval_seconds: seconds between a long download's progress lines (taps that store files).
        clock_margin_seconds: seconds behind the vendor's now (``Date`` header) where a window ending at
            "now" ends and no bookmark passes (``taps.common.clock.VendorClock.margin``).
        client_id, client_secret: OAuth client credentials (``""`` where the tap uses another credential).
        secrets: the values of every ``secret`` setting (``secret_values``), to redact from output.
    """

    api_url: str = ""
    token_url: str = ""
    start_date: datetime | None = None
    end_date: datetime | None = None
    lookback_days: int = 0
    request_timeout: float
    max_retries: int
    retry_base_seconds: float
    max_concurrency: int = 1
    progress_interval_seconds: float = 10.0
    clock_margin_seconds: float
    client_id: str = secret_field()
    client_secret: str = secret_field()
    secrets: tuple[str, ...] = dataclasses.field(default=(), repr=False)

    @classmethod
    def from_config(cls: type[S], config: t.Mapping[str, t.Any], schema: t.Mapping[str, t.Any]) -> S:
        """The settings from ``config``, else the schema's ``default``, else the field's default.

        Args:
            config: the tap's (validated) config.
            schema: the tap's config JSON Schema (``config_jsonschema``).

        Raises:
            ValueError: a setting's value does not parse as its type (the message names the setting;
                with validation on, ``common_config_errors`` reports a bad date-time first).
            TypeError: a field without a default that neither the config nor the schema fills
                (a setting missing from ``config_jsonschema``: a bug, not a config problem).
        """
        declared = schema.get("properties", {})
        hints = t.get_type_hints(cls)
        values: dict[str, t.Any] = {"secrets": secret_values(config, schema)}
        for field in dataclasses.fields(cls):
            if field.name == "secrets":
                continue
            if config.get(field.name) is not None:
                raw = config[field.name]
            elif "default" in declared.get(field.name, {}):
                raw = declared[field.name]["default"]
            else:
                continue
            try:
                values[field.name] = _coerce(raw, hints[field.name])
            except (TypeError, ValueError) as exc:
                msg = f"{field.name} is not a valid {_kind_name(hints[field.name])}: {str(raw)[:40]!r}"
                raise ValueError(msg) from exc
        return cls(**values)

    def run_start(self, bookmark: datetime | None, *, floor_at_start_date: bool = False) -> datetime | None:
        """Where this run starts reading, in UTC (every tap's incremental start comes from here).

        ``bookmark``: where the saved state says the last run got to (``None``
        on a first run). The bookmark minus ``lookback_days`` when there is one
        (late updates are re-read; the primary key deduplicates), else
        ``start_date``, else ``None``. ``floor_at_start_date``: never before ``start_date``.
        """
        if bookmark is None:
            return self.start_date
        start = bookmark.astimezone(timezone.utc) - timedelta(days=self.lookback_days)
        if floor_at_start_date and self.start_date is not None:
            start = max(start, self.start_date)
        return start


def _kind(hint: t.Any) -> t.Any:
    """The type of a field's ``hint`` without ``| None``."""
    args = [a for a in t.get_args(hint) if a is not type(None)]
    return args[0] if args and t.get_origin(hint) is not tuple else hint


def _kind_name(hint: t.Any) -> str:
    """How a setting's type is named in an error: ``ISO 8601 date-time``, ``int``, ``list``."""
    kind = _kind(hint)
    if kind is datetime:
        return "ISO 8601 date-time"
    return "list" if t.get_origin(kind) is tuple else getattr(kind, "__name__", str(kind))


def _coerce(raw: t.Any, hint: t.Any) -> t.Any:
    """``raw`` (a JSON value) as the field's type ``hint``."""
    kind = _kind(hint)
    if raw is None:
        return None
    if kind is datetime:
        return parse_timestamp(str(raw))
    if kind is bool:
        return bool(raw)
    if kind is int:
        return int(raw)
    if kind is float:
        return float(raw)
    if t.get_origin(kind) is tuple:
        return tuple(raw)
    return raw
