#!/usr/bin/env bash
# The whole test suite: unit, integration against the sandboxes over HTTP, the singer-sdk
# standard tests, the packaged-wheel check and the Meltano end-to-end runs into DuckDB.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
.venv/bin/meltano install
# lint and types first (rules in pyproject.toml): seconds, and a failure names file and line
.venv/bin/ruff check .
.venv/bin/mypy
exec .venv/bin/python -m pytest -n 2 "$@"
