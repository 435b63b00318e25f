"""Start-up cost: what a tap's ``--about`` imports (issue 11, lazy imports where start-up matters)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO


def run_about(module: str) -> str:
    """Python source running ``python -m <module> --about --format=json`` in this process (its exit caught)."""
    return (f"sys.argv = ['{module}', '--about', '--format=json']\n"
            f"try:\n    runpy.run_module('{module}', run_name='__main__')\nexcept SystemExit:\n    pass\n")


def indented(source: str, spaces: int = 4) -> str:
    """``source`` with every line indented by ``spaces``."""
    return "".join(" " * spaces + line + "\n" for line in source.splitlines())


def python_json(body: str) -> dict:
    """Run ``body`` (after ``import contextlib, gc, io, json, runpy, sys``) in a new interpreter; its last
    stdout line, parsed as JSON."""
    code = "import contextlib, gc, io, json, runpy, sys\n" + body
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("module", ["taps.knovvu", "taps.zoom_aic", "taps.salesloft", "taps.foundry_aip"])
def test_about_does_not_import_pyjwt_or_cryptography(module: str) -> None:
    """PyJWT (and the ``cryptography`` it loads, ~0.3 s) is imported only when a JWT is signed (Kore.ai)."""
    result = python_json(
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        f"{indented(run_about(module))}"
        "print(json.dumps({'about': out.getvalue()[:200], "
        "'heavy': sorted(m for m in sys.modules if m.split('.')[0] in ('jwt', 'cryptography'))}))")
    assert '"name"' in result["about"]  # --about ran
    assert result["heavy"] == []


@pytest.mark.parametrize("module", ["taps.salesloft", "taps.kore_agentai"])
def test_the_tap_command_freezes_the_import_time_heap_once(module: str) -> None:
    """``VendorTap.invoke`` moves the import-time heap to the collector's permanent generation
    (``freeze_startup_heap``: no collection scans it again, exit skips it); a second command in the
    same process freezes nothing more (the second count is no larger, although 1,000 new lists are alive)."""
    result = python_json(
        "before = gc.get_freeze_count()\n"
        "counts = []\n"
        "for _ in range(2):\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        f"{indented(run_about(module), 8)}"
        "    counts.append(gc.get_freeze_count())\n"
        "    junk = [[] for _ in range(1000)]\n"
        "print(json.dumps({'before': before, 'after': counts}))")
    assert result["before"] == 0
    assert result["after"][0] > 10_000  # singer-sdk's modules and ours
    assert result["after"][1] <= result["after"][0]  # (frozen objects still go when freed)


def test_the_entry_point_imports_with_the_collector_paused_and_runs_the_cli_with_it_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``run_tap_cli`` (every ``taps.<tap>.__main__``): the tap's module is imported with the garbage
    collector off, its ``cli()`` runs with it on, and a failing import leaves it on too."""
    import gc

    from taps.common.entry import run_tap_cli

    (tmp_path / "fake_tap_module.py").write_text(
        "import gc\nSEEN = {'import': gc.isenabled()}\n"
        "class FakeTap:\n    @classmethod\n    def cli(cls):\n        SEEN['cli'] = gc.isenabled()\n")
    (tmp_path / "broken_tap_module.py").write_text("raise ImportError('broken')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert gc.isenabled()
    run_tap_cli("fake_tap_module:FakeTap")
    import fake_tap_module

    assert fake_tap_module.SEEN == {"import": False, "cli": True}
    assert gc.isenabled()
    with pytest.raises(ImportError):
        run_tap_cli("broken_tap_module:FakeTap")
    assert gc.isenabled()


@pytest.mark.parametrize("package", ["salesloft", "kore_agentai", "knovvu", "foundry_aip", "zoom_aic"])
def test_each_tap_command_is_its_main_module_through_the_entry_point(package: str) -> None:
    """``python -m taps.<tap>`` and the ``tap-<vendor>`` command run the same ``main`` (pyproject's scripts)."""
    import tomllib

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert f"taps.{package}.__main__:main" in scripts.values()
    source = (REPO / "taps" / package / "__main__.py").read_text()
    assert f'run_tap_cli("taps.{package}.tap:' in source
