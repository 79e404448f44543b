# Sourced by the setup, test and run scripts: which virtual environments to use and which
# versions to install into them.
#
# Default: .venv and .venv-vllm, installed from the committed constraints files (the versions
# the tests last passed with), so a landing tests what was tested.
# TOOLKIT_LATEST=1: .venv-latest and .venv-vllm-latest, upgraded to the newest releases that
# pyproject.toml's ranges admit (torch stays pinned: see setup.sh).
# VENV, CONSTRAINTS, VLLM_VENV and VLLM_CONSTRAINTS override one piece each
# (CONSTRAINTS= with an empty value means no constraints file).
if [ "${TOOLKIT_LATEST:-0}" = 1 ]; then
  VENV=${VENV:-.venv-latest}
  VLLM_VENV=${VLLM_VENV:-.venv-vllm-latest}
  CONSTRAINTS=${CONSTRAINTS-}
  VLLM_CONSTRAINTS=${VLLM_CONSTRAINTS-}
else
  VENV=${VENV:-.venv}
  VLLM_VENV=${VLLM_VENV:-.venv-vllm}
  CONSTRAINTS=${CONSTRAINTS-constraints/toolkit.txt}
  VLLM_CONSTRAINTS=${VLLM_CONSTRAINTS-constraints/vllm.txt}
fi
TORCH_PIN="torch==2.13.0"  # a CPU build on this kind of machine's disk; unpinned = a CUDA build
abs_path() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
PY="$VENV/bin/python"
# The notebooks' `python3` kernel is this venv's (setup.sh installs its spec under the venv;
# JUPYTER_PATH puts it before a user-wide spec that may point at another environment).
export JUPYTER_PATH="$(abs_path "$VENV")/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
export TOOLKIT_VLLM_PYTHON="${TOOLKIT_VLLM_PYTHON:-$(abs_path "$VLLM_VENV")/bin/python}"
export VENV VLLM_VENV CONSTRAINTS VLLM_CONSTRAINTS

pip_quiet() {  # pip_quiet PYTHON ARGS: pip without the warnings about the local index folders
  "$1" -m pip "${@:2}" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
  return "${PIPESTATUS[0]}"
}

constraint_args() {  # "-c FILE" for a non-empty constraints file name, checked to exist
  if [ -n "$1" ]; then
    if [ ! -f "$1" ]; then
      echo "constraints file not found: $1 (set it empty for none)" >&2
      return 2
    fi
    echo "-c $1"
  fi
}
