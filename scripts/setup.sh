#!/usr/bin/env bash
# Create .venv (idempotent) with the toolkit in editable mode and its dev/notebook extras.
# torch is pinned to 2.13.0 here (a CPU build lies on this kind of machine's disk; an unpinned
# torch would pull a multi-GB CUDA build); the package itself accepts torch>=2.1.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev,engine,kernels]"
.venv/bin/python -m ipykernel install --user --name python3 >/dev/null 2>&1 || true
