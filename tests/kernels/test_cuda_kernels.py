"""The Triton kernels on a real GPU at the engine's own shapes: Llama-3-8B's heads (32 query,
8 KV, head dim 128, block size 16) with long contexts, odd head dims and groups, KV-cache
views as the engine slices them, and a decode step captured in a CUDA graph and replayed
with new inputs (the engine's `cuda_graph` path). Each is compared with its PyTorch
reference on the same device. Marked `gpu`; skipped without CUDA (the other kernel tests
cover small shapes, on CUDA when there is one and under the interpreter otherwise)."""

from __future__ import annotations

import pytest
import torch

from llmserve_kernels.kv_blocks import gather_kv_blocks, scatter_kv_blocks
from llmserve_kernels.kv_store import store_kv
from llmserve_kernels.norm import rms_norm
from llmserve_kernels.paged_decode import paged_decode_attention
from llmserve_kernels.prefix_extend import prefix_extend_attention

from ._common import HAS_CUDA, HAS_TRITON, INTERPRET, PagedCache, assert_close, case_id

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not (HAS_CUDA and HAS_TRITON) or INTERPRET,
                       reason="needs CUDA and triton (and no TRITON_INTERPRET)"),
]

CUDA = "cuda"
DTYPES = [torch.bfloat16, torch.float16, torch.float32]

# (num_q_heads, num_kv_heads, head_dim, block_size, context_lens)
DECODE_CASES = [
    (32, 8, 128, 16, [4099]),  # the 8B shape at batch 1, a long context
    (32, 8, 128, 16, [1, 17, 513, 2000]),
    (12, 4, 80, 32, [3, 1000, 257]),  # group 3, head dim not a power of two
    (8, 8, 96, 7, [50, 1, 301]),  # plain multi-head, odd block size
]
DECODE_IDS = [case_id(B=len(c), Hq=h, Hkv=kv, D=d, bs=bs, L=max(c)) for h, kv, d, bs, c in
              DECODE_CASES]

# (num_q_heads, num_kv_heads, head_dim, block_size, q_lens, seq_lens)
EXTEND_CASES = [
    (32, 8, 128, 16, [512], [512]),  # a fresh 512-token prompt of the 8B shape
    (32, 8, 128, 16, [1, 200, 37], [1030, 700, 37]),  # cached prefixes, odd lengths
    (12, 4, 80, 32, [129, 3], [300, 3]),
]
EXTEND_IDS = [case_id(B=len(c[4]), Hq=c[0], Hkv=c[1], D=c[2], bs=c[3], T=sum(c[4])) for c in
              EXTEND_CASES]


def _randn(*shape: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=gen).to(device=CUDA, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", DECODE_CASES, ids=DECODE_IDS)
def test_paged_decode_matches_reference(case: tuple, dtype: torch.dtype) -> None:
    num_q_heads, num_kv_heads, head_dim, block_size, context_lens = case
    cache = PagedCache(context_lens, block_size, num_kv_heads, head_dim, dtype, CUDA, seed=7)
    q = _randn(len(context_lens), num_q_heads, head_dim, dtype=dtype, seed=8)
    args = (q, cache.k, cache.v, cache.block_tables, cache.seq_lens, head_dim**-0.5)
    tri = paged_decode_attention(*args, impl="triton")
    assert tri.shape == q.shape and tri.dtype == dtype
    assert_close("paged_decode", paged_decode_attention(*args, impl="reference"), tri, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("case", EXTEND_CASES, ids=EXTEND_IDS)
def test_prefix_extend_matches_reference(case: tuple, dtype: torch.dtype) -> None:
    num_q_heads, num_kv_heads, head_dim, block_size, q_lens, seq_lens = case
    cache = PagedCache(seq_lens, block_size, num_kv_heads, head_dim, dtype, CUDA, seed=9)
    q = _randn(sum(q_lens), num_q_heads, head_dim, dtype=dtype, seed=10)
    cu = torch.tensor([0, *torch.tensor(q_lens).cumsum(0).tolist()], dtype=torch.int32,
                      device=CUDA)
    args = (q, cache.k, cache.v, cache.block_tables, cu, cache.seq_lens, head_dim**-0.5)
    tri = prefix_extend_attention(*args, impl="triton")
    assert tri.shape == q.shape and tri.dtype == dtype
    assert_close("prefix_extend", prefix_extend_attention(*args, impl="reference"), tri, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_store_kv_into_engine_layout(dtype: torch.dtype) -> None:
    """K/V from one fused projection (strided views) into one layer's slice of the engine's
    [layers, 2, num_blocks, block_size, Hkv, D] cache; every third token skipped (-1)."""
    layers, num_blocks, block_size, heads, head_dim, num_tokens = 3, 40, 16, 8, 128, 77
    cache = torch.full((layers, 2, num_blocks, block_size, heads, head_dim), float("nan"),
                       dtype=dtype, device=CUDA)
    kv = _randn(num_tokens, 2 * heads, head_dim, dtype=dtype, seed=11)
    k, v = kv[:, :heads], kv[:, heads:]
    gen = torch.Generator().manual_seed(12)
    slots = torch.randperm(num_blocks * block_size, generator=gen)[:num_tokens]
    slots[::3] = -1
    slots = slots.to(CUDA)
    want = cache.clone()
    store_kv(k, v, want[1, 0], want[1, 1], slots, impl="reference")
    store_kv(k, v, cache[1, 0], cache[1, 1], slots, impl="triton")
    torch.testing.assert_close(cache, want, equal_nan=True, atol=0, rtol=0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
def test_kv_blocks_round_trip_engine_layout(dtype: torch.dtype) -> None:
    """Swap out (gather to pinned host memory) and back in (scatter from it) one layer's K
    cache of the engine's layout; exact, and blocks not listed stay as they were."""
    layers, num_blocks, block_size, heads, head_dim = 2, 64, 16, 8, 128
    cache = _randn(layers, 2, num_blocks, block_size, heads, head_dim, dtype=dtype, seed=13)
    gen = torch.Generator().manual_seed(14)
    ids = torch.randperm(num_blocks, generator=gen)[:37].to(CUDA)
    layer = cache[1, 0]
    got = gather_kv_blocks(layer, ids, impl="triton")
    torch.testing.assert_close(got, gather_kv_blocks(layer, ids, impl="reference"), atol=0, rtol=0)
    host = got.cpu().pin_memory()
    dest = torch.full_like(cache, float("nan"))
    want = dest.clone()
    scatter_kv_blocks(want[1, 0], ids, host, impl="reference")
    scatter_kv_blocks(dest[1, 0], ids, host, impl="triton")
    torch.cuda.synchronize()
    torch.testing.assert_close(dest, want, equal_nan=True, atol=0, rtol=0)


def _fill_decode_inputs(static: dict[str, torch.Tensor], lens: list[int], block_size: int,
                        num_blocks: int, seed: int) -> None:
    """New q, k, v, distinct shuffled blocks per sequence, and the slot of each sequence's
    last position, copied into the captured graph's static tensors."""
    gen = torch.Generator().manual_seed(seed)
    for name in ("q", "k", "v"):
        static[name].copy_(torch.randn(static[name].shape, generator=gen))
    perm = torch.randperm(num_blocks, generator=gen).tolist()
    tables = torch.zeros(static["tables"].shape, dtype=torch.int32)
    slots = []
    for b, n in enumerate(lens):
        ids = [perm.pop() for _ in range(-(-n // block_size))]
        tables[b, :len(ids)] = torch.tensor(ids, dtype=torch.int32)
        slots.append(ids[(n - 1) // block_size] * block_size + (n - 1) % block_size)
    static["tables"].copy_(tables)
    static["lens"].copy_(torch.tensor(lens, dtype=torch.int32))
    static["slots"].copy_(torch.tensor(slots, dtype=torch.int64))


def test_decode_step_replays_in_cuda_graph() -> None:
    """store_kv + paged decode captured once (as `toolkit.engine.cuda_graph` does) and
    replayed with new tokens, tables and context lengths: each replay matches the references
    run eagerly on the same inputs."""
    hq, hkv, d, block_size, num_blocks, batch, max_blocks = 32, 8, 128, 16, 400, 3, 80
    dtype, scale = torch.bfloat16, d**-0.5
    k_cache = _randn(num_blocks, block_size, hkv, d, dtype=dtype, seed=15)
    v_cache = _randn(num_blocks, block_size, hkv, d, dtype=dtype, seed=16)
    static = dict(q=torch.zeros(batch, hq, d, dtype=dtype, device=CUDA),
                  k=torch.zeros(batch, hkv, d, dtype=dtype, device=CUDA),
                  v=torch.zeros(batch, hkv, d, dtype=dtype, device=CUDA),
                  tables=torch.zeros(batch, max_blocks, dtype=torch.int32, device=CUDA),
                  lens=torch.ones(batch, dtype=torch.int32, device=CUDA),
                  slots=torch.full((batch,), -1, dtype=torch.int64, device=CUDA))

    def step(impl: str | None, kc: torch.Tensor, vc: torch.Tensor) -> torch.Tensor:
        store_kv(static["k"], static["v"], kc, vc, static["slots"], impl=impl)
        return paged_decode_attention(static["q"], kc, vc, static["tables"], static["lens"],
                                      scale, impl=impl)

    step("triton", k_cache, v_cache)  # compile and autotune outside the capture
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = step("triton", k_cache, v_cache)
    for seed, lens in enumerate(([1, 17, 1200], [513, 4, 1279], [16, 32, 33])):
        _fill_decode_inputs(static, lens, block_size, num_blocks, seed=100 + seed)
        ref_k, ref_v = k_cache.clone(), v_cache.clone()
        ref = step("reference", ref_k, ref_v)
        graph.replay()
        torch.cuda.synchronize()
        torch.testing.assert_close(k_cache, ref_k, atol=0, rtol=0)
        torch.testing.assert_close(v_cache, ref_v, atol=0, rtol=0)
        assert_close(f"graph replay {lens}", ref, out, dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("width", [4096, 8192, 5120 + 3], ids=lambda w: f"n{w}")
def test_rms_norm_at_model_widths(width: int, dtype: torch.dtype) -> None:
    """The fused add + RMSNorm at Llama-3-8B / 70B widths (and an odd one), 1 and 300 rows."""
    for rows in (1, 300):
        x = _randn(rows, width, dtype=dtype, seed=1)
        r = _randn(rows, width, dtype=dtype, seed=2)
        w = 1 + 0.1 * _randn(width, dtype=dtype, seed=3)
        ref_out, ref_sum = rms_norm(x, w, 1e-5, residual=r, impl="reference")
        out, total = rms_norm(x, w, 1e-5, residual=r, impl="triton")
        torch.testing.assert_close(total, ref_sum, atol=0, rtol=0)
        assert_close("rms_norm", ref_out, out, dtype)
        assert_close("rms_norm", rms_norm(x, w, 1e-5, impl="reference"),
                     rms_norm(x, w, 1e-5, impl="triton"), dtype)  # fmt: skip
