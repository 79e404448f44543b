#!/usr/bin/env bash
# Create .venv with the CPU build of torch-free dependencies and the toolkit in editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[dev]"
.venv/bin/python -m ipykernel install --user --name python3 >/dev/null 2>&1 || true
