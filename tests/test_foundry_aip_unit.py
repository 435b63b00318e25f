"""Pure logic of tap-foundry-aip: timestamps, error text."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests

from taps.common.timestamps import parse_timestamp
from taps.foundry_aip.client import FoundryError, bookmark_time


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-10-01T22:04:24.962583055Z", datetime(2024, 10, 1, 22, 4, 24, 962583, tzinfo=timezone.utc)),
        ("2024-10-01T22:04:24Z", datetime(2024, 10, 1, 22, 4, 24, tzinfo=timezone.utc)),
        ("2024-10-01T22:04:24.5Z", datetime(2024, 10, 1, 22, 4, 24, 500000, tzinfo=timezone.utc)),
        ("2024-10-02T00:04:24.962583055+02:00", datetime(2024, 10, 1, 22, 4, 24, 962583, tzinfo=timezone.utc)),
        ("2024-10-01T22:04:24.962583", datetime(2024, 10, 1, 22, 4, 24, 962583, tzinfo=timezone.utc)),
    ],
)
def test_parse_timestamp_foundry_handles_nanoseconds_and_offsets(raw, expected):
    assert parse_timestamp(raw) == expected


def test_parse_timestamp_foundry_rejects_garbage():
    with pytest.raises(ValueError, match="not an ISO 8601 timestamp"):
        parse_timestamp("yesterday")


def test_bookmark_time_has_one_shape_so_text_order_is_time_order():
    values = [bookmark_time(parse_timestamp(v)) for v in
              ("2024-10-01T22:04:24Z", "2024-10-01T22:04:24.000001Z", "2024-10-01T22:04:24.5Z")]
    assert values == ["2024-10-01T22:04:24.000000+00:00", "2024-10-01T22:04:24.000001+00:00",
                      "2024-10-01T22:04:24.500000+00:00"]
    assert values == sorted(values)


def _response(status: int, body: bytes) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    return response


def test_foundry_error_parses_only_foundry_bodies():
    error = FoundryError.of(_response(404, b'{"errorCode":"NOT_FOUND","errorName":"AgentNotFound",'
                                           b'"errorInstanceId":"i-1","parameters":{"agentRid":"ri.x"}}'))
    assert error.name == "AgentNotFound"
    assert error["parameters"] == {"agentRid": "ri.x"}
    assert FoundryError.of(_response(502, b"<html>bad gateway</html>")) == {}
    assert FoundryError.of(_response(400, b'{"error":"invalid_client"}')).name == ""
