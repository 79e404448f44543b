"""Offline profiles: the largest request rate one TP group sustains within a tier's SLO.

A group running batch B of requests with prompt P and output O decodes a step in
t_d(B) and prefills a request in t_p(P), chunked into its steps. In steady state at rate
lam, Little's law gives B = lam * O * step, and prefill takes a fraction lam * t_p of the
time, so lam(B) = B / (O t_d(B) + B t_p) and the effective TPOT is t_d(B) / (1 - lam t_p).
The SLO-safe rate is the largest lam(B) over batches whose TPOT meets the target, whose KV
fits, and whose prefill alone leaves half the TTFT target for queueing (zero if none does).
Nitsum profiles this by measurement; the closed form stands in for that profile here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from toolkit.cost.base import CostModel
from toolkit.plan.base import GroupSpec
from toolkit.workloads.tiers import TierSLO

BATCHES = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


@dataclass(frozen=True)
class GroupProfile:
    """One (tier, tp): SLO-safe rate (req/s) of one group and the batch that reaches it, and
    the largest batch a decode-only group (disaggregation: no prefill in its steps) runs
    within the TPOT target."""

    rate_rps: float
    batch: int
    decode_batch: int = 0


def slo_safe_profile(cost: CostModel, slo: TierSLO, prompt_len: float, output_len: float,
                     kv_tokens: int, max_batch: int = 256) -> GroupProfile:
    """See the module docstring."""
    ctx = prompt_len + output_len / 2
    fits = [b for b in BATCHES if b <= max_batch and b * (prompt_len + output_len) <= kv_tokens]
    decode_only = max((b for b in fits if cost.decode_s(b, int(ctx)) <= slo.tpot_s), default=0)
    t_p = cost.prefill_s(max(1, int(prompt_len)))
    if t_p > 0.5 * slo.ttft_s:
        return GroupProfile(0.0, 0, decode_only)
    best = GroupProfile(0.0, 0, decode_only)
    for b in fits:
        t_d = cost.decode_s(b, int(ctx))
        lam = b / (output_len * t_d + b * t_p)
        if lam * t_p >= 1 or t_d / (1 - lam * t_p) > slo.tpot_s:
            continue
        if lam > best.rate_rps:
            best = GroupProfile(lam, b, decode_only)
    return best


@dataclass
class ProfileTable:
    """`profile[tier][tp]` for every tier and TP level; `best_effort` names the tiers
    without targets (no SLO-safe rate to plan for)."""

    profile: dict[str, dict[int, GroupProfile]]
    best_effort: frozenset[str] = frozenset()

    @classmethod
    def build(cls, costs: Mapping[int, CostModel], slos: Mapping[str, TierSLO],
              prompt_len: float, output_len: float, kv_tokens: Mapping[int, int],
              max_batch: int = 256) -> ProfileTable:
        return cls({name: {tp: slo_safe_profile(c, slo, prompt_len, output_len,
                                                kv_tokens[tp], max_batch)
                           for tp, c in costs.items()} for name, slo in slos.items()},
                   frozenset(n for n, slo in slos.items() if not slo.has_target))

    def rate(self, tier: str, tp: int) -> float:
        return self.profile[tier][tp].rate_rps

    def batch(self, tier: str, tp: int) -> int:
        return self.profile[tier][tp].batch

    def decode_batch(self, tier: str, tp: int) -> int:
        return self.profile[tier][tp].decode_batch

    def levels(self) -> Sequence[int]:
        return sorted(next(iter(self.profile.values())))


def efficiency(table: ProfileTable, tier: str, tp: int, demand_rps: float) -> float:
    """Goodput per GPU of one more group: SLO-safe rate capped at the demand, over tp."""
    return min(table.rate(tier, tp), max(0.0, demand_rps)) / tp


def safe_batch(profiles: ProfileTable, spec: GroupSpec, tiers: Sequence[str],
               slos: Mapping[str, TierSLO]) -> int:
    """A group's SLO-safe batch: its tier's, or the strictest served tier's when shared. A
    decode-only group's is the batch whose decode step alone meets the TPOT target; a
    prefill-only group has none (its prefills are bounded by the chunk budget)."""
    if spec.role == "prefill":
        return 0
    served = [spec.tier] if spec.tier is not None else [t for t in tiers if slos[t].has_target]
    size = profiles.decode_batch if spec.role == "decode" else profiles.batch
    sizes = [size(t, spec.tp) for t in served if size(t, spec.tp) > 0]
    return min(sizes) if sizes else 0
