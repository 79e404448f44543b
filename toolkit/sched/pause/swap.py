"""Swap a paused request's whole KV cache to host memory and back (unbudgeted)."""

from __future__ import annotations

from toolkit.sched.pause.base import PauseAction, PausedInfo, PausePolicy, PauseView


class SwapPausePolicy(PausePolicy):
    """Swap at every pause: the copy out and the copy back each stall the iteration that
    makes them. With too little host memory the request is discarded instead."""

    name = "swap"

    def on_pause(self, paused: PausedInfo, view: PauseView) -> PauseAction:
        if paused.context_tokens > view.free_cpu_tokens:
            return PauseAction.DISCARD
        return PauseAction.SWAP
