#!/usr/bin/env bash
# Create .venv (idempotent) with the toolkit in editable mode and its dev/notebook extras.
# No torch: the simulator needs none; the engine extra pins a CPU torch in issue [2/3].
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q -e ".[dev]"
.venv/bin/python -m ipykernel install --user --name python3 >/dev/null 2>&1 || true
