#!/usr/bin/env bash
# The main job: set up, then run every figure notebook in full on the simulator.
# Executed notebooks go to results/notebooks/, figures and tables to results/<paper>/figures/
# (notebooks named infercept_* belong to InferCept, das_* to DAS, nitsum_* to Nitsum, the
# others to Preble).
# TOOLKIT_LATEST=1 runs it with the newest releases in .venv-latest (see scripts/_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
bash scripts/setup.sh
mkdir -p results/notebooks
for nb in notebooks/*.ipynb; do
  name=$(basename "$nb")
  case "$name" in infercept_*) paper=infercept ;; das_*) paper=das ;; nitsum_*) paper=nitsum ;;
    *) paper=preble ;; esac
  echo "== $name"
  $PY -m papermill --cwd . -k python3 --no-progress-bar "$nb" "results/notebooks/$name" \
    -p quick False -p results_dir "results/$paper" "$@"
done
for paper in preble infercept das nitsum; do
  echo "$paper figures: $(ls results/$paper/figures | tr '\n' ' ')"
done
