"""InferCept's Table 1 recomputed from any trace whose requests have tool-call segments.

Per augmentation (`Request.meta["augmentation"]`; requests without one are "unlabelled"),
or one row "all" with `by=None`: mean and std of the pause duration (over calls), calls per
request (over requests, zero-call requests included), context length (the request's final
context: prompt + all generated + all returned tokens, `Request.final_context_len`),
returned tokens per call, generated tokens per segment (before each call) and the final
answer's tokens. Standard deviations are population ones (ddof=0), as in `stats.py`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from toolkit.core.request import Request
from toolkit.core.trace import Trace
from toolkit.workloads.infercept import AUGMENTATIONS

_QUANTITIES = ("pause_s", "calls", "context_len", "return_len", "output_len", "final_len")


def segment_stats(trace: Trace, by: str | None = "augmentation") -> pd.DataFrame:
    """One row per group (index `augmentation`): `num_requests`, `num_calls` and
    `<quantity>_mean` / `<quantity>_std` for each of pause_s, calls, context_len,
    return_len, output_len (per segment) and final_len (see the module docstring)."""
    groups: dict[str, list[Request]] = {}
    for r in trace:
        label = "all" if by is None else str(r.meta.get(by, "unlabelled"))
        groups.setdefault(label, []).append(r)
    rows = [_group_row(label, reqs) for label, reqs in sorted(groups.items())]
    columns = ["augmentation", "num_requests", "num_calls"] + [
        f"{q}_{s}" for q in _QUANTITIES for s in ("mean", "std")
    ]
    return pd.DataFrame(rows, columns=columns).set_index("augmentation")


def _group_row(label: str, reqs: list[Request]) -> dict:
    segs = [s for r in reqs for s in (r.segments or ())]
    values = {
        "pause_s": [s.pause_s for s in segs],
        "calls": [len(r.segments or ()) for r in reqs],
        "context_len": [r.final_context_len for r in reqs],
        "return_len": [s.return_len for s in segs],
        "output_len": [s.output_len for s in segs],
        "final_len": [r.output_len for r in reqs],
    }
    row: dict = {"augmentation": label, "num_requests": len(reqs), "num_calls": len(segs)}
    for q, v in values.items():
        arr = np.asarray(v, dtype=float)
        row[f"{q}_mean"] = float(arr.mean()) if arr.size else float("nan")
        row[f"{q}_std"] = float(arr.std()) if arr.size else float("nan")
    return row


def table1_targets() -> pd.DataFrame:
    """InferCept's Table 1 (second values read as stds) and the pre-paper returned tokens
    per call, in `segment_stats` column names, one row per augmentation."""
    rows = [
        {"augmentation": name, "pause_s_mean": s.pause_s[0], "pause_s_std": s.pause_s[1],
         "calls_mean": s.num_calls[0], "calls_std": s.num_calls[1],
         "context_len_mean": s.context_len[0], "context_len_std": s.context_len[1],
         "return_len_mean": s.return_len, "note": s.note}
        for name, s in AUGMENTATIONS.items()
    ]
    return pd.DataFrame(rows).set_index("augmentation")


def table1_comparison(trace: Trace) -> pd.DataFrame:
    """Measured against Table 1: one row per (augmentation, statistic) with `paper`,
    `measured` and `rel_err` = measured / paper - 1 (augmentations of the trace only)."""
    measured, paper = segment_stats(trace), table1_targets()
    rows = []
    for aug in measured.index.intersection(paper.index):
        for col in paper.columns.drop("note"):
            target, value = float(paper.at[aug, col]), float(measured.at[aug, col])
            rows.append({"augmentation": aug, "statistic": col, "paper": target,
                         "measured": value, "rel_err": value / target - 1.0})
    return pd.DataFrame(rows)
