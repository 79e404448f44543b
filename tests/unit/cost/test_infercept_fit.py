"""InferCept's released constants: iteration fits, swap budgets, roofline-derived setups,
and the PauseTiming built from a cost model and a swap model."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.core import ConfigError
from toolkit.cost.base import BatchShape
from toolkit.cost.factory import make_cost_model
from toolkit.cost.infercept_fit import (
    SETUPS,
    InferCeptFitCostModel,
    context_s_per_token,
    infercept_cost_model,
    infercept_swap_model,
    linear_fit_ms,
    setup_swap_coefficients,
    swap_budget_blocks,
    swap_budget_tokens,
    swap_coefficients,
)
from toolkit.cost.pause_timing import CostPauseTiming
from toolkit.cost.roofline import RooflineCostModel
from toolkit.cost.specs import get_model_spec
from toolkit.cost.swap import HostSwapModel
from toolkit.sched.pause.base import PauseTiming

GPTJ = InferCeptFitCostModel("gpt-j-6b")
VICUNA_TP2 = InferCeptFitCostModel("vicuna-13b-tp2")


def test_fits_reproduce_the_released_constants() -> None:
    assert GPTJ.prefill_s(384) == pytest.approx(27.7792e-3, rel=1e-12)  # 0.0463*384 + 10
    assert VICUNA_TP2.prefill_s(384) == pytest.approx(26.1136e-3, rel=1e-12)  # 0.0279*384+15.4
    assert GPTJ.decode_s(1, 100) == pytest.approx(10.0463e-3, rel=1e-12)


def test_fit_counts_query_tokens_and_ignores_context_by_default() -> None:
    mixed = BatchShape((200, 50), (4000, 0), 30, 30 * 3000)
    assert GPTJ.iteration_s(mixed) == pytest.approx((0.0463 * 280 + 10) * 1e-3, rel=1e-12)
    assert GPTJ.decode_s(32, 4000) == GPTJ.decode_s(32, 40)
    assert GPTJ.iteration_s(BatchShape()) == 0.0


def test_context_term_adds_roofline_kv_reads() -> None:
    model = InferCeptFitCostModel("gpt-j-6b", context_term=True)
    per_token = context_s_per_token("gpt-j-6b", "a100", 1)
    assert 0.2e-6 < per_token < 0.3e-6  # 448 KiB at ~1.78 TB/s
    expected = GPTJ.decode_s(32, 2000) + per_token * 32 * 2000
    assert model.decode_s(32, 2000) == pytest.approx(expected, rel=1e-12)
    assert model.decode_s(32, 4000) > model.decode_s(32, 2000)


@pytest.mark.parametrize("context_term", [False, True])
def test_decode_steps_match_iteration_loop(context_term: bool) -> None:
    model = InferCeptFitCostModel("vicuna-13b-tp2", context_term=context_term)
    fast = model.decode_steps_s(8, 8 * 1000, 5)
    slow = [model.iteration_s(BatchShape(num_decode=8, decode_ctx_sum=8 * 1000 + 8 * j))
            for j in range(5)]
    assert np.array_equal(fast, np.array(slow))


def test_budgets_match_the_formulas() -> None:
    s_in, s_out = swap_budget_tokens(1000, 0.00462, 108.99)
    assert s_in == pytest.approx(0.00462 * 384 + 108.99 + 500)
    assert s_out == pytest.approx(1.00462 * 384 + 108.99 - 500)
    assert s_in + s_out == pytest.approx(605.528, abs=1e-3)
    a, b = SETUPS["vicuna-13b-tp2"].swap_a, SETUPS["vicuna-13b-tp2"].swap_b
    assert sum(swap_budget_tokens(0, a, b)) == pytest.approx(318.77, abs=0.01)
    # Blocks: max(0, t // 64). F = 0: sin = 110.76 -> 1, sout = 494.77 -> 7.
    assert swap_budget_blocks(0, 0.00462, 108.99) == (1, 7)
    assert swap_budget_blocks(10000, 0.00462, 108.99) == (79, 0)


@pytest.mark.parametrize("name", ["gpt-j-6b", "vicuna-13b-tp2"])
def test_released_swap_constants_follow_from_fit_and_10_gbps(name: str) -> None:
    s = SETUPS[name]
    a, b = swap_coefficients(s.a_ms, s.c_ms, get_model_spec(s.model).kv_bytes_per_token)
    assert a == pytest.approx(s.swap_a, abs=1e-5)
    assert b == pytest.approx(s.swap_b, abs=2e-3)


def test_roofline_setups_are_sane() -> None:
    v13 = infercept_cost_model("vicuna-13b")
    v70 = infercept_cost_model("llama3-70b-tp4")
    assert isinstance(v13, RooflineCostModel) and isinstance(v70, RooflineCostModel)
    assert (v13.tp, v70.tp) == (1, 4)
    for x in (1, 64, 384, 2048):
        assert v70.prefill_s(x) > v13.prefill_s(x) > VICUNA_TP2.prefill_s(x) * 0.5
    # One A100 runs 13B slower than two (the released TP2 fit) at the saturation point.
    assert v13.prefill_s(384) > VICUNA_TP2.prefill_s(384)
    a13, c13 = linear_fit_ms(v13)
    a70, c70 = linear_fit_ms(v70)
    assert a70 > a13 > 0 and c70 > c13 > 0
    linear = infercept_cost_model("vicuna-13b", linear=True)
    assert isinstance(linear, InferCeptFitCostModel)
    assert linear.per_token_s == pytest.approx(a13 * 1e-3)
    sin_a, sin_b = setup_swap_coefficients("llama3-70b-tp4")
    assert sum(swap_budget_tokens(0, sin_a, sin_b)) > 0


def test_factory_builds_infercept_setups() -> None:
    fit = make_cost_model("infercept_fit", "gpt-j-6b", "a100", 1)
    assert isinstance(fit, InferCeptFitCostModel) and fit.prefill_s(384) == GPTJ.prefill_s(384)
    assert isinstance(make_cost_model("infercept_fit", "vicuna-13b", "a100", 1),
                      RooflineCostModel)
    with pytest.raises(ConfigError) as err:
        make_cost_model("infercept_fit", "llama3-8b", "a100", 1)
    assert err.value.option == "model"
    with pytest.raises(ConfigError) as err:
        make_cost_model("infercept_fit", "gpt-j-6b", "h200", 1)
    assert err.value.option == "gpu"
    with pytest.raises(ConfigError):
        InferCeptFitCostModel("vicuna-13b")


def test_swap_models_per_setup() -> None:
    gptj = infercept_swap_model("gpt-j-6b")
    v13_tp2 = infercept_swap_model("vicuna-13b-tp2")
    assert gptj.kv_bytes_per_token == 458752 and v13_tp2.kv_bytes_per_token == 409600
    # 1,000 GPT-J tokens = 459 MB at 25 GB/s plus 28 copy latencies.
    assert gptj.swap_s(1000) == pytest.approx(458752e3 / 25e9 + 28 * 14e-6, rel=1e-9)
    # Our link prices the released budget (605 tokens per 27.78 ms) at 2.5x the tokens.
    budget = gptj.tokens_within_s(GPTJ.prefill_s(384))
    assert 2.3 < budget / 605.5 < 2.6


def test_cost_pause_timing_implements_the_protocol() -> None:
    swap = HostSwapModel.from_calibration("llama3-8b")
    cost = RooflineCostModel("llama3-8b", "h200")
    timing: PauseTiming = CostPauseTiming(cost, swap)
    # Context counts the query tokens: 384 new over 1,000 in all = over 616 cached.
    assert timing.fwd_s(384, 1000) == cost.prefill_s(384, 616)
    assert timing.fwd_s(2000, 2000) == cost.prefill_s(2000, 0)
    assert timing.fwd_s(384, 1000) == timing.fwd_s(384, 1000)  # memoised, same float
    assert timing.swap_s(1000) == swap.swap_s(1000)
    assert timing.swap_tokens_within_s(0.01) == swap.tokens_within_s(0.01)
    assert timing.fwd_s(0, 500) == 0.0
    decodes = CostPauseTiming(cost, swap, query_as="decode")
    assert decodes.fwd_s(32, 32 * 2001) == cost.decode_s(32, 2000)
    n = decodes.swap_budget_tokens(32, 32 * 2001)
    assert swap.swap_s(n) <= cost.decode_s(32, 2000) < swap.swap_s(n + 1)
    with pytest.raises(ConfigError):
        CostPauseTiming(cost, swap, query_as="both")


def test_pause_timing_memo_is_bounded() -> None:
    timing = CostPauseTiming(GPTJ, infercept_swap_model("gpt-j-6b"), max_memo_entries=4)
    values = [timing.fwd_s(q, 0) for q in range(1, 20)]
    assert values == [GPTJ.prefill_s(q) for q in range(1, 20)]
    assert len(timing._fwd) <= 4


def test_settings_reach_the_released_fit_or_are_rejected_by_name() -> None:
    # hand-computed: GPT-J-6B's released fit is 0.0463 ms/token + 10 ms (c), plus the overhead
    fit = infercept_cost_model("gpt-j-6b", iteration_overhead_s=0.004)
    assert fit.prefill_s(100) == pytest.approx((0.0463 * 100 + 10.0) * 1e-3 + 0.004)
    assert infercept_cost_model("gpt-j-6b", a_ms=0.1, c_ms=1.0).prefill_s(10) == pytest.approx(2e-3)
    with pytest.raises(ConfigError, match="cost.bogus_knob"):
        infercept_cost_model("gpt-j-6b", bogus_knob=123)
    with pytest.raises(ConfigError, match="cost.bogus_knob"):
        infercept_cost_model("vicuna-13b", bogus_knob=123)
    with pytest.raises(ConfigError, match="cost.a_ms"):
        infercept_cost_model("vicuna-13b", a_ms=0.1)
    with pytest.raises(ConfigError, match="cost.iteration_overhead_s"):
        infercept_cost_model("vicuna-13b", iteration_overhead_s=0.004)
    roof = infercept_cost_model("vicuna-13b", overhead_per_layer_s=0.0)
    assert roof.prefill_s(64) < infercept_cost_model("vicuna-13b").prefill_s(64)
    lin = infercept_cost_model("vicuna-13b", linear=True, iteration_overhead_s=0.004)
    base = infercept_cost_model("vicuna-13b", linear=True)
    assert lin.prefill_s(64) == pytest.approx(base.prefill_s(64) + 0.004)
