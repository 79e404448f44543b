#!/usr/bin/env bash
# Set up (idempotent) and run every test, quick-mode notebooks included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=.venv/bin/python
$PY -m ruff check toolkit kernels experiments benchmarks tests scripts
$PY -m pytest -q -n 2 -p no:cacheprovider tests "$@"
