"""Every tap through ``meltano run <tap> target-postgres`` into a real PostgreSQL server.

The tap's own output under Meltano (``meltano invoke``) is the expectation:
after the primary-key merge, each stream's table holds exactly one row per
key, every column equal to the last record emitted for it; object and array
properties land as ``jsonb`` (arrays of objects as ``jsonb[]``, the loader's
mapping) with their Unicode as is; a second full run (from
no state, so every record is emitted again) adds no row.

For speed the five taps share one module fixture: one sandbox each, one
``meltano invoke`` each, and two ``meltano run``s loading all five at once.
"""

from __future__ import annotations

import json
import re
import typing as t

import pytest

from tests.meltano_harness import ensure_installed
from tests.servers import PostgresDatabase, PostgresServer
from tests.warehouse_checks import (
    TAPS,
    invoke_records,
    merged,
    normalise,
    run_into_postgres,
    sandbox,
    table_columns,
    table_dicts,
)

pytestmark = [pytest.mark.postgres, pytest.mark.e2e]

# fields the tap sets from its own clock at run time (the warehouse holds the rerun's)
RUN_TIME_FIELDS = {"downloaded_at"}
# a JSON \u escape of a non-ASCII character (jsonb keeps control characters escaped, as JSON requires)
NON_ASCII_ESCAPE = re.compile(r"\\u(?!00[0-7])[0-9a-fA-F]{4}")


def _assert_table_equals_records(database: PostgresDatabase, schema: str, stream: str,
                                 expected: dict[tuple, dict], key_properties: list[str],
                                 json_properties: dict[str, str]) -> None:
    columns = table_columns(database, schema, stream)  # target-postgres keeps property names as they are
    rows = table_dicts(database, schema, stream)
    loaded = {tuple(normalise(row[c]) for c in key_properties): row for row in rows}
    assert len(loaded) == len(rows), f"{schema}.{stream}: duplicate primary keys in the warehouse"
    assert set(loaded) == set(expected), f"{schema}.{stream}: keys differ from the records emitted"
    for prop, kind in json_properties.items():
        allowed = {"jsonb"} if kind == "object" else {"jsonb", "_jsonb"}
        assert columns[prop] in allowed, f"{stream}.{prop} is {columns[prop]}"
    for key, record in expected.items():
        row = loaded[key]
        for prop, value in record.items():
            assert prop in columns, f"{schema}.{stream}: no column for property {prop!r}"
            if prop in RUN_TIME_FIELDS:  # set when the tap stored the file: the rerun's value is later
                assert normalise(row[prop]) >= normalise(value), f"{schema}.{stream} {key} {prop}"
                continue
            if prop in json_properties and isinstance(value, str):
                value = json.loads(value)  # noqa: PLW2901 - a property that may be a JSON string or a container
            assert normalise(row[prop]) == normalise(value), f"{schema}.{stream} {key} {prop}"


def _json_properties(schema_message: dict) -> dict[str, str]:
    """Top-level properties that hold JSON: name -> ``object`` or ``array`` (of objects or any JSON)."""
    found = {}
    for name, spec in schema_message["schema"]["properties"].items():
        types = spec.get("type", [])
        types = [types] if isinstance(types, str) else types
        if "object" in types:
            found[name] = "object"
        elif "array" in types:
            items = spec.get("items")
            item_types = items.get("type", []) if isinstance(items, dict) else []
            if not isinstance(items, dict) or "type" not in items or "object" in item_types:
                found[name] = "array"
    return found


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer) -> dict[str, t.Any]:
    """Every tap's records under Meltano, then two loads of all five taps into one database.

    The five sandboxes run for the whole module; each tap is invoked once (its records are
    the expectation), then one ``meltano run`` loads all five into PostgreSQL and a second
    one, from no state, loads every record again. Counts are taken after each load.
    """
    for tap in TAPS:
        ensure_installed("extractor", tap)
    ensure_installed("loader", "target-postgres")
    tmp = tmp_path_factory.mktemp("warehouse-pg")
    database = postgres_server.create_database()
    started = {tap: sandbox(case) for tap, case in TAPS.items()}
    env: dict[str, str] = {}
    try:
        for tap, (app, server) in started.items():
            server.start()
            env.update(TAPS[tap].env(app, server.url, str(tmp / "storage" / tap)))
        emitted = {tap: invoke_records(tap, env) for tap in sorted(TAPS)}
        run_into_postgres(sorted(TAPS), database, tmp / "state-1", env)
        first = {tap: _counts(database, case.schema) for tap, case in TAPS.items()}
        run_into_postgres(sorted(TAPS), database, tmp / "state-2", env)  # no state: every record again
        second = {tap: _counts(database, case.schema) for tap, case in TAPS.items()}
    finally:
        for _app, server in started.values():
            server.stop()
    return {"database": database, "emitted": emitted, "first": first, "second": second}


@pytest.mark.parametrize("tap", sorted(TAPS))
def test_meltano_run_into_postgres_equals_the_records_emitted(tap: str, loaded: dict[str, t.Any]) -> None:
    case, database = TAPS[tap], loaded["database"]
    emitted = loaded["emitted"][tap]
    streams = {s for s, records in emitted.records.items() if records}
    assert streams, f"{tap} emitted no record"
    first = loaded["first"][tap]
    assert first == {s: len(merged(emitted, s)) for s in streams}
    assert loaded["second"][tap] == first, "the rerun added rows"
    for stream in sorted(streams):
        schema_message = emitted.schemas[stream]
        _assert_table_equals_records(database, case.schema, stream, merged(emitted, stream),
                                     schema_message["key_properties"], _json_properties(schema_message))
    escaped = [text for text in _jsonb_texts(database, case.schema) if NON_ASCII_ESCAPE.search(text)]
    assert not escaped, f"non-ASCII stored as \\u escapes in jsonb: {escaped[:1]}"


def _counts(database: PostgresDatabase, schema: str) -> dict[str, int]:
    tables = database.query("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))
    return {name: database.query(f'SELECT count(*) FROM "{schema}"."{name}"')[0][0] for (name,) in tables}  # noqa: S608


def _jsonb_texts(database: PostgresDatabase, schema: str) -> list[str]:
    columns = database.query(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND udt_name IN ('jsonb', '_jsonb')", (schema,))
    texts: list[str] = []
    for table, column in columns:
        texts += [r[0] for r in database.query(f'SELECT to_jsonb("{column}")::text FROM "{schema}"."{table}" '  # noqa: S608
                                               f'WHERE "{column}" IS NOT NULL')]
    return texts
