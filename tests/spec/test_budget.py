"""The makespan model and the budgets, against the notes' numbers and hand-derived cases."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.spec.base import SeqKey
from toolkit.spec.budget import ClassBudget, LengthAwareBudget, NoBudget, UniformBudget
from toolkit.spec.makespan import (
    budget_for_passes,
    fit_drafter,
    fit_step_time,
    passes,
    plan_cost,
    printed_eq7,
    solve_budget,
)


def test_step_time_fit_matches_the_notes():
    """das.md §4: one linear fit of the H200 verify table gives c_base 5.71 ms,
    c_tok 0.028 ms/token, mean relative error 10.8%."""
    from toolkit.cost.verify import VERIFY_JSONL  # the packaged copy of ../shared/calibration's

    rows = [json.loads(line) for line in VERIFY_JSONL.read_text().splitlines()]
    rows = [r for r in rows if r.get("part") == "A_verify"]
    fit = fit_step_time([r["tokens"] for r in rows], [r["ms"] / 1e3 for r in rows])
    assert fit.c_base == pytest.approx(5.71e-3, abs=0.005e-3)
    assert fit.c_tok == pytest.approx(0.028e-3, abs=0.0005e-3)
    assert fit.mean_rel_error == pytest.approx(0.108, abs=0.001)


def test_fit_rejects_too_few_points():
    with pytest.raises(ValueError, match="fit_step_time"):
        fit_step_time([1], [1.0])


def test_worked_example_of_the_notes():
    """l=1000, k=0.8, alpha=1, N=500: printed Eq. 7 gives 511, which yields 680 passes;
    the correct inverse gives 981."""
    assert printed_eq7(1000, 500, 1, 0.8) == pytest.approx(510.8, abs=0.1)
    assert passes(1000, printed_eq7(1000, 500, 1, 0.8), 1, 0.8) == pytest.approx(680, abs=0.5)
    assert budget_for_passes(1000, 500, 1, 0.8) == pytest.approx(980.8, abs=0.1)
    assert passes(1000, budget_for_passes(1000, 500, 1, 0.8), 1, 0.8) == pytest.approx(500)
    assert budget_for_passes(1000, 1000, 1, 0.8) == 0
    assert math.isinf(budget_for_passes(1000, 100, 1, 0.8))  # below l (1 - k) = 200


def test_one_request_optimum_by_hand():
    """One request: c_base = c_tok / (alpha (k - 1 + N/l)) gives N = l (1 - k + c_tok /
    (alpha c_base))."""
    n, a, k, cb, ct = 2000.0, 0.7, 0.9, 5e-3, 5e-5
    plan = solve_budget([n], [a], [k], cb, ct)
    assert plan.n_fwd == pytest.approx(n * (1 - k + ct / (a * cb)), rel=1e-6)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(10, 5000), min_size=1, max_size=8),
       st.floats(0.3, 1.0), st.floats(0.5, 1.0), st.floats(1e-4, 1e-2))
def test_solver_beats_a_grid_over_pass_counts(lengths, alpha, k, ratio):
    cb, ct = 5e-3, 5e-3 * ratio
    plan = solve_budget(lengths, [alpha] * len(lengths), [k] * len(lengths), cb, ct)
    lo = max(ln * (1 - k) for ln in lengths)
    grid = np.linspace(lo + 1e-6 * max(lengths), max(lengths), 4001)
    best = min(plan_cost(n, lengths, [alpha] * len(lengths), [k] * len(lengths), cb, ct)
               for n in grid)
    assert plan.cost_s <= best * (1 + 1e-6)
    for ln, b in zip(lengths, plan.budgets):
        assert (b == 0) == (ln <= plan.n_fwd)


def _history(budget, lengths_by_problem, epochs=2):
    for _ in range(epochs):
        for problem, lengths in lengths_by_problem.items():
            for i, n in enumerate(lengths):
                budget.finish(SeqKey(problem, i), n)
        budget.new_epoch()


def test_length_aware_gives_short_problems_nothing_and_long_ones_most():
    b = LengthAwareBudget(c_base=5.7e-3, c_tok=2.8e-5)
    _history(b, {"short": [50, 60], "mid": [900, 1100], "long": [3800, 4200]})
    keys = [SeqKey(p, i) for p in ("short", "mid", "long") for i in range(2)]
    b.start_step(keys)
    ks = {p: b.draft_len(SeqKey(p, 0), 0) for p in ("short", "mid", "long")}
    assert ks["short"] == 0 and ks["long"] > ks["mid"] >= 0
    assert b.draft_len(SeqKey("new", 0), 0) == b.cold_k


def test_length_aware_repredicts_a_sample_that_outlives_its_problem():
    b = LengthAwareBudget(c_base=5.7e-3, c_tok=2.8e-5)
    _history(b, {"short": [50, 60], "long": [3800, 4200]})
    b.start_step([SeqKey("short", 0), SeqKey("long", 0)])
    assert b.draft_len(SeqKey("short", 0), 10) == 0
    assert b.draft_len(SeqKey("short", 0), 4000) > 0


def test_class_budget_follows_run_time_class():
    b = ClassBudget(budgets=(0, 4, 12), quantiles=(0.5, 0.9))
    _history(b, {"a": [100] * 9 + [5000], "b": [1000] * 10, "c": [100] * 10})
    assert b.draft_len(SeqKey("c", 0), 0) == 0  # short start class
    assert b.draft_len(SeqKey("b", 0), 0) == 4  # medium
    assert b.draft_len(SeqKey("a", 0), 0) == 0  # mostly short ...
    assert b.draft_len(SeqKey("a", 0), 2000) == 12  # ... but still running at 2000: long
    assert b.draft_len(SeqKey("z", 0), 0) == b.cold_k


def test_baselines():
    assert NoBudget().draft_len(SeqKey(0, 0), 0) == 0
    assert UniformBudget(5).draft_len(SeqKey(0, 0), 99) == 5
    with pytest.raises(ValueError, match="UniformBudget"):
        UniformBudget(-1)
    with pytest.raises(ValueError, match="ClassBudget"):
        ClassBudget(budgets=(1, 2))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.integers(1, 300), min_size=1, max_size=6), min_size=1, max_size=4),
       st.sampled_from(["classes", "length_aware", "uniform"]))
def test_draft_len_until_holds_until_it_says(histories, kind):
    """`draft_len_until(g)` = (k, u): `draft_len` is k for every length in [g, u)."""
    make = {"classes": lambda: ClassBudget(budgets=(0, 3, 9)),
            "length_aware": lambda: LengthAwareBudget(c_base=5.7e-3, c_tok=2.8e-5),
            "uniform": lambda: UniformBudget(4)}[kind]
    b = make()
    _history(b, {p: ls for p, ls in enumerate(histories)})
    keys = [SeqKey(p, 0) for p in range(len(histories) + 1)]
    b.start_step(keys)
    for key in keys:
        g = 0
        while g < 400:
            k, until = b.draft_len_until(key, g)
            end = math.ceil(min(until, 400))
            assert end > g
            for x in range(g, end):
                assert b.draft_len(key, x) == k, (key, x, until)
            g = end


def test_one_request_optimum_by_hand_charging_rejected_tokens():
    """With p - A charged (A = l - N): c_base = c_tok (1 / (alpha (k - 1 + N/l)) - 1), so
    N = l (1 - k + 1 / (alpha (1 + c_base / c_tok)))."""
    n, a, k, cb, ct = 2000.0, 0.7, 0.9, 5e-3, 5e-5
    plan = solve_budget([n], [a], [k], cb, ct, charge="rejected")
    assert plan.n_fwd == pytest.approx(n * (1 - k + 1 / (a * (1 + cb / ct))), rel=1e-6)
    assert plan.n_fwd < solve_budget([n], [a], [k], cb, ct).n_fwd  # it spends more


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(10, 5000), min_size=1, max_size=8),
       st.floats(0.3, 1.0), st.floats(0.5, 1.0), st.floats(1e-4, 1e-2))
def test_rejected_charge_solver_beats_a_grid(lengths, alpha, k, ratio):
    cb, ct, m = 5e-3, 5e-3 * ratio, len(lengths)
    plan = solve_budget(lengths, [alpha] * m, [k] * m, cb, ct, charge="rejected")
    lo = max(ln * (1 - k) for ln in lengths)
    grid = np.linspace(lo + 1e-6 * max(lengths), max(lengths), 4001)
    best = min(plan_cost(n, lengths, [alpha] * m, [k] * m, cb, ct, charge="rejected")
               for n in grid)
    assert plan.cost_s <= best * (1 + 1e-6)


def test_rejected_charge_rejects_a_drafter_that_accepts_more_than_it_proposes():
    with pytest.raises(ValueError, match="alpha \\* k"):
        solve_budget([100], [2.0], [0.9], 5e-3, 5e-5, charge="rejected")
    with pytest.raises(ValueError, match="charge"):
        solve_budget([100], [1.0], [0.9], 5e-3, 5e-5, charge="both")


def test_fit_drafter_recovers_known_constants():
    """Counts drawn from A = k l (1 - exp(-alpha p / l)) with 2% noise give back alpha, k."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(100, 4000, 200).astype(float)
    proposed = lengths * rng.uniform(0.05, 3.0, 200)
    acc = 0.85 * lengths * (1 - np.exp(-0.6 * proposed / lengths))
    acc *= 1 + rng.normal(0, 0.02, 200)
    fit = fit_drafter(proposed, acc, lengths)
    assert fit.alpha == pytest.approx(0.6, rel=0.05) and fit.k == pytest.approx(0.85, rel=0.03)
    assert fit.requests == 200 and fit.mean_abs_error < 0.02
    with pytest.raises(ValueError, match="fit_drafter"):
        fit_drafter([0, 0, 5], [0, 0, 1], [10, 10, 10])


def test_length_aware_plans_each_engine_apart():
    """Engines run their passes in parallel, so each has its own pass count: a group's plan
    is the plan of its sequences alone."""
    b = LengthAwareBudget(c_base=5.7e-3, c_tok=2.8e-5, fit_drafter=False)
    _history(b, {"short": [200, 200], "long": [4000, 4000]})
    keys = [SeqKey("short", 0), SeqKey("long", 0)]
    b.start_step(keys, groups=[0, 1])
    alone = solve_budget([200.0], [b.alpha], [b.capacity], 5.7e-3, 2.8e-5, charge=b.charge)
    assert b.plans[0].n_fwd == pytest.approx(alone.n_fwd)
    assert b.draft_len(keys[0], 0) > 0  # alone on its engine, the short sample is the tail
    b.start_step(keys)  # one engine: the long sample sets the makespan
    assert b.draft_len(keys[0], 0) == 0
    with pytest.raises(ValueError, match="groups"):
        b.start_step(keys, groups=[0])


def test_length_aware_refits_the_drafter_after_an_epoch():
    b = LengthAwareBudget(c_base=5.7e-3, c_tok=2.8e-5, alpha=1.0, capacity=0.8,
                          min_fit_requests=4)
    for i in range(8):  # cold: no history, no plan, so not fitted
        b.finish(SeqKey("a", i), 1000, 500, 1)
    b.new_epoch()
    assert b.drafter_fit is None and b.alpha == 1.0
    b.start_step([SeqKey("a", i) for i in range(8)])
    for i in range(8):
        n, p = 1000, 500 * (i + 1)
        b.finish(SeqKey("a", i), n, p, int(0.5 * n * (1 - math.exp(-0.4 * p / n))))
    b.new_epoch()
    assert b.drafter_fit is not None
    assert b.alpha == pytest.approx(0.4, rel=0.1) and b.capacity == pytest.approx(0.5, rel=0.1)
    frozen = LengthAwareBudget(c_base=5.7e-3, c_tok=2.8e-5, fit_drafter=False)
    frozen.finish(SeqKey("a", 0), 1000, 500, 200)
    frozen.new_epoch()
    assert frozen.alpha == 1.0 and frozen.drafter_fit is None
