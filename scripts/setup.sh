#!/usr/bin/env bash
# Create .venv (if missing) and install this project with its test and Meltano dependencies.
# Sourced by demo.sh and test.sh; safe to run again (pip skips what is already there).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
.venv/bin/python -m pip install --quiet -e ".[test,orchestration]"
bash scripts/install_servers.sh
