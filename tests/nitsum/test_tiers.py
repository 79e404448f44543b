"""Tiered workloads: shares, rates and SLOs against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toolkit.core import ConfigError
from toolkit.cost.tp import TPCostModel
from toolkit.workloads.tiers import (
    Tier,
    TieredWorkload,
    azure_tiered,
    check_tiers,
    resolve_slos,
    servegen_tiered,
)

TIERS = [Tier("interactive", 0.3, 3, 2), Tier("relaxed", 0.4, 10, 5), Tier("background", 0.3)]


def test_slos_are_multiples_of_unloaded_tp1_latency():
    cost = TPCostModel(tp=1)
    slo = resolve_slos(TIERS, cost, 1000, 1200)
    assert slo["interactive"].ttft_s == pytest.approx(3 * cost.prefill_s(1000))
    assert slo["relaxed"].tpot_s == pytest.approx(5 * cost.decode_s(1, 1200))
    assert math.isinf(slo["background"].ttft_s) and not slo["background"].has_target


@pytest.mark.parametrize("levels", [(1, 2, 4, 8), (2,), (4, 8)])
def test_a_pools_slos_stay_tp1_multiples_whatever_its_tp_levels(levels):
    """A pool without TP 1 once took its narrowest level as the SLO basis (at TP 2 every
    target shrank by about 40%)."""
    from toolkit.sim.tp_setup import pool_setup, slos_and_profiles

    w = TieredWorkload(np.arange(5.0), np.array([100, 300, 500, 700, 900]),
                       np.array([10, 30, 50, 70, 90]), np.array([0, 1, 2, 0, 1]),
                       ("interactive", "relaxed", "background"))
    slos, _ = slos_and_profiles(pool_setup("llama3-8b", "h200", levels, True), TIERS, w)
    cost = TPCostModel(tp=1)
    assert slos["interactive"].ttft_s == pytest.approx(3 * cost.prefill_s(500))
    assert slos["relaxed"].tpot_s == pytest.approx(5 * cost.decode_s(1, 525))


def test_a_pool_without_tp1_and_without_an_slo_basis_is_rejected_by_name():
    from toolkit.cost.specs import get_model_spec
    from toolkit.sim.tp_cluster import PoolSetup

    with pytest.raises(ValueError, match="slo_basis"):
        PoolSetup({2: TPCostModel(tp=2)}, {2: 1000}, get_model_spec("llama3-8b"))


@pytest.mark.parametrize("bad", [
    [Tier("a", 0.5), Tier("a", 0.5)],
    [Tier("a", 0.5), Tier("b", 0.4)],
    [Tier("a", 1.0, ttft_scale=-1)],
    [],
])
def test_bad_tiers_are_rejected(bad):
    with pytest.raises(ConfigError, match="tiers"):
        check_tiers(bad)


def test_servegen_tiers_keep_their_shares_and_the_rate(data_dir):
    data = f"{data_dir}/"
    w = servegen_tiered(TIERS, data + "servegen_client_rates.csv.gz",
                        data + "AzureLLMInferenceTrace_conv.csv", 1200, 40, seed=1)
    assert len(w) / 1200 == pytest.approx(40, rel=0.1)
    shares = np.bincount(w.tier, minlength=3) / len(w)
    assert shares == pytest.approx([0.3, 0.4, 0.3], abs=0.05)
    assert np.all(np.diff(w.arrival_s) >= 0) and w.arrival_s.max() < 1200
    again = servegen_tiered(TIERS, data + "servegen_client_rates.csv.gz",
                            data + "AzureLLMInferenceTrace_conv.csv", 1200, 40, seed=1)
    assert np.array_equal(w.arrival_s, again.arrival_s)  # seeded
    with pytest.raises(ConfigError, match="start_s"):
        servegen_tiered(TIERS, data + "servegen_client_rates.csv.gz",
                        data + "AzureLLMInferenceTrace_conv.csv", 60, 40, start_s=1e9)


def test_azure_tiers_rescale_and_loop(data_dir):
    data = f"{data_dir}/"
    w = azure_tiered(TIERS, data + "AzureLLMInferenceTrace_code.csv", 600, 30, seed=0)
    assert len(w) / 600 == pytest.approx(30, rel=0.02)
    assert w.prompt_len.mean() == pytest.approx(2048, rel=0.15)  # data README: mean 2,048


def test_frame_and_trace_carry_the_tier():
    w = TieredWorkload(np.array([2.0, 1.0]), np.array([3, 4]), np.array([5, 0]),
                       np.array([1, 0]), ("hi", "lo"))
    assert w.to_frame()["tier"].tolist() == ["hi", "lo"]  # sorted by arrival
    trace = w.to_trace(vocab_size=50)
    assert [r.tier for r in trace] == ["hi", "lo"] and trace.requests[0].prompt_len == 4
    assert w.output_len.min() == 1
