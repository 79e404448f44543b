"""What the HTTP serving path costs, charged in the simulator (hand-computed cases)."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.cache.radix import RadixCache
from toolkit.core.request import Request
from toolkit.core.trace import Trace
from toolkit.cost.base import BatchShape
from toolkit.cost.serving import ServedCostModel
from toolkit.profiling.serving import fit_step_token
from toolkit.sched.fcfs import FCFSScheduler
from toolkit.sched.kv import KVManager
from toolkit.sim.cluster import SimCluster
from toolkit.sim.engine import SimEngine

from .helpers import CycleRouter, LinearCost

STEP_S, TOKEN_S, PATH_S = 5e-4, 2e-4, 0.01


def _served() -> ServedCostModel:
    return ServedCostModel(LinearCost(), STEP_S, TOKEN_S, PATH_S)


def test_each_iteration_pays_the_step_and_each_streamed_token() -> None:
    batch = BatchShape((32, 8), (0, 100), num_decode=3, decode_ctx_sum=300)
    # LinearCost by hand: 5 ms + 0.1 ms x 40 prefill tokens + 0.02 ms x 3 decodes + 1 ns x 400
    base = 5e-3 + 1e-4 * 40 + 2e-5 * 3 + 1e-9 * 400
    # two prefill chunks and three decodes stream five tokens
    assert _served().iteration_s(batch) == pytest.approx(base + STEP_S + 5 * TOKEN_S)


def test_decode_stretches_pay_the_same_as_single_steps() -> None:
    cost = _served()
    steps = cost.decode_steps_s(4, 400, 3)
    single = [cost.iteration_s(BatchShape(num_decode=4, decode_ctx_sum=400 + 4 * j))
              for j in range(3)]
    np.testing.assert_allclose(steps, single)


def test_negative_charges_are_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="token_s"):
        ServedCostModel(LinearCost(), 0.0, -1e-4, 0.0)


def test_the_serving_path_delays_each_request_on_its_way_to_the_engine() -> None:
    def factory(i, loop, listener):
        return SimEngine(i, FCFSScheduler(chunk_size=128), KVManager(RadixCache(), 10_000),
                         _served(), loop, listener)

    cluster = SimCluster(CycleRouter(), 1, factory, router_decision_s=0.0)
    trace = Trace([Request("r0", 1.0, 1, prompt_token_ids=list(range(10)))])
    (rec,) = cluster.run(trace)
    prefill = 5e-3 + 1e-4 * 10 + STEP_S + TOKEN_S  # one 10-token chunk streaming one token
    assert rec.first_token_s == pytest.approx(1.0 + PATH_S + prefill)


def test_fit_recovers_a_hand_made_line_and_keeps_both_terms_non_negative() -> None:
    assert fit_step_token([1, 4, 8], [0.7e-3, 1.3e-3, 2.1e-3]) == pytest.approx((0.5e-3, 0.2e-3))
    # a line through a negative intercept refits through the origin: 0.3 ms per token
    step, token = fit_step_token([1, 2], [0.1e-3, 0.5e-3])
    assert (step, token) == pytest.approx((0.0, (0.1e-3 + 2 * 0.5e-3) / 5))
    # a falling line is no per-token cost: its mean is the per-step cost
    assert fit_step_token([1, 8], [1e-3, 0.5e-3]) == pytest.approx((0.75e-3, 0.0))
    assert fit_step_token([4], [1e-3]) == pytest.approx((1e-3, 0.0))
