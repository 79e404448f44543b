"""The request: what a client sends, independent of the backend that serves it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Segment:
    """One tool-call pause inside a request (InferCept).

    The request generates `output_len` tokens, then pauses for `pause_s` seconds, then the
    tool returns `return_len` tokens that are appended to its context before it resumes.
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
        if self.output_len < 0:
            raise ValueError(f"request {self.id}: negative output_len {self.output_len}")

    @property
    def key(self) -> Sequence[int]:
        """The sequence a prefix cache matches on (token ids or block hashes)."""
        if self.prompt_token_ids is not None:
            return self.prompt_token_ids
        return self.block_hashes  # type: ignore[return-value]

    @property
    def tokens_per_key(self) -> int:
        """How many prompt tokens one element of `key` stands for."""
        return 1 if self.prompt_token_ids is not None else self.block_size

    def key_tokens(self, num_key: int) -> int:
        """Prompt tokens covered by the first `num_key` key elements (the last block may be partial)."""
        return min(num_key * self.tokens_per_key, self.prompt_len)


def _as_int_tuple(seq: Sequence[int]) -> tuple[int, ...]:
    tolist = getattr(seq, "tolist", None)  # numpy arrays: plain ints, at C speed
    return tuple(tolist()) if tolist is not None else tuple(seq)
