"""``storage_url: s3://bucket/prefix`` against a local S3-compatible server (moto, over HTTP).

What is checked: the keys, sizes and sha256 stored on S3 equal those of a
local folder for the same bytes (small, multi-part and empty files); a write
that fails, is refused or is killed mid-upload leaves no object under its
key (an older complete copy stays); credentials come from the AWS
environment variables and never reach an error message.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import typing as t
from pathlib import Path

import pytest

from taps.common.storage import FileIntegrityError, FileStore, open_url
from tests.helpers import REPO
from tests.servers import S3Server

pytestmark = pytest.mark.s3

MIB = 1 << 20


def _chunks(data: bytes, size: int = MIB) -> t.Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def _payloads() -> dict[str, bytes]:
    """Files of the shapes a tap stores: tiny, one part, an 8 MiB part plus a tail, empty."""
    seed = hashlib.sha256(b"conversation-archive").digest()
    big = (seed * ((13 * MIB) // len(seed) + 1))[: 13 * MIB + 12345]
    return {
        "u1/attachments/note — résumé.txt": "Merci 🙏 ça marche !\n".encode(),
        "u1/history/2025-10-01.json": b'{"a": 1}' * 5000,
        "2025-10-01/00/conv/session/audio.opus": big,
        "u2/attachments/empty.bin": b"",
    }


def test_s3_keys_sizes_and_sha256_equal_the_local_folder(s3_bucket: str, s3_server: S3Server, tmp_path: Path) -> None:
    local = FileStore(str(tmp_path / "storage"))
    remote = FileStore(f"s3://{s3_bucket}/archive/prefix")
    for key, data in _payloads().items():
        on_disk = local.write(key, _chunks(data), expected_size=len(data))
        on_s3 = remote.write(key, _chunks(data), expected_size=len(data))
        assert (on_s3.key, on_s3.size_bytes, on_s3.sha256) == (on_disk.key, on_disk.size_bytes, on_disk.sha256)
        assert on_s3.sha256 == hashlib.sha256(data).hexdigest()
        assert on_s3.uri == f"s3://{s3_bucket}/archive/prefix/{key}"
        with open_url(on_s3.uri) as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == on_disk.sha256
    assert s3_server.objects(s3_bucket) == {f"archive/prefix/{k}": len(v) for k, v in _payloads().items()}
    assert not s3_server.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


def test_rewriting_a_key_overwrites_it(s3_bucket: str, s3_server: S3Server) -> None:
    store = FileStore(f"s3://{s3_bucket}/p")
    store.write("a/b.bin", [b"old"])
    stored = store.write("a/b.bin", [b"new bytes"])
    assert s3_server.objects(s3_bucket) == {"p/a/b.bin": 9}
    assert stored.size_bytes == 9


def _failing(data: bytes, after: int) -> t.Iterator[bytes]:
    for i, chunk in enumerate(_chunks(data)):
        if i == after:
            msg = "connection reset by the vendor"
            raise ConnectionError(msg)
        yield chunk


@pytest.mark.parametrize("after_chunks", [1, 11])  # before the first 8 MiB part went up, and after it
def test_a_failed_download_leaves_no_object_and_keeps_the_older_copy(s3_bucket: str, s3_server: S3Server,
                                                                      after_chunks: int) -> None:
    store = FileStore(f"s3://{s3_bucket}/p")
    older = store.write("k/audio.opus", [b"complete older copy"])
    with pytest.raises(ConnectionError):
        store.write("k/audio.opus", _failing(os.urandom(13 * MIB), after_chunks), expected_size=13 * MIB)
    with pytest.raises(ConnectionError):
        store.write("k/new.opus", _failing(os.urandom(13 * MIB), after_chunks), expected_size=13 * MIB)
    assert s3_server.objects(s3_bucket) == {"p/k/audio.opus": older.size_bytes}
    with open_url(older.uri) as fh:
        assert fh.read() == b"complete older copy"
    assert not s3_server.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads")


def test_a_short_or_refused_file_leaves_no_object(s3_bucket: str, s3_server: S3Server) -> None:
    store = FileStore(f"s3://{s3_bucket}/p")
    with pytest.raises(FileIntegrityError, match="received 6291456 bytes, the vendor announced 7340032"):
        store.write("short.bin", _chunks(b"x" * 6 * MIB), expected_size=7 * MIB)

    def refuse(first: bytes) -> None:
        if first.startswith(b"<html"):
            msg = "an HTML page, not audio"
            raise FileIntegrityError(msg)

    with pytest.raises(FileIntegrityError, match="HTML"):
        store.write("page.opus", [b"<html>login</html>"], check=refuse)
    assert s3_server.objects(s3_bucket) == {}


def test_a_killed_upload_leaves_no_object_under_its_key(s3_bucket: str, s3_server: S3Server) -> None:
    """SIGKILL mid-file (one 8 MiB part already uploaded): the key never appears."""
    script = textwrap.dedent(f"""
        import os, sys
        from taps.common.storage import FileStore
        def chunks():
            for i in range(20):
                if i == 12:
                    print("parts uploaded", flush=True)
                    sys.stdin.read()  # wait here until killed
                yield os.urandom(1 << 20)
        FileStore("s3://{s3_bucket}/p").write("killed/audio.opus", chunks())
    """)
    env = {**os.environ, **s3_server.env()}
    with subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=env, stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "parts uploaded", proc.stderr.read() if proc.stderr else ""
        uploads = s3_server.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
        assert [u["Key"] for u in uploads] == ["p/killed/audio.opus"]  # the parts did go up
        proc.kill()
        proc.wait(timeout=60)
    assert s3_server.objects(s3_bucket) == {}


def test_bad_credentials_fail_without_revealing_the_secret(s3_server: S3Server, s3_bucket: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """moto accepts any key pair, so a missing bucket stands in for the store refusing the write."""
    secret = "wJalrXUtnFEMI-secret-should-never-appear"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    store = FileStore(f"s3://no-such-bucket-{s3_bucket}/p")
    with pytest.raises(Exception) as info:
        store.write("a.bin", [b"data"])
    assert "bucket does not exist" in str(info.value)
    assert secret not in str(info.value)
    assert secret not in repr(info.value)
