"""Multi-tier workloads (Nitsum): each request carries a tier whose SLO is a TTFT and a TPOT.

Nitsum does not publish its tiers or SLO values. Ours are set the way DistServe sets its
SLOs: a multiple of the model's unloaded latency at TP 1 (TTFT of the workload's median
prompt, TPOT of a lone decode at its median context), so that they move with the model and
GPU. A tier without a target (background) only counts towards throughput.

A workload is columnar (`TieredWorkload`: numpy arrays), because an hour of 128-GPU
traffic is millions of requests; `to_trace()` gives `Request`s for the engine.
Arrivals come from ServeGen's per-client rate windows (clients are dealt to tiers, so each
tier keeps its clients' own bursts and daily shape) or from an Azure trace (tiers drawn by
share); lengths are (context, generated) pairs drawn from an Azure trace.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from toolkit.core import ConfigError
from toolkit.core.request import Request
from toolkit.core.trace import Trace
from toolkit.cost.base import CostModel
from toolkit.workloads.readers import read_azure_rows


@dataclass(frozen=True)
class Tier:
    """A tier: its share of the arrivals and its SLO as multiples of the unloaded TP-1
    latency (`None`: no target on that metric)."""

    name: str
    share: float
    ttft_scale: float | None = None
    tpot_scale: float | None = None


@dataclass(frozen=True)
class TierSLO:
    """A tier's targets in seconds (`math.inf`: none)."""

    name: str
    ttft_s: float
    tpot_s: float

    @property
    def has_target(self) -> bool:
        return math.isfinite(self.ttft_s) or math.isfinite(self.tpot_s)


def check_tiers(tiers: Sequence[Tier]) -> None:
    """Names unique, shares positive and summing to 1, scales positive."""
    names = [t.name for t in tiers]
    if not tiers or len(set(names)) != len(names):
        raise ConfigError("tiers", f"need one or more tiers with unique names, got {names}")
    if any(t.share <= 0 for t in tiers) or abs(sum(t.share for t in tiers) - 1) > 1e-6:
        raise ConfigError("tiers", f"shares must be > 0 and sum to 1, got "
                          f"{[t.share for t in tiers]}")
    for t in tiers:
        for s in (t.ttft_scale, t.tpot_scale):
            if s is not None and s <= 0:
                raise ConfigError(f"tiers.{t.name}", f"SLO scales must be > 0, got {s}")


def resolve_slos(tiers: Sequence[Tier], cost: CostModel, ref_prompt_len: int,
                 ref_ctx_len: int) -> dict[str, TierSLO]:
    """Each tier's targets in seconds: scale x unloaded latency on `cost` (a TP-1 model)."""
    check_tiers(tiers)
    ttft_ref = cost.prefill_s(ref_prompt_len)
    tpot_ref = cost.decode_s(1, ref_ctx_len)
    return {t.name: TierSLO(t.name,
                            math.inf if t.ttft_scale is None else t.ttft_scale * ttft_ref,
                            math.inf if t.tpot_scale is None else t.tpot_scale * tpot_ref)
            for t in tiers}


@dataclass
class TieredWorkload:
    """Requests as columns, sorted by arrival: `tier[i]` indexes `tier_names`."""

    arrival_s: np.ndarray
    prompt_len: np.ndarray
    output_len: np.ndarray
    tier: np.ndarray
    tier_names: tuple[str, ...]

    def __post_init__(self) -> None:
        order = np.argsort(self.arrival_s, kind="stable")
        self.arrival_s = np.asarray(self.arrival_s, float)[order]
        self.prompt_len = np.asarray(self.prompt_len, np.int64)[order]
        self.output_len = np.maximum(1, np.asarray(self.output_len, np.int64)[order])
        self.tier = np.asarray(self.tier, np.int64)[order]

    def __len__(self) -> int:
        return len(self.arrival_s)

    def to_frame(self) -> pd.DataFrame:
        """One row per request: id, arrival_s, prompt_len, output_len, tier."""
        return pd.DataFrame({"id": np.arange(len(self)), "arrival_s": self.arrival_s,
                             "prompt_len": self.prompt_len, "output_len": self.output_len,
                             "tier": np.asarray(self.tier_names, object)[self.tier]})

    def to_trace(self, vocab_size: int, seed: int = 0) -> Trace:
        """`Request`s with random prompt tokens (for the engine; no shared prefixes)."""
        rng = np.random.default_rng(seed)
        reqs = [Request(f"tiered-{i}", float(t), int(o),
                        prompt_token_ids=rng.integers(0, vocab_size, int(p)).tolist(),
                        tier=self.tier_names[k])
                for i, (t, p, o, k) in enumerate(zip(self.arrival_s, self.prompt_len,
                                                     self.output_len, self.tier))]
        return Trace(reqs, name="tiered")


def azure_lengths(path: str | Path, n: int, rng: np.random.Generator,
                  max_prompt_len: int, max_output_len: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` (prompt, output) pairs drawn with replacement from an Azure trace, clipped."""
    _, ctx, gen = read_azure_rows(path)
    if not len(ctx):
        raise ConfigError("lengths_path", f"{path}: no rows")
    pick = rng.integers(0, len(ctx), n)
    return (np.clip(ctx[pick], 1, max_prompt_len), np.clip(gen[pick], 1, max_output_len))


def servegen_client_windows(path: str | Path, category: str = "language",
                            model: str = "m-large") -> pd.DataFrame:
    """ServeGen's rate windows of one (category, model): client, window_start_s, rate_rps, cv."""
    with gzip.open(path, "rt") if str(path).endswith(".gz") else open(path) as f:
        df = pd.read_csv(f)
    need = {"category", "model", "client_chunk", "window_start_s", "rate_rps", "cv"}
    if not need <= set(df.columns):
        raise ConfigError("servegen_path", f"{path}: missing columns {sorted(need - set(df.columns))}")
    df = df[(df["category"] == category) & (df["model"] == model)]
    if df.empty:
        raise ConfigError("servegen_model", f"{path}: no rows for {category}/{model}")
    return df.rename(columns={"client_chunk": "client"})[
        ["client", "window_start_s", "rate_rps", "cv"]].reset_index(drop=True)


def servegen_tiered(tiers: Sequence[Tier], servegen_path: str | Path, lengths_path: str | Path,
                    duration_s: float, rps: float, start_s: float = 0.0,
                    time_scale: float = 1.0, category: str = "language",
                    model: str = "m-large", window_s: float = 600.0, seed: int = 0,
                    max_prompt_len: int = 8192, max_output_len: int = 2048) -> TieredWorkload:
    """ServeGen clients dealt to tiers (largest deficit of mean rate first, in a seeded
    order), each tier's rate scaled to `share * rps` on average; a client's window of rate r
    and CV c gives Gamma arrivals of that rate and CV. Trace time t reads ServeGen time
    `start_s + t * time_scale` (`time_scale > 1` compresses a day into the run)."""
    check_tiers(tiers)
    if duration_s <= 0 or rps <= 0 or time_scale <= 0:
        raise ConfigError("workload", f"need duration_s, rps, time_scale > 0, got "
                          f"{duration_s}, {rps}, {time_scale}")
    rng = np.random.default_rng(seed)
    w = servegen_client_windows(servegen_path, category, model)
    t0 = (w["window_start_s"].to_numpy() - start_s) / time_scale
    t1 = t0 + window_s / time_scale
    w = w.assign(t0=np.maximum(t0, 0.0), t1=np.minimum(t1, duration_s))
    w = w[w["t1"] > w["t0"]]
    mass = (w["rate_rps"] * (w["t1"] - w["t0"])).groupby(w["client"]).sum()
    mass = mass[mass > 0]
    if mass.empty:
        raise ConfigError("start_s", f"no ServeGen traffic in [{start_s}, "
                          f"{start_s + duration_s * time_scale}) s")
    tier_of = _deal(mass.index.to_numpy()[rng.permutation(len(mass))], mass, tiers)
    scale = {k: tiers[k].share * rps * duration_s / sum(mass[c] for c in cs)
             for k, cs in _members(tier_of, len(tiers)).items()}
    times, tier = [], []
    for row in w[w["client"].isin(tier_of)].itertuples(index=False):
        k = tier_of[row.client]
        cv = row.cv if np.isfinite(row.cv) and row.cv > 0 else 1.0
        ts = _gamma_window(rng, row.rate_rps * scale[k], cv, row.t0, row.t1)
        times.append(ts)
        tier.append(np.full(len(ts), k))
    arrival = np.concatenate(times) if times else np.zeros(0)
    prompt, output = azure_lengths(lengths_path, len(arrival), rng, max_prompt_len,
                                   max_output_len)
    return TieredWorkload(arrival, prompt, output, np.concatenate(tier) if tier else
                          np.zeros(0, int), tuple(t.name for t in tiers))


def _deal(clients: np.ndarray, mass: pd.Series, tiers: Sequence[Tier]) -> dict:
    total = float(mass.sum())
    got = np.zeros(len(tiers))
    out = {}
    for c in sorted(clients, key=lambda c: -mass[c]):  # big clients first, ties by order
        k = int(np.argmax([t.share * total - g for t, g in zip(tiers, got)]))
        out[c] = k
        got[k] += mass[c]
    missing = [t.name for k, t in enumerate(tiers) if got[k] == 0]
    if missing:
        raise ConfigError("tiers", f"too few ServeGen clients for tiers {missing}")
    return out


def _members(tier_of: dict, num_tiers: int) -> dict[int, list]:
    out: dict[int, list] = {k: [] for k in range(num_tiers)}
    for c, k in tier_of.items():
        out[k].append(c)
    return out


def _gamma_window(rng: np.random.Generator, rate: float, cv: float, t0: float,
                  t1: float) -> np.ndarray:
    if rate <= 0:
        return np.zeros(0)
    shape = 1.0 / cv**2
    n = int(rate * (t1 - t0) * 1.5 + 20)
    out = []
    t = t0 + rng.uniform(0, 1 / rate)
    while t < t1:
        gaps = rng.gamma(shape, 1.0 / (rate * shape), n)
        ts = t + np.concatenate(([0.0], np.cumsum(gaps[:-1])))
        out.append(ts[ts < t1])
        t = ts[-1] + gaps[-1]
    return np.concatenate(out) if out else np.zeros(0)


def azure_tiered(tiers: Sequence[Tier], path: str | Path, duration_s: float, rps: float,
                 seed: int = 0, max_prompt_len: int = 8192,
                 max_output_len: int = 2048) -> TieredWorkload:
    """An Azure trace's arrivals rescaled to `rps` on average (looped to fill `duration_s`),
    its own lengths, and tiers drawn by share."""
    check_tiers(tiers)
    times, ctx, gen = read_azure_rows(path)
    if len(times) < 2 or times[-1] <= 0:
        raise ConfigError("path", f"{path}: need at least two rows over a positive span")
    span = float(times[-1]) * len(times) / (len(times) - 1)
    scaled = times * (len(times) / rps) / span
    period = len(times) / rps
    loops = int(math.ceil(duration_s / period))
    arrival = np.concatenate([scaled + i * period for i in range(loops)])
    keep = arrival < duration_s
    rng = np.random.default_rng(seed)
    shares = np.array([t.share for t in tiers])
    tier = rng.choice(len(tiers), size=int(keep.sum()), p=shares / shares.sum())
    prompt = np.clip(np.tile(ctx, loops)[keep], 1, max_prompt_len)
    output = np.clip(np.tile(gen, loops)[keep], 1, max_output_len)
    return TieredWorkload(arrival[keep], prompt, output, tier, tuple(t.name for t in tiers))
