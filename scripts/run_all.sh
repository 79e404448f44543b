#!/usr/bin/env bash
# The main job: set up, then run every figure notebook in full on the simulator.
# Executed notebooks go to results/notebooks/, figures and tables to results/preble/figures/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=.venv/bin/python
mkdir -p results/notebooks
for nb in notebooks/*.ipynb; do
  name=$(basename "$nb")
  echo "== $name"
  $PY -m papermill --cwd . -k python3 --no-progress-bar "$nb" "results/notebooks/$name" \
    -p quick False -p results_dir results/preble "$@"
done
echo "figures: $(ls results/preble/figures | tr '\n' ' ')"
