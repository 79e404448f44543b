#!/usr/bin/env bash
# Create the toolkit's venv (idempotent; .venv by default, see scripts/_env.sh) with the toolkit
# in editable mode and its dev/engine/kernels extras, at the versions of
# constraints/toolkit.txt (TOOLKIT_LATEST=1: the newest releases instead).
# torch is pinned to 2.13.0 here (a CPU build lies on this kind of machine's disk; an unpinned
# torch would pull a multi-GB CUDA build); the package itself accepts torch>=2.1.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
if [ ! -x "$PY" ]; then
  python3 -m venv "$VENV"
fi
# shellcheck disable=SC2046
if [ "${TOOLKIT_LATEST:-0}" = 1 ]; then
  pip_quiet "$PY" install -q -U --upgrade-strategy eager $(constraint_args "$CONSTRAINTS") \
    "$TORCH_PIN" -e ".[dev,engine,kernels]"
else
  pip_quiet "$PY" install -q $(constraint_args "$CONSTRAINTS") "$TORCH_PIN" -e ".[dev,engine,kernels]"
fi
# The notebooks' kernel: this venv's python, its spec kept inside the venv (not user-wide).
"$PY" -m ipykernel install --sys-prefix --name python3 >/dev/null
