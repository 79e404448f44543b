"""Helpers shared by the kernel tests: when Triton can run, tolerances, paged-cache builders
with NaN-poisoned unused slots, and a brute-force dense attention to check references."""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Callable

import pytest
import torch

INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"
HAS_TRITON = importlib.util.find_spec("triton") is not None
HAS_CUDA = torch.cuda.is_available()
TRITON_RUNNABLE = HAS_TRITON and (INTERPRET or HAS_CUDA)
SKIP_REASON = (
    "Triton kernels need CUDA, or TRITON_INTERPRET=1 set before triton is imported "
    "(run: TRITON_INTERPRET=1 pytest -m interpreter tests/kernels)"
    if HAS_TRITON
    else "triton is not installed"
)

_needs_triton = pytest.mark.skipif(not TRITON_RUNNABLE, reason=SKIP_REASON)


def triton_test(fn: Callable[..., None]) -> Callable[..., None]:
    """Mark a test that runs a Triton kernel: selected by `-m interpreter`, skipped (with the
    reason) when neither CUDA nor `TRITON_INTERPRET=1` is available."""
    return pytest.mark.interpreter(_needs_triton(fn))


#: Where kernel tests put tensors: the interpreter runs on CPU tensors.
DEVICE = "cuda" if HAS_CUDA and not INTERPRET else "cpu"

#: dtype -> (atol, rtol) for a kernel against its float32-computing reference.
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float32: (1e-4, 1e-4),
    torch.float16: (2e-3, 2e-3),
    torch.bfloat16: (2e-2, 2e-2),
}
#: The dtypes every kernel test runs in (the interpreter handles all three too).
KERNEL_DTYPES = [torch.float32, torch.float16, torch.bfloat16]


def assert_close(name: str, ref: torch.Tensor, tri: torch.Tensor, dtype: torch.dtype) -> None:
    """Compare with the dtype's tolerance; NaN anywhere in `tri` fails (unwritten output)."""
    assert not torch.isnan(tri).any(), f"{name}: NaN at {torch.isnan(tri).nonzero()[:5].tolist()}"
    atol, rtol = TOLERANCES[dtype]
    torch.testing.assert_close(
        tri.float(), ref.float(), atol=atol, rtol=rtol, msg=lambda m: f"{name}: {m}"
    )


class PagedCache:
    """K/V caches [num_blocks, block_size, Hkv, D] holding `seq_lens[b]` tokens per sequence in
    shuffled blocks. Every slot no sequence owns is NaN, and block-table entries past a
    sequence's blocks point at an all-NaN block, so a kernel reading them poisons its output."""

    def __init__(self, seq_lens: list[int], block_size: int, num_kv_heads: int, head_dim: int,
                 dtype: torch.dtype, device: str, seed: int = 0) -> None:  # fmt: skip
        gen = torch.Generator().manual_seed(seed)
        blocks_per_seq = [math.ceil(n / block_size) for n in seq_lens]
        max_blocks = max(blocks_per_seq + [1]) + 1
        num_blocks = sum(blocks_per_seq) + 2  # one spare all-NaN block for padding entries
        shape = (num_blocks, block_size, num_kv_heads, head_dim)
        k = torch.full(shape, float("nan"))
        v = torch.full(shape, float("nan"))
        perm = torch.randperm(num_blocks, generator=gen).tolist()
        nan_block = perm.pop()
        table = torch.full((len(seq_lens), max_blocks), nan_block, dtype=torch.int32)
        for b, (n, nb) in enumerate(zip(seq_lens, blocks_per_seq)):
            ids = [perm.pop() for _ in range(nb)]
            table[b, :nb] = torch.tensor(ids, dtype=torch.int32)
            for p in range(n):
                blk, off = ids[p // block_size], p % block_size
                k[blk, off] = torch.randn(num_kv_heads, head_dim, generator=gen)
                v[blk, off] = torch.randn(num_kv_heads, head_dim, generator=gen)
        self.k = k.to(device=device, dtype=dtype)
        self.v = v.to(device=device, dtype=dtype)
        self.block_tables = table.to(device)
        self.seq_lens = torch.tensor(seq_lens, dtype=torch.int32, device=device)
        self.block_size = block_size


def dense_attention(
    q: torch.Tensor, cache: PagedCache, b: int, q_len: int, scale: float
) -> torch.Tensor:
    """Brute force in float64 for sequence b: gather its K/V token by token into dense
    [S, Hkv, D] tensors, mask keys after each query's position (the last `q_len` positions are
    the queries'), softmax. q: [q_len, Hq, D]; returns [q_len, Hq, D] float64."""
    seq_len = int(cache.seq_lens[b])
    table = cache.block_tables[b].tolist()
    bs = cache.block_size
    k = torch.stack([cache.k[table[p // bs], p % bs] for p in range(seq_len)]).double()
    v = torch.stack([cache.v[table[p // bs], p % bs] for p in range(seq_len)]).double()
    num_q_heads, num_kv_heads = q.shape[1], k.shape[1]
    heads = [h * num_kv_heads // num_q_heads for h in range(num_q_heads)]
    k, v = k[:, heads], v[:, heads]  # [S, Hq, D]
    scores = torch.einsum("qhd,shd->hqs", q.double(), k) * scale
    q_pos = torch.arange(seq_len - q_len, seq_len, device=q.device)[:, None]
    mask = torch.arange(seq_len, device=q.device)[None, :] > q_pos
    scores = scores.masked_fill(mask, float("-inf"))
    return torch.einsum("hqs,shd->qhd", torch.softmax(scores, dim=-1), v)


def case_id(**params: object) -> str:
    """A parametrize id such as 'B3-Hq6-Hkv2-D40-bs5'."""
    return "-".join(f"{k}{v}" for k, v in params.items())
