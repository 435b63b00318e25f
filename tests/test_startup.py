"""Start-up cost: what a tap's ``--about`` imports (issue 11, lazy imports where start-up matters)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO


@pytest.mark.parametrize("module", ["taps.knovvu", "taps.zoom_aic", "taps.salesloft", "taps.foundry_aip"])
def test_about_does_not_import_pyjwt_or_cryptography(module: str) -> None:
    """PyJWT (and the ``cryptography`` it loads, ~0.3 s) is imported only when a JWT is signed (Kore.ai)."""
    code = (f"import runpy, sys, json, io, contextlib\nsys.argv = ['{module}', '--about', '--format=json']\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            f"    try:\n        runpy.run_module('{module}', run_name='__main__')\n"
            "    except SystemExit:\n        pass\n"
            "print(json.dumps({'about': out.getvalue()[:200], "
            "'heavy': sorted(m for m in sys.modules if m.split('.')[0] in ('jwt', 'cryptography'))}))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert '"name"' in result["about"]  # --about ran
    assert result["heavy"] == []



@pytest.mark.parametrize("module", ["taps.salesloft", "taps.kore_agentai"])
def test_the_tap_command_freezes_the_import_time_heap_once(module: str) -> None:
    """``VendorTap.invoke`` moves the import-time heap to the collector's permanent generation
    (``freeze_startup_heap``: no collection scans it again, exit skips it); a second command in the
    same process freezes nothing more (the second count is no larger, although 1,000 new lists are alive)."""
    code = ("import runpy, sys, gc, io, contextlib, json\n"
            f"sys.argv = ['{module}', '--about', '--format=json']\n"
            "before = gc.get_freeze_count()\n"
            "counts = []\n"
            "for _ in range(2):\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            f"        try:\n            runpy.run_module('{module}', run_name='__main__')\n"
            "        except SystemExit:\n            pass\n"
            "    counts.append(gc.get_freeze_count())\n"
            "    junk = [[] for _ in range(1000)]\n"
            "print(json.dumps({'before': before, 'after': counts}))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=True)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["before"] == 0
    assert result["after"][0] > 10_000  # singer-sdk's modules and ours
    assert result["after"][1] <= result["after"][0]  # (frozen objects still go when freed)
