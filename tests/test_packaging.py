"""The built wheel (not the checkout) carries every tap and its schemas.

Users and Meltano install the package, not this folder: build the wheel,
install it without the repository on the path, and run each tap's discovery
from it. That catches schema files left out of the wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.helpers import REPO


def test_wheel_installs_every_tap_with_its_schemas(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(REPO)],
                   check=True, capture_output=True, timeout=600)
    wheel = next(dist.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n for n in names if n.startswith("taps/_schemas/") and n.endswith(".json")}
    in_repo = {f"taps/_schemas/{p.relative_to(REPO / 'schemas')}" for p in (REPO / "schemas").rglob("*.json")}
    assert shipped == in_repo

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=600)
    env = {**os.environ, "PYTHONPATH": str(target)}
    assert not [n for n in names if n.startswith("sandboxes/") or "sandbox" in n.rsplit("/", 1)[-1]], names
    # no emulator under another name either: no shipped module serves HTTP or reaches for the sandboxes
    wheel_zip = zipfile.ZipFile(wheel)
    serving = [n for n in names if n.endswith(".py")
               and any(w in wheel_zip.read(n).decode() for w in ("http.server", "import sandboxes", "from sandboxes"))]
    assert not serving, serving
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "sandbox" not in zipfile.ZipFile(wheel).read(entry_points).decode()
    packages = [f"taps.{p.name}" for p in sorted((REPO / "taps").iterdir()) if (p / "__main__.py").exists()]
    assert len(packages) == 5, packages
    for package in packages:
        proc = subprocess.run([sys.executable, "-m", package, "--discover"], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr[-2000:]
        catalog = json.loads(proc.stdout)
        assert catalog["streams"], package
        origin = subprocess.run([sys.executable, "-c", f"import {package}; print({package}.__file__)"], cwd=tmp_path,
                                env=env, capture_output=True, text=True, check=True).stdout
        assert origin.startswith(str(target)), origin
