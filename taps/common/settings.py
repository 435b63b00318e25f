"""Settings as one typed, frozen object per tap, and where a run starts reading.

``VendorTap.settings`` builds a ``TapSettings`` (or the vendor's subclass,
``VendorTap.settings_class``) once from the validated config. singer-sdk has
already filled the schema's defaults into the config; when validation is off
the schema's ``default`` is used here, so a default is written once, in the
setting's definition (``taps.common.tap``), and code reads
``settings.lookback_days`` instead of ``config.get("lookback_days") or 0``.

Date-time settings are parsed to aware UTC ``datetime`` (``parse_timestamp``);
list settings become tuples.
"""

from __future__ import annotations

import dataclasses
import typing as t
from datetime import datetime, timedelta, timezone

from taps.common.timestamps import parse_timestamp

S = t.TypeVar("S", bound="TapSettings")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TapSettings:
    """The settings every tap shares (``taps.common.tap`` defines them).

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
    """

    api_url: str = ""
    token_url: str = ""
    start_date: datetime | None = None
    end_date: datetime | None = None
    lookback_days: int = 0
    request_timeout: float = 60.0
    max_retries: int = 5
    retry_base_seconds: float = 1.0
    max_concurrency: int = 1
    progress_interval_seconds: float = 10.0
    clock_margin_seconds: float = 60.0

    @classmethod
    def from_config(cls: type[S], config: t.Mapping[str, t.Any], schema: t.Mapping[str, t.Any]) -> S:
        """The settings from ``config``, else the schema's ``default``, else the field's default.

        Args:
            config: the tap's (validated) config.
            schema: the tap's config JSON Schema (``config_jsonschema``).

        Raises:
            ValueError: a date-time setting is not ISO 8601 (config validation reports it first).
        """
        declared = schema.get("properties", {})
        hints = t.get_type_hints(cls)
        values: dict[str, t.Any] = {}
        for field in dataclasses.fields(cls):
            if config.get(field.name) is not None:
                raw = config[field.name]
            elif "default" in declared.get(field.name, {}):
                raw = declared[field.name]["default"]
            else:
                continue
            values[field.name] = _coerce(raw, hints[field.name])
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


def _coerce(raw: t.Any, hint: t.Any) -> t.Any:
    """``raw`` (a JSON value) as the field's type ``hint``."""
    args = [a for a in t.get_args(hint) if a is not type(None)]
    kind = args[0] if args and t.get_origin(hint) is not tuple else hint
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
