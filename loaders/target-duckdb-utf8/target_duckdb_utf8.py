"""``target-duckdb-utf8``: run target-duckdb 0.8.0 with JSON columns written as UTF-8.

target-duckdb serialises every object and array column with ``json.dumps(v)``
(``target_duckdb.db_sync.flatten_record``), whose default ``ensure_ascii=True``
turns ``Résume 🚨`` into ``R\\u00e9sume \\ud83d\\udea8``. The text is valid JSON,
but ``metadata::varchar LIKE '%Résume%'`` finds nothing and people reading the
column see escapes. target-duckdb has no setting for this, and no other DuckDB
loader is published on PyPI, so this entry point gives ``db_sync`` a ``json``
whose ``dumps`` keeps non-ASCII characters as they are, then runs the loader
unchanged. A value holding a lone surrogate (not encodable as UTF-8) is
escaped as before rather than failing the load.
"""

from __future__ import annotations

import json
import types
import typing as t

import target_duckdb
from target_duckdb import db_sync


def dumps_utf8(value: t.Any, **kwargs: t.Any) -> str:
    """``json.dumps`` with ``ensure_ascii=False``; escaped when the text is not valid UTF-8."""
    text = json.dumps(value, **{"ensure_ascii": False, **kwargs})
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, **{**kwargs, "ensure_ascii": True})
    return text


#: what ``db_sync`` sees as its ``json`` module: the real one, except ``dumps``
UTF8_JSON = types.SimpleNamespace(**{name: getattr(json, name) for name in dir(json) if not name.startswith("__")})
UTF8_JSON.dumps = dumps_utf8


def main() -> None:
    """target-duckdb's own command line (``--config``), with UTF-8 JSON columns."""
    db_sync.json = UTF8_JSON
    target_duckdb.main()


if __name__ == "__main__":
    main()
