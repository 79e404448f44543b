"""Applying a new plan to the simulated pool: keep the groups that did not change, bring
up the rest after their switch time, and move the requests of retired groups.

A group keeps its object (and its requests) when its first GPU and TP level are unchanged;
a new tier or role is free. Requests of a retired group go to the new groups over its GPUs
(round-robin): with reuse their KV migrates (the new group is down for the switch plus the
KV it receives, each GPU its share, `TPSwitchCost.group_down_s`); naively their KV is lost and they re-prefill prompt and generated tokens,
after the weight reload. Requests still waiting are dispatched again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.plan.base import ClusterPlan
from toolkit.sim.tp_group import SimGroup

if TYPE_CHECKING:
    from toolkit.sim.tp_cluster import TieredPool


def apply_plan(pool: TieredPool, plan: ClusterPlan, initial: bool) -> None:
    now, old = pool.now, {g.gpu_start: g for g in pool.groups}
    kept, fresh, start = [], [], 0
    for spec in plan.groups:
        g = old.get(start)
        if g is not None and g.spec.tp == spec.tp and not initial:
            pool.retarget(g, spec)
            del old[start]
        else:
            g = pool.new_group(start, spec)
            fresh.append(g)
        kept.append(g)
        start += spec.tp
    pool.set_groups(kept)
    if initial:
        return
    pool.stats.num_reconfigurations += 1
    moved_in = {g.gid: 0 for g in fresh}
    waiting: list[int] = []
    for g in old.values():
        _finish_partial_run(pool, g)
        g.version += 1  # its pending event is void
        targets = [f for f in fresh if f.gpu_start < g.gpu_start + g.spec.tp
                   and g.gpu_start < f.gpu_start + f.spec.tp] or fresh or kept
        waiting += g.waiting.drain()
        for k, r in enumerate(_in_batch(g)):
            t = targets[k % len(targets)]
            if pool.setup.switch.reuse:
                moved_in[t.gid] = moved_in.get(t.gid, 0) + _kv_of(pool, r)
                _requeue(pool, t, r, keep_kv=True)
                pool.stats.num_kv_migrated += 1
            else:
                _requeue(pool, t, r, keep_kv=False)
    for f in fresh:
        down = pool.setup.switch.group_down_s(pool.setup.model, f.spec.tp, moved_in[f.gid])
        f.down_until = now + down
        pool.stats.num_group_switches += 1
        pool.stats.downtime_gpu_s += down * f.spec.tp
        f.busy = True
        f.version += 1
        pool._push(f.down_until, f)
    for r in waiting:
        pool._place(r, pool.names[pool.rs.tier[r]])


def _finish_partial_run(pool: TieredPool, g: SimGroup) -> None:
    """Account the decode steps of `g`'s run already done; an in-flight mixed iteration is
    lost."""
    if g.run is not None:
        pool._decode_steps(g, g.steps_done(pool.now), pool.now)
    g.run, g.in_flight, g.busy = None, None, False


def _in_batch(g: SimGroup) -> list[int]:
    return [e[0] for e in g.prefill] + list(g.running)


def _kv_of(pool: TieredPool, r: int) -> int:
    rs = pool.rs
    return rs.prompt[r] + rs.gen[r] - rs.need[r]


def _requeue(pool: TieredPool, t: SimGroup, r: int, keep_kv: bool) -> None:
    """Put `r` at the head of `t`'s queue: with its KV (decodes on admission, or resumes its
    prefill), or without (re-prefills everything it has)."""
    rs = pool.rs
    if not keep_kv:
        rs.need[r] = rs.prompt[r] + rs.gen[r]
        rs.restarts[r] += 1
        pool.stats.num_kv_lost += 1
    t.waiting.push(r, front=True)
