"""The engine's sequence: a scheduler `Seq` plus its tokens, block table and sampling state."""

from __future__ import annotations

import hashlib
from collections.abc import Hashable, Sequence

import numpy as np
import torch

from toolkit.core.request import Request
from toolkit.engine.sampling import SamplingParams
from toolkit.sched.seq import Seq


def block_hashes(token_ids: Sequence[int], block_size: int) -> tuple[int, ...]:
    """Chained 64-bit hashes of the full blocks of `token_ids`: block i's hash covers its
    tokens and block i-1's hash, so equal hashes mean equal prefixes up to that block."""
    out = []
    prev = b""
    arr = np.asarray(token_ids, dtype=np.int64)
    for start in range(0, len(arr) - block_size + 1, block_size):
        digest = hashlib.blake2b(prev + arr[start:start + block_size].tobytes(), digest_size=8)
        prev = digest.digest()
        out.append(int.from_bytes(prev, "little"))
    return tuple(out)


def make_request(request_id: str, arrival_s: float, prompt_token_ids: Sequence[int],
                 max_tokens: int, block_size: int, prefix_caching: bool = True,
                 meta: dict | None = None) -> Request:
    """The scheduler-facing request: its cache key is the chained hashes of the prompt's full
    blocks (empty with prefix caching off), one key element per `block_size` tokens."""
    hashes = block_hashes(prompt_token_ids, block_size) if prefix_caching else ()
    return Request(id=request_id, arrival_s=arrival_s, output_len=max_tokens,
                   prompt_len=len(prompt_token_ids), block_hashes=hashes,
                   block_size=block_size, meta=dict(meta or {}))


class EngineSeq(Seq):
    """A request inside the real engine.

    `token_ids` holds the prompt then the output so far. `block_table` lists the physical KV
    blocks of the sequence in order; its first `num_tree_blocks` belong to the prefix cache
    (shared, read-only), the rest to this sequence.

    Pauses (InferCept): `pause_after` lists the output lengths of the segments that end in a
    tool call. The current segment's request (`request`) has the whole context so far as its
    prompt and the segment's length as its `output_len` (the last segment: `max_tokens`);
    `num_generated` counts the segment's tokens, `num_generated_before` those of earlier
    segments. While paused, `paused` is set and the KV lives on the GPU (`block_table`), in
    host memory (`swapped`) or nowhere (recomputed on resume).

    Speculation: `spec_key` is the problem the sequence samples (the drafter's and the
    budget's grouping; the request id by default); the counters add up its verify steps.
    """

    __slots__ = ("token_ids", "params", "generator", "block_table", "num_tree_blocks",
                 "finish_reason", "prompt", "pause_after", "num_pauses", "num_generated_before",
                 "paused", "swapped", "spec_key", "num_draft_tokens", "num_accepted_tokens",
                 "num_verify_steps")

    def __init__(self, request: Request, token_ids: Sequence[int], params: SamplingParams,
                 generator: torch.Generator | None, prompt: str | None = None,
                 pause_after: Sequence[int] = (), spec_key: Hashable = None) -> None:
        super().__init__(request)
        self.token_ids = list(token_ids)
        self.params = params
        self.generator = generator
        self.block_table: list[int] = []
        self.num_tree_blocks = 0
        self.finish_reason: str | None = None
        self.prompt = prompt
        self.pause_after = tuple(pause_after)
        self.num_pauses = 0
        self.num_generated_before = 0
        self.paused = False
        self.swapped: object | None = None
        self.spec_key = request.id if spec_key is None else spec_key
        self.num_draft_tokens = 0
        self.num_accepted_tokens = 0
        self.num_verify_steps = 0

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def output_token_ids(self) -> list[int]:
        """The tokens generated in the current segment (all of them without pauses)."""
        return self.token_ids[self.request.prompt_len:]

    @property
    def num_generated_total(self) -> int:
        """Tokens generated over all segments (tool tokens not counted)."""
        return self.num_generated_before + self.num_generated

    @property
    def segment_index(self) -> int:
        """The segment generated now, or last if paused (0 before the first resume)."""
        return self.num_pauses - 1 if self.paused else self.num_pauses

    @property
    def pauses_at_segment_end(self) -> bool:
        """Whether reaching the current segment's `output_len` pauses (else it finishes)."""
        return self.num_pauses < len(self.pause_after)

    @property
    def next_output_len(self) -> int:
        """While paused: the output length of the segment that follows (`num_pauses` counts
        this pause already)."""
        nxt = self.num_pauses
        return self.pause_after[nxt] if nxt < len(self.pause_after) else self.params.max_tokens

    def continue_with(self, tool_token_ids: Sequence[int], block_size: int,
                      prefix_caching: bool) -> None:
        """Append a tool's tokens and start the next segment: the whole context becomes the
        new request's prompt, and `num_prefilled` stays at the KV tokens kept (the caller
        sets it to 0 when the KV was discarded)."""
        kv_tokens = self.num_tokens - 1  # the last sampled token has no KV yet
        self.token_ids.extend(int(t) for t in tool_token_ids)
        old = self.request
        output_len = self.next_output_len
        self.request = make_request(old.id, old.arrival_s, self.token_ids, output_len,
                                    block_size, prefix_caching, old.meta)
        self.num_generated_before += self.num_generated
        self.num_generated = 0
        self.recompute_tokens = 0
        self.num_prefilled = kv_tokens
        self.paused = False
        self.match_epoch = -1
        self.match_hint = None
        self.priority_len = -1
