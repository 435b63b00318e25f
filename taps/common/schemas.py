"""Load stream schemas from ``schemas/<tap>/<stream>.json``.

In a source checkout (and an editable install) the files are read from the
repository's top-level ``schemas/`` folder; a built wheel carries the same
files as ``taps/_schemas/`` (see ``pyproject.toml``).
"""

from __future__ import annotations

from pathlib import Path

from singer_sdk import SchemaDirectory

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def schemas_root() -> Path:
    """The folder holding one sub-folder of JSON Schemas per tap.

    Raises:
        FileNotFoundError: neither the wheel's ``taps/_schemas`` nor the
            checkout's ``schemas/`` exists (a broken install).
    """
    for candidate in (_PACKAGE_DIR / "_schemas", _PACKAGE_DIR.parent / "schemas"):
        if candidate.is_dir():
            return candidate
    msg = f"No schemas folder found next to {_PACKAGE_DIR}; reinstall the package."
    raise FileNotFoundError(msg)


def schema_directory(tap: str) -> SchemaDirectory:
    """A ``SchemaDirectory`` for ``schemas/<tap>/`` (e.g. ``"salesloft"``), for ``StreamSchema``."""
    return SchemaDirectory(schemas_root() / tap)
