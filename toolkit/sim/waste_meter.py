"""GPU-memory waste of a simulated engine, integrated over its iterations (InferCept).

Waste is KV memory x time that produces nothing: paused contexts kept on the GPU; the
whole batch's memory while an iteration recomputes a discarded context (its share of the
iteration's query tokens); and the whole batch's memory while a swap stalls the GPU.
Shares are of the KV capacity over the engine's busy time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class WasteMeter:
    """Token-seconds of each waste kind, and the time totals they are shares of."""

    busy_s: float = 0.0
    recompute_s: float = 0.0
    stall_s: float = 0.0
    capacity_token_s: float = 0.0
    preserve_token_s: float = 0.0
    recompute_token_s: float = 0.0
    swap_token_s: float = 0.0
    num_iterations: int = 0

    def add(self, dt: float, capacity: int, paused_gpu: int, running: int,
            recompute_frac: float, stall_s: float) -> None:
        """One iteration (or a stretch) of `dt` seconds, of which `stall_s` waited for swaps;
        `recompute_frac` of its compute time recomputed discarded context."""
        stall = min(stall_s, dt)
        compute = dt - stall
        self.busy_s += dt
        self.stall_s += stall
        self.recompute_s += compute * recompute_frac
        self.capacity_token_s += capacity * dt
        self.preserve_token_s += paused_gpu * dt
        self.recompute_token_s += running * compute * recompute_frac
        self.swap_token_s += (running + paused_gpu) * stall
        self.num_iterations += 1

    def summary(self) -> dict[str, float]:
        """Totals plus waste shares (of capacity x busy time) and the recompute time share."""
        out: dict[str, float] = asdict(self)
        cap = self.capacity_token_s or 1.0
        out["waste_preserve_frac"] = self.preserve_token_s / cap
        out["waste_recompute_frac"] = self.recompute_token_s / cap
        out["waste_swap_frac"] = self.swap_token_s / cap
        out["waste_frac"] = (self.preserve_token_s + self.recompute_token_s + self.swap_token_s) / cap
        out["recompute_time_frac"] = self.recompute_s / (self.busy_s or 1.0)
        out["swap_stall_time_frac"] = self.stall_s / (self.busy_s or 1.0)
        return out

    def merge(self, other: WasteMeter) -> WasteMeter:
        """The sum of two meters (engines of one cluster)."""
        a, b = asdict(self), asdict(other)
        return WasteMeter(**{k: a[k] + b[k] for k in a})
