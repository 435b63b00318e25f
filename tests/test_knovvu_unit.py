"""Pure logic of tap-knovvu: zip-slip checks, storage keys, day planning, download budget, ZIP sizes."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import pytest

from sandboxes.knovvu_zipgen import Entry, archive_size, stream_archive
from taps.knovvu.archive import file_key, key_part, unsafe_entry
from taps.knovvu.client import RateLimited
from taps.knovvu.progress import DownloadBudget, Progress, plan_days


@pytest.mark.parametrize(("name", "unsafe"), [
    ("metadata.json", False), ("conv/session/message_1_agent_tts.opus", False), ("a..b/c.opus", False),
    ("../x.opus", True), ("a/../../x.opus", True), ("/etc/passwd", True), ("C:/x.opus", True), ("..\\x.opus", True),
])
def test_unsafe_entries(name: str, unsafe: bool) -> None:
    assert unsafe_entry(name) is unsafe


def test_storage_keys_are_stable_and_safe() -> None:
    assert file_key("2026-01-02", "03", "conv/with/slash", "..", "m.opus") == "2026-01-02/03/conv_with_slash/_/m.opus"
    assert key_part(None) == "_" and key_part("conv-ünï 😀") == "conv-ünï 😀"


def test_plan_resumes_unfinished_days_first_and_stops_at_yesterday() -> None:
    progress = Progress({"replication_key_value": "2026-03-07", "incomplete_days": {"2026-03-06": ["00"]}})
    plan = plan_days(progress, None, date(2026, 3, 10))
    assert plan.days == ["2026-03-06", "2026-03-08", "2026-03-09"] and plan.beyond_retention is None


def test_plan_gives_up_days_past_any_retention() -> None:
    progress = Progress({"replication_key_value": "2026-02-01", "incomplete_days": {"2026-01-30": []}})
    plan = plan_days(progress, None, date(2026, 3, 10))
    assert plan.beyond_retention == ("2026-01-30", "2026-03-02")
    assert plan.days[0] == "2026-03-03" and progress.incomplete == {}


def test_budget_stops_or_waits() -> None:
    now = [1000.0]
    state: dict = {}
    budget = DownloadBudget(state, 2, wait=False, clock=lambda: now[0])
    budget.acquire_manifest()
    budget.acquire_manifest()
    with pytest.raises(RateLimited) as raised:
        budget.acquire_manifest()
    assert raised.value.by_vendor is False
    slept = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    DownloadBudget(state, 2, wait=True, clock=lambda: now[0], sleep=sleep).acquire_manifest()
    assert slept and sum(slept) >= 3600 and len(state["recent_manifest_calls"]) == 1


def test_zip_gets_are_free_until_learned() -> None:
    state: dict = {"recent_downloads": [1.0]}
    budget = DownloadBudget(state, 2, wait=False, clock=lambda: 1000.0)
    assert "recent_downloads" not in state
    for _ in range(10):
        budget.acquire_zip()
    assert not state.get("recent_zip_gets")
    budget.learn_zip_limit()
    budget.acquire_zip()
    budget.acquire_zip()
    with pytest.raises(RateLimited):
        budget.acquire_zip()
    assert "zip_gets_counted" not in state  # workers never touch the bookmark: the main thread saves it
    budget.save()
    assert state["zip_gets_counted"] is True and len(state["recent_zip_gets"]) == 2
    assert DownloadBudget(state, 2, wait=False, clock=lambda: 1000.0).zip_gets_counted  # read back next run


def test_generated_zip_size_and_crc() -> None:
    entries = [Entry("metadata.json", data=b"{}"), Entry("c/s/m.opus", 70_000, seed="x", prefix=b"OggS")]
    data = b"".join(stream_archive(entries))
    assert len(data) == archive_size(entries)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None and zf.read("c/s/m.opus")[:4] == b"OggS"
    broken = b"".join(stream_archive(entries, corrupt=True))
    with zipfile.ZipFile(io.BytesIO(broken)) as zf, pytest.raises(zipfile.BadZipFile):
        zf.read("c/s/m.opus")
