"""Pause policies decide by InferCept's waste model: short calls stay, long ones go, and the
break-even pause grows with the context of the other running requests (hand-computed)."""

from __future__ import annotations

import pytest

from toolkit.sched.pause import (
    DiscardPausePolicy,
    ImprovedDiscardPausePolicy,
    MinWastePausePolicy,
    PauseAction,
    PausedInfo,
    PausePolicy,
    PauseView,
    PreservePausePolicy,
    SwapPausePolicy,
)


class Timing:
    def fwd_s(self, q: int, c: int) -> float:
        return (0.0279 * q + 15.4) / 1000  # Vicuna-13B on 2 A100s (released fit)

    def swap_s(self, n: int) -> float:
        return n * 819_200 / 25e9

    def swap_tokens_within_s(self, s: float) -> int:
        return int(s * 25e9 / 819_200)


def view(now=100.0, other=4000, budget=0, decode=20) -> PauseView:
    return PauseView(now_s=now, running_context_tokens=other, num_running_decode=decode,
                     batch_query_tokens=decode, free_gpu_tokens=10_000, free_cpu_tokens=10**6,
                     timing=Timing(), swap_budget_tokens=budget)


def paused(rid="a", duration=1.0, ctx=1500, start=100.0) -> PausedInfo:
    return PausedInfo(request_id=rid, arrival_s=0.0, call_start_s=start, context_tokens=ctx,
                      gpu_tokens=ctx, known_duration_s=duration)


def test_fixed_policies():
    v, p = view(), paused()
    assert PreservePausePolicy().on_pause(p, v) is PauseAction.PRESERVE
    assert DiscardPausePolicy().on_pause(p, v) is PauseAction.DISCARD
    assert SwapPausePolicy().on_pause(p, v) is PauseAction.SWAP
    assert not DiscardPausePolicy.keep_arrival_order and ImprovedDiscardPausePolicy.keep_arrival_order
    full = PauseView(now_s=0.0, running_context_tokens=0, num_running_decode=0,
                     batch_query_tokens=1, free_gpu_tokens=0, free_cpu_tokens=100,
                     timing=Timing())
    assert SwapPausePolicy().on_pause(p, full) is PauseAction.DISCARD
    assert not PreservePausePolicy().reviews and MinWastePausePolicy().reviews


@pytest.mark.parametrize("duration,expected", [
    (9e-5, None), (0.09, None),              # math, virtual environment: preserved
    (20.0, PauseAction.DISCARD), (28.6, PauseAction.DISCARD),  # image, chatbot: no budget
])
def test_min_waste_keeps_short_calls_and_drops_long_ones(duration, expected):
    got = MinWastePausePolicy().review([paused(duration=duration)], view())
    assert got.get("a") is expected


def test_long_calls_get_the_swap_budget_first():
    pol = MinWastePausePolicy()
    ps = [paused("short", 0.09), paused("long", 25.0), paused("mid", 8.0)]
    got = pol.review(ps, view(budget=600))
    assert got["long"] is PauseAction.SWAP
    assert "short" not in got
    assert got["mid"] is PauseAction.DISCARD  # the budget went to the most wasteful one


# Hand-computed from the paper's waste equations with the Vicuna-13B TP-2 fit f(x) = 0.0279 x
# + 15.4 ms: a 1,500-token context recomputed in chunks of 384 - 20 decodes = 364 tokens is
# n = 5 chunks of 300; discarding wastes f(1500) * 1500 / 2 + 5 f(300) * C_other
# = 57.25 ms * 750 + 5 * 23.77 ms * C_other, preserving wastes 1500 * T: the policy should
# switch to discarding at T* = (42.9375 + 0.11885 C_other) / 1500 seconds.
BREAK_EVEN_S = {0: 0.028625, 2000: 0.18709167, 8000: 0.66249167, 32000: 2.56409167}


@pytest.mark.parametrize("other", sorted(BREAK_EVEN_S))
def test_break_even_matches_the_hand_computed_pause(other):
    t = BREAK_EVEN_S[other]
    pol = MinWastePausePolicy()
    assert "a" not in pol.review([paused(duration=t * 0.98)], view(other=other))
    assert pol.review([paused(duration=t * 1.02)], view(other=other))["a"] is PauseAction.DISCARD


def test_estimator_waits_before_dropping():
    pol = MinWastePausePolicy(estimate_duration=True)
    assert pol.review([paused(duration=30.0, start=100.0)], view(now=100.0)) == {}
    late = pol.review([paused(duration=30.0, start=100.0)], view(now=110.0))
    assert late["a"] is PauseAction.DISCARD


def test_breakdown_switches():
    no_keep = MinWastePausePolicy(allow_preserve=False, allow_swap=False)
    assert no_keep.review([paused(duration=0.09)], view(budget=600))["a"] is PauseAction.DISCARD
    heuristic = MinWastePausePolicy(decision="heuristic", preserve_below_s=4.0)
    got = heuristic.review([paused("x", 3.0), paused("y", 6.0)], view())
    assert "x" not in got and got["y"] is PauseAction.DISCARD


def test_swap_budget_matches_forward_time():
    v = view(decode=384)
    assert MinWastePausePolicy().swap_budget_tokens(v) == Timing().swap_tokens_within_s(
        Timing().fwd_s(384, v.running_context_tokens))
    assert PausePolicy.swap_budget_tokens(PreservePausePolicy(), v) is None
