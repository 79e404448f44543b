"""The request: what a client sends, independent of the backend that serves it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Segment:
    """One tool call inside a request (InferCept): generate, pause, receive.

    The request generates `output_len` tokens, then pauses for `pause_s` seconds while the
    tool runs, then the tool returns `return_len` tokens that are appended to its context
    (to be prefilled) before it resumes with the next segment, or with the final answer.
    """

    output_len: int
    pause_s: float
    return_len: int


@dataclass(slots=True)
class Request:
    """A request of a trace.

    Token ids and block hashes are stored as tuples of ints (what prefix caches match on).
    The prompt is either explicit token ids (`prompt_token_ids`) or, for traces that publish
    only prefix-block hashes (Mooncake), `prompt_len` tokens described by `block_hashes`,
    one hash per `block_size` tokens (equal hash = equal prefix up to and including the block;
    the last block may be partial).

    `key` is what prefix caches and routers match on: token ids, or block hashes. Each key
    element stands for `tokens_per_key` tokens (1, or `block_size`).

    Tool calls (InferCept): with `segments`, the request generates `segments[0].output_len`
    tokens, pauses `segments[0].pause_s` seconds, receives `segments[0].return_len` tool
    tokens into its context, then runs the next segment the same way; after the last one it
    generates `output_len` more tokens (the final answer). So `output_len` alone is the
    final answer and `total_output_len` is everything it generates. Segments are validated:
    a negative length or a negative or non-finite pause raises ValueError naming the request
    and the segment index.
    """

    id: str
    arrival_s: float
    output_len: int
    prompt_token_ids: Sequence[int] | None = None
    prompt_len: int = 0
    block_hashes: Sequence[int] | None = None
    block_size: int = 0
    session: str | None = None
    tier: str | None = None
    segments: list[Segment] | None = None
    meta: dict = field(default_factory=dict)
    # derived in __post_init__ (plain attributes: read on every prefix match)
    key: Sequence[int] = field(init=False, repr=False, compare=False)
    """The sequence a prefix cache matches on (token ids or block hashes)."""
    tokens_per_key: int = field(init=False, repr=False, compare=False)
    """How many prompt tokens one element of `key` stands for."""

    def __post_init__(self) -> None:
        if self.prompt_token_ids is not None:
            if type(self.prompt_token_ids) is not tuple:  # caches match on tuples
                self.prompt_token_ids = _as_int_tuple(self.prompt_token_ids)
            self.prompt_len = len(self.prompt_token_ids)
        elif self.block_hashes is None:
            raise ValueError(f"request {self.id}: needs prompt_token_ids or block_hashes")
        elif self.block_size <= 0:
            raise ValueError(f"request {self.id}: block_hashes need a positive block_size")
        elif type(self.block_hashes) is not tuple:
            self.block_hashes = _as_int_tuple(self.block_hashes)
        if self.prompt_token_ids is not None:
            self.key, self.tokens_per_key = self.prompt_token_ids, 1
        else:
            self.key, self.tokens_per_key = self.block_hashes, self.block_size  # type: ignore[assignment]
        if self.output_len < 0:
            raise ValueError(f"request {self.id}: negative output_len {self.output_len}")
        if self.segments:
            _check_segments(self.id, self.segments)

    @property
    def total_output_len(self) -> int:
        """Tokens the request generates: every segment's output plus the final answer."""
        if not self.segments:
            return self.output_len
        return self.output_len + sum(s.output_len for s in self.segments)

    @property
    def total_return_len(self) -> int:
        """Tool-returned tokens appended to the context over all segments (0 without)."""
        if not self.segments:
            return 0
        return sum(s.return_len for s in self.segments)

    @property
    def final_context_len(self) -> int:
        """Context at the end: prompt + everything generated + everything tools returned."""
        return self.prompt_len + self.total_output_len + self.total_return_len

    def key_tokens(self, num_key: int) -> int:
        """Prompt tokens covered by the first `num_key` key elements (the last block may be partial)."""
        return min(num_key * self.tokens_per_key, self.prompt_len)


def _check_segments(request_id: str, segments: Sequence[Segment]) -> None:
    for i, seg in enumerate(segments):
        if seg.output_len < 0:
            raise ValueError(f"request {request_id}: segment {i}: negative output_len {seg.output_len}")
        if seg.return_len < 0:
            raise ValueError(f"request {request_id}: segment {i}: negative return_len {seg.return_len}")
        if not (math.isfinite(seg.pause_s) and seg.pause_s >= 0):
            raise ValueError(
                f"request {request_id}: segment {i}: pause_s must be finite and >= 0, got {seg.pause_s}"
            )


def _as_int_tuple(seq: Sequence[int]) -> tuple[int, ...]:
    tolist = getattr(seq, "tolist", None)  # numpy arrays: plain ints, at C speed
    return tuple(tolist()) if tolist is not None else tuple(seq)
