"""A sequence that pauses for tool calls: its phases and where its KV cache is."""

from __future__ import annotations

import math
from enum import Enum
from itertools import accumulate

from toolkit.core.request import Request
from toolkit.sched.pause.base import PauseAction, PausedInfo
from toolkit.sched.seq import Seq


class KVPlace(Enum):
    """Where a paused (or resuming) sequence's context is."""

    GPU = 0          # preserved (or never paused)
    SWAPPING_OUT = 1  # on the GPU, being copied to host memory
    HOST = 2         # swapped out (or being copied back)
    DROPPED = 3      # discarded: recomputed on resume


class PauseSeq(Seq):
    """A request generating in phases: one per segment, then the final answer.

    Each phase starts with a prefill (the prompt, or the tool's returned tokens after the
    last generated one) that yields its first token, so a phase makes at least one token.
    `extra_tokens` are returned tool tokens in the context; the context in KV while
    decoding is `prompt_len + extra_tokens + num_generated - 1`.
    """

    __slots__ = (
        "stops", "seg_idx", "extra_tokens", "place", "action", "call_start_s", "swap_left",
        "recompute_until", "event_version", "decided_s", "first_action", "context_truncated",
    )

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        phases = [max(1, s.output_len) for s in request.segments or ()]
        phases.append(max(1, request.output_len))
        self.stops = tuple(accumulate(phases))
        self.seg_idx = 0
        self.extra_tokens = 0
        self.place = KVPlace.GPU
        self.action = PauseAction.PRESERVE
        self.first_action = PauseAction.PRESERVE
        self.call_start_s = math.nan
        self.decided_s = math.nan
        self.swap_left = 0
        self.recompute_until = 0
        self.event_version = 0
        self.context_truncated = False  # cut to fit the model's context (`fit_context`)

    @property
    def target_output_len(self) -> int:
        """Output tokens by the end of the current phase."""
        return self.stops[self.seg_idx]

    @property
    def num_segments(self) -> int:
        return len(self.stops) - 1

    @property
    def context_tokens(self) -> int:
        """KV tokens of the context after the last generated token is fed back."""
        return self.request.prompt_len + self.extra_tokens + max(self.num_generated - 1, 0)

    @property
    def final_context_tokens(self) -> int:
        segs = self.request.segments or ()
        return self.request.prompt_len + self.stops[-1] + sum(s.return_len for s in segs)

    def info(self, known_duration: bool) -> PausedInfo:
        """The paused request as a policy sees it."""
        seg = self.request.segments[self.seg_idx - 1]  # type: ignore[index]
        ctx = self.context_tokens
        return PausedInfo(
            request_id=self.request.id, arrival_s=self.request.arrival_s,
            call_start_s=self.call_start_s, context_tokens=ctx,
            gpu_tokens=ctx if self.place is not KVPlace.HOST else 0,
            known_duration_s=seg.pause_s if known_duration else None,
        )
