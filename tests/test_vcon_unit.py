"""Unit tests of the vCon exporter: uuid, dates, content hashes, file checks, bad input."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import jsonschema
import pytest

from conversation_archive import cli
from conversation_archive.vcon import check_file, hex_to_content_hash, vcon_date, vcon_uuid

SCHEMA = json.loads((Path(__file__).parents[1] / "conversation_archive" / "vcon.schema.json").read_text(encoding="utf-8"))


def test_vcon_uuid_is_a_stable_version_8_uuid() -> None:
    value = vcon_uuid("zoom_aic:ABCDEF123456:doc-1")
    parsed = uuid.UUID(value)
    assert parsed.version == 8 and parsed.variant == uuid.RFC_4122
    assert value == vcon_uuid("zoom_aic:ABCDEF123456:doc-1")
    assert value != vcon_uuid("zoom_aic:ABCDEF123456:doc-2")
    h = hashlib.md5(b"vcon:zoom_aic:ABCDEF123456:doc-1", usedforsecurity=False).hexdigest()
    # every bit but the 4 version and 2 variant bits comes from the hash
    assert value.replace("-", "")[:12] == h[:12] and value.replace("-", "")[13:16] == h[13:16]
    assert value.replace("-", "")[17:] == h[17:]


def test_vcon_date_is_rfc3339_utc() -> None:
    naive_utc = datetime(2021, 4, 29, 5, 24, 18, tzinfo=timezone.utc).replace(tzinfo=None)  # as the archive stores it
    assert vcon_date(naive_utc) == "2021-04-29T05:24:18Z"
    assert vcon_date(naive_utc.replace(microsecond=120000)) == "2021-04-29T05:24:18.12Z"
    assert vcon_date(datetime(2021, 4, 29, 7, 24, 18, tzinfo=timezone(timedelta(hours=2)))) == "2021-04-29T05:24:18Z"
    assert vcon_date(None) is None


def test_content_hash_token_is_base64url_without_padding() -> None:
    digest = hashlib.sha256(b"abc").hexdigest()
    token = hex_to_content_hash("sha256", digest)
    assert token == "sha256-" + base64.urlsafe_b64encode(bytes.fromhex(digest)).decode().rstrip("=")
    assert "=" not in token and "+" not in token and "/" not in token
    jsonschema.validate(token, {"$ref": "#/$defs/content_hash_token", "$defs": SCHEMA["$defs"]})


def test_check_file_hashes_and_detects_a_changed_file(tmp_path: Path) -> None:
    path = tmp_path / "a.opus"
    path.write_bytes(b"audio" * 1000)
    good = check_file(path.as_uri(), hashlib.sha256(path.read_bytes()).hexdigest())
    assert good.problem is None
    assert good.sha512 == base64.urlsafe_b64encode(hashlib.sha512(path.read_bytes()).digest()).decode().rstrip("=")
    changed = check_file(path.as_uri(), "0" * 64)
    assert changed.problem is not None
    assert changed.sha512 is None and "changed since it was archived" in changed.problem
    missing = check_file((tmp_path / "gone.opus").as_uri(), "0" * 64)
    assert missing.problem is not None
    assert missing.sha512 is None and "cannot read" in missing.problem


def test_schema_rejects_what_core_04_forbids() -> None:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    base = {"uuid": vcon_uuid("x"), "created_at": "2026-01-01T00:00:00Z", "parties": [{}]}
    text = {"type": "text", "start": "2026-01-01T00:00:00Z", "parties": [0], "mediatype": "text/plain",
            "encoding": "none", "body": "hi"}
    assert validator.is_valid({**base, "dialog": [text]})
    assert not validator.is_valid({k: v for k, v in base.items() if k != "created_at"})
    assert not validator.is_valid({**base, "vcon": "0.3.0"})
    assert not validator.is_valid({**base, "dialog": [{**text, "type": "chat"}]})
    assert not validator.is_valid({**base, "dialog": [{**text, "url": "https://x/y"}]})  # body and url
    no_hash = {k: v for k, v in text.items() if k not in ("body", "encoding")} | {"url": "https://x/y"}
    assert not validator.is_valid({**base, "dialog": [no_hash]})
    rec_set = {"type": "recording-set", "start": "2026-01-01T00:00:00Z", "parties": [0]}
    assert not validator.is_valid({**base, "dialog": [rec_set]})  # recordings missing
    assert validator.is_valid({**base, "dialog": [{**rec_set, "recordings": []}]})
    assert not validator.is_valid({**base, "dialog": [{**text, "recording_set": 0}]})
    assert not validator.is_valid({**base, "attachments": [{"start": "2026-01-01T00:00:00Z", "body": "x", "encoding": "none"}]})


def test_export_names_a_missing_warehouse_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["export-vcon", "--warehouse", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"export-vcon: --warehouse {tmp_path / 'none.duckdb'}: no such file"


def test_export_asks_for_the_dbt_build_when_the_archive_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "raw.duckdb"
    duckdb.connect(str(db)).close()
    assert cli.main(["export-vcon", "--warehouse", str(db), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "build the archive first: meltano invoke dbt-duckdb build" in err and "Traceback" not in err
