"""Build the tiny test model (random Llama + byte-level BPE tokenizer) offline, in seconds.

Usage: python scripts/build_tiny_model.py [--out DIR] [--seed N] [--force]
Default folder: .cache/tiny-llama in the repository.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))  # llmserve_kernels
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolkit.engine.tiny import DEFAULT_DIR, build_tiny_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--force", action="store_true", help="rebuild even if present")
    args = parser.parse_args()
    if args.force and args.out.exists():
        shutil.rmtree(args.out)
    start = time.perf_counter()
    path = build_tiny_model(args.out, seed=args.seed)
    size = sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    print(f"tiny model at {path} ({size / 1e6:.1f} MB, {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
