"""The rollout simulator against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.sim.rollout import AcceptanceTable, simulate_rollouts
from toolkit.spec.base import SeqKey
from toolkit.spec.budget import NoBudget, UniformBudget

ONE_SECOND = lambda batch, q, ctx: 1.0  # noqa: E731


def keys(n):
    return [SeqKey(i, 0) for i in range(n)]


def test_no_speculation_takes_one_step_per_token():
    res = simulate_rollouts(keys(3), [3, 5, 10], NoBudget(), AcceptanceTable.none(), ONE_SECOND)
    assert list(res.sequences["finish_s"]) == [3.0, 5.0, 10.0]
    assert res.makespan_s == 10.0
    assert list(res.steps["running"][:4]) == [3, 3, 3, 2]


def test_perfect_drafts_advance_k_plus_one():
    perfect = AcceptanceTable(np.array([8]), np.array([8]))
    res = simulate_rollouts(keys(2), [10, 11], UniformBudget(4), perfect, ONE_SECOND)
    # 10 tokens at 5 per step: 2 steps; 11 tokens: 5 + 5 + 1 (the last step drafts nothing)
    assert list(res.sequences["finish_s"]) == [2.0, 3.0]
    assert list(res.sequences["num_accepted_tokens"]) == [8, 8]
    assert list(res.sequences["num_verify_steps"]) == [2, 2]


def test_rejected_drafts_still_cost_tokens():
    rejected = AcceptanceTable(np.array([4]), np.array([0]))
    seen = []

    def cost(batch, q, ctx):
        seen.append(q)
        return 1.0

    res = simulate_rollouts(keys(1), [3], UniformBudget(4), rejected, cost)
    assert res.makespan_s == 3.0
    assert seen == [3.0, 2.0, 1.0]  # k capped by what is left to generate: 2, 1, 0


def test_data_parallel_engines_split_problems():
    res = simulate_rollouts(keys(4), [4, 4, 4, 4], NoBudget(), AcceptanceTable.none(),
                            lambda b, q, c: float(b), num_engines=2)
    assert res.makespan_s == 8.0  # two sequences per engine, 2 s per step
    assert sorted(res.sequences["engine"].unique()) == [0, 1]


def test_batch_limit_queues_the_rest():
    res = simulate_rollouts(keys(3), [2, 2, 2], NoBudget(), AcceptanceTable.none(), ONE_SECOND,
                            max_batch=2)
    assert list(res.sequences["finish_s"]) == [2.0, 2.0, 4.0]


def test_mismatched_lengths_fail():
    with pytest.raises(ValueError, match="lengths"):
        simulate_rollouts(keys(2), [1], NoBudget(), AcceptanceTable.none(), ONE_SECOND)
