"""Expected failures of a tap run: one line naming the setting and what to do, no traceback.

``VendorTap.invoke`` runs the singer-sdk command through ``run_cli_guarded``.
A bad config, refused credentials, a vendor error, an unreachable host or a
body that is not the vendor's envelope ends the process with exit code 1 and
one ERROR line; the traceback is kept for real bugs, and for every failure
when the tap logs at DEBUG (``--log-level debug`` / ``LOGLEVEL=debug``).
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import typing as t
from urllib.parse import urlsplit

import requests
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError

from taps.common.redact import redact

EXIT_FAILURE = 1
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def unreachable_message(exc: requests.RequestException, urls: t.Mapping[str, str], vendor: str) -> str:
    """``"<vendor>: cannot reach <host> (<kind>): check <setting> ..."``, naming the setting whose
    host the failed request went to (``urls``: setting name -> URL, ``api_url``, ``token_url``), and
    in the ``dev`` environment or on a loopback host, that the sandbox may not be running."""
    request = getattr(exc, "request", None)
    url = str(getattr(request, "url", "") or "")
    host = urlsplit(url).netloc
    setting = "api_url"
    for name, value in urls.items():
        if value and host and urlsplit(value).netloc == host:
            setting = name
            break
    else:
        host = host or urlsplit(urls.get(setting, "")).netloc
    kind = "timed out" if isinstance(exc, requests.Timeout) else "connection refused or failed"
    msg = f"{vendor}: cannot reach {host or 'the API host'} ({kind}); check the {setting} setting and the network"
    if _dev(urls, host):
        msg += f"; {SANDBOX_HINT}"
    return msg


SANDBOX_HINT = "in the dev environment the sandbox may not be running: start it with `python -m sandboxes`"


def _dev(urls: t.Mapping[str, str], host: str = "") -> bool:
    """Whether this looks like a dev run against the sandbox (Meltano ``dev`` environment or a loopback host)."""
    hosts = [host, *(urlsplit(url).netloc for url in urls.values())]
    loopback = any(h.split(":")[0] in LOOPBACK for h in hosts if h)
    return os.environ.get("MELTANO_ENVIRONMENT") == "dev" or loopback


def failure_line(exc: BaseException, urls: t.Mapping[str, str], vendor: str) -> str | None:
    """The one-line message for an expected failure, or ``None`` for a real bug."""
    if isinstance(exc, ConfigValidationError):
        errors = "; ".join(str(e) for e in (exc.errors or [])) or str(exc)
        return f"{vendor} config error: {errors}. Fix the setting(s) named and run again."
    if isinstance(exc, requests.RequestException):
        return unreachable_message(exc, urls, vendor)
    if isinstance(exc, (FatalAPIError, RetriableAPIError)):
        text = str(exc)
        if "connection error" in text and _dev(urls):
            text += f"; {SANDBOX_HINT}"
        if isinstance(exc, RetriableAPIError):
            text = f"{text} (still failing after max_retries retries; try again later or raise max_retries)"
        return text
    return None


@functools.cache
def freeze_startup_heap() -> None:
    """Move every object the process holds as a tap command starts into the garbage collector's
    permanent generation (``gc.freeze``), once per process.

    That heap is the imports' (modules, classes, functions: mostly singer-sdk's, about 0.3 s to
    build); it lives until exit, so collecting it is wasted work. Frozen, no collection during
    the run scans it, and at exit the interpreter's final collections skip it: a Salesloft run
    (P2) ends about 0.1 s sooner. Objects made afterwards (records, responses) are collected as
    before; what is frozen is only never freed before exit, as a module's objects are not anyway.
    """
    gc.freeze()


def run_cli_guarded(run: t.Callable[[], None], *, logger: logging.Logger, vendor: str,
                    urls: t.Callable[[], t.Mapping[str, str]], secrets: t.Callable[[], list[str]]) -> None:
    """Call ``run``; turn an expected failure into one ERROR line and ``SystemExit(1)``.

    Args:
        run: the command (singer-sdk's ``invoke``).
        logger: where the line goes.
        vendor: vendor name for messages.
        urls: returns the URL settings by name (``api_url``, ``token_url``; to name the setting of an unreachable host).
        secrets: returns values to redact from the line.

    Raises:
        SystemExit: exit code 1 after an expected failure.
        BaseException: anything else, unchanged (a real bug keeps its traceback).
    """
    try:
        run()
    except Exception as exc:
        line = failure_line(exc, urls(), vendor)
        if line is None:
            raise
        debug = logger.isEnabledFor(logging.DEBUG) or logging.getLogger().isEnabledFor(logging.DEBUG)
        logger.error(redact(line, secrets()), exc_info=exc if debug else None)  # noqa: TRY400
        raise SystemExit(EXIT_FAILURE) from None
