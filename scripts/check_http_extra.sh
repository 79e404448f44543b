#!/usr/bin/env bash
# `pip install -e ".[http]"` in a fresh venv installs no torch, and that venv drives a real vLLM
# server (from .venv-vllm: bash scripts/setup_vllm.sh) through the router proxy.
# Usage: bash scripts/check_http_extra.sh [VENV_DIR]   (default: a temporary folder)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
DIR=${1:-$(mktemp -d)/venv-http}
python3 -m venv "$DIR"
pip_quiet "$DIR/bin/python" install -q $(constraint_args "$CONSTRAINTS") -e ".[http]"
if "$DIR/bin/python" -c "import torch" 2>/dev/null; then echo "torch got installed" >&2; exit 1; fi
"$PY" -c "from toolkit.engine.tiny import build_tiny_model; print(build_tiny_model())" > "$DIR/model"
"$DIR/bin/python" scripts/http_extra_e2e.py "$(cat "$DIR/model")" "$TOOLKIT_VLLM_PYTHON" \
  toolkit/conf/router/preble_e2.yaml
