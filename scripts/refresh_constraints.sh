#!/usr/bin/env bash
# Refresh constraints/toolkit.txt and constraints/vllm.txt from a fresh resolve: new
# .venv-latest and .venv-vllm-latest get the newest releases that pyproject.toml's ranges and
# setup_vllm.sh's pins admit (torch pinned, see _env.sh), the test command runs in them, and
# only when it passes are their versions written (with --no-test: without running the tests).
# Prints what changed. Commit the two files: CI installs exactly these versions.
set -euo pipefail
cd "$(dirname "$0")/.."
export TOOLKIT_LATEST=1
source scripts/_env.sh
rm -rf "$VENV" "$VLLM_VENV"
if [ "${1:-}" = --no-test ]; then
  bash scripts/setup.sh
  bash scripts/setup_vllm.sh >/dev/null
else
  bash scripts/test.sh
fi

freeze() {  # freeze PYTHON OUT: the venv's versions, torch without its local "+cpu" label
  local tmp
  tmp=$(mktemp)
  {
    echo "# Versions the tests last passed with; written by scripts/refresh_constraints.sh"
    echo "# on $(date +%F) with $("$1" --version). Installed with pip -c; do not edit by hand."
    "$1" -m pip freeze --exclude-editable 2>/dev/null | grep -v "^#" | grep -v "^-e " \
      | grep -iv "^llmserve-toolkit" | sed -E 's/^(torch==[^+]+)\+cpu$/\1/' | LC_ALL=C sort -f
  } > "$tmp"
  if [ -f "$2" ]; then
    echo "== $2"
    "$1" scripts/constraints_diff.py "$2" "$tmp"
  fi
  mv "$tmp" "$2"
}
freeze "$PY" constraints/toolkit.txt
freeze "$VLLM_VENV/bin/python" constraints/vllm.txt
