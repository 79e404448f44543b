"""Speculation budgets: how many draft tokens a sequence may verify at its next step.

One object per run, the same on the simulator and the engine: `start_step(keys, groups)`
before an RL step's rollouts, `draft_len(key, generated)` before each verify step,
`finish(key, length, drafted, accepted)` when a sequence ends, `new_epoch()` after the step. Baselines: `NoBudget`,
`UniformBudget`, `UnlimitedBudget`; DAS's: `LengthAwareBudget` (the closed form of
`toolkit.spec.makespan`) and `ClassBudget` (the deployed Long/Medium/Short heuristic).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

from toolkit.spec.base import SeqKey
from toolkit.spec.history import LengthClasses, LengthHistory
from toolkit.spec.makespan import (
    DrafterFit,
    Plan,
    budget_for_passes,
    check_charge,
    fit_drafter,
    solve_budget,
)


class SpecBudget(ABC):
    """Draft tokens per verify step, per sequence."""

    def __init__(self, history_window: int = 4) -> None:
        self.history = LengthHistory(history_window)

    def start_step(self, keys: Sequence[SeqKey],  # noqa: B027
                   groups: Sequence[int] | None = None) -> None:
        """The sequences of the step about to run; `groups[i]` names the engine (the set of
        sequences that share forward passes) of `keys[i]`, all one engine when None
        (default: nothing to plan)."""

    @abstractmethod
    def draft_len(self, key: SeqKey, generated: int) -> int:
        """Draft tokens `key` may verify now, after `generated` output tokens."""

    def draft_len_until(self, key: SeqKey, generated: int) -> tuple[int, float]:
        """`draft_len` and the output length before which it stays the same (a simulator
        asks again only then); by default it may change with every token."""
        return self.draft_len(key, generated), generated + 1

    def finish(self, key: SeqKey, length: int, drafted: int = 0, accepted: int = 0) -> None:
        """`key` ended with `length` output tokens, `drafted` of them proposed over its life
        and `accepted` of those kept."""
        self.history.add(key.problem, length)

    def new_epoch(self) -> None:
        self.history.new_epoch()


class NoBudget(SpecBudget):
    """No speculation."""

    def draft_len(self, key: SeqKey, generated: int) -> int:
        return 0

    def draft_len_until(self, key: SeqKey, generated: int) -> tuple[int, float]:
        return 0, math.inf


class UniformBudget(SpecBudget):
    """The same `k` draft tokens for every sequence at every step."""

    def __init__(self, k: int = 4, history_window: int = 4) -> None:
        super().__init__(history_window)
        if k < 0:
            raise ValueError(f"UniformBudget: k must be >= 0, got {k}")
        self.k = k

    def draft_len(self, key: SeqKey, generated: int) -> int:
        return self.k

    def draft_len_until(self, key: SeqKey, generated: int) -> tuple[int, float]:
        return self.k, math.inf


class UnlimitedBudget(UniformBudget):
    """As many as the drafter will give (up to `max_tokens`, a trie depth's worth): the
    paper's unlimited-budget DAS variant."""

    def __init__(self, max_tokens: int = 24, history_window: int = 4) -> None:
        super().__init__(max_tokens, history_window)


class LengthAwareBudget(SpecBudget):
    """The makespan-optimal budgets: each step, predict every sequence's length from its
    problem's recent lengths, solve, per engine, for the pass count N that minimises the
    makespan objective (`toolkit.spec.makespan`; `charge` picks the paper's form or the one
    that charges rejected tokens only), and spread each sequence's budget p_i over N passes
    (`ceil(p_i / N)` per step, at most `max_per_step`). A sequence that outlives its
    prediction is re-predicted from its problem's recent lengths that exceed what it has
    generated; one that outlives them all is the tail the step waits for, and gets
    `max_per_step` from then on. Sequences of problems with no history get `cold_k`.

    `alpha` (drafter efficiency) and `capacity` (the largest fraction of tokens a drafter
    can supply) are not published. With `fit_drafter` they are refitted after every epoch
    to the epoch's finished sequences that were planned (`toolkit.spec.makespan.fit_drafter`;
    sequences of problems without history drafted from a cold drafter and would understate
    it; the given values serve until then); otherwise they stay as given. `c_base`, `c_tok` in seconds (fit them
    with `toolkit.spec.makespan.fit_step_time`)."""

    def __init__(self, c_base: float, c_tok: float, alpha: float = 1.0, capacity: float = 0.8,
                 max_per_step: int = 16, cold_k: int = 4, history_window: int = 4,
                 charge: str = "rejected", fit_drafter: bool = True,
                 min_fit_requests: int = 8) -> None:
        super().__init__(history_window)
        if c_base <= 0 or c_tok <= 0:
            raise ValueError(f"LengthAwareBudget: c_base and c_tok must be > 0, got "
                             f"{c_base}, {c_tok}")
        if not (0 < capacity <= 1 and alpha > 0):
            raise ValueError(f"LengthAwareBudget: need 0 < capacity <= 1 and alpha > 0, got "
                             f"{capacity}, {alpha}")
        check_charge(charge)
        if charge == "rejected" and alpha * capacity > 1:
            raise ValueError(f"LengthAwareBudget: charge='rejected' needs alpha * capacity <= 1, "
                             f"got {alpha} * {capacity}")
        self.c_base, self.c_tok, self.alpha, self.capacity = c_base, c_tok, alpha, capacity
        self.max_per_step, self.cold_k, self.charge = max_per_step, cold_k, charge
        self.fit_drafter, self.min_fit_requests = fit_drafter, min_fit_requests
        self.drafter_fit: DrafterFit | None = None
        self._counts: list[tuple[int, int, int]] = []
        self.plans: dict[int, Plan] = {}
        self._per_step: dict[SeqKey, tuple[float, int, float]] = {}

    def start_step(self, keys: Sequence[SeqKey], groups: Sequence[int] | None = None) -> None:
        groups = [0] * len(keys) if groups is None else list(groups)
        if len(groups) != len(keys):
            raise ValueError(f"LengthAwareBudget.start_step: {len(keys)} keys, {len(groups)} groups")
        self.plans, self._per_step = {}, {}
        for g in sorted(set(groups)):
            known = [k for k, kg in zip(keys, groups)
                     if kg == g and self.history.finished_lengths(k.problem)]
            lengths = [self.history.predict(k.problem) for k in known]
            plan = solve_budget(lengths, [self.alpha] * len(known), [self.capacity] * len(known),
                                self.c_base, self.c_tok, charge=self.charge)
            self.plans[g] = plan
            for k, ln, b in zip(known, lengths, plan.budgets):
                self._per_step[k] = (ln, self._spread(b, plan.n_fwd), plan.n_fwd)

    def finish(self, key: SeqKey, length: int, drafted: int = 0, accepted: int = 0) -> None:
        super().finish(key, length, drafted, accepted)
        if key in self._per_step:  # planned: its problem had history, so had its drafter
            self._counts.append((drafted, accepted, length))

    def new_epoch(self) -> None:
        super().new_epoch()
        counts, self._counts = self._counts, []
        if self.fit_drafter and sum(d > 0 for d, _, _ in counts) >= self.min_fit_requests:
            self.drafter_fit = fit_drafter(*zip(*counts))
            self.alpha, self.capacity = self.drafter_fit.alpha, self.drafter_fit.k

    def _spread(self, budget: float, n_fwd: float) -> int:
        if budget <= 0:
            return 0
        if math.isinf(budget) or n_fwd <= 0:
            return self.max_per_step
        return min(self.max_per_step, math.ceil(budget / n_fwd))

    def draft_len(self, key: SeqKey, generated: int) -> int:
        return self.draft_len_until(key, generated)[0]

    def draft_len_until(self, key: SeqKey, generated: int) -> tuple[int, float]:
        entry = self._per_step.get(key)
        if entry is None:
            return self.cold_k, math.inf
        predicted, k, n_fwd = entry
        if generated >= predicted:
            past = self.history.predict(key.problem, generated)
            if past > generated:
                k = self._spread(budget_for_passes(past, n_fwd, self.alpha, self.capacity), n_fwd)
                predicted = past
            else:  # longer than every recent sample of its problem: the tail itself
                k, predicted = self.max_per_step, math.inf
            self._per_step[key] = (predicted, k, n_fwd)
        return k, predicted


class ClassBudget(SpecBudget):
    """DAS's deployed heuristic: per-step budgets (`budgets`: short, medium, long; the
    paper's are "zero, medium, large" without numbers) by the run-time length class
    (`toolkit.spec.history.LengthClasses`). Problems with no history get `cold_k`."""

    def __init__(self, budgets: Sequence[int] = (0, 4, 12), quantiles: Sequence[float] = (0.5, 0.9),
                 cold_k: int = 4, history_window: int = 4) -> None:
        super().__init__(history_window)
        if len(budgets) != 3 or min(budgets) < 0:
            raise ValueError(f"ClassBudget: budgets must be 3 counts >= 0, got {budgets}")
        self.budgets, self.cold_k = tuple(budgets), cold_k
        self.classes = LengthClasses(self.history, quantiles)

    def new_epoch(self) -> None:
        super().new_epoch()
        self.classes.refresh()

    def draft_len(self, key: SeqKey, generated: int) -> int:
        c = self.classes.runtime_class(key.problem, generated)
        return self.cold_k if c is None else self.budgets[c]

    def draft_len_until(self, key: SeqKey, generated: int) -> tuple[int, float]:
        return (self.draft_len(key, generated),
                self.classes.next_change(key.problem, generated))
