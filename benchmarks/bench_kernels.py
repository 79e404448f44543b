"""Times each kernel op's Triton implementation against its PyTorch reference on CUDA.

Shapes are Llama-3-8B-like (32 query heads, 8 KV heads, head dim 128, block size 16, bf16).
Prints one line per case: reference ms, Triton ms and the speed-up. Without a CUDA device it
prints a note and exits 0 (the interpreter is for correctness, not speed).

    python benchmarks/bench_kernels.py [--quick] [--dtype bfloat16]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch

from llmserve_kernels.kv_blocks import gather_kv_blocks, scatter_kv_blocks
from llmserve_kernels.kv_store import store_kv
from llmserve_kernels.paged_decode import paged_decode_attention
from llmserve_kernels.prefix_extend import prefix_extend_attention

HQ, HKV, D, BLOCK_SIZE = 32, 8, 128, 16


def paged_cache(seq_lens: list[int], dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """Random caches with shuffled blocks, block tables and seq_lens for `seq_lens` on CUDA."""
    blocks = [-(-n // BLOCK_SIZE) for n in seq_lens]
    num_blocks = sum(blocks)
    k = torch.randn(num_blocks, BLOCK_SIZE, HKV, D, device="cuda", dtype=dtype)
    v = torch.randn_like(k)
    perm = torch.randperm(num_blocks, device="cuda", dtype=torch.int32)
    table = torch.zeros(len(seq_lens), max(blocks), dtype=torch.int32, device="cuda")
    start = 0
    for b, nb in enumerate(blocks):
        table[b, :nb] = perm[start : start + nb]
        start += nb
    lens = torch.tensor(seq_lens, dtype=torch.int32, device="cuda")
    return k, v, table, lens


def decode_case(batch: int, ctx: int, dtype: torch.dtype) -> Callable[[str], object]:
    k, v, table, lens = paged_cache([ctx] * batch, dtype)
    q = torch.randn(batch, HQ, D, device="cuda", dtype=dtype)
    return lambda impl: paged_decode_attention(q, k, v, table, lens, D**-0.5, impl=impl)


def extend_case(batch: int, q_len: int, prefix: int, dtype: torch.dtype) -> Callable[[str], object]:
    k, v, table, lens = paged_cache([prefix + q_len] * batch, dtype)
    q = torch.randn(batch * q_len, HQ, D, device="cuda", dtype=dtype)
    cu = torch.arange(0, batch + 1, dtype=torch.int32, device="cuda") * q_len
    return lambda impl: prefix_extend_attention(q, k, v, table, cu, lens, D**-0.5, impl=impl)


def store_case(num_tokens: int, dtype: torch.dtype) -> Callable[[str], object]:
    k_cache, v_cache, _, _ = paged_cache([2 * num_tokens], dtype)
    k = torch.randn(num_tokens, HKV, D, device="cuda", dtype=dtype)
    v = torch.randn_like(k)
    slots = torch.randperm(2 * num_tokens, device="cuda")[:num_tokens]
    return lambda impl: store_kv(k, v, k_cache, v_cache, slots, impl=impl)


def blocks_case(num_ids: int, dtype: torch.dtype, scatter: bool) -> Callable[[str], object]:
    cache, _, _, _ = paged_cache([4 * num_ids * BLOCK_SIZE], dtype)
    ids = torch.randperm(cache.shape[0], device="cuda")[:num_ids]
    src = torch.randn(num_ids, *cache.shape[1:], device="cuda", dtype=dtype)
    if scatter:
        return lambda impl: scatter_kv_blocks(cache, ids, src, impl=impl)
    return lambda impl: gather_kv_blocks(cache, ids, impl=impl)


def cases(dtype: torch.dtype, quick: bool) -> dict[str, Callable[[str], object]]:
    """Name -> callable taking `impl`."""
    decode = [(1, 512), (16, 2048)] if quick else [(1, 512), (16, 2048), (64, 4096), (128, 1024)]
    extend = [(4, 128, 1024)] if quick else [(4, 128, 1024), (2, 1024, 0), (8, 512, 4096)]
    out: dict[str, Callable[[str], object]] = {}
    for b, c in decode:
        out[f"paged_decode B{b} ctx{c}"] = decode_case(b, c, dtype)
    for b, ql, p in extend:
        out[f"prefix_extend B{b} q{ql} prefix{p}"] = extend_case(b, ql, p, dtype)
    out["store_kv T4096"] = store_case(4096, dtype)
    out["gather_kv_blocks M256"] = blocks_case(256, dtype, scatter=False)
    out["scatter_kv_blocks M256"] = blocks_case(256, dtype, scatter=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, smaller cases")
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_kernels: no CUDA device; nothing to time (run the interpreter tests instead: "
              "TRITON_INTERPRET=1 pytest -m interpreter tests/kernels)")  # fmt: skip
        return 0
    from triton.testing import do_bench

    dtype = getattr(torch, args.dtype)
    print(f"{torch.cuda.get_device_name()}  dtype={args.dtype}  Hq={HQ} Hkv={HKV} D={D} "
          f"block_size={BLOCK_SIZE}")  # fmt: skip
    print(f"{'case':<36}{'reference ms':>14}{'triton ms':>12}{'speed-up':>10}")
    for name, fn in cases(dtype, args.quick).items():
        ref_ms = do_bench(lambda fn=fn: fn("reference"))
        tri_ms = do_bench(lambda fn=fn: fn("triton"))
        print(f"{name:<36}{ref_ms:>14.3f}{tri_ms:>12.3f}{ref_ms / tri_ms:>9.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
