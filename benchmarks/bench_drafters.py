"""Drafter speed by corpus size (DAS Fig. 5): median proposal time and update time per
100 tokens, for the toolkit's tries and ArcticInference's C++ suffix tree when
`scripts/build_arctic.sh` has built it; then acceptance of SuffixDecoding (ours) and
ArcticInference on the same corpus.

Usage: python benchmarks/bench_drafters.py [--sizes 10000 100000 1000000]

Goals (issue #14): proposal under 20 us median, update under 1 ms per 100 tokens, and
within 3x of ArcticInference's C++ tree.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / ".cache" / "arctic" / "pkg"))  # scripts/build_arctic.sh

from experiments.das.speed import acceptance_vs_arctic, speed_table  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    p.add_argument("--queries", type=int, default=2000)
    args = p.parse_args()
    table = speed_table(tuple(args.sizes), queries=args.queries)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.1f}"))
    ratio = table.pivot(index="corpus_tokens", columns="drafter",
                        values=["propose_us", "update_us_per_100"])
    print("\n" + ratio.to_string(float_format=lambda x: f"{x:.1f}"))
    acc = acceptance_vs_arctic()
    if acc is not None:
        print("\nacceptance on the same corpus (replayed, k=8):")
        print(acc.to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    else:
        print("\nArcticInference not built (bash scripts/build_arctic.sh): no comparison")


if __name__ == "__main__":
    main()
