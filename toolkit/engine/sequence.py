"""The engine's sequence: a scheduler `Seq` plus its tokens, block table and sampling state."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

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
    """

    __slots__ = ("token_ids", "params", "generator", "block_table", "num_tree_blocks",
                 "finish_reason", "prompt")

    def __init__(self, request: Request, token_ids: Sequence[int], params: SamplingParams,
                 generator: torch.Generator | None, prompt: str | None = None) -> None:
        super().__init__(request)
        self.token_ids = list(token_ids)
        self.params = params
        self.generator = generator
        self.block_table: list[int] = []
        self.num_tree_blocks = 0
        self.finish_reason: str | None = None
        self.prompt = prompt

    @property
    def num_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def output_token_ids(self) -> list[int]:
        return self.token_ids[self.request.prompt_len:]
