"""Meltano's S3 state backend shared by two workers, with the files on S3 too.

Two Meltano projects in different working folders (each its own
``.meltano/`` system database, the plugins shared) run
``tap-zoom-aic target-duckdb`` (each into its own DuckDB file) with ``state_backend.uri: s3://…`` on a local
S3-compatible server (moto, over HTTP) and ``storage_url: s3://…``. Worker A
reads up to a midpoint (``end_date``); worker B, from the other folder,
continues from A's bookmark (the lookback is 0): B reads nothing before A's
bookmark, and together they deliver every conversation one run from no state
delivers. Every stored file's
sha256 and size on S3 equal its record's, and the AWS secret appears in no
output, record or state.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from sandboxes.base import SandboxServer
from sandboxes.zoom_aic import ZoomAICSandbox
from taps.common.timestamps import parse_timestamp
from taps.zoom_aic.tap import TapZoomAIC
from tests.helpers import REPO, run_tap
from tests.meltano_harness import MELTANO, ensure_installed
from tests.servers import S3Server

pytestmark = [pytest.mark.s3, pytest.mark.e2e]

# target-duckdb, not target-jsonl: target-jsonl forgets the last STATE when a RECORD follows it
# (tap-zoom-aic ends a run with a users record), so a run into it saves no new bookmark
STATE_ID = "dev:tap-zoom-aic-to-target-duckdb"


def _worker(folder: Path) -> Path:
    """A Meltano project in ``folder``: the repository's meltano.yml and installed plugins, its own system db."""
    (folder / ".meltano").mkdir(parents=True)
    shutil.copy(REPO / "meltano.yml", folder / "meltano.yml")
    for kind in ("extractors", "loaders"):
        (folder / ".meltano" / kind).symlink_to(REPO / ".meltano" / kind)
    return folder


def _run(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([MELTANO, *args], cwd=folder, capture_output=True, text=True, timeout=1200, check=False,
                          env={**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **env})
    assert proc.returncode == 0, f"meltano {' '.join(args)} in {folder} failed:\n{proc.stderr[-6000:]}"
    return proc


def _records(folder: Path, stream: str) -> list[dict]:
    """The rows the worker loaded for ``stream``, timestamps as UTC ISO strings (``...Z``)."""
    with duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True) as con:
        found = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'tap_zoom_aic' "
                            "AND table_name = ?", [stream]).fetchone()
        if not found or not found[0]:
            return []
        cur = con.execute(f'SELECT * FROM tap_zoom_aic."{stream}"')  # noqa: S608 - test-owned identifier
        assert cur.description is not None
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return [{k: v.strftime("%Y-%m-%dT%H:%M:%SZ") if isinstance(v, datetime) else v for k, v in row.items()}
            for row in rows]


def _conversations(histories: list[dict]) -> set[tuple]:
    """(user_id, conversation_id, message count) of every conversation in the history files' content."""
    found: set[tuple] = set()
    for record in histories:
        content = record["content"]
        content = json.loads(content) if isinstance(content, str) else content
        found.update((record["user_id"], c["conversation_id"], len(c["messages"])) for c in content["conversations"])
    return found


def test_two_workers_continue_each_others_state(tmp_path: Path, s3_server: S3Server, s3_bucket: str) -> None:
    ensure_installed("extractor", "tap-zoom-aic")
    ensure_installed("loader", "target-duckdb")
    app = ZoomAICSandbox()
    with SandboxServer(app) as server:
        config = {**app.demo_config(server.url), "storage_url": f"s3://{s3_bucket}/files"}
        # everything the tap emits in one run from no state, files in a local folder: the expectation
        reference = run_tap(TapZoomAIC, {**config, "storage_url": str(tmp_path / "reference")})
        # the midpoint: one second after the middle archive's end, so it splits the archives in two
        ends = sorted({parse_timestamp(r["end_time"]) for r in reference.records["conversation_archives"]})
        assert len(ends) >= 2, "the sandbox serves archives at two times at least"
        midpoint = (ends[(len(ends) - 1) // 2] + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        base = {
            **s3_server.env(),
            "MELTANO_ENVIRONMENT": "dev",
            "MELTANO_STATE_BACKEND_URI": f"s3://{s3_bucket}/meltano-state",
            **{f"TAP_ZOOM_AIC_{k.upper()}": str(v) for k, v in config.items()},
        }
        a, b = _worker(tmp_path / "worker-a"), _worker(tmp_path / "worker-b")
        run_a = _run(a, {**base, "TAP_ZOOM_AIC_END_DATE": midpoint, "TARGET_DUCKDB_FILEPATH": str(a / "warehouse.duckdb")},
                     "run", "tap-zoom-aic", "target-duckdb")
        state_a = json.loads(_run(b, base, "state", "get", STATE_ID).stdout)  # B sees A's state
        run_b = _run(b, {**base, "TARGET_DUCKDB_FILEPATH": str(b / "warehouse.duckdb")}, "run", "tap-zoom-aic", "target-duckdb")
        state_b = json.loads(_run(a, base, "state", "get", STATE_ID).stdout)  # and A sees B's

    bookmarks_a = _bookmarks(state_a)
    assert bookmarks_a, f"worker A left no bookmark in the shared state: {state_a}"
    assert all(parse_timestamp(v) <= parse_timestamp(midpoint) for v in bookmarks_a.values())
    archives_a, archives_b = _records(a, "conversation_archives"), _records(b, "conversation_archives")
    assert archives_a and archives_b, "the midpoint should split the sandbox's archives between the workers"
    for record in archives_b:  # B started where A stopped, per user: nothing A had already read
        assert parse_timestamp(record["start_time"]) >= parse_timestamp(bookmarks_a.get(record["user_id"], config["start_date"]))
    assert len(archives_b) < len(reference.records["conversation_archives"])
    # the archive windows follow each run's request range; the conversations in them do not
    together = _conversations(_records(a, "conversation_histories") + _records(b, "conversation_histories"))
    assert together == _conversations(reference.records["conversation_histories"])
    assert _conversations(_records(b, "conversation_histories")) < together
    assert set(_bookmarks(state_b).values()) != set(bookmarks_a.values()), json.dumps(state_b)[:3000]

    attachments = _records(a, "archive_attachments") + _records(b, "archive_attachments")
    assert attachments, "the sandbox serves attachments"
    expected = {(r["user_id"], r["file_id"]): (r["sha256"], r["size_bytes"])
                for r in reference.records["archive_attachments"]}
    assert {(r["user_id"], r["file_id"]): (r["sha256"], r["size_bytes"]) for r in attachments} == expected
    client = s3_server.client()
    for record in attachments:  # the object each record points to is whole
        assert record["storage_uri"].startswith(f"s3://{s3_bucket}/files/")
        key = record["storage_uri"].removeprefix(f"s3://{s3_bucket}/")
        body = client.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        assert (hashlib.sha256(body).hexdigest(), len(body)) == (record["sha256"], record["size_bytes"])

    secret = s3_server.secret_access_key
    outputs = [run_a.stdout, run_a.stderr, run_b.stdout, run_b.stderr, json.dumps(state_b)]
    outputs += [json.dumps(_records(folder, stream), default=str) for folder in (a, b)
                for stream in ("users", "conversation_archives", "conversation_histories", "archive_attachments")]
    assert not [text for text in outputs if secret in text]


def _bookmarks(state: dict) -> dict[str, str]:
    """user_id -> conversation_archives bookmark, from a Meltano state document."""
    streams = state.get("singer_state", state).get("bookmarks", {})
    partitions = streams.get("conversation_archives", {}).get("partitions", [])
    return {p["context"]["user_id"]: p["replication_key_value"]
            for p in partitions if p.get("replication_key_value") and "user_id" in p.get("context", {})}
