"""The tap base and the settings vocabulary shared by every tap (GUIDE §2).

``VendorTap`` builds the authenticator once per tap instance (so every stream
shares one token), runs cross-field config checks after the JSON-Schema
validation, and rejects unknown settings. The ``*_setting`` helpers keep names,
types and descriptions identical across taps.
"""

from __future__ import annotations

import typing as t
from dataclasses import asdict
from datetime import timedelta
from functools import cached_property
from urllib.parse import urlsplit

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.singerlib import StateMessage
from typing_extensions import override

from taps.common.auth import ClientCredentialsAuthenticator
from taps.common.cli import freeze_startup_heap, run_cli_guarded
from taps.common.clock import DEFAULT_MARGIN, VendorClock
from taps.common.concurrency import DEFAULT_MAX_CONCURRENCY, FanOut, RequestGate
from taps.common.handoff import Handoff
from taps.common.logs import quiet_sdk_logging
from taps.common.output import LeanWriter, SchemaOnce
from taps.common.retry import RetryPolicy
from taps.common.settings import SettingsT, secret_values
from taps.common.summary import GAPS_STATE_KEY, RunSummary
from taps.common.timestamps import parse_timestamp

if t.TYPE_CHECKING:
    from taps.common.auth import TapAuthenticator


def api_url_setting(default: str | None, vendor: str) -> th.Property[t.Any]:
    """``api_url``: the vendor API base URL; required when ``default`` is ``None``."""
    return th.Property(
        "api_url",
        th.StringType(nullable=False),
        required=default is None,
        default=default,
        title="API URL",
        description=f"{vendor} API base URL. Point it at the sandbox for local runs.",
    )


def token_url_setting(default: str | None, vendor: str) -> th.Property[t.Any]:
    """``token_url``: the vendor's OAuth token endpoint."""
    return th.Property(
        "token_url",
        th.StringType(nullable=False),
        default=default,
        title="Token URL",
        description=f"{vendor} OAuth token endpoint.",
    )


def secret_setting(name: str, description: str, *, required: bool = False) -> th.Property[t.Any]:
    """A credential: ``secret=True`` so Meltano and logs treat it as sensitive."""
    return th.Property(name, th.StringType(nullable=False), required=required, secret=True, description=description)


def start_date_setting() -> th.Property[t.Any]:
    """``start_date``: where the first run starts (ISO 8601, UTC if no offset)."""
    return th.Property(
        "start_date",
        th.DateTimeType(nullable=True),
        title="Start date",
        description="Earliest date-time to extract on the first run (ISO 8601, UTC if no offset).",
    )


def lookback_setting(default: int) -> th.Property[t.Any]:
    """``lookback_days``: how far behind the bookmark each run re-reads."""
    return th.Property(
        "lookback_days",
        th.IntegerType(minimum=0, maximum=365),
        default=default,
        title="Lookback days",
        description="Days behind the bookmark that every run re-reads, to catch late updates.",
    )


def http_settings() -> list[th.Property[t.Any]]:
    """``request_timeout``, ``max_retries``, ``retry_base_seconds`` and ``clock_margin_seconds``."""
    return [
        th.Property(
            "request_timeout",
            th.IntegerType(minimum=1, maximum=3600),
            default=60,
            description="Seconds to wait for each HTTP response.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType(minimum=0, maximum=20),
            default=5,
            description="Retries per request on 429, 5xx, connection errors and truncated bodies.",
        ),
        th.Property(
            "retry_base_seconds",
            th.NumberType(minimum=0, maximum=300),
            default=1.0,
            description="First exponential backoff wait in seconds (doubles each retry) when the vendor gives no Retry-After.",
        ),
        th.Property(
            "clock_margin_seconds",
            th.NumberType(minimum=0, maximum=86400),
            default=DEFAULT_MARGIN.total_seconds(),
            title="Clock margin",
            description="Seconds behind the vendor's own now (its Date header) where a window ending at "
                        "\"now\" ends and no bookmark passes; raise it for a vendor that indexes late.",
        ),
    ]


def progress_setting() -> th.Property[t.Any]:
    """``progress_interval_seconds``: how often a long download logs its progress (taps that store files)."""
    return th.Property(
        "progress_interval_seconds",
        th.NumberType(minimum=0, maximum=3600),
        default=10.0,
        title="Download progress interval",
        description="Seconds between progress lines (bytes of total, rate) of a download that takes longer; "
                    "a shorter download logs none (0: a line per 1 MiB chunk).",
    )


def config_schema(*properties: th.Property[t.Any]) -> dict[str, t.Any]:
    """A config JSON Schema that rejects unknown settings (typos fail early)."""
    return th.PropertiesList(*properties, additional_properties=False).to_dict()


URL_SETTINGS = ("api_url", "token_url")
DATE_TIME_SETTINGS = ("start_date", "end_date")


def common_config_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Checks every tap shares: URL settings are http(s) URLs with a host; ``start_date`` and
    ``end_date`` are ISO 8601 date-times (JSON Schema's ``date-time`` format is not enforced by
    the validator).

    The one check that reads the raw ``config`` mapping rather than ``VendorTap.settings``: it
    must quote a value that does not parse, and typed settings cannot be built from such a value.
    Vendor ``config_errors()`` run on the typed settings after these pass.
    """
    errors = []
    for name in URL_SETTINGS:
        value = config.get(name)
        if value is None:
            continue
        parts = urlsplit(str(value))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append(f"{name} must be an http(s) URL such as https://api.example.com, not {str(value)[:80]!r}")
    for name in DATE_TIME_SETTINGS:
        value = config.get(name)
        if value is None:
            continue
        try:
            parse_timestamp(str(value))
        except (TypeError, ValueError):
            errors.append(f"{name} must be an ISO 8601 date-time such as 2026-01-01T00:00:00Z, "
                          f"not {str(value)[:40]!r}")
    return errors


def _named_in(error: str, others: list[str]) -> bool:
    name = error.split(" ", 1)[0]
    return any(o.startswith(name) or f" {name} " in o for o in others)


def _secrets_of(tap: VendorTap[t.Any] | None) -> list[str]:
    """Values to redact from the CLI's failure line: the ``secret`` settings (from the raw config, see
    ``secret_values``: the line may be about a config that does not parse) and the authenticator's tokens."""
    if tap is None:
        return []
    auth = tap.__dict__.get("authenticator")
    return [*secret_values(tap.config, tap.config_jsonschema), *(getattr(auth, "secrets", []) or [])]


def _urls_of(tap: VendorTap[t.Any] | None) -> dict[str, str]:
    """``{"api_url": ..., "token_url": ...}`` of ``tap``'s settings, for the CLI to name the setting of a
    host it cannot reach; ``{}`` before the tap exists or when its config does not parse."""
    try:
        settings = tap.settings if tap is not None else None
    except ValueError:
        return {}
    return {} if settings is None else {n: str(getattr(settings, n)) for n in URL_SETTINGS if getattr(settings, n)}


class VendorTap(Tap, t.Generic[SettingsT]):
    """A tap with one shared authenticator and cross-field config checks.

    Subclasses implement ``build_authenticator()`` and may override
    ``config_errors()`` to return messages, each naming the setting(s) at fault.

    Every sync ends with the run summary (``taps.common.summary``): records,
    partitions, files and bytes, requests, retries, coverage and gaps per
    stream, as a block and as one JSON line, also when the sync fails.

    Output is lean (``taps.common.output``): msgspec-encoded, one SCHEMA
    message per stream per run, stdout flushed at each STATE message.
    """

    message_writer_class = LeanWriter
    #: the typed settings this tap reads: the ``TapSettings`` subclass named as ``VendorTap[...]``.
    settings_class: type[SettingsT]

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Validate like ``Tap``, then run ``config_errors()`` when validation is on.

        ``common_config_errors`` run on the raw config (they report values that do not parse);
        then ``self.settings`` is built and the vendor's ``config_errors()`` run on it. A vendor's
        message about a setting replaces the common one about the same setting.

        Raises:
            ConfigValidationError: a setting is missing, malformed or inconsistent.
        """
        quiet_sdk_logging()  # before the SDK's start-up lines
        super().__init__(*args, **kwargs)
        quiet_sdk_logging()  # again, in case the SDK set up logging itself
        VendorTap.running[type(self).__name__] = self
        if kwargs.get("validate_config", True):
            common = common_config_errors(self.config)
            try:
                self.settings  # noqa: B018 - built here so a value that does not parse is a config error
            except ValueError as exc:
                own = [] if common else [str(exc)]
            else:
                own = self.config_errors()
            errors = [e for e in common if not _named_in(e, own)] + own
            if errors:
                raise ConfigValidationError("Config validation failed", errors=errors)

    #: class name -> the instance the CLI built (so an expected failure can name the setting at fault).
    running: t.ClassVar[dict[str, VendorTap[t.Any]]] = {}

    def config_errors(self) -> list[str]:
        """Cross-field problems with the settings (read ``self.settings``), one message per problem,
        each naming the setting(s) at fault; run once the common checks let the settings parse."""
        return []

    @classmethod
    @override
    def invoke(cls, *args: t.Any, **kwargs: t.Any) -> None:
        """The singer-sdk command, with expected failures (bad config, refused credentials,
        vendor errors, unreachable or wrong host) ending in one line and exit code 1
        (see ``taps.common.cli``). The import-time heap is frozen first (``freeze_startup_heap``)."""
        freeze_startup_heap()

        def run() -> None:
            super(VendorTap, cls).invoke(*args, **kwargs)

        run_cli_guarded(run, logger=cls.logger, vendor=cls.name,
                        urls=lambda: _urls_of(VendorTap.running.get(cls.__name__)),
                        secrets=lambda: _secrets_of(VendorTap.running.get(cls.__name__)))

    def build_authenticator(self) -> TapAuthenticator:
        """The authenticator every stream shares (see ``taps.common.auth``)."""
        raise NotImplementedError

    @cached_property
    def settings(self) -> SettingsT:
        """The config as one typed, frozen object (``settings_class``), built once (``taps.common.settings``)."""
        return self.settings_class.from_config(self.config, self.config_jsonschema)

    def client_credentials_authenticator(self, *, vendor: str, **options: t.Any) -> ClientCredentialsAuthenticator:
        """OAuth 2.0 client credentials from the shared settings, for a tap's ``build_authenticator``.

        ``token_url`` (unless given in ``options``), ``client_id``, ``client_secret`` and the
        tap's ``retry_policy`` are filled in; ``options`` are the vendor's own (``scope``,
        ``grant_type``, ``basic_auth``, ``default_expiration`` ...; see ``ClientCredentialsAuthenticator``).
        """
        options.setdefault("token_url", self.settings.token_url)
        return ClientCredentialsAuthenticator(client_id=self.settings.client_id,
                                              client_secret=self.settings.client_secret,
                                              vendor=vendor, policy=self.retry_policy, **options)

    @cached_property
    def fan_out(self) -> FanOut:
        """The pool for child requests run ahead (setting ``max_concurrency``; 1 where a tap has no such setting)."""
        return FanOut(self.settings.max_concurrency or DEFAULT_MAX_CONCURRENCY)

    @cached_property
    def handoff(self) -> Handoff:
        """Parent-to-child payloads of the records being emitted (``taps.common.handoff``)."""
        return Handoff()

    @cached_property
    def request_gate(self) -> RequestGate:
        """One ``Retry-After`` pause shared by every stream and worker of this tap."""
        return RequestGate()

    @cached_property
    def authenticator(self) -> TapAuthenticator:
        """One authenticator per tap instance: one token per process.

        An authenticator with a ``vendor_clock`` attribute (OAuth) gets the tap's,
        so token answers teach it the vendor's time too.
        """
        authenticator = self.build_authenticator()
        if hasattr(authenticator, "vendor_clock"):
            authenticator.vendor_clock = self.vendor_clock
        return authenticator

    @cached_property
    def vendor_clock(self) -> VendorClock:
        """The vendor's clock (``taps.common.clock``), fed by the Date header of every answer;
        ``safe_now`` keeps ``clock_margin_seconds`` behind it."""
        return VendorClock(margin=timedelta(seconds=self.settings.clock_margin_seconds))

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        """Attempts, backoff and timeout from ``max_retries``, ``retry_base_seconds``, ``request_timeout``:
        the same for API calls, token requests and downloads."""
        return RetryPolicy.from_settings(self.settings)

    @cached_property
    def run_summary(self) -> RunSummary:
        """What this run did, per stream (printed at the end of ``sync_all``)."""
        return RunSummary(self.name)

    @override  # type: ignore[misc]  # final in singer-sdk; no record hook
    def write_message(self, message: t.Any) -> None:
        """Write a Singer message, counting RECORD messages into the run summary.

        A stream's second and later SCHEMA messages in a run are dropped (``SchemaOnce``).
        """
        once = getattr(self, "_schema_once", None)
        if once is not None and not once.wanted(message):
            return
        super().write_message(message)
        record = getattr(message, "record", None)
        stream_name = getattr(message, "stream", None)
        if isinstance(record, dict) and isinstance(stream_name, str):
            stream = self.streams.get(stream_name)
            self.run_summary.tally(stream_name).add_record(record, stream.replication_key if stream else None)

    @override  # type: ignore[misc]  # final in singer-sdk; no after-sync hook
    def sync_all(self) -> None:
        """``sync_streams()``, then log the run summary (also when the sync fails).

        Each stream's SCHEMA message is written once in this run.
        """
        self._schema_once = SchemaOnce()
        for stream in self.streams.values():
            _count_partitions(stream, self.run_summary)
        try:
            self.sync_streams()
        except BaseException:
            self.run_summary.status = "failed"
            raise
        else:
            self.write_gaps_to_state()
        finally:
            self.fan_out.shutdown()
            self.run_summary.log(self.logger)

    def write_gaps_to_state(self) -> None:
        """After a successful sync: one more STATE message whose ``last_run_gaps`` lists this run's gaps.

        ``last_run_gaps`` (``GAPS_STATE_KEY``) is a list of ``{"stream", "what", "reason", "detail"}``
        (``taps.common.summary.Gap``), empty when the run had none, so it replaces the previous run's
        list in Meltano's state; the bookmarks are the ones already written. Nothing is written for a
        run without state and without gaps.
        """
        gaps = [{"stream": name, **asdict(gap)} for name, gap in self.run_summary.gaps()]
        if not gaps and not self.state:
            return
        t.cast("dict[str, t.Any]", self.state)[GAPS_STATE_KEY] = gaps  # a key of our own beside "bookmarks"
        self.write_message(StateMessage(value=self.state))

    def sync_streams(self) -> None:
        """singer-sdk's ``sync_all``; taps that add run-level handling override this, not ``sync_all``."""
        super().sync_all()


def _count_partitions(stream: t.Any, summary: RunSummary) -> None:
    """Count each ``stream.sync(context)`` call into ``summary`` (wraps the instance's method once)."""
    if getattr(stream.sync, "_counted", False):
        return
    original = stream.sync
    tally = summary.tally(stream.name)

    def sync(context: t.Any = None) -> None:
        tally.add_partition(context)
        original(context)

    sync._counted = True  # type: ignore[attr-defined]  # noqa: SLF001 - our own marker
    stream.sync = sync
