"""How requests move inside the simulated pool outside the normal batch flow: a
prefill group handing over to a decode group (disaggregation), the balancer's live
migration, the preemption of best-effort requests."""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING

from toolkit.sim.tp_group import SimGroup

if TYPE_CHECKING:
    from toolkit.sim.tp_cluster import TieredPool


def preempt(pool: TieredPool, g: SimGroup, now: float) -> None:
    """Free batch slots held by best-effort requests for waiting feasible ones."""
    rs = pool.rs
    g.waiting.peek(now)  # moves the requests past their deadline out of `due`
    want = len(g.waiting.due) - (pool._cap(g) - len(g.running) - len(g.prefill))
    if want <= 0:
        return
    victims = [r for r in reversed(g.running) if math.isinf(rs.deadline[r])][:want]
    for r in victims:
        g.running.remove(r)
        g.kv_used -= rs.prompt[r] + rs.output[r]
        g.ctx_sum -= rs.prompt[r] + rs.gen[r]
        rs.need[r] = rs.prompt[r] + rs.gen[r]
        rs.restarts[r] += 1
        pool.stats.num_preempted += 1
        g.waiting.push(r)


def hand_over(pool: TieredPool, g: SimGroup, r: int, now: float) -> None:
    """Disaggregation: the KV moves over the link to the least-loaded decode group,
    which takes the request when the transfer ends."""
    rs = pool.rs
    g.kv_used -= rs.prompt[r] + rs.output[r]
    d = min((x for x in pool.groups if x.spec.role == "decode"), key=lambda x: (x.load, x.gid))
    delay = (rs.prompt[r] + rs.gen[r]) * pool.setup.model.kv_bytes_per_token / (
        pool.setup.link_bytes_per_s * g.spec.tp)
    pool.handoffs[r] = d.gid
    pool.seq += 1
    heapq.heappush(pool.heap, (now + delay, pool.seq, -1 - r, 0))


def handoff_arrives(pool: TieredPool, r: int) -> None:
    """A request handed over (or migrated) reaches its group, or is placed again if the
    group was reconfigured away meanwhile."""
    d = pool.by_gid.get(pool.handoffs.pop(r))
    if d is None:
        pool._place(r, pool.names[pool.rs.tier[r]])
        return
    d.waiting.push(r, front=True)
    pool._kick(d)


def migrate(pool: TieredPool, src: SimGroup, dst: SimGroup) -> None:
    """Move `src`'s newest running request to `dst` with its KV (balancer)."""
    if src.in_flight is not None or not src.running:
        return
    if src.run is not None:
        pool._decode_steps(src, src.steps_done(pool.now), pool.now)
        src.run, src.busy = None, False
        src.version += 1
    if not src.running:
        pool._start(src, pool.now)
        return
    r = src.running.pop()
    rs = pool.rs
    src.kv_used -= rs.prompt[r] + rs.output[r]
    src.ctx_sum -= rs.prompt[r] + rs.gen[r]
    pool.stats.num_kv_migrated += 1
    pool.handoffs[r] = dst.gid
    pool.seq += 1
    heapq.heappush(pool.heap, (pool.now + pool.balancer.downtime_s, pool.seq, -1 - r, 0))
    pool._start(src, pool.now)
