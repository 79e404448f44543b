"""InferCept's metrics: normalized latency without the pauses, completed requests per second
within the window, TTFT, GPU-memory waste and what the pauses did.

The paper's runs stop at the end of a fixed window and censor what is unfinished; here a run
drains to `run.drain_factor` times the window, latencies average the finished requests, and
a run that leaves more than 1% unfinished is flagged `saturated`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from toolkit.core.trace import Trace
from toolkit.sim.waste_meter import WasteMeter

SATURATED = 0.01
"""Share of requests unfinished at the end of the drained window above which a run is
taken as saturated (the paper's plot caps such points at its y-limit)."""


def with_pause_columns(df: pd.DataFrame, trace: Trace) -> pd.DataFrame:
    """Records plus each request's planned pause seconds and returned tool tokens."""
    plan = {r.id: (sum(s.pause_s for s in r.segments or ()),
                   sum(s.return_len for s in r.segments or ())) for r in trace}
    df = df.copy()
    df["pause_s_total"] = [plan[i][0] for i in df["request_id"]]
    df["num_returned_tokens"] = [plan[i][1] for i in df["request_id"]]
    return df


def normalized_latency(df: pd.DataFrame, with_returned: bool = False) -> pd.Series:
    """(finish - arrival - pause time) / output tokens of finished requests: the paper's
    "end-to-end latency over output tokens" without the time spent in tools, as its code
    computes it. With `with_returned`, the tools' returned tokens count as output too (one
    reading of the released benchmark, which feeds them back as generated tokens)."""
    tokens = df["num_output_tokens"] + (df["num_returned_tokens"] if with_returned else 0)
    latency = df["finish_s"] - df["arrival_s"] - df["pause_s_total"]
    return latency.clip(lower=0) / tokens.clip(lower=1)


def infercept_summary(df: pd.DataFrame, pauses: pd.DataFrame, meters: list[WasteMeter],
                      cfg: DictConfig, end_s: float) -> dict[str, Any]:
    """One run's figures: latency percentiles (ms/token), throughput, TTFT, waste (from the
    simulated engines' meters; none for a real engine), pauses."""
    ok = df[~df["failed"]]
    done_all = ok[ok["finish_s"].notna()]
    norm = normalized_latency(done_all) * 1000
    window = float(cfg.run.window_s) if cfg.run.window_s else end_s
    done = ok["finish_s"].notna() & (ok["finish_s"] <= window)
    ttft = (ok["first_token_s"] - ok["arrival_s"]).dropna()
    out: dict[str, Any] = {
        "num_requests": int(len(df)), "num_failed": int(df["failed"].sum()),
        "num_unfinished": int(ok["finish_s"].isna().sum()),
        # cut short by the model's context limit (toolkit.core.context_limit)
        "num_context_truncated": int(df["context_truncated"].sum()),
        # requests still running when the drained window ends: latencies average finished
        # ones only, so a point with more than SATURATED of them counts as saturated
        "unfinished_frac": float(ok["finish_s"].isna().mean()) if len(ok) else 0.0,
        "throughput_rps": float(done.sum()) / window if window else math.nan,
        "norm_latency_ms_mean": float(norm.mean()) if len(norm) else math.nan,
        "ttft_s_mean": float(ttft.mean()) if len(ttft) else math.nan,
    }
    for q in (50, 90, 99):
        out[f"norm_latency_ms_p{q}"] = float(np.percentile(norm, q)) if len(norm) else math.nan
    with_ret = normalized_latency(done_all, with_returned=True) * 1000
    out["norm_latency_incl_returned_ms_mean"] = float(with_ret.mean()) if len(with_ret) else math.nan
    out["saturated"] = out["unfinished_frac"] > SATURATED
    if meters:
        meter = WasteMeter()
        for m in meters:
            meter = meter.merge(m)
        out.update(meter.summary())
    counts = pauses["action"].value_counts() if len(pauses) else pd.Series(dtype=int)
    for action in ("preserve", "discard", "swap"):
        out[f"pauses_{action}"] = int(counts.get(action, 0))
    out.update(labels(cfg))
    return out


def labels(cfg: DictConfig) -> dict[str, Any]:
    """Labels that identify a run in a sweep's table."""
    return {
        "policy": cfg.get("system_name", "custom"), "setup": cfg.get("setup_name", "custom"),
        "workload": cfg.workload.get("name", "trace"), "rps": cfg.workload.get("rps"),
        "seed": int(cfg.seed), "estimate_duration": bool(cfg.run.estimate_duration),
        "backend": cfg.backend.name,
    }
