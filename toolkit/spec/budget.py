"""Speculation budgets: how many draft tokens a sequence may verify at its next step.

One object per run, the same on the simulator and the engine: `start_step(keys)` before an
RL step's rollouts, `draft_len(key, generated)` before each verify step, `finish(key,
length)` when a sequence ends, `new_epoch()` after the step. Baselines: `NoBudget`,
`UniformBudget`, `UnlimitedBudget`; DAS's: `LengthAwareBudget` (the closed form of
`toolkit.spec.makespan`) and `ClassBudget` (the deployed Long/Medium/Short heuristic).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

from toolkit.spec.base import SeqKey
from toolkit.spec.history import LengthClasses, LengthHistory
from toolkit.spec.makespan import Plan, budget_for_passes, solve_budget


class SpecBudget(ABC):
    """Draft tokens per verify step, per sequence."""

    def __init__(self, history_window: int = 4) -> None:
        self.history = LengthHistory(history_window)

    def start_step(self, keys: Sequence[SeqKey]) -> None:  # noqa: B027
        """The sequences of the step about to run (default: nothing to plan)."""

    @abstractmethod
    def draft_len(self, key: SeqKey, generated: int) -> int:
        """Draft tokens `key` may verify now, after `generated` output tokens."""

    def draft_len_until(self, key: SeqKey, generated: int) -> tuple[int, float]:
        """`draft_len` and the output length before which it stays the same (a simulator
        asks again only then); by default it may change with every token."""
        return self.draft_len(key, generated), generated + 1

    def finish(self, key: SeqKey, length: int) -> None:
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
    problem's recent lengths, solve for the pass count N that minimises
    `c_base * N + c_tok * sum(p_i)`, and spread each sequence's budget p_i over N passes
    (`ceil(p_i / N)` per step, at most `max_per_step`). A sequence that outlives its
    prediction is re-predicted from its problem's recent lengths that exceed what it has
    generated; one that outlives them all is the tail the step waits for, and gets
    `max_per_step` from then on.
    Sequences of problems with no history get `cold_k`.

    `alpha` (drafter efficiency) and `capacity` (the largest fraction of tokens a drafter
    can supply) are not published; they are settings. `c_base`, `c_tok` in seconds (fit
    them with `toolkit.spec.makespan.fit_step_time`)."""

    def __init__(self, c_base: float, c_tok: float, alpha: float = 1.0, capacity: float = 0.8,
                 max_per_step: int = 16, cold_k: int = 4, history_window: int = 4) -> None:
        super().__init__(history_window)
        if c_base <= 0 or c_tok <= 0:
            raise ValueError(f"LengthAwareBudget: c_base and c_tok must be > 0, got "
                             f"{c_base}, {c_tok}")
        self.c_base, self.c_tok, self.alpha, self.capacity = c_base, c_tok, alpha, capacity
        self.max_per_step, self.cold_k = max_per_step, cold_k
        self.plan = Plan(0.0, (), 0.0)
        self._per_step: dict[SeqKey, tuple[float, int]] = {}

    def start_step(self, keys: Sequence[SeqKey]) -> None:
        known = [k for k in keys if self.history.finished_lengths(k.problem)]
        lengths = [self.history.predict(k.problem) for k in known]
        self.plan = solve_budget(lengths, [self.alpha] * len(known), [self.capacity] * len(known),
                                 self.c_base, self.c_tok)
        self._per_step = {k: (ln, self._spread(b)) for k, ln, b in
                          zip(known, lengths, self.plan.budgets)}

    def _spread(self, budget: float) -> int:
        if budget <= 0:
            return 0
        if math.isinf(budget) or self.plan.n_fwd <= 0:
            return self.max_per_step
        return min(self.max_per_step, math.ceil(budget / self.plan.n_fwd))

    def draft_len(self, key: SeqKey, generated: int) -> int:
        return self.draft_len_until(key, generated)[0]

    def draft_len_until(self, key: SeqKey, generated: int) -> tuple[int, float]:
        entry = self._per_step.get(key)
        if entry is None:
            return self.cold_k, math.inf
        predicted, k = entry
        if generated >= predicted:
            past = self.history.predict(key.problem, generated)
            if past > generated:
                k = self._spread(budget_for_passes(past, self.plan.n_fwd, self.alpha,
                                                   self.capacity))
                predicted = past
            else:  # longer than every recent sample of its problem: the tail itself
                k, predicted = self.max_per_step, math.inf
            self._per_step[key] = (predicted, k)
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
