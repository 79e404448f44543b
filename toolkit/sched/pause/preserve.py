"""Keep a paused request's KV cache on the GPU for the whole pause."""

from __future__ import annotations

from toolkit.sched.pause.base import PauseAction, PausedInfo, PausePolicy, PauseView


class PreservePausePolicy(PausePolicy):
    """Preserve at every pause: no recomputation, but the memory idles while the tool runs."""

    name = "preserve"

    def on_pause(self, paused: PausedInfo, view: PauseView) -> PauseAction:
        return PauseAction.PRESERVE
