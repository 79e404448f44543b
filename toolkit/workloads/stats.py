"""Workload statistics in the form of Preble's Table 1 (Appendix A).

Per request, over the prefix tree of all prompts in the trace (an infinite cache):

- `shared_prefix_len`: the longest prefix the request shares with ANY other request;
- `cached_prefix_len`: the longest prefix it shares with an EARLIER request (its hit in an
  infinite prefix cache replaying the trace in arrival order). This is the reading of
  Table 1's "shared prefix" that its numbers fit: Video QA's (88%, 32%) is exactly one cold
  first question per video out of 8.5, Embodied's (97%, 14%) one cold first turn per ~48;
- `key_portion_len`: tokens of the request's key-portion node, "the deepest node in a path
  that has more tokens than the sum of its predecessors" (the node's own tokens);
- `key_sharing`: requests whose prompt passes through that node.

`workload_stats` summarises these into one row (shares are per-request fractions of the
prompt; `key_sharing` mean/std is over distinct key-portion nodes, and
`key_sharing_per_request` over requests). Block-hash traces are
measured in tokens through `Request.key_tokens`. Standard deviations are population (ddof=0).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from toolkit.core.trace import Trace
from toolkit.workloads.prefix_tree import (
    PrefixTree,
    shared_with_any,
    shared_with_earlier,
    sorted_lcps,
)


def request_prefix_stats(trace: Trace) -> pd.DataFrame:
    """One row per request (trace order): prompt_len, output_len, shared_prefix_len,
    cached_prefix_len, key_portion_len, key_sharing (request count) and key_node (an id)."""
    reqs = trace.requests
    per_key = {r.tokens_per_key for r in reqs}
    if len(per_key) > 1:
        raise ValueError("cannot compare token-id and block-hash prompts in one trace")
    keys = [r.key for r in reqs]
    order, lcp = sorted_lcps(keys)
    tree = PrefixTree.build(order, lcp, [len(k) for k in keys])
    any_len = shared_with_any(order, lcp).tolist()
    early_len = shared_with_earlier(order, lcp).tolist()
    key_node = tree.key_node.tolist()
    depth = tree.depth.tolist()
    parent = tree.parent.tolist()
    key_len = [
        0 if k < 0 else r.key_tokens(depth[k]) - r.key_tokens(depth[parent[k]])
        for r, k in zip(reqs, key_node)
    ]
    return pd.DataFrame(
        {
            "prompt_len": [r.prompt_len for r in reqs],
            "output_len": [r.output_len for r in reqs],
            "shared_prefix_len": [r.key_tokens(n) for r, n in zip(reqs, any_len)],
            "cached_prefix_len": [r.key_tokens(n) for r, n in zip(reqs, early_len)],
            "key_portion_len": key_len,
            "key_sharing": [int(tree.count[k]) if k >= 0 else 0 for k in key_node],
            "key_node": key_node,
        }
    )


def workload_stats(trace: Trace, name: str | None = None) -> pd.DataFrame:
    """One row of Table-1 statistics for a trace (means and population stds)."""
    df = request_prefix_stats(trace)
    plen = df["prompt_len"].to_numpy(dtype=float)
    safe = np.where(plen > 0, plen, 1.0)
    row: dict[str, object] = {"workload": name or trace.name, "num_requests": len(df)}
    _mean_std(row, "prompt_len", df["prompt_len"].to_numpy(dtype=float))
    _mean_std(row, "output_len", df["output_len"].to_numpy(dtype=float))
    for col, out in (
        ("shared_prefix_len", "shared_prefix_share"),
        ("cached_prefix_len", "cached_prefix_share"),
        ("key_portion_len", "key_portion_share"),
    ):
        _mean_std(row, out, df[col].to_numpy(dtype=float) / safe)
    nodes = df.loc[df["key_node"] >= 0].drop_duplicates("key_node")
    _mean_std(row, "key_sharing", nodes["key_sharing"].to_numpy(dtype=float))
    _mean_std(row, "key_sharing_per_request", df["key_sharing"].to_numpy(dtype=float))
    row["num_key_nodes"] = len(nodes)
    return pd.DataFrame([row])


def stats_table(traces: Mapping[str, Trace] | list[Trace]) -> pd.DataFrame:
    """Table-1 rows for several traces (a dict name -> trace, or a list named by trace.name)."""
    items = traces.items() if isinstance(traces, Mapping) else [(t.name, t) for t in traces]
    rows = [workload_stats(t, name) for name, t in items]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _mean_std(row: dict, name: str, values: np.ndarray) -> None:
    row[f"{name}_mean"] = float(values.mean()) if values.size else float("nan")
    row[f"{name}_std"] = float(values.std()) if values.size else float("nan")
