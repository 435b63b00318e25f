"""Vendor-specific faults where data could go missing: each recovers with 0 lost, or stops cleanly.

Against each tap's sandbox over real HTTP (in-process runs; knobs in
``sandboxes/<vendor>.py``):

* token expiry mid-run (Zoom, Knovvu, Foundry OAuth tokens expire after a few
  calls; Kore.ai's JWT refused as expired): one re-mint / re-sign, 0 lost;
* an expired presigned Knovvu ZIP link: the manifest is asked again for a new link, 0 lost;
* a corrupt Knovvu ZIP: an ERROR naming the hour, the hour stays incomplete in
  state, the next run gets it (0 lost); a zip-slip entry: never written outside
  storage, the hour's other files stored, a ``LOST RECORDINGS`` warning naming
  the day, hour and entries, and a gap in ``last_run_gaps``;
* Zoom ``next_page_token`` expired mid-listing: the listing is read again from its first page,
  0 lost; expired again: fails with a one-line reason, no bookmark moved;
* quota exhausted (Knovvu 429 on the manifest without ``wait_on_rate_limit``,
  Zoom's daily limit): the run stops cleanly naming when to resume, state keeps
  what was emitted, the next run completes (PK merge of both equals a clean
  run); a Knovvu 429 on a ZIP GET is learned (``zip_gets_counted`` in state).
"""

from __future__ import annotations

import logging
import typing as t
from pathlib import Path

import pytest

from tests.conformance.kit import KITS, archive_view
from tests.helpers import TapRun, run_tap

if t.TYPE_CHECKING:
    from sandboxes.knovvu import KnovvuSandbox
    from sandboxes.zoom_aic import ZoomAICSandbox

KORE_EXPIRED = {"msg": "Invalid SDK credentials", "code": 4002}


def _clean(kit_name: str, tmp: Path) -> dict[str, set]:
    kit = KITS[kit_name]
    with kit.serve() as server:
        return archive_view(kit_name, [run_tap(kit.load_class(), kit.config(server.app, server.url, tmp))])


def _assert_same(kit_name: str, runs: list[TapRun], clean: dict[str, set]) -> None:
    got = archive_view(kit_name, runs)
    for stream, keys in clean.items():
        have = got.get(stream, set())
        assert have == keys, f"{stream}: lost {len(keys - have)}, extra {len(have - keys)}"


def _expire(kit_name: str, app: t.Any) -> None:
    if kit_name == "zoom_aic":
        app.expire_tokens_after(8)
    elif kit_name == "knovvu":
        app.expire_tokens_after(1)
    elif kit_name == "foundry_aip":
        app.before_list_request(2, app.expire_tokens)
    else:  # Kore.ai: a JWT refused as expired mid-run
        app.faults.add("status", KITS[kit_name].endpoints["conversations"], status=401, body=KORE_EXPIRED, after=2)


@pytest.mark.parametrize("kit_name", ["zoom_aic", "knovvu", "foundry_aip", "kore_agentai"])
def test_token_expiry_mid_run_is_renewed_once_and_loses_nothing(kit_name: str, tmp_path: Path) -> None:
    kit = KITS[kit_name]
    clean = _clean(kit_name, tmp_path / "clean")
    with kit.serve() as server:
        app = server.app
        _expire(kit_name, app)
        run = run_tap(kit.load_class(), kit.config(app, server.url, tmp_path / "run"))
    _assert_same(kit_name, [run], clean)
    if kit_name == "kore_agentai":
        assert app.faults.fired, "the expired-JWT 401 never fired"
    else:
        assert app.tokens_issued == 2, f"{app.tokens_issued} tokens minted (a clean run mints 1)"


def test_knovvu_expired_link_is_renewed_and_loses_nothing(tmp_path: Path) -> None:
    from sandboxes.knovvu import ERR_LINK_EXPIRED

    kit = KITS["knovvu"]
    clean = _clean("knovvu", tmp_path / "clean")
    with kit.serve() as server:
        server.app.faults.add("status", kit.endpoints["download"], status=401, body={"error": ERR_LINK_EXPIRED},
                              after=3)
        run = run_tap(kit.load_class(), kit.config(server.app, server.url, tmp_path / "run"))
        assert server.app.faults.fired
    _assert_same("knovvu", [run], clean)


def test_knovvu_corrupt_zip_names_the_hour_keeps_it_open_and_the_next_run_gets_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    kit = KITS["knovvu"]
    clean = _clean("knovvu", tmp_path / "clean")
    with kit.serve() as server:
        app = t.cast("KnovvuSandbox", server.app)
        day, hour = app.documented_day, "02"
        app.corrupt_hours.add((day, hour))
        config = kit.config(app, server.url, tmp_path / "run")
        with caplog.at_level(logging.ERROR):
            first = run_tap(kit.load_class(), config)
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any(day in m and hour in m and "corrupt" in m.lower() for m in errors), errors
        assert "Traceback" not in caplog.text
        incomplete = first.final_state["bookmarks"]["daily_recording_manifests"]["incomplete_days"]
        assert day in incomplete and hour not in incomplete[day]  # listed: the hours done; 02 is not
        app.corrupt_hours.clear()
        second = run_tap(kit.load_class(), config, state=first.final_state)
    _assert_same("knovvu", [first, second], clean)


def test_knovvu_zip_slip_entry_is_never_written_and_named_as_lost(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    kit = KITS["knovvu"]
    with kit.serve() as server:
        app = t.cast("KnovvuSandbox", server.app)
        day, hour = app.documented_day, "02"
        app.zip_slip_hours.add((day, hour))
        root = tmp_path / "a" / "b"
        with caplog.at_level(logging.WARNING):
            run = run_tap(kit.load_class(), kit.config(app, server.url, root))
    assert not list(tmp_path.rglob("escaped.opus")), "a ../ entry was written"
    lost = [r.getMessage() for r in caplog.records if "LOST RECORDINGS" in r.getMessage()]
    named = [m for m in lost if "../../escaped.opus" in m and "/tmp/absolute-escape.opus" in m]
    assert named and f"{day} {hour}" in named[0], lost
    gaps = run.final_state["last_run_gaps"]
    assert any("../../escaped.opus" in g["what"] for g in gaps), gaps
    assert run.final_state["bookmarks"]["daily_recording_manifests"]["incomplete_days"] == {}


PAGE_TOKEN_EXPIRED = {"code": 300, "message": "The next page token is invalid or expired."}


def test_zoom_expired_page_token_restarts_the_listing_and_loses_nothing(tmp_path: Path) -> None:
    kit = KITS["zoom_aic"]
    clean = _clean("zoom_aic", tmp_path / "clean")
    with kit.serve() as server:
        server.app.faults.add("status", kit.endpoints["users"], status=400, after=1, body=PAGE_TOKEN_EXPIRED)
        run = run_tap(kit.load_class(), {**kit.config(server.app, server.url, tmp_path / "run"), "page_size": 2})
        assert server.app.faults.fired
    _assert_same("zoom_aic", [run], clean)
    assert not run.duplicates("users")


def test_zoom_page_token_expiring_again_fails_clearly_with_no_bookmark(tmp_path: Path) -> None:
    kit = KITS["zoom_aic"]
    with kit.serve() as server:
        server.app.faults.add("status", kit.endpoints["users"], status=400, after=1, body=PAGE_TOKEN_EXPIRED)
        server.app.faults.add("status", kit.endpoints["users"], status=400, after=2, body=PAGE_TOKEN_EXPIRED)
        config = {**kit.config(server.app, server.url, tmp_path), "page_size": 2}
        run = run_tap(kit.load_class(), config, expect_error=True)
        assert len(server.app.faults.fired) == 2
    message = str(run.error)
    assert run.error is not None and "next_page_token" in message and "run again" in message, message
    assert "\n" not in message.strip()
    bookmarks = [s.get("bookmarks", {}).get("conversation_archives", {}) for s in run.states]
    assert not any(p.get("replication_key_value") for b in bookmarks for p in b.get("partitions", [])), \
        "a bookmark moved before the failed listing"


def test_knovvu_manifest_429_stops_cleanly_and_the_next_run_completes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    kit = KITS["knovvu"]
    clean = _clean("knovvu", tmp_path / "clean")
    with kit.serve() as server:
        server.app.faults.add("status", kit.endpoints["manifest"], status=429, after=1,
                              headers={"Retry-After": "3600"}, body={"error": "Too many requests"})
        config = {**kit.config(server.app, server.url, tmp_path / "run"), "wait_on_rate_limit": False}
        with caplog.at_level(logging.WARNING):
            first = run_tap(kit.load_class(), config)
        stops = [r.getMessage() for r in caplog.records if "Stopping cleanly" in r.getMessage()]
        assert stops and "next run" in stops[0] and "run again after 20" in stops[0], caplog.text[-2000:]
        assert first.error is None
        assert any(g["reason"] == "quota" for g in first.final_state["last_run_gaps"])
        second = run_tap(kit.load_class(), config, state=first.final_state)
    _assert_same("knovvu", [first, second], clean)


def test_knovvu_zip_get_429_is_learned_and_nothing_is_lost(tmp_path: Path) -> None:
    kit = KITS["knovvu"]
    clean = _clean("knovvu", tmp_path / "clean")
    with kit.serve() as server:
        server.app.faults.add("status", kit.endpoints["download"], status=429, after=2, headers={"Retry-After": "3600"},
                              body={"error": "Too many requests"})
        config = {**kit.config(server.app, server.url, tmp_path / "run"), "downloads_per_hour": 5}
        first = run_tap(kit.load_class(), config)
        assert first.final_state["bookmarks"]["daily_recording_manifests"].get("zip_gets_counted") is True
        runs, state = [first], first.final_state
        for _ in range(6):  # each run downloads what the learned budget allows
            state_bookmark = state["bookmarks"]["daily_recording_manifests"]
            if not state_bookmark["incomplete_days"] and \
                    state_bookmark.get("replication_key_value") == t.cast("KnovvuSandbox", server.app).documented_day:
                break
            for key in ("recent_manifest_calls", "recent_zip_gets"):  # an hour has passed
                state_bookmark[key] = [s - 3601 for s in state_bookmark.get(key, [])]
            runs.append(run_tap(kit.load_class(), config, state=state))
            state = runs[-1].final_state
    _assert_same("knovvu", runs, clean)


def test_zoom_daily_limit_stops_cleanly_and_the_next_run_completes(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    kit = KITS["zoom_aic"]
    clean = _clean("zoom_aic", tmp_path / "clean")
    with kit.serve() as server:
        app = t.cast("ZoomAICSandbox", server.app)
        config = kit.config(app, server.url, tmp_path / "run")
        app.daily_limit_after(12)
        with caplog.at_level(logging.WARNING):
            first = run_tap(kit.load_class(), config, expect_error=True)
        stops = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Stopping")]
        assert stops and "resume after" in stops[0] and "next run resumes" in stops[0], caplog.text[-2000:]
        assert first.error is None, first.error
        assert any(g["reason"] == "quota" for g in first.final_state.get("last_run_gaps", [])), first.final_state
        app.daily_limit_after(None)
        second = run_tap(kit.load_class(), config, state=first.final_state)
    _assert_same("zoom_aic", [first, second], clean)
