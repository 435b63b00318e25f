#!/usr/bin/env bash
# Dagster's UI on the demo: sets up .venv and the Meltano plugins, a Dagster instance in .dagster/
# with the per-vendor pool limits, then `dagster dev` on 127.0.0.1:3000 (extra args go to dagster dev).
# Start the sandboxes first (`.venv/bin/python -m sandboxes`) for the dev environment.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
.venv/bin/meltano install
export DAGSTER_HOME="${DAGSTER_HOME:-$PWD/.dagster}"
mkdir -p "$DAGSTER_HOME"
[ -f "$DAGSTER_HOME/dagster.yaml" ] || cp orchestration/dagster.yaml "$DAGSTER_HOME/dagster.yaml"
.venv/bin/python -m orchestration.pools
exec .venv/bin/dagster dev -m orchestration.definitions -h 127.0.0.1 -p "${DAGSTER_PORT:-3000}" "$@"
