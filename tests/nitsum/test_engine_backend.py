"""The Nitsum app on the engine: tiered traffic on gloo TP ranks, a live TP switch mid-run
loses no request, records carry tier and slo_met."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from experiments.common.sweep import compose_config
from experiments.nitsum.runner import run_nitsum
from toolkit.core import ConfigError
from toolkit.plan.base import ClusterPlan, GroupSpec
from toolkit.plan.nitsum import NitsumPlanner

MODULE = "experiments.nitsum.conf"
SMALL = ["backend=engine", "policy=static_tp", "backend.num_requests=24", "backend.rps=12",
         "backend.max_output_len=12", "backend.max_prompt_len=96", "workload.duration_s=60"]


def test_live_switch_under_tiered_load_loses_nothing(tmp_path):
    cfg = compose_config(MODULE, [*SMALL, "backend.switch_at=[[0.5,2],[1.2,1]]"])
    s = run_nitsum(cfg, tmp_path)
    df = pd.read_parquet(tmp_path / "records.parquet")
    assert len(df) == 24 and np.isfinite(df["finish_s"]).all() and s["num_unfinished"] == 0
    assert [(x["from_tp"], x["to_tp"]) for x in s["switches"]] == [(1, 2), (2, 1)]
    assert all(x["bytes_moved"] > 0 for x in s["switches"])  # live KV was re-split
    assert {"tier", "slo_met", "ttft_s", "tpot_s"} <= set(df.columns)
    assert (df["first_token_s"] >= df["arrival_s"]).all()
    assert json.loads((tmp_path / "summary.json").read_text())["num_reconfigurations"] == 2


def test_engine_backend_rejects_what_it_cannot_run(tmp_path):
    nitsum = [*SMALL[:1], "policy=nitsum", *SMALL[2:]]
    for ov, match in ((["backend.world_size=4"], "world_size"),
                      (["policy.switch.reuse=false"], "reuse"),
                      (["backend.switch_at=[[0.5,2]]"], "switch_at")):
        with pytest.raises(ConfigError, match=match):
            run_nitsum(compose_config(MODULE, [*nitsum, *ov]), tmp_path)
    with pytest.raises(ConfigError, match="switch_at"):
        run_nitsum(compose_config(MODULE, [*SMALL, "backend.switch_at=[3]"]), tmp_path)
    base = [*SMALL[:1], *SMALL[2:]]
    for ov, match in ((["policy=oracle"], "policy"), (["policy=split"], "num_gpus"),
                      (["policy=disagg", "backend.switch_at=[[0.5,2]]"], "switch_at"),
                      (["policy=split", "tiers=two", "backend.switch_at=[[0.5,2]]"],
                       "one instance"),
                      (["policy=static_tp", "cluster.tp=2", "backend.world_size=4"], "TP 1")):
        with pytest.raises(ConfigError, match=match):
            run_nitsum(compose_config(MODULE, [*base, *ov]), tmp_path)


def test_policy_dispatchers_place_requests_on_engine_instances(tmp_path):
    """The simulator's dispatch objects on two TP-1 instances: round-robin alternates over
    both; the split plan keeps each tier on its own instance. Nothing is lost."""
    base = [*SMALL[:1], *SMALL[2:]]
    s = run_nitsum(compose_config(MODULE, [*base, "policy=static_tp"]), tmp_path / "rr")
    df = pd.read_parquet(tmp_path / "rr" / "records.parquet")
    assert s["plan"] == [{"tp": 1, "tier": None, "role": "mixed"}] * 2
    assert s["num_unfinished"] == 0
    assert list(df.sort_values("arrival_s")["instance"]) == [1, 0] * 12  # RR starts past 0
    rr = s
    s = run_nitsum(compose_config(MODULE, [*base, "policy=split", "tiers=two"]), tmp_path / "sp")
    # the engine's step times are measured once and read back: both runs share the SLO basis
    assert (s["unloaded_prefill_s"], s["unloaded_decode_s"]) == \
        (rr["unloaded_prefill_s"], rr["unloaded_decode_s"])
    df = pd.read_parquet(tmp_path / "sp" / "records.parquet")
    on = {g["tier"]: i for i, g in enumerate(s["plan"])}
    assert set(on) == {"interactive", "relaxed"} and np.isfinite(df["finish_s"]).all()
    assert (df["instance"] == df["tier"].map(on)).all()


def test_the_policys_local_policy_runs_on_the_engine():
    """`SLOAwareLocal` on a TP engine instance (through `TieredScheduler`): with a cap of 2
    and half of it reserved, best-effort requests fill one slot; a request with a TTFT
    target still joins at once."""
    from experiments.nitsum.engine_tp import llama_shaped
    from toolkit.engine.tp.engine import TPEngine
    from toolkit.plan.dispatch import SLOAwareLocal
    from toolkit.sched.tiered import TieredScheduler

    rng = np.random.default_rng(0)
    with TPEngine(llama_shaped(64, 1), world_size=1, num_threads=1, num_kv_blocks=64,
                  block_size=16, chunk_size=256) as eng:
        eng.set_scheduler(TieredScheduler(SLOAwareLocal(max_batch=2, reserve=0.5),
                                          chunk_size=256))
        for i in range(3):
            eng.add_request(rng.integers(3, 500, 20).tolist(), 6, ignore_eos=True, request_id=f"b{i}")
        sizes = [eng.step_timed()[2] for _ in range(2)]
        eng.add_request(rng.integers(3, 500, 20).tolist(), 6, ignore_eos=True, request_id="f",
                        ttft_slo_s=60.0)
        sizes += [eng.step_timed()[2]]
        assert sizes == [1, 1, 2]
        with pytest.raises(Exception, match="LocalScheduler"):
            eng.set_scheduler(object())


def test_slo_aware_static_plan_caps_each_instance_at_its_safe_batch(tmp_path):
    base = [*SMALL[:1], *SMALL[2:]]
    s = run_nitsum(compose_config(MODULE, [*base, "policy=static_tp_slo"]), tmp_path)
    assert s["num_unfinished"] == 0 and len(s["safe_batch"]) == 2
    assert all(1 <= b <= 256 for b in s["safe_batch"])
    with pytest.raises(ConfigError, match="switch_at"):
        run_nitsum(compose_config(MODULE, [*base, "policy=static_tp_slo",
                                           "backend.switch_at=[[0.5,2]]"]), tmp_path)


class FlipPlanner(NitsumPlanner):
    """Nitsum's planner with its profiles bound as usual, but every `every` windows it
    returns the other layout: one TP-2 group, or a TP-1 group per tier."""

    def __init__(self, every: int = 2, **kw) -> None:
        super().__init__(tp_levels=(1, 2), interval_s=0.25, **kw)
        self.every, self.ticks = every, 0

    def replan(self, view):
        self.ticks += 1
        if self.ticks % self.every:
            return view.plan
        if view.plan.groups[0].tp == 2:
            return ClusterPlan((GroupSpec(1, "interactive"), GroupSpec(1, "relaxed")))
        return ClusterPlan((GroupSpec(2, "interactive"),))


def test_plans_regroup_the_engine_under_load_and_lose_nothing(tmp_path):
    """Nitsum's engine path with plans that flip between one TP-2 group and two TP-1 groups
    every half second while requests run: every request finishes, the regroups moved KV."""
    from experiments.nitsum.engine_run import run_nitsum_engine, shrink
    from experiments.nitsum.runner import build_tiers, build_workload

    cfg = compose_config(MODULE, [*SMALL[:1], "policy=nitsum", "tiers=two", *SMALL[2:],
                                  "backend.num_requests=40", "backend.max_output_len=24"])
    tiers = build_tiers(cfg)
    w = shrink(build_workload(cfg, tiers), cfg.backend)
    s = run_nitsum_engine(cfg, FlipPlanner(), w, tiers, tmp_path)
    df = pd.read_parquet(tmp_path / "records.parquet")
    assert len(df) == 40 and np.isfinite(df["finish_s"]).all() and s["num_unfinished"] == 0
    levels = [p["plan"].split("x")[0] for p in s["plans"]]
    assert s["num_reconfigurations"] >= 2 and len(s["switches"]) == s["num_reconfigurations"]
    assert all(a != b for a, b in zip(levels, levels[1:]))  # each change flips the level
    assert any(x["bytes_moved"] > 0 for x in s["switches"])


def test_nitsum_planner_runs_on_the_engine(tmp_path):
    s = run_nitsum(compose_config(MODULE, [*SMALL[:1], "policy=nitsum", "tiers=two",
                                           *SMALL[2:]]), tmp_path)
    assert s["num_unfinished"] == 0 and s["plans"][0]["t_s"] == 0.0
    assert set(s["profiles"]) == {"interactive", "relaxed"}
    assert all(set(p) == {"1", "2"} for p in s["profiles"].values())


def test_disaggregation_hands_every_request_over_with_its_kv(tmp_path):
    """One prefill and one decode instance: every request is placed on the prefill one and,
    its first token out, moves with its KV to the decode one (all 24 have more to decode)."""
    s = run_nitsum(compose_config(MODULE, [*SMALL[:1], "policy=disagg", *SMALL[2:]]), tmp_path)
    df = pd.read_parquet(tmp_path / "records.parquet")
    roles = [g["role"] for g in s["plan"]]
    assert roles == ["prefill", "decode"] and s["num_unfinished"] == 0
    assert (df["instance"] == 0).all() and (df["num_output_tokens"] > 1).all()
    assert s["num_handovers"] == s["num_kv_migrated"] == 24 and s["num_migrations"] == 0
    assert s["move_s_mean"] > 0


class AllToFirst:
    """A dispatcher that piles every request on instance 0 (for the balancer to undo)."""

    feasible = True

    def choose(self, tier, groups, now=0.0):
        return 0


def test_migration_balancer_moves_decoding_requests_off_the_busy_instance(tmp_path):
    over = [*SMALL[:1], "policy=migrate", *SMALL[2:], "backend.num_requests=40",
            "backend.rps=40", "backend.max_output_len=32",
            f"policy.dispatch._target_={__name__}.AllToFirst",
            "policy.balancer.threshold=0.01"]
    s = run_nitsum(compose_config(MODULE, over), tmp_path)
    df = pd.read_parquet(tmp_path / "records.parquet")
    assert (df["instance"] == 0).all() and s["num_unfinished"] == 0
    assert s["num_migrations"] > 0 and s["num_handovers"] == 0
    assert s["num_kv_migrated"] == s["num_migrations"]


class FullOnce:
    """An engine stand-in whose decode instance has no room for the first offer."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def migrate(self, rid, dst):
        self.calls.append((rid, dst))
        if len(self.calls) == 1:
            raise ValueError(f"instance {dst} has no room for request {rid!r} now")


def test_a_hand_over_without_room_is_offered_again_before_the_next_step():
    from experiments.nitsum.engine_moves import Moves
    from experiments.nitsum.engine_run import Instances
    from toolkit.plan.dispatch import LeastLoadedDispatch

    plan = ClusterPlan((GroupSpec(1, None, "prefill"), GroupSpec(1, None, "decode")))
    inst = Instances(plan, LeastLoadedDispatch())
    assert inst.choose(7, "t", 0.0) == 0
    eng = FullOnce()
    moves = Moves(eng, inst, plan)
    moves.started(7)  # refused: stays on the prefill instance
    assert inst.where[7] == 0 and moves.pending == {7: None}
    moves.tick(0.1)  # offered again: moves
    assert inst.where[7] == 1 and not moves.pending
    assert eng.calls == [("7", 1), ("7", 1)] and [g.load for g in inst.groups] == [0, 1]
    s = moves.summary()
    assert (s["num_handovers"], s["num_deferred_handovers"], s["num_kv_migrated"]) == (1, 1, 1)
