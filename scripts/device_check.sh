#!/usr/bin/env bash
# One command for a lent GPU machine (H200 / H100): what is there, then the checks that need
# CUDA, each under its own time limit so that one hang does not eat the rest:
#   (c) benchmarks/bench_gpu_decode.py: Llama-3-8B-shaped batch-1 decode vs the HBM roofline
#   (a) pytest tests/kernels: the Triton kernels on CUDA against their references
#   (b) tests/engine/test_generate.py: engine greedy output == transformers, on CUDA
#   (d) python -m toolkit.profiling.profile on the tiny model (quick grid), if time is left
# Everything lands in $OUT (default /tmp/device_check): device_check.log,
# bench_gpu_decode.json, profile_tiny_cuda.json. Needs no network and installs nothing:
# the repo is imported through PYTHONPATH by the first python that has torch. Without CUDA
# it prints what it found, runs the benchmark's tiny CPU smoke test and exits 0.
# Usage: OUT=/some/dir bash scripts/device_check.sh        (about 3-5 minutes on a GPU)
#        CHECKS="bench" OUT=... bash scripts/device_check.sh   only the named checks, of
#        bench, kernels, engine-greedy, profile-tiny (for a short device budget: bench first)
set +e
cd "$(dirname "$0")/.." || exit 0
OUT=${OUT:-/tmp/device_check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD:$PWD/kernels${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
SUMMARY=()
CHECKS=" ${CHECKS:-bench kernels engine-greedy profile-tiny} "

wanted() {  # wanted NAME: whether CHECKS names it (else it is logged as skipped)
  case "$CHECKS" in *" $1 "*) return 0 ;; esac
  SUMMARY+=("$1: skipped (not in CHECKS)")
  return 1
}

step() {  # step NAME LIMIT_S CMD...: run CMD under `timeout`, log its exit code and time
  local name=$1 limit=$2 t0=$SECONDS rc
  shift 2
  echo
  echo "=== [$name] start at ${SECONDS}s, limit ${limit}s: $*"
  timeout -k 10 "$limit" "$@"
  rc=$?
  [ "$rc" = 124 ] || [ "$rc" = 137 ] && echo "=== [$name] TIMED OUT after ${limit}s"
  echo "=== [$name] rc=$rc in $((SECONDS - t0))s"
  SUMMARY+=("$name: rc=$rc in $((SECONDS - t0))s")
  return "$rc"
}

pick_python() {
  local c
  for c in "${PY:-}" python3 .venv/bin/python python; do
    [ -n "$c" ] && command -v "$c" >/dev/null 2>&1 && "$c" -c "import torch" >/dev/null 2>&1 \
      && { echo "$c"; return 0; }
  done
  return 1
}

env_report() {
  echo "=== environment ($(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -srm), $(nproc) cores)"
  if command -v nvidia-smi >/dev/null 2>&1; then
    timeout 30 nvidia-smi
    timeout 30 nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem,clocks.max.sm,power.limit --format=csv
  else
    echo "nvidia-smi: not found"
  fi
  echo "python: $PY ($(command -v "$PY"))"
  # Triton builds a small launcher at its first kernel launch: it needs a C compiler and
  # Python's headers; without them graph capture falls back to eager and the kernels fail.
  echo "cc: $( (command -v gcc || command -v cc) 2>/dev/null || echo 'NOT FOUND')"
  "$PY" -c "import sysconfig, os; d = sysconfig.get_paths()['include']; print('Python.h:', d, 'found' if os.path.exists(os.path.join(d, 'Python.h')) else 'NOT FOUND')"
  timeout 120 "$PY" - <<'EOF'
import importlib, platform
print("python", platform.python_version())
for name in ("torch", "triton", "numpy", "pandas", "pyarrow", "pytest", "xdist", "transformers",
             "tokenizers", "safetensors"):
    try:
        print(f"{name:13s}", getattr(importlib.import_module(name), "__version__", "?"))
    except Exception as exc:  # noqa: BLE001
        print(f"{name:13s} MISSING ({type(exc).__name__}: {exc})")
import torch
print("torch.cuda.is_available:", torch.cuda.is_available(), "| torch.version.cuda:", torch.version.cuda)
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    print(f"device 0: {p.name}, {p.total_memory / 2**30:.1f} GiB, {p.multi_processor_count} SMs, "
          f"capability {p.major}.{p.minor}")
EOF
}

summary() {
  echo
  echo "=== summary (total ${SECONDS}s)"
  printf '  %s\n' "${SUMMARY[@]}"
  [ -f "$BENCH_JSON" ] && "$PY" - "$BENCH_JSON" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
bw = d["bandwidth"]
print(f"  bench: {d['info']['device']}, cuda_graphs={d['cuda_graphs']}, "
      f"weights read {bw['weight_read_bytes'] / 1e9:.3f} GB, measured copy "
      f"{bw['copy_bytes_per_s'] / 1e9:.0f} GB/s (read+write), peak {bw['datasheet_source']}")
print(f"  autotuned: {d.get('autotuned')}")
for r in d["results"]:
    if "error" in r:
        print(f"  ctx {r['ctx']}: ERROR {r['error']}")
        continue
    f = lambda k: f"{r[k]:.3f}" if isinstance(r.get(k), float) else "-"  # noqa: E731
    print(f"  ctx {r['ctx']:5d} (seq {r['seq_len']}): decode {f('decode_ms')} ms ({r['decode_mode']}) "
          f"| eager fwd {f('forward_eager_ms')} | step graph {f('step_graph_ms')} "
          f"eager {f('step_eager_ms')} | roofline {f('roofline_ms')} ms "
          f"(copy-bw {f('roofline_copy_ms')}) | ratio {f('ratio')} | within 1.5x: "
          f"{r.get('within_1_5x')} | prefill {f('prefill_ms')} ms")
EOF
}

main() {
  PY=$(pick_python)
  if [ -z "$PY" ]; then
    echo "no python with torch found (tried \$PY, python3, .venv/bin/python, python): nothing to run"
    command -v nvidia-smi >/dev/null 2>&1 && timeout 30 nvidia-smi
    return 0
  fi
  env_report  # each command in it has its own time limit
  if ! timeout 120 "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"
  then
    echo "no CUDA device visible to torch: skipping the GPU checks; CPU smoke test only"
    BENCH_JSON="$OUT/bench_gpu_decode_tiny_cpu.json"
    step bench-tiny-cpu 120 "$PY" benchmarks/bench_gpu_decode.py --tiny --steps 5 --reps 5 \
      --out "$BENCH_JSON"
    summary
    return 0
  fi
  BENCH_JSON="$OUT/bench_gpu_decode.json"
  wanted bench && step bench 200 "$PY" benchmarks/bench_gpu_decode.py --contexts 512,4096 --out "$BENCH_JSON"
  local xdist=()
  "$PY" -c "import xdist" 2>/dev/null && xdist=(-n 8)
  wanted kernels && step kernels 150 "$PY" -m pytest tests/kernels -q --maxfail=3 -p no:cacheprovider "${xdist[@]}"
  wanted engine-greedy && step engine-greedy 100 "$PY" -m pytest tests/engine/test_generate.py -q -x -p no:cacheprovider
  if wanted profile-tiny; then
    if [ "$SECONDS" -lt 420 ]; then
      step profile-tiny 60 "$PY" -m toolkit.profiling.profile --model tiny --device cuda --quick \
        --out "$OUT/profile_tiny_cuda.json"
    else
      SUMMARY+=("profile-tiny: skipped (${SECONDS}s used)")
    fi
  fi
  summary
}

main "$@" 2>&1 | tee "$OUT/device_check.log"
exit 0
