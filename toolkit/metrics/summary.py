"""Summaries of a run's records (a DataFrame with `RequestRecord` columns)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

PERCENTILES = (50, 90, 99)


def add_derived_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Add latency_s, ttft_s, tpot_s and normalized_latency_s (latency / output tokens)."""
    out = df.copy()
    out["latency_s"] = out["finish_s"] - out["arrival_s"]
    out["ttft_s"] = out["first_token_s"] - out["arrival_s"]
    decode_tokens = (out["num_output_tokens"] - 1).clip(lower=1)
    out["tpot_s"] = np.where(
        out["num_output_tokens"] > 1, (out["finish_s"] - out["first_token_s"]) / decode_tokens, np.nan
    )
    out["normalized_latency_s"] = out["latency_s"] / out["num_output_tokens"].clip(lower=1)
    return out


def _dist(values: pd.Series, name: str) -> dict[str, float]:
    v = values.dropna().to_numpy(dtype=float)
    if v.size == 0:
        return {f"{name}_mean": math.nan, **{f"{name}_p{p}": math.nan for p in PERCENTILES}}
    stats = {f"{name}_mean": float(v.mean())}
    stats.update({f"{name}_p{p}": float(np.percentile(v, p)) for p in PERCENTILES})
    return stats


def summarize(records: pd.DataFrame) -> dict[str, float]:
    """Mean/p50/p90/p99 latency, TTFT, TPOT and normalized latency; throughput; hit ratio.

    Failed or unfinished requests are counted, not averaged in. Throughput is finished
    requests (and output tokens) per second from the first arrival to the last finish.
    """
    df = add_derived_columns(records)
    done = df[~df["failed"] & df["finish_s"].notna()]
    out: dict[str, float] = {
        "num_requests": int(len(df)),
        "num_finished": int(len(done)),
        "num_failed": int(df["failed"].sum()),
        "num_preemptions": int(df["num_preemptions"].sum()),
    }
    for col, name in (("latency_s", "latency_s"), ("ttft_s", "ttft_s"), ("tpot_s", "tpot_s"),
                      ("normalized_latency_s", "normalized_latency_s")):
        out.update(_dist(done[col], name))
    span = float(done["finish_s"].max() - df["arrival_s"].min()) if len(done) else math.nan
    out["duration_s"] = span
    out["throughput_rps"] = len(done) / span if span and span > 0 else math.nan
    out["throughput_tok_s"] = float(done["num_output_tokens"].sum()) / span if span and span > 0 else math.nan
    prompt = float(done["num_prompt_tokens"].sum())
    out["cache_hit_ratio"] = float(done["num_cached_tokens"].sum()) / prompt if prompt else math.nan
    return out
