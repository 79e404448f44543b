"""vLLM's answer to a pause: drop the KV cache and recompute the whole context on resume."""

from __future__ import annotations

from toolkit.sched.pause.base import PauseAction, PausedInfo, PausePolicy, PauseView


class DiscardPausePolicy(PausePolicy):
    """vLLM: discard at every pause; the resumed request joins the tail of the waiting queue
    (a fresh arrival) and recomputes its context in one prefill."""

    keep_arrival_order = False
    name = "vllm"

    def on_pause(self, paused: PausedInfo, view: PauseView) -> PauseAction:
        return PauseAction.DISCARD

