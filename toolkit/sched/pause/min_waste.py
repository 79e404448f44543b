"""InferCept's min-waste policy: per paused request, the action that wastes the least GPU
memory x time, with swaps confined to a per-iteration budget that hides behind compute.

Every iteration the engine asks `review` about the paused requests still on the GPU. They
are sorted by their waste, min(preserve, chunked discard), largest first; the most wasteful
get the iteration's swap-out budget, and each of the rest is discarded when recomputing it
in chunks wastes less than preserving it for its remaining time, else kept. A paused request
starts preserved, so a pause shorter than one iteration never moves.

Switches give the paper's technique breakdown: `allow_preserve=False, allow_swap=False`
discards with chunked recomputation (MinWasteDiscard); `allow_swap=True` adds budgeted,
pipelined swap (`fixed_swap_budget_tokens` replaces the timing-derived budget with a
constant, as the released code's per-setup coefficients do); `decision="heuristic"` preserves pauses expected to end within
`preserve_below_s` (the released code's H-S heuristic) instead of comparing wastes.
"""

from __future__ import annotations

from typing import Literal

from toolkit.sched.pause.base import PauseAction, PausedInfo, PausePolicy, PauseView
from toolkit.sched.pause.waste import (
    chunk_tokens,
    chunked_discard_waste,
    discard_waste,
    preserve_waste,
    remaining_s,
)


class MinWastePausePolicy(PausePolicy):
    """InferCept (saturation point 384 tokens as in the released code)."""

    keep_arrival_order = True
    budgeted_swap = True
    name = "infercept"

    def __init__(
        self,
        saturation_tokens: int = 384,
        estimate_duration: bool = False,
        allow_preserve: bool = True,
        allow_swap: bool = True,
        chunked_recompute: bool = True,
        decision: Literal["waste", "heuristic"] = "waste",
        preserve_below_s: float = 4.0,
        fixed_swap_budget_tokens: int | None = None,
        min_off_gpu_share: float = 0.5,
    ) -> None:
        if saturation_tokens <= 0:
            raise ValueError(f"saturation_tokens must be positive, got {saturation_tokens}")
        if decision not in ("waste", "heuristic"):
            raise ValueError(f"decision must be 'waste' or 'heuristic', got {decision!r}")
        self.saturation_tokens = saturation_tokens
        self.estimate_duration = estimate_duration
        self.allow_preserve = allow_preserve
        self.allow_swap = allow_swap
        self.chunked_recompute = chunked_recompute
        self.decision = decision
        self.preserve_below_s = preserve_below_s
        self.fixed_swap_budget_tokens = fixed_swap_budget_tokens
        if not 0.0 <= min_off_gpu_share < 1.0:
            raise ValueError(f"min_off_gpu_share must be in [0, 1), got {min_off_gpu_share}")
        self.min_off_gpu_share = min_off_gpu_share

    def on_pause(self, paused: PausedInfo, view: PauseView) -> PauseAction:
        return PauseAction.PRESERVE  # `review` decides within the same iteration

    def swap_budget_tokens(self, view: PauseView) -> int | None:
        """Tokens a copy moves while the planned iteration computes (`T_swap(N) = T_fwd(B)`),
        or the fixed budget given (the released code's constants)."""
        if self.fixed_swap_budget_tokens is not None:
            return self.fixed_swap_budget_tokens
        fwd = view.timing.fwd_s(max(view.batch_query_tokens, 1), view.running_context_tokens)
        return view.timing.swap_tokens_within_s(fwd)

    def review(self, preserved: list[PausedInfo], view: PauseView) -> dict[str, PauseAction]:
        ranked = sorted(
            ((self._wastes(p, view), p) for p in preserved),
            key=lambda e: (-min(e[0][0], e[0][1]), e[1].arrival_s, e[1].request_id),
        )
        budget = view.swap_budget_tokens if self.allow_swap else 0
        per_iter = max(self.swap_budget_tokens(view) or 0, 1)
        iter_s = view.timing.fwd_s(max(view.batch_query_tokens, 1), view.running_context_tokens)
        cpu = view.free_cpu_tokens
        out: dict[str, PauseAction] = {}
        for (keep_w, drop_w, rem), p in ranked:
            if self.decision == "heuristic" and self.allow_preserve and rem < self.preserve_below_s:
                continue
            trip = self._round_trip_s(p.gpu_tokens, per_iter, iter_s, view)
            if budget > 0 and p.gpu_tokens <= cpu and rem * (1.0 - self.min_off_gpu_share) > trip:
                out[p.request_id] = PauseAction.SWAP
                budget -= p.gpu_tokens
                cpu -= p.gpu_tokens
            elif not self.allow_preserve or self._drop(keep_w, drop_w, rem):
                out[p.request_id] = PauseAction.DISCARD
        return out

    @staticmethod
    def _round_trip_s(tokens: int, per_iter: int, iter_s: float, view: PauseView) -> float:
        """Copying `tokens` out and back: within the budget, iterations' worth of it. A pause
        is swapped only when its context would be off the GPU for at least
        `min_off_gpu_share` of it (our choice; the paper leaves it open): shorter pauses
        would spend the budget, and delay their own resume, for little memory."""
        one_way = max(-(-tokens // per_iter) * iter_s, view.timing.swap_s(tokens))
        return 2 * one_way

    def _drop(self, keep_w: float, drop_w: float, rem: float) -> bool:
        if self.decision == "heuristic":
            return rem >= self.preserve_below_s
        return drop_w < keep_w

    def _wastes(self, p: PausedInfo, view: PauseView) -> tuple[float, float, float]:
        """(preserve waste, discard waste, remaining seconds) of one paused request."""
        rem = remaining_s(p, view.now_s, self.estimate_duration)
        keep_w = preserve_waste(p.gpu_tokens, rem)
        other = view.running_context_tokens
        if self.chunked_recompute:
            h = chunk_tokens(view, self.saturation_tokens)
            drop_w = chunked_discard_waste(p.gpu_tokens, other, h, view.timing)
        else:
            drop_w = discard_waste(p.gpu_tokens, other, view.timing)
        return keep_w, drop_w, rem
