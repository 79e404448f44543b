"""KV-pause policies (InferCept): preserve, discard or swap a paused request's KV cache."""

from toolkit.sched.pause.base import PauseAction, PausedInfo, PausePolicy, PauseTiming, PauseView
from toolkit.sched.pause.discard import DiscardPausePolicy
from toolkit.sched.pause.improved_discard import ImprovedDiscardPausePolicy
from toolkit.sched.pause.min_waste import MinWastePausePolicy
from toolkit.sched.pause.preserve import PreservePausePolicy
from toolkit.sched.pause.swap import SwapPausePolicy

__all__ = [
    "DiscardPausePolicy", "ImprovedDiscardPausePolicy", "MinWastePausePolicy", "PauseAction",
    "PausePolicy", "PauseTiming", "PauseView", "PausedInfo", "PreservePausePolicy",
    "SwapPausePolicy",
]
