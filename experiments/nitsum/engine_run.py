"""Nitsum on the toolkit's engine (`backend=engine`): the workload replayed open-loop on
a `TPEngine` (gloo ranks, full weights per rank).

- Static plans (static_tp, static_tp_slo, split, disagg, migrate) lay instances of
  `cluster.tp` ranks over the world, and the policy's own dispatcher (the object the
  simulator calls) picks an instance for each request; disaggregation's hand-overs and the
  balancer's migrations move requests live between them (`experiments.nitsum.engine_moves`). With `backend.switch_at`, one instance of a static-TP plan
  spans the world (starting at `cluster.tp`, ranks past it idle) and switches TP live at
  the given times.
- Nitsum's planner re-plans a tiled world of two ranks every window and regroups it live
  (`experiments.nitsum.engine_plan`).

Each instance's batches follow the policy's own local policy (`policy.local`, through
`toolkit.sched.tiered.TieredScheduler`), capped at the instance's SLO-safe batch: the
closed-form profile (`toolkit.plan.capacity`) of this engine's step times, measured at the
start of the first run of this engine shape and read back after (`step_costs`). Records carry `tier`, `slo_met` (against SLOs scaled
from this engine's own unloaded TP-1 latency, as the simulator's are from the H200 tables)
and `instance` (where the request was placed)."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig

from experiments.nitsum.engine_moves import Moves
from experiments.nitsum.engine_tp import VOCAB, llama_shaped
from toolkit.core import ConfigError
from toolkit.cost.base import BatchShape, CostModel
from toolkit.engine.tp.engine import TPEngine
from toolkit.metrics.slo import goodput_summary, slo_columns
from toolkit.plan.base import ClusterPlan, GroupSpec
from toolkit.plan.capacity import ProfileTable, safe_batch
from toolkit.plan.dispatch import Dispatcher, GroupLoad, LocalPolicy
from toolkit.plan.nitsum import NitsumPlanner
from toolkit.plan.static import DisaggPlanner, SplitPlanner, StaticTPPlanner
from toolkit.sched.tiered import TieredScheduler
from toolkit.workloads.tiers import Tier, TieredWorkload, TierSLO

BLOCK_SIZE, NUM_KV_BLOCKS, CHUNK = 16, 1024, 2048
STEP_BATCHES = (1, 2, 4, 8, 16, 32)


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


class EngineStepCost(CostModel):
    """This engine's iteration times at one TP level, measured by `measure_steps`: a decode
    step at each measured batch (linear in between, flat beyond; context not modelled), a
    prefill linear in its new tokens through the two measured (prompt length, seconds)
    points, and a mixed step priced as the longer of its two parts. `raw` holds the
    arguments (JSON), to build it again."""

    def __init__(self, batches: Sequence[int], decode_s: Sequence[float],
                 prefill: Sequence[Sequence[float]]) -> None:
        self.raw = {"batches": [int(b) for b in batches], "decode_s": [float(t) for t in decode_s],
                    "prefill": [[float(x) for x in p] for p in prefill]}
        self.batches, self.decode = np.asarray(batches, float), np.asarray(decode_s, float)
        (n1, t1), (n2, t2) = prefill
        self.per_token = max(0.0, (t2 - t1) / (n2 - n1))
        self.fixed = max(0.0, t1 - self.per_token * n1)

    def iteration_s(self, batch: BatchShape) -> float:
        new = sum(batch.prefill_new)
        pre = self.fixed + self.per_token * new if new else 0.0
        dec = float(np.interp(batch.num_decode, self.batches, self.decode)) if batch.num_decode else 0.0
        return max(pre, dec)


def measure_steps(eng: TPEngine, prompt_len: int) -> EngineStepCost:
    """Median step times at the engine's current level: prefills of `prompt_len` and twice
    it, decode steps of `STEP_BATCHES` requests (three runs each)."""
    rng = np.random.default_rng(0)

    def prompts(n: int, length: int) -> list[list[int]]:
        return [rng.integers(3, VOCAB, length).tolist() for _ in range(n)]

    pre = {n: float(np.median([eng.generate(prompts(1, n), 2, ignore_eos=True).step_s[0]
                               for _ in range(3)])) for n in (prompt_len, 2 * prompt_len)}
    dec = [float(np.median([np.median(eng.generate(prompts(b, prompt_len), 4, ignore_eos=True).step_s[1:])
                            for _ in range(3)])) for b in STEP_BATCHES]
    return EngineStepCost(STEP_BATCHES, dec, list(pre.items()))


def step_costs(eng: TPEngine, cfg: DictConfig, median: int,
               levels: list[int]) -> dict[int, EngineStepCost]:
    """This engine's step times at each of `levels` (the engine at TP 1 now, and able to
    switch to each; it is left at TP 1): measured once per engine shape and prompt length
    on this machine and read back after, so that every policy's run is judged against the
    same SLOs and safe batches (`.cache/nitsum/engine-steps-<key>.json`)."""
    from experiments.nitsum.profiles import CACHE

    b = cfg.backend
    key = json.dumps({"hidden": int(b.hidden_size), "layers": int(b.num_layers),
                      "world": int(b.world_size), "median": median, "seed": int(cfg.seed),
                      "blocks": NUM_KV_BLOCKS, "block": BLOCK_SIZE, "chunk": CHUNK,
                      "batches": STEP_BATCHES, "version": 1}, sort_keys=True)
    path = CACHE / "nitsum" / f"engine-steps-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    missing = [tp for tp in levels if str(tp) not in known]
    for tp in missing:
        if eng.tp != tp:
            eng.switch_tp(tp)
        known[str(tp)] = measure_steps(eng, median).raw
    if missing:
        if eng.tp != 1:
            eng.switch_tp(1)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(known, indent=1))
        tmp.replace(path)
    return {tp: EngineStepCost(**known[str(tp)]) for tp in levels}


def engine_slos(tiers: list[Tier], cost: EngineStepCost, prompt_len: int) -> dict[str, TierSLO]:
    """The tiers' targets: their scales times this engine's unloaded TP-1 prefill of the
    median prompt and lone decode step."""
    pre_s, dec_s = cost.prefill_s(prompt_len), cost.decode_s(1, prompt_len)
    return {t.name: TierSLO(t.name, math.inf if t.ttft_scale is None else t.ttft_scale * pre_s,
                            math.inf if t.tpot_scale is None else t.tpot_scale * dec_s)
            for t in tiers}


def engine_profiles(cfg: DictConfig, costs: dict[int, EngineStepCost],
                    slos: dict[str, TierSLO], w: TieredWorkload) -> ProfileTable:
    """The closed-form SLO-safe profiles (`toolkit.plan.capacity`) of this engine's measured
    step times at each TP level in `costs` (a block holds the same tokens at every level)."""
    return ProfileTable.build(costs, slos, float(np.mean(w.prompt_len)),
                              float(np.mean(w.output_len)),
                              {tp: NUM_KV_BLOCKS * BLOCK_SIZE for tp in costs},
                              int(cfg.cluster.max_batch))


def local_schedulers(cfg: DictConfig, plan: ClusterPlan, profiles: ProfileTable,
                     slos: dict[str, TierSLO], names: list[str]) -> list[TieredScheduler]:
    """One scheduler per instance: the policy's local policy at the instance's SLO-safe
    batch."""
    local = instantiate(cfg.policy.local)
    if not isinstance(local, LocalPolicy):
        raise ConfigError("policy.local", f"need a LocalPolicy, got {type(local).__name__}")
    return [TieredScheduler(local, safe_batch(profiles, g, names, slos), chunk_size=CHUNK,
                            max_prefill_tokens=CHUNK, max_running=int(cfg.cluster.max_batch))
            for g in plan.groups]


def static_planner(cfg: DictConfig, planner: object) -> StaticTPPlanner | SplitPlanner | DisaggPlanner:
    """`planner` (the policy's), where it is a plan the engine's fixed instances run: static
    TP (with or without the migration balancer), split or prefill/decode disaggregation."""
    if not isinstance(planner, (StaticTPPlanner, SplitPlanner, DisaggPlanner)):
        raise ConfigError("policy", f"backend=engine runs static TP, split, disaggregation and "
                          f"the migration balancer (static_tp, static_tp_slo, split, disagg, "
                          f"migrate) and Nitsum's planner; got {cfg.policy.name!r}")
    return planner


def static_plan(cfg: DictConfig, planner: StaticTPPlanner | SplitPlanner | DisaggPlanner,
                tiers: list[Tier]) -> ClusterPlan:
    """`planner`'s plan over `backend.world_size` ranks, every group at `cluster.tp`."""
    plan = planner.initial(int(cfg.backend.world_size), [t.name for t in tiers])
    if plan.num_gpus != int(cfg.backend.world_size):
        raise ConfigError("cluster.tp", f"cluster.tp={cfg.cluster.tp} does not tile "
                          f"backend.world_size={cfg.backend.world_size}")
    return plan


class Instances:
    """The dispatcher's view of the engine's instances: each one's plan group (with its
    SLO-safe rate, where profiles give one) and the requests it holds (queued or running)."""

    def __init__(self, plan: ClusterPlan, dispatcher: Dispatcher,
                 profiles: ProfileTable | None = None) -> None:
        self.dispatcher = dispatcher
        self.where: dict[int, int] = {}  # request -> instance, until it finishes
        self._gids = itertools.count()
        self.relayout(plan, profiles, {})

    def relayout(self, plan: ClusterPlan, profiles: ProfileTable | None,
                 where: dict[int, int]) -> None:
        """New groups (a new plan); `where`: the unfinished requests' instances now."""
        def rate(g: GroupSpec) -> float:
            if profiles is None or g.tier is None or g.tier in profiles.best_effort:
                return 0.0
            return profiles.rate(g.tier, g.tp)

        self.groups = [GroupLoad(i, g.tier, g.role, g.tp, 0, 0, safe_rate=rate(g),
                                 gid=next(self._gids)) for i, g in enumerate(plan.groups)]
        self.where = dict(where)
        for k in self.where.values():
            self.groups[k].load += 1

    def choose(self, r: int, tier: str, now: float) -> int:
        k = self.dispatcher.choose(tier, self.groups, now)
        self.groups[k].load += 1
        self.where[r] = k
        return k

    def done(self, r: int) -> None:
        self.groups[self.where.pop(r)].load -= 1

    def move(self, r: int, dst: int) -> None:
        """Request `r` now lives on instance `dst`."""
        self.groups[self.where[r]].load -= 1
        self.groups[dst].load += 1
        self.where[r] = dst

    def busy(self) -> list[int]:
        return [g.index for g in self.groups if g.load > 0]


class Control(Protocol):
    """What the replay tells a run-time controller (the Nitsum planner's, on the engine)."""

    def arrived(self, tier: str) -> None: ...
    def started(self, r: int) -> None: ...
    def finished(self, tier: str) -> None: ...
    def tick(self, now: float) -> None: ...


def replay(eng: TPEngine, w: TieredWorkload, inst: Instances, switch_at: dict[float, int],
           seed: int, slos: dict[str, TierSLO], control: Control | None = None,
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list]:
    """Serve `w` in wall-clock time; first-token and finish times (s from the start), the
    instance each request was placed on, and the switches made. A request goes with its
    tier's TTFT target unless it has none or the dispatcher placed it as best effort.
    `control` sees every arrival, first token (of a request that goes on) and completion,
    and ticks between steps."""
    rng = np.random.default_rng(seed)
    prompts = [rng.integers(3, VOCAB, int(p)).tolist() for p in w.prompt_len]
    n, i = len(w), 0
    first, finish = np.full(n, math.nan), np.full(n, math.nan)
    where = np.full(n, -1)
    todo, switches = sorted(switch_at.items()), []
    t0 = time.perf_counter()
    while i < n or inst.busy():
        now = time.perf_counter() - t0
        while i < n and w.arrival_s[i] <= now:
            tier = w.tier_names[w.tier[i]]
            where[i] = inst.choose(i, tier, now)
            target = slos[tier].ttft_s
            eng.add_request(prompts[i], int(w.output_len[i]), ignore_eos=True, request_id=str(i),
                            instance=int(where[i]),
                            ttft_slo_s=target if math.isfinite(target) and inst.dispatcher.feasible else None)
            if control is not None:
                control.arrived(tier)
            i += 1
        if todo and now >= todo[0][0]:
            switches.append(eng.switch_tp(todo.pop(0)[1]))
        if control is not None:
            control.tick(now)
        busy = inst.busy()
        if not busy:
            time.sleep(max(0.0, min(w.arrival_s[i] - (time.perf_counter() - t0), 0.05))
                       if i < n else 0)
            continue
        outs = eng.step_many(busy)
        t = time.perf_counter() - t0
        for step_outs in outs.values():
            for o in step_outs:
                r = int(o.request_id)
                started = bool(o.new_token_ids) and math.isnan(first[r])
                if started:
                    first[r] = t
                if o.finish_reason is not None:
                    finish[r] = t
                    inst.done(r)
                    eng.output(o.request_id, forget=True)
                    if control is not None:
                        control.finished(w.tier_names[w.tier[r]])
                elif started and control is not None:
                    control.started(r)
    return first, finish, where, switches


def run_engine(cfg: DictConfig, w: TieredWorkload, tiers: list[Tier], out: Path) -> dict:
    """Replay the shrunk workload on the engine (see the module docstring); the summary."""
    b = cfg.backend
    w = shrink(w, b)
    planner = instantiate(cfg.policy.planner) if cfg.policy.get("planner") else None
    if isinstance(planner, NitsumPlanner):
        return run_nitsum_engine(cfg, planner, w, tiers, out)
    planner = static_planner(cfg, planner)
    try:
        switch_at = {float(t): int(tp) for t, tp in b.switch_at}
    except (TypeError, ValueError):
        raise ConfigError("backend.switch_at", f"need [[seconds, tp], ...], got {b.switch_at}") from None
    if switch_at:
        if not isinstance(planner, StaticTPPlanner):
            raise ConfigError("backend.switch_at", f"live TP switches run one instance of a "
                              f"static TP plan; got policy={cfg.policy.name!r}")
        plan = ClusterPlan((GroupSpec(int(cfg.cluster.tp)),))  # ranks past it idle until used
    else:
        plan = static_plan(cfg, planner, tiers)
    many = len(plan.groups) > 1
    if many and int(cfg.cluster.tp) != 1:
        raise ConfigError("cluster.tp", "several instances run at TP 1 here (the SLO base is "
                          "measured at TP 1); for a higher level use one instance "
                          "(cluster.tp = backend.world_size)")
    if switch_at and getattr(instantiate(cfg.policy.local), "slo_aware", False):
        raise ConfigError("backend.switch_at", "the SLO-safe batch is measured at one TP level; "
                          "live switches run with an SLO-unaware local policy (policy=static_tp)")
    balancer = instantiate(cfg.policy.balancer) if cfg.policy.get("balancer") else None
    moving = balancer is not None or isinstance(planner, DisaggPlanner)
    if switch_at and moving:
        raise ConfigError("backend.switch_at", "live TP switches run one instance: no "
                          "disaggregation or migration between instances")
    inst = Instances(plan, instantiate(cfg.policy.dispatch))
    median = int(np.median(w.prompt_len))
    # one instance starts at TP 1 (the SLO base) and then switches to cluster.tp
    with TPEngine(llama_shaped(int(b.hidden_size), int(b.num_layers)), world_size=int(b.world_size),
                  tp=1, num_instances=len(plan.groups), num_threads=1, num_kv_blocks=NUM_KV_BLOCKS,
                  block_size=BLOCK_SIZE, chunk_size=CHUNK, seed=int(cfg.seed)) as eng:
        level = plan.groups[0].tp
        costs = step_costs(eng, cfg, median, sorted({1, level}))
        base, cost = costs[1], costs[level]
        slos = engine_slos(tiers, base, median)
        if level != 1:
            eng.switch_tp(level)
        profiles = engine_profiles(cfg, {plan.groups[0].tp: cost}, slos, w)
        scheds = install_schedulers(eng, cfg, plan, profiles, slos, list(w.tier_names), inst)
        moves = Moves(eng, inst, plan, balancer, planner.interval_s) if moving else None
        first, finish, where, switches = replay(eng, w, inst, switch_at, int(cfg.seed), slos,
                                                moves)
    return write_run(cfg, w, slos, (first, finish, where), out, base, median, switches,
                     **(moves.summary() if moves is not None else {}),
                     plan=[{"tp": g.tp, "tier": g.tier, "role": g.role} for g in plan.groups],
                     safe_batch=[sc.safe_batch for sc in scheds],
                     decode_step_s={str(bt): float(t) for bt, t in
                                    zip(cost.batches.astype(int), cost.decode)})


def run_nitsum_engine(cfg: DictConfig, planner: NitsumPlanner, w: TieredWorkload,
                      tiers: list[Tier], out: Path) -> dict:
    """Nitsum's planner on a tiled world (`experiments.nitsum.engine_plan`)."""
    from experiments.nitsum.engine_plan import PlanControl, check_engine_nitsum, plan_level

    check_engine_nitsum(cfg)
    b, names, median = cfg.backend, list(w.tier_names), int(np.median(w.prompt_len))
    with TPEngine(llama_shaped(int(b.hidden_size), int(b.num_layers)), world_size=int(b.world_size),
                  tp=1, tiled=True, num_threads=1, num_kv_blocks=NUM_KV_BLOCKS,
                  block_size=BLOCK_SIZE, chunk_size=CHUNK, seed=int(cfg.seed)) as eng:
        costs = step_costs(eng, cfg, median, [1, 2])
        base = costs[1]
        slos = engine_slos(tiers, base, median)
        profiles = engine_profiles(cfg, costs, slos, w)
        planner.bind(profiles)
        plan = planner.initial(int(b.world_size), names)
        eng.switch_tp(plan_level(plan))
        inst = Instances(plan, instantiate(cfg.policy.dispatch), profiles)
        install_schedulers(eng, cfg, plan, profiles, slos, names, inst)
        control = PlanControl(eng, planner, cfg, inst, profiles, slos, names, plan)
        first, finish, where, _ = replay(eng, w, inst, {}, int(cfg.seed), slos, control)
    return write_run(cfg, w, slos, (first, finish, where), out, base, median, control.switches,
                     num_reconfigurations=len(control.plans) - 1,
                     plans=[{"t_s": t, "plan": p} for t, p in control.plans],
                     profiles={t: {str(tp): p.rate_rps for tp, p in by.items()}
                               for t, by in profiles.profile.items()})


def install_schedulers(eng: TPEngine, cfg: DictConfig, plan: ClusterPlan,
                       profiles: ProfileTable, slos: dict[str, TierSLO], names: list[str],
                       inst: Instances) -> list[TieredScheduler]:
    """Give each instance the policy's local policy at its SLO-safe batch, which the
    dispatcher's and the balancer's view of it (`inst`) carries too."""
    scheds = local_schedulers(cfg, plan, profiles, slos, names)
    for k, sched in enumerate(scheds):
        eng.set_scheduler(sched, instance=k)
        inst.groups[k].safe_batch = sched.safe_batch
    return scheds


def write_run(cfg: DictConfig, w: TieredWorkload, slos: dict[str, TierSLO],
              times: tuple[np.ndarray, np.ndarray, np.ndarray], out: Path,
              base: EngineStepCost, median: int, switches: list, **extra: object) -> dict:
    """Write `records.parquet` (tier, slo_met, the instance each request was placed on) and
    return the summary."""
    first, finish, where = times
    ttft_slo = np.array([slos[n].ttft_s for n in w.tier_names])[w.tier]
    tpot_slo = np.array([slos[n].tpot_s for n in w.tier_names])[w.tier]
    ttft, tpot, met = slo_columns(w.arrival_s, first, finish, w.output_len, ttft_slo, tpot_slo)
    df = pd.DataFrame({"id": np.arange(len(w)), "tier": np.asarray(w.tier_names, object)[w.tier],
                       "arrival_s": w.arrival_s, "first_token_s": first, "finish_s": finish,
                       "prompt_len": w.prompt_len, "num_output_tokens": w.output_len,
                       "ttft_s": ttft, "tpot_s": tpot, "slo_met": met, "instance": where})
    df.to_parquet(out / "records.parquet")
    duration = max(float(w.arrival_s[-1]), 1e-9)
    s = goodput_summary(df, duration, int(cfg.backend.world_size))
    s.update(policy=str(cfg.policy.name), backend="engine", num_reconfigurations=len(switches),
             switches=[{"from_tp": x.old_tp, "to_tp": x.new_tp, "switch_s": x.switch_s,
                        "bytes_moved": x.bytes_moved} for x in switches],
             unloaded_prefill_s=base.prefill_s(median), unloaded_decode_s=base.decode_s(1, median),
             num_unfinished=int((~np.isfinite(finish)).sum()))
    s.update(extra)
    return s
