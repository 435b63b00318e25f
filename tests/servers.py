"""Real servers for the tests: a PostgreSQL server and a local S3-compatible server.

Nothing here is a mock. ``PostgresServer`` runs the PostgreSQL server binaries
the project's set-up installs (Debian's ``postgresql`` package, see
``scripts/install_servers.sh``) on a free 127.0.0.1 port with a temporary data
folder; ``S3Server`` runs moto's S3-compatible server (``moto[server]``) on a
free 127.0.0.1 port. Both are started by session fixtures (``postgres_server``,
``s3_server``) and stopped when the session ends; ``postgres_database`` and
``s3_bucket`` give each test a fresh database or bucket on them.

When a server cannot start, the fixture fails the test with the reason (it
never skips): the ``postgres`` and ``s3`` markers are meant to run in CI.

Reuse: ``tests/conftest.py`` imports the fixtures from here, so any test
module (dbt-postgres models, Dagster runs) can ask for ``postgres_database``,
``s3_server`` or ``s3_bucket`` by name. ``PostgresDatabase.env()`` gives the
``TARGET_POSTGRES_*`` variables for ``meltano run … target-postgres``;
``S3Server.env()`` the ``AWS_*`` variables for boto3, s3fs and Meltano's S3
state backend.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import typing as t
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_USER = "archive"
PG_START_TIMEOUT = 120.0  # seconds; generous, the machine is shared
S3_REGION = "us-east-1"


class ServerStartError(RuntimeError):
    """A test server could not be started; the message says why and what to install."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bindir() -> Path:
    """The folder with ``initdb`` and ``postgres``.

    Looks at ``$PG_BINDIR``, then Debian's ``/usr/lib/postgresql/<version>/bin``
    (newest first), then ``initdb`` on ``PATH``.

    Raises:
        ServerStartError: no PostgreSQL server binaries were found.
    """
    candidates = [os.environ["PG_BINDIR"]] if os.environ.get("PG_BINDIR") else []
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted(versions, key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
                         reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).resolve().parent))
    for folder in candidates:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "postgres").exists():
            return Path(folder)
    msg = ("PostgreSQL server binaries (initdb, postgres) not found: run `bash scripts/install_servers.sh` "
           "(Debian: apt-get install postgresql) or set PG_BINDIR")
    raise ServerStartError(msg)


@dataclass(frozen=True)
class PostgresDatabase:
    """One database on a running ``PostgresServer``.

    Attributes:
        host, port: where the server listens (127.0.0.1, a free port).
        user, password: a superuser with password (SCRAM) authentication.
        name: the database name.
    """

    host: str
    port: int
    user: str
    password: str
    name: str

    @property
    def dsn(self) -> str:
        """A libpq connection string (for ``psycopg.connect``)."""
        return f"host={self.host} port={self.port} user={self.user} password={self.password} dbname={self.name}"

    def env(self) -> dict[str, str]:
        """``TARGET_POSTGRES_*`` settings that point Meltano's target-postgres at this database."""
        return {
            "TARGET_POSTGRES_HOST": self.host,
            "TARGET_POSTGRES_PORT": str(self.port),
            "TARGET_POSTGRES_USER": self.user,
            "TARGET_POSTGRES_PASSWORD": self.password,
            "TARGET_POSTGRES_DATABASE": self.name,
        }

    def connect(self) -> t.Any:
        """A psycopg connection (autocommit) to this database."""
        import psycopg

        return psycopg.connect(self.dsn, autocommit=True)

    def query(self, sql: str, params: t.Sequence[t.Any] | None = None) -> list[tuple]:
        """Rows of ``sql`` run on this database."""
        with self.connect() as con:
            return list(con.execute(sql, params).fetchall())


class PostgresServer:
    """A PostgreSQL server on 127.0.0.1 with a temporary data folder, for one test session.

    Runs ``initdb`` then ``postgres`` from ``postgres_bindir()``. PostgreSQL
    refuses to run as root, so as root (CI) the server runs as the
    ``postgres`` system user the Debian package creates (``$PG_OS_USER``
    overrides). Durability settings are off (``fsync=off``): test data only.
    Use as a context manager; ``stop()`` removes the data folder.
    """

    def __init__(self) -> None:
        """Nothing starts until ``start()``."""
        self.port = 0
        self.password = secrets.token_hex(12)
        self.process: subprocess.Popen[bytes] | None = None
        self.folder: Path | None = None

    def __enter__(self) -> PostgresServer:
        """Start the server."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the server and remove its data."""
        self.stop()

    def _os_user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        name = os.environ.get("PG_OS_USER", "postgres")
        try:
            pwd.getpwnam(name)
        except KeyError:
            msg = (f"running as root and there is no {name!r} user to run PostgreSQL as: "
                   "apt-get install postgresql creates it, or set PG_OS_USER")
            raise ServerStartError(msg) from None
        return name

    def _run(self, args: list[str], user: str | None) -> None:
        proc = subprocess.run(args, capture_output=True, text=True, user=user, timeout=PG_START_TIMEOUT, check=False)
        if proc.returncode != 0:
            msg = f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}"
            raise ServerStartError(msg)

    def start(self) -> None:
        """initdb, start ``postgres`` and wait until it accepts connections.

        Raises:
            ServerStartError: binaries missing, initdb failed, or the server
                exited or did not answer within ``PG_START_TIMEOUT`` seconds.
        """
        bindir = postgres_bindir()
        user = self._os_user()
        self.folder = Path(tempfile.mkdtemp(prefix="pgtest-"))
        data = self.folder / "data"
        pwfile = self.folder / "pw"
        pwfile.write_text(self.password + "\n")
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
            os.chown(pwfile, entry.pw_uid, entry.pw_gid)
        self._run([str(bindir / "initdb"), "-D", str(data), "-U", PG_USER, f"--pwfile={pwfile}",
                   "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"], user)
        for attempt in range(3):
            self.port = free_port()
            log = open(self.folder / "postgres.log", "wb")  # noqa: SIM115 - closed in stop()
            self.process = subprocess.Popen(
                [str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(self.port),
                 "-k", str(self.folder), "-c", "fsync=off", "-c", "synchronous_commit=off",
                 "-c", "full_page_writes=off", "-c", "max_connections=50"],
                stdout=log, stderr=subprocess.STDOUT, user=user,
            )
            log.close()
            if self._wait_ready():
                return
            if attempt == 2 or "could not bind" not in self.log_tail():
                break
        reason = self.log_tail()
        self.stop()
        msg = f"PostgreSQL did not start on 127.0.0.1:{self.port}: {reason}"
        raise ServerStartError(msg)

    def _wait_ready(self) -> bool:
        import psycopg

        deadline = time.monotonic() + PG_START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            try:
                with psycopg.connect(host="127.0.0.1", port=self.port, user=PG_USER, password=self.password,
                                     dbname="postgres", connect_timeout=5):
                    return True
            except psycopg.OperationalError:
                time.sleep(0.2)
        return False

    def log_tail(self) -> str:
        """The last lines the server logged."""
        if self.folder is None or not (self.folder / "postgres.log").exists():
            return ""
        return (self.folder / "postgres.log").read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then remove the data folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=60)
        self.process = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def create_database(self, name: str | None = None) -> PostgresDatabase:
        """A new, empty database (``name`` default: a random ``test_…``)."""
        import psycopg

        name = name or f"test_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host="127.0.0.1", port=self.port, user=PG_USER, password=self.password,
                             dbname="postgres", autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' TEMPLATE template0')
        return PostgresDatabase("127.0.0.1", self.port, PG_USER, self.password, name)


class S3Server:
    """moto's S3-compatible server on 127.0.0.1 (a free port), in a thread of the test process.

    Clients reach it over real HTTP with ``env()``: ``AWS_ENDPOINT_URL`` plus
    test credentials (moto accepts any; the secret is random so tests can
    assert it never reaches output).
    """

    def __init__(self) -> None:
        """Nothing starts until ``start()``."""
        self.server: t.Any = None
        self.url = ""
        self.access_key_id = "AKIA" + secrets.token_hex(8).upper()
        self.secret_access_key = secrets.token_urlsafe(30)

    def __enter__(self) -> S3Server:
        """Start the server."""
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the server."""
        self.stop()

    def start(self) -> None:
        """Start moto's threaded server.

        Raises:
            ServerStartError: moto[server] is missing or the server did not bind.
        """
        try:
            from moto.server import ThreadedMotoServer
        except ImportError as exc:
            msg = f"moto[server] is not installed ({exc}): run `bash scripts/setup.sh`"
            raise ServerStartError(msg) from exc
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        try:
            self.server.start()
            host, port = self.server.get_host_and_port()
        except OSError as exc:
            msg = f"moto S3 server did not start on 127.0.0.1: {exc}"
            raise ServerStartError(msg) from exc
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        """Stop the server thread."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def env(self) -> dict[str, str]:
        """The ``AWS_*`` variables that point boto3/s3fs/Meltano at this server."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": S3_REGION,
            "AWS_REGION": S3_REGION,
        }

    def client(self) -> t.Any:
        """A boto3 S3 client for this server."""
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name=S3_REGION,
                            aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key)

    def create_bucket(self, name: str | None = None) -> str:
        """A new, empty bucket (``name`` default: a random ``test-…``); returns its name."""
        name = name or f"test-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def objects(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Key -> size of every object under ``prefix`` in ``bucket``."""
        found: dict[str, int] = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                found[item["Key"]] = int(item["Size"])
        return found


@contextlib.contextmanager
def _started(server: t.Any) -> t.Iterator[t.Any]:
    try:
        server.start()
    except ServerStartError as exc:
        pytest.fail(f"{type(server).__name__} could not start: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> t.Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (one per xdist worker)."""
    with _started(PostgresServer()) as server:
        yield server


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> PostgresDatabase:
    """A fresh, empty database on the session's PostgreSQL server."""
    return postgres_server.create_database()


@pytest.fixture(scope="session")
def s3_server() -> t.Iterator[S3Server]:
    """A local S3-compatible server for the whole session (one per xdist worker)."""
    with _started(S3Server()) as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket; ``AWS_*`` variables point this process's clients (s3fs, boto3) at the server."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    return s3_server.create_bucket()
