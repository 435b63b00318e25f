"""Print rows per table of a DuckDB warehouse: ``python scripts/warehouse_counts.py output/dev.duckdb``."""

from __future__ import annotations

import sys

import duckdb


def main(path: str) -> int:
    """Print a ``schema.table | rows`` table; returns 1 if the file has no tables."""
    with duckdb.connect(path, read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables ORDER BY 1, 2"
        ).fetchall()
        rows = [(f"{s}.{n}", con.execute(f'SELECT count(*) FROM "{s}"."{n}"').fetchone()[0]) for s, n in tables]  # noqa: S608
    if not rows:
        print(f"{path}: no tables")
        return 1
    width = max(len(name) for name, _ in rows)
    print(f"{'table'.ljust(width)} | rows")
    print(f"{'-' * width}-|-------")
    for name, count in rows:
        print(f"{name.ljust(width)} | {count}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "output/dev.duckdb"))
