"""Transient faults on each tap's main listing: the run recovers with 0 lost and 0 extra keys.

Faults are armed in the sandbox (``app.faults``, ``sandboxes/base.py``) on the first
request to the tap's main listing endpoint: 429 with ``Retry-After`` in seconds and
as an HTTP date, a burst of three 503s, a dropped connection, and a body cut in
half (truncated JSON). The PK-merged result must equal a clean run's.
"""

from __future__ import annotations

import typing as t
from email.utils import formatdate
from pathlib import Path

import pytest

from tests.conformance.kit import KITS, pk_merged
from tests.helpers import run_tap

LISTING = {"salesloft": "conversations", "zoom_aic": "archive", "knovvu": "manifest",
           "foundry_aip": "sessions", "kore_agentai": "conversations"}

FAULTS: dict[str, t.Callable[[], dict[str, t.Any]]] = {
    "429-retry-after-seconds": lambda: {"kind": "status", "status": 429, "headers": {"Retry-After": "0"}},
    "429-retry-after-http-date": lambda: {"kind": "status", "status": 429,
                                          "headers": {"Retry-After": formatdate(usegmt=True)}},
    "5xx-burst": lambda: {"kind": "status", "status": 503, "times": 3},
    "dropped-connection": lambda: {"kind": "drop"},
    "truncated-json": lambda: {"kind": "truncate"},
}

_clean: dict[str, dict[str, set[tuple]]] = {}


def _config(kit_name: str, app: t.Any, url: str, tmp: Path) -> dict:
    config = KITS[kit_name].config(app, url, tmp)
    if kit_name == "knovvu":
        config["wait_on_rate_limit"] = True  # a manifest 429 is waited out as Knovvu asks, not a stop
    return config


def _clean_keys(kit_name: str, tmp: Path) -> dict[str, set[tuple]]:
    """The PK-merged result of a run without faults (one per tap per session: the sandbox data is seeded)."""
    if kit_name not in _clean:
        kit = KITS[kit_name]
        with kit.serve() as server:
            _clean[kit_name] = pk_merged(run_tap(kit.load_class(), _config(kit_name, server.app, server.url, tmp)))
    return _clean[kit_name]


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("kit_name", sorted(KITS))
def test_transient_fault_on_the_listing_loses_nothing(kit_name: str, fault: str, tmp_path: Path) -> None:
    kit = KITS[kit_name]
    clean = _clean_keys(kit_name, tmp_path / "clean")
    with kit.serve() as server:
        spec = FAULTS[fault]()
        kind = spec.pop("kind")
        server.app.faults.add(kind, path=kit.endpoints[LISTING[kit_name]], **spec)
        run = run_tap(kit.load_class(), _config(kit_name, server.app, server.url, tmp_path / "run"))
        fired = list(server.app.faults.fired)
    assert fired, f"the {fault} fault never fired on {kit.endpoints[LISTING[kit_name]]}"
    got = pk_merged(run)
    for stream, keys in clean.items():
        assert got.get(stream, set()) == keys, f"{stream}: lost {len(keys - got.get(stream, set()))}, " \
                                               f"extra {len(got.get(stream, set()) - keys)}"
