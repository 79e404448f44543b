"""Host swap model: calibration points, monotonicity, the inverse, TP shares, granularity."""

from __future__ import annotations

import pytest

from toolkit.core import ConfigError
from toolkit.cost import calibration as cal
from toolkit.cost.specs import get_model_spec
from toolkit.cost.swap import (
    COPY_LATENCY_S,
    CopyCurve,
    HostSwapModel,
    calibrated_copy_curves,
)

MiB = 1 << 20
CEILINGS = cal.load_json(cal.PROFILE_FILE)["ceilings"]
LLAMA8B_KV = get_model_spec("llama3-8b").kv_bytes_per_token  # 128 KiB


@pytest.mark.parametrize("direction", ["d2h", "h2d"])
def test_curves_hit_every_calibration_point(direction: str) -> None:
    curve = dict(zip(("d2h", "h2d"), calibrated_copy_curves()))[direction]
    sizes = [int(k.rsplit("_", 1)[1]) for k in CEILINGS if k.startswith(direction)]
    assert len(sizes) == 4
    for size in sizes:
        measured_s = size / (CEILINGS[f"{direction}_GBps_{size}"] * 1e9)
        assert curve(size) == pytest.approx(measured_s, rel=1e-12)


def test_whole_swap_of_calibrated_size_is_the_measured_copy() -> None:
    # 512 tokens x 128 KiB = 64 MiB in one copy plus the gather at 1,540 GB/s.
    swap = HostSwapModel.from_calibration("llama3-8b", granularity="swap")
    copy_s = 64 * MiB / (CEILINGS["d2h_GBps_67108864"] * 1e9)
    assert swap.swap_out_s(512) == pytest.approx(copy_s + 64 * MiB / 1540.1e9, rel=1e-12)
    assert swap.swap_s(512) == max(swap.swap_out_s(512), swap.swap_in_s(512))


def test_latency_constant_matches_the_calibration() -> None:
    d2h, h2d = calibrated_copy_curves()
    assert h2d(0) == pytest.approx(COPY_LATENCY_S, rel=0.05)
    assert d2h(0) == pytest.approx(COPY_LATENCY_S, rel=0.1)


def test_per_block_copy_matches_measured_scattered_copies() -> None:
    # ../shared/calibration/h200_verify_tp_gather.jsonl, C_kvgather: 4,096 blocks of 32 KiB
    # copied one by one (device to device) in 56.491 ms; a pinned copy of that size costs
    # about the same, being launch-bound.
    _, h2d = calibrated_copy_curves()
    assert h2d(32 * 1024) == pytest.approx(56.491e-3 / 4096, rel=0.1)


@pytest.mark.parametrize("granularity", ["layer", "swap", "block"])
def test_monotone_and_zero_for_nothing(granularity: str) -> None:
    swap = HostSwapModel.from_calibration("llama3-8b", granularity=granularity)
    assert swap.swap_s(0) == 0.0
    times = [swap.swap_s(n) for n in range(1, 20000, 37)]
    assert all(b >= a for a, b in zip(times, times[1:]))
    assert times[0] > 0


@pytest.mark.parametrize("granularity", ["layer", "swap", "block"])
@pytest.mark.parametrize("factory", ["calibration", "bandwidth"])
def test_tokens_within_s_inverts_swap_s(granularity: str, factory: str) -> None:
    if factory == "calibration":
        swap = HostSwapModel.from_calibration("llama3-8b", granularity=granularity)
    else:
        swap = HostSwapModel.from_bandwidth("gpt-j-6b", granularity=granularity, block_size=64)
    for n in (1, 7, 64, 1000, 4097, 10000, 100000):
        t = swap.swap_s(n)
        budget = swap.tokens_within_s(t)
        assert budget >= n
        assert swap.swap_s(budget) <= t < swap.swap_s(budget + 1)
    for seconds in (1e-3, 5e-3, 0.02778, 0.3):
        n = swap.tokens_within_s(seconds)
        assert swap.swap_s(n) <= seconds < swap.swap_s(n + 1)
    assert swap.tokens_within_s(0.0) == 0
    assert swap.tokens_within_s(swap.swap_s(1) * 0.99) == 0


def test_tensor_parallel_copies_each_gpus_share() -> None:
    one = HostSwapModel.from_bandwidth("vicuna-13b", tp=1)
    two = HostSwapModel.from_bandwidth("vicuna-13b", tp=2)
    shared = HostSwapModel.from_bandwidth("vicuna-13b", tp=2, gpus_per_host_link=2)
    assert two.kv_bytes_per_token == one.kv_bytes_per_token / 2 == 409600
    assert shared.kv_bytes_per_token == one.kv_bytes_per_token
    assert two.swap_s(10000) < one.swap_s(10000)
    # llama3-70b has 8 KV heads: at tp 16 each GPU keeps a replicated head.
    assert HostSwapModel.from_bandwidth("llama3-70b", tp=16).kv_bytes_per_token == 320 * 1024 / 8


def test_bandwidth_model_is_latency_plus_bytes() -> None:
    swap = HostSwapModel.from_bandwidth("gpt-j-6b", bytes_per_s=25e9, latency_s=10e-6,
                                        granularity="swap")
    nbytes = 1000 * get_model_spec("gpt-j-6b").kv_bytes_per_token
    assert swap.swap_s(1000) == pytest.approx(10e-6 + nbytes / 25e9, rel=1e-12)
    layered = HostSwapModel.from_bandwidth("gpt-j-6b", bytes_per_s=25e9, latency_s=10e-6)
    assert layered.swap_s(1000) == pytest.approx(28 * 10e-6 + nbytes / 25e9, rel=1e-12)


def test_block_granularity_counts_copies() -> None:
    swap = HostSwapModel.from_bandwidth("llama3-8b", bytes_per_s=50e9, latency_s=10e-6,
                                        granularity="block", block_size=16)
    per_copy = 10e-6 + 16 * LLAMA8B_KV / 64 / 50e9  # 32 layers x K and V
    assert swap.swap_s(17) == pytest.approx(2 * 64 * per_copy, rel=1e-12)
    assert swap.swap_s(16) == swap.swap_s(1)


def test_invalid_arguments_raise_config_error() -> None:
    with pytest.raises(ConfigError):
        HostSwapModel.from_calibration("llama3-8b", granularity="page")
    with pytest.raises(ConfigError):
        HostSwapModel.from_bandwidth("llama3-8b", tp=0)
    with pytest.raises(ValueError):
        CopyCurve([(1.0, 1.0)])


def test_swap_model_of_a_cpu_engine_profile(tmp_path) -> None:
    import json

    from toolkit.cost.engine_profile import COPY_LATENCY_CPU_S, load_profiled_swap_model

    spec = {"name": "tiny-llama", "num_layers": 2, "hidden_size": 128, "num_heads": 4,
            "num_kv_heads": 2, "head_dim": 32, "ffn_size": 256, "vocab_size": 768,
            "dtype_bytes": 4, "gated_mlp": True, "tied_embeddings": False}
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({"info": {"device": "cpu"}, "ceilings": {"d2d_copy_GBps": 10.0},
                                "models": [{"model": "tiny-llama", "spec": spec}]}))
    swap = load_profiled_swap_model(path)
    # hand-computed: 2 layers x (K, V) x 2 heads x 32 dims x 4 bytes = 1,024 bytes a token;
    # one gather and one copy of 1,000 tokens at 10 GB/s each, plus one copy's latency
    assert swap.kv_bytes_per_token == 1024
    assert swap.swap_s(1000) == pytest.approx(2 * 1_024_000 / 10e9 + COPY_LATENCY_CPU_S, rel=1e-6)
