"""End to end: the five taps into DuckDB, dbt builds ``archive.*`` (as Meltano runs it), vCon export.

One module-scoped warehouse: every sandbox is started on a free port, ``meltano run``
loads all five taps with ``target-duckdb`` and then runs ``dbt-duckdb:build`` (models
and every dbt test, reconciliation included). The tests then reconcile the archive's
counts with the raw tap tables (parsed here in Python, independently of the SQL),
break the warehouse on purpose to see the dbt reconciliation fail, and export vCons.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import typing as t
from collections import Counter
from pathlib import Path

import duckdb
import jsonschema
import pytest

from conversation_archive.vcon import vcon_uuid
from sandboxes.base import SandboxServer
from sandboxes.foundry_aip import FoundryAIPSandbox
from sandboxes.knovvu import KnovvuSandbox
from sandboxes.kore_agentai import KoreAgentAISandbox
from sandboxes.salesloft import SalesloftSandbox
from sandboxes.zoom_aic import ZoomAICSandbox
from tests.helpers import REPO
from tests.meltano_harness import ensure_installed, meltano

pytestmark = pytest.mark.e2e

SCHEMA = json.loads((REPO / "conversation_archive" / "vcon.schema.json").read_text(encoding="utf-8"))
CLI = str(Path(sys.executable).parent / "conversation-archive")
TAPS = ["tap-zoom-aic", "tap-knovvu", "tap-salesloft", "tap-foundry-aip", "tap-kore-agentai"]


def tap_env(tap: str, config: dict[str, t.Any]) -> dict[str, str]:
    """``TAP_<NAME>_<SETTING>`` overrides for every key of a sandbox's demo config."""
    prefix = tap.upper().replace("-", "_")
    return {f"{prefix}_{k.upper()}": json.dumps(v) if isinstance(v, list) else str(v) for k, v in config.items()}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> dict[str, t.Any]:
    """Load every sandbox through Meltano into a fresh DuckDB file and build the archive."""
    for tap in TAPS:
        ensure_installed("extractor", tap)
    ensure_installed("loader", "target-duckdb")
    if not (REPO / ".meltano" / "utilities" / "dbt-duckdb" / "venv" / "bin" / "dbt").exists():
        meltano("install", "--plugin-type=utility", "dbt-duckdb")
    tmp = tmp_path_factory.mktemp("archive")
    db = tmp / "warehouse.duckdb"
    apps = {
        "tap-zoom-aic": ZoomAICSandbox(),
        "tap-knovvu": KnovvuSandbox(downloads_per_hour=10_000),
        "tap-salesloft": SalesloftSandbox(conversations=120),
        "tap-foundry-aip": FoundryAIPSandbox(sessions_per_agent=(40, 25)),
        "tap-kore-agentai": KoreAgentAISandbox(),
    }
    servers = {tap: SandboxServer(app).start() for tap, app in apps.items()}
    try:
        env = {
            "MELTANO_ENVIRONMENT": "dev",
            "TARGET_DUCKDB_FILEPATH": str(db),
            "MELTANO_STATE_BACKEND_URI": f"file://{tmp / 'state'}",
            "DBT_DUCKDB_DUCKDB_PATH": str(db),
            "DBT_DUCKDB_TARGET_PATH": str(tmp / "dbt-target"),
            "DBT_DUCKDB_LOG_PATH": str(tmp / "dbt-logs"),
        }
        for tap, server in servers.items():
            env.update(tap_env(tap, apps[tap].demo_config(server.url)))
        env["TAP_ZOOM_AIC_STORAGE_URL"] = str(tmp / "storage" / "zoom_aic")
        env["TAP_KNOVVU_STORAGE_URL"] = str(tmp / "storage" / "knovvu")
        env["TAP_SALESLOFT_STORAGE_URL"] = str(tmp / "storage" / "salesloft")
        env["TAP_KNOVVU_DOWNLOADS_PER_HOUR"] = "0"
        blocks = [arg for tap in TAPS for arg in (tap, "target-duckdb")]
        with open(REPO / ".meltano" / "test-run.lock", "w") as lock:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
            run = meltano("run", *blocks, "dbt-duckdb:build", env=env, timeout=2400)
    finally:
        for server in servers.values():
            server.stop()
    return {"db": db, "tmp": tmp, "env": env, "apps": apps, "run": run}


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def archive_counts(db: Path, table: str) -> dict[str, int]:
    """Rows of archive.<table> per source (from the conversation key's prefix)."""
    rows = query(db, f"SELECT split_part(conversation_key, ':', 1), count(*) FROM archive.{table} GROUP BY 1")  # noqa: S608
    return dict(rows)


def test_dbt_build_ran_every_model_and_test(warehouse: dict[str, t.Any]) -> None:
    log = warehouse["run"].stdout + warehouse["run"].stderr
    assert "Completed successfully" in log
    for name in ("reconcile_zoom_aic_messages", "reconcile_zoom_aic_files", "reconcile_knovvu_files",
                 "reconcile_salesloft_messages", "reconcile_foundry_aip_messages",
                 "reconcile_kore_agentai_messages", "reconcile_conversations", "reconcile_salesloft_files"):
        assert f"PASS {name}" in log, name
    sources = dict(query(warehouse["db"], "SELECT source, count(*) FROM archive.conversations GROUP BY 1"))
    assert set(sources) == {"zoom_aic", "knovvu", "salesloft", "foundry_aip", "kore_agentai"}


def test_every_source_reconciles_with_its_raw_tables(warehouse: dict[str, t.Any]) -> None:
    """Counts per source computed here from the raw tap tables equal the archive's."""
    db = warehouse["db"]
    # Zoom: the parsed history files; a conversation may sit in two files (window boundary)
    zoom_conv: set[tuple[str, str]] = set()
    zoom_msgs: set[tuple[str, str, int]] = set()
    for user_id, content in query(db, "SELECT user_id, content FROM tap_zoom_aic.conversation_histories"):
        for conv in json.loads(content)["conversations"]:
            zoom_conv.add((user_id, conv["conversation_id"]))
            zoom_msgs.update((user_id, conv["conversation_id"], i) for i in range(len(conv["messages"])))
    zoom_files = query(db, "SELECT count(DISTINCT storage_uri) FROM tap_zoom_aic.archive_attachments")[0][0]
    knovvu = query(db, 'SELECT count(DISTINCT coalesce(externalconversationid, sessionid)), count(*) '
                       "FROM tap_knovvu.recording_files WHERE storage_uri IS NOT NULL")[0]
    salesloft_sentences = query(db, "SELECT count(*) FROM tap_salesloft.transcription_sentences")[0][0]
    salesloft_convs = query(db, "SELECT count(DISTINCT id) FROM tap_salesloft.conversations")[0][0]
    foundry_texts = 0
    for user_input, result in query(db, "SELECT userinput, result FROM tap_foundry_aip.session_exchanges"):
        foundry_texts += (json.loads(user_input or "{}") or {}).get("text") is not None
        foundry_texts += (json.loads(result or "{}") or {}).get("agentMarkdownResponse") is not None
    kore_texts = sum(
        1
        for (components,) in query(db, "SELECT components FROM tap_kore_agentai.conversation_messages")
        for c in json.loads(components or "[]")
        if (c.get("data") or {}).get("text") is not None
    )
    conversations = archive_counts(db, "conversations")
    messages = archive_counts(db, "messages")
    media = dict(query(db, "SELECT split_part(conversation_key, ':', 1) || '/' || kind, count(*) "
                           "FROM archive.media_files GROUP BY 1"))

    assert conversations["zoom_aic"] == len(zoom_conv)
    assert messages["zoom_aic"] == len(zoom_msgs)
    assert media["zoom_aic/attachment"] == zoom_files > 0
    assert media["zoom_aic/history_file"] >= query(db, "SELECT count(DISTINCT storage_uri) FROM tap_zoom_aic.conversation_histories")[0][0]
    assert (conversations["knovvu"], media["knovvu/recording"]) == knovvu
    assert "knovvu" not in messages
    assert messages["salesloft"] == salesloft_sentences > 0
    assert conversations["salesloft"] >= salesloft_convs
    salesloft_files = query(db, "SELECT count(DISTINCT storage_uri) FROM tap_salesloft.transcription_artifacts")[0][0]
    assert media["salesloft/transcript"] == salesloft_files == query(
        db, "SELECT count(DISTINCT id) FROM tap_salesloft.transcriptions")[0][0] > 0
    assert {k for k in media if k.startswith("salesloft/")} == {"salesloft/transcript"}
    assert conversations["foundry_aip"] == query(db, "SELECT count(DISTINCT rid) FROM tap_foundry_aip.sessions")[0][0]
    assert messages["foundry_aip"] == foundry_texts > 0
    assert conversations["kore_agentai"] == query(db, "SELECT count(DISTINCT _id) FROM tap_kore_agentai.conversations")[0][0]
    assert messages["kore_agentai"] == kore_texts > 0


def test_knovvu_recordings_match_what_the_sandbox_served(warehouse: dict[str, t.Any]) -> None:
    """Every file the Knovvu emulator served is one archive recording with the emulator's sha256."""
    expected = warehouse["apps"]["tap-knovvu"].expected_files()
    archived = query(warehouse["db"], "SELECT filename, sha256 FROM archive.media_files WHERE kind = 'recording'")
    assert len(archived) == len(expected) > 0
    assert Counter(archived) == Counter((name, meta["sha256"]) for (_, _, _, name), meta in expected.items())


def test_salesloft_transcripts_are_the_files_the_sandbox_served(warehouse: dict[str, t.Any]) -> None:
    """Every transcript file in the archive has the sha256 and size of the bytes Salesloft served, in its conversation."""
    app = warehouse["apps"]["tap-salesloft"]
    rows = query(warehouse["db"], "SELECT conversation_key, source_file_id, mediatype, sha256, size_bytes, storage_uri "
                                  "FROM archive.media_files WHERE kind = 'transcript'")
    assert len(rows) == len(app.transcriptions) > 0
    for key, transcription_id, mediatype, sha256, size, uri in rows:
        served = app.artifact_bytes(transcription_id)
        assert key == f"salesloft:{app.transcriptions[transcription_id]['conversation']['id']}"
        assert (sha256, size, mediatype) == (hashlib.sha256(served).hexdigest(), len(served), "application/json")
        assert Path(uri.removeprefix("file://")).read_bytes() == served


def test_archive_rows_are_consistent(warehouse: dict[str, t.Any]) -> None:
    db = warehouse["db"]
    # the counts columns agree with the child tables
    bad = query(db, """
        SELECT c.conversation_key FROM archive.conversations c
        WHERE c.message_count <> (SELECT count(*) FROM archive.messages m WHERE m.conversation_key = c.conversation_key)
           OR c.party_count <> (SELECT count(*) FROM archive.parties p WHERE p.conversation_key = c.conversation_key)
           OR c.media_count <> (SELECT count(*) FROM archive.media_files f WHERE f.conversation_key = c.conversation_key)""")
    assert bad == []
    # the SQL uuid and the exporter's agree, and they are RFC 9562 version 8
    for key, uuid in query(db, "SELECT conversation_key, vcon_uuid FROM archive.conversations"):
        assert uuid == vcon_uuid(key)
        assert uuid[14] == "8" and uuid[19] in "89ab"
    # unicode reaches the archive as is
    assert query(db, "SELECT count(*) FROM archive.messages WHERE text LIKE '%🎉%' OR text LIKE '%Zoë%'")[0][0] > 0


def test_reconciliation_tests_fail_when_the_archive_loses_or_alters_a_record(warehouse: dict[str, t.Any]) -> None:
    broken = warehouse["tmp"] / "broken.duckdb"
    shutil.copy(warehouse["db"], broken)
    with duckdb.connect(str(broken)) as con:
        con.execute("DELETE FROM archive.messages WHERE message_key = "
                    "(SELECT min(message_key) FROM archive.messages WHERE conversation_key LIKE 'salesloft:%')")
        con.execute("UPDATE archive.media_files SET sha256 = repeat('0', 64) WHERE media_key = "
                    "(SELECT min(media_key) FROM archive.media_files WHERE kind = 'recording')")
        con.execute("INSERT INTO archive.messages SELECT * FROM archive.messages WHERE message_key = "
                    "(SELECT min(message_key) FROM archive.messages WHERE conversation_key LIKE 'kore_agentai:%')")
        con.execute("UPDATE archive.media_files SET sha256 = repeat('0', 64) WHERE media_key = "
                    "(SELECT min(media_key) FROM archive.media_files WHERE kind = 'transcript')")
        con.execute("DELETE FROM archive.media_files WHERE media_key = "
                    "(SELECT max(media_key) FROM archive.media_files WHERE kind = 'transcript')")
    env = {**warehouse["env"], "DBT_DUCKDB_DUCKDB_PATH": str(broken)}
    with pytest.raises(AssertionError) as failed:
        meltano("invoke", "dbt-duckdb", "test", "--select",
                "reconcile_salesloft_messages reconcile_knovvu_files reconcile_kore_agentai_messages "
                "reconcile_foundry_aip_messages reconcile_salesloft_files", env=env)
    log = str(failed.value)
    assert "FAIL 2 reconcile_salesloft_files" in log
    assert "FAIL 1 reconcile_salesloft_messages" in log
    assert "FAIL 1 reconcile_knovvu_files" in log
    assert "FAIL 1 reconcile_kore_agentai_messages" in log
    assert "PASS reconcile_foundry_aip_messages" in log


def export(db: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, "export-vcon", "--warehouse", str(db), "--out", str(out)],
                          capture_output=True, text=True, timeout=600, check=False)


def _b64(hex_digest: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(hex_digest)).decode().rstrip("=")


def test_vcon_export_writes_one_valid_stable_file_per_conversation(warehouse: dict[str, t.Any]) -> None:
    db, out = warehouse["db"], warehouse["tmp"] / "vcon"
    first = export(db, out)
    assert first.returncode == 0, first.stderr
    convs = dict(query(db, "SELECT vcon_uuid, conversation_key FROM archive.conversations"))
    files = {p.name: p.read_bytes() for p in out.glob("*.vcon.json")}
    assert set(files) == {f"{u}.vcon.json" for u in convs}
    for source in ("zoom_aic", "knovvu", "salesloft", "foundry_aip", "kore_agentai"):
        assert any(line.startswith(source) for line in first.stdout.splitlines()), first.stdout

    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    vcons = {}
    for name, data in files.items():
        vcon = json.loads(data)
        errors = sorted(validator.iter_errors(vcon), key=str)
        assert not errors, f"{name}: {errors[0].message} at {list(errors[0].absolute_path)}"
        assert "vcon" not in vcon  # deprecated by core-04
        vcons[convs[vcon["uuid"]]] = vcon

    messages = query(db, "SELECT conversation_key, text FROM archive.messages ORDER BY conversation_key, sequence")
    bodies = Counter((k, d["body"]) for k, v in vcons.items() for d in v.get("dialog", []) if d["type"] == "text")
    assert bodies == Counter(messages)
    media = query(db, "SELECT conversation_key, kind, storage_uri, sha256 FROM archive.media_files")
    refs = {(k, d["url"]): d["content_hash"] for k, v in vcons.items()
            for d in [*v.get("dialog", []), *v.get("attachments", [])] if "url" in d}
    assert len(refs) == len(media)
    for key, _kind, uri, sha256 in media:
        sha512 = hashlib.sha512(Path(uri.removeprefix("file://")).read_bytes()).digest()
        assert refs[(key, uri)] == [f"sha512-{base64.urlsafe_b64encode(sha512).decode().rstrip('=')}", f"sha256-{_b64(sha256)}"]
    transcripts = Counter(k for k, _kind, _uri, _sha in media if _kind == "transcript")
    for key, vcon in vcons.items():
        if key.startswith("salesloft:"):  # the transcript file rides along as an attachment, from Salesloft
            attached = [a for a in vcon.get("attachments", []) if a["purpose"] == "transcript"]
            assert len(attached) == transcripts[key]
            for a in attached:
                assert a["mediatype"] == "application/json" and a["url"].startswith("file://")
                assert vcon["parties"][a["party"]] == {"name": "Salesloft", "validation": "none", "type": "organization"}
        if key.startswith("knovvu:"):
            rec = [i for i, d in enumerate(vcon["dialog"]) if d["type"] == "recording"]
            sets = [d for d in vcon["dialog"] if d["type"] == "recording-set"]
            assert len(sets) == 1 and sets[0]["recordings"] == rec
            assert {vcon["dialog"][i]["recording_set"] for i in rec} == {vcon["dialog"].index(sets[0])}

    again = export(db, out)
    assert again.returncode == 0, again.stderr
    assert {p.name: p.read_bytes() for p in out.glob("*.vcon.json")} == files
    total = next(line for line in again.stdout.splitlines() if line.startswith("total"))
    assert total.split("|")[-2].strip() == "0"  # written: none


def test_vcon_export_names_a_missing_stored_file(warehouse: dict[str, t.Any]) -> None:
    copy = warehouse["tmp"] / "missing.duckdb"
    shutil.copy(warehouse["db"], copy)
    gone = "file:///nonexistent/archive/lost-recording.opus"
    with duckdb.connect(str(copy)) as con:
        row = con.execute("SELECT min(media_key) FROM archive.media_files WHERE kind = 'recording'").fetchone()
        assert row is not None
        key = row[0]
        con.execute("UPDATE archive.media_files SET storage_uri = ? WHERE media_key = ?", [gone, key])
    out = warehouse["tmp"] / "vcon-missing"
    proc = export(copy, out)
    assert proc.returncode == 1
    assert gone in proc.stderr and "WARNING" in proc.stderr
    hashes = [d["content_hash"] for p in out.glob("*.vcon.json") for d in json.loads(p.read_text()).get("dialog", [])
              if d.get("url") == gone]
    assert len(hashes) == 1 and len(hashes[0]) == 1 and hashes[0][0].startswith("sha256-")


def readme_queries() -> list[str]:
    """The ```sql blocks of the README's archive section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## The unified archive (dbt) and vCon export", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in section.split("```sql\n")[1:]]


def test_readme_example_queries_run_and_find_rows(warehouse: dict[str, t.Any]) -> None:
    queries = readme_queries()
    assert len(queries) == 3
    said, per_day, files = (query(warehouse["db"], q) for q in queries)
    assert said and {row[0] for row in said} == {"zoom_aic"}
    assert {row[0] for row in per_day} == {"zoom_aic", "knovvu", "salesloft", "foundry_aip", "kore_agentai"}
    assert files and all(len(row[4]) == 64 for row in files)
