"""Resuming from every k-th STATE of a full run gives the same primary-key-merged result.

One clean full run per tap (in-process, against its sandbox over real HTTP);
its messages are walked in order, so the records written before each STATE are
known. For every k-th STATE (k chosen so each tap gets six to eight resumes,
every STATE where the run writes fewer), a new run starts from that state: the
records before the STATE plus the resumed run's records, merged on the primary
key, must equal the clean run's keys (0 lost, 0 extra), and every stored file
must match the sha256 its record gives.

Zoom's archive and history keys are the ``from``/``to`` window asked, so for
those two streams the kit compares the conversations inside the stored history
files (``kit.archive_view``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conformance.kit import KITS, archive_view, assert_files_match
from tests.helpers import TapRun, parse_singer, run_tap

RESUMES = 6  # resumes per tap (about; every STATE where a run writes fewer)


def _cut_points(stdout: str) -> list[tuple[dict, TapRun]]:
    """Each STATE value of a run with the run's messages before it (as a ``TapRun``)."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    points = []
    for index, line in enumerate(lines):
        message = json.loads(line)
        if message.get("type") == "STATE":
            points.append((message["value"], parse_singer("\n".join(lines[:index]))))
    return points


@pytest.mark.parametrize("kit_name", sorted(KITS))
def test_resume_from_every_kth_state_loses_nothing(kit_name: str, tmp_path: Path) -> None:
    kit = KITS[kit_name]
    tap_class = kit.load_class()
    with kit.serve() as server:
        config = kit.config(server.app, server.url, tmp_path)
        clean = run_tap(tap_class, config)
        want = archive_view(kit_name, [clean])
        points = _cut_points(clean.stdout)
        k = max(1, len(points) // RESUMES)
        chosen = points[k - 1::k]
        assert len(chosen) >= min(5, len(points)), f"{len(points)} STATE messages, {len(chosen)} chosen"
        for number, (state, before) in zip(range(k, len(points) + 1, k), chosen, strict=True):
            resumed = run_tap(tap_class, config, state=json.loads(json.dumps(state)))
            got = archive_view(kit_name, [before, resumed])
            for stream, keys in want.items():
                have = got.get(stream, set())
                assert have == keys, (f"resumed from STATE {number} of {len(points)}: {stream} "
                                      f"missing {len(keys - have)}, extra {len(have - keys)}: {sorted(keys - have)[:3]} {sorted(have - keys)[:3]}")
            if "storage_url" in config:  # "before" holds only the records up to the STATE: files may outnumber them
                assert_files_match([before, resumed], Path(config["storage_url"]), partial_ok=True, unvouched_ok=True)
