"""InferCept's ImprovedDiscard baseline: vLLM's discard without losing the queue position."""

from __future__ import annotations

from toolkit.sched.pause.discard import DiscardPausePolicy


class ImprovedDiscardPausePolicy(DiscardPausePolicy):
    """Discard at every pause, but the resumed request keeps its original arrival time, so
    FCFS puts it ahead of later arrivals."""

    keep_arrival_order = True
    name = "improved_discard"
