#!/usr/bin/env bash
# Build ArcticInference's C++ suffix tree (the code behind vLLM's `suffix` method) for the
# drafter benchmark: only its extension (csrc/suffix_decoding, nanobind), no torch, no CUDA.
# PyPI has no wheel of arctic-inference >= 0.0.6; the sdist's own build needs torch and a
# CMake that finds nanobind, so the extension is built on its own. Result: .cache/arctic/pkg
# (benchmarks/bench_drafters.py adds it to sys.path).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
W="$ROOT/.cache/arctic"
VERSION="${ARCTIC_VERSION:-0.3.0}"
mkdir -p "$W/dl" "$W/src" "$W/build"
python3 -m venv "$W/venv"
"$W/venv/bin/pip" install -q nanobind==2.9.2 numpy
# the sdist: pip needs torch to read its metadata; take it with the project's CPU torch
"$ROOT/.venv/bin/pip" download -q --no-deps --no-binary arctic-inference --no-build-isolation \
  "arctic-inference==$VERSION" -d "$W/dl"
tar xzf "$W/dl/arctic_inference-$VERSION.tar.gz" -C "$W/src"
S="$W/src/arctic_inference-$VERSION"
(cd "$W/build" && nice -n 10 cmake "$S/csrc/suffix_decoding" -DPython_EXECUTABLE="$W/venv/bin/python" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null && CMAKE_BUILD_PARALLEL_LEVEL=1 nice -n 10 cmake --build . -j1 >/dev/null)
P="$W/pkg/arctic_inference/suffix_decoding"
mkdir -p "$P"
touch "$W/pkg/arctic_inference/__init__.py"
cp "$S/arctic_inference/suffix_decoding/__init__.py" "$S/arctic_inference/suffix_decoding/cache.py" "$P/"
cp "$W"/build/_C.cpython-*.so "$P/"
PYTHONPATH="$W/pkg" "$W/venv/bin/python" -c "from arctic_inference.suffix_decoding._C import SuffixTree; t = SuffixTree(8); t.extend(0, [1, 2, 3, 1, 2, 4]); print('arctic-inference', '$VERSION', 'built:', t.speculate([9, 1, 2], 4, 1.0, 0.0, 0.1, False).token_ids)"
