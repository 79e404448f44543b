"""Where the simulator's time goes wrong: every step of an in-process engine run of the
fidelity trace, timed in parts, beside the cost model's prediction for the same shape.

Usage: python benchmarks/fidelity_steps.py --profile FILE.json [--rps 6] [--requests 300]
       [--out steps.csv]

The engine replays the trace exactly as `backend=engine_inprocess` does (same config, same
loop as `toolkit.engine.replay.replay_inprocess`), with timers around each part of
`LLMEngine.step()` (schedule, input building, forward, sampling, postprocess, emit) and
around the driver loop between steps. Each step's `BatchShape` is logged and priced by
`load_profiled_cost_model(profile)` (base tables, mixed correction, wake-up after idleness),
so the error shows per shape class (prefill / decode / mixed) and per part.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

# this tree, not an installed one
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kernels"))  # llmserve_kernels
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiments.common.runner import build_trace  # noqa: E402
from experiments.common.sweep import compose_config  # noqa: E402
from experiments.preble.fidelity import BLOCK_SIZE, NUM_KV_BLOCKS, TRACE  # noqa: E402
from toolkit.cost.base import BatchShape  # noqa: E402

clock = time.perf_counter


def fidelity_config(rps: float, requests: int, system: str = "preble") -> Any:
    """The in-process engine point of the fidelity sweep."""
    ov = [*TRACE, f"system={system}", f"workload.num_requests={requests}",
          f"cluster.kv_capacity_tokens={BLOCK_SIZE * NUM_KV_BLOCKS}", f"workload.rps={rps}",
          "backend=engine_inprocess", "cluster.num_gpus=1", f"backend.block_size={BLOCK_SIZE}",
          f"backend.num_kv_blocks={NUM_KV_BLOCKS}", "cost=profiled"]
    return compose_config("experiments.preble.conf", ov)


def build_engine(cfg: Any) -> Any:
    """The engine `experiments.common.backends.run_inprocess` builds."""
    import torch

    from experiments.common.backends import model_dir
    from toolkit.core.policy import build_policy
    from toolkit.engine.config import EngineConfig
    from toolkit.engine.engine import LLMEngine

    b = cfg.backend
    torch.set_num_threads(int(b.threads_per_engine))
    config = EngineConfig(model=str(model_dir(cfg)), block_size=int(b.block_size),
                          num_kv_blocks=int(b.num_kv_blocks),
                          scheduler=build_policy(cfg.local_sched), seed=int(cfg.seed),
                          dtype="float32", device="cpu")
    return LLMEngine(config)


class StepTimer:
    """Wraps one engine's step parts with timers; one row per step."""

    def __init__(self, engine: Any) -> None:
        self.engine, self.rows, self.cur = engine, [], {}
        self.adds: list[dict] = []
        self.records: list[Any] = []
        runner, sched = engine.runner, engine.scheduler
        self._wrap(sched, "schedule", "schedule_s")
        self._wrap(runner, "prepare", "prepare_s")
        self._wrap(runner, "forward_logits", "forward_s")
        self._wrap(sched, "postprocess", "postprocess_s")
        self._wrap(engine, "_emit", "emit_s")
        import toolkit.engine.model_runner as mr

        orig_sample = mr.sample

        def timed_sample(*a: Any, **k: Any) -> Any:
            t = clock()
            out = orig_sample(*a, **k)
            self.cur["sample_s"] = clock() - t
            return out

        mr.sample = timed_sample
        orig_run = runner.run

        def run(plan: Any) -> Any:
            self.cur["shape"] = shape_of(plan)
            return orig_run(plan)

        runner.run = run

    def _wrap(self, obj: Any, name: str, key: str) -> None:
        orig = getattr(obj, name)

        def timed(*a: Any, **k: Any) -> Any:
            t = clock()
            out = orig(*a, **k)
            self.cur[key] = self.cur.get(key, 0.0) + clock() - t
            return out

        setattr(obj, name, timed)

    def step(self, idle_s: float, gap_s: float) -> None:
        self.cur = {}
        t = clock()
        self.engine.step()
        total = clock() - t
        if "shape" in self.cur:
            self.rows.append(dict(self.cur, step_s=total, idle_before_s=idle_s,
                                  gap_before_s=gap_s, start_s=t))


def shape_of(plan: Any) -> BatchShape:
    """The `BatchShape` the simulator would price for this plan."""
    return BatchShape(tuple(n for _, n in plan.prefill),
                      tuple(s.num_prefilled for s, _ in plan.prefill),
                      len(plan.decode), sum(s.num_tokens - 1 for s in plan.decode))


def replay(engine: Any, trace: Any, timer: StepTimer) -> None:
    """`replay_inprocess`'s loop (warm-up included), stepping through `timer`."""
    from toolkit.engine.replay import _warm_up
    from toolkit.engine.sampling import SamplingParams

    _warm_up(engine, trace, 2)
    reqs = list(trace)
    t0 = engine.clock() - (reqs[0].arrival_s if reqs else 0.0)
    i, idle_from, last_end = 0, clock(), clock()
    while i < len(reqs) or engine.has_unfinished():
        now = engine.clock() - t0
        while i < len(reqs) and reqs[i].arrival_s <= now:
            r = reqs[i]
            params = SamplingParams(temperature=0.0, max_tokens=max(1, r.output_len),
                                    ignore_eos=True)
            t = engine.clock()
            engine.add_request(list(r.prompt_token_ids), params, r.id, t0 + r.arrival_s)
            timer.adds.append(dict(rid=r.id, late_s=t - t0 - r.arrival_s,
                                   add_s=engine.clock() - t, idle=idle_from is not None))
            i += 1
        if engine.has_unfinished():
            start = clock()
            idle = start - idle_from if idle_from is not None else 0.0
            timer.step(idle, start - last_end)
            idle_from, last_end = None, clock()
        elif i < len(reqs):
            if idle_from is None:
                idle_from = clock()
            time.sleep(max(0.0, min(reqs[i].arrival_s - now, 0.05)))
        timer.records += engine.take_records()


def price(rows: list[dict], profile: str) -> pd.DataFrame:
    """Rows with the cost model's prediction (and its parts) per step."""
    from toolkit.cost.engine_profile import load_profiled_cost_model

    cost = load_profiled_cost_model(profile)
    base = getattr(cost, "base", cost)
    out = []
    for r in rows:
        shape = r.pop("shape")
        kind = ("mixed" if shape.num_decode and shape.prefill_new else
                "prefill" if shape.prefill_new else "decode")
        wake = cost.wake_s(r["idle_before_s"]) if r["idle_before_s"] > 0 else 0.0
        out.append(dict(r, kind=kind, num_prefills=len(shape.prefill_new),
                        prefill_new=sum(shape.prefill_new), prefill_ctx=sum(shape.prefill_ctx),
                        num_decode=shape.num_decode,
                        decode_ctx=shape.decode_ctx_sum / max(shape.num_decode, 1),
                        base_s=base.iteration_s(shape), model_s=cost.iteration_s(shape) + wake,
                        wake_s=wake))
    return pd.DataFrame(out)


def request_frame(timer: StepTimer) -> pd.DataFrame:
    """Per request: how late the driver added it, how long adding took, and its TTFT."""
    recs = {r.request_id: r for r in timer.records}
    rows = []
    for a in timer.adds:
        rec = recs.get(a["rid"])
        if rec is not None:
            rows.append(dict(a, ttft_s=rec.first_token_s - rec.arrival_s,
                             latency_s=rec.finish_s - rec.arrival_s,
                             num_cached=rec.num_cached_tokens, num_prompt=rec.num_prompt_tokens,
                             num_output=rec.num_output_tokens))
    return pd.DataFrame(rows)


def report(df: pd.DataFrame) -> None:
    parts = ["schedule_s", "prepare_s", "forward_s", "sample_s", "postprocess_s", "emit_s"]
    df = df.fillna({p: 0.0 for p in parts})
    df["other_s"] = df.step_s - df[parts].sum(axis=1)
    cols = ["step_s", "model_s", *parts, "other_s", "gap_before_s"]
    g = df.groupby("kind")
    summary = g[cols].sum()
    summary.insert(0, "steps", g.size())
    summary["err_pct"] = 100 * (summary.model_s - summary.step_s) / summary.step_s
    pd.set_option("display.width", 200)
    print((summary.assign(**{c: summary[c] * 1e3 for c in cols})).round(2).to_string())
    tot = df[["step_s", "model_s", "gap_before_s"]].sum()
    print(f"total: engine steps {tot.step_s:.3f} s, model {tot.model_s:.3f} s "
          f"({100 * (tot.model_s / tot.step_s - 1):+.1f}%), driver gaps {tot.gap_before_s:.3f} s")
    df["bucket"] = pd.cut(df.num_decode, [-1, 0, 1, 2, 4, 8, 16, 32, 64, 256])
    by = df.groupby(["kind", "bucket"], observed=True)[["step_s", "model_s"]].agg(["sum", "count"])
    by[("err_pct", "")] = 100 * (by[("model_s", "sum")] / by[("step_s", "sum")] - 1)
    print(by.round(4).to_string())


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", required=True)
    p.add_argument("--rps", type=float, default=6)
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    cfg = fidelity_config(args.rps, args.requests)
    trace = build_trace(cfg)
    engine = build_engine(cfg)
    timer = StepTimer(engine)
    replay(engine, trace, timer)
    df = price(timer.rows, args.profile)
    reqs = request_frame(timer)
    if args.out:
        df.to_csv(args.out, index=False)
        reqs.to_csv(args.out.replace(".csv", "_requests.csv"), index=False)
    report(df)
    print("per request (ms), by whether the engine was idle when it arrived:")
    print(reqs.groupby("idle")[["late_s", "add_s", "ttft_s"]].agg(["mean", "median"])
          .mul(1e3).round(3).to_string())


if __name__ == "__main__":
    main()
