"""Unit tests for tap-zoom-aic's pure logic: archive windows, hosts, keys, config checks."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest
from singer_sdk.exceptions import ConfigValidationError

from sandboxes.zoom_aic import DOCUMENTED_ARCHIVE
from taps.common.timestamps import parse_timestamp
from taps.zoom_aic.client import MAX_ARCHIVE_SPAN, archive_windows, format_archive_time
from taps.zoom_aic.downloads import is_zoom_host
from taps.zoom_aic.streams import safe_key_part
from taps.zoom_aic.tap import TapZoomAIC

UTC = timezone.utc
BASE = {"account_id": "acct", "client_id": "cid", "client_secret": "secret", "storage_url": "/tmp/x",
        "start_date": "2021-01-01T00:00:00Z"}


def test_first_window_is_the_documented_archive_span() -> None:
    start = parse_timestamp(DOCUMENTED_ARCHIVE["start_time"])
    windows = archive_windows(start, start + timedelta(days=45))
    assert format_archive_time(windows[0][0]) == DOCUMENTED_ARCHIVE["start_time"]
    assert format_archive_time(windows[0][1]) == DOCUMENTED_ARCHIVE["end_time"]


def test_windows_are_contiguous_inclusive_and_bounded() -> None:
    start = datetime(2021, 1, 1, 0, 0, 0, 700000, tzinfo=UTC)
    end = datetime(2021, 12, 31, 23, 59, 59, tzinfo=UTC)
    windows = archive_windows(start, end)
    assert windows[0][0] == start.replace(microsecond=0)
    assert windows[-1][1] == end
    for (a, b), (c, _) in itertools.pairwise(windows):
        assert c - b == timedelta(seconds=1)
        assert b - a == MAX_ARCHIVE_SPAN
    assert all(b - a <= MAX_ARCHIVE_SPAN for a, b in windows)
    assert archive_windows(end, start) == []
    assert archive_windows(end, end) == [(end, end)]


def test_archive_time_format_is_zoom_archive_form() -> None:
    assert format_archive_time(datetime(2021, 5, 26, 5, 23, 18, 999, tzinfo=UTC)) == "2021-05-26T05:23:18Z"
    naive = datetime(2021, 5, 26, 5, 23, 18)  # noqa: DTZ001 - naive means UTC
    assert format_archive_time(naive) == "2021-05-26T05:23:18Z"
    other = datetime(2021, 5, 26, 7, 23, 18, tzinfo=timezone(timedelta(hours=2)))
    assert format_archive_time(other) == "2021-05-26T05:23:18Z"


@pytest.mark.parametrize(
    ("url", "trusted"),
    [
        ("https://aic.zoom.us/rest/v1/aic/archive/attached/download/x", True),
        ("https://zoom.us/x", True),
        ("https://files.zoomgov.com/x", True),
        ("https://evilzoom.us/x", False),
        ("https://zoom.us.example.com/x", False),
        ("https://bucket.s3.amazonaws.com/x?X-Amz-Signature=1", False),
        ("http://127.0.0.1:8802/rest/v1/x", True),
    ],
)
def test_bearer_goes_only_to_zoom_hosts(url: str, trusted: bool) -> None:
    assert is_zoom_host(url, "http://127.0.0.1:8802/v2") is trusted


def test_storage_key_parts_are_safe() -> None:
    assert safe_key_part("pvKocCqVSMygaOcKus5Afw") == "pvKocCqVSMygaOcKus5Afw"
    for hostile in ("../../etc/passwd", "..", ".", "", "/abs", "a/../b"):
        part = safe_key_part(hostile)
        assert "/" not in part
        assert part not in ("", ".", "..")
    assert "/" not in safe_key_part("a/b\\c d")


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"start_date": None}, "start_date"),
        ({"api_url": "ftp://zoom"}, "api_url"),
        ({"token_url": "not a url"}, "token_url"),
        ({"end_date": "2020-01-01T00:00:00Z"}, "end_date"),
        ({"user_statuses": []}, "user_statuses"),
    ],
)
def test_bad_config_names_the_setting(change: dict, setting: str) -> None:
    config = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    with pytest.raises(ConfigValidationError) as info:
        TapZoomAIC(config=config)
    assert setting in " ".join(info.value.errors)
    assert "secret" not in str(info.value.errors)


@pytest.mark.parametrize(("key", "value"), [("page_size", 2001), ("unknown_setting", 1), ("user_statuses", ["gone"])])
def test_schema_rejects_out_of_range_and_unknown_settings(key: str, value: object) -> None:
    with pytest.raises(ConfigValidationError):
        TapZoomAIC(config={**BASE, key: value})
