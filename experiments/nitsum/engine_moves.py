"""Requests moving between the engine's instances outside the normal batch flow, as the
simulator moves them (`toolkit.sim.tp_moves`), here with the engine's live KV migration:

- disaggregation (`policy=disagg`): a request placed on a prefill instance moves, once its
  first token is out, to the decode instance holding the fewest requests, KV included.
  While no decode instance has KV room for it, it is offered again before every step and
  meanwhile decodes where it was prefilled (the engine cannot park a request's KV; the
  simulator's hand-over waits instead);
- the migration balancer (`policy=migrate`, Llumnix-style): every window the policy's
  `MigrationBalancer` names (from, to) instance pairs and the newest decoding request of
  each `from` moves, KV included.

A move is synchronous: the replay waits for it, so its time falls on every request."""

from __future__ import annotations

import time

from toolkit.engine.tp.engine import TPEngine
from toolkit.plan.base import ClusterPlan
from toolkit.plan.migrate import MigrationBalancer


class Moves:
    """The replay's `Control` for disaggregation and the balancer (see the module
    docstring); counts the moves and their wall time."""

    def __init__(self, eng: TPEngine, inst: object, plan: ClusterPlan,
                 balancer: MigrationBalancer | None = None, interval_s: float = 1.0) -> None:
        self.eng, self.inst, self.balancer = eng, inst, balancer
        self.prefill = {k for k, g in enumerate(plan.groups) if g.role == "prefill"}
        self.decode = [k for k, g in enumerate(plan.groups) if g.role == "decode"]
        if bool(self.prefill) != bool(self.decode):
            raise ValueError("a disaggregated plan needs prefill and decode instances")
        self.interval, self.next_tick = interval_s, interval_s
        self.decoding: dict[int, None] = {}  # the balancer's: started, oldest first
        self.pending: dict[int, None] = {}  # hand-overs that found no room yet
        self.num_handovers = self.num_migrations = self.num_deferred = 0
        self.move_s: list[float] = []

    def arrived(self, tier: str) -> None:
        pass

    def finished(self, tier: str) -> None:
        pass

    def started(self, r: int) -> None:
        """Request `r` has its first token and goes on decoding."""
        if self.balancer is not None:
            self.decoding[r] = None
        if self.inst.where[r] in self.prefill and not self._hand_over(r):
            self.pending[r] = None
            self.num_deferred += 1

    def _hand_over(self, r: int) -> bool:
        for dst in sorted(self.decode, key=lambda k: (self.inst.groups[k].load, k)):
            try:
                self._move(r, dst)
            except ValueError:  # no room there now
                continue
            self.num_handovers += 1
            return True
        return False

    def tick(self, now: float) -> None:
        self.pending = {r: None for r in self.pending
                        if r in self.inst.where and not self._hand_over(r)}
        if self.balancer is None or now < self.next_tick:
            return
        while self.next_tick <= now:
            self.next_tick += self.interval
        self.decoding = {r: None for r in self.decoding if r in self.inst.where}
        for src, dst in self.balancer.moves(self.inst.groups):
            for r in [r for r in reversed(self.decoding) if self.inst.where[r] == src]:
                try:  # the newest that still decodes (the engine may have preempted it)
                    self._move(r, dst)
                except ValueError:
                    continue
                self.num_migrations += 1
                break

    def _move(self, r: int, dst: int) -> None:
        t = time.perf_counter()
        self.eng.migrate(str(r), dst)
        self.move_s.append(time.perf_counter() - t)
        self.inst.move(r, dst)

    def summary(self) -> dict:
        n = len(self.move_s)
        return {"num_kv_migrated": n, "num_handovers": self.num_handovers,
                "num_migrations": self.num_migrations, "num_deferred_handovers": self.num_deferred,
                "move_s_mean": sum(self.move_s) / n if n else 0.0}
