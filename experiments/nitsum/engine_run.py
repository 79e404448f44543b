"""Nitsum on the toolkit's engine (`backend=engine`): the workload replayed open-loop on
a `TPEngine` (gloo ranks, full weights per rank), with live TP switches at given times.
Records carry `tier` and `slo_met` against SLOs scaled from this engine's own unloaded
TP-1 latency, as the simulator's are from the H200 tables."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from experiments.nitsum.engine_tp import VOCAB, llama_shaped
from toolkit.core import ConfigError
from toolkit.engine.tp.engine import TPEngine
from toolkit.metrics.slo import goodput_summary, slo_columns
from toolkit.workloads.tiers import Tier, TieredWorkload


def shrink(w: TieredWorkload, b: DictConfig) -> TieredWorkload:
    """The first `num_requests` requests at mean rate `rps`, lengths clipped."""
    n = min(len(w), int(b.num_requests))
    if n < 1 or b.rps <= 0:
        raise ConfigError("backend", f"need num_requests >= 1 and rps > 0, got {n}, {b.rps}")
    t = w.arrival_s[:n] - w.arrival_s[0]
    span = t[-1] if n > 1 and t[-1] > 0 else 1.0
    t = t * ((n - 1) / float(b.rps)) / span if n > 1 else t
    return TieredWorkload(t, np.clip(w.prompt_len[:n], 1, int(b.max_prompt_len)),
                          np.clip(w.output_len[:n], 1, int(b.max_output_len)), w.tier[:n],
                          w.tier_names)


def unloaded(eng: TPEngine, prompt_len: int) -> tuple[float, float]:
    """(prefill s of one prompt, one decode step s) at TP 1, median of three runs."""
    rng = np.random.default_rng(0)
    pre, dec = [], []
    for _ in range(3):
        res = eng.generate([rng.integers(3, VOCAB, prompt_len).tolist()], 3, ignore_eos=True)
        pre.append(res.step_s[0])
        dec.append(float(np.median(res.step_s[1:])))
    return float(np.median(pre)), float(np.median(dec))


def replay(eng: TPEngine, w: TieredWorkload, switch_at: dict[float, int],
           seed: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Serve `w` in wall-clock time; first-token and finish times (s from the start), and
    the switches made."""
    rng = np.random.default_rng(seed)
    prompts = [rng.integers(3, VOCAB, int(p)).tolist() for p in w.prompt_len]
    n, i = len(w), 0
    first, finish = np.full(n, math.nan), np.full(n, math.nan)
    todo, switches = sorted(switch_at.items()), []
    t0 = time.perf_counter()
    while i < n or eng.has_unfinished():
        now = time.perf_counter() - t0
        while i < n and w.arrival_s[i] <= now:
            eng.add_request(prompts[i], int(w.output_len[i]), ignore_eos=True, request_id=str(i))
            i += 1
        if todo and now >= todo[0][0]:
            switches.append(eng.switch_tp(todo.pop(0)[1]))
        if not eng.has_unfinished():
            time.sleep(max(0.0, w.arrival_s[i] - (time.perf_counter() - t0)) if i < n else 0)
            continue
        outs = eng.step(0)
        t = time.perf_counter() - t0
        for o in outs:
            k = int(o.request_id)
            if o.new_token_ids and math.isnan(first[k]):
                first[k] = t
            if o.finish_reason is not None:
                finish[k] = t
                eng.output(o.request_id, forget=True)
    return first, finish, switches


def run_engine(cfg: DictConfig, w: TieredWorkload, tiers: list[Tier], out: Path) -> dict:
    """Replay the shrunk workload on the engine (see the module docstring); the summary."""
    if cfg.policy.name != "static_tp":
        raise ConfigError("policy", f"backend=engine runs policy=static_tp (its FCFS "
                          f"scheduler at cluster.tp); got {cfg.policy.name!r}")
    b = cfg.backend
    w = shrink(w, b)
    try:
        switch_at = {float(t): int(tp) for t, tp in b.switch_at}
    except (TypeError, ValueError):
        raise ConfigError("backend.switch_at", f"need [[seconds, tp], ...], got {b.switch_at}") from None
    with TPEngine(llama_shaped(int(b.hidden_size), int(b.num_layers)), world_size=int(b.world_size), tp=1, num_threads=1,
                  num_kv_blocks=1024, block_size=16, chunk_size=2048, seed=int(cfg.seed)) as eng:
        pre_s, dec_s = unloaded(eng, int(np.median(w.prompt_len)))
        if int(cfg.cluster.tp) != 1:
            eng.switch_tp(int(cfg.cluster.tp))
        first, finish, switches = replay(eng, w, switch_at, int(cfg.seed))
    scale = {t.name: t for t in tiers}
    ttft_slo = np.array([math.inf if scale[n].ttft_scale is None else scale[n].ttft_scale * pre_s
                         for n in w.tier_names])[w.tier]
    tpot_slo = np.array([math.inf if scale[n].tpot_scale is None else scale[n].tpot_scale * dec_s
                         for n in w.tier_names])[w.tier]
    ttft, tpot, met = slo_columns(w.arrival_s, first, finish, w.output_len, ttft_slo, tpot_slo)
    df = pd.DataFrame({"id": np.arange(len(w)), "tier": np.asarray(w.tier_names, object)[w.tier],
                       "arrival_s": w.arrival_s, "first_token_s": first, "finish_s": finish,
                       "prompt_len": w.prompt_len, "num_output_tokens": w.output_len,
                       "ttft_s": ttft, "tpot_s": tpot, "slo_met": met})
    df.to_parquet(out / "records.parquet")
    duration = max(float(w.arrival_s[-1]), 1e-9)
    s = goodput_summary(df, duration, int(b.world_size))
    s.update(policy="static_tp", backend="engine", num_reconfigurations=len(switches),
             switches=[{"from_tp": x.old_tp, "to_tp": x.new_tp, "switch_s": x.switch_s,
                        "bytes_moved": x.bytes_moved} for x in switches],
             unloaded_prefill_s=pre_s, unloaded_decode_s=dec_s,
             num_unfinished=int((~np.isfinite(finish)).sum()))
    return s
