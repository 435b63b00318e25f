#!/usr/bin/env bash
# The demo pipeline: start every vendor sandbox, `meltano run demo` (each tap -> target-duckdb)
# into output/dev.duckdb and dbt's archive build, then print the rows per warehouse table and
# export one vCon per conversation into output/vcon/ (printing the archive's rows per source).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p output
# set-up and plugin installation lines go to output/setup.log and output/install.log (shown only when
# they fail), so the demo's stderr is the pipeline's own
echo "setting up .venv and the Meltano plugins (first time: a few minutes)..." >&2
bash scripts/setup.sh > output/setup.log 2>&1 || { echo "set-up failed; see output/setup.log:" >&2; tail -n 20 output/setup.log >&2; exit 1; }
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
.venv/bin/meltano install > output/install.log 2>&1 || { echo "meltano install failed; see output/install.log:" >&2; tail -n 20 output/install.log >&2; exit 1; }
rm -f output/sandbox.json
.venv/bin/python -m sandboxes --ready-file output/sandbox.json > output/sandbox.log 2>&1 &
SANDBOX_PID=$!
trap 'kill $SANDBOX_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do [ -s output/sandbox.json ] && break; sleep 0.1; done
[ -s output/sandbox.json ] || { echo "sandbox did not start; see output/sandbox.log:" >&2; tail -n 3 output/sandbox.log >&2; exit 1; }
.venv/bin/meltano --environment=dev run demo
.venv/bin/python scripts/warehouse_counts.py output/dev.duckdb
.venv/bin/conversation-archive export-vcon --warehouse output/dev.duckdb --out output/vcon
