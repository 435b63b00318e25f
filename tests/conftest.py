"""Fixtures shared by every test module."""

# Real PostgreSQL and S3-compatible servers, started by the session (see tests/servers.py).
from tests.servers import postgres_database, postgres_server, s3_bucket, s3_server  # noqa: F401
