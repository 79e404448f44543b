"""`MixedCorrectedCostModel`: the mixed-batch correction and the wake-up (arrival) rows."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.cost.base import BatchShape, CostModel
from toolkit.cost.mixed_fit import MixedCorrectedCostModel, fit_mixed_residual


class LinearCost(CostModel):
    """1 ms + 0.01 ms per new token: a stand-in base model."""

    def iteration_s(self, batch: BatchShape) -> float:
        return 1e-3 + 1e-5 * batch.num_new_tokens


def test_fit_recovers_a_constant_plus_per_decode_residual() -> None:
    base = LinearCost()
    rows = [dict(batch=b, ctx=128, n_new=n, n_cached=0,
                 s=base.iteration_s(BatchShape((n,), (0,), b, b * 128)) + 2e-4 + 3e-5 * b)
            for b in (1, 4, 16) for n in (16, 256)]
    c0, c1 = fit_mixed_residual(base, rows)
    assert (c0, c1) == (pytest.approx(2e-4), pytest.approx(3e-5))
    cost = MixedCorrectedCostModel(base, c0, c1)
    mixed, alone = BatchShape((16,), (0,), 4, 512), BatchShape((16,), (0,))
    assert cost.iteration_s(mixed) == pytest.approx(base.iteration_s(mixed) + 2e-4 + 12e-5)
    assert cost.iteration_s(alone) == base.iteration_s(alone)
    np.testing.assert_array_equal(cost.decode_steps_s(4, 512, 3), base.decode_steps_s(4, 512, 3))


def test_wake_is_zero_at_no_idleness_without_a_zero_row() -> None:
    cost = MixedCorrectedCostModel(LinearCost(), 0.0, 0.0,
                                   wake=[dict(idle_s=0.1, extra_s=2e-3)])
    assert cost.wake_s(0.0) == 0.0
    assert cost.wake_s(0.05) == pytest.approx(1e-3)
    assert cost.wake_s(5.0) == pytest.approx(2e-3)


def test_a_zero_idle_row_prices_admission_at_no_idleness() -> None:
    """A profile's `idle_s = 0` row (admission and driver wake-up alone) replaces the 0."""
    rows = [dict(idle_s=0.1, extra_s=2e-3), dict(idle_s=0.0, extra_s=4e-4)]
    cost = MixedCorrectedCostModel(LinearCost(), 0.0, 0.0, wake=rows)
    assert cost.wake_s(0.0) == pytest.approx(4e-4)
    assert cost.wake_s(0.05) == pytest.approx(1.2e-3)
