"""Triton kernels, each beside its PyTorch reference.

Every op is a package `kernels/<op>/` with `reference.py` (readable float32 PyTorch: the
spec), `kernel.py` (Triton) and `__init__.py` (the dispatcher). Each dispatcher takes
`impl: str | None`: 'triton', 'reference', or None, which picks Triton for CUDA tensors when
triton imports and the reference otherwise. Triton on CPU tensors runs only under Triton's
interpreter (`TRITON_INTERPRET=1`, set before triton is imported). Importing this package
does not import triton.

Ops (caches are [num_blocks, block_size, Hkv, D]; block tables [B, max_blocks] int32):

- `paged_decode_attention(q, k_cache, v_cache, block_tables, context_lens, scale)` -> [B, Hq, D]
- `prefix_extend_attention(q, k_cache, v_cache, block_tables, cu_q_lens, seq_lens, scale)`
  -> [T, Hq, D] (bottom-right causal over each sequence's cached prefix and new tokens)
- `store_kv(k, v, k_cache, v_cache, slot_mapping)` writes new tokens' K/V in place
- `rms_norm(x, weight, eps, residual=None)` -> normed, or (normed, x + residual)
- `gather_kv_blocks(cache, block_ids)` / `scatter_kv_blocks(cache, block_ids, src)` copy
  whole blocks out / in (swap, migration)
"""

from __future__ import annotations

from kernels.kv_blocks import gather_kv_blocks, scatter_kv_blocks
from kernels.kv_store import store_kv
from kernels.paged_decode import paged_decode_attention
from kernels.prefix_extend import prefix_extend_attention
from kernels.rms_norm import rms_norm

__all__ = [
    "gather_kv_blocks",
    "paged_decode_attention",
    "prefix_extend_attention",
    "rms_norm",
    "scatter_kv_blocks",
    "store_kv",
]
