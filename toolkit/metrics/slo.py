"""SLO attainment and goodput of tiered runs (records with `tier` and `slo_met`).

Goodput = requests per second that meet both their tier's TTFT and TPOT targets, over the
arrival window; a tier without targets counts its finished requests (throughput)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def slo_columns(arrival_s: np.ndarray, first_token_s: np.ndarray, finish_s: np.ndarray,
                num_output_tokens: np.ndarray, ttft_slo_s: np.ndarray, tpot_slo_s: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ttft_s, tpot_s, slo_met) per request: met = finished with TTFT and TPOT within the
    request's targets (`inf`: none). TPOT is 0 for single-token outputs."""
    ttft = first_token_s - arrival_s
    tpot = np.where(num_output_tokens > 1,
                    (finish_s - first_token_s) / np.maximum(num_output_tokens - 1, 1), 0.0)
    return ttft, tpot, np.isfinite(finish_s) & (ttft <= ttft_slo_s) & (tpot <= tpot_slo_s)


def _q(values: pd.Series, q: float) -> float:
    v = values.dropna().to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    return float(np.quantile(v, q)) if v.size else math.nan


def tier_summary(df: pd.DataFrame, duration_s: float) -> dict[str, dict[str, float]]:
    """Per tier: goodput_rps, slo_attainment (met / arrived), throughput_rps (finished),
    num_requests, TTFT and TPOT p50/p99 (s)."""
    if duration_s <= 0:
        raise ValueError(f"tier_summary: duration_s must be > 0, got {duration_s}")
    out = {}
    for tier, x in df.groupby("tier", sort=True):
        done = np.isfinite(x["finish_s"].to_numpy(dtype=float))
        out[str(tier)] = {
            "goodput_rps": float(x["slo_met"].sum()) / duration_s,
            "slo_attainment": float(x["slo_met"].mean()) if len(x) else math.nan,
            "throughput_rps": float(done.sum()) / duration_s,
            "num_requests": int(len(x)),
            "ttft_p50_s": _q(x["ttft_s"], 0.5), "ttft_p99_s": _q(x["ttft_s"], 0.99),
            "tpot_p50_s": _q(x["tpot_s"], 0.5), "tpot_p99_s": _q(x["tpot_s"], 0.99),
        }
    return out


def goodput_summary(df: pd.DataFrame, duration_s: float, num_gpus: int) -> dict:
    """`goodput_rps`, `goodput_rps_per_gpu`, `slo_attainment` and `tiers` (see
    `tier_summary`)."""
    tiers = tier_summary(df, duration_s)
    good = sum(t["goodput_rps"] for t in tiers.values())
    return {"goodput_rps": good, "goodput_rps_per_gpu": good / num_gpus,
            "slo_attainment": float(df["slo_met"].mean()) if len(df) else math.nan,
            "num_requests": int(len(df)), "tiers": tiers}


def window_goodput(df: pd.DataFrame, window_s: float) -> pd.DataFrame:
    """Goodput (req/s) per arrival window and tier: columns window, tier, goodput_rps."""
    w = (df["arrival_s"] // window_s).astype(int)
    g = df.groupby([w.rename("window"), "tier"])["slo_met"].sum() / window_s
    return g.rename("goodput_rps").reset_index()
