"""End to end: `meltano run tap-salesloft target-duckdb` against the sandbox into a fresh DuckDB file."""

from __future__ import annotations

import hashlib

import pytest

from sandboxes.base import SandboxServer
from sandboxes.salesloft import SalesloftSandbox
from tests.meltano_harness import ensure_installed, meltano_run, table_counts, table_rows

pytestmark = pytest.mark.e2e


def test_meltano_run_loads_every_row(tmp_path) -> None:
    ensure_installed("extractor", "tap-salesloft")
    ensure_installed("loader", "target-duckdb")
    app = SalesloftSandbox(budget=1_000_000)
    with SandboxServer(app) as server:
        db, _ = meltano_run("tap-salesloft", "target-duckdb", tmp_path, {
            "TAP_SALESLOFT_API_URL": server.url,
            "TAP_SALESLOFT_API_KEY": app.api_key,
            "TAP_SALESLOFT_STORAGE_URL": str(tmp_path / "storage"),
        })
    counts = table_counts(db)
    expected_sentences = {(tr, s["order_number"]) for tr, rows in app.sentences.items() for s in rows}
    assert counts == {
        "tap_salesloft.conversations": len(app.conversations),
        "tap_salesloft.transcriptions": len(app.transcriptions),
        "tap_salesloft.transcription_sentences": len(expected_sentences),
        "tap_salesloft.transcription_artifacts": len(app.transcriptions),
    }  # conversation_extensive is deselected in meltano.yml
    assert {r[0] for r in table_rows(db, "tap_salesloft", "conversations", ["id"])} == set(app.conversations)
    assert set(table_rows(db, "tap_salesloft", "transcription_sentences", ["transcription_id", "order_number"])) == expected_sentences
    hashes = dict(table_rows(db, "tap_salesloft", "transcription_artifacts", ["transcription_id", "sha256"]))
    assert hashes == {tr: hashlib.sha256(app.artifact_bytes(tr)).hexdigest() for tr in app.transcriptions}
    titles = dict(table_rows(db, "tap_salesloft", "conversations", ["id", "title"]))
    assert all(titles[cid] == conv["title"] for cid, conv in app.conversations.items())  # unicode, quotes, newlines survive
