"""The fault matrix: every transient fault on every endpoint each tap calls loses nothing.

For every endpoint in each ``TapKit`` (API listings and children, OAuth token
endpoints, file downloads) the sandbox arms one fault on the first request to it
(``sandboxes/faults.py``):

* 429 with ``Retry-After`` in seconds, and as an HTTP date;
* a burst of three 503s;
* a dropped connection (closed without an answer);
* a response slower than ``request_timeout`` (the config gets ``request_timeout: 1``
  and the sandbox waits 1.5 s before answering); on downloads also a body that stalls
  past it after the headers were sent;
* truncated JSON: a complete HTTP answer (``Content-Length`` matching) whose body is
  the first half of the real one (for a file: a file shorter than announced);
* a short body: ``Content-Length`` of the whole body, half of it sent, the connection
  closed (``IncompleteRead``);
* on answers that carry records: every record gets an unexpected extra field, and a
  permissive (any-JSON) field, where the stream has one, a type the docs do not show.

Each case asserts that the fault fired, that the run ended without error, that its
primary-key-merged result equals a clean run's (0 lost, 0 extra), that every stored
file matches the sha256 its record gives with no partial or unvouched file left and
the stored files are byte for byte a clean run's (a file cut short is never kept),
and, for the unexpected-field case, that every record is valid against its declared
schema and the surprising value was kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import typing as t
from email.utils import formatdate
from pathlib import Path

import pytest

from tests.conformance.kit import KITS, Answer, TapKit, assert_files_match, assert_records_match_schemas, pk_merged
from tests.helpers import TapRun, run_tap

#: seconds a ``stall`` waits before answering; the faulted run's ``request_timeout`` is 1 (the minimum)
STALL_SECONDS = 1.5
#: an unexpected member added to every record of a mutated answer
EXTRA_FIELD = {"x_unexpected_member": {"not": ["in", "the", "docs"]}}


def _add_unexpected(answer: Answer) -> t.Callable[[t.Any], t.Any]:
    """The ``mutate`` transform for ``answer``: an extra field (and the loose value) on each record."""

    def mark(record: t.Any) -> None:
        if isinstance(record, dict):
            record.update(EXTRA_FIELD)
            record.update(json.loads(json.dumps(answer.loose)))

    def transform(body: t.Any) -> t.Any:
        if not isinstance(body, dict):
            return body
        found = body if answer.records == "" else body.get(answer.records or "")
        for record in found if isinstance(found, list) else [found]:
            mark(record)
        return body

    return transform


#: fault name -> ``faults.add`` options (``kind`` first); ``mutate`` gets its transform per endpoint
FAULTS: dict[str, dict[str, t.Any]] = {
    "429-retry-after-seconds": {"kind": "status", "status": 429, "headers": {"Retry-After": "0"}},
    "429-retry-after-http-date": {"kind": "status", "status": 429, "headers": {"Retry-After": "<now>"}},
    "5xx-burst": {"kind": "status", "status": 503, "times": 3},
    "dropped-connection": {"kind": "drop"},
    "slower-than-timeout": {"kind": "stall", "seconds": STALL_SECONDS},
    "body-stalls-past-timeout": {"kind": "slow", "seconds": STALL_SECONDS},
    "truncated-json": {"kind": "cut"},
    "short-body": {"kind": "truncate"},
    "unexpected-field-and-type": {"kind": "mutate"},
}


def _spec(fault: str, answer: Answer) -> dict[str, t.Any] | None:
    """The options arming ``fault`` on an endpoint answering ``answer``; ``None`` where it does not apply."""
    spec = json.loads(json.dumps(FAULTS[fault]))
    if spec["kind"] == "slow" and answer.kind != "download":
        return None  # headers sent, then the body stalls: streamed files only (API bodies are read whole)
    if spec["kind"] == "mutate":
        if answer.records is None:
            return None  # token answers and files carry no records
        spec["transform"] = _add_unexpected(answer)
    if spec.get("headers", {}).get("Retry-After") == "<now>":
        spec["headers"]["Retry-After"] = formatdate(usegmt=True)
    return spec


CASES = [(kit.name, endpoint, fault) for kit in KITS.values() for endpoint in kit.endpoints for fault in FAULTS
         if _spec(fault, kit.answers[endpoint]) is not None]

_clean: dict[str, tuple[dict[str, set[tuple]], dict[str, str]]] = {}


def _config(kit: TapKit, app: t.Any, url: str, tmp: Path) -> dict:
    config = kit.config(app, url, tmp)
    if kit.name == "knovvu":
        config["wait_on_rate_limit"] = True  # a 429 is waited out as Knovvu asks, not a stop
    return config


def _clean_run(kit: TapKit, tmp: Path) -> tuple[dict[str, set[tuple]], dict[str, str]]:
    """A run without faults: its PK-merged result and its stored files (key -> sha256), one per tap per
    session (the sandbox data is seeded, so every fresh sandbox serves the same)."""
    if kit.name not in _clean:
        with kit.serve() as server:
            config = _config(kit, server.app, server.url, tmp)
            keys = pk_merged(run_tap(kit.load_class(), config))
        _clean[kit.name] = (keys, _stored(Path(config["storage_url"])) if "storage_url" in config else {})
    return _clean[kit.name]


def _clean_keys(kit: TapKit, tmp: Path) -> dict[str, set[tuple]]:
    """The PK-merged result of a clean run (``_clean_run``)."""
    return _clean_run(kit, tmp)[0]


def _stored(storage: Path) -> dict[str, str]:
    """Every file under ``storage``: its key (path relative to ``storage``) -> sha256."""
    return {str(p.relative_to(storage)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in storage.rglob("*") if p.is_file()}


def _assert_kept(run: TapRun, loose: dict[str, t.Any]) -> None:
    """The loose value reached the output as the vendor sent it (not dropped, not nulled)."""
    for name, value in loose.items():
        assert any(r.get(name) == value for records in run.records.values() for r in records), \
            f"no record kept the permissive field {name!r} as sent"


@pytest.mark.parametrize(("kit_name", "endpoint", "fault"), CASES, ids=["-".join(c) for c in CASES])
def test_fault_on_every_endpoint_loses_nothing(kit_name: str, endpoint: str, fault: str, tmp_path: Path) -> None:
    kit = KITS[kit_name]
    answer = kit.answers[endpoint]
    clean, clean_files = _clean_run(kit, tmp_path / "clean")
    spec = _spec(fault, answer)
    assert spec is not None
    kind = spec.pop("kind")
    with kit.serve() as server:
        server.app.faults.add(kind, path=kit.endpoints[endpoint], **spec)
        config = _config(kit, server.app, server.url, tmp_path / "run")
        if kind in ("stall", "slow"):
            config["request_timeout"] = 1
        run = run_tap(kit.load_class(), config, expect_error=True)
        fired = list(server.app.faults.fired)
    assert fired, f"the {fault} fault never fired on {kit.endpoints[endpoint]}"
    assert run.error is None, f"{fault} on {endpoint} ended the run: {type(run.error).__name__}: {run.error}"
    got = pk_merged(run)
    for stream, keys in clean.items():
        have = got.get(stream, set())
        assert have == keys, f"{stream}: lost {len(keys - have)}, extra {len(have - keys)}"
    if "storage_url" in config:
        assert_files_match([run], Path(config["storage_url"]))
        stored = _stored(Path(config["storage_url"]))
        differ = sorted(k for k in clean_files.keys() | stored.keys() if clean_files.get(k) != stored.get(k))
        assert not differ, f"{len(differ)} stored file(s) differ from a clean run's, e.g. {differ[:3]}"
    if kind == "mutate":
        assert_records_match_schemas(run)
        _assert_kept(run, answer.loose)


DOWNLOADS = [(kit.name, endpoint) for kit in KITS.values() for endpoint, answer in kit.answers.items()
             if answer.kind == "download"]


@pytest.mark.parametrize(("kit_name", "endpoint"), DOWNLOADS, ids=["-".join(c) for c in DOWNLOADS])
def test_a_download_cut_short_every_time_ends_clearly_and_the_next_run_gets_it(
        kit_name: str, endpoint: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Where retrying cannot help (the file is cut short on every attempt) the run says so in one line naming
    the download, leaves no partial file under a final name, and its bookmark does not pass the file:
    a next run from its last STATE, the fault gone, completes the PK-merged result.

    Salesloft and Zoom end the run non-zero at the end (state written); Knovvu, by design, archives the
    other hours, exits 0 and logs the failed hour as an ERROR (kept open in state, retried next run)."""
    kit = KITS[kit_name]
    clean = _clean_keys(kit, tmp_path / "clean")
    with kit.serve() as server:
        fault = server.app.faults.add("truncate", path=kit.endpoints[endpoint], times=10_000)
        config = _config(kit, server.app, server.url, tmp_path / "run")
        with caplog.at_level(logging.ERROR):
            failed = run_tap(kit.load_class(), config, expect_error=True)
        fired = len(server.app.faults.fired)
        fault.times = 0
        assert fired > 1, "the download was not retried"
        said = [str(failed.error)] if failed.error is not None else \
            [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("kept failing" in m and "\n" not in m for m in said), f"no one-line error named the download: {said}"
        if kit_name != "knovvu":
            assert failed.error is not None, "a file cut short on every attempt did not fail the run"
        assert_files_match([failed], Path(config["storage_url"]), unvouched_ok=True)
        resumed = run_tap(kit.load_class(), config, state=failed.final_state or None)
    got = pk_merged([failed, resumed])
    for stream, keys in clean.items():
        have = got.get(stream, set())
        assert have == keys, f"{stream}: lost {len(keys - have)}, extra {len(have - keys)}"
    assert_files_match([failed, resumed], Path(config["storage_url"]))
