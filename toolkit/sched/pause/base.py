"""The KV-pause contract (InferCept): what happens to a request's KV cache while it waits
for a tool, shared by the simulated and the real engine.

An engine pauses a sequence when it has generated a segment's tokens. It asks the policy
`on_pause` for the first action, asks `review` every iteration about the paused sequences
still holding GPU memory (a policy may move them to host memory or drop them later), and
takes the policy's swap budget and resume order. Time estimates come from the engine's
`PauseTiming` (a cost model in the simulator, a profile or measurements on a real engine),
so the policy never knows which backend runs it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class PauseAction(str, Enum):
    """What happens to a paused request's KV cache."""

    PRESERVE = "preserve"
    DISCARD = "discard"
    SWAP = "swap"


class PauseTiming(Protocol):
    """Seconds an engine needs for a forward pass and for host-device KV copies."""

    def fwd_s(self, num_query_tokens: int, num_context_tokens: int) -> float:
        """One iteration computing `num_query_tokens` over `num_context_tokens` in all."""
        ...

    def swap_s(self, num_tokens: int) -> float:
        """Copying the KV of `num_tokens` tokens one way between GPU and host memory."""
        ...

    def swap_tokens_within_s(self, seconds: float) -> int:
        """The most tokens one way copy moves within `seconds` (the inverse of `swap_s`)."""
        ...


@dataclass(frozen=True, slots=True)
class PausedInfo:
    """A paused request as a policy sees it.

    `context_tokens` are the KV tokens it had when it paused; `gpu_tokens` of them are still
    on the GPU (fewer while a swap-out is under way). `known_duration_s` is the tool call's
    true duration when the engine knows it (a trace's oracle), else None.
    """

    request_id: str
    arrival_s: float
    call_start_s: float
    context_tokens: int
    gpu_tokens: int
    known_duration_s: float | None = None


@dataclass(frozen=True, slots=True)
class PauseView:
    """The engine's state at a decision point.

    `running_context_tokens`: context of the running (not paused) sequences;
    `num_running_decode`: sequences decoding one token this iteration;
    `batch_query_tokens`: query tokens of the iteration being planned;
    `free_gpu_tokens` / `free_cpu_tokens`: KV slots free on the GPU / in host swap space;
    `swap_budget_tokens`: what is left of this iteration's swap budget for swap-outs.
    """

    now_s: float
    running_context_tokens: int
    num_running_decode: int
    batch_query_tokens: int
    free_gpu_tokens: int
    free_cpu_tokens: int
    timing: PauseTiming
    swap_budget_tokens: int = 0


class PausePolicy(ABC):
    """Chooses preserve, discard or swap for each paused request.

    Class attributes a policy sets: `keep_arrival_order` — a discarded request re-enters
    the waiting queue at its original arrival time (else at the tail, as vLLM does);
    `chunked_recompute` — recomputation is split into chunks within the iteration token
    budget (else one whole prefill); `budgeted_swap` — swaps happen only within the
    per-iteration budget `swap_budget_tokens` and overlap compute (else each swap stalls
    the iteration that makes it).
    """

    keep_arrival_order: bool = True
    chunked_recompute: bool = False
    budgeted_swap: bool = False
    name: str = "policy"

    @abstractmethod
    def on_pause(self, paused: PausedInfo, view: PauseView) -> PauseAction:
        """The action when the request pauses."""

    def review(self, preserved: list[PausedInfo], view: PauseView) -> dict[str, PauseAction]:
        """Per-iteration changes for requests that still hold GPU memory: request id ->
        DISCARD or SWAP. The default changes nothing."""
        return {}

    @property
    def reviews(self) -> bool:
        """Whether `review` can change anything (engines skip calling it otherwise)."""
        return type(self).review is not PausePolicy.review

    def swap_budget_tokens(self, view: PauseView) -> int | None:
        """Tokens that may move between GPU and host this iteration, in and out together;
        None: no budget (each swap stalls the batch for its whole copy time)."""
        return None
