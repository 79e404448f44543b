"""A migration-based load balancer (Llumnix-style): live KV migration off overloaded groups."""

from __future__ import annotations

from collections.abc import Sequence

from toolkit.core import ConfigError
from toolkit.plan.dispatch import GroupLoad


class MigrationBalancer:
    """Every control window, while the busiest group holds more than `threshold` more
    requests per SLO-safe slot (per GPU where none) than the idlest one of the same tier,
    move one running request from it, at most `max_moves` per window. A moved request
    stalls `downtime_s` (Llumnix reports a near-constant downtime of tens of ms; its KV
    copy overlaps decoding, so only the last stage stops it)."""

    def __init__(self, threshold: float = 0.25, max_moves: int = 16,
                 downtime_s: float = 0.03) -> None:
        if threshold <= 0 or max_moves < 0 or downtime_s < 0:
            raise ConfigError("balancer", "need threshold > 0, max_moves >= 0, downtime_s >= 0")
        self.threshold, self.max_moves, self.downtime_s = threshold, max_moves, downtime_s

    def moves(self, groups: Sequence[GroupLoad]) -> list[tuple[int, int]]:
        """(from, to) group indices, one request each."""
        load = {g.index: g.load for g in groups}
        out: list[tuple[int, int]] = []
        pool = [g for g in groups if g.up and g.role == "mixed"]
        for _ in range(self.max_moves):
            if len(pool) < 2:
                break

            def per_slot(g: GroupLoad) -> float:
                return load[g.index] / max(1, g.safe_batch or g.tp)

            src = max(pool, key=lambda g: (per_slot(g), -g.index))
            peers = [g for g in pool if g.tier == src.tier and g.index != src.index]
            if not peers or load[src.index] <= 1:
                break
            dst = min(peers, key=lambda g: (per_slot(g), g.index))
            if per_slot(src) - per_slot(dst) <= self.threshold:
                break
            out.append((src.index, dst.index))
            load[src.index] -= 1
            load[dst.index] += 1
        return out
