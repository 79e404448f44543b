"""Triton kernels, each beside its PyTorch reference (`import llmserve_kernels`).

The package lives in the repository's `kernels/` folder under a name of the project's own: a
bare `kernels` is Hugging Face's PyPI package, which transformers imports.

Every op is a package `llmserve_kernels/<op>/` with `reference.py` (readable PyTorch, float32 math
where the model's rounding does not say otherwise: the spec), `kernel.py` (Triton) and
`__init__.py` (the dispatcher); paged decode also has `batched.py`, a fast PyTorch path for
devices without the kernel. Each dispatcher takes `impl: str | None`: 'triton', 'reference'
('torch' where an op has it), or None, which picks Triton for CUDA tensors when triton
imports, else the op's torch path if it has one, else the reference. Triton on CPU tensors
runs only under Triton's interpreter (`TRITON_INTERPRET=1`, set before triton is imported).
Importing this package does not import triton.

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

from llmserve_kernels.kv_blocks import gather_kv_blocks, scatter_kv_blocks
from llmserve_kernels.kv_store import store_kv
from llmserve_kernels.norm import rms_norm
from llmserve_kernels.paged_decode import paged_decode_attention
from llmserve_kernels.prefix_extend import prefix_extend_attention

__all__ = [
    "gather_kv_blocks",
    "paged_decode_attention",
    "prefix_extend_attention",
    "rms_norm",
    "scatter_kv_blocks",
    "store_kv",
]
