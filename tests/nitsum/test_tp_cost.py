"""TP costs against the notes' numbers and hand-computed switch times."""

from __future__ import annotations

import pytest

from toolkit.core import ConfigError
from toolkit.cost.base import BatchShape
from toolkit.cost.specs import get_model_spec
from toolkit.cost.tp import MeasuredAllReduce, TPCostModel, TPSwitchCost, shard_ratio

# nitsum.md section 4, "combined estimate": decode latency ms at ctx 2048, TP 1/2/4/8
NOTES_COMBINED_MS = {1: (5.64, 4.18, 3.36, 2.93), 128: (13.63, 8.67, 6.49, 5.26)}


@pytest.mark.parametrize("batch", [1, 128])
def test_decode_latency_matches_the_notes_combined_estimate(batch):
    """Our tp-1 table is a different H200 run than the shard table (15.5 vs 13.6 ms at
    B=128), so agreement is within 15%, not exact."""
    for tp, want in zip((1, 2, 4, 8), NOTES_COMBINED_MS[batch]):
        got = TPCostModel(tp=tp).decode_s(batch, 2048) * 1e3
        assert got == pytest.approx(want, rel=0.15), (tp, got, want)


def test_higher_tp_lowers_latency_but_raises_gpu_seconds_per_token():
    for batch in (1, 8, 32, 128):
        lat = [TPCostModel(tp=t).decode_s(batch, 2048) for t in (1, 2, 4, 8)]
        gpu_s = [s * t / batch for s, t in zip(lat, (1, 2, 4, 8))]
        assert lat == sorted(lat, reverse=True) and gpu_s == sorted(gpu_s)
    ttft = [TPCostModel(tp=t).prefill_s(2048) for t in (1, 2, 4, 8)]
    assert ttft == sorted(ttft, reverse=True)


def test_shard_ratio_reads_the_table_and_tends_to_ideal():
    # B_tpshard: tp 2 / tp 1 at B=32 is 4.364 / 7.134
    assert shard_ratio(2, 1, 32) == pytest.approx(4.364 / 7.134)
    assert shard_ratio(8, 1, 2048) == pytest.approx(1 / 8)
    assert shard_ratio(8, 1, 10**6) == pytest.approx(1 / 8)
    with pytest.raises(ConfigError, match="tp"):
        shard_ratio(16, 1, 4)


def test_allreduce_hits_its_points_and_turns_bandwidth_bound():
    m = get_model_spec("llama3-8b")
    ar = MeasuredAllReduce(m, 8, {8: (5.0, 30.0)})
    assert ar.one_s(8192) == pytest.approx(5e-6)
    assert ar.one_s(1 << 20) == pytest.approx(30e-6)
    extra = (64 << 20) - (1 << 20)
    assert ar.one_s(64 << 20) == pytest.approx(30e-6 + 2 * 7 / 8 * extra / 366e9)
    assert ar(1) == pytest.approx(64 * ar.one_s(4096 * 2))  # 2 per layer, 32 layers
    assert MeasuredAllReduce(m, 1)(100) == 0.0


def test_small_batch_gain_is_off_by_default_and_shapes_as_documented():
    plain, gain = TPCostModel(tp=8), TPCostModel(tp=8, small_batch_gain=3.0)
    b1 = BatchShape(num_decode=1, decode_ctx_sum=2048)
    assert gain.compute_s(b1) == pytest.approx(plain.compute_s(b1) / (1 + 2 * (1 - 1 / 64)))
    big = BatchShape(num_decode=64, decode_ctx_sum=64 * 2048)
    assert gain.compute_s(big) == pytest.approx(plain.compute_s(big))
    assert TPCostModel(tp=1, small_batch_gain=3.0).decode_s(1, 2048) == \
        TPCostModel(tp=1).decode_s(1, 2048)
    with pytest.raises(ConfigError, match="small_batch_gain"):
        TPCostModel(tp=2, small_batch_gain=0.5)


def test_switch_costs_by_hand():
    m = get_model_spec("llama3-8b")  # 128 KiB of KV per token
    sw = TPSwitchCost()
    kv = 10_000
    moved = kv * 131072 / 2 * 0.5  # TP 1 -> 2: each GPU sends half of its share
    assert sw.switch_s(m, 1, 2, kv) == pytest.approx(0.015 + moved / 366e9)
    assert sw.switch_s(m, 2, 2, kv) == 0.0
    naive = TPSwitchCost(reuse=False)
    assert naive.switch_s(m, 1, 2, kv) == pytest.approx(m.weight_bytes / (28e9 / 30))
    assert 14 < naive.switch_s(m, 1, 2, kv) < 20  # ~16 GB of weights; 14B takes ~30 s


def test_bad_settings_name_the_option():
    with pytest.raises(ConfigError, match="tp"):
        TPCostModel(tp=3)
    with pytest.raises(ConfigError, match="compute"):
        TPCostModel(compute="guess")
    with pytest.raises(ConfigError, match="allreduce"):
        TPCostModel(tp=2, allreduce="free")
